"""``xid rp add|list|remove`` on the services database under $XID_HOME."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from click.testing import CliRunner

from foundation.db import open_engine
from verifier import rps
from verifier.db import create_schema
from xid.cli import main


def test_add_list_remove(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"XID_HOME": str(tmp_path), "XID_DATABASE_URL": ""}
    added = runner.invoke(
        main,
        ["rp", "add", "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--json"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    credentials = json.loads(added.stdout)
    assert set(credentials) == {"client_id", "client_secret"}
    engine = open_engine(f"sqlite:///{tmp_path / 'xid.sqlite3'}")
    try:
        create_schema(engine)
        header = (
            "Basic " + base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode()).decode()
        )
        assert rps.authenticate(engine, header).name == "Shop"
    finally:
        engine.dispose()

    text = runner.invoke(main, ["rp", "add", "--name", "Local", "--sector", "local.example"], env=env)
    assert text.exit_code == 0
    assert "client_secret:" in text.stdout

    listed = runner.invoke(main, ["rp", "list", "--json"], env=env)
    assert listed.exit_code == 0
    parties = json.loads(listed.stdout)
    assert [p["name"] for p in parties] == ["Shop", "Local"]
    assert parties[0]["redirect_uris"] == ["https://shop.example/cb"]
    assert parties[0]["sector"] == "shop.example"
    assert credentials["client_secret"] not in listed.stdout
    assert credentials["client_id"] in runner.invoke(main, ["rp", "list"], env=env).stdout

    removed = runner.invoke(main, ["rp", "remove", credentials["client_id"]], env=env)
    assert removed.exit_code == 0, removed.output
    again = runner.invoke(main, ["rp", "remove", credentials["client_id"]], env=env)
    assert again.exit_code == 1
    assert again.stderr.startswith("error [rpUnknown]: ")
    assert [p["name"] for p in json.loads(runner.invoke(main, ["rp", "list", "--json"], env=env).stdout)] == ["Local"]


def test_bad_registrations_are_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["rp", "add", "--name", "Shop", "--redirect-uri", "http://shop.example/cb"],
        env={"XID_HOME": str(tmp_path), "XID_DATABASE_URL": ""},
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error [rpInvalidRegistration]: ")
    assert result.stdout == ""
