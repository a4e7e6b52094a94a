"""``xid wallet consents`` end to end: xid serve on a real uvicorn, a wallet enrolled with the emulated card proving
its key through the real verifier, the account API of oidc.consent_routes, the consents in the ledger.

WAITS FOR WIRING: until the lead mounts the facade in ``xid serve`` (oidc/app.py), this test adds two things to the
served app itself, marked STAND-IN below: the login part's account-session endpoints (``POST /oidc/session``,
``GET /oidc/session/{id}``, their contract as agreed: ``session_id``, ``request_url``, ``verification_code``,
``expires_in``, then ``status`` and ``token``) over a real verifier transaction, and the account routes with a
session reader for their tokens. Once wired, delete the STAND-IN block and keep the rest: the wallet, the verifier,
the account API and the ledger are already the real ones.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from foundation.web import bearer_token
from ledger.records import commitment
from oidc.consent import Consents
from oidc.consent_routes import routes as account_routes
from oidc.context import OidcContext
from oidc.db import create_schema
from tests.helpers import PERSONS, serve_system
from verifier import rps, transactions
from verifier.transactions import RequestSpec
from xid.cli import main
from xid.serve import Services

PASSPHRASE = "correct horse battery staple"
PERSON = "person-handle-of-the-enrolled-wallet"


@dataclass
class StandInSessions:
    """STAND-IN for the login part's account sessions: a verifier transaction asking for the identity credential
    with no claim; once verified, a bearer token for the (single) test person."""

    services: Services
    account_rp: rps.RelyingParty
    pending: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    disclosed: list[dict[str, Any]] = field(default_factory=list)

    def start(self, request: Request) -> Response:
        query = {
            "id": "identity",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [self.services.verifier.url("/vct/identity")]},
            "require_cryptographic_holder_binding": True,
        }
        created = transactions.create(
            self.services.verifier, self.account_rp, RequestSpec(dcql_query={"credentials": [query]})
        )
        session_id = secrets.token_urlsafe(16)
        self.pending[session_id] = created.id
        return JSONResponse(
            {
                "session_id": session_id,
                "request_url": created.request_url,
                "verification_code": created.verification_code,
                "expires_in": 120,
            }
        )

    def poll(self, request: Request) -> Response:
        transaction_id = self.pending.get(request.path_params["id"])
        if transaction_id is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        report = transactions.status(self.services.verifier, self.account_rp, transaction_id)
        if report["status"] != "verified":
            return JSONResponse({"status": report["status"]})
        self.disclosed.extend(c["claims"] for c in report["result"]["credentials"])
        token = secrets.token_urlsafe(32)
        self.tokens[token] = PERSON
        return JSONResponse({"status": "verified", "token": token})

    def person(self, request: Request) -> str | None:
        token = bearer_token(request)
        return self.tokens.get(token) if token else None

    def start_session(self, return_to: str) -> str:
        return self.services.verifier.url("/oidc/session")


@dataclass
class World:
    url: str
    home: Path
    services: Services
    consents: Consents
    sessions: StandInSessions
    shop: rps.RelyingParty
    bank: rps.RelyingParty

    def xid(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), input=PASSPHRASE + "\n", env={"XID_HOME": str(self.home)})

    def consents_cli(self, *args: str) -> Result:
        return self.xid("wallet", "consents", *args, "--op", self.url, "--passphrase-stdin")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    with serve_system(home) as (url, services, app):
        runner, env = CliRunner(), {"XID_HOME": str(home)}
        assert (
            runner.invoke(main, ["card", "emulate", "--person", str(PERSONS / "yamada.toml")], env=env).exit_code == 0
        )
        assert (
            runner.invoke(main, ["wallet", "init", "--passphrase-stdin"], input=PASSPHRASE + "\n", env=env).exit_code
            == 0
        )
        enrolled = runner.invoke(
            main, ["wallet", "enroll", "--issuer", url, "--emulated", "--passphrase-stdin", "--pin-stdin"],
            input=f"{PASSPHRASE}\nTEST1234\n", env=env,
        )  # fmt: skip
        assert enrolled.exit_code == 0, enrolled.output
        engine = services.verifier.engine
        create_schema(engine)
        ctx = OidcContext(
            base_url=url,
            engine=engine,
            verifier=services.verifier,
            subjects=services_subjects(),
            identity_vct=services.verifier.url("/vct/identity"),
            keys_dir=tmp_path / "oidc-keys",
            ledger_key=services.verifier.ledger_key,
            ledger=services.ledger,
        )
        consents = Consents(ctx)
        account_rp, _ = rps.register(engine, "xid account", sector="account.example")
        sessions = StandInSessions(services, account_rp)
        # STAND-IN: the facade's routes, placed in front of xid serve's own until the lead wires oidc/app.py.
        added = [
            Route("/oidc/session", sessions.start, methods=["POST"]),
            Route("/oidc/session/{id}", sessions.poll, methods=["GET"]),
            *account_routes(ctx, consents, sessions, csrf_key=b"k" * 32),
        ]
        assert isinstance(app, Starlette)
        app.router.routes[0:0] = added
        shop, _ = rps.register(engine, "Example Shop", ["https://shop.example.jp/cb"])
        bank, _ = rps.register(engine, "Example Bank", ["https://bank.example.jp/cb"])
        yield World(url, home, services, consents, sessions, shop, bank)


def services_subjects() -> Any:
    """STAND-IN subjects (the provider wires the issuer's): none are needed by the account API itself."""

    class NoSubjects:
        def pairwise(self, holder: str, sector: str) -> str | None:
            raise AssertionError("the account API derives no subject")

    return NoSubjects()


def test_the_wallet_lists_and_revokes_its_consents(world: World) -> None:
    listed = world.consents_cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    assert "no claim is disclosed" in listed.stderr
    # The account session's presentation disclosed nothing but what the credential always shows.
    assert world.sessions.disclosed
    for claims in world.sessions.disclosed:
        assert not {"name", "address", "birthdate", "sex", "jpki_date_of_birth"} & set(claims)

    shop = world.consents.grant_consent(PERSON, world.shop.client_id, ["name", "address"], [world.bank.client_id])
    bank = world.consents.grant_consent(PERSON, world.bank.client_id, ["birthdate"], [])
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
    assert [c.id for c in world.consents.list(PERSON)] == [bank.id]

    again = world.consents_cli("revoke", shop.id)
    assert again.exit_code == 1
    error = again.stderr.splitlines()[-1]
    assert error.startswith("error [issuerRefused]: revoking the consent: the provider answered 404 not_found")

    # The grants and the revocation are in xid serve's ledger, hash-only.
    subject = commitment(world.services.verifier.ledger_key, PERSON)
    size = world.services.ledger.store.state().size
    with world.services.ledger.store.transaction() as txn:
        records = [json.loads(entry) for _, entry, _ in txn.entries(0, size)]
    mine = [r for r in records if r.get("subject") == subject]
    assert [r["type"] for r in mine] == ["consent", "consent", "consent-revocation"]
    assert {r["rp"] for r in mine} == {"https://shop.example.jp", "https://bank.example.jp"}
    assert "name" not in json.dumps(mine)
