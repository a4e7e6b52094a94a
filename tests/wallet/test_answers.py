"""The enrollment and CA answers a wallet refuses, and offers it refuses to read (scripted mock answers)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from did import KeyType, SoftwareSigner
from wallet.ca_client import build_csr, request_certificate
from wallet.enroll import enroll
from wallet.errors import InvalidOfferError, IssuerProtocolError, IssuerRefusedError
from wallet.http import WalletHttp
from wallet.oid4vci import PRE_AUTHORIZED_GRANT, parse_offer

ISSUER = "https://issuer.example"
HOLDER = SoftwareSigner.generate(KeyType.P256)
OFFER = {
    "credential_issuer": ISSUER,
    "credential_configuration_ids": ["a"],
    "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": "c"}},
}
CARD_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(subject: str, key: Any, issuer_key: Any, issuer: str | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)]))
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(issuer_key, hashes.SHA256())
    )


CARD_CERT = _certificate("card", CARD_KEY.public_key(), CARD_KEY)


def card_sign(message: bytes) -> tuple[bytes, x509.Certificate]:
    """A card that signs correctly."""
    return CARD_KEY.sign(message, padding.PKCS1v15(), hashes.SHA256()), CARD_CERT


def http(answers: dict[str, Any]) -> WalletHttp:
    """A WalletHttp whose POSTs and GETs are answered from a path -> JSON map."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201 if request.method == "POST" else 200, json=answers[request.url.path])

    return WalletHttp(httpx.Client(transport=httpx.MockTransport(handler)))


def enrollment(**changes: Any) -> dict[str, Any]:
    """An enrollment answer with some members changed (None removes one)."""
    answer: dict[str, Any] = {
        "credential_offer": OFFER,
        "credential_offer_uri": "openid-credential-offer://?credential_offer=" + quote(json.dumps(OFFER)),
        "credential_offer_reference": "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fx",
        "tx_code": None,
        "expires_in": 600,
    }
    answer.update(changes)
    return {k: v for k, v in answer.items() if v is not None or k == "tx_code"}


def run_enroll(challenge: Any, answer: Any, issuer: str = ISSUER) -> Any:
    """Enroll against scripted answers."""
    client = http({"/enroll/challenge": challenge, "/enroll": answer})
    return enroll(client, issuer, HOLDER, card_sign, progress=lambda _: None)


def test_a_good_enrollment_answer() -> None:
    got = run_enroll({"nonce": "n", "expires_in": 60}, enrollment(tx_code="1234"))
    assert (got.tx_code, got.expires_in, got.offer.credential_issuer) == ("1234", 600, ISSUER)
    assert run_enroll({"nonce": "n"}, enrollment(credential_offer_reference=None)).offer_reference is None


@pytest.mark.parametrize(
    ("challenge", "answer", "match"),
    [
        ({}, enrollment(), "no nonce"),
        ({"nonce": "ä"}, enrollment(), "no nonce"),
        ({"nonce": "x" * 513}, enrollment(), "no nonce"),
        ({"nonce": "n"}, enrollment(credential_offer_uri="https://x"), "credential_offer_uri"),
        ({"nonce": "n"}, enrollment(credential_offer_reference=5), "credential_offer_reference"),
        ({"nonce": "n"}, enrollment(tx_code=""), "tx_code"),
        ({"nonce": "n"}, enrollment(credential_offer={"credentials": []}), "draft"),
    ],
)
def test_broken_enrollment_answers(challenge: Any, answer: Any, match: str) -> None:
    with pytest.raises(IssuerProtocolError, match=match):
        run_enroll(challenge, answer)


def test_an_offer_for_another_issuer_is_noted() -> None:
    other = {**OFFER, "credential_issuer": "https://other.example"}
    notes: list[str] = []
    client = http({"/enroll/challenge": {"nonce": "n"}, "/enroll": enrollment(credential_offer=other)})
    enroll(client, ISSUER + "/", HOLDER, card_sign, progress=notes.append)
    assert "note: the offer's issuer is https://other.example" in notes


def test_offers_by_reference_and_their_limits() -> None:
    client = http({"/offers/1": OFFER})
    uri = "openid-credential-offer://?credential_offer_uri=" + quote(f"{ISSUER}/offers/1")
    assert parse_offer(uri, client).credential_issuer == ISSUER
    assert parse_offer(f"https://wallet.example/?credential_offer_uri={quote(ISSUER + '/offers/1')}", client)
    for bad, match in [
        ("openid-credential-offer://?credential_offer_uri=http%3A%2F%2Fx.example%2Fo", "https"),
        (uri + "&credential_offer_uri=x", "more than once"),
        ("openid-credential-offer://?credential_offer=%7B%7D&credential_offer=%7B%7D", "more than once"),
        ("openid-credential-offer://?credential_offer=" + "x" * 20000, "longer"),
        ("openid-credential-offer://?credential_offer=not-json", "JSON"),
    ]:
        with pytest.raises(InvalidOfferError, match=match):
            parse_offer(bad, client)


CA_KEY = ec.generate_private_key(ec.SECP256R1())
ROOT = _certificate("root", CA_KEY.public_key(), CA_KEY)
PEM = Encoding.PEM


def _holder_certificate(holder_key: Any = None, signer: Any = CA_KEY) -> str:
    key = holder_key or x509.load_der_x509_csr(build_csr(HOLDER)).public_key()
    return _certificate("holder", key, signer, "root").public_bytes(PEM).decode()


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"certificate": 1, "chain": []}, "not a PEM string"),
        ({"certificate": "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"}, "not a PEM certificate"),
        ({"certificate": _holder_certificate()}, "no chain"),
        ({"certificate": _holder_certificate(), "chain": ["x"]}, "a chain certificate is not a PEM"),
        (
            {
                "certificate": _holder_certificate(signer=ec.generate_private_key(ec.SECP256R1())),
                "chain": [ROOT.public_bytes(PEM).decode()],
            },
            "not signed by the chain",
        ),
    ],
)
def test_broken_ca_answers(answer: dict[str, Any], match: str) -> None:
    with pytest.raises(IssuerProtocolError, match=match):
        request_certificate(http({"/ca/certificates": answer}), ISSUER, "token", HOLDER, "signing")


def test_a_good_ca_answer_and_bad_arguments() -> None:
    answer = {"certificate": _holder_certificate(), "chain": [ROOT.public_bytes(PEM).decode()]}
    issued = request_certificate(http({"/ca/certificates": answer}), ISSUER, "token", HOLDER, "authentication")
    pem, chain = issued.pem()
    assert pem == answer["certificate"]
    assert chain == answer["chain"]
    with pytest.raises(ValueError, match="usage"):
        request_certificate(http({}), ISSUER, "token", HOLDER, "encryption")
    with pytest.raises(ValueError, match="ES256 or EdDSA"):
        build_csr(SoftwareSigner.generate(KeyType.P384))


def test_an_error_answer_without_json_is_still_one_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=b"<h1>down\nfor maintenance</h1>", headers={"content-type": "text/html"})

    client = WalletHttp(httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(IssuerRefusedError) as caught:
        client.get_json(f"{ISSUER}/x", "the probe")
    assert caught.value.message == "the probe: the issuer answered 503 no error code"
    assert caught.value.status == 503
