"""The audit recomputes everything: each kind of tampering done directly in SQL is found and named."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from did import KeyType, SoftwareSigner
from ledger.audit import AuditReport, audit
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.errors import LedgerError
from ledger.log import Log
from ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier
from ledger.records import EventType, Record, digest
from ledger.rfc9162 import leaf_hash
from ledger.store import Store
from tests.database import KINDS, database_url, engine_for

ORIGIN = "xid.test/ledger/v1"
SIZES = (100, 200, 300)


def record(i: int) -> Record:
    return Record(
        EventType.PRESENTATION,
        datetime(2025, 5, 1, tzinfo=UTC),
        subject=digest(b"s%d" % i),
        rp="did:web:verifier.example.jp",
        credential=digest(b"c%d" % i),
    )


class Anchor:
    name = "test"

    def submit(self, checkpoint: bytes) -> Any:
        class Receipt:
            def to_json(self) -> dict[str, str]:
                return {"sha256": hashlib.sha256(checkpoint).hexdigest()}

        return Receipt()


def verify_anchor(receipt: object, checkpoint: bytes) -> None:
    if not isinstance(receipt, dict) or receipt.get("sha256") != hashlib.sha256(checkpoint).hexdigest():
        raise LedgerError("the anchored digest is not this checkpoint's")


@dataclass
class Fixture:
    engine: Engine
    signer: SoftwareSigner
    verifier: Ed25519NoteVerifier

    def sql(self, statement: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(statement), params)

    def audit(self) -> AuditReport:
        return audit(Store(self.engine), self.verifier, anchors={"test": verify_anchor})


@pytest.fixture(params=KINDS)
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fixture]:
    signer = SoftwareSigner.generate(KeyType.ED25519)
    with database_url(request.param, tmp_path) as url:
        engine = engine_for(url)
        try:
            with Log(Store(engine), signer, origin=ORIGIN, batch_size=64, anchors=[Anchor()]) as writer:
                for size in SIZES:
                    writer.append_many(record(i) for i in range(size - 100, size))
                    writer.checkpoint()
                verifier = Ed25519NoteVerifier.from_vkey(writer.vkey)
            yield Fixture(engine, signer, verifier)
        finally:
            engine.dispose()


def codes(report: AuditReport) -> set[str]:
    return {f.code for f in report.findings}


def messages(report: AuditReport) -> str:
    return "\n".join(f.message for f in report.findings)


def test_an_intact_log_passes(log: Fixture) -> None:
    report = log.audit()
    assert report.ok, report.findings
    assert (report.size, report.entries_checked, report.checkpoints_checked, report.anchors_checked) == (300, 300, 3, 3)
    assert report.tiles_checked == 3  # 0/000 full, 0/001.p/44, 1/000.p/1


def test_progress_is_reported(log: Fixture) -> None:
    seen: list[int] = []
    audit(Store(log.engine), log.verifier, progress=seen.append, chunk=128)
    assert sum(seen) == 300
    assert len(seen) == 3


def test_changed_record_is_named(log: Fixture) -> None:
    log.sql("UPDATE ledger_entries SET entry = :e WHERE idx = 41", e=record(9999).to_bytes())
    report = log.audit()
    assert "entry 41 was changed: its bytes no longer hash to the leaf hash stored with it" in messages(report)
    assert {"changedEntry", "forkedCheckpoint", "tileMismatch"} <= codes(report)


def test_record_rewritten_with_its_leaf_hash_is_caught_by_the_tiles(log: Fixture) -> None:
    forged = record(9999).to_bytes()
    log.sql("UPDATE ledger_entries SET entry = :e, leaf_hash = :h WHERE idx = 260", e=forged, h=leaf_hash(forged))
    report = log.audit()
    assert "entry 260 was changed: the record and its leaf hash were rewritten, but tile 0/1" in messages(report)
    assert "forked checkpoint at size 300" in messages(report)


def test_rewriting_entry_tiles_and_state_still_breaks_the_signed_checkpoints(log: Fixture) -> None:
    log.sql("DELETE FROM ledger_tiles")
    log.sql("UPDATE ledger_entries SET entry = :e, leaf_hash = :h WHERE idx = 3", e=b"x", h=leaf_hash(b"x"))
    report = log.audit()
    assert "entry 3 is not a valid record" in messages(report)
    for size in SIZES:
        assert f"forked checkpoint at size {size}" in messages(report)


def test_removed_entry_is_named(log: Fixture) -> None:
    log.sql("DELETE FROM ledger_entries WHERE idx = 7")
    report = log.audit()
    assert codes(report) == {"missingEntry"}
    assert "entry 7 is missing" in messages(report)


def test_removed_tail_is_named(log: Fixture) -> None:
    log.sql("DELETE FROM ledger_entries WHERE idx >= 298")
    report = log.audit()
    assert "entry 298 is missing" in messages(report)
    assert "entry 299 is missing" in messages(report)


def test_forked_checkpoint_is_named(log: Fixture) -> None:
    forged_root = hashlib.sha256(b"another history").digest()
    note = sign_checkpoint(Checkpoint(ORIGIN, 200, forged_root), Ed25519NoteSigner(ORIGIN, log.signer))
    log.sql("UPDATE ledger_checkpoints SET note = :n, root_hash = :r WHERE size = 200", n=note, r=forged_root)
    report = log.audit()
    assert "forked checkpoint at size 200: it signs root" in messages(report)
    assert "checkpoint at size 200 is not consistent with checkpoint at size 100" in messages(report)
    assert "test anchor of checkpoint at size 200 does not verify" in messages(report)


def test_checkpoint_signed_by_another_key_is_named(log: Fixture) -> None:
    other = SoftwareSigner.generate(KeyType.ED25519)
    with Store(log.engine).transaction() as txn:
        root = txn.checkpoint(100).root_hash
    note = sign_checkpoint(Checkpoint(ORIGIN, 100, root), Ed25519NoteSigner(ORIGIN, other))
    log.sql("UPDATE ledger_checkpoints SET note = :n WHERE size = 100", n=note)
    report = log.audit()
    assert "checkpoint at size 100: its signed note does not verify" in messages(report)


def test_checkpoint_row_disagreeing_with_its_note_is_named(log: Fixture) -> None:
    log.sql("UPDATE ledger_checkpoints SET root_hash = :r WHERE size = 300", r=bytes(32))
    report = log.audit()
    assert codes(report) == {"checkpointRowMismatch"}
    assert "checkpoint row at size 300" in messages(report)


def test_tampered_tile_is_named(log: Fixture) -> None:
    log.sql("UPDATE ledger_tiles SET hashes = :h WHERE level = 0 AND idx = 1", h=bytes(32 * 44))
    report = log.audit()
    assert "tile 0/1: hash 0 (Merkle node level 0, index 256) is 0000000000000000…" in messages(report)


def test_tampered_state_row_is_named(log: Fixture) -> None:
    log.sql("UPDATE ledger_state SET peaks = :p", p=bytes(32 * 4))
    report = log.audit()
    assert "stateMismatch" in codes(report)


def test_tampered_anchor_receipt_is_named(log: Fixture) -> None:
    log.sql("UPDATE ledger_anchors SET receipt = :r WHERE size = 100", r=json.dumps({"sha256": "00"}))
    log.sql("UPDATE ledger_anchors SET receipt = :r WHERE size = 200", r="{not json")
    log.sql("UPDATE ledger_anchors SET size = 150 WHERE size = 300")
    report = log.audit()
    assert "test anchor of checkpoint at size 100 does not verify" in messages(report)
    assert "test anchor of checkpoint at size 200 does not verify" in messages(report)
    assert "test anchor for size 150: no such checkpoint" in messages(report)


def test_anchors_without_a_verifier_are_noted_not_passed(log: Fixture) -> None:
    report = audit(Store(log.engine), log.verifier)
    assert report.ok
    assert report.anchors_checked == 0
    assert report.notes == ["3 test anchor receipt(s) not checked: no verifier for that back end given"]
