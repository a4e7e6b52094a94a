"""The issuer's tables: every issuer module defines its tables on ``metadata`` (names prefixed ``issuer_``).

Short-lived state (challenges, offers, codes, tokens, nonces) lives here with an expiry and unique constraints, so
single use holds across any number of processes sharing the database (docs/issuer.md). ``create_schema`` creates
what is missing; it imports every module that owns tables first, so the set is complete whichever module a caller
imported.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeEngine

from foundation.db import create_tables

__all__ = ["TABLE_MODULES", "Millis", "create_schema", "metadata"]

metadata = MetaData()
"""The one MetaData of the issuer's tables."""

Millis: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""Column type for times as Unix milliseconds (and 64-bit row ids; INTEGER on SQLite is the rowid)."""

TABLE_MODULES: tuple[str, ...] = (
    "issuer.ca",
    "issuer.enrollment",
    "issuer.evidence",
    "issuer.oid4vci",
    "issuer.persons",
    "issuer.status",
    "issuer.vc_api",
)
"""Modules that define issuer tables (imported by create_schema)."""


def create_schema(engine: Engine) -> None:
    """Create the issuer's tables that do not exist yet (SQLite or PostgreSQL)."""
    create_tables(engine, metadata, TABLE_MODULES)
