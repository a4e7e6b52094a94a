"""Relying parties we did not write log in through xid's OIDC facade, the xid wallet answering the presentation.

Two RP libraries: the npm ``openid-client`` (tests/interop/oidc/rp.mjs, pinned; ID token signature checked against
the JWKS, RFC 9207 ``iss``, PKCE, ``state``, ``nonce``; ``client_secret_basic`` and ``private_key_jwt``) and Python's
Authlib (``OAuth2Client`` with PKCE S256; the ID token checked here with joserfc and Authlib's ``CodeIDToken``:
signature, ``iss``, ``aud``, ``nonce``, ``at_hash``). Every OP URL comes from discovery. The "browser" is an httpx
client with a cookie jar (xid.demo_login.Browser): it opens the authorization URL, reads the login page's
``openid4vp://`` link, ``xid wallet present --yes --json`` answers it, and the browser continues at the URL the
wallet hands back (same device) until the OP redirects to the RP's callback, which nobody needs to serve.

Issue 16: a website configured as the Digital Agency's guideline shows (scopes ``openid name address birthdate
gender``, PKCE S256, ``state``, ``nonce``, ``acr_values=aal3 crl``) gets the basic 4 information; an essential
``acr`` xid cannot meet and the ``sign`` scope are refused with their OAuth errors.

The drivers are first proved against panva's oidc-provider (a reference OP), so a failure against xid is xid's.
"""

from __future__ import annotations

import json
import re
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidClaimError
from joserfc.jwk import ECKey, KeySet

with warnings.catch_warnings():  # Authlib 1.9 deprecates its plain-httpx client for httpx2: nothing a site can change
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

from tests.interop.oidc_peers import (
    AGENCY_SCOPE,
    RP,
    OidcWorld,
    openid_client,
    reference_login,
    reference_op,
    require_peers,
    start_world,
)
from xid.demo_login import Browser, log_in

YAMADA_NAME = "山田\u3000太郎"
YAMADA_BIRTHDATE = "1990-01-02"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcWorld]:
    """xid serve with the facade, an enrolled wallet, and relying parties of two sectors."""
    with start_world(tmp_path_factory.mktemp("oidc-interop")) as made:
        yield made


def query_of(url: str) -> dict[str, str]:
    """The single-valued query parameters of a URL."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# -- openid-client ---------------------------------------------------------------------------------------------------


def openid_client_login(
    world: OidcWorld, rp: RP, scope: str, **options: Any
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Start, log in with the wallet, finish: (the driver's start answer, its finish answer, the callback URL)."""
    client = {"issuer": world.url, **rp.driver_fields(), "scope": scope, **options}
    started = openid_client({"step": "start", **client})
    assert started["metadata"]["issuer"] == world.url
    with Browser() as browser:
        landing = log_in(browser, started["url"], world.wallet, stop_at=rp.redirect_uri)
    assert landing.response is None, f"the login did not reach the RP's callback: {landing.url}"
    finished = openid_client(
        {
            "step": "finish",
            **client,
            "callback_url": landing.url,
            "code_verifier": started["code_verifier"],
            "state": started["state"],
            "nonce": started["nonce"],
        }
    )
    return started, finished, landing.url


@pytest.mark.parametrize("auth", ["client_secret_basic", "private_key_jwt"])
def test_openid_client_logs_in_with_the_wallet(world: OidcWorld, auth: str) -> None:
    rp = world.rps["shop"] if auth == "client_secret_basic" else world.rps["shop-jwt"]
    started, finished, callback = openid_client_login(world, rp, "openid name birthdate")
    metadata = started["metadata"]
    assert query_of(callback)["iss"] == world.url  # RFC 9207 (the driver checks it too, as it is advertised)
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert auth in metadata["token_endpoint_auth_methods_supported"]
    claims = finished["id_token_claims"]
    assert claims["iss"] == world.url
    assert claims["aud"] == rp.client_id or rp.client_id in claims["aud"]
    assert claims["nonce"] == started["nonce"]
    assert finished["id_token_header"]["alg"] in metadata["id_token_signing_alg_values_supported"]
    assert finished["id_token_header"]["alg"] == ("RS256" if auth == "client_secret_basic" else "ES256")
    assert finished["userinfo"]["sub"] == claims["sub"]  # fetchUserInfo also refuses a different sub
    assert finished["userinfo"]["name"] == YAMADA_NAME
    assert finished["userinfo"]["birthdate"] == YAMADA_BIRTHDATE
    assert "address" not in finished["userinfo"]  # only what the scopes asked for
    assert isinstance(claims["acr"], str)
    assert isinstance(claims["amr"], list)
    assert claims["amr"]


def test_a_website_built_for_the_agency_app_switches_by_its_issuer_url(world: OidcWorld) -> None:
    """Issue 16: the Digital Agency guideline's request, unchanged, gets the basic 4 information from xid."""
    rp = world.rps["shop"]
    started, finished, _ = openid_client_login(world, rp, AGENCY_SCOPE, acr_values="aal3 crl")
    assert set(AGENCY_SCOPE.split()) <= set(started["metadata"]["scopes_supported"])
    info = finished["userinfo"]
    assert info["name"] == YAMADA_NAME
    assert info["birthdate"] == YAMADA_BIRTHDATE
    address = info["address"]
    formatted = address["formatted"] if isinstance(address, dict) else address
    assert "東京都千代田区千代田" in formatted
    assert isinstance(info["gender"], str)
    assert info["gender"]
    assert finished["id_token_claims"]["acr"] in started["metadata"]["acr_values_supported"]


def test_verified_claims_say_how_the_identity_was_verified(world: OidcWorld) -> None:
    """OIDC4IDA through the ``claims`` parameter: jp_aml, the JPKI evidence, and only the verified claims asked."""
    rp = world.rps["bank"]
    verification = {"trust_framework": None, "time": None, "evidence": None}
    claims = {"id_token": {"verified_claims": {"verification": verification, "claims": {"birthdate": None}}}}
    started, finished, _ = openid_client_login(world, rp, "openid", claims=claims)
    metadata = started["metadata"]
    assert metadata["verified_claims_supported"] is True
    assert "jp_aml" in metadata["trust_frameworks_supported"]
    verified = finished["id_token_claims"]["verified_claims"]
    if isinstance(verified, list):
        (verified,) = verified
    assert verified["verification"]["trust_framework"] == "jp_aml"
    assert verified["verification"]["time"]
    (evidence,) = verified["verification"]["evidence"]
    assert evidence["type"] == "electronic_record"
    assert evidence["record"]["type"] == "jp_jpki_signature_certificate"
    assert verified["claims"] == {"birthdate": YAMADA_BIRTHDATE}  # nothing it did not ask for
    assert "name" not in finished["id_token_claims"]


def test_an_essential_acr_xid_cannot_meet_is_refused(world: OidcWorld) -> None:
    """OIDC Core §5.5.1.1: an essential ``acr`` the OP cannot satisfy ends the request with an error, no code."""
    rp = world.rps["shop"]
    claims = {"id_token": {"acr": {"essential": True, "values": ["urn:example:acr:unreachable"]}}}
    client = {"issuer": world.url, **rp.driver_fields(), "scope": "openid", "claims": claims}
    started = openid_client({"step": "start", **client})
    with Browser() as browser:
        landing = log_in(browser, started["url"], world.wallet, stop_at=rp.redirect_uri)
    assert landing.response is None
    answer = query_of(landing.url)
    assert answer["error"] in ("unmet_authentication_requirements", "access_denied")
    assert answer["state"] == started["state"]
    assert "code" not in answer
    refused = openid_client(
        {
            "step": "finish",
            **client,
            "callback_url": landing.url,
            "code_verifier": started["code_verifier"],
            "state": started["state"],
            "nonce": started["nonce"],
        },
        expect=1,
    )
    assert refused["oauth_error"] == answer["error"]


def test_the_sign_scope_is_refused_without_asking_the_wallet(world: OidcWorld) -> None:
    """Issue 16: ``sign`` is not silently ignored: ``invalid_scope`` (RFC 6749 §4.1.2.1), and no login page."""
    rp = world.rps["shop"]
    started = openid_client(
        {"step": "start", "issuer": world.url, **rp.driver_fields(), "scope": f"{AGENCY_SCOPE} sign"}
    )

    def never(request_url: str) -> Any:
        raise AssertionError(f"the wallet was asked for a refused request: {request_url}")

    with Browser() as browser:
        landing = log_in(browser, started["url"], never, stop_at=rp.redirect_uri)
    assert landing.response is None
    answer = query_of(landing.url)
    assert answer["error"] == "invalid_scope"
    assert answer["state"] == started["state"]
    assert "code" not in answer


# -- Authlib ---------------------------------------------------------------------------------------------------------


def authlib_login(
    world: OidcWorld, rp: RP, scope: str = "openid", *, cross_device: bool = False
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Authlib's OAuth2Client logs in with PKCE S256: (the token response, the ID token's header, its nonce)."""
    metadata = world.metadata
    nonce = generate_token(24)
    verifier = generate_token(64)
    with OAuth2Client(
        rp.client_id,
        rp.client_secret,
        scope=scope,
        redirect_uri=rp.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    ) as client:
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        with Browser() as browser:
            landing = log_in(browser, url, world.wallet, stop_at=rp.redirect_uri, cross_device=cross_device)
        assert landing.response is None, landing.url
        assert query_of(landing.url)["iss"] == world.url  # RFC 9207, checked by the website
        token: dict[str, Any] = dict(
            client.fetch_token(
                metadata["token_endpoint"], authorization_response=landing.url, code_verifier=verifier, state=state
            )
        )
    return token, _header(token["id_token"]), nonce


def _header(compact: str) -> dict[str, Any]:
    import base64

    head = compact.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return decoded


def check_id_token(world: OidcWorld, rp: RP, token: dict[str, Any], nonce: str) -> dict[str, Any]:
    """What a website does with the ID token: signature against the JWKS, then iss, aud, exp, nonce, at_hash."""
    keys = KeySet.import_key_set(httpx.get(world.metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=world.metadata["id_token_signing_alg_values_supported"])
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"values": [world.url]}},
        {"nonce": nonce, "client_id": rp.client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    return dict(decoded.claims)


def test_authlib_logs_in_and_checks_the_id_token(world: OidcWorld) -> None:
    rp = world.rps["shop"]
    token, header, nonce = authlib_login(world, rp, "openid name")
    assert token["token_type"].lower() == "bearer"
    assert header["kid"] in {key["kid"] for key in httpx.get(world.metadata["jwks_uri"], timeout=10).json()["keys"]}
    claims = check_id_token(world, rp, token, nonce)
    assert "at_hash" in claims  # validated against the access token by CodeIDToken
    info = httpx.get(
        world.metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["name"] == YAMADA_NAME  # a scope's claim: from userinfo (OpenID Connect Core §5.4)

    with pytest.raises(InvalidClaimError):  # a replayed token for another login's nonce
        check_id_token(world, rp, token, "another-login-nonce")
    head, body, signature = token["id_token"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(BadSignatureError):
        check_id_token(world, rp, {**token, "id_token": f"{head}.{body}.{flipped}"}, nonce)


def test_pairwise_sub_is_stable_for_one_rp_and_differs_between_sectors(world: OidcWorld) -> None:
    shop, bank = world.rps["shop"], world.rps["bank"]
    subs = []
    for rp, cross_device in ((shop, False), (shop, True), (bank, False)):  # the QR code or the same-device link
        token, _, nonce = authlib_login(world, rp, cross_device=cross_device)
        subs.append(check_id_token(world, rp, token, nonce)["sub"])
    assert subs[0] == subs[1]
    assert subs[0] != subs[2]
    assert "pairwise" in world.metadata["subject_types_supported"]
    assert all(re.fullmatch(r"[\x21-\x7e]{1,255}", sub) for sub in subs)


# -- the drivers on their own, against a reference OP ----------------------------------------------------------------


def test_the_openid_client_driver_against_a_reference_op(tmp_path: Path) -> None:
    """panva's oidc-provider: both client authentications pass, and a callback with another state is refused."""
    require_peers()
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-1", "alg": "ES256"}, private=True)
    secret = secrets.token_urlsafe(32)
    redirect = "https://shop.example.jp/cb"
    clients: list[dict[str, Any]] = [
        {"client_id": "basic", "client_secret": secret, "redirect_uris": [redirect], "subject_type": "pairwise"},
        {
            "client_id": "jwt",
            "redirect_uris": [redirect],
            "subject_type": "pairwise",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [key.as_dict(private=False)]},
        },
    ]
    fields: list[dict[str, Any]] = [
        {"client_id": "basic", "client_secret": secret},
        {"client_id": "jwt", "auth": "private_key_jwt", "private_jwk": key.as_dict(private=True)},
    ]
    with reference_op(clients) as issuer:
        for client in fields:
            request = {"issuer": issuer, **client, "redirect_uri": redirect, "scope": AGENCY_SCOPE}
            started = openid_client({"step": "start", **request})
            assert query_of(started["url"])["code_challenge_method"] == "S256"
            with Browser() as browser:
                landing = reference_login(browser, started["url"], issuer, stop_at=redirect)
            assert landing.response is None
            checks = {k: started[k] for k in ("code_verifier", "state", "nonce")}
            wrong = openid_client(
                {"step": "finish", **request, "callback_url": landing.url, **checks, "state": "another"}, expect=1
            )
            assert "state" in wrong["cause"]
            done = openid_client({"step": "finish", **request, "callback_url": landing.url, **checks})
            assert done["id_token_claims"]["iss"] == issuer
            assert done["userinfo"]["sub"] == done["id_token_claims"]["sub"]
            assert done["userinfo"]["birthdate"] == "1990-04-01"
