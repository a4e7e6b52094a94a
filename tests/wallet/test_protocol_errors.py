"""Every way an issuer's answer can break OpenID4VCI 1.0 gets a clear wallet error (a scripted mock issuer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from did import KeyType, SoftwareSigner, did_jwk
from foundation.b64 import b64url_decode
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from wallet.errors import (
    InvalidOfferError,
    IssuerMismatchError,
    IssuerProtocolError,
    IssuerRefusedError,
    IssuerUnreachableError,
    PreFinalShapeError,
    WalletError,
)
from wallet.http import WalletHttp, one_line
from wallet.oid4vci import PRE_AUTHORIZED_GRANT, Oid4vciClient, offer_from_json

ISSUER = "https://issuer.example"
HOLDER = SoftwareSigner.generate(KeyType.P256)
SUBJECT = did_jwk.create(HOLDER.public_jwk)
PROOF = {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}}


def jwt(payload: dict[str, Any], typ: str = "JWT") -> str:
    """A JWT signed by some key (the wallet does not check W3C-format issuer signatures at receipt)."""
    signer = SoftwareSigner.generate(KeyType.P256)
    return encode_compact({"typ": typ, "alg": "ES256"}, compact_json(payload), signer.sign)


def configuration(fmt: str = "jwt_vc_json", **extra: Any) -> dict[str, Any]:
    """A bound configuration."""
    return {"format": fmt, "cryptographic_binding_methods_supported": ["jwk"], "proof_types_supported": PROOF, **extra}


class MockIssuer:
    """Answers each path from a table; the credential answer and the configuration are per test."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = configuration()
        self.credential: Any = {"credentials": [{"credential": jwt({"sub": SUBJECT, "exp": 2_000_000_000})}]}
        self.overrides: dict[str, httpx.Response] = {}
        self.seen: list[httpx.Request] = []

    def metadata(self) -> dict[str, Any]:
        """The issuer metadata."""
        return {
            "credential_issuer": ISSUER,
            "credential_endpoint": f"{ISSUER}/credential",
            "nonce_endpoint": f"{ISSUER}/nonce",
            "credential_configurations_supported": {"c": self.config},
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The scripted answer."""
        self.seen.append(request)
        path = request.url.path
        if path in self.overrides:
            return self.overrides[path]
        answers: dict[str, Any] = {
            "/.well-known/openid-credential-issuer": self.metadata(),
            "/.well-known/oauth-authorization-server": {"issuer": ISSUER, "token_endpoint": f"{ISSUER}/token"},
            "/token": {"access_token": "at", "token_type": "Bearer"},
            "/nonce": {"c_nonce": "n"},
            "/credential": self.credential,
        }
        return httpx.Response(200, json=answers[path]) if path in answers else httpx.Response(404)

    def redeem(self) -> list[Any]:
        """Redeem a one-configuration offer."""
        http = WalletHttp(httpx.Client(transport=httpx.MockTransport(self.handle)))
        offer = offer_from_json(
            {
                "credential_issuer": ISSUER,
                "credential_configuration_ids": ["c"],
                "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "code"}},
            }
        )
        return Oid4vciClient(http, HOLDER).redeem(offer, None).credentials


def respond(status: int, body: Any = None, **headers: str) -> httpx.Response:
    """A response with a JSON body (or raw bytes)."""
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


Setup = Callable[[MockIssuer], object]


def set_credential(value: Any) -> Setup:
    """Make the credential endpoint answer ``value``."""
    return lambda mock: setattr(mock, "credential", value)


def one(credential: Any) -> Setup:
    """Make the credential endpoint answer one credential."""
    return set_credential({"credentials": [{"credential": credential}]})


def set_config(**changes: Any) -> Setup:
    """Change the configuration."""
    return lambda mock: mock.config.update(changes)


def override(path: str, response: httpx.Response) -> Setup:
    """Answer a path with a fixed response."""
    return lambda mock: mock.overrides.__setitem__(path, response)


CASES: list[tuple[str, Setup, type[WalletError], str]] = [
    ("deferred", set_credential({"transaction_id": "t", "interval": 5}), IssuerProtocolError, "defers"),
    ("no credentials", set_credential({"notification_id": "x"}), IssuerProtocolError, "has no credentials"),
    ("empty list", set_credential({"credentials": []}), IssuerProtocolError, "array of one object"),
    ("two", set_credential({"credentials": [{"credential": "a"}, {"credential": "b"}]}), IssuerProtocolError, "one"),
    ("number", one(7), IssuerProtocolError, "neither a string nor an object"),
    (
        "notification id",
        set_credential({"credentials": [{"credential": jwt({"sub": SUBJECT})}], "notification_id": 3}),
        IssuerProtocolError,
        "notification_id",
    ),
    ("ldp not object", lambda m: (set_config(format="ldp_vc")(m), one("x")(m)), IssuerProtocolError, "JSON object"),
    ("jwt not string", one({"a": 1}), IssuerProtocolError, "is a string"),
    ("not a jwt", one("abc"), IssuerProtocolError, "compact JWS"),
    ("unbound", one(jwt({"iss": ISSUER})), IssuerProtocolError, "not bound to any key"),
    (
        "other key",
        one(jwt({"sub": did_jwk.create(SoftwareSigner.generate(KeyType.P256).public_jwk)})),
        IssuerProtocolError,
        "another key",
    ),
    (
        "sd-jwt without tilde",
        lambda m: (set_config(format="dc+sd-jwt")(m), one(jwt({}, "dc+sd-jwt"))(m)),
        IssuerProtocolError,
        "ends with '~'",
    ),
    (
        "vc+sd-jwt typ",
        lambda m: (set_config(format="dc+sd-jwt")(m), one(jwt({}, "vc+sd-jwt") + "~")(m)),
        PreFinalShapeError,
        "vc\\+sd-jwt",
    ),
    (
        "sd-jwt wrong typ",
        lambda m: (set_config(format="dc+sd-jwt")(m), one(jwt({"iss": ISSUER}, "JWT") + "~")(m)),
        IssuerProtocolError,
        "does not verify",
    ),
    (
        "binding by did:key only",
        set_config(cryptographic_binding_methods_supported=["did:key"]),
        IssuerProtocolError,
        "binds only",
    ),
    (
        "proof alg",
        set_config(proof_types_supported={"jwt": {"proof_signing_alg_values_supported": ["RS256"]}}),
        IssuerProtocolError,
        "RS256",
    ),
    ("no jwt proofs", set_config(proof_types_supported={"di_vp": {}}), IssuerProtocolError, "no jwt proof"),
    (
        "token type",
        override("/token", respond(200, {"access_token": "a", "token_type": "mac"})),
        IssuerProtocolError,
        "Bearer",
    ),
    ("no token", override("/token", respond(200, {"token_type": "Bearer"})), IssuerProtocolError, "access_token"),
    ("no c_nonce", override("/nonce", respond(200, {})), IssuerProtocolError, "c_nonce"),
    (
        "html",
        override("/nonce", respond(200, b"<html>", **{"content-type": "text/html"})),
        IssuerProtocolError,
        "text/html",
    ),
    (
        "not json",
        override("/nonce", respond(200, b"{", **{"content-type": "application/json"})),
        IssuerProtocolError,
        "JSON",
    ),
    (
        "redirect",
        override("/token", respond(302, b"", location="https://elsewhere.example")),
        IssuerProtocolError,
        "redirect",
    ),
    ("server error", override("/token", respond(500, b"oops")), IssuerRefusedError, "500 no error code"),
    ("odd status", override("/token", respond(299, b"")), IssuerProtocolError, "unexpected HTTP status 299"),
    (
        "too large",
        override(
            "/nonce", respond(200, b"[" + b" " * (1024 * 1024 + 1) + b"]", **{"content-type": "application/json"})
        ),
        IssuerUnreachableError,
        "the limit is 1048576",
    ),
    (
        "AS for another issuer",
        override("/.well-known/oauth-authorization-server", respond(200, {"issuer": "https://as.example"})),
        IssuerMismatchError,
        "as.example",
    ),
    (
        "configurations not a map",
        lambda m: m.overrides.__setitem__(
            "/.well-known/openid-credential-issuer",
            respond(200, {**m.metadata(), "credential_configurations_supported": ["c"]}),
        ),
        IssuerProtocolError,
        "map of objects",
    ),
    (
        "authorization servers",
        lambda m: m.overrides.__setitem__(
            "/.well-known/openid-credential-issuer", respond(200, {**m.metadata(), "authorization_servers": "x"})
        ),
        IssuerProtocolError,
        "authorization_servers",
    ),
    (
        "offered id missing",
        lambda m: m.overrides.__setitem__(
            "/.well-known/openid-credential-issuer",
            respond(200, {**m.metadata(), "credential_configurations_supported": {"other": m.config}}),
        ),
        IssuerProtocolError,
        "lacks",
    ),
]


@pytest.mark.parametrize(("setup", "error", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_broken_answer_is_a_clear_error(setup: Setup, error: type[WalletError], match: str) -> None:
    mock = MockIssuer()
    setup(mock)
    with pytest.raises(error, match=match) as caught:
        mock.redeem()
    assert "\n" not in caught.value.message


def test_the_mock_issuer_is_otherwise_fine() -> None:
    mock = MockIssuer()
    (received,) = mock.redeem()
    assert received.valid_until is not None
    assert received.valid_until.year == 2033
    proof = json.loads(mock.seen[-1].content)["proofs"]["jwt"][0]
    assert proof.count(".") == 2


def test_a_did_jwk_binding_and_an_unknown_format() -> None:
    mock = MockIssuer()
    mock.config = configuration("mso_mdoc", cryptographic_binding_methods_supported=["did:jwk"])
    mock.credential = {"credentials": [{"credential": "b64-cbor"}]}
    (received,) = mock.redeem()
    assert (received.format, received.credential, received.valid_until) == ("mso_mdoc", "b64-cbor", None)
    sent = json.loads(mock.seen[-1].content)["proofs"]["jwt"][0]
    header = json.loads(b64url_decode(sent.split(".")[0]))
    assert header["kid"] == SUBJECT + "#0"
    assert "jwk" not in header


def test_a_separate_authorization_server() -> None:
    mock = MockIssuer()
    original = mock.metadata
    mock.metadata = lambda: {**original(), "authorization_servers": ["https://as.example"]}  # type: ignore[method-assign]
    mock.overrides["/.well-known/oauth-authorization-server"] = respond(
        200, {"issuer": "https://as.example", "token_endpoint": "https://as.example/token"}
    )
    assert len(mock.redeem()) == 1
    assert any(r.url.host == "as.example" and r.url.path == "/token" for r in mock.seen)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([], "not a JSON object"),
        ({"credential_configuration_ids": ["a"]}, "credential_issuer"),
        ({"credential_issuer": ISSUER + "?x=1", "credential_configuration_ids": ["a"]}, "query"),
        ({"credential_issuer": ISSUER, "credential_configuration_ids": []}, "non-empty"),
        ({"credential_issuer": ISSUER, "credential_configuration_ids": ["a", "a"]}, "repeats"),
        (
            {
                "credential_issuer": ISSUER,
                "credential_configuration_ids": ["a"],
                "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "c", "tx_code": 1}},
            },
            "tx_code",
        ),
        (
            {"credential_issuer": ISSUER, "credential_configuration_ids": ["a"], "grants": {PRE_AUTHORIZED_GRANT: {}}},
            "pre-authorized_code",
        ),
    ],
)
def test_malformed_offers(value: Any, match: str) -> None:
    with pytest.raises(InvalidOfferError, match=match):
        offer_from_json(value)


def test_one_line_keeps_server_text_short_and_flat() -> None:
    assert one_line("a\r\nb\u2028c\x1b[31m") == "a b c [31m"
    assert len(one_line("x" * 1000)) == 300


SD_SIGNER = SoftwareSigner.generate(KeyType.P256)


def sd_jwt_credential(iss: str | None = ISSUER, vct: str = "https://x.example/t", kid: str | None = None) -> str:
    """A real SD-JWT VC for the holder, signed by SD_SIGNER."""
    from vc import sd_jwt

    claims: dict[str, Any] = {"vct": vct, "name": sd_jwt.SD("n"), "exp": 2_000_000_000}
    if iss is not None:
        claims["iss"] = iss
    signer = SD_SIGNER if kid is None else SD_SIGNER.with_key_id(kid)
    return sd_jwt.issue(claims, signer, holder_jwk=HOLDER.public_jwk)


def sd_mock(credential: str, metadata: dict[str, Any] | None = None) -> MockIssuer:
    """A mock issuer of one SD-JWT VC configuration with JWT VC issuer metadata."""
    mock = MockIssuer()
    mock.config = configuration("dc+sd-jwt", vct="https://x.example/t")
    mock.credential = {"credentials": [{"credential": credential}]}
    jwks = {"keys": [{**SD_SIGNER.public_jwk, "kid": SD_SIGNER.key_id}]}
    mock.overrides["/.well-known/jwt-vc-issuer"] = respond(200, metadata or {"issuer": ISSUER, "jwks": jwks})
    return mock


def test_sd_jwt_vcs_from_an_https_and_a_did_issuer() -> None:
    (received,) = sd_mock(sd_jwt_credential()).redeem()
    assert received.valid_until is not None
    did = did_jwk.create(SD_SIGNER.public_jwk)
    (from_did,) = sd_mock(sd_jwt_credential(iss=did, kid=did + "#0")).redeem()
    assert from_did.format == "dc+sd-jwt"


@pytest.mark.parametrize(
    ("credential", "metadata", "match"),
    [
        (sd_jwt_credential(iss=None), None, "no iss"),
        (sd_jwt_credential(iss=did_jwk.create(SD_SIGNER.public_jwk)), None, "kid under that DID"),
        (sd_jwt_credential(vct="https://other.example/t"), None, "vct is not the configuration's"),
        (sd_jwt_credential(), {"issuer": "https://other.example", "jwks": {"keys": []}}, "not for this iss"),
        (sd_jwt_credential(), {"issuer": ISSUER, "jwks": {"keys": []}}, "no single key"),
    ],
)
def test_sd_jwt_vcs_whose_issuer_key_cannot_be_found(credential: str, metadata: Any, match: str) -> None:
    with pytest.raises(IssuerProtocolError, match=match):
        sd_mock(credential, metadata).redeem()


def test_an_ldp_vc_bound_to_a_did_key_and_its_validity() -> None:
    from did import did_key

    mock = MockIssuer()
    mock.config = configuration("ldp_vc")
    subject = did_key.create(HOLDER.public_key)
    credential = {"credentialSubject": {"id": subject}, "validUntil": "2030-01-01T00:00:00Z", "proof": {}}
    mock.credential = {"credentials": [{"credential": credential}]}
    (received,) = mock.redeem()
    assert received.valid_until is not None
    assert received.valid_until.year == 2030


def test_no_nonce_endpoint_and_a_failed_notification() -> None:
    mock = MockIssuer()
    original = mock.metadata
    mock.metadata = lambda: {  # type: ignore[method-assign]
        **{k: v for k, v in original().items() if k != "nonce_endpoint"},
        "notification_endpoint": f"{ISSUER}/notification",
    }
    mock.credential = {**mock.credential, "notification_id": "n1"}
    mock.overrides["/notification"] = respond(400, {"error": "invalid_notification_id"})
    http = WalletHttp(httpx.Client(transport=httpx.MockTransport(mock.handle)))
    offer = offer_from_json(
        {
            "credential_issuer": ISSUER,
            "credential_configuration_ids": ["c"],
            "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "code"}},
        }
    )
    notes: list[str] = []
    (received,) = Oid4vciClient(http, HOLDER).redeem(offer, None, progress=notes.append).credentials
    assert received.notification_id == "n1"
    assert any(
        n.startswith("warning: the notification: the issuer answered 400 invalid_notification_id") for n in notes
    )
    proof = json.loads(mock.seen[-2].content)["proofs"]["jwt"][0]
    assert "nonce" not in json.loads(b64url_decode(proof.split(".")[1]))
    assert not any(r.url.path == "/nonce" for r in mock.seen)


def test_a_configuration_without_a_format() -> None:
    mock = MockIssuer()
    mock.config = {"proof_types_supported": PROOF}
    with pytest.raises(IssuerProtocolError, match="has no format"):
        mock.redeem()
