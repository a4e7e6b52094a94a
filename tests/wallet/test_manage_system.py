"""``xid wallet show``, ``delete`` and ``export`` on a wallet enrolled against ``xid serve`` on 127.0.0.1.

``show`` verifies the stored credential again (issuer did:web over loopback http) and checks its status live: a
credential the issuer suspends or revokes is shown so at once.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from foundation.db import transaction
from issuer import status
from tests.helpers import PERSONS, serve, serve_system
from xid.cli import main
from xid.serve import Services

PASSPHRASE = "correct horse battery staple"


@dataclass
class World:
    """xid serve's app on a real uvicorn and an enrolled wallet."""

    url: str
    home: Path
    services: Services

    def xid(self, *args: str, stdin: str | None = PASSPHRASE + "\n") -> Result:
        """Run ``xid`` with this XID_HOME (the passphrase on stdin by default)."""
        return CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(self.home), "XID_WALLET": ""})

    def credentials(self) -> dict[str, dict[str, Any]]:
        """The stored credentials by configuration id (``xid wallet list --json``)."""
        listed = json.loads(self.xid("wallet", "list", "--json").stdout)
        return {item["configurationId"]: item for item in listed if item["kind"] == "credential"}

    def show(self, record_id: str) -> dict[str, Any]:
        """``xid wallet show ID --json``."""
        result = self.xid("wallet", "show", record_id, "--passphrase-stdin", "--json")
        assert result.exit_code == 0, result.output
        shown: dict[str, Any] = json.loads(result.stdout)
        return shown


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("manage") / "home"
    with serve_system(home) as (url, services, _):
        world = World(url, home, services)
        assert world.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
        assert world.xid("wallet", "init", "--passphrase-stdin").exit_code == 0
        enrolled = world.xid(
            "wallet", "enroll", "--issuer", url, "--emulated", "--passphrase-stdin", "--pin-stdin",
            stdin=f"{PASSPHRASE}\nTEST1234\n",
        )  # fmt: skip
        assert enrolled.exit_code == 0, enrolled.output
        yield world


def test_show_decodes_and_checks_status_live(world: World) -> None:
    credentials = world.credentials()
    assert set(credentials) >= {"xid_identity_sd_jwt"}, credentials
    for configuration, item in credentials.items():
        shown = world.show(item["id"])
        assert shown["verified"] is True, (configuration, shown)
        assert shown["status"] == "valid", (configuration, shown)
        assert shown["issuer"] == world.url
        assert shown["statusLists"], shown
        assert shown["validUntil"]
        assert "山田" in json.dumps(shown["claims"], ensure_ascii=False), (configuration, shown["claims"])
    human = world.xid("wallet", "show", credentials["xid_identity_sd_jwt"]["id"], "--passphrase-stdin")
    assert human.exit_code == 0, human.output
    assert "status: valid" in human.stdout
    assert "signature: verified" in human.stdout


def _person(world: World) -> str:
    with transaction(world.services.issuer.engine) as conn:
        (person,) = set(conn.execute(select(status.credentials_table.c.person_id)).scalars())
    return str(person)


def test_show_sees_a_suspension_at_once(world: World) -> None:
    credentials = world.credentials()
    person = _person(world)
    with transaction(world.services.issuer.engine, write=True) as conn:
        assert status.suspend_person(world.services.issuer, conn, person) == len(credentials)
    try:
        for item in credentials.values():
            shown = world.show(item["id"])
            assert shown["verified"] is True
            assert shown["status"] == "suspended", shown
        human = world.xid("wallet", "show", credentials["xid_identity_jwt_vc"]["id"], "--passphrase-stdin")
        assert "status: suspended" in human.stdout
    finally:
        with transaction(world.services.issuer.engine, write=True) as conn:
            status.reinstate_person(world.services.issuer, conn, person)
    assert {world.show(item["id"])["status"] for item in credentials.values()} == {"valid"}


def test_show_says_unknown_when_the_status_cannot_be_fetched(world: World, tmp_path: Path) -> None:
    item = world.credentials()["xid_identity_sd_jwt"]
    with serve(_not_found) as elsewhere:  # the same wallet, but the issuer's status lists answer 404
        from wallet.http import WalletHttp
        from wallet.keystore import Keystore
        from wallet.store import CredentialStore, fetch_status, inspect_credential

        keystore = Keystore.open(world.home / "wallet", PASSPHRASE)
        redirected = _Redirected(elsewhere)
        try:
            view = inspect_credential(CredentialStore(keystore.vault), item["id"], redirected)  # type: ignore[arg-type]
        finally:
            redirected.client.close()
        assert view.verified is True
        assert view.status == "unknown", view
        assert view.problem is not None
        assert "404" in view.problem
        with pytest.raises(Exception, match="https URL"):
            fetch_status(WalletHttp(), "http://status.example/list")


class _Redirected:
    """A WalletHttp whose client sends the status list requests to another server."""

    def __init__(self, elsewhere: str) -> None:
        import httpx

        def rewrite(request: httpx.Request) -> None:
            if "/status" in request.url.path:
                request.url = httpx.URL(elsewhere + request.url.path)

        self.client = httpx.Client(event_hooks={"request": [rewrite]})
        self.timeout = 10.0


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"gone"})


def test_export_writes_the_credential_as_issued_once(world: World, tmp_path: Path) -> None:
    item = world.credentials()["xid_identity_sd_jwt"]
    out = tmp_path / "credential.txt"
    result = world.xid("wallet", "export", item["id"], "--out", str(out), "--passphrase-stdin")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    exported = out.read_text().strip()
    assert exported.count("~") >= 2  # an SD-JWT with its disclosures, as issued
    assert exported.endswith("~")
    from wallet.keystore import Keystore
    from wallet.store import CredentialStore

    stored = CredentialStore(Keystore.open(world.home / "wallet", PASSPHRASE).vault).credential(item["id"])
    assert exported == stored
    again = world.xid("wallet", "export", item["id"], "--out", str(out), "--passphrase-stdin")
    assert again.exit_code == 1
    assert "error [walletExists]" in again.stderr
    assert out.read_text().strip() == exported
    ldp = world.credentials()["xid_identity_ldp_vc"]
    out_json = tmp_path / "credential.json"
    assert world.xid("wallet", "export", ldp["id"], "--out", str(out_json), "--passphrase-stdin").exit_code == 0
    assert json.loads(out_json.read_text())["proof"]


def test_unknown_ids_are_refused(world: World, tmp_path: Path) -> None:
    for args in (
        ("show", "credential-0000"),
        ("delete", "--yes", "holder-key"),
        ("export", "../x", "--out", str(tmp_path / "o")),
    ):
        result = world.xid("wallet", *args, "--passphrase-stdin")
        assert result.exit_code == 1, result.output
        assert "error [noSuchCredential]" in result.stderr, result.stderr
    assert not (tmp_path / "o").exists()
    assert (world.home / "wallet" / "records" / "holder-key.json").is_file()


def test_zz_delete_asks_first(world: World) -> None:
    item = world.credentials()["xid_identity_jwt_vc"]
    declined = world.xid("wallet", "delete", item["id"], "--passphrase-stdin", stdin=f"{PASSPHRASE}\nn\n")
    assert declined.exit_code == 1
    assert "error [consentDeclined]" in declined.stderr
    assert item["id"] in [i["id"] for i in world.credentials().values()]
    agreed = world.xid("wallet", "delete", item["id"], "--passphrase-stdin", "--json", stdin=f"{PASSPHRASE}\ny\n")
    assert agreed.exit_code == 0, agreed.output
    assert json.loads(agreed.stdout) == {"deleted": item["id"]}
    assert "xid_identity_jwt_vc" not in world.credentials()
    assert not (world.home / "wallet" / "records" / f"{item['id']}.json").exists()
    gone = world.xid("wallet", "show", item["id"], "--passphrase-stdin")
    assert "error [noSuchCredential]" in gone.stderr


def test_show_an_expired_credential(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    from wallet.keystore import Keystore
    from wallet.store import CredentialStore, inspect_credential

    item = world.credentials()["xid_identity_sd_jwt"]
    store = CredentialStore(Keystore.open(world.home / "wallet", PASSPHRASE).vault)
    later = datetime.now(UTC) + timedelta(days=800)
    view = inspect_credential(store, item["id"], now=later)
    assert view.verified is False
    assert view.status == "expired"
    assert view.claims == {}
    assert view.problem is not None
    assert "山田" not in view.problem  # no personal data in the reason
    assert inspect_credential(store, item["id"]).status == "valid"
