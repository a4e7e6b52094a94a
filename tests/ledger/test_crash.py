"""Crash safety: a writer killed with SIGKILL mid-run loses nothing it acknowledged and leaves no half batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from did import KeyType, SoftwareSigner
from ledger import rfc9162
from ledger.audit import audit
from ledger.note import Ed25519NoteVerifier
from ledger.store import Store
from tests.database import KINDS, database_url, engine_for
from tests.ledger.writer import ORIGIN, record

ROOT = Path(__file__).absolute().parents[2]


def start_writer(url: str, key: Path, tag: str, count: int, batch: int, every: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.ledger.writer", url, str(key), "--tag", tag, "--count", str(count)]
    command += ["--batch", str(batch), "--checkpoint-every", str(every)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(proc: subprocess.Popen[str], acks: int, checkpoints: int, timeout: float) -> list[str]:
    """Read the writer's lines until it acknowledged `acks` records and printed `checkpoints` checkpoints."""
    assert proc.stdout is not None
    lines: list[str] = []
    seen_acks = seen_cps = 0
    deadline = time.monotonic() + timeout
    while seen_acks < acks or seen_cps < checkpoints:
        assert time.monotonic() < deadline, "the writer was too slow"
        line = proc.stdout.readline()
        if not line:
            stderr = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"the writer ended early (status {proc.wait()}): {stderr[-2000:]}")
        lines.append(line)
        seen_acks += line.startswith("ack ")
        seen_cps += line.startswith("cp ")
    return lines


def finish(proc: subprocess.Popen[str]) -> list[str]:
    out, _ = proc.communicate(timeout=60)
    return out.splitlines(keepends=True)


@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_loses_nothing_acknowledged(kind: str, tmp_path: Path) -> None:
    key = tmp_path / "log.jwk"
    signer = SoftwareSigner.generate(KeyType.ED25519)
    signer.save(key)
    with database_url(kind, tmp_path) as url:
        acked: dict[int, tuple[str, int]] = {}
        checkpoints: list[tuple[int, bytes]] = []
        for round_number in range(3):
            tag = f"run{round_number}"
            proc = start_writer(url, key, tag, count=1_000_000, batch=37, every=4)
            try:
                lines = read_until(proc, acks=300 + 100 * round_number, checkpoints=2, timeout=60)
                time.sleep(0.01 * round_number)  # land somewhere else inside a batch each round
            finally:
                os.kill(proc.pid, signal.SIGKILL)
            lines += finish(proc)
            assert proc.returncode == -signal.SIGKILL
            for line in lines:
                parts = line.split()
                if parts and parts[0] == "ack" and len(parts) == 3:
                    index = int(parts[1])
                    assert index not in acked, f"index {index} acknowledged twice"
                    acked[index] = (tag, int(parts[2]))
                elif parts and parts[0] == "cp" and len(parts) == 3:
                    checkpoints.append((int(parts[1]), bytes.fromhex(parts[2])))

        # Restart: a clean run appends more and signs a checkpoint after every batch.
        proc = start_writer(url, key, "after", count=50, batch=10, every=1)
        lines = finish(proc)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        new_size, new_root = next(
            (int(p[1]), bytes.fromhex(p[2])) for p in (line.split() for line in reversed(lines)) if p[0] == "cp"
        )

        engine = engine_for(url)
        try:
            store = Store(engine)
            with store.transaction() as txn:
                size = txn.state().size
                assert size == new_size
                rows = txn.entries(0, size)
                assert [i for i, _, _ in rows] == list(range(size)), "gap or duplicate index"
                assert len({entry for _, entry, _ in rows}) == size, "a record was stored twice"
                by_index = {i: entry for i, entry, _ in rows}
                # Each round waited for 300, 400 and 500 acknowledgements: all of them must have been parsed.
                assert len(acked) >= 1200, f"only {len(acked)} acknowledgements parsed from the writers"
                for index, (tag, i) in acked.items():
                    assert by_index[index] == record(i, tag).to_bytes(), f"acknowledged index {index} changed"
                old_size, old_root = checkpoints[-1]
                proof = rfc9162.consistency_proof_from(old_size, new_size, txn.node)
                rfc9162.verify_consistency(old_size, new_size, old_root, new_root, proof)
            public = signer.public_key.raw
            from ledger.note import vkey

            report = audit(store, Ed25519NoteVerifier.from_vkey(vkey(ORIGIN, public)))
            assert report.ok, report.findings
            assert report.checkpoints_checked >= 7
        finally:
            engine.dispose()
