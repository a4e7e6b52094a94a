"""OpenID4VCI 1.0 through HTTP on SQLite and PostgreSQL: offers, token (tx_code, lockout), nonces, the credential
endpoint with every refusal it owes (each one leaving the database as it was), notifications and single use across
engines."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette

from did import did_jwk
from did.keys import KeyType, PublicKey
from did.signer import SoftwareSigner
from foundation.db import open_engine, transaction
from foundation.web import EXCEPTION_HANDLERS
from issuer.context import IssuerContext, IssuerSettings
from issuer.contracts import CredentialOffer, GrantRequest
from issuer.errors import IssuerError
from issuer.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    authorize_bearer,
    configuration_problems,
    create_offer_factory,
    grants,
    nonces,
    notifications,
    purge_expired,
    tokens,
)
from issuer.oid4vci_routes import routes
from tests.helpers import AsgiClient
from tests.issuer.oid4vci_fakes import (
    CONFIGURATIONS,
    FakeFacts,
    FakeIssuer,
    did_key_signer,
    make_proof,
    unsigned_jwt,
)
from vc.sd_jwt import verify

SD_JWT = "xid_identity_sd_jwt"
JWT_VC = "xid_identity_jwt_vc"
LDP_VC = "xid_identity_ldp_vc"
HOLDER_JWK = SoftwareSigner.generate(KeyType.P256).public_key.to_jwk()
START = datetime.now(UTC).replace(microsecond=0)


class Clock:
    """A settable clock for the issuer context."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclasses.dataclass
class Vci:
    """One issuer under test: its context, app, client, fakes and clock."""

    ctx: IssuerContext
    client: AsgiClient
    issuer: FakeIssuer
    facts: FakeFacts
    clock: Clock

    def offer(self, configuration_ids: list[str] | None = None) -> CredentialOffer:
        factory = create_offer_factory(self.ctx, configuration_ids or list(CONFIGURATIONS))
        request = GrantRequest("person-1", "evidence-1", HOLDER_JWK, "ab" * 32, START)
        with transaction(self.ctx.engine, write=True) as conn:
            return factory(conn, request)

    def token(self, offer: CredentialOffer, **extra: str) -> httpx.Response:
        code = offer.offer["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"]
        form = {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code}
        if offer.tx_code is not None:
            form["tx_code"] = offer.tx_code
        form.update(extra)
        return self.client.post("/token", data={k: v for k, v in form.items() if v != "<omit>"})

    def access_token(self, configuration_ids: list[str] | None = None) -> str:
        response = self.token(self.offer(configuration_ids))
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        assert isinstance(token, str)
        return token

    def nonce(self) -> str:
        response = self.client.post("/nonce")
        assert response.status_code == 200
        nonce = response.json()["c_nonce"]
        assert isinstance(nonce, str)
        return nonce

    def proof(self, nonce: str | None, signer: SoftwareSigner | None = None, **kwargs: Any) -> str:
        kwargs.setdefault("iat", self.clock.now.timestamp())
        return make_proof(signer or SoftwareSigner.generate(KeyType.P256), aud=self.ctx.base_url, nonce=nonce, **kwargs)

    def credential(self, token: str | None, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post("/credential", json=body, headers=headers, **kwargs)

    def counts(self) -> dict[str, int]:
        with transaction(self.ctx.engine) as conn:
            return {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (grants, tokens, nonces, notifications)
            }

    def grant_state(self) -> list[tuple[str, int]]:
        with transaction(self.ctx.engine) as conn:
            rows = conn.execute(select(grants.c.state, grants.c.tx_attempts).order_by(grants.c.id))
            return [(state, attempts) for state, attempts in rows]


def make_app(ctx: IssuerContext, issuer: FakeIssuer, facts: FakeFacts) -> Starlette:
    """A Starlette app with the OpenID4VCI routes and the issuer's exception handlers."""
    return Starlette(
        routes=routes(ctx, configurations=CONFIGURATIONS, issue=issuer, facts=facts),
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )


def build(ctx: IssuerContext, clock: Clock) -> Vci:
    """A Vci around a context."""
    issuer, facts = FakeIssuer(ctx), FakeFacts()
    return Vci(ctx, AsgiClient(make_app(ctx, issuer, facts)), issuer, facts, clock)


@pytest.fixture
def vci(issuer_context: IssuerContext) -> Vci:
    clock = Clock()
    return build(dataclasses.replace(issuer_context, clock=clock), clock)


@pytest.fixture
def make_vci(issuer_context: IssuerContext) -> Callable[..., Vci]:
    def make(**settings: Any) -> Vci:
        clock = Clock()
        ctx = dataclasses.replace(issuer_context, clock=clock, settings=IssuerSettings(**settings))
        return build(ctx, clock)

    return make


def assert_error(response: httpx.Response, status: int, error: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert body["error_description"].isascii()
    assert fragment.lower() in body["error_description"].lower(), body
    assert response.headers["cache-control"] == "no-store"


# -- metadata -----------------------------------------------------------------------------------------------------


def test_sample_configurations_have_the_1_0_members() -> None:
    for configuration_id, configuration in CONFIGURATIONS.items():
        assert configuration_problems(configuration_id, configuration) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"format": "vc+sd-jwt"}, "not a 1.0 format"),
        ({"vct": None}, "needs a vct"),
        ({"credential_metadata": None}, "credential_metadata"),
        ({"display": [{"name": "x"}]}, "pre-1.0 member"),
        ({"proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["HS256"]}}}, "proof algorithms"),
        ({"proof_types_supported": None}, "proof_signing_alg_values_supported is required"),
        ({"credential_metadata": {"display": [], "claims": []}}, "display must be"),
        ({"credential_metadata": {"display": [{"name": "a"}], "claims": [{"path": []}]}}, "path"),
    ],
)
def test_configuration_check_finds_pre_1_0_shapes(change: dict[str, Any], problem: str) -> None:
    configuration = {**CONFIGURATIONS[SD_JWT], **change}
    configuration = {k: v for k, v in configuration.items() if v is not None}
    problems = configuration_problems("c", configuration)
    assert any(problem in p for p in problems), problems


def test_jwt_vc_configuration_needs_a_type() -> None:
    configuration = {**CONFIGURATIONS[JWT_VC], "credential_definition": {"type": []}}
    assert any("credential_definition.type" in p for p in configuration_problems("c", configuration))
    ldp = {**CONFIGURATIONS[LDP_VC], "credential_definition": {"type": ["VerifiableCredential"]}}
    assert any("@context" in p for p in configuration_problems("c", ldp))


def test_issuer_metadata(vci: Vci) -> None:
    response = vci.client.get("/.well-known/openid-credential-issuer")
    assert response.status_code == 200
    meta = response.json()
    base = vci.ctx.base_url
    assert meta["credential_issuer"] == base
    assert meta["credential_endpoint"] == base + "/credential"
    assert meta["nonce_endpoint"] == base + "/nonce"
    assert meta["notification_endpoint"] == base + "/notification"
    assert meta["batch_credential_issuance"] == {"batch_size": vci.ctx.settings.batch_size}
    assert {d["locale"] for d in meta["display"]} == {"ja-JP", "en-US"}
    assert meta["credential_configurations_supported"] == CONFIGURATIONS
    for configuration_id, configuration in meta["credential_configurations_supported"].items():
        assert configuration_problems(configuration_id, configuration) == []


def test_authorization_server_metadata(vci: Vci) -> None:
    meta = vci.client.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == vci.ctx.base_url
    assert meta["token_endpoint"] == vci.ctx.base_url + "/token"
    assert meta["pre-authorized_grant_anonymous_access_supported"] is True
    assert meta["grant_types_supported"] == [PRE_AUTHORIZED_CODE_GRANT]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]


# -- offers -------------------------------------------------------------------------------------------------------


def test_offer_by_value_and_by_reference(vci: Vci) -> None:
    offer = vci.offer()
    assert offer.offer["credential_issuer"] == vci.ctx.base_url
    assert offer.offer["credential_configuration_ids"] == list(CONFIGURATIONS)
    grant = offer.offer["grants"][PRE_AUTHORIZED_CODE_GRANT]
    assert grant["tx_code"]["input_mode"] == "numeric"
    assert grant["tx_code"]["length"] == 6
    assert offer.tx_code is not None
    assert offer.tx_code.isdigit()
    assert len(offer.tx_code) == 6
    assert offer.expires_at == START + vci.ctx.settings.offer_ttl

    scheme, _, query = offer.by_value.partition("?")
    assert scheme == "openid-credential-offer://"
    assert json.loads(urllib.parse.parse_qs(query)["credential_offer"][0]) == offer.offer

    scheme, _, query = offer.by_reference.partition("?")
    uri = urllib.parse.parse_qs(query)["credential_offer_uri"][0]
    assert uri.startswith(vci.ctx.base_url + "/credential-offer/")
    served = vci.client.get(uri.removeprefix(vci.ctx.base_url))
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == offer.offer


def test_the_database_holds_no_code_in_clear(vci: Vci) -> None:
    offer = vci.offer()
    code = offer.offer["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"]
    ref = offer.by_reference.rpartition("%2F")[2]
    access_token = vci.token(offer).json()["access_token"]
    nonce = vci.nonce()
    with transaction(vci.ctx.engine) as conn:
        dump = repr([list(conn.execute(select(t)).all()) for t in (grants, tokens, nonces)])
    for secret in (code, ref, access_token, nonce):
        assert secret not in dump


def test_offer_reference_unknown_expired_or_redeemed_is_404(vci: Vci) -> None:
    assert_error(vci.client.get("/credential-offer/" + "A" * 43), 404, "not_found")
    assert_error(vci.client.get("/credential-offer/x"), 404, "not_found")
    offer = vci.offer()
    path = urllib.parse.unquote(offer.by_reference.partition("=")[2]).removeprefix(vci.ctx.base_url)
    assert vci.client.get(path).status_code == 200
    assert vci.token(offer).status_code == 200
    assert_error(vci.client.get(path), 404, "not_found")
    expiring = vci.offer()
    path = urllib.parse.unquote(expiring.by_reference.partition("=")[2]).removeprefix(vci.ctx.base_url)
    vci.clock.advance(vci.ctx.settings.offer_ttl)
    assert_error(vci.client.get(path), 404, "not_found")


def test_offer_without_tx_code(make_vci: Callable[..., Vci]) -> None:
    vci = make_vci(tx_code=False)
    offer = vci.offer([SD_JWT])
    assert offer.tx_code is None
    assert "tx_code" not in offer.offer["grants"][PRE_AUTHORIZED_CODE_GRANT]
    before = vci.grant_state()
    assert_error(vci.token(offer, tx_code="123456"), 400, "invalid_request", "does not require")
    assert vci.grant_state() == before
    assert vci.token(offer).status_code == 200


# -- the happy path -----------------------------------------------------------------------------------------------


def test_pre_authorized_flow_issues_a_batch_bound_to_the_proof_keys(vci: Vci) -> None:
    offer = vci.offer()
    response = vci.token(offer, user_pin="000000", resource=vci.ctx.base_url)  # unknown parameters are ignored
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    assert set(answer) == {"access_token", "token_type", "expires_in"}  # no c_nonce in 1.0
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == int(vci.ctx.settings.access_token_ttl.total_seconds())

    nonce_response = vci.client.post("/nonce")
    assert nonce_response.headers["cache-control"] == "no-store"
    nonce = nonce_response.json()["c_nonce"]
    jwk_key, did_key_holder, ed_key = (
        SoftwareSigner.generate(KeyType.P256),
        did_key_signer(KeyType.P256),
        SoftwareSigner.generate(KeyType.ED25519),
    )
    p384_key = SoftwareSigner.generate(KeyType.P384)
    proofs = [
        vci.proof(nonce, jwk_key),
        vci.proof(nonce, did_key_holder, key="kid"),
        vci.proof(nonce, ed_key, header={"alg": "Ed25519"}),
        vci.proof(nonce, p384_key, key="kid", header={"kid": did_jwk.create(p384_key.public_key) + "#0"}),
    ]
    response = vci.credential(
        answer["access_token"], {"credential_configuration_id": SD_JWT, "proofs": {"jwt": proofs}}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"credentials", "notification_id"}
    assert len(body["credentials"]) == 4
    expected = [k.public_key.to_jwk() for k in (jwk_key, did_key_holder, ed_key, p384_key)]
    assert [jwk for _, jwk in vci.issuer.calls] == expected
    for item, holder in zip(body["credentials"], expected, strict=True):
        assert set(item) == {"credential"}
        result = verify(
            item["credential"],
            lambda header, payload: PublicKey.from_jwk(vci.ctx.es256.public_jwk),
            audience=None,
            nonce=None,
            require_key_binding=False,
        )
        assert result.claims["cnf"] == {"jwk": holder}
        assert result.claims["given_name"] == "太郎"
    assert vci.facts.asked == ["evidence-1"]

    # the nonce was consumed; other formats with the same token and a fresh nonce
    assert_error(
        vci.credential(
            answer["access_token"], {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}}
        ),
        400,
        "invalid_nonce",
    )
    for configuration_id in (JWT_VC, LDP_VC):
        response = vci.credential(
            answer["access_token"],
            {"credential_configuration_id": configuration_id, "proofs": {"jwt": [vci.proof(vci.nonce())]}},
        )
        assert response.status_code == 200, response.text
    credential = response.json()["credentials"][0]["credential"]
    assert isinstance(credential, dict)
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    # notification
    notified = vci.client.post(
        "/notification",
        json={"notification_id": body["notification_id"], "event": "credential_accepted"},
        headers={"Authorization": f"Bearer {answer['access_token']}"},
    )
    assert notified.status_code == 204
    with transaction(vci.ctx.engine) as conn:
        events = (
            conn.execute(
                select(notifications.c.event).where(notifications.c.notification_id == body["notification_id"])
            )
            .scalars()
            .all()
        )
    assert events == ["credential_accepted"]

    authorized = authorize_bearer(vci.ctx)(answer["access_token"])
    assert authorized is not None
    assert (authorized.person_id, authorized.evidence_id, authorized.holder_jwk) == (
        "person-1",
        "evidence-1",
        HOLDER_JWK,
    )
    assert authorize_bearer(vci.ctx)("nope") is None


def test_authorization_details_grant_credential_identifiers(vci: Vci) -> None:
    offer = vci.offer([SD_JWT, JWT_VC])
    details = json.dumps([{"type": "openid_credential", "credential_configuration_id": JWT_VC}])
    answer = vci.token(offer, authorization_details=details).json()
    assert answer["authorization_details"] == [
        {"type": "openid_credential", "credential_configuration_id": JWT_VC, "credential_identifiers": [JWT_VC]}
    ]
    token = answer["access_token"]
    nonce = vci.nonce()
    before = vci.counts()
    assert_error(
        vci.credential(token, {"credential_configuration_id": JWT_VC, "proofs": {"jwt": [vci.proof(nonce)]}}),
        400,
        "invalid_credential_request",
        "credential_identifier",
    )
    assert_error(
        vci.credential(token, {"credential_identifier": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}}),
        400,
        "unknown_credential_identifier",
    )
    assert vci.counts() == before
    ok = vci.credential(token, {"credential_identifier": JWT_VC, "proofs": {"jwt": [vci.proof(nonce)]}})
    assert ok.status_code == 200, ok.text
    assert vci.issuer.calls[-1][0] == JWT_VC


@pytest.mark.parametrize(
    "details",
    ["not json", "[]", '[{"type": "other"}]', '[{"type": "openid_credential", "credential_configuration_id": "zzz"}]'],
)
def test_bad_authorization_details_change_nothing(vci: Vci, details: str) -> None:
    offer = vci.offer([SD_JWT])
    before = vci.counts(), vci.grant_state()
    assert_error(vci.token(offer, authorization_details=details), 400, "invalid_authorization_details")
    assert (vci.counts(), vci.grant_state()) == before
    assert vci.token(offer).status_code == 200


# -- token endpoint refusals --------------------------------------------------------------------------------------


def test_wrong_tx_code_counts_and_locks_the_code(vci: Vci) -> None:
    offer = vci.offer()
    assert offer.tx_code is not None
    wrong = str((int(offer.tx_code) + 1) % 1_000_000).zfill(6)
    assert_error(vci.token(offer, tx_code="<omit>"), 400, "invalid_request", "requires a tx_code")
    assert vci.grant_state() == [("offered", 0)]
    assert_error(vci.token(offer, tx_code=wrong), 400, "invalid_grant", "2 attempts left")
    assert vci.grant_state() == [("offered", 1)]
    assert_error(vci.token(offer, tx_code=wrong), 400, "invalid_grant", "1 attempts left")
    assert_error(vci.token(offer, tx_code=wrong), 400, "invalid_grant", "invalidated")
    assert vci.grant_state() == [("locked", 3)]
    assert_error(vci.token(offer), 400, "invalid_grant")  # the right code no longer helps
    assert vci.counts()["issuer_oid4vci_tokens"] == 0


def test_right_tx_code_after_a_wrong_one(vci: Vci) -> None:
    offer = vci.offer()
    assert_error(vci.token(offer, tx_code="abc"), 400, "invalid_grant")
    assert vci.token(offer).status_code == 200
    assert vci.grant_state() == [("redeemed", 1)]


def test_pre_authorized_code_is_single_use(vci: Vci) -> None:
    offer = vci.offer()
    assert vci.token(offer).status_code == 200
    before = vci.counts(), vci.grant_state()
    assert_error(vci.token(offer), 400, "invalid_grant", "already used")
    assert (vci.counts(), vci.grant_state()) == before


def test_expired_pre_authorized_code(vci: Vci) -> None:
    offer = vci.offer()
    vci.clock.advance(vci.ctx.settings.offer_ttl)
    before = vci.counts(), vci.grant_state()
    assert_error(vci.token(offer), 400, "invalid_grant", "expired")
    assert (vci.counts(), vci.grant_state()) == before


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password", "username": "a"}, 400, "unsupported_grant_type"),
        ({"pre-authorized_code": "x"}, 400, "invalid_request"),
        ({"grant_type": PRE_AUTHORIZED_CODE_GRANT}, 400, "invalid_request"),
        (
            {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": "unknown", "tx_code": "1"},
            400,
            "invalid_grant",
        ),
    ],
)
def test_token_request_refusals(vci: Vci, form: dict[str, str], status: int, error: str) -> None:
    vci.offer()
    before = vci.counts(), vci.grant_state()
    assert_error(vci.client.post("/token", data=form), status, error)
    assert (vci.counts(), vci.grant_state()) == before


def test_token_body_limits_and_media_type(vci: Vci) -> None:
    offer = vci.offer()
    code = offer.offer["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"]
    as_json = vci.client.post("/token", json={"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code})
    assert_error(as_json, 400, "invalid_request", "x-www-form-urlencoded")
    big = vci.token(offer, padding="x" * (vci.ctx.settings.max_body_bytes + 1))
    assert_error(big, 413, "invalid_request", "larger")
    assert vci.grant_state() == [("offered", 0)]


def test_token_endpoint_is_rate_limited(make_vci: Callable[..., Vci]) -> None:
    vci = make_vci(token_rate_per_minute=2)
    form = {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": "x"}
    for _ in range(2):
        assert vci.client.post("/token", data=form).status_code == 400
    limited = vci.client.post("/token", data=form)
    assert_error(limited, 429, "temporarily_unavailable")
    assert int(limited.headers["retry-after"]) >= 1


# -- nonces -------------------------------------------------------------------------------------------------------


def test_nonce_replayed_expired_or_from_nowhere(vci: Vci) -> None:
    token = vci.access_token()
    used = vci.nonce()
    assert (
        vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(used)]}}).status_code
        == 200
    )
    expired = vci.nonce()
    vci.clock.advance(vci.ctx.settings.c_nonce_ttl)
    for nonce in (used, expired, "made-up-nonce"):
        before = vci.counts()
        response = vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}})
        assert_error(response, 400, "invalid_nonce")
        assert vci.counts() == before
    assert len(vci.issuer.calls) == 1


def test_nonce_endpoint_sweeps_expired_nonces(vci: Vci) -> None:
    vci.nonce()
    vci.nonce()
    vci.clock.advance(vci.ctx.settings.c_nonce_ttl)
    vci.nonce()
    assert vci.counts()["issuer_oid4vci_nonces"] == 1
    assert_error(vci.client.post("/nonce", content=b"x" * 2000), 413, "invalid_request")


def test_a_refused_batch_leaves_its_nonce_usable(vci: Vci) -> None:
    """Nonces are consumed only when the whole request succeeds (no state change on a refusal)."""
    token = vci.access_token()
    nonce = vci.nonce()
    holder, other = SoftwareSigner.generate(KeyType.P256), SoftwareSigner.generate(KeyType.P256)
    bad_second = [vci.proof(nonce), vci.proof(nonce, holder, sign_with=other)]
    before = vci.counts()
    assert_error(
        vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": bad_second}}),
        400,
        "invalid_proof",
        "proof 1",
    )
    assert vci.counts() == before
    assert vci.issuer.calls == []
    ok = vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}})
    assert ok.status_code == 200


def test_a_stale_nonce_among_live_ones_consumes_none(vci: Vci) -> None:
    token = vci.access_token()
    live = vci.nonce()
    proofs = [vci.proof(live), vci.proof("never-issued")]
    before = vci.counts()
    assert_error(
        vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": proofs}}), 400, "invalid_nonce"
    )
    assert vci.counts() == before
    assert (
        vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(live)]}}).status_code
        == 200
    )


def test_a_failing_facts_reader_denies_and_changes_nothing(vci: Vci) -> None:
    token = vci.access_token()
    nonce = vci.nonce()
    vci.facts.fail = IssuerError("the evidence was purged")
    before = vci.counts()
    response = vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}})
    assert_error(response, 400, "credential_request_denied")
    assert vci.counts() == before
    vci.facts.fail = None
    assert (
        vci.credential(
            token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}}
        ).status_code
        == 200
    )


# -- proofs -------------------------------------------------------------------------------------------------------

OTHER = SoftwareSigner.generate(KeyType.P256)


def _proof_cases() -> list[tuple[str, Callable[[Vci, str], str], str, str]]:
    def signed(**kwargs: Any) -> Callable[[Vci, str], str]:
        return lambda vci, nonce: vci.proof(nonce, **kwargs)

    def none_alg(vci: Vci, nonce: str) -> str:
        jwk = SoftwareSigner.generate(KeyType.P256).public_key.to_jwk()
        header = {"typ": "openid4vci-proof+jwt", "alg": "none", "jwk": jwk}
        return unsigned_jwt(header, {"aud": vci.ctx.base_url, "iat": int(vci.clock.now.timestamp()), "nonce": nonce})

    def hs256(vci: Vci, nonce: str) -> str:
        header = {"typ": "openid4vci-proof+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}
        payload = {"aud": vci.ctx.base_url, "iat": int(vci.clock.now.timestamp()), "nonce": nonce}
        return unsigned_jwt(header, payload, hmac_key=b"secret")

    def private_jwk(vci: Vci, nonce: str) -> str:
        signer = SoftwareSigner.generate(KeyType.P256)
        return vci.proof(nonce, signer, header={"jwk": signer.to_private_jwk()})

    def both_keys(vci: Vci, nonce: str) -> str:
        signer = did_key_signer()
        return vci.proof(nonce, signer, header={"kid": signer.key_id})

    def did_web_kid(vci: Vci, nonce: str) -> str:
        return vci.proof(nonce, key="kid", header={"kid": "did:web:attacker.example#key-1"})

    def stale(vci: Vci, nonce: str) -> str:
        return vci.proof(nonce, iat=(vci.clock.now - vci.ctx.settings.proof_max_age - timedelta(seconds=1)).timestamp())

    def future(vci: Vci, nonce: str) -> str:
        return vci.proof(nonce, iat=(vci.clock.now + vci.ctx.settings.proof_max_age + timedelta(seconds=1)).timestamp())

    def tampered(vci: Vci, nonce: str) -> str:
        head, payload, signature = vci.proof(nonce).split(".")
        return ".".join([head, payload, signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]])

    return [
        ("wrong aud", signed(payload={"aud": "https://other.example"}), "invalid_proof", "aud"),
        ("aud array", lambda vci, n: vci.proof(n, payload={"aud": [vci.ctx.base_url]}), "invalid_proof", "aud"),
        ("wrong typ", signed(header={"typ": "JWT"}), "invalid_proof", "typ"),
        ("no typ", signed(header={"typ": None}), "invalid_proof", "typ"),
        ("other key", signed(sign_with=OTHER), "invalid_proof", "does not verify"),
        ("tampered signature", tampered, "invalid_proof", "does not verify"),
        ("alg none", none_alg, "invalid_proof", "not allowed"),
        ("HS256", hs256, "invalid_proof", "not allowed"),
        ("alg for another key", signed(header={"alg": "ES384"}), "invalid_proof", "does not match"),
        ("x5c", signed(header={"x5c": ["MIIB"]}), "invalid_proof", "x5c"),
        ("jwk and kid", both_keys, "invalid_proof", "exactly one"),
        ("no key", signed(header={"jwk": None}), "invalid_proof", "exactly one"),
        ("private jwk", private_jwk, "invalid_proof", "private"),
        ("did:web kid", did_web_kid, "invalid_proof", "not supported"),
        ("iss present", signed(payload={"iss": "wallet"}), "invalid_proof", "iss"),
        ("stale iat", stale, "invalid_proof", "older"),
        ("future iat", future, "invalid_proof", "future"),
        ("no iat", signed(payload={"iat": None}), "invalid_proof", "iat"),
        ("no nonce", lambda vci, n: vci.proof(None), "invalid_proof", "c_nonce is missing"),
        ("wrong nonce", lambda vci, n: vci.proof(n + "x"), "invalid_nonce", "c_nonce"),
        ("not a JWS", lambda vci, n: "not.a.jws", "invalid_proof", "proof 0"),
        ("not a string", lambda vci, n: {"jwt": "x"}, "invalid_proof", "string"),
    ]


@pytest.mark.parametrize(
    ("name", "build_proof", "error", "fragment"), _proof_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_bad_proof_is_refused_and_changes_nothing(
    vci: Vci, name: str, build_proof: Callable[[Vci, str], str], error: str, fragment: str
) -> None:
    token = vci.access_token()
    nonce = vci.nonce()
    proof = build_proof(vci, nonce)
    before = vci.counts()
    response = vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [proof]}})
    assert_error(response, 400, error, fragment)
    assert vci.counts() == before
    assert vci.issuer.calls == []
    retry = vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}})
    assert retry.status_code == 200, retry.text  # the nonce survived the refusal


def test_batch_limits(make_vci: Callable[..., Vci]) -> None:
    vci = make_vci(batch_size=2)
    token = vci.access_token()
    nonce = vci.nonce()
    same = SoftwareSigner.generate(KeyType.P256)
    before = vci.counts()
    duplicate = {
        "credential_configuration_id": SD_JWT,
        "proofs": {"jwt": [vci.proof(nonce, same), vci.proof(nonce, same)]},
    }
    assert_error(vci.credential(token, duplicate), 400, "invalid_proof", "same key")
    too_many = {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce) for _ in range(3)]}}
    assert_error(vci.credential(token, too_many), 400, "invalid_credential_request", "at most 2")
    assert vci.counts() == before
    two = {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce) for _ in range(2)]}}
    assert len(vci.credential(token, two).json()["credentials"]) == 2


# -- credential request refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        ({"credential_configuration_id": SD_JWT}, "invalid_proof", "proofs member is missing"),
        (
            {"credential_configuration_id": SD_JWT, "proof": {"proof_type": "jwt", "jwt": "<proof>"}},
            "invalid_credential_request",
            "pre-1.0",
        ),
        ({"format": "dc+sd-jwt", "vct": "x", "proofs": {"jwt": ["<proof>"]}}, "invalid_credential_request", "pre-1.0"),
        (
            {"credential_configuration_id": SD_JWT, "credential_identifier": SD_JWT, "proofs": {"jwt": ["<proof>"]}},
            "invalid_credential_request",
            "exactly one",
        ),
        ({"proofs": {"jwt": ["<proof>"]}}, "invalid_credential_request", "exactly one"),
        (
            {"credential_configuration_id": "unknown", "proofs": {"jwt": ["<proof>"]}},
            "unknown_credential_configuration",
            "",
        ),
        (
            {"credential_configuration_id": LDP_VC, "proofs": {"jwt": ["<proof>"]}},
            "unknown_credential_configuration",
            "not offered",
        ),
        ({"credential_configuration_id": 7, "proofs": {"jwt": ["<proof>"]}}, "invalid_credential_request", "string"),
        ({"credential_identifier": "any", "proofs": {"jwt": ["<proof>"]}}, "unknown_credential_identifier", ""),
        ({"credential_configuration_id": SD_JWT, "proofs": {"jwt": []}}, "invalid_credential_request", "non-empty"),
        ({"credential_configuration_id": SD_JWT, "proofs": {"jwt": "<proof>"}}, "invalid_credential_request", "array"),
        (
            {"credential_configuration_id": SD_JWT, "proofs": {"jwt": ["<proof>"], "di_vp": []}},
            "invalid_credential_request",
            "exactly one proof type",
        ),
        ({"credential_configuration_id": SD_JWT, "proofs": {"attestation": ["x"]}}, "invalid_proof", "not supported"),
        ({"credential_configuration_id": SD_JWT, "proofs": []}, "invalid_credential_request", "object"),
        (
            {
                "credential_configuration_id": SD_JWT,
                "proofs": {"jwt": ["<proof>"]},
                "credential_response_encryption": {},
            },
            "invalid_encryption_parameters",
            "not supported",
        ),
    ],
)
def test_bad_credential_request_changes_nothing(vci: Vci, body: dict[str, Any], error: str, fragment: str) -> None:
    token = vci.access_token([SD_JWT, JWT_VC])
    nonce = vci.nonce()
    proof = vci.proof(nonce)
    text = json.dumps(body).replace('"<proof>"', json.dumps(proof))
    before = vci.counts()
    response = vci.client.post(
        "/credential", content=text, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    assert_error(response, 400, error, fragment)
    assert vci.counts() == before
    assert vci.issuer.calls == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "fragment"),
    [
        (b'{"credential_configuration_id": ', "application/json", 400, "JSON"),
        (b'{"a": 1, "a": 2}', "application/json", 400, "duplicate"),
        (b"[]", "application/json", 400, "object"),
        (b"credential_configuration_id=x", "application/x-www-form-urlencoded", 400, "application/json"),
        (b'{"pad": "' + b"x" * 70_000 + b'"}', "application/json", 413, "larger"),
    ],
)
def test_malformed_credential_body(vci: Vci, content: bytes, content_type: str, status: int, fragment: str) -> None:
    token = vci.access_token()
    vci.nonce()
    before = vci.counts()
    response = vci.client.post(
        "/credential", content=content, headers={"Authorization": f"Bearer {token}", "Content-Type": content_type}
    )
    assert_error(response, status, "invalid_credential_request", fragment)
    assert vci.counts() == before


# -- bearer tokens ------------------------------------------------------------------------------------------------


def test_bearer_token_missing_wrong_expired_or_in_query(vci: Vci) -> None:
    token = vci.access_token()
    nonce = vci.nonce()
    body = {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}}
    before = vci.counts()
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": f"Bearer {token}x"},
    ):
        response = vci.client.post("/credential", json=body, headers=headers)
        assert_error(response, 401, "invalid_token")
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    in_query = vci.client.post("/credential", json=body, params={"access_token": token})
    assert_error(in_query, 400, "invalid_request", "Authorization header")
    assert "www-authenticate" in in_query.headers
    in_both = vci.client.post(
        "/credential", json=body, params={"access_token": token}, headers={"Authorization": f"Bearer {token}"}
    )
    assert_error(in_both, 400, "invalid_request")
    assert vci.counts() == before
    vci.clock.advance(vci.ctx.settings.access_token_ttl)
    expired = vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}})
    assert_error(expired, 401, "invalid_token", "expired")
    assert vci.counts() == before
    assert authorize_bearer(vci.ctx)(token) is None


def test_access_token_lifetime_is_its_own(make_vci: Callable[..., Vci]) -> None:
    """The token outlives its offer's expiry when its own lifetime is longer, and expires at its own end."""
    vci = make_vci(offer_ttl=timedelta(minutes=1), access_token_ttl=timedelta(minutes=30))
    token = vci.access_token()
    vci.clock.advance(timedelta(minutes=29))
    assert authorize_bearer(vci.ctx)(token) is not None
    vci.clock.advance(timedelta(minutes=1))
    assert authorize_bearer(vci.ctx)(token) is None


# -- notifications ------------------------------------------------------------------------------------------------


def test_notification_refusals(vci: Vci) -> None:
    token = vci.access_token()
    issued = vci.credential(token, {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(vci.nonce())]}})
    notification_id = issued.json()["notification_id"]
    other_token = vci.access_token()
    auth = {"Authorization": f"Bearer {token}"}

    def post(body: Any, headers: dict[str, str] = auth) -> httpx.Response:
        return vci.client.post("/notification", json=body, headers=headers)

    assert_error(post({"notification_id": "unknown", "event": "credential_accepted"}), 400, "invalid_notification_id")
    other = {"Authorization": f"Bearer {other_token}"}
    assert_error(
        post({"notification_id": notification_id, "event": "credential_accepted"}, other),
        400,
        "invalid_notification_id",
    )
    assert_error(
        post({"notification_id": notification_id, "event": "credential_lost"}), 400, "invalid_notification_request"
    )
    assert_error(post({"event": "credential_deleted"}), 400, "invalid_notification_request")
    assert_error(post([1]), 400, "invalid_notification_request")
    assert_error(post({"notification_id": notification_id, "event": "credential_deleted"}, {}), 401, "invalid_token")
    with transaction(vci.ctx.engine) as conn:
        assert conn.execute(select(notifications.c.event)).scalars().all() == [None]
    assert (
        post(
            {"notification_id": notification_id, "event": "credential_failure", "event_description": "no room"}
        ).status_code
        == 204
    )


# -- across processes ---------------------------------------------------------------------------------------------


@pytest.fixture
def second_engine(vci: Vci) -> Iterator[Engine]:
    engine = open_engine(vci.ctx.engine.url.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()


def test_single_use_holds_across_engines(vci: Vci, second_engine: Engine) -> None:
    """Another process (its own engine and app) on the same database sees codes and nonces used here as used."""
    elsewhere = build(dataclasses.replace(vci.ctx, engine=second_engine), vci.clock)
    offer = vci.offer()
    assert vci.token(offer).status_code == 200
    assert_error(elsewhere.token(offer), 400, "invalid_grant", "already used")

    nonce = elsewhere.nonce()
    token = elsewhere.access_token()
    body = {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [vci.proof(nonce)]}}
    assert vci.credential(token, body).status_code == 200
    assert_error(elsewhere.credential(token, {**body, "proofs": {"jwt": [vci.proof(nonce)]}}), 400, "invalid_nonce")


def test_purge_expired_keeps_live_state(vci: Vci) -> None:
    vci.offer()
    token = vci.access_token()
    vci.nonce()
    assert purge_expired(vci.ctx) == 0
    vci.clock.advance(timedelta(days=2))
    assert purge_expired(vci.ctx) == 4  # the nonce, the token and both grants
    assert vci.counts() == dict.fromkeys(
        ("issuer_oid4vci_grants", "issuer_oid4vci_tokens", "issuer_oid4vci_nonces", "issuer_oid4vci_notifications"), 0
    )
    assert authorize_bearer(vci.ctx)(token) is None
