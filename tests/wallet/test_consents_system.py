"""``xid wallet consents`` end to end: xid serve on a real uvicorn with its OpenID Connect facade, a wallet enrolled
with the emulated card that opens an account session by proving its key (``POST /oidc/session``, no claim
disclosed), the account API, and the consents' hash-only records in xid serve's ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from ledger.records import commitment
from oidc.consent import Consents
from oidc.contracts import CONSENT_SECTOR
from tests.helpers import enroll_wallet, serve_system
from verifier import rps
from wallet.keystore import Keystore
from xid.cli import main
from xid.serve import Services

PASSPHRASE = "correct horse battery staple"


@dataclass
class World:
    url: str
    home: Path
    services: Services
    consents: Consents
    person: str
    """The enrolled person's handle at the facade (the issuer's pairwise subject for the consent sector)."""
    shop: rps.RelyingParty
    bank: rps.RelyingParty

    def xid(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), input=PASSPHRASE + "\n", env={"XID_HOME": str(self.home)})

    def consents_cli(self, *args: str) -> Result:
        return self.xid("wallet", "consents", *args, "--op", self.url, "--passphrase-stdin")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    with serve_system(home) as (url, services, _):
        enroll_wallet(home, url, PASSPHRASE)
        assert services.oidc is not None
        holder = Keystore.open(home / "wallet", PASSPHRASE).holder().public_key.thumbprint()
        person = services.oidc.ctx.subjects.pairwise(holder, CONSENT_SECTOR)
        assert person is not None
        engine = services.verifier.engine
        shop, _ = rps.register(engine, "Example Shop", ["https://shop.example.jp/cb"])
        bank, _ = rps.register(engine, "Example Bank", ["https://bank.example.jp/cb"])
        yield World(url, home, services, services.oidc.consents, person, shop, bank)


def test_the_wallet_lists_and_revokes_its_consents(world: World) -> None:
    listed = world.consents_cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    assert "no claim is disclosed" in listed.stderr

    shop = world.consents.grant_consent(world.person, world.shop.client_id, ["name", "address"], [world.bank.client_id])
    bank = world.consents.grant_consent(world.person, world.bank.client_id, ["birthdate"], [])
    listed = world.consents_cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    by_id = {c["id"]: c for c in json.loads(listed.stdout)}
    assert set(by_id) == {shop.id, bank.id}
    assert by_id[shop.id]["client_name"] == "Example Shop"
    assert by_id[shop.id]["claims"] == ["address", "name"]
    assert by_id[shop.id]["linkage_names"] == ["Example Bank"]

    text = world.consents_cli()  # list is the default
    assert text.exit_code == 0, text.output
    assert "Example Shop: address, name; linked with Example Bank; since" in text.stdout
    assert f"(id {bank.id})" in text.stdout

    revoked = world.consents_cli("revoke", shop.id, "--json")
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["id"] == shop.id
    assert [c.id for c in world.consents.list(world.person)] == [bank.id]

    again = world.consents_cli("revoke", shop.id)
    assert again.exit_code == 1
    error = again.stderr.splitlines()[-1]
    assert error.startswith("error [issuerRefused]: revoking the consent: the provider answered 404 not_found")

    # The grants and the revocation are in xid serve's ledger, hash-only.
    subject = commitment(world.services.verifier.ledger_key, world.person)
    size = world.services.ledger.store.state().size
    with world.services.ledger.store.transaction() as txn:
        records = [json.loads(entry) for _, entry, _ in txn.entries(0, size)]
    mine = [r for r in records if r.get("subject") == subject]
    assert [r["type"] for r in mine] == ["consent", "consent", "consent-revocation"]
    assert {r["rp"] for r in mine} == {"https://shop.example.jp", "https://bank.example.jp"}
    assert "name" not in json.dumps(mine)


def test_the_account_page_sends_a_browser_without_a_session_to_the_login(world: World) -> None:
    page = httpx.get(f"{world.url}/oidc/account", follow_redirects=False, timeout=30)
    assert page.status_code == 303
    login = page.headers["location"]
    assert login.startswith(f"{world.url}/oidc/login/")
    shown = httpx.get(login, timeout=30)
    assert shown.status_code == 200
    assert "openid4vp://" in shown.text  # the served login page, with no website: an account sign-in
    api = httpx.get(f"{world.url}/oidc/account/consents", timeout=30)
    assert api.status_code == 401
    assert api.headers["www-authenticate"].startswith("Bearer")
