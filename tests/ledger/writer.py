"""A ledger writer process for the crash and concurrency tests.

    python -m tests.ledger.writer URL KEYFILE --tag T --count N [--batch B] [--checkpoint-every K] [--start S]
                                  [--barrier DIR] [--pause SECONDS]

Appends N records (record(i, tag) for i in S..S+N-1) in batches of B through ``Log.append_many`` and prints
``ack <index> <i>`` for every record once its batch has committed, then ``cp <size> <root hex>`` after every K-th
batch's checkpoint. Output is flushed line by line so a parent that kills the process knows exactly what was
acknowledged. ``--pause`` sleeps after each batch, so that concurrent writers take turns even on a loaded machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from did import SoftwareSigner
from ledger.log import Log
from ledger.records import EventType, Record, digest
from ledger.store import Store
from tests.database import engine_for

ORIGIN = "xid.test/ledger/v1"


def record(i: int, tag: str) -> Record:
    """The i-th record a writer with this tag appends (deterministic, so the parent can check contents)."""
    return Record(
        EventType.SIGNATURE,
        datetime(2025, 4, 1, tzinfo=UTC),
        subject=digest(f"subject-{tag}-{i}".encode()),
        object=digest(f"object-{tag}-{i}".encode()),
        rp="https://rp.example.jp",
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key", type=Path)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--barrier", type=Path, help="create <dir>/ready-<tag>, then wait for <dir>/go")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep after each batch")
    args = parser.parse_args()
    engine = engine_for(args.url)
    try:
        with Log(Store(engine), SoftwareSigner.load(args.key), origin=ORIGIN, batch_size=args.batch) as log:
            if args.barrier is not None:
                (args.barrier / f"ready-{args.tag}").touch()
                deadline = time.monotonic() + 60
                while not (args.barrier / "go").exists():
                    if time.monotonic() > deadline:
                        raise SystemExit("barrier: no go within 60 s")
                    time.sleep(0.005)
            starts = range(args.start, args.start + args.count, args.batch)
            for batches, first in enumerate(starts, start=1):
                last = min(first + args.batch, args.start + args.count)
                done = log.append_many(record(i, args.tag) for i in range(first, last))
                sys.stdout.write("".join(f"ack {p.index} {i}\n" for p, i in zip(done, range(first, last), strict=True)))
                sys.stdout.flush()
                if args.checkpoint_every and batches % args.checkpoint_every == 0:
                    cp = log.checkpoint()
                    if cp is not None:
                        print(f"cp {cp.size} {cp.root_hash.hex()}", flush=True)
                if args.pause:
                    time.sleep(args.pause)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
