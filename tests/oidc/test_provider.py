"""The OP protocol through HTTP: /authorize (+ PAR), completion, the token grant, userinfo, receipts, metadata.

The login part is a fake (it returns a URL and records the request); ``Provider.complete`` is called with a crafted
``LoginOutcome``, so no wallet runs here. The token endpoint is a GrantTypeRegistry dispatch as xid wires it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from did import Resolver
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import sqlite_engine, transaction
from foundation.web import EXCEPTION_HANDLERS, TokenRequest, error_response, json_response, read_form
from issuer.context import IssuerContext, IssuerSettings, OperatorSecrets
from issuer.db import create_schema as create_issuer_schema
from issuer.oid4vci import GrantTypeRegistry, Oid4vciError, authorization_server_metadata, default_grant_types
from issuer.oid4vci_routes import routes as issuer_routes
from ledger.log import Log
from ledger.records import commitment
from ledger.store import Store
from oidc import keys
from oidc.context import OidcContext
from oidc.contracts import AuthorizationRequest, Completion, LoginOutcome
from oidc.errors import OidcError
from oidc.provider import ACR_HOLDER_KEY, Provider, authorizations, codes, tokens
from oidc.provider_routes import routes
from tests.helpers import AsgiClient
from tests.issuer.oid4vci_fakes import CONFIGURATIONS, FakeFacts, FakeIssuer
from tests.verifier.conftest import certificate_chain, unreachable_status
from verifier import rps
from verifier.context import VerifierContext

BASE = "http://127.0.0.1:8000"
VCT = f"{BASE}/vct/identity"
CREDENTIAL = {
    "name": "デジタル 太郎",
    "address": {"formatted": "東京都千代田区紀尾井町1-3"},
    "sex": "1",
    "birthdate": "1990-01-02",
    "verification": {
        "trust_framework": "jp_aml",
        "time": "2026-01-01T00:00:00Z",
        "evidence": [
            {
                "type": "electronic_record",
                "check_details": [{"check_method": "vcrypt"}],
                "record": {"type": "jp_jpki_signature_certificate"},
            }
        ],
    },
}


class FakeSubjects:
    """Pairwise subjects over a holder → person table (two holders of one person: a renewed card)."""

    def __init__(self) -> None:
        self.persons: dict[str, str] = {"holder-a": "person-1", "holder-a2": "person-1", "holder-b": "person-2"}

    def pairwise(self, holder: str, sector: str) -> str | None:
        person = self.persons.get(holder)
        if person is None:
            return None
        return base64.urlsafe_b64encode(hmac.new(b"p" * 32, f"{sector}\0{person}".encode(), "sha256").digest()).decode()


@dataclass
class FakeLogin:
    """The login part: remembers each started request and sends the browser to a login URL."""

    started: list[AuthorizationRequest] = field(default_factory=list)

    def start(self, request: AuthorizationRequest) -> str:
        self.started.append(request)
        return f"{BASE}/login/{request.id}"


@dataclass
class FakeLinkage:
    """The consent part's linkage: identifiers only for consented (unordered) client pairs."""

    consented: set[frozenset[str]] = field(default_factory=set)

    def linkage_id(self, person: str, client_id: str, other_client_id: str, *, holder: str) -> str:
        pair = frozenset({client_id, other_client_id})
        if pair not in self.consented:
            raise LinkageRefusedError("the person did not consent to this linkage")
        return hashlib.sha256(f"{person}|{'|'.join(sorted(pair))}".encode()).hexdigest()


class LinkageRefusedError(OidcError):
    """Test stand-in for the consent part's refusal."""

    code = "testLinkageRefusedError"
    error = "access_denied"


@dataclass
class Client:
    """A registered relying party with its secret."""

    client_id: str
    secret: str
    redirect_uri: str


@dataclass
class World:
    """The provider on one database, with its routes and a token endpoint as xid wires them."""

    ctx: OidcContext
    provider: Provider
    login: FakeLogin
    http: AsgiClient
    app: Starlette
    shop: Client
    other: Client
    registry: GrantTypeRegistry

    def register(self, name: str, uri: str, **kwargs: Any) -> Client:
        party, secret = rps.register(self.ctx.engine, name, [uri], **kwargs)
        return Client(party.client_id, secret, uri)

    def authorize_params(self, client: Client, verifier: str = "v" * 43, **overrides: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": "openid name address birthdate gender",
            "state": "st-1",
            "nonce": "n-1",
            "code_challenge": challenge(verifier),
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, client: Client, verifier: str = "v" * 43, **overrides: str | None) -> httpx.Response:
        return self.http.get("/authorize", params=self.authorize_params(client, verifier, **overrides))

    def started(self, client: Client, verifier: str = "v" * 43, **overrides: str | None) -> AuthorizationRequest:
        response = self.authorize(client, verifier, **overrides)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{BASE}/login/{self.login.started[-1].id}"
        return self.login.started[-1]

    def code(self, client: Client, holder: str = "holder-a", verifier: str = "v" * 43, **overrides: str | None) -> str:
        request = self.started(client, verifier, **overrides)
        location = self.provider.complete(request.id, outcome(holder))
        query = redirect_query(location, client.redirect_uri)
        assert query["state"] == overrides.get("state", "st-1")
        assert query["iss"] == BASE
        return query["code"]

    def token(
        self, client: Client, code: str, verifier: str = "v" * 43, *, auth: str = "basic", **extra: str
    ) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri}
        form["code_verifier"] = verifier
        headers: dict[str, str] = {}
        if auth == "basic":
            headers["Authorization"] = basic(client.client_id, client.secret)
        elif auth == "post":
            form.update(client_id=client.client_id, client_secret=client.secret)
        form.update(extra)
        return self.http.post("/token", data=form, headers=headers)


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> str:
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def outcome(holder: str = "holder-a", claims: dict[str, Any] | None = None) -> LoginOutcome:
    return LoginOutcome(
        person="person-handle",
        holder=holder,
        issuer=BASE,
        claims=CREDENTIAL if claims is None else claims,
        auth_time=datetime.now(UTC).replace(microsecond=0),
        status_checked_at=datetime.now(UTC),
        presentation_digest=hashlib.sha256(b"vp-token").hexdigest(),
        transaction_id="tx-1",
        same_device=False,
    )


def redirect_query(location: str, redirect_uri: str) -> dict[str, str]:
    assert location.startswith(redirect_uri + "?")
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def make_app(provider: Provider, registry: GrantTypeRegistry) -> Starlette:
    """The provider's routes and the origin's token endpoint (the issuer's registry dispatch)."""

    async def token(request: Request) -> Response:
        form = await read_form(request, 64 * 1024)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            answer = registry.handle(TokenRequest(form=form, headers=headers, url=f"{BASE}/token"))
        except Oid4vciError as error:
            return error_response(error.status, error.error, error.message)
        return json_response(dict(answer.body), answer.status, headers=answer.headers)

    return Starlette(
        routes=[*routes(provider), Route("/token", token, methods=["POST"])],
        exception_handlers=EXCEPTION_HANDLERS,
    )


@pytest.fixture
def engine(oidc_engine: Engine) -> Engine:
    """The shared OIDC test database (tests/oidc/conftest.py), on SQLite and on PostgreSQL."""
    return oidc_engine


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    signer = SoftwareSigner.generate(KeyType.P256)
    x5c, _ = certificate_chain(signer, "127.0.0.1")
    verifier = VerifierContext(
        base_url=BASE,
        engine=engine,
        signer=signer,
        x5c=x5c,
        did="did:web:127.0.0.1%3A8000",
        resolver=Resolver.standard(),
        status_source=unreachable_status,
        trusted_issuers=(),
        ledger_key=b"k" * 32,
    )
    ctx = OidcContext(
        base_url=BASE,
        engine=engine,
        verifier=verifier,
        subjects=FakeSubjects(),
        identity_vct=VCT,
        keys_dir=tmp_path / "oidc-keys",
        ledger_key=b"l" * 32,
    )
    login = FakeLogin()
    provider = Provider(ctx, login, FakeLinkage())
    registry = GrantTypeRegistry()
    registry.register("authorization_code", provider.token_grant, provider.oauth_metadata())
    app = make_app(provider, registry)
    shop_party, shop_secret = rps.register(engine, "Shop", ["https://shop.example/cb"])
    other_party, other_secret = rps.register(engine, "Other", ["https://other.example/cb"])
    return World(
        ctx,
        provider,
        login,
        AsgiClient(app),
        app,
        Client(shop_party.client_id, shop_secret, "https://shop.example/cb"),
        Client(other_party.client_id, other_secret, "https://other.example/cb"),
        registry,
    )


def verify_id_token(world: World, id_token: str, client: Client, *, nonce: str = "n-1") -> dict[str, Any]:
    published = KeySet.import_key_set(world.http.get("/jwks").json())
    token = jwt.decode(id_token, published, algorithms=["RS256", "ES256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": BASE},
        aud={"essential": True, "value": client.client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    )
    registry.validate(token.claims)
    return dict(token.claims)


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- the whole flow -----------------------------------------------------------------------------------------------


def test_code_flow_gives_a_signed_id_token_and_userinfo_with_the_agency_claims(world: World) -> None:
    code = world.code(world.shop)
    response = world.token(world.shop, code)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid name address birthdate gender"
    assert "refresh_token" not in body
    claims = verify_id_token(world, body["id_token"], world.shop)
    assert claims["at_hash"] == at_hash(body["access_token"])
    assert claims["azp"] == world.shop.client_id
    assert claims["acr"] == ACR_HOLDER_KEY
    assert claims["amr"] == ["pop", "swk"]
    assert "name" not in claims  # scope claims go to the userinfo (OIDC Core 5.4)
    assert jwt.decode(body["id_token"], KeySet.import_key_set(world.http.get("/jwks").json())).header["alg"] == "RS256"
    info = world.http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json() == {
        "sub": claims["sub"],
        "name": "デジタル 太郎",
        "address": {"formatted": "東京都千代田区紀尾井町1-3"},
        "birthdate": "1990-01-02",
        "gender": "male",
    }


def test_only_the_scopes_asked_are_released(world: World) -> None:
    code = world.code(world.shop, scope="openid address")
    body = world.token(world.shop, code).json()
    info = world.http.post("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert set(info) == {"sub", "address"}


def test_pairwise_sub_is_stable_per_sector_and_across_renewal_and_differs_between_sectors(world: World) -> None:
    def sub(client: Client, holder: str) -> str:
        body = world.token(client, world.code(client, holder)).json()
        return str(verify_id_token(world, body["id_token"], client)["sub"])

    first = sub(world.shop, "holder-a")
    assert sub(world.shop, "holder-a") == first
    assert sub(world.shop, "holder-a2") == first  # same person, renewed card (another holder key)
    assert sub(world.other, "holder-a") != first
    assert sub(world.shop, "holder-b") != first


def test_verified_claims_through_the_claims_parameter(world: World) -> None:
    claims = {
        "id_token": {
            "verified_claims": {
                "verification": {"trust_framework": None},
                "claims": {"name": None, "birthdate": {"essential": True}},
            }
        }
    }
    code = world.code(world.shop, scope="openid", claims=json.dumps(claims))
    body = world.token(world.shop, code).json()
    token = verify_id_token(world, body["id_token"], world.shop)
    verified = token["verified_claims"]
    assert verified["claims"] == {"name": "デジタル 太郎", "birthdate": "1990-01-02"}
    assert verified["verification"]["trust_framework"] == "jp_aml"
    assert verified["verification"]["evidence"][0]["record"]["type"] == "jp_jpki_signature_certificate"


def test_es256_clients_get_es256_id_tokens(world: World) -> None:
    client = world.register("EC shop", "https://ec.example/cb", id_token_alg="ES256")
    body = world.token(client, world.code(client)).json()
    published = KeySet.import_key_set(world.http.get("/jwks").json())
    token = jwt.decode(body["id_token"], published, algorithms=["ES256"])
    assert token.header["alg"] == "ES256"
    assert token.claims["at_hash"] == at_hash(body["access_token"])


def test_client_secret_post_is_accepted(world: World) -> None:
    response = world.token(world.shop, world.code(world.shop), auth="post")
    assert response.status_code == 200, response.text


def test_the_login_is_recorded_in_the_ledger_and_the_rp_fetches_its_receipt(world: World, tmp_path: Path) -> None:
    store = Store(sqlite_engine(tmp_path / "ledger.sqlite3"))
    with Log(store, SoftwareSigner.generate(KeyType.ED25519), origin="test.example/log") as log:
        world.ctx.ledger = log
        body = world.token(world.shop, world.code(world.shop)).json()
        sub = verify_id_token(world, body["id_token"], world.shop)["sub"]
        with log.store.transaction() as txn:
            entry = txn.entry(0)[0]
        log.wait_included(0)
        receipt = world.http.get("/oidc/receipt", headers={"Authorization": f"Bearer {body['access_token']}"})
    record = json.loads(entry)
    assert record["type"] == "authentication"
    assert record["subject"] == commitment(b"l" * 32, sub)
    assert record["rp"] == "https://shop.example"
    assert "太郎" not in entry.decode()
    assert "1990-01-02" not in entry.decode()  # "1990" alone may occur in a hex hash
    assert receipt.status_code == 200
    assert receipt.json()["ledger_receipt"] not in ("unavailable", "pending")


def test_discovery_and_the_merged_authorization_server_metadata(world: World) -> None:
    document = world.http.get("/.well-known/openid-configuration").json()
    assert document["issuer"] == BASE
    for member in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "end_session_endpoint",
        "pushed_authorization_request_endpoint",
        "xid_receipt_endpoint",
    ):
        assert document[member].startswith(BASE + "/")
    assert document["subject_types_supported"] == ["pairwise"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["trust_frameworks_supported"] == ["jp_aml"]
    assert "refresh_token" not in document["grant_types_supported"]
    assert set(document["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}

    class Issuer:
        base_url = BASE

        def url(self, path: str) -> str:
            return BASE + path

    merged = authorization_server_metadata(
        Issuer(),  # type: ignore[arg-type]
        ["urn:ietf:params:oauth:grant-type:pre-authorized_code", *world.registry.grant_types],
        world.registry.metadata,
    )
    assert merged["token_endpoint_auth_methods_supported"] == [
        "none",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    assert merged["authorization_endpoint"] == f"{BASE}/authorize"
    assert "authorization_code" in merged["grant_types_supported"]


# -- /authorize refusals ------------------------------------------------------------------------------------------


def test_errors_before_the_redirect_uri_is_validated_are_shown_not_redirected(world: World) -> None:
    for overrides in (
        {"client_id": "nobody"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": "https://shop.example/cb/extra"},
        {"redirect_uri": None},
    ):
        response = world.authorize(world.shop, **overrides)
        assert response.status_code == 400, overrides
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert world.login.started == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "name"}, "invalid_scope"),
        ({"scope": "openid sign"}, "invalid_scope"),
        ({"nonce": None}, "invalid_request"),
        ({"state": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"claims": '{"id_token": {"name": 1}}'}, "invalid_request"),
        ({"claims": '{"id_token": {}, "id_token": {}}'}, "invalid_request"),
        ({"claims": "x" * 5000}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"prompt": "none"}, "login_required"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"linkage_scope_to_self": None}, "invalid_request"),
        (
            {"claims": json.dumps({"id_token": {"acr": {"essential": True, "values": ["aal3"]}}})},
            "unmet_authentication_requirements",
        ),
    ],
)
def test_bad_requests_go_back_to_the_rp_with_the_error_and_nothing_stored(
    world: World, overrides: dict[str, str | None], error: str
) -> None:
    if "linkage_scope_to_self" in overrides:
        overrides = {"scope": f"openid linkage:{world.shop.client_id}"}
    response = world.authorize(world.shop, **overrides)  # type: ignore[arg-type]
    assert response.status_code == 303
    query = redirect_query(response.headers["location"], world.shop.redirect_uri)
    assert query["error"] == error
    assert query.get("state") == ("st-1" if "state" not in overrides else None)
    assert query["iss"] == BASE
    assert query["error_description"].isascii()
    if error == "invalid_scope" and "sign" in str(overrides.get("scope")):
        assert "xid wallet" in query["error_description"]
    assert world.login.started == []
    with transaction(world.ctx.engine) as conn:
        assert conn.execute(select(func.count()).select_from(authorizations)).scalar_one() == 0


def test_agency_acr_values_are_accepted_and_answered_truthfully(world: World) -> None:
    code = world.code(world.shop, acr_values="aal3 crl")
    body = world.token(world.shop, code).json()
    assert verify_id_token(world, body["id_token"], world.shop)["acr"] == ACR_HOLDER_KEY


def test_authorize_by_form_post(world: World) -> None:
    response = world.http.post("/authorize", data=world.authorize_params(world.shop))
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}/login/{world.login.started[-1].id}"
    too_big = world.http.post("/authorize", data={"claims": "x" * 70_000})
    assert too_big.status_code == 400
    assert "location" not in too_big.headers


def test_repeated_parameters_are_refused_on_a_page(world: World) -> None:
    params = [*list(world.authorize_params(world.shop).items()), ("state", "two")]
    response = world.http.get("/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


# -- completion ---------------------------------------------------------------------------------------------------


def test_completion_is_single_use_and_fail_redirects_with_the_error(world: World) -> None:
    completion: Completion = world.provider  # the contract the login part codes against
    request = world.started(world.shop)
    assert completion.pending(request.id).client_id == world.shop.client_id
    completion.complete(request.id, outcome())
    with pytest.raises(Exception, match="unknown, finished or expired"):
        world.provider.complete(request.id, outcome())
    second = world.started(world.shop)
    query = redirect_query(world.provider.fail(second.id, "access_denied", "refused"), world.shop.redirect_uri)
    assert query == {"error": "access_denied", "error_description": "refused", "state": "st-1", "iss": BASE}
    with pytest.raises(Exception, match="unknown, finished or expired"):
        world.provider.pending(second.id)


def test_an_expired_authorization_cannot_complete(world: World) -> None:
    request = world.started(world.shop)
    world.ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=11)
    with pytest.raises(Exception, match="unknown, finished or expired"):
        world.provider.complete(request.id, outcome())


def test_an_unknown_person_is_denied(world: World) -> None:
    request = world.started(world.shop)
    query = redirect_query(world.provider.complete(request.id, outcome("holder-x")), world.shop.redirect_uri)
    assert query["error"] == "access_denied"


# -- token endpoint refusals --------------------------------------------------------------------------------------


def test_pkce_verifier_mismatch_is_invalid_grant(world: World) -> None:
    code = world.code(world.shop)
    response = world.token(world.shop, code, "w" * 43)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert world.token(world.shop, code).status_code == 200  # the refusal changed nothing


def test_missing_verifier_is_refused(world: World) -> None:
    code = world.code(world.shop)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": world.shop.redirect_uri}
    response = world.http.post(
        "/token", data=form, headers={"Authorization": basic(world.shop.client_id, world.shop.secret)}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_reused_code_is_refused_and_revokes_its_tokens(world: World) -> None:
    code = world.code(world.shop)
    first = world.token(world.shop, code).json()
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert world.http.get("/userinfo", headers=bearer).status_code == 200
    again = world.token(world.shop, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    refused = world.http.get("/userinfo", headers=bearer)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    with transaction(world.ctx.engine) as conn:
        assert conn.execute(select(tokens.c.revoked)).scalar_one() is True


def test_purge_deletes_expired_tokens_and_codes_with_the_claims_they_hold(world: World) -> None:
    code = world.code(world.shop)
    assert world.token(world.shop, code).status_code == 200
    assert world.provider.purge() == 0  # nothing has expired yet: the token answers userinfo for 10 minutes
    world.ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=12)
    assert world.provider.purge() >= 2  # the token (its userinfo claims) and the code (its grant)
    with transaction(world.ctx.engine) as conn:
        assert conn.execute(select(tokens.c.token_hash)).all() == []
        assert conn.execute(select(codes.c.code_hash)).all() == []


def test_an_expired_code_is_refused(world: World) -> None:
    code = world.code(world.shop)
    world.ctx.clock = lambda: datetime.now(UTC) + timedelta(seconds=61)
    response = world.token(world.shop, code)
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_at_the_token_endpoint(world: World) -> None:
    code = world.code(world.shop)
    response = world.token(world.shop, code, redirect_uri="https://shop.example/other")
    assert response.json()["error"] == "invalid_grant"


def test_a_code_of_another_client_is_refused(world: World) -> None:
    code = world.code(world.shop)
    other = Client(world.other.client_id, world.other.secret, world.shop.redirect_uri)
    assert world.token(other, code).json()["error"] == "invalid_grant"


def test_a_wrong_client_secret_is_invalid_client(world: World) -> None:
    code = world.code(world.shop)
    wrong = Client(world.shop.client_id, "not-the-secret", world.shop.redirect_uri)
    for auth in ("basic", "post"):
        response = world.token(wrong, code, auth=auth)
        assert response.json()["error"] == "invalid_client", auth
        assert response.status_code in (400, 401)
    assert world.token(world.shop, code).status_code == 200


def test_userinfo_without_a_valid_token(world: World) -> None:
    assert world.http.get("/userinfo").status_code == 401
    assert world.http.get("/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert world.http.get("/userinfo?access_token=x").status_code == 400


# -- private_key_jwt ----------------------------------------------------------------------------------------------


def assertion(
    key: RSAKey | ECKey | OctKey, client_id: str, *, alg: str = "RS256", aud: str = f"{BASE}/token", **claims: Any
) -> str:
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "iat": now, "jti": f"j-{now}-{id(key)}"}
    payload.update(claims)
    return jwt.encode({"alg": alg, "kid": "k1"}, payload, key, algorithms=[alg])


@pytest.fixture
def jwt_client(world: World) -> tuple[Client, RSAKey]:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    client = world.register(
        "JWT shop", "https://jwt.example/cb", auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]}
    )
    return client, key


def jwt_token(world: World, client: Client, code: str, token: str) -> httpx.Response:
    return world.token(
        client,
        code,
        auth="none",
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=token,
    )


def test_private_key_jwt_is_accepted_once_per_jti(world: World, jwt_client: tuple[Client, RSAKey]) -> None:
    client, key = jwt_client
    signed = assertion(key, client.client_id, jti="once")
    response = jwt_token(world, client, world.code(client), signed)
    assert response.status_code == 200, response.text
    replay = jwt_token(world, client, world.code(client), signed)
    assert replay.json()["error"] == "invalid_client"
    # the client secret is not accepted for a private_key_jwt client
    assert world.token(client, world.code(client)).json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "variant",
    ["alg-none", "hs256", "wrong-aud", "expired", "too-long", "no-exp", "unknown-key", "no-jti", "other-sub"],
)
def test_bad_client_assertions_are_refused(world: World, jwt_client: tuple[Client, RSAKey], variant: str) -> None:
    client, key = jwt_client
    now = int(time.time())
    if variant == "alg-none":
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        body = {"iss": client.client_id, "sub": client.client_id, "aud": f"{BASE}/token", "exp": now + 60, "jti": "a"}
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
        signed = f"{header}.{payload}."
    elif variant == "hs256":
        secret = OctKey.import_key(json.dumps(key.as_dict(private=False)).encode())
        signed = assertion(secret, client.client_id, alg="HS256")
    elif variant == "wrong-aud":
        signed = assertion(key, client.client_id, aud="https://elsewhere.example/token")
    elif variant == "expired":
        signed = assertion(key, client.client_id, exp=now - 120, iat=now - 180)
    elif variant == "too-long":
        signed = assertion(key, client.client_id, exp=now + 3600)
    elif variant == "no-exp":
        signed = assertion(key, client.client_id, exp=None)
    elif variant == "unknown-key":
        signed = assertion(RSAKey.generate_key(2048), client.client_id)
    elif variant == "no-jti":
        signed = assertion(key, client.client_id, jti=None)
    else:
        signed = assertion(key, client.client_id, sub=world.shop.client_id)
    code = world.code(client)
    response = jwt_token(world, client, code, signed)
    assert response.json()["error"] == "invalid_client", response.text
    if variant in ("alg-none", "hs256"):  # refused by the algorithm check itself, before any key is tried
        assert "asymmetric algorithm" in response.json()["error_description"]
    good = jwt_token(world, client, code, assertion(key, client.client_id, jti=f"good-{variant}"))
    assert good.status_code == 200  # the refusal used up nothing


# -- PAR ----------------------------------------------------------------------------------------------------------


def test_pushed_requests_are_single_use_and_expire(world: World) -> None:
    params = world.authorize_params(world.shop)
    auth = {"Authorization": basic(world.shop.client_id, world.shop.secret)}
    pushed = world.http.post("/par", data=params, headers=auth)
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    assert request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    assert pushed.json()["expires_in"] == 90
    use = {"client_id": world.shop.client_id, "request_uri": request_uri}
    assert world.http.get("/authorize", params=use).status_code == 303
    assert world.login.started[-1].redirect_uri == world.shop.redirect_uri
    again = world.http.get("/authorize", params=use)  # no redirect_uri is known without the pushed request
    assert again.status_code == 400
    assert "invalid_request_uri" in again.text
    later = world.http.post("/par", data=params, headers=auth).json()["request_uri"]
    world.ctx.clock = lambda: datetime.now(UTC) + timedelta(seconds=91)
    expired = world.http.get("/authorize", params={"client_id": world.shop.client_id, "request_uri": later})
    assert expired.status_code == 400
    assert "invalid_request_uri" in expired.text
    unknown = world.http.get("/authorize", params={**use, "request_uri": "urn:ietf:params:oauth:request_uri:no"})
    assert unknown.status_code == 400
    assert "invalid_request_uri" in unknown.text


def test_par_needs_client_authentication_and_a_valid_request(world: World) -> None:
    params = world.authorize_params(world.shop)
    assert world.http.post("/par", data=params).status_code == 401
    wrong = {"Authorization": basic(world.shop.client_id, "nope")}
    assert world.http.post("/par", data=params, headers=wrong).json()["error"] == "invalid_client"
    auth = {"Authorization": basic(world.shop.client_id, world.shop.secret)}
    bad = world.http.post("/par", data={**params, "code_challenge_method": "plain"}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"
    theirs = world.http.post("/par", data=world.authorize_params(world.shop), headers=auth).json()["request_uri"]
    other = world.http.get("/authorize", params={"client_id": world.other.client_id, "request_uri": theirs})
    assert other.status_code == 400
    assert "invalid_request_uri" in other.text


# -- end session --------------------------------------------------------------------------------------------------


def test_end_session_redirects_only_to_a_registered_uri_with_a_valid_hint(world: World) -> None:
    body = world.token(world.shop, world.code(world.shop)).json()
    params = {"id_token_hint": body["id_token"], "post_logout_redirect_uri": world.shop.redirect_uri, "state": "s"}
    response = world.http.get("/end_session", params=params)
    assert response.status_code == 303
    assert response.headers["location"] == f"{world.shop.redirect_uri}?state=s"
    evil = world.http.get("/end_session", params={**params, "post_logout_redirect_uri": "https://evil.example/"})
    assert evil.status_code == 400
    assert "location" not in evil.headers
    forged = body["id_token"][:-4] + ("AAAA" if not body["id_token"].endswith("AAAA") else "BBBB")
    assert world.http.get("/end_session", params={**params, "id_token_hint": forged}).status_code == 400
    assert world.http.get("/end_session").status_code == 200


# -- a real client: Authlib's OAuth2Client ------------------------------------------------------------------------


def test_authlib_client_runs_the_whole_code_flow(world: World) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Authlib warns that plain httpx (not httpx2) is deprecated
        from authlib.integrations.httpx_client import AsyncOAuth2Client
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

    async def run() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=world.app)
        async with AsyncOAuth2Client(
            client_id=world.shop.client_id,
            client_secret=world.shop.secret,
            scope="openid name birthdate",
            redirect_uri=world.shop.redirect_uri,
            code_challenge_method="S256",
            transport=transport,
            base_url=BASE,
        ) as client:
            verifier = "x" * 64
            url, state = client.create_authorization_url(
                f"{BASE}/authorize", code_verifier=verifier, nonce="authlib-nonce"
            )
            assert f"code_challenge={create_s256_code_challenge(verifier)}" in url
            started = await client.request("GET", url, withhold_token=True)
            assert started.status_code == 303
            location = world.provider.complete(world.login.started[-1].id, outcome())
            token = await client.fetch_token(
                f"{BASE}/token", authorization_response=location, code_verifier=verifier, state=state
            )
            info = (await client.get(f"{BASE}/userinfo")).json()
            return {"token": dict(token), "userinfo": info}

    answer = asyncio.run(run())
    claims = verify_id_token(world, answer["token"]["id_token"], world.shop, nonce="authlib-nonce")
    assert claims["at_hash"] == at_hash(answer["token"]["access_token"])
    assert answer["userinfo"] == {"sub": claims["sub"], "name": "デジタル 太郎", "birthdate": "1990-01-02"}


def test_keys_rotate_with_publication_before_use(world: World) -> None:
    first = keys.signing_key(world.ctx, "RS256").kid
    report = keys.rotate(world.ctx)
    fresh = next(k["kid"] for k in report["created"] if k["alg"] == "RS256")
    published = {k["kid"] for k in world.http.get("/jwks").json()["keys"]}
    assert {first, fresh} <= published
    assert keys.signing_key(world.ctx, "RS256").kid == first  # not signing yet
    later = datetime.now(UTC) + timedelta(minutes=16)
    world.ctx.clock = lambda: later
    assert keys.signing_key(world.ctx, "RS256").kid == fresh
    assert first in {k["kid"] for k in keys.jwks(world.ctx)["keys"]}  # tokens it signed may still be valid
    much_later = later + timedelta(minutes=11)
    world.ctx.clock = lambda: much_later
    keys.rotate(world.ctx)
    assert first not in {k["kid"] for k in keys.jwks(world.ctx)["keys"]}
    assert not (world.ctx.keys_dir / f"{first}.json").exists()


# -- the origin's one token endpoint: the issuer's route with the OIDC grant registered ---------------------------


def test_the_issuer_token_endpoint_serves_the_oidc_grant_and_merged_metadata(world: World) -> None:

    issuer = IssuerContext(
        base_url=BASE,
        did="did:web:127.0.0.1%3A8000",
        engine=world.ctx.engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=None,  # type: ignore[arg-type]  # the token endpoint consults no trust anchors
        revocation=None,  # type: ignore[arg-type]
        settings=IssuerSettings(),
    )
    create_issuer_schema(world.ctx.engine)
    registry = default_grant_types(issuer)
    registry.register("authorization_code", world.provider.token_grant, world.provider.oauth_metadata())
    app = Starlette(
        routes=[
            *routes(world.provider),
            *issuer_routes(
                issuer, configurations=CONFIGURATIONS, issue=FakeIssuer(issuer), facts=FakeFacts(), grant_types=registry
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    http = AsgiClient(app)
    metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["grant_types_supported"] == [
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:pre-authorized_code",
    ]
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "none",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    assert metadata["authorization_endpoint"] == f"{BASE}/authorize"
    assert metadata["pre-authorized_grant_anonymous_access_supported"] is True
    world.http = http
    body = world.token(world.shop, world.code(world.shop)).json()
    assert verify_id_token(world, body["id_token"], world.shop)["at_hash"] == at_hash(body["access_token"])
    unknown = http.post("/token", data={"grant_type": "password", "username": "u", "password": "p"})
    assert unknown.json()["error"] == "unsupported_grant_type"


# -- linkage ------------------------------------------------------------------------------------------------------


def test_linkage_identifiers_only_with_consent(world: World) -> None:
    linkage = world.provider.linkage
    assert isinstance(linkage, FakeLinkage)
    scope = f"openid name linkage:{world.other.client_id}"
    request = world.started(world.shop, scope=scope)
    assert request.linkage == (world.other.client_id,)
    refused = redirect_query(world.provider.complete(request.id, outcome()), world.shop.redirect_uri)
    assert refused["error"] == "access_denied"
    linkage.consented.add(frozenset({world.shop.client_id, world.other.client_id}))
    body = world.token(world.shop, world.code(world.shop, scope=scope)).json()
    shared = verify_id_token(world, body["id_token"], world.shop)["xid_linkage"]
    assert set(shared) == {world.other.client_id}
    theirs = world.token(world.other, world.code(world.other, scope=f"openid linkage:{world.shop.client_id}")).json()
    assert (
        verify_id_token(world, theirs["id_token"], world.other)["xid_linkage"][world.shop.client_id]
        == shared[world.other.client_id]
    )
    unknown = world.authorize(world.shop, scope="openid linkage:nobody")
    assert redirect_query(unknown.headers["location"], world.shop.redirect_uri)["error"] == "invalid_request"
    world.provider.linkage = None
    offered = world.authorize(world.shop, scope=scope)
    assert redirect_query(offered.headers["location"], world.shop.redirect_uri)["error"] == "invalid_scope"


def test_a_plain_http_token_url_off_loopback_is_a_client_error_not_a_crash(world: World) -> None:
    form = {"grant_type": "authorization_code", "code": "x", "redirect_uri": world.shop.redirect_uri}
    answer = world.provider.token_grant(TokenRequest(form=form, headers={}, url="http://op.example/token"))
    assert answer.status == 400
    assert answer.body["error"]
    with pytest.raises(OidcError):
        world.provider.authenticate_client(form, {}, "http://op.example/par")
