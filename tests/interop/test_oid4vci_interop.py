"""OpenID4VCI 1.0 against a wallet library we did not write: @openid4vc/openid4vci 0.4.6 (pinned in
tests/interop/oid4vci/) obtains a credential of each configuration from the issuer served by uvicorn on 127.0.0.1.

The library accepts several pre-1.0 shapes silently (a singular ``proof``, a singular ``credential``, ``c_nonce`` in
the token response), so the test asserts the 1.0 shapes itself from the HTTP exchanges the driver records."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from did.keys import PublicKey
from foundation.b64 import b64url_decode
from foundation.db import transaction
from foundation.web import EXCEPTION_HANDLERS
from issuer.context import IssuerContext, IssuerSettings
from issuer.contracts import CredentialOffer, GrantRequest
from issuer.oid4vci import PROOF_TYP, create_offer_factory, notifications
from issuer.oid4vci_routes import routes
from tests.helpers import require_component, run_node, serve
from tests.issuer.conftest import engine, issuer_context, served_ca  # noqa: F401 (the issuer's fixtures, used here)
from tests.issuer.oid4vci_fakes import CONFIGURATIONS, FakeFacts, FakeIssuer
from vc.sd_jwt import verify

PEER = Path(__file__).parent / "oid4vci"
NODE_TIMEOUT = 90.0


@pytest.fixture(autouse=True, scope="module")
def node_peer() -> None:
    """Require node and the npm peer installed by ``make interop`` (skip locally, fail in CI)."""
    require_component(shutil.which("node") is not None, "node")
    installed = (PEER / "node_modules" / "@openid4vc" / "openid4vci").exists()
    require_component(installed, "npm peer in tests/interop/oid4vci (run make interop)")


@pytest.fixture
def served(issuer_context: IssuerContext) -> Iterator[tuple[IssuerContext, FakeIssuer]]:  # noqa: F811
    """The issuer's OpenID4VCI routes on a real uvicorn; the context's base URL is the served one."""
    app = Starlette(exception_handlers=dict(EXCEPTION_HANDLERS))
    with serve(app) as url:
        issuer_context.base_url = url
        issuer_context.settings = IssuerSettings(batch_size=3)
        fake = FakeIssuer(issuer_context)
        app.router.routes.extend(routes(issuer_context, configurations=CONFIGURATIONS, issue=fake, facts=FakeFacts()))
        yield issuer_context, fake


def make_offer(ctx: IssuerContext) -> CredentialOffer:
    """An offer for every configuration, as the enrollment would create it."""
    factory = create_offer_factory(ctx, list(CONFIGURATIONS))
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    request = GrantRequest("person-1", "evidence-1", jwk, "cd" * 32, ctx.clock())
    with transaction(ctx.engine, write=True) as conn:
        return factory(conn, request)


def wallet(request: dict[str, Any]) -> dict[str, Any]:
    """Run the wallet driver; fail with its output when it exits non-zero."""
    return run_node(PEER / "wallet.mjs", request=request, timeout=NODE_TIMEOUT)


def exchanges_to(result: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """The recorded HTTP exchanges whose URL path ends with ``path``."""
    return [e for e in result["exchanges"] if e["url"].split("?")[0].endswith(path)]


def test_the_openid4vc_wallet_library_obtains_every_format(served: tuple[IssuerContext, FakeIssuer]) -> None:
    ctx, fake = served
    offer = make_offer(ctx)
    result = wallet(
        {"offerUri": offer.by_reference, "txCode": offer.tx_code, "configurationIds": list(CONFIGURATIONS), "batch": 2}
    )

    # the library recognised a 1.0 issuer (it guesses from the metadata's shape)
    assert result["version"] == "V1"

    # offer by reference, metadata, token: 1.0 shapes
    (offer_get,) = exchanges_to(result, "/credential-offer/" + offer.by_reference.rpartition("%2F")[2])
    assert offer_get["status"] == 200
    assert offer_get["responseBody"] == offer.offer
    (token,) = exchanges_to(result, "/token")
    assert token["contentType"].startswith("application/x-www-form-urlencoded")
    assert token["requestBody"]["grant_type"] == "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    assert token["requestBody"]["tx_code"] == offer.tx_code
    assert token["requestBody"].get("user_pin", offer.tx_code) == offer.tx_code  # legacy name, ignored if sent
    assert token["status"] == 200
    assert token["cacheControl"] == "no-store"
    assert "c_nonce" not in token["responseBody"]
    assert token["responseBody"]["token_type"] == "Bearer"

    nonce_calls = exchanges_to(result, "/nonce")
    assert len(nonce_calls) == len(CONFIGURATIONS)
    assert all(n["method"] == "POST" and n["cacheControl"] == "no-store" for n in nonce_calls)

    # credential requests: credential_configuration_id + proofs.jwt, never proof / format; response credentials[]
    requests = exchanges_to(result, "/credential")
    assert len(requests) == len(CONFIGURATIONS)
    for exchange, configuration_id in zip(requests, CONFIGURATIONS, strict=True):
        body = exchange["requestBody"]
        assert exchange["contentType"].startswith("application/json")
        assert exchange["authorization"] == "Bearer"
        assert body["credential_configuration_id"] == configuration_id
        assert "proof" not in body
        assert "format" not in body
        assert set(body["proofs"]) == {"jwt"}
        assert len(body["proofs"]["jwt"]) == 2
        assert exchange["status"] == 200
        assert set(exchange["responseBody"]) == {"credentials", "notification_id"}
        assert len(exchange["responseBody"]["credentials"]) == 2
    for headers in result["proofs"].values():
        for header in headers:
            assert header["typ"] == PROOF_TYP
            assert header["alg"] == "ES256"
            assert "jwk" in header

    # each credential is bound to the key of its own proof (two distinct keys per batch)
    bound = [jwk for _, jwk in fake.calls]
    sent = [h["jwk"] for headers in result["proofs"].values() for h in headers]
    assert [PublicKey.from_jwk(j).thumbprint() for j in bound] == [PublicKey.from_jwk(j).thumbprint() for j in sent]
    assert len({json.dumps(j, sort_keys=True) for j in bound}) == 2 * len(CONFIGURATIONS)

    sd_jwts = result["credentials"]["xid_identity_sd_jwt"]
    issuer_key = PublicKey.from_jwk(ctx.es256.public_jwk)
    for sd_jwt, header in zip(sd_jwts, result["proofs"]["xid_identity_sd_jwt"], strict=True):
        checked = verify(sd_jwt, lambda h, p: issuer_key, audience=None, nonce=None, require_key_binding=False)
        assert PublicKey.from_jwk(checked.claims["cnf"]["jwk"]) == PublicKey.from_jwk(header["jwk"])
    jwt_vc = result["credentials"]["xid_identity_jwt_vc"][0]
    assert json.loads(b64url_decode(jwt_vc.split(".")[1]))["vc"]["type"][-1] == "ExampleAlumniCredential"
    ldp = result["credentials"]["xid_identity_ldp_vc"][0]
    assert ldp["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    # notifications reached the issuer
    assert all(n["status"] == 204 for n in exchanges_to(result, "/notification"))
    with transaction(ctx.engine) as conn:
        events = conn.execute(select(notifications.c.event)).scalars().all()
    assert events == ["credential_accepted"] * len(CONFIGURATIONS)


def test_the_wallet_library_sees_a_wrong_tx_code_refused(served: tuple[IssuerContext, FakeIssuer]) -> None:
    ctx, fake = served
    offer = make_offer(ctx)
    assert offer.tx_code is not None
    wrong = str((int(offer.tx_code) + 1) % 1_000_000).zfill(6)
    request = {"offerUri": offer.by_value, "txCode": wrong, "configurationIds": ["xid_identity_sd_jwt"]}
    result = run_node(PEER / "wallet.mjs", request=request, expect=1, timeout=NODE_TIMEOUT)
    (token,) = exchanges_to(result, "/token")
    assert token["status"] == 400
    assert token["responseBody"]["error"] == "invalid_grant"
    assert fake.calls == []
