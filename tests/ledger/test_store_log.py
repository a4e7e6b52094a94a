"""The store and the sequencer on SQLite and PostgreSQL: indices, tiles, roots, checkpoints, receipts, anchors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from did import KeyType, SoftwareSigner
from ledger import rfc9162
from ledger.checkpoint import open_checkpoint
from ledger.errors import InclusionProofError
from ledger.log import Log, LogClosedError, NotIncludedError, Pending, export_tiles
from ledger.note import Ed25519NoteVerifier
from ledger.receipt import Receipt, verify_receipt
from ledger.records import EventType, Record, digest
from ledger.store import (
    IndexOutOfRangeError,
    NotInitializedError,
    OriginMismatchError,
    Store,
    StoreStateError,
    StoreUnavailableError,
)
from ledger.tiles import build_tiles, tile_path, tiles_for_size
from tests.database import KINDS, database_url, engine_for
from tests.helpers import VECTORS

ORIGIN = "xid.test/ledger/v1"
T = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)


def record(i: int, tag: str = "") -> Record:
    return Record(
        EventType.AUTHENTICATION,
        T,
        subject=digest(f"subject-{tag}{i}".encode()),
        rp="https://rp.example.jp",
        object=digest(f"object-{tag}{i}".encode()),
    )


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_url(request.param, tmp_path) as url:
        engine = engine_for(url)
        try:
            yield Store(engine)
        finally:
            engine.dispose()


@pytest.fixture
def signer() -> SoftwareSigner:
    return SoftwareSigner.generate(KeyType.ED25519)


def memory_node_reader(leaves: list[bytes]) -> rfc9162.NodeReader:
    def get(level: int, index: int) -> bytes:
        return rfc9162.root(leaves[index << level : (index + 1) << level])

    return get


def test_append_many_gives_consecutive_indices_and_the_reference_root(store: Store, signer: SoftwareSigner) -> None:
    with Log(store, signer, origin=ORIGIN, batch_size=7) as log:
        pending = log.append_many(record(i) for i in range(30))
        assert [p.index for p in pending] == list(range(30))
        for i, p in enumerate(pending):
            assert p.entry == record(i).to_bytes()
            assert p.leaf_hash == rfc9162.leaf_hash(p.entry)
        checkpoint = log.checkpoint()
        assert checkpoint is not None
        assert checkpoint.size == 30
        assert checkpoint.root_hash == rfc9162.root([p.leaf_hash for p in pending])
        signed = open_checkpoint(checkpoint.note, Ed25519NoteVerifier.from_vkey(log.vkey))
        assert (signed.origin, signed.size, signed.root_hash) == (ORIGIN, 30, checkpoint.root_hash)
        assert log.checkpoint() is None  # not grown: no new checkpoint


def test_tiles_are_the_tlog_tiles_layout(store: Store) -> None:
    # 65,600 leaves reach tile level 2 (one level-16 node); uneven batches cross every tile boundary case.
    store.initialize(ORIGIN)
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(65_600)]
    position = 0
    for size in [1, 255, 1, 300, 20_000, 45_043]:
        with store.transaction(write=True) as txn:
            chunk = leaves[position : position + size]
            txn.append([b"e%d" % i for i in range(position, position + size)], chunk)
        position += size
    assert position == len(leaves)
    size = len(leaves)
    expected = build_tiles(size, memory_node_reader_fast(leaves))
    with store.transaction() as txn:
        assert store.state().size == size
        assert rfc9162.root_from(size, txn.node) == rfc9162.root(leaves)
        for level, index, width in tiles_for_size(size):
            assert txn.published_tile(size, level, index, width) == expected[tile_path(level, index, width)]
        assert {level for level, _, _ in txn.tile_rows()} == {0, 1, 2}
        # The entry rows (written through the driver: executemany on SQLite, binary COPY on PostgreSQL).
        for index in (0, 255, 256, 65_599):
            assert txn.entry(index) == (b"e%d" % index, leaves[index])
        assert txn.count_entries() == size


def test_a_conflicting_entry_row_rolls_the_batch_back(store: Store) -> None:
    store.initialize(ORIGIN)
    with store.transaction(write=True) as txn:
        txn.append([b"a", b"b"], [rfc9162.leaf_hash(b"a"), rfc9162.leaf_hash(b"b")])
    with store.engine.begin() as conn:  # a stray row where the next entry goes: the store is inconsistent
        stray = text("INSERT INTO ledger_entries (idx, leaf_hash, entry) VALUES (2, :leaf, :entry)")
        conn.execute(stray, {"leaf": bytes(32), "entry": b"stray"})
    with pytest.raises(StoreStateError, match="conflicted with stored rows"), store.transaction(write=True) as txn:
        txn.append([b"c"], [rfc9162.leaf_hash(b"c")])
    assert store.state().size == 2  # nothing of the failed batch stayed
    with store.transaction() as txn:
        assert txn.entry(2) == (b"stray", bytes(32))
        assert txn.tile(0, 0) == rfc9162.leaf_hash(b"a") + rfc9162.leaf_hash(b"b")


def test_append_refuses_a_leaf_hash_of_the_wrong_size(store: Store) -> None:
    store.initialize(ORIGIN)
    with pytest.raises(ValueError, match="leaf hash 1 is 20 bytes"), store.transaction(write=True) as txn:
        txn.append([b"a", b"b"], [rfc9162.leaf_hash(b"a"), bytes(20)])
    assert store.state().size == 0


def memory_node_reader_fast(leaves: list[bytes]) -> rfc9162.NodeReader:
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([rfc9162.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def get(level: int, index: int) -> bytes:
        return levels[level][index]

    return get


def test_receipt_verifies_offline_and_fails_for_another_entry(store: Store, signer: SoftwareSigner) -> None:
    with Log(store, signer, origin=ORIGIN) as log:
        log.append_many(record(i) for i in range(11))
        log.checkpoint()
        verifier = Ed25519NoteVerifier.from_vkey(log.vkey)
        for index in (0, 5, 10):
            text = log.prove(index).format()
            receipt = Receipt.parse(text)
            checkpoint = verify_receipt(receipt, record(index).to_bytes(), verifier)
            assert (checkpoint.size, receipt.index) == (11, index)
        with pytest.raises(InclusionProofError, match="does not lead to the root of tree size 11"):
            verify_receipt(Receipt.parse(log.prove(3).format()), record(4).to_bytes(), verifier)


def test_prove_errors_name_the_problem(store: Store, signer: SoftwareSigner) -> None:
    with Log(store, signer, origin=ORIGIN) as log:
        log.append_many([record(0)])
        with pytest.raises(NotIncludedError, match="the log has no checkpoint"):
            log.prove(0)
        log.checkpoint()
        log.append_many([record(1)])
        with pytest.raises(NotIncludedError, match="entry 1 is not covered by a checkpoint yet"):
            log.prove(1)
        with pytest.raises(IndexOutOfRangeError, match="no entry at index 7: the log has 2 entries"):
            log.prove(7)
        with pytest.raises(IndexOutOfRangeError, match="negative"):
            log.prove(-1)
        with pytest.raises(IndexOutOfRangeError, match="no checkpoint of size 2"):
            log.prove(0, size=2)


def test_checkpoints_stay_consistent_across_growth(store: Store, signer: SoftwareSigner) -> None:
    with Log(store, signer, origin=ORIGIN, batch_size=3) as log:
        sizes = []
        for n in (1, 2, 5, 8, 13):
            log.append_many(record(i) for i in range(n))
            cp = log.checkpoint()
            assert cp is not None
            sizes.append(cp.size)
        with store.transaction() as txn:
            rows = txn.checkpoints()
            assert [c.size for c in rows] == sizes
            for old, new in itertools.pairwise(rows):
                proof = rfc9162.consistency_proof_from(old.size, new.size, txn.node)
                rfc9162.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)


def test_empty_log_gets_an_empty_checkpoint(store: Store, signer: SoftwareSigner) -> None:
    with Log(store, signer, origin=ORIGIN) as log:
        checkpoint = log.checkpoint()
        assert checkpoint is not None
        assert (checkpoint.size, checkpoint.root_hash) == (0, rfc9162.EMPTY_ROOT)
        assert log.checkpoint() is None


def test_writer_thread_batches_concurrent_appends(store: Store, signer: SoftwareSigner) -> None:
    results: list[Pending] = []
    lock = threading.Lock()
    with Log(store, signer, origin=ORIGIN, batch_size=16, batch_age=0.02, checkpoint_interval=0.05) as log:

        def worker(k: int) -> None:
            for i in range(10):
                done = log.append(record(i, tag=f"t{k}-"), timeout=20)
                with lock:
                    results.append(done)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(p.index for p in results) == list(range(50))
        receipt = results[-1].wait_included(timeout=10)
        checkpoint = verify_receipt(receipt, results[-1].entry, Ed25519NoteVerifier.from_vkey(log.vkey))
        assert checkpoint.size > results[-1].index
    assert store.state().size == 50
    latest = store.latest_checkpoint()
    assert latest is not None
    assert latest.size == 50  # close() signs a final checkpoint


def test_async_append_and_inclusion(store: Store, signer: SoftwareSigner) -> None:
    async def main(log: Log) -> Receipt:
        pending = await asyncio.gather(*(log.append_async(record(i)) for i in range(5)))
        assert sorted(p.index for p in pending) == list(range(5))
        return await pending[0].included(timeout=10)

    with Log(store, signer, origin=ORIGIN, batch_age=0.01, checkpoint_interval=0.02) as log:
        receipt = asyncio.run(main(log))
    assert receipt.index == 0


def test_wait_included_without_writer_thread_signs_a_checkpoint(store: Store, signer: SoftwareSigner) -> None:
    with Log(store, signer, origin=ORIGIN) as log:
        (pending,) = log.append_many([record(0)])
        receipt = pending.wait_included(timeout=5)
        assert receipt.index == 0


def test_a_reopened_log_continues_where_it_stopped(store: Store, signer: SoftwareSigner) -> None:
    with Log(store, signer, origin=ORIGIN, batch_size=5) as log:
        log.append_many(record(i) for i in range(12))
        first = log.checkpoint()
    with Log(store, signer) as log:
        assert log.origin == ORIGIN
        pending = log.append_many(record(i) for i in range(12, 20))
        assert pending[0].index == 12
        second = log.checkpoint()
    assert first is not None
    assert second is not None
    assert second.root_hash == rfc9162.root([rfc9162.leaf_hash(record(i).to_bytes()) for i in range(20)])


def test_misuse_is_refused(store: Store, signer: SoftwareSigner) -> None:
    with pytest.raises(NotInitializedError):
        Log(store, signer)
    with pytest.raises(ValueError, match="Ed25519"):
        Log(store, SoftwareSigner.generate(KeyType.P256), origin=ORIGIN)
    with pytest.raises(ValueError, match="invalid log origin"):
        store.initialize("has space")
    log = Log(store, signer, origin=ORIGIN)
    with pytest.raises(OriginMismatchError, match=r"holds the log 'xid\.test/ledger/v1'"):
        Log(store, signer, origin="other.example/log")
    bad: Any = {"type": "authentication"}
    with pytest.raises(TypeError, match="Record"):
        log.append(bad)
    with pytest.raises(TypeError, match="Record"):
        log.append_many([bad])
    log.close()
    with pytest.raises(LogClosedError):
        log.append(record(0))


def test_unreachable_database_is_store_unavailable(tmp_path: Path, signer: SoftwareSigner) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite3'}")
    try:
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            Log(Store(engine), signer, origin=ORIGIN)
    finally:
        engine.dispose()


class FakeAnchorReceipt:
    def __init__(self, digest_hex: str) -> None:
        self.digest_hex = digest_hex

    def to_json(self) -> dict[str, str]:
        return {"sha256": self.digest_hex}


class FakeAnchor:
    name = "fake"

    def __init__(self) -> None:
        self.submitted: list[bytes] = []

    def submit(self, checkpoint: bytes) -> FakeAnchorReceipt:
        self.submitted.append(checkpoint)
        return FakeAnchorReceipt(hashlib.sha256(checkpoint).hexdigest())


def test_new_checkpoints_are_anchored_and_receipts_stored(store: Store, signer: SoftwareSigner) -> None:
    anchor = FakeAnchor()
    with Log(store, signer, origin=ORIGIN, anchors=[anchor]) as log:
        log.append_many(record(i) for i in range(3))
        first = log.checkpoint()
        log.append_many(record(i) for i in range(3, 4))
        second = log.checkpoint()
    assert first is not None
    assert second is not None
    assert anchor.submitted == [first.note.encode(), second.note.encode()]
    with store.transaction() as txn:
        rows = txn.anchors()
    assert [(r.size, r.backend) for r in rows] == [(3, "fake"), (4, "fake")]
    assert hashlib.sha256(second.note.encode()).hexdigest() in rows[1].receipt


def test_export_of_the_tessera_entries_reproduces_its_tiles(tmp_path: Path, signer: SoftwareSigner) -> None:
    source = VECTORS / "merkle" / "tessera-posix-log"
    words = [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eit",
        "nain",
        "ten",
        "ileven",
        "twelf",
        "threeten",
        "fourten",
        "fivten",
    ]
    engine = engine_for(f"sqlite:///{tmp_path / 't.sqlite3'}")
    try:
        store = Store(engine)
        with Log(store, signer, origin=ORIGIN) as log:
            with store.transaction(write=True) as txn:
                entries = [w.encode() for w in words]
                txn.append(entries, [rfc9162.leaf_hash(e) for e in entries])
            checkpoint = log.checkpoint()
        assert checkpoint is not None
        count, size = export_tiles(store, tmp_path / "export")
    finally:
        engine.dispose()
    assert (count, size) == (3, 15)
    for relative in ("tile/0/000.p/15", "tile/entries/000.p/15"):
        assert (tmp_path / "export" / relative).read_bytes() == (source / relative).read_bytes()
    tessera_root = (source / "checkpoint.15").read_text().splitlines()[2]

    assert base64.b64decode(tessera_root) == checkpoint.root_hash
    assert (tmp_path / "export" / "checkpoint").read_text() == checkpoint.note


def test_a_partial_tile_shorter_than_the_tree_size_refuses_the_batch(store: Store) -> None:
    store.initialize(ORIGIN)
    leaves = [rfc9162.leaf_hash(b"%d" % i) for i in range(3)]
    with store.transaction(write=True) as txn:
        txn.append([b"0", b"1", b"2"], leaves)
    with store.engine.begin() as conn:  # lose the last hash of the partial level-0 tile
        conn.execute(
            text("UPDATE ledger_tiles SET hashes = :h WHERE level = 0 AND idx = 0"), {"h": leaves[0] + leaves[1]}
        )
    with (
        pytest.raises(StoreStateError, match="tile 0/0 holds 2 hashes but the tree size says 3"),
        store.transaction(write=True) as txn,
    ):
        txn.append([b"3"], [rfc9162.leaf_hash(b"3")])
    assert store.state().size == 3  # nothing of the refused batch stayed
    with store.transaction() as txn:
        assert txn.tile(0, 0) == leaves[0] + leaves[1]


def test_a_stray_tile_row_refuses_the_batch_and_the_store_stays_usable(store: Store) -> None:
    store.initialize(ORIGIN)
    leaves = [rfc9162.leaf_hash(b"%d" % i) for i in range(300)]
    with store.transaction(write=True) as txn:
        txn.append([b"e"] * 250, leaves[:250])
    with store.engine.begin() as conn:  # a row where the batch's new level-0 tile goes
        conn.execute(text("INSERT INTO ledger_tiles (level, idx, hashes) VALUES (0, 1, :h)"), {"h": bytes(32)})
    with (
        pytest.raises(StoreStateError, match="conflicted with stored rows"),
        store.transaction(write=True) as txn,
    ):
        txn.append([b"e"] * 50, leaves[250:])
    assert store.state().size == 250
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_tiles WHERE level = 0 AND idx = 1"))
    with store.transaction(write=True) as txn:
        assert txn.append([b"e"] * 50, leaves[250:]).size == 300
    with store.transaction() as txn:
        assert rfc9162.root_from(300, txn.node) == rfc9162.root(leaves)
