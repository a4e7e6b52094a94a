"""The OpenID4VCI 1.0 client's strictness, the CSR, and the CA answer checks (against the stand-in or a mock)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509

from did import KeyType, PublicKey, SoftwareSigner
from tests.helpers import serve
from tests.wallet.standin_issuer import StandinIssuer
from wallet.ca_client import build_csr, request_certificate
from wallet.errors import (
    InvalidOfferError,
    IssuerMismatchError,
    IssuerProtocolError,
    PreFinalShapeError,
    TxCodeMissingError,
)
from wallet.http import WalletHttp
from wallet.oid4vci import PRE_AUTHORIZED_GRANT, Oid4vciClient, offer_from_json, parse_offer, well_known_url

ISSUER = "https://issuer.example"
GRANT = {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "code"}}


def offer(**changes: Any) -> dict[str, Any]:
    """A valid offer with some members changed (None removes one)."""
    base: dict[str, Any] = {"credential_issuer": ISSUER, "credential_configuration_ids": ["a"], "grants": GRANT}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def mock(routes: dict[str, Any]) -> WalletHttp:
    """A WalletHttp whose client answers GETs from a path -> JSON map."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path in routes:
            return httpx.Response(200, json=routes[request.url.path])
        return httpx.Response(404, json={"error": "not_found"})

    return WalletHttp(httpx.Client(transport=httpx.MockTransport(handler)))


@pytest.fixture
def standin() -> Iterator[tuple[StandinIssuer, str]]:
    """The stand-in issuer, served."""
    issuer = StandinIssuer()
    with serve(issuer.app) as url:
        yield issuer, url


def test_offers_by_value_and_draft_shapes() -> None:
    assert offer_from_json(offer()).configuration_ids == ("a",)
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer()))
    assert parse_offer(uri, WalletHttp()).pre_authorized_code == "code"
    with pytest.raises(PreFinalShapeError, match="credentials"):
        offer_from_json(offer(credential_configuration_ids=None, credentials=["a"]))
    with pytest.raises(PreFinalShapeError, match="user_pin_required"):
        offer_from_json(offer(grants={PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "c", "user_pin_required": True}}))
    with pytest.raises(InvalidOfferError, match="https"):
        offer_from_json(offer(credential_issuer="http://issuer.example"))
    with pytest.raises(InvalidOfferError, match="pre-authorized"):
        offer_from_json(offer(grants={"authorization_code": {}}))
    with pytest.raises(InvalidOfferError, match="exactly one"):
        parse_offer(uri + "&credential_offer_uri=https%3A%2F%2Fx.example", WalletHttp())
    with pytest.raises(InvalidOfferError, match="openid-credential-offer"):
        parse_offer("ftp://x?credential_offer=%7B%7D", WalletHttp())


def test_well_known_urls_insert_before_the_path() -> None:
    assert well_known_url("https://h.example/tenant", "openid-credential-issuer") == (
        "https://h.example/.well-known/openid-credential-issuer/tenant"
    )
    assert well_known_url("https://h.example", "oauth-authorization-server") == (
        "https://h.example/.well-known/oauth-authorization-server"
    )


def _metadata(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "credential_issuer": ISSUER,
        "credential_endpoint": f"{ISSUER}/credential",
        "credential_configurations_supported": {"a": {"format": "dc+sd-jwt", "vct": "https://x.example/t"}},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


AS = {"issuer": ISSUER, "token_endpoint": f"{ISSUER}/token"}


@pytest.mark.parametrize(
    ("metadata", "error", "match"),
    [
        (_metadata(credential_issuer=ISSUER + "/"), IssuerMismatchError, "discarded"),
        (_metadata(credential_configurations_supported=None, credentials_supported=[]), PreFinalShapeError, "draft"),
        (
            _metadata(credential_configurations_supported={"a": {"format": "vc+sd-jwt"}}),
            PreFinalShapeError,
            "vc\\+sd-jwt",
        ),
        (_metadata(credential_endpoint="http://issuer.example/credential"), IssuerProtocolError, "https"),
    ],
)
def test_metadata_is_checked(metadata: dict[str, Any], error: type[Exception], match: str) -> None:
    http = mock({"/.well-known/openid-credential-issuer": metadata, "/.well-known/oauth-authorization-server": AS})
    client = Oid4vciClient(http, SoftwareSigner.generate(KeyType.P256))
    with pytest.raises(error, match=match):
        client.metadata(ISSUER)


def test_good_metadata_passes() -> None:
    http = mock({"/.well-known/openid-credential-issuer": _metadata(), "/.well-known/oauth-authorization-server": AS})
    metadata = Oid4vciClient(http, SoftwareSigner.generate(KeyType.P256)).metadata(ISSUER)
    assert metadata.token_endpoint == f"{ISSUER}/token"
    assert metadata.nonce_endpoint is None


def _redeem(standin: StandinIssuer, url: str, holder: SoftwareSigner, tx_code: str | None) -> list[str]:
    made, _ = standin.make_offer(url)
    client = Oid4vciClient(WalletHttp(), holder)
    return [c.format for c in client.redeem(offer_from_json(made), tx_code).credentials]


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.ED25519])
def test_redeem_with_either_key_type(standin: tuple[StandinIssuer, str], key_type: KeyType) -> None:
    issuer, url = standin
    formats = _redeem(issuer, url, SoftwareSigner.generate(key_type), issuer.behaviour.tx_code)
    assert formats == ["dc+sd-jwt", "jwt_vc_json"]
    assert all(nonce not in issuer.state.nonces for nonce in issuer.state.proof_nonces)  # each nonce was used once
    assert "stale" not in issuer.state.proof_nonces  # the token response's c_nonce is ignored


def test_a_needed_tx_code_must_be_given(standin: tuple[StandinIssuer, str]) -> None:
    issuer, url = standin
    with pytest.raises(TxCodeMissingError):
        _redeem(issuer, url, SoftwareSigner.generate(KeyType.P256), None)


def test_a_credential_bound_to_another_key_is_refused(
    standin: tuple[StandinIssuer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, url = standin
    stranger = PublicKey.from_jwk(SoftwareSigner.generate(KeyType.P256).public_jwk)
    original: Callable[[str, PublicKey, str], str] = issuer._issue
    monkeypatch.setattr(issuer, "_issue", lambda config, key, base: original(config, stranger, base))
    with pytest.raises(IssuerProtocolError, match="bound to another key"):
        _redeem(issuer, url, SoftwareSigner.generate(KeyType.P256), issuer.behaviour.tx_code)


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.ED25519])
def test_the_csr_is_signed_by_the_holder_key(key_type: KeyType) -> None:
    holder = SoftwareSigner.generate(key_type)
    csr = x509.load_der_x509_csr(build_csr(holder))
    assert csr.is_signature_valid
    assert PublicKey.from_cryptography(csr.public_key()) == holder.public_key  # type: ignore[arg-type]


def test_a_certificate_for_another_key_is_refused(
    standin: tuple[StandinIssuer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, url = standin
    holder = SoftwareSigner.generate(KeyType.P256)
    other = SoftwareSigner.generate(KeyType.P256)
    made, _ = issuer.make_offer(url)
    client = Oid4vciClient(WalletHttp(), holder)
    token = client.token(client.metadata(url), offer_from_json(made), issuer.behaviour.tx_code)
    monkeypatch.setattr("wallet.ca_client.build_csr", lambda _: build_csr(other))
    with pytest.raises(IssuerProtocolError, match="another key"):
        request_certificate(WalletHttp(), url, token, holder, "signing")
    monkeypatch.undo()
    issued = request_certificate(WalletHttp(), url, token, holder, "signing")
    assert issued.chain[0] == issuer.ca_cert


def test_a_card_signature_that_does_not_verify_is_not_sent(standin: tuple[StandinIssuer, str]) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from wallet.enroll import enroll
    from wallet.errors import CardCheckError

    issuer, url = standin
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "card")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    signed: list[bytes] = []

    def card_sign(message: bytes) -> tuple[bytes, x509.Certificate]:
        signed.append(message)
        from cryptography.hazmat.primitives.asymmetric import padding

        return key.sign(message + b"x", padding.PKCS1v15(), hashes.SHA256()), cert  # over other bytes

    holder = SoftwareSigner.generate(KeyType.P256)
    with pytest.raises(CardCheckError, match="does not check"):
        enroll(WalletHttp(), url, holder, card_sign, progress=lambda _: None)
    (nonce,) = issuer.state.challenges
    assert signed == [b"xid-enroll-v1" + nonce.encode() + holder.public_key.thumbprint().encode()]
    assert issuer.state.enrolled_certificates == []


def test_an_sd_jwt_vc_signed_by_another_key_is_refused(
    standin: tuple[StandinIssuer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, url = standin
    original: Callable[[str, PublicKey, str], str] = issuer._issue
    honest = issuer.signer
    rogue = SoftwareSigner.generate(KeyType.P256).with_key_id(honest.key_id)  # same kid, other key

    def rogue_issue(config: str, key: PublicKey, base: str) -> str:
        issuer.signer = rogue
        try:
            return original(config, key, base)
        finally:
            issuer.signer = honest

    monkeypatch.setattr(issuer, "_issue", rogue_issue)
    with pytest.raises(IssuerProtocolError, match="the SD-JWT VC does not verify"):
        _redeem(issuer, url, SoftwareSigner.generate(KeyType.P256), issuer.behaviour.tx_code)
    assert issuer.state.notifications == []  # not acknowledged


@pytest.mark.parametrize("code", ["12", "49381a"])
def test_a_malformed_tx_code_is_not_sent(standin: tuple[StandinIssuer, str], code: str) -> None:
    from wallet.errors import TxCodeFormatError

    issuer, url = standin
    made, _ = issuer.make_offer(url)
    with pytest.raises(TxCodeFormatError):
        Oid4vciClient(WalletHttp(), SoftwareSigner.generate(KeyType.P256)).redeem(offer_from_json(made), code)
    assert not any(grant["used"] for grant in issuer.state.codes.values())
    assert issuer.state.tokens == set()


def test_a_credential_that_cannot_be_stored_is_reported_as_a_failure(standin: tuple[StandinIssuer, str]) -> None:
    from wallet.errors import WalletWriteError

    issuer, url = standin
    made, _ = issuer.make_offer(url)

    def cannot_store(_: object) -> None:
        raise WalletWriteError("disk full")

    client = Oid4vciClient(WalletHttp(), SoftwareSigner.generate(KeyType.P256))
    with pytest.raises(WalletWriteError):
        client.redeem(offer_from_json(made), issuer.behaviour.tx_code, on_credential=cannot_store)
    assert [n["event"] for n in issuer.state.notifications] == ["credential_failure"]
    assert issuer.state.requests == ["xid_identity_sd_jwt"]  # stopped at the first
