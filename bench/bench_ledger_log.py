"""The ledger as a running log: batched appends on SQLite and PostgreSQL, and inclusion proofs read from the store.

Appends are measured per record on a log that already holds 10^4 and 10^6 entries (built here), so a slowdown with
size would show, and compared with the raw-insert floor of the same database, measured again right before each of
them (a disk's fsync time drifts on a shared machine): the same rows (index, leaf hash, entry) handed to the driver
in batches of 1000 per transaction, with the same durability, and nothing else (no record encoding, no hashing, no
tiles). Proofs and "hashing only" (canonical JSON, the leaf
hash and the compact-range update: the ceiling without a database) are compared with one raw SHA-256 of 64 bytes,
the cost of one Merkle node.

PostgreSQL runs when ``XID_BENCH_DATABASE_URL`` (or ``XID_TEST_DATABASE_URL``) names a server (SQLAlchemy URL,
``postgresql+psycopg://…``); otherwise its rows say "not run" with the reason. The figures mean "durable" only
if that server runs with ``fsync=on`` and ``synchronous_commit=on``; the bench prints the server's settings (the
test cluster of scripts/postgres-test.sh runs with both off).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import random
import secrets
import shutil
import sqlite3
import struct
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text

from bench.harness import REGISTRY, BenchUnavailableError, bench
from did import KeyType, SoftwareSigner
from foundation.db import sqlite_engine
from ledger import rfc9162
from ledger.log import Log
from ledger.records import EventType, Record, digest
from ledger.store import Store

FLOOR = "raw SHA-256 of 64 bytes (hashlib)"
SQLITE_FLOOR = "raw batched INSERT, SQLite FULL, 1000 rows/txn (sqlite3 executemany)"
POSTGRES_FLOOR = "raw batched COPY, PostgreSQL, 1000 rows/txn (psycopg binary COPY)"
URL_ENVS = ("XID_BENCH_DATABASE_URL", "XID_TEST_DATABASE_URL")
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


HASHES = [rfc9162.leaf_hash(e) for e in ENTRIES]
_LOGS: dict[tuple[str, int], Log] = {}


def _postgres_url() -> str:
    """The PostgreSQL URL to measure against; BenchUnavailableError (the bench is skipped) when none is set."""
    for name in URL_ENVS:
        url = os.environ.get(name, "")
        if url:
            return url
    raise BenchUnavailableError(f"PostgreSQL benchmarks need {' or '.join(URL_ENVS)} (e.g. scripts/postgres-test.sh)")


_SETTINGS_SHOWN: list[bool] = []


def _postgres_engine(purpose: str) -> Engine:
    """An engine on a fresh schema of the bench server (dropped at exit); prints the server's durability settings."""
    base = _postgres_url()
    if not _SETTINGS_SHOWN:
        admin = create_engine(base)
        try:
            with admin.connect() as conn:
                fsync = conn.execute(text("SHOW fsync")).scalar_one()
                synchronous = conn.execute(text("SHOW synchronous_commit")).scalar_one()
        except Exception as error:  # any driver error: the server is not usable for the bench
            raise BenchUnavailableError(f"PostgreSQL at {URL_ENVS} unreachable: {str(error).splitlines()[0]}") from None
        finally:
            admin.dispose()
        durable = "durable" if (fsync, synchronous) == ("on", "on") else "NOT durable: figures omit the commit flush"
        print(f"    PostgreSQL server: fsync={fsync}, synchronous_commit={synchronous} ({durable})", file=sys.stderr)
        _SETTINGS_SHOWN.append(True)
    schema = f"xid_bench_{purpose}_{secrets.token_hex(4)}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    atexit.register(drop)
    separator = "&" if "?" in base else "?"
    return create_engine(f"{base}{separator}options={quote(f'-csearch_path={schema}')}")


def _log(kind: str, size: int) -> Log:
    """A log (SQLite FULL + WAL, or PostgreSQL) pre-filled with ``size`` entries, shared by size; removed at exit."""
    if (kind, size) in _LOGS:
        return _LOGS[(kind, size)]
    directory: Path | None = None
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="xid-bench-ledger-"))
        engine = sqlite_engine(directory / "ledger.sqlite3")
    else:
        engine = _postgres_engine(f"log{size}")
    store = Store(engine)
    log = Log(store, SoftwareSigner.generate(KeyType.ED25519), origin="bench.xid/ledger", batch_size=BATCH)
    chunk = 10_000
    for start in range(0, size, chunk):
        count = min(chunk, size - start)
        with store.transaction(write=True) as txn:
            txn.append([ENTRIES[i % BATCH] for i in range(count)], [HASHES[i % BATCH] for i in range(count)])
    log.checkpoint()

    def cleanup() -> None:
        log.close()
        engine.dispose()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(cleanup)
    _LOGS[(kind, size)] = log
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


def _batched(flush: Callable[[list[tuple[int, bytes, bytes]]], None]) -> Callable[[], object]:
    """One call = one row (index, leaf hash, entry); every BATCH-th call hands the batch to ``flush``."""
    pending: list[tuple[int, bytes, bytes]] = []
    position = [0]

    def op() -> object:
        i = position[0]
        pending.append((i, HASHES[i % BATCH], ENTRIES[i % BATCH]))
        position[0] = i + 1
        if len(pending) == BATCH:
            flush(pending)
            pending.clear()
        return None

    return op


@bench("floor", SQLITE_FLOOR)
def _sqlite_floor() -> Callable[[], object]:
    directory = Path(tempfile.mkdtemp(prefix="xid-bench-floor-"))
    atexit.register(shutil.rmtree, directory, True)
    db = sqlite3.connect(directory / "floor.sqlite3", isolation_level=None)
    atexit.register(db.close)
    for pragma in ("journal_mode=WAL", "synchronous=FULL"):  # the ledger's settings (ledger.store.sqlite_engine)
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE rows (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL, entry BLOB NOT NULL)")

    def flush(rows: list[tuple[int, bytes, bytes]]) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO rows (idx, leaf_hash, entry) VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")

    return _batched(flush)


@bench("floor", POSTGRES_FLOOR)
def _postgres_floor() -> Callable[[], object]:
    engine = _postgres_engine("floor")
    atexit.register(engine.dispose)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE rows (idx BIGINT PRIMARY KEY, leaf_hash BYTEA NOT NULL, entry BYTEA NOT NULL)"))
    raw: Any = engine.raw_connection()
    atexit.register(raw.close)
    driver = raw.driver_connection

    copy_rows = "COPY rows (idx, leaf_hash, entry) FROM STDIN (FORMAT BINARY)"
    row_header = struct.Struct(">hiqi32si").pack  # 3 fields; int8 index; 32-byte leaf hash; entry length

    def flush(rows: list[tuple[int, bytes, bytes]]) -> None:
        # Binary COPY built in one buffer: the least client work PostgreSQL accepts rows with.
        data = [b"PGCOPY\n\xff\r\n\x00" + bytes(8)]
        for idx, leaf, entry in rows:
            data += (row_header(3, 8, idx, 32, leaf, len(entry)), entry)
        data.append(b"\xff\xff")
        with driver.cursor() as cursor, cursor.copy(copy_rows) as copy:
            copy.write(b"".join(data))
        driver.commit()

    return _batched(flush)


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


@bench("ledger", "append per record, SQLite FULL, 1000/txn, log at 10^4", floor=SQLITE_FLOOR, remeasure_floor=True)
def _append_small() -> Callable[[], object]:
    return _appender(_log("sqlite", 10_000))


@bench("ledger", "append per record, SQLite FULL, 1000/txn, log at 10^6", floor=SQLITE_FLOOR, remeasure_floor=True)
def _append_large() -> Callable[[], object]:
    return _appender(_log("sqlite", 1_000_000))


@bench("ledger", "append per record, PostgreSQL, 1000/txn, log at 10^4", floor=POSTGRES_FLOOR, remeasure_floor=True)
def _append_small_postgres() -> Callable[[], object]:
    return _appender(_log("postgresql", 10_000))


@bench("ledger", "append per record, PostgreSQL, 1000/txn, log at 10^6", floor=POSTGRES_FLOOR, remeasure_floor=True)
def _append_large_postgres() -> Callable[[], object]:
    return _appender(_log("postgresql", 1_000_000))


def _prover(size: int) -> Callable[[], object]:
    log = _log("sqlite", size)
    rng = random.Random(6)
    return lambda: log.prove(rng.randrange(size), size=size)


def _verifier(size: int) -> Callable[[], object]:
    log = _log("sqlite", size)
    receipts = [log.prove(i) for i in random.Random(7).sample(range(size), 64)]
    cases = [(HASHES[r.index % BATCH], r) for r in receipts]
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
