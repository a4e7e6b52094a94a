"""xid serve and the schema: a fresh home just works, an old one is adopted, a configured database is not migrated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from foundation.db import sqlite_engine
from ledger.store import Store
from xid.cli import main
from xid.cli_ledger import DEFAULT_ORIGIN
from xid.db_migrate import LEDGER, SERVICES, SchemaBehindError, status, upgrade
from xid.serve import build_services
from xid.settings import Settings

BASE_URL = "http://127.0.0.1:8080"


def _serve_once(env: dict[str, str]) -> None:
    services = build_services(Settings.from_env(env), BASE_URL)
    services.close()


def _current(env: dict[str, str]) -> dict[str, str]:
    result = CliRunner().invoke(main, ["db", "current", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {name: found["state"] for name, found in json.loads(result.stdout).items()}


def test_a_fresh_home_is_migrated_on_start(tmp_path: Path) -> None:
    env = {"XID_HOME": str(tmp_path / "home"), "XID_DATABASE_URL": "", "XID_LEDGER_DATABASE_URL": ""}
    assert _current(env) == {"services": "empty", "ledger": "empty"}
    assert not (tmp_path / "home").exists()  # 'xid db current' created nothing
    _serve_once(env)
    assert _current(env) == {"services": "current", "ledger": "current"}
    _serve_once(env)  # a second start (or a second worker) finds the work done


def test_a_home_made_before_migrations_is_adopted_on_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    services, ledger = sqlite_engine(home / "xid.sqlite3"), sqlite_engine(home / "ledger.sqlite3")
    # what create_all made before migrations existed: the first revision's tables, without a version table
    upgrade(services, SERVICES, destination="services_0001")
    with services.begin() as conn:
        conn.execute(text(f"DROP TABLE {SERVICES.version_table}"))
    Store(ledger).initialize(DEFAULT_ORIGIN)
    assert status(services, SERVICES).state == status(ledger, LEDGER).state == "unversioned"
    _serve_once({"XID_HOME": str(home), "XID_DATABASE_URL": "", "XID_LEDGER_DATABASE_URL": ""})
    assert status(services, SERVICES).state == status(ledger, LEDGER).state == "current"
    services.dispose()
    ledger.dispose()


def test_a_configured_database_must_be_upgraded_by_the_operator(tmp_path: Path) -> None:
    database = tmp_path / "production.sqlite3"
    env = {
        "XID_HOME": str(tmp_path / "home"),
        "XID_DATABASE_URL": f"sqlite:///{database}",
        "XID_LEDGER_DATABASE_URL": "",
    }
    with pytest.raises(SchemaBehindError, match=r"the services database has no xid tables yet: run 'xid db upgrade'"):
        _serve_once(env)
    engine = sqlite_engine(database)
    assert inspect(engine).get_table_names() == []  # refused before anything was created
    result = CliRunner().invoke(main, ["db", "upgrade", "--schema", "services"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == "services: at services_0002 (was empty)\n"
    assert "services: applied services_0001: " in result.stderr
    assert "services: applied services_0002: " in result.stderr
    _serve_once(env)
    assert status(engine, SERVICES).state == "current"
    engine.dispose()


def test_xid_serve_names_the_command_when_refusing(tmp_path: Path) -> None:
    env = {
        "XID_HOME": str(tmp_path / "home"),
        "XID_DATABASE_URL": "",
        "XID_LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    }
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error [schemaBehind]: the ledger database has no xid tables yet: run 'xid db upgrade' (after a backup), "
        "then start"
    )
