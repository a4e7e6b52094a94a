"""The ledger as a running log: batched appends on SQLite, and inclusion proofs read from the store.

Every figure is per record (or per proof) and compared with one raw SHA-256 of 64 bytes, the cost of one Merkle
node. Appends are measured on a log that already holds 10^4 and 10^6 entries (the 10^6 log is built here, in about
15 s), so a slowdown with size would show. "hashing only" is the ceiling without a database: canonical JSON, the
leaf hash and the compact-range update.
"""

from __future__ import annotations

import atexit
import hashlib
import random
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import REGISTRY, bench
from did import KeyType, SoftwareSigner
from ledger import rfc9162
from ledger.log import Log
from ledger.records import EventType, Record, digest
from ledger.store import Store, sqlite_engine

FLOOR = "raw SHA-256 of 64 bytes (hashlib)"
BATCH = 1000
POOL = [
    Record(
        EventType.AUTHENTICATION,
        datetime(2025, 4, 1, tzinfo=UTC),
        subject=digest(b"subject %d" % i),
        rp="https://rp.example.jp",
        object=digest(b"object %d" % i),
    )
    for i in range(BATCH)
]
ENTRIES = [r.to_bytes() for r in POOL]

if not any(b.name == FLOOR for b in REGISTRY):

    @bench("floor", FLOOR)
    def _sha256_floor() -> Callable[[], object]:
        data = bytes(range(64))
        return lambda: hashlib.sha256(data).digest()


_LOGS: dict[int, Log] = {}


def _log(size: int) -> Log:
    """A SQLite log (synchronous=FULL, WAL) pre-filled with ``size`` entries, shared by size; removed at exit."""
    if size in _LOGS:
        return _LOGS[size]
    directory = Path(tempfile.mkdtemp(prefix="xid-bench-ledger-"))
    engine = sqlite_engine(directory / "ledger.sqlite3")
    store = Store(engine)
    log = Log(store, SoftwareSigner.generate(KeyType.ED25519), origin="bench.xid/ledger", batch_size=BATCH)
    hashes = [rfc9162.leaf_hash(e) for e in ENTRIES]
    chunk = 10_000
    for start in range(0, size, chunk):
        count = min(chunk, size - start)
        with store.transaction(write=True) as txn:
            txn.append([ENTRIES[i % BATCH] for i in range(count)], [hashes[i % BATCH] for i in range(count)])
    log.checkpoint()

    def cleanup() -> None:
        log.close()
        engine.dispose()
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(cleanup)
    _LOGS[size] = log
    return log


def _appender(log: Log) -> Callable[[], object]:
    """One call = one record; every BATCH-th call commits the batch (one transaction), so time is amortised."""
    pending: list[Record] = []
    position = [0]

    def op() -> object:
        pending.append(POOL[position[0]])
        position[0] = (position[0] + 1) % BATCH
        if len(pending) == BATCH:
            log.append_many(pending)
            pending.clear()
        return None

    return op


@bench("ledger", "record → leaf hash → compact range (hashing only)", floor=FLOOR)
def _hashing_only() -> Callable[[], object]:
    tree = rfc9162.CompactRange()
    position = [0]

    def op() -> object:
        record = POOL[position[0]]
        position[0] = (position[0] + 1) % BATCH
        tree.append(rfc9162.leaf_hash(record.to_bytes()))
        return None

    return op


@bench("ledger", "append per record, SQLite FULL, 1000/txn, log at 10^4", floor=FLOOR)
def _append_small() -> Callable[[], object]:
    return _appender(_log(10_000))


@bench("ledger", "append per record, SQLite FULL, 1000/txn, log at 10^6", floor=FLOOR)
def _append_large() -> Callable[[], object]:
    return _appender(_log(1_000_000))


def _prover(size: int) -> Callable[[], object]:
    log = _log(size)
    rng = random.Random(6)
    return lambda: log.prove(rng.randrange(size), size=size)


def _verifier(size: int) -> Callable[[], object]:
    log = _log(size)
    receipts = [log.prove(i) for i in random.Random(7).sample(range(size), 64)]
    cases = [(rfc9162.leaf_hash(ENTRIES[r.index % BATCH]), r) for r in receipts]
    with log.store.transaction() as txn:
        checkpoint = txn.latest_checkpoint()
    assert checkpoint is not None
    root = checkpoint.root_hash
    position = [0]

    def op() -> object:
        leaf, receipt = cases[position[0] % len(cases)]
        position[0] += 1
        rfc9162.verify_inclusion(leaf, receipt.index, size, receipt.proof, root)
        return None

    return op


@bench("ledger", "inclusion proof from store, n = 10^3", floor=FLOOR)
def _prove_small() -> Callable[[], object]:
    return _prover(1_000)


@bench("ledger", "inclusion proof from store, n = 10^6", floor=FLOOR)
def _prove_large() -> Callable[[], object]:
    return _prover(1_000_000)


@bench("ledger", "inclusion proof verify, n = 10^3", floor=FLOOR)
def _verify_small() -> Callable[[], object]:
    return _verifier(1_000)


@bench("ledger", "inclusion proof verify, n = 10^6", floor=FLOOR)
def _verify_large() -> Callable[[], object]:
    return _verifier(1_000_000)
