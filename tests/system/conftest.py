"""Fixtures of the system tests: a PostgreSQL cluster of the test's own, and one ``xid serve`` on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_component
from tests.system.servers import ADMIN_TOKEN, Deployment, PostgresCluster, XidServer, postgres_bindir


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A running PostgreSQL cluster the test may stop and start (needs Debian's postgresql; required in CI)."""
    require_component(postgres_bindir() is not None, "PostgreSQL server binaries (Debian package postgresql)")
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path: Path, cluster: PostgresCluster) -> Iterator[Deployment]:
    """``xid serve`` (``--workers`` = the indirect parameter, default 1) with services and ledger on ``cluster``."""
    workers = getattr(request, "param", 1)
    env = {"XID_DATABASE_URL": cluster.url, "XID_LEDGER_DATABASE_URL": cluster.url, "XID_ADMIN_TOKEN": ADMIN_TOKEN}
    server = XidServer("A", tmp_path / "home", env, workers=workers)
    try:
        server.start()
        yield Deployment(cluster, server)
    finally:
        server.stop()
