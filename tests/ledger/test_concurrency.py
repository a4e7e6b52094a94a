"""Several writer processes on one database produce one consistent log: no gap, no duplicate, nothing lost."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from did import KeyType, SoftwareSigner
from ledger.audit import audit
from ledger.note import Ed25519NoteVerifier, vkey
from ledger.store import Store
from tests.database import KINDS, database_url, engine_for
from tests.ledger.writer import ORIGIN, record

ROOT = Path(__file__).absolute().parents[2]
WRITERS = 4
COUNT = 250


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_writer_processes_make_one_log(kind: str, tmp_path: Path) -> None:
    key = tmp_path / "log.jwk"
    signer = SoftwareSigner.generate(KeyType.ED25519)
    signer.save(key)
    with database_url(kind, tmp_path) as url:
        engine = engine_for(url)
        try:
            Store(engine).initialize(ORIGIN)  # writers race on data, not on creating tables
        finally:
            engine.dispose()
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        procs = []
        for k in range(WRITERS):
            command = [sys.executable, "-m", "tests.ledger.writer", url, str(key), "--tag", f"w{k}"]
            command += ["--count", str(COUNT), "--batch", str(5 + 4 * k), "--checkpoint-every", "3"]
            command += ["--barrier", str(barrier), "--pause", "0.002"]  # take turns even under load
            procs.append(subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # Start all writers at once, so their batches really interleave.
        deadline = time.monotonic() + 60
        while len(list(barrier.glob("ready-*"))) < WRITERS:
            assert time.monotonic() < deadline, "the writers did not get ready in time"
            assert all(p.poll() is None for p in procs), "a writer ended before the start"
            time.sleep(0.01)
        (barrier / "go").touch()
        acked: dict[int, tuple[str, int]] = {}
        for k, proc in enumerate(procs):
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            for line in out.splitlines():
                parts = line.split()
                if parts[0] == "ack":
                    assert int(parts[1]) not in acked, f"index {parts[1]} given to two records"
                    acked[int(parts[1])] = (f"w{k}", int(parts[2]))
        total = WRITERS * COUNT
        assert sorted(acked) == list(range(total))
        owners = [acked[i][0] for i in range(total)]
        switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
        assert switches >= WRITERS, f"the writers hardly interleaved ({switches} switches); the test proves little"

        engine = engine_for(url)
        try:
            store = Store(engine)
            with store.transaction() as txn:
                assert txn.state().size == total
                rows = txn.entries(0, total)
                assert len(rows) == total
                for index, entry, _ in rows:
                    tag, i = acked[index]
                    assert entry == record(i, tag).to_bytes()
                # Each writer's records keep their order within the shared log.
                for k in range(WRITERS):
                    mine = [i for index, (tag, i) in sorted(acked.items()) if tag == f"w{k}"]
                    assert mine == list(range(COUNT))
            report = audit(store, Ed25519NoteVerifier.from_vkey(vkey(ORIGIN, signer.public_key.raw)))
            assert report.ok, report.findings
            assert report.checkpoints_checked >= WRITERS
        finally:
            engine.dispose()
