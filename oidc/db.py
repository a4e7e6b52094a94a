"""The OIDC facade's tables: every module defines its tables on ``metadata`` (names prefixed ``oidc_``).

Authorization requests, login transactions, codes, tokens, consents and keys live here with expiries and unique
constraints, so single use holds across processes sharing the database. ``create_schema`` imports every
table-defining module first.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeEngine

from foundation.db import create_tables

__all__ = ["TABLE_MODULES", "Millis", "create_schema", "metadata"]

metadata = MetaData()
"""The one MetaData of the OIDC facade's tables."""

Millis: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""Column type for times as Unix milliseconds."""

TABLE_MODULES: tuple[str, ...] = ("oidc.consent", "oidc.login", "oidc.provider")
"""Modules that define OIDC tables (imported by create_schema); each part adds its module here."""


def create_schema(engine: Engine) -> None:
    """Create the OIDC facade's tables that do not exist yet (SQLite or PostgreSQL)."""
    create_tables(engine, metadata, TABLE_MODULES)
