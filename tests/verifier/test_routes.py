"""The RP API and the wallet-facing endpoints over HTTP, with a fake response validator, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from did import KeyType, SoftwareSigner
from did.signer import verify_with_jwk
from foundation.db import sqlite_engine, transaction
from foundation.jws import parse_compact
from ledger.log import Log
from ledger.receipt import Receipt
from ledger.store import Store
from tests.helpers import AsgiClient
from vc.oid4vp import verification_code
from verifier import routes as routes_module
from verifier import rps, transactions
from verifier.context import VerifierContext
from verifier.contracts import PresentedCredential, TransactionFacts, ValidatedResponse
from verifier.errors import VerifierError
from verifier.routes import routes

DCQL = {
    "credentials": [
        {"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["https://x.example/vct"]}, "claims": [
            {"path": ["given_name"]}
        ]}
    ]
}  # fmt: skip
SECRET_CLAIMS = {"given_name": "Taro", "birthdate": "1990-01-01"}


class FakeRejectionError(VerifierError):
    """What the fake validator raises for a vp_token it is told to reject."""

    code = "testFakeRejectionError"
    oauth_error = "invalid_presentation"


class FakeValidator:
    """Accepts any vp_token except "bad"; the digest is the SHA-256 of the vp_token; records what it saw."""

    def __init__(self) -> None:
        self.seen: list[TransactionFacts] = []

    def __call__(self, transaction: TransactionFacts, form: Mapping[str, str]) -> ValidatedResponse:
        self.seen.append(transaction)
        token = form.get("vp_token", "")
        if token == "bad":
            raise FakeRejectionError("the key binding JWT's nonce is wrong")
        return ValidatedResponse(
            credentials=(
                PresentedCredential(
                    query_id="pid",
                    format="dc+sd-jwt",
                    issuer="did:web:issuer.example",
                    claims=SECRET_CLAIMS,
                    status_checked_at=datetime(2026, 1, 1, tzinfo=UTC),
                    holder="did:jwk:holder",
                ),
            ),
            digest=hashlib.sha256(token.encode()).hexdigest(),
        )


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class World:
    """A verifier app with one registered RP (and a second one), a fake validator and a client."""

    def __init__(self, ctx: VerifierContext) -> None:
        self.ctx = ctx
        self.validator = FakeValidator()
        app = Starlette(routes=routes(ctx, self.validator), exception_handlers=dict(routes_module_handlers()))
        self.app = app
        self.client = AsgiClient(app)
        self.rp, secret = rps.register(ctx.engine, "Shop", ["https://shop.example/done", "http://127.0.0.1:9/cb"])
        self.auth = basic(self.rp.client_id, secret)
        self.other, other_secret = rps.register(ctx.engine, "Other", ["https://other.example/cb"])
        self.other_auth = basic(self.other.client_id, other_secret)

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/verifier/v1/requests", json=body or {"dcql_query": DCQL}, headers=self.auth)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def answer(self, transaction_id: str, vp_token: str = "good-token", **extra: str) -> httpx.Response:
        return self.client.post(f"/verifier/v1/response/{transaction_id}", data={"vp_token": vp_token, **extra})

    def status(self, transaction_id: str, auth: dict[str, str] | None = None) -> httpx.Response:
        return self.client.get(f"/verifier/v1/requests/{transaction_id}", headers=auth or self.auth)

    def counts(self) -> tuple[int, int, str]:
        with transaction(self.ctx.engine) as conn:
            replayed = conn.execute(select(func.count()).select_from(transactions.replay)).scalar_one()
            stored = conn.execute(select(func.count()).select_from(transactions.results)).scalar_one()
            states = conn.execute(select(transactions.transactions.c.status)).scalars().all()
        return replayed, stored, ",".join(sorted(states))


def routes_module_handlers() -> Mapping[Any, Any]:
    from foundation.web import EXCEPTION_HANDLERS

    return EXCEPTION_HANDLERS


@pytest.fixture
def world(verifier_context: VerifierContext) -> World:
    return World(verifier_context)


# -- relying-party authentication ---------------------------------------------------------------------------------


def test_requests_need_the_rps_basic_credentials(world: World) -> None:
    url = "/verifier/v1/requests"
    missing = world.client.post(url, json={"dcql_query": DCQL})
    wrong = world.client.post(url, json={"dcql_query": DCQL}, headers=basic(world.rp.client_id, "wrong"))
    unknown = world.client.post(url, json={"dcql_query": DCQL}, headers=basic("nobody", "x"))
    garbage = world.client.post(url, json={"dcql_query": DCQL}, headers={"Authorization": "Basic !!!"})
    for response in (missing, wrong, unknown, garbage):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")
    assert world.counts() == (0, 0, "")


def test_another_rps_transaction_is_not_found(world: World) -> None:
    created = world.create()
    assert world.status(created["id"], world.other_auth).status_code == 404
    assert world.status(created["id"]).json() == {"status": "pending"}


# -- creating requests --------------------------------------------------------------------------------------------


def test_a_signed_request_by_reference(world: World) -> None:
    created = world.create(dcql_query=DCQL)
    ctx = world.ctx
    assert set(created) == {"id", "client_id", "request_url", "qr_svg", "verification_code", "expires_at"}
    url = urlsplit(created["request_url"])
    assert url.scheme == "openid4vp"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == {
        "client_id": "x509_san_dns:127.0.0.1",
        "request_uri": f"http://127.0.0.1:8000/verifier/v1/request/{created['id']}",
        "request_uri_method": "post",
    }
    qr = world.client.get(urlsplit(created["qr_svg"]).path)
    assert qr.status_code == 200
    assert qr.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in qr.content
    jar = world.client.get(f"/verifier/v1/request/{created['id']}")
    assert jar.headers["content-type"] == "application/oauth-authz-req+jwt"
    parts = parse_compact(jar.text)
    verify_with_jwk(ctx.signer.public_jwk, parts.signature, parts.signing_input, "ES256")
    payload = json.loads(parts.payload)
    assert created["verification_code"] == verification_code(payload["client_id"], payload["nonce"])
    assert payload["dcql_query"] == DCQL
    assert payload["response_mode"] == "direct_post.jwt"


def test_bad_requests_are_refused_and_store_nothing(world: World) -> None:
    url = "/verifier/v1/requests"
    bad_dcql = {"dcql_query": {"credentials": [{"id": "x y", "format": "dc+sd-jwt", "meta": {}}]}}
    cases = [
        (bad_dcql, "dcql_query"),
        ({"dcql_query": {"credentials": []}}, "credentials"),
        ({"preset": "everything"}, "preset"),
        ({}, "exactly one"),
        ({"dcql_query": DCQL, "preset": "identity"}, "exactly one"),
        ({"preset": "identity", "redirect_uri": "https://evil.example/cb"}, "redirect_uri"),
        ({"preset": "identity", "response_mode": "fragment"}, "response_mode"),
        ({"preset": "identity", "client_id_prefix": "x509_hash"}, "client_id_prefix"),
        ({"preset": "identity", "surprise": 1}, "surprise"),
    ]
    for body, named in cases:
        response = world.client.post(url, json=body, headers=world.auth)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == "invalid_request"
        assert named in response.json()["error_description"], response.json()
    not_json = world.client.post(url, content=b"{", headers={**world.auth, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    huge = world.client.post(url, json={"preset": "x" * 300_000}, headers=world.auth)
    assert huge.status_code == 413
    assert world.counts() == (0, 0, "")


def test_presets_ask_for_the_identity_credential(world: World) -> None:
    created = world.create(preset="age_over_20", client_id_prefix="decentralized_identifier")
    payload = json.loads(parse_compact(world.client.get(f"/verifier/v1/request/{created['id']}").text).payload)
    query = payload["dcql_query"]["credentials"][0]
    assert query["format"] == "dc+sd-jwt"
    assert query["meta"] == {"vct_values": ["http://127.0.0.1:8000/vct/identity"]}
    assert query["claims"] == [{"path": ["age_over_20"]}]


# -- the request object -------------------------------------------------------------------------------------------


def test_request_uri_post_echoes_the_wallet_nonce_and_may_be_fetched_twice(world: World) -> None:
    created = world.create()
    url = f"/verifier/v1/request/{created['id']}"
    first = world.client.post(url, data={"wallet_nonce": "n-123", "wallet_metadata": '{"vp_formats_supported":{}}'})
    second = world.client.post(url, data={"wallet_nonce": "n-456"})
    assert first.status_code == second.status_code == 200
    assert json.loads(parse_compact(first.text).payload)["wallet_nonce"] == "n-123"
    assert json.loads(parse_compact(second.text).payload)["wallet_nonce"] == "n-456"
    assert "wallet_nonce" not in json.loads(parse_compact(world.client.get(url).text).payload)
    bad_metadata = world.client.post(url, data={"wallet_metadata": "[1]"})
    assert bad_metadata.status_code == 400
    not_json = world.client.post(url, data={"wallet_metadata": "{"})
    assert not_json.status_code == 400


def test_request_uri_unknown_expired_or_answered(world: World) -> None:
    assert world.client.get("/verifier/v1/request/nope").status_code == 404
    created = world.create()
    assert world.answer(created["id"]).status_code == 200
    answered = world.client.get(f"/verifier/v1/request/{created['id']}")
    assert answered.status_code == 400
    assert answered.json()["error"] == "invalid_request"
    later = world.create()
    world.ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=6)
    expired = world.client.get(f"/verifier/v1/request/{later['id']}")
    assert expired.status_code == 400
    assert "expired" in expired.json()["error_description"]


# -- the response endpoint ----------------------------------------------------------------------------------------


def test_a_verified_response_is_stored_once_and_deleted_after_retrieval(world: World) -> None:
    created = world.create()
    answered = world.answer(created["id"])
    assert answered.status_code == 200
    assert answered.json() == {}
    facts = world.validator.seen[-1]
    assert facts.id == created["id"]
    assert facts.client_id == "x509_san_dns:127.0.0.1"
    assert facts.encryption_jwk is not None
    assert facts.encryption_jwk["kty"] == "EC"
    assert "d" in facts.encryption_jwk
    report = world.status(created["id"]).json()
    assert report["status"] == "verified"
    assert report["result"]["credentials"] == [
        {
            "query_id": "pid",
            "format": "dc+sd-jwt",
            "issuer": "did:web:issuer.example",
            "claims": SECRET_CLAIMS,
            "status_checked_at": "2026-01-01T00:00:00Z",
        }
    ]
    assert report["result"]["ledger_receipt"] == "unavailable"  # this verifier has no ledger
    assert world.status(created["id"]).json() == {"status": "verified"}
    assert world.counts() == (1, 0, "verified")


def test_a_validator_error_rejects_the_transaction(world: World) -> None:
    created = world.create()
    refused = world.answer(created["id"], "bad")
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_presentation",
        "error_description": "the key binding JWT's nonce is wrong",
    }
    report = world.status(created["id"]).json()
    assert report == {
        "status": "rejected",
        "error": "invalid_presentation",
        "error_description": "the key binding JWT's nonce is wrong",
    }
    assert world.answer(created["id"]).status_code == 400  # closed
    assert world.counts() == (0, 0, "rejected")


def test_a_replayed_presentation_is_refused(world: World) -> None:
    first, second = world.create(), world.create()
    assert world.answer(first["id"], "same-token").status_code == 200
    replayed = world.answer(second["id"], "same-token")
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_request"
    assert "replayed" in replayed.json()["error_description"]
    assert world.status(second["id"]).json()["status"] == "rejected"
    assert world.counts() == (1, 1, "rejected,verified")


def test_a_second_answer_is_refused(world: World) -> None:
    created = world.create()
    assert world.answer(created["id"], "one").status_code == 200
    again = world.answer(created["id"], "two")
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"
    assert world.counts() == (1, 1, "verified")


def test_malformed_oversized_unknown_or_expired_responses_store_nothing(world: World) -> None:
    created = world.create()
    url = f"/verifier/v1/response/{created['id']}"
    huge = world.client.post(url, data={"vp_token": "x" * 300_000})
    assert huge.status_code == 413
    as_json = world.client.post(url, json={"vp_token": "x"})
    assert as_json.status_code == 400
    repeated = world.client.post(
        url, content=b"vp_token=a&vp_token=b", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert repeated.status_code == 400
    unknown = world.answer("no-such-transaction")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_request"
    assert world.validator.seen == []
    assert world.counts() == (0, 0, "pending")
    world.ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=6)
    expired = world.answer(created["id"])
    assert expired.status_code == 400
    assert "expired" in expired.json()["error_description"]
    assert world.status(created["id"]).json() == {"status": "expired"}
    assert world.counts() == (0, 0, "pending")


def test_a_wallet_error_response_rejects_only_with_the_right_state(world: World) -> None:
    created = world.create()
    url = f"/verifier/v1/response/{created['id']}"
    wrong_state = world.client.post(url, data={"error": "access_denied", "state": "guess"})
    assert wrong_state.status_code == 400
    assert world.status(created["id"]).json() == {"status": "pending"}
    state = transactions.facts(world.ctx, created["id"]).state
    declined = world.client.post(url, data={"error": "access_denied", "state": state})
    assert declined.status_code == 200
    report = world.status(created["id"]).json()
    assert report["status"] == "rejected"
    assert report["error"] == "access_denied"


def test_same_device_returns_a_response_code_that_works_once(world: World) -> None:
    created = world.create(dcql_query=DCQL, redirect_uri="https://shop.example/done", response_mode="direct_post")
    answered = world.answer(created["id"]).json()
    redirect, _, fragment = answered["redirect_uri"].partition("#")
    assert redirect == "https://shop.example/done"
    code = parse_qs(fragment)["response_code"][0]
    assert world.status(created["id"]).json() == {"status": "verified"}  # only for the response_code
    other = world.client.get("/verifier/v1/results", params={"response_code": code}, headers=world.other_auth)
    assert other.status_code == 404
    first = world.client.get("/verifier/v1/results", params={"response_code": code}, headers=world.auth)
    assert first.status_code == 200, first.text
    assert first.json()["id"] == created["id"]
    assert first.json()["result"]["credentials"][0]["claims"] == SECRET_CLAIMS
    again = world.client.get("/verifier/v1/results", params={"response_code": code}, headers=world.auth)
    assert again.status_code == 404
    assert world.client.get("/verifier/v1/results", headers=world.auth).status_code == 400


def test_the_event_stream_ends_with_the_final_state(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_module, "EVENT_POLL_S", 0.02)
    monkeypatch.setattr(routes_module, "KEEP_ALIVE_S", 0.05)
    created = world.create()

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=world.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:

            async def answer_later() -> None:
                await asyncio.sleep(0.2)
                await client.post(f"/verifier/v1/response/{created['id']}", data={"vp_token": "t"})

            events, _ = await asyncio.gather(
                client.get(f"/verifier/v1/requests/{created['id']}/events", headers=world.auth), answer_later()
            )
            return events

    events = asyncio.run(run())
    assert events.headers["content-type"].startswith("text/event-stream")
    assert events.headers["cache-control"] == "no-store"
    data = [json.loads(line[6:]) for line in events.text.splitlines() if line.startswith("data: ")]
    assert ": keep-alive" in events.text.splitlines()
    assert data == [{"status": "pending"}, {"status": "verified"}]
    assert world.status(created["id"]).json()["result"]["credentials"][0]["claims"] == SECRET_CLAIMS
    other = world.client.get(f"/verifier/v1/requests/{created['id']}/events", headers=world.other_auth)
    assert other.status_code == 404


def test_the_presentation_is_recorded_in_the_ledger_without_personal_data(world: World, tmp_path: Path) -> None:
    with Log(Store(sqlite_engine(tmp_path / "ledger.sqlite3")), SoftwareSigner.generate(KeyType.ED25519),
             origin="test.example/log") as log:  # fmt: skip
        world.ctx.ledger = log
        created = world.create()
        assert world.answer(created["id"], "ledger-token").status_code == 200
        with transaction(world.ctx.engine) as conn:
            index = conn.execute(select(transactions.transactions.c.ledger_index)).scalar_one()
        assert index is not None
        log.wait_included(index)
        receipt = world.status(created["id"]).json()["result"]["ledger_receipt"]
        assert Receipt.parse(receipt).index == index
        with log.store.transaction() as txn:
            entry = txn.entry(index)[0]
    record = json.loads(entry)
    assert record["type"] == "presentation"
    assert record["object"] == hashlib.sha256(b"ledger-token").hexdigest()
    assert record["rp"] == "https://shop.example"
    assert "Taro" not in entry.decode()
    assert "1990-01-01" not in entry.decode()  # "1990" alone may occur in a hex hash


def test_responses_are_rate_limited_per_client(verifier_context: VerifierContext) -> None:
    from dataclasses import replace

    verifier_context.settings = replace(verifier_context.settings, presentation_rate_per_minute=2)
    world = World(verifier_context)
    created = world.create()
    codes = [world.answer(created["id"], f"t{i}").status_code for i in range(3)]
    assert codes == [200, 400, 429]
