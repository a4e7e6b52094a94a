"""Database helpers for the store tests (ledger, issuer, ...): a SQLite file or a throwaway PostgreSQL schema, as a URL.

PostgreSQL comes from ``XID_TEST_DATABASE_URL`` (``scripts/postgres-test.sh`` starts one and prints it). Without it
the PostgreSQL variants skip locally and fail in CI (``require_component``). Each use gets its own schema, dropped
afterwards, so tests never see each other's tables; the schema is selected through the URL (``options=-csearch_path``)
so subprocesses given the URL land in the same schema.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text

from foundation.db import sqlite_engine
from tests.helpers import require_component

URL_ENV = "XID_TEST_DATABASE_URL"
KINDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    """The test PostgreSQL URL; skips locally / fails in CI when it is not configured or not reachable."""
    url = os.environ.get(URL_ENV, "")
    require_component(bool(url), f"PostgreSQL ({URL_ENV} unset; run scripts/postgres-test.sh)")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        reachable, reason = True, ""
    except Exception as exc:  # any driver error means the component is not available
        reachable, reason = False, str(exc).splitlines()[0]
    finally:
        engine.dispose()
    require_component(reachable, f"PostgreSQL at {URL_ENV} ({reason})")
    return url


@contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty database of the given kind ("sqlite" or "postgresql"), cleaned up afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    if kind != "postgresql":
        raise ValueError(kind)
    base = postgres_url()
    schema = f"xid_test_{secrets.token_hex(6)}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def engine_for(url: str) -> Engine:
    """An engine for a test URL (SQLite through the ledger's own engine factory). Dispose it after use."""
    if url.startswith("sqlite:///"):
        return sqlite_engine(url.removeprefix("sqlite:///"))
    return create_engine(url)
