"""The one way xid opens a database: SQLAlchemy engines for SQLite (WAL) or PostgreSQL, with writer transactions.

Every service owns its tables and takes an ``Engine`` as a parameter; this module makes that engine. SQLite runs in
WAL mode with a busy timeout, the driver's own transaction handling switched off, and ``BEGIN IMMEDIATE`` for writer
transactions (``transaction(engine, write=True)``), so single-use state (nonces, codes) holds across processes the
same way it does on PostgreSQL. Errors::

    XidError
    └── DatabaseUnavailableError  databaseUnavailable  (unreachable, locked for too long, or disk I/O failed)
"""

from __future__ import annotations

import importlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, exc, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from foundation.errors import XidError

__all__ = [
    "PG_CONNECT_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_S",
    "DatabaseUnavailableError",
    "Synchronous",
    "configure_sqlite",
    "create_tables",
    "first_line",
    "is_unique_violation",
    "open_engine",
    "sqlite_engine",
    "transaction",
    "unavailable",
]

SQLITE_BUSY_TIMEOUT_S = 30.0
PG_CONNECT_TIMEOUT_S = 10
"""Seconds a PostgreSQL connection attempt may take before the request fails with DatabaseUnavailableError."""
Synchronous = Literal["FULL", "NORMAL", "EXTRA"]
_WRITE_OPTION = "xid_write"


class DatabaseUnavailableError(XidError):
    """The database cannot be reached or used right now (HTTP services answer 503)."""

    code = "databaseUnavailable"


def sqlite_engine(path: Path | str, *, synchronous: Synchronous = "FULL") -> Engine:
    """An engine for a SQLite file: WAL, the given durability, a busy timeout, and writer locking.

    ``synchronous=FULL`` (the default) fsyncs the WAL on every commit, so an acknowledged write survives power
    loss, not only a process crash.
    """
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    configure_sqlite(engine, synchronous=synchronous)
    return engine


def open_engine(url: str, *, synchronous: Synchronous = "FULL") -> Engine:
    """An engine for a database URL: ``sqlite:///path`` or ``postgresql+psycopg://…`` (the only two supported)."""
    if url.startswith("sqlite:///"):
        return sqlite_engine(url.removeprefix("sqlite:///"), synchronous=synchronous)
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        # A database host that drops packets must not hang a request's thread: connecting gives up after 10 s
        # (unless the URL sets its own connect_timeout) and the request answers 503.
        parsed = make_url(url)
        if "connect_timeout" not in parsed.query:
            parsed = parsed.update_query_dict({"connect_timeout": str(PG_CONNECT_TIMEOUT_S)})
        return create_engine(parsed, pool_pre_ping=True)
    raise DatabaseUnavailableError("the database URL must start with sqlite:/// or postgresql+psycopg://")


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting while another connection holds a lock on a new database.

    SQLite answers the switch "database is locked" at once, without its busy handler, while a connection that
    opened the database a moment earlier (another process or worker starting together) is writing to it in the
    default rollback mode; once any connection has switched, the database stays in WAL and this is a no-op."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def configure_sqlite(engine: Engine, *, synchronous: Synchronous = "FULL") -> None:
    """Install the connection hooks on a SQLite engine (idempotent; other databases are left alone).

    The driver's own transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself, so reads run in
    real transactions (consistent snapshots) and writer transactions can start with ``BEGIN IMMEDIATE``.
    """
    if engine.dialect.name != "sqlite" or getattr(engine, "_xid_sqlite", False):
        return
    if synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")

    def on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            _switch_to_wal(cursor)
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    engine._xid_sqlite = True  # type: ignore[attr-defined]


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction, committed on success and rolled back on any error.

    ``write=True`` takes SQLite's writer lock at BEGIN (``BEGIN IMMEDIATE``), so a read-then-write inside it cannot
    interleave with another process's; on PostgreSQL use ``SELECT … FOR UPDATE`` or a conditional ``UPDATE``/
    ``DELETE … RETURNING`` for the same effect. Connection failures become ``DatabaseUnavailableError``.
    """
    configure_sqlite(engine)
    try:
        with engine.connect() as conn:
            if write:
                conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise unavailable(error) from error


def create_tables(engine: Engine, metadata: MetaData, modules: Iterable[str] = ()) -> None:
    """Create a package's missing tables, after importing the modules that define them on ``metadata``."""
    for name in modules:
        importlib.import_module(name)
    configure_sqlite(engine)
    with transaction(engine, write=True) as conn:
        metadata.create_all(conn)


def unavailable(error: BaseException) -> DatabaseUnavailableError:
    """The DatabaseUnavailableError for a driver failure, naming its first line (never the SQL or parameters)."""
    return DatabaseUnavailableError(f"the database is unavailable: {first_line(error)}")


def is_unique_violation(error: BaseException) -> bool:
    """Whether a driver error is a unique or primary-key constraint violation (on SQLite or PostgreSQL)."""
    if not isinstance(error, exc.IntegrityError):
        return False
    orig = error.orig
    if getattr(orig, "sqlstate", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(orig)


def first_line(error: BaseException) -> str:
    """The first line of a driver error's own message (SQLAlchemy appends the SQL and parameters after it)."""
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
