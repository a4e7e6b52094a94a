"""OpenID4VP 1.0 against a holder we did not write: @openid4vc/openid4vp 0.4.6 resolves the request and submits
the response, @sd-jwt/sd-jwt-vc 0.19.0 builds the SD-JWT VC presentation with its KB-JWT (tests/interop/openid4vp).

The verifier here is a stand-in for the request side (a signed request object at a request_uri, with x5c, and a
response endpoint) around the real response validator (``verifier.presentation.make_validator``), served by uvicorn.
The library validates neither the x5c chain nor the KB-JWT's audience and time, so the test asserts the 1.0 shapes
of what it sent and received, and sends the negative cases (wrong audience, nonce, stale iat) through it."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.jws import parse_compact
from foundation.strict_json import compact_json
from foundation.web import EXCEPTION_HANDLERS, error_response, json_response, read_form
from issuer.credentials import SD_JWT
from tests.helpers import require_component, run_node, serve
from tests.issuer.credentials_support import Issuer
from tests.verifier.conftest import verifier_context, verifier_engine  # noqa: F401 (the verifier's fixtures)
from tests.verifier.presentation_kit import Holder, Wallet, make_transaction, query, sd_query, start_issuer, trusting
from vc.jose import sign_compact
from verifier.context import VerifierContext
from verifier.contracts import TransactionFacts
from verifier.presentation import make_validator
from verifier.response import ResponseRejectedError

PEER = Path(__file__).parent / "openid4vp"
NODE_TIMEOUT = 90.0


@pytest.fixture(autouse=True, scope="module")
def node_peer() -> None:
    """Require node and the npm peer installed by ``make interop`` (skip locally, fail in CI)."""
    require_component(shutil.which("node") is not None, "node")
    installed = (PEER / "node_modules" / "@openid4vc" / "openid4vp").exists()
    require_component(installed, "npm peer in tests/interop/openid4vp (run make interop)")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    """A real xid issuer minting the SD-JWT VC the holder presents."""
    made, engine = start_issuer(Path(tmp_path_factory.mktemp("issuer")))
    yield made
    engine.dispose()


@dataclass
class StandIn:
    """The stand-in verifier: its context, served URL, transactions and what it answered."""

    ctx: VerifierContext
    url: str
    transactions: dict[str, TransactionFacts]
    answers: list[tuple[int, dict[str, Any]]]
    request_posts: list[dict[str, str]]

    def create(self, mode: str, method: str = "get") -> tuple[str, TransactionFacts]:
        """A transaction, and the openid4vp:// link a QR code would carry."""
        tx = make_transaction(self.ctx, query(sd_query(claims=("age_over_20",))), mode)
        tx = TransactionFacts(**{**tx.__dict__, "response_uri": f"{self.url}/response/{tx.id}"})
        self.transactions[tx.id] = tx
        client_id = tx.client_id
        link = f"openid4vp://?client_id={quote(client_id, safe='')}&request_uri={quote(f'{self.url}/request/{tx.id}')}"
        if method == "post":
            link += "&request_uri_method=post"
        return link, tx


def request_object(ctx: VerifierContext, tx: TransactionFacts, wallet_nonce: str | None = None) -> str:
    """The signed request object (JAR) of a transaction, with x5c."""
    now = int(time.time())
    metadata: dict[str, Any] = {
        "vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}}
    }
    if tx.encryption_jwk is not None:
        public = ECKey.import_key(dict(tx.encryption_jwk)).as_dict(private=False)
        metadata["jwks"] = {"keys": [{**public, "use": "enc", "alg": "ECDH-ES", "kid": tx.encryption_jwk["kid"]}]}
        metadata["encrypted_response_enc_values_supported"] = ["A128GCM"]
    claims = {
        "iss": tx.client_id,
        "aud": "https://self-issued.me/v2",
        "iat": now,
        "exp": now + 300,
        "client_id": tx.client_id,
        "response_type": "vp_token",
        "response_mode": tx.response_mode,
        "response_uri": tx.response_uri,
        "nonce": tx.nonce,
        "state": tx.state,
        "dcql_query": dict(tx.dcql_query),
        "client_metadata": metadata,
    }
    if wallet_nonce is not None:
        claims["wallet_nonce"] = wallet_nonce
    header = {"typ": "oauth-authz-req+jwt", "x5c": [base64.b64encode(der).decode() for der in ctx.x5c]}
    return sign_compact(header, compact_json(claims), ctx.signer)


@pytest.fixture
def stand_in(verifier_context: VerifierContext, issuer: Issuer) -> Iterator[StandIn]:  # noqa: F811
    """The stand-in verifier on a real uvicorn (127.0.0.1, the x5c leaf's dNSName)."""
    ctx = trusting(verifier_context, issuer)
    validator = make_validator(ctx)
    app = Starlette(exception_handlers=dict(EXCEPTION_HANDLERS))
    with serve(app) as url:
        ctx.base_url = url
        made = StandIn(ctx, url, {}, [], [])

        async def request_uri(request: Request) -> Response:
            tx = made.transactions[request.path_params["id"]]
            wallet_nonce = None
            if request.method == "POST":
                posted = await read_form(request, ctx.settings.max_body_bytes)
                made.request_posts.append(posted)
                wallet_nonce = posted.get("wallet_nonce")
            jar = request_object(ctx, tx, wallet_nonce)
            return Response(jar, media_type="application/oauth-authz-req+jwt")

        async def response_endpoint(request: Request) -> Response:
            tx = made.transactions[request.path_params["id"]]
            form = await read_form(request, ctx.settings.max_body_bytes)
            try:
                validated = await run_in_threadpool(validator, tx, form)  # it may fetch status lists
            except ResponseRejectedError as exc:
                made.answers.append((400, {"error": exc.oauth_error, "code": exc.code}))
                return error_response(400, exc.oauth_error, exc.message)
            made.answers.append((200, {"credentials": [dict(c.claims) for c in validated.credentials]}))
            return json_response({})

        app.router.routes.extend(
            [
                Route("/request/{id}", request_uri, methods=["GET", "POST"]),
                Route("/response/{id}", response_endpoint, methods=["POST"]),
            ]
        )
        yield made


def holder(payload: dict[str, Any]) -> dict[str, Any]:
    """Run the holder driver; fail with its output when it exits non-zero."""
    return run_node(PEER / "holder.mjs", request=payload, timeout=NODE_TIMEOUT)


def answer(
    stand_in: StandIn, mode: str, wallet: Wallet, method: str = "get", extra: dict[str, Any] | None = None, **kb: Any
) -> tuple[dict[str, Any], TransactionFacts]:
    """Let the npm holder answer a fresh request of the stand-in verifier."""
    link, tx = stand_in.create(mode, method)
    result = holder(
        {
            "requestUrl": link,
            "credential": wallet.issue(SD_JWT),
            "holderPrivateJwk": wallet.holder.signer.to_private_jwk(),
            "disclose": ["age_over_20"],
            "queryId": "pid",
            "kb": kb,
            **(extra or {}),
        }
    )
    return result, tx


@pytest.mark.parametrize("mode", ["direct_post", "direct_post.jwt"])
def test_the_npm_holder_is_accepted(stand_in: StandIn, issuer: Issuer, mode: str) -> None:
    wallet = Wallet(issuer, Holder.generate())
    result, tx = answer(stand_in, mode, wallet)
    assert result["status"] == 200, result["body"]
    assert stand_in.answers == [(200, {"credentials": [{"age_over_20": True}]})]
    assert result["version"] == 100  # the library read it as OpenID4VP 1.0
    # what the library fetched: the request object by reference, with the 1.0 typ and x5c
    fetched = result["exchanges"][0]
    assert (fetched["method"].upper(), fetched["status"]) == ("GET", 200)
    assert fetched["responseContentType"] == "application/oauth-authz-req+jwt"
    assert result["jarHeader"]["typ"] == "oauth-authz-req+jwt"
    # the library checked the leaf's dNSName only, never the chain: the request side must serve a chain wallets trust
    assert result["jarHeader"]["x5c"] == [base64.b64encode(der).decode() for der in stand_in.ctx.x5c]
    assert result["client"]["prefix"] == "x509_san_dns"
    assert result["request"]["client_id"] == tx.client_id
    # what it sent: 1.0 shapes, checked here since the library accepts older ones
    form = result["submitted"]
    if mode == "direct_post":
        assert set(form) == {"vp_token", "state"}
        assert form["state"] == tx.state
        vp_token = json.loads(form["vp_token"])
    else:
        assert set(form) == {"response"}
        header = json.loads(base64.urlsafe_b64decode(form["response"].split(".")[0] + "=="))
        assert (header["alg"], header["enc"], header["kid"]) == ("ECDH-ES", "A128GCM", "enc-1")
        vp_token = {"pid": [result["presentation"]]}
    assert list(vp_token) == ["pid"]
    [presentation] = vp_token["pid"]
    kb = json.loads(parse_compact(presentation.rsplit("~", 1)[1]).payload)
    assert kb["aud"] == tx.client_id
    assert kb["nonce"] == tx.nonce
    assert parse_compact(presentation.rsplit("~", 1)[1]).header["typ"] == "kb+jwt"


def test_the_npm_holder_posts_to_the_request_uri(stand_in: StandIn, issuer: Issuer) -> None:
    wallet = Wallet(issuer, Holder.generate())
    formats = {"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"]}}
    extra: dict[str, Any] = {"walletMetadata": {"vp_formats_supported": formats}}
    result, _ = answer(stand_in, "direct_post.jwt", wallet, method="post", extra=extra)
    assert result["status"] == 200, result["body"]
    fetched = result["exchanges"][0]
    assert (fetched["method"].upper(), fetched["contentType"]) == ("POST", "application/x-www-form-urlencoded")
    # OpenID4VP 1.0 sends wallet_metadata as one JSON parameter (and wallet_nonce); 0.4.6 flattens the metadata into
    # the form and sends no wallet_nonce: the request side must tolerate both (and echo wallet_nonce only if sent)
    assert stand_in.request_posts == [{"vp_formats_supported": json.dumps(formats, separators=(",", ":"))}]
    # with an expected wallet_nonce the library demands an echo of a nonce it never sent: it cannot do 1.0's POST
    extra = {"walletNonce": "wallet-nonce-0123456789", "walletMetadata": {"vp_formats_supported": formats}}
    link, _ = stand_in.create("direct_post.jwt", "post")
    request = {"requestUrl": link, "credential": "", "holderPrivateJwk": {}, "disclose": [], **extra}
    failed = run_node(PEER / "holder.mjs", request=request, expect=1, timeout=NODE_TIMEOUT)
    assert "wallet_nonce" in failed["error"]


@pytest.mark.parametrize(
    ("kb", "reason"),
    [
        ({"aud": "127.0.0.1"}, "audience"),  # the client_id without its prefix
        ({"nonce": "another-nonce"}, "nonce"),
        ({"iatOffset": -3600}, "iat"),
        ({"iatOffset": 3600}, "iat"),
    ],
)
def test_the_npm_holder_negatives_are_refused(
    stand_in: StandIn, issuer: Issuer, kb: dict[str, Any], reason: str
) -> None:
    wallet = Wallet(issuer, Holder.generate())
    result, _ = answer(stand_in, "direct_post.jwt", wallet, **kb)
    assert result["status"] == 400
    assert result["body"]["error"] == "invalid_request"
    assert reason in result["body"]["error_description"]
    assert stand_in.answers == [(400, {"error": "invalid_request", "code": "holderBinding"})]
