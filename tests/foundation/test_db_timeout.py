"""A PostgreSQL engine gives up connecting after a bounded time instead of hanging a request's thread."""

from __future__ import annotations

from foundation.db import PG_CONNECT_TIMEOUT_S, open_engine


def test_postgresql_engines_bound_the_connection_attempt() -> None:
    engine = open_engine("postgresql+psycopg://xid@db.invalid/xid")
    assert engine.url.query["connect_timeout"] == str(PG_CONNECT_TIMEOUT_S)
    assert engine.dialect.create_connect_args(engine.url)[1]["connect_timeout"] == str(PG_CONNECT_TIMEOUT_S)
    own = open_engine("postgresql://xid@db.invalid/xid?connect_timeout=3")
    assert own.url.query["connect_timeout"] == "3"  # the URL's own setting wins
