from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from foundation.b64 import b64url_encode
from jpki_bridge import profile
from jpki_bridge.revocation import (
    DEFAULT_MAX_RESPONSE_AGE,
    PLATFORM_JWS_TYPE,
    PLATFORM_STATUS_PATH,
    CertificateRevokedError,
    CrlProvider,
    CrlSignatureError,
    NonceMismatchError,
    OcspProvider,
    OcspSignatureError,
    OcspSignerNotValidError,
    PlatformOperatorProvider,
    PlatformSignatureError,
    RevocationError,
    RevocationOutcome,
    RevocationResponseError,
    RevocationStatusUnknownError,
    RevocationUnavailableError,
    StaleCrlError,
    StaleOcspError,
    StalePlatformResponseError,
    UncheckedProvider,
    decode_platform_response,
    encode_platform_response,
    issuer_hashes,
)
from jpki_bridge.testca import TREES, CardIdentity, Person, RootGeneration, TestCA
from jpki_bridge.trust import validate_chain
from tests.helpers import CRYPTOGRAPHY_WARNINGS, load_person, mutations, serve

API_KEY = "test-api-key-not-a-secret"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Served:
    ca: TestCA
    url: str
    platform_key: ed25519.Ed25519PrivateKey


def platform_app(ca: TestCA, key: ed25519.Ed25519PrivateKey) -> Starlette:
    """The reference platform-operator server for the JSON API documented in jpki_bridge.revocation."""

    async def status(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": "unauthorized", "error_description": "missing or wrong API key"}, 401)
        body = await request.body()
        if len(body) > 4096:
            return JSONResponse({"error": "invalid_request", "error_description": "body too large"}, 413)
        try:
            query = json.loads(body)
            serial = int(query["serial_number"], 16)
            hashes_asked = (bytes.fromhex(query["issuer_name_hash"]), bytes.fromhex(query["issuer_key_hash"]))
            nonce = query["nonce"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "invalid_request", "error_description": "malformed query"}, 400)
        roots = [r for tree in TREES for r in ca.roots(tree)]
        root = next((r for r in roots if issuer_hashes(r.cert, hashes.SHA256()) == hashes_asked), None)
        if root is None:
            return JSONResponse({"error": "unknown_issuer", "error_description": "not a JPKI root"}, 404)
        moment = now()
        state = ca.status(root, serial, moment)
        payload: dict[str, object] = {
            "serial_number": query["serial_number"],
            "issuer_name_hash": query["issuer_name_hash"],
            "issuer_key_hash": query["issuer_key_hash"],
            "nonce": nonce,
            "status": state.status,
            "this_update": int(moment.timestamp()),
            "next_update": int(moment.timestamp()) + 3600,
        }
        if state.revocation_time is not None:
            payload["revocation_time"] = int(state.revocation_time.timestamp())
        if state.reason is not None:
            payload["revocation_reason"] = state.reason.value
        return Response(encode_platform_response(payload, key), media_type="application/jwt")

    return Starlette(routes=[Route(PLATFORM_STATUS_PATH, status, methods=["POST"])])


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A dedicated TEST CA behind a real uvicorn server: OCSP, CRLs and the platform-operator API."""
    ca = TestCA.create()
    key = ed25519.Ed25519PrivateKey.generate()
    app = Starlette(routes=[Mount("/platform", app=platform_app(ca, key)), Mount("", app=ca.http_app())])
    with serve(app) as url:
        ca.base_url = url
        yield Served(ca, url, key)


@pytest.fixture
def card(served: Served) -> CardIdentity:
    return served.ca.issue(load_person("yamada"))


def unissued(root: RootGeneration) -> x509.Certificate:
    """A certificate signed by a real root key, with a serial the CA never recorded."""
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST unissued")]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - dt.timedelta(days=1))
        .not_valid_after(now() + dt.timedelta(days=1))
        .sign(root.key, hashes.SHA256())
    )


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


# -- OCSP over the real local server -----------------------------------------------------------------------------------


def test_ocsp_over_http_good_then_revoked(served: Served, card: CardIdentity) -> None:
    provider = OcspProvider()  # the responder URL comes from the certificate's AIA
    outcome = provider.check(card.sign_cert, card.sign_ca, now())
    assert outcome.checked
    assert outcome.mode == "ocsp"
    assert outcome.status == "good"
    assert outcome.source == f"{served.url}/ocsp"
    assert "not revoked" in outcome.description
    when = now().replace(microsecond=0)
    served.ca.revoke(card.sign_cert, x509.ReasonFlags.key_compromise, when)
    with pytest.raises(CertificateRevokedError) as caught:
        provider.check(card.sign_cert, card.sign_ca, when + dt.timedelta(seconds=1))
    assert caught.value.reason is x509.ReasonFlags.key_compromise
    assert caught.value.revocation_time == when
    assert caught.value.code == "certificateRevoked"
    # A revocation after the validation time does not count: the certificate was good then.
    assert provider.check(card.sign_cert, card.sign_ca, when - dt.timedelta(minutes=10)).checked


def test_ocsp_unknown_serial(served: Served) -> None:
    root = served.ca.current_root("auth")
    with pytest.raises(RevocationStatusUnknownError) as caught:
        OcspProvider(f"{served.url}/ocsp").check(unissued(root), root.cert, now())
    assert caught.value.code == "revocationStatusUnknown"


def test_ocsp_responder_refuses_foreign_issuer(served: Served, identity: CardIdentity) -> None:
    with pytest.raises(RevocationUnavailableError, match="UNAUTHORIZED"):
        OcspProvider(f"{served.url}/ocsp").check(identity.sign_cert, identity.sign_ca, now())


def test_validate_chain_with_ocsp_end_to_end(served: Served, card: CardIdentity) -> None:
    anchors = served.ca.trust_anchors()
    result = validate_chain(card.auth_cert, anchors, now(), "auth", OcspProvider())
    assert result.revocation_checked
    assert result.revocation.mode == "ocsp"
    assert "revocation not checked" not in result.summary
    served.ca.revoke(card.auth_cert, x509.ReasonFlags.cessation_of_operation, now() - dt.timedelta(seconds=1))
    with pytest.raises(CertificateRevokedError):
        validate_chain(card.auth_cert, anchors, now(), "auth", OcspProvider())


# -- CRL over the real local server ------------------------------------------------------------------------------------


def test_crl_over_http_from_the_distribution_point(served: Served, card: CardIdentity) -> None:
    provider = CrlProvider()
    outcome = provider.check(card.sign_cert, card.sign_ca, now())
    assert outcome.mode == "crl"
    assert outcome.source == served.ca.crl_url("sign", "03")
    served.ca.revoke(card.sign_cert, x509.ReasonFlags.affiliation_changed, now() - dt.timedelta(seconds=1))
    with pytest.raises(CertificateRevokedError) as caught:
        provider.check(card.sign_cert, card.sign_ca, now())
    assert caught.value.reason is x509.ReasonFlags.affiliation_changed
    anchors = served.ca.trust_anchors()
    with pytest.raises(CertificateRevokedError):
        validate_chain(card.sign_cert, anchors, now(), "sign", provider)


def test_crl_http_errors(served: Served, card: CardIdentity) -> None:
    with pytest.raises(RevocationUnavailableError, match="HTTP 404"):
        CrlProvider([f"{served.url}/crl/sign-77.crl"]).check(card.sign_cert, card.sign_ca, now())
    with pytest.raises(RevocationUnavailableError, match="exceeds"):
        CrlProvider([served.ca.crl_url("sign", "03")], max_bytes=100).check(card.sign_cert, card.sign_ca, now())
    with pytest.raises(RevocationUnavailableError, match="cannot reach"):
        CrlProvider(["http://127.0.0.1:9/x.crl"], timeout=2).check(card.sign_cert, card.sign_ca, now())


# -- platform operator over the real local server ----------------------------------------------------------------------


def platform(served: Served, api_key: str | None = API_KEY) -> PlatformOperatorProvider:
    return PlatformOperatorProvider(f"{served.url}/platform", served.platform_key.public_key(), api_key=api_key)


def test_platform_operator_good_revoked_unknown(served: Served, card: CardIdentity) -> None:
    provider = platform(served)
    outcome = provider.check(card.sign_cert, card.sign_ca, now())
    assert outcome.mode == "platform"
    assert outcome.checked
    assert outcome.next_update is not None
    served.ca.revoke(card.sign_cert, x509.ReasonFlags.superseded, now() - dt.timedelta(seconds=1))
    with pytest.raises(CertificateRevokedError) as caught:
        provider.check(card.sign_cert, card.sign_ca, now())
    assert caught.value.reason is x509.ReasonFlags.superseded
    root = served.ca.current_root("sign")
    with pytest.raises(RevocationStatusUnknownError):
        provider.check(unissued(root), root.cert, now())


def test_platform_operator_refusals(served: Served, card: CardIdentity, identity: CardIdentity) -> None:
    with pytest.raises(RevocationUnavailableError, match=r"HTTP 401 \(unauthorized\)"):
        platform(served, api_key=None).check(card.sign_cert, card.sign_ca, now())
    with pytest.raises(RevocationUnavailableError, match="unknown_issuer"):
        platform(served).check(identity.sign_cert, identity.sign_ca, now())
    assert API_KEY not in repr(platform(served))


def test_platform_response_signed_by_another_key(served: Served, card: CardIdentity) -> None:
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    provider = PlatformOperatorProvider(f"{served.url}/platform", other, api_key=API_KEY)
    with pytest.raises(PlatformSignatureError) as caught:
        provider.check(card.sign_cert, card.sign_ca, now())
    assert caught.value.code == "platformSignatureInvalid"


# -- OCSP failure modes through a mock transport -----------------------------------------------------------------------


def parse_request(request: httpx.Request) -> ocsp.OCSPRequest:
    assert request.headers["content-type"] == "application/ocsp-request"
    return ocsp.load_der_ocsp_request(request.content)


def rebuilt(request: ocsp.OCSPRequest, nonce: bytes | None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        request.issuer_name_hash, request.issuer_key_hash, request.serial_number, request.hash_algorithm
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def ocsp_check(
    served: Served, card: CardIdentity, handler: Callable[[httpx.Request], httpx.Response], **kwargs: object
) -> RevocationOutcome:
    with mock_client(handler) as client:
        provider = OcspProvider("http://ocsp.test/ocsp", client=client, **kwargs)  # type: ignore[arg-type]
        return provider.check(card.sign_cert, card.sign_ca, now())


def answer(der: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=der, headers={"content-type": "application/ocsp-response"})


def test_ocsp_nonce_mismatch(served: Served, card: CardIdentity) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(served.ca.ocsp_response(rebuilt(parse_request(request), b"another-nonce-16")))

    with pytest.raises(NonceMismatchError, match="nonce mismatch"):
        ocsp_check(served, card, handler)


def test_ocsp_missing_nonce(served: Served, card: CardIdentity) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(served.ca.ocsp_response(rebuilt(parse_request(request), None)))

    with pytest.raises(NonceMismatchError, match="no nonce"):
        ocsp_check(served, card, handler)
    outcome = ocsp_check(served, card, handler, require_nonce=False)
    assert (outcome.mode, outcome.checked, outcome.status) == ("ocsp", True, "good")


@pytest.mark.parametrize(("shift", "needle"), [(-dt.timedelta(days=2), "expired"), (dt.timedelta(days=1), "future")])
def test_ocsp_stale_or_future(served: Served, card: CardIdentity, shift: dt.timedelta, needle: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(served.ca.ocsp_response(request.content, now() + shift))

    with pytest.raises(StaleOcspError, match=needle) as caught:
        ocsp_check(served, card, handler)
    assert caught.value.code == "ocspStale"


def self_signed(key: rsa.RSAPrivateKey, name: x509.Name) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now() - dt.timedelta(days=1))
        .not_valid_after(now() + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def rogue_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed_response(
    request: ocsp.OCSPRequest,
    signer_key: rsa.RSAPrivateKey,
    responder: x509.Certificate,
    encoding: ocsp.OCSPResponderEncoding,
    certificates: list[x509.Certificate] | None = None,
) -> bytes:
    moment = now().replace(microsecond=0)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            request.issuer_name_hash,
            request.issuer_key_hash,
            request.serial_number,
            request.hash_algorithm,
            ocsp.OCSPCertStatus.GOOD,
            moment,
            moment + dt.timedelta(hours=1),
            None,
            None,
        )
        .responder_id(encoding, responder)
        .add_extension(request.extensions.get_extension_for_class(x509.OCSPNonce).value, critical=False)
    )
    if certificates:
        builder = builder.certificates(certificates)
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_ocsp_signed_by_the_wrong_key(served: Served, card: CardIdentity, rogue_key: rsa.RSAPrivateKey) -> None:
    rogue = self_signed(rogue_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST rogue responder")]))

    def handler(request: httpx.Request) -> httpx.Response:
        return answer(
            signed_response(parse_request(request), rogue_key, rogue, ocsp.OCSPResponderEncoding.HASH, [rogue])
        )

    with pytest.raises(OcspSignatureError, match="neither"):
        ocsp_check(served, card, handler)


def test_ocsp_wrong_key_posing_as_the_issuer(served: Served, card: CardIdentity, rogue_key: rsa.RSAPrivateKey) -> None:
    impostor = self_signed(rogue_key, card.sign_ca.subject)  # same DN as the real root, other key

    def handler(request: httpx.Request) -> httpx.Response:
        return answer(signed_response(parse_request(request), rogue_key, impostor, ocsp.OCSPResponderEncoding.NAME))

    with pytest.raises(OcspSignatureError, match="does not verify"):
        ocsp_check(served, card, handler)


def test_ocsp_delegated_responder(served: Served, card: CardIdentity) -> None:
    key, cert = served.ca.ocsp_delegate("sign", "03")

    def good(request: httpx.Request) -> httpx.Response:
        return answer(signed_response(parse_request(request), key, cert, ocsp.OCSPResponderEncoding.HASH, [cert]))

    outcome = ocsp_check(served, card, good)
    assert (outcome.mode, outcome.checked) == ("ocsp", True)

    other_key, other_generation = served.ca.ocsp_delegate("sign", "02")  # authorised by another root

    def wrong(request: httpx.Request) -> httpx.Response:
        return answer(
            signed_response(
                parse_request(request), other_key, other_generation, ocsp.OCSPResponderEncoding.HASH, [other_generation]
            )
        )

    with pytest.raises(OcspSignatureError, match="signed neither by the certificate's root nor by a responder"):
        ocsp_check(served, card, wrong)


def long_lived_response(
    card: CardIdentity,
    key: rsa.RSAPrivateKey,
    signer: x509.Certificate,
    this_update: dt.datetime,
    encoding: ocsp.OCSPResponderEncoding = ocsp.OCSPResponderEncoding.HASH,
) -> bytes:
    """A GOOD response about the card whose nextUpdate is ten years after ``this_update`` (producedAt is now)."""
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            card.sign_cert,
            card.sign_ca,
            hashes.SHA256(),
            ocsp.OCSPCertStatus.GOOD,
            this_update,
            this_update + dt.timedelta(days=3652),
            None,
            None,
        )
        .responder_id(encoding, signer)
    )
    if signer != card.sign_ca:
        builder = builder.certificates([signer])
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def verify_at(der: bytes, card: CardIdentity, at: dt.datetime, **kwargs: object) -> RevocationOutcome:
    """Verify a response offline with the provider's clock at ``at`` (validated then, by a provider living then)."""
    provider = OcspProvider(clock=lambda: at, **kwargs)  # type: ignore[arg-type]
    return provider.verify_response(der, card.sign_cert, card.sign_ca, at, None)


def test_ocsp_delegated_responder_must_be_valid_at_the_validation_time(served: Served, card: CardIdentity) -> None:
    # A responder certificate valid for 30 days from yesterday; the response is produced now (inside that window),
    # so producedAt alone cannot tell a captured or backdated answer from a fresh one.
    issued = now() - dt.timedelta(days=1)
    key, responder = served.ca.ocsp_delegate("sign", "03", issued)
    assert responder.not_valid_after_utc - responder.not_valid_before_utc <= dt.timedelta(days=30, minutes=5)
    inside, later = issued + dt.timedelta(days=10), issued + dt.timedelta(days=90)

    outcome = verify_at(long_lived_response(card, key, responder, inside - dt.timedelta(hours=1)), card, inside)
    assert (outcome.mode, outcome.checked) == ("ocsp", True)

    with pytest.raises(OcspSignerNotValidError, match="delegated responder certificate that is not valid") as caught:
        verify_at(long_lived_response(card, key, responder, later - dt.timedelta(hours=1)), card, later)
    assert caught.value.code == "ocspSignerNotValid"
    assert isinstance(caught.value, OcspSignatureError)


def test_ocsp_signer_must_be_valid_at_the_clock(served: Served, card: CardIdentity) -> None:
    # A validation time inside the responder's window does not help when the provider's clock is past it.
    issued = now() - dt.timedelta(days=1)
    key, responder = served.ca.ocsp_delegate("sign", "03", issued)
    der = long_lived_response(card, key, responder, issued)
    at = issued + dt.timedelta(days=2)
    provider = OcspProvider(clock=lambda: issued + dt.timedelta(days=90))
    with pytest.raises(OcspSignerNotValidError, match="not valid at"):
        provider.verify_response(der, card.sign_cert, card.sign_ca, at, None)
    assert OcspProvider(clock=lambda: at).verify_response(der, card.sign_cert, card.sign_ca, at, None).checked


def test_ocsp_signed_by_an_expired_root_is_refused(served: Served) -> None:
    root = served.ca.root("sign", "01")
    at = now()
    assert root.cert.not_valid_after_utc < at  # the 2015-like generation has expired
    cert = unissued(root)
    der = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert, root.cert, hashes.SHA256(), ocsp.OCSPCertStatus.GOOD, at, at + dt.timedelta(hours=1), None, None
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, root.cert)
        .sign(root.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(OcspSignerNotValidError, match="root certificate that is not valid"):
        OcspProvider(clock=lambda: at).verify_response(der, cert, root.cert, at, None)
    inside = root.cert.not_valid_after_utc - dt.timedelta(days=1)
    with pytest.raises(OcspSignerNotValidError, match="root certificate that is not valid"):  # producedAt is now
        OcspProvider(clock=lambda: inside).verify_response(der, cert, root.cert, inside, None)


def test_ocsp_this_update_age_is_bounded_whatever_the_next_update(served: Served, card: CardIdentity) -> None:
    root = served.ca.root("sign", "03")
    assert root.cert == card.sign_ca
    at = now()
    old = long_lived_response(card, root.key, root.cert, at - dt.timedelta(days=30))
    with pytest.raises(StaleOcspError, match="whatever its nextUpdate") as caught:
        verify_at(old, card, at)
    assert caught.value.code == "ocspStale"
    assert dt.timedelta(days=30) > DEFAULT_MAX_RESPONSE_AGE
    # the bound is configurable, and a response inside it is accepted
    assert verify_at(old, card, at, max_response_age=dt.timedelta(days=31)).checked is True
    recent = long_lived_response(card, root.key, root.cert, at - DEFAULT_MAX_RESPONSE_AGE + dt.timedelta(hours=1))
    assert verify_at(recent, card, at).checked is True


@pytest.mark.parametrize(
    ("handler", "error", "needle"),
    [
        (lambda r: answer(b"", 500), RevocationUnavailableError, "HTTP 500"),
        (lambda r: answer(b"garbage"), RevocationResponseError, "not a DER OCSP response"),
        (
            lambda r: answer(
                ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
                    serialization.Encoding.DER
                )
            ),
            RevocationUnavailableError,
            "TRY_LATER",
        ),
        (
            lambda r: httpx.Response(302, headers={"location": "http://elsewhere.test/"}),
            RevocationUnavailableError,
            "302",
        ),
    ],
)
def test_ocsp_transport_and_format_failures(
    served: Served,
    card: CardIdentity,
    handler: Callable[[httpx.Request], httpx.Response],
    error: type[RevocationError],
    needle: str,
) -> None:
    with pytest.raises(error, match=needle):
        ocsp_check(served, card, handler)


def test_ocsp_response_about_another_certificate(served: Served, card: CardIdentity) -> None:
    other = served.ca.issue(load_person("year_month"))

    def handler(request: httpx.Request) -> httpx.Response:
        nonce = parse_request(request).extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        swapped = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(other.sign_cert, other.sign_ca, hashes.SHA256())
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        return answer(served.ca.ocsp_response(swapped.public_bytes(serialization.Encoding.DER)))

    with pytest.raises(RevocationResponseError, match="not about this certificate"):
        ocsp_check(served, card, handler)


def test_ocsp_without_a_responder(identity: CardIdentity) -> None:
    with pytest.raises(RevocationUnavailableError, match="no OCSP responder"):
        OcspProvider().check(identity.sign_cert, identity.sign_ca, now())


# -- CRL failure modes -----------------------------------------------------------------------------------------------


def write_crl(path: Path, crl: x509.CertificateRevocationList, encoding: serialization.Encoding) -> Path:
    path.write_bytes(crl.public_bytes(encoding))
    return path


def test_crl_from_pem_and_der_files(served: Served, card: CardIdentity, tmp_path: Path) -> None:
    at = now()
    served.ca.revoke(card.auth_cert, x509.ReasonFlags.unspecified, at - dt.timedelta(seconds=5))
    crl = served.ca.crl("auth", at)
    for suffix, encoding in (("pem", serialization.Encoding.PEM), ("der", serialization.Encoding.DER)):
        path = write_crl(tmp_path / f"auth.{suffix}", crl, encoding)
        with pytest.raises(CertificateRevokedError) as caught:
            CrlProvider([path]).check(card.auth_cert, card.auth_ca, at)
        assert caught.value.reason is None


@pytest.mark.parametrize(("shift", "needle"), [(-dt.timedelta(days=3), "expired"), (dt.timedelta(days=1), "future")])
def test_crl_stale_or_future(
    served: Served, card: CardIdentity, tmp_path: Path, shift: dt.timedelta, needle: str
) -> None:
    path = write_crl(tmp_path / "s.crl", served.ca.crl("sign", now() + shift), serialization.Encoding.DER)
    with pytest.raises(StaleCrlError, match=needle) as caught:
        CrlProvider([path]).check(card.sign_cert, card.sign_ca, now())
    assert caught.value.code == "crlStale"


def test_crl_signed_by_the_wrong_key(
    served: Served, card: CardIdentity, tmp_path: Path, rogue_key: rsa.RSAPrivateKey
) -> None:
    genuine = served.ca.current_root("sign")
    moment = now().replace(microsecond=0)
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(genuine.cert.subject)
        .last_update(moment)
        .next_update(moment + dt.timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(genuine.key.public_key()), critical=False)
        .sign(rogue_key, hashes.SHA256())
    )
    path = write_crl(tmp_path / "forged.crl", forged, serialization.Encoding.DER)
    with pytest.raises(CrlSignatureError) as caught:
        CrlProvider([path]).check(card.sign_cert, card.sign_ca, now())
    assert caught.value.code == "crlSignatureInvalid"


def test_crl_of_another_generation_is_not_used(served: Served, card: CardIdentity, tmp_path: Path) -> None:
    path = write_crl(tmp_path / "g2.crl", served.ca.crl("sign", now(), generation="02"), serialization.Encoding.DER)
    with pytest.raises(RevocationUnavailableError, match="none of the configured CRLs"):
        CrlProvider([path]).check(card.sign_cert, card.sign_ca, now())


def test_crl_source_problems(card: CardIdentity, identity: CardIdentity, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.crl"
    garbage.write_bytes(b"\x30\x00")
    with pytest.raises(RevocationResponseError, match="not a DER or PEM CRL"):
        CrlProvider([garbage]).check(card.sign_cert, card.sign_ca, now())
    with pytest.raises(RevocationUnavailableError, match="cannot read"):
        CrlProvider([tmp_path / "absent.crl"]).check(card.sign_cert, card.sign_ca, now())
    with pytest.raises(RevocationUnavailableError, match="no CRL source"):
        CrlProvider().check(identity.sign_cert, identity.sign_ca, now())  # only a directoryName distribution point


def test_delta_crl_refused(served: Served, card: CardIdentity, tmp_path: Path) -> None:
    root = served.ca.current_root("sign")
    moment = now().replace(microsecond=0)
    delta = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.cert.subject)
        .last_update(moment)
        .next_update(moment + dt.timedelta(days=1))
        .add_extension(x509.DeltaCRLIndicator(1), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    path = write_crl(tmp_path / "delta.crl", delta, serialization.Encoding.DER)
    with pytest.raises(RevocationResponseError, match="delta CRL"):
        CrlProvider([path]).check(card.sign_cert, card.sign_ca, now())


# -- platform failure modes through a mock transport -------------------------------------------------------------------


def platform_mock(
    served: Served,
    card: CardIdentity,
    mutate: Callable[[dict[str, object]], None],
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | None = None,
) -> RevocationOutcome:
    signing_key = key or served.platform_key

    def handler(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)
        moment = int(now().timestamp())
        payload: dict[str, object] = {
            "serial_number": query["serial_number"],
            "issuer_name_hash": query["issuer_name_hash"],
            "issuer_key_hash": query["issuer_key_hash"],
            "nonce": query["nonce"],
            "status": "good",
            "this_update": moment,
            "next_update": moment + 600,
        }
        mutate(payload)
        return httpx.Response(
            200, text=encode_platform_response(payload, signing_key), headers={"content-type": "application/jwt"}
        )

    public = signing_key.public_key()
    with mock_client(handler) as client:
        return PlatformOperatorProvider("http://platform.test", public, client=client).check(
            card.sign_cert, card.sign_ca, now()
        )


def test_platform_es256_key(served: Served, card: CardIdentity) -> None:
    outcome = platform_mock(served, card, lambda payload: None, key=ec.generate_private_key(ec.SECP256R1()))
    assert (outcome.mode, outcome.checked, outcome.status) == ("platform", True, "good")


def hand_signed(header: str, payload: str, key: ed25519.Ed25519PrivateKey) -> str:
    """A compact JWS over exactly these JSON texts (encode_platform_response could not write a duplicate)."""
    signing_input = f"{b64url_encode(header.encode())}.{b64url_encode(payload.encode())}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"


def test_platform_payload_with_a_duplicate_member_is_refused(served: Served, card: CardIdentity) -> None:
    # Correctly signed, but "status" twice: a last-one-wins reader sees good, a first-one-wins reader revoked.
    def handler_for(duplicate: bool) -> Callable[[httpx.Request], httpx.Response]:
        def handler(request: httpx.Request) -> httpx.Response:
            query = json.loads(request.content)
            moment = int(now().timestamp())
            fields = [f'"{name}":{json.dumps(query[name])}' for name in ("serial_number", "nonce")]
            fields += [f'"{name}":{json.dumps(query[name])}' for name in ("issuer_name_hash", "issuer_key_hash")]
            fields += [f'"this_update":{moment}', f'"next_update":{moment + 600}']
            if duplicate:
                fields += ['"status":"revoked"', f'"revocation_time":{moment - 60}']
            fields.append('"status":"good"')
            header = f'{{"alg":"EdDSA","typ":"{PLATFORM_JWS_TYPE}"}}'
            token = hand_signed(header, "{" + ",".join(fields) + "}", served.platform_key)
            return httpx.Response(200, text=token, headers={"content-type": "application/jwt"})

        return handler

    public = served.platform_key.public_key()
    with mock_client(handler_for(duplicate=False)) as client:
        outcome = PlatformOperatorProvider("http://platform.test", public, client=client).check(
            card.sign_cert, card.sign_ca, now()
        )
    assert outcome.checked is True  # the same response without the duplicate is good
    with mock_client(handler_for(duplicate=True)) as client:
        provider = PlatformOperatorProvider("http://platform.test", public, client=client)
        with pytest.raises(RevocationResponseError, match="duplicate JSON member 'status'") as caught:
            provider.check(card.sign_cert, card.sign_ca, now())
    assert caught.value.code == "revocationResponseInvalid"


def test_platform_header_with_a_duplicate_member_is_refused(served: Served) -> None:
    header = f'{{"alg":"EdDSA","typ":"{PLATFORM_JWS_TYPE}","typ":"JWT"}}'
    token = hand_signed(header, "{}", served.platform_key)
    with pytest.raises(RevocationResponseError, match="duplicate JSON member 'typ'"):
        decode_platform_response(token, served.platform_key.public_key())
    assert decode_platform_response(
        hand_signed(f'{{"alg":"EdDSA","typ":"{PLATFORM_JWS_TYPE}"}}', '{"a":1}', served.platform_key),
        served.platform_key.public_key(),
    ) == {"a": 1}


@pytest.mark.parametrize(
    ("mutate", "error", "needle"),
    [
        (lambda p: p.update(nonce="bm90LXRoZS1ub25jZQ"), NonceMismatchError, "nonce mismatch"),
        (lambda p: p.pop("nonce"), NonceMismatchError, "nonce"),
        (
            lambda p: p.update(next_update=int(now().timestamp()) - 3600, this_update=int(now().timestamp()) - 7200),
            StalePlatformResponseError,
            "expired",
        ),
        (lambda p: p.update(this_update=int(now().timestamp()) + 86400), StalePlatformResponseError, "future"),
        (lambda p: p.update(serial_number="1"), RevocationResponseError, "serial_number"),
        (lambda p: p.update(status="maybe"), RevocationResponseError, "good, revoked or unknown"),
        (lambda p: p.update(this_update="yesterday"), RevocationResponseError, "unix time"),
        (lambda p: p.update(next_update=253_402_300_800), RevocationResponseError, "unix time"),  # year 10000
        (lambda p: p.update(status="revoked"), RevocationResponseError, "revocation_time"),
        (
            lambda p: p.update(status="revoked", revocation_time=0, revocation_reason="bogus"),
            RevocationResponseError,
            "revocation_reason",
        ),
    ],
)
def test_platform_response_defects(
    served: Served,
    card: CardIdentity,
    mutate: Callable[[dict[str, object]], None],
    error: type[RevocationError],
    needle: str,
) -> None:
    with pytest.raises(error, match=needle):
        platform_mock(served, card, mutate)


@pytest.mark.parametrize(
    ("body", "error", "needle"),
    [
        ("not-a-jws", RevocationResponseError, "not a compact JWS"),
        ("a.b.c", RevocationResponseError, "not unpadded base64url"),
        (  # alg none
            "eyJhbGciOiJub25lIiwidHlwIjoianBraS1zdGF0dXMrand0In0.e30.",
            PlatformSignatureError,
            "algorithm other than the configured key's",
        ),
        ("eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.e30.AAAA", RevocationResponseError, "typ must be"),  # wrong typ
        (base64.urlsafe_b64encode(b"[" * 99_999).decode() + ".e30.AAAA", RevocationResponseError, "nested too deeply"),
    ],
)
def test_platform_malformed_tokens(
    served: Served, card: CardIdentity, body: str, error: type[RevocationError], needle: str
) -> None:
    with mock_client(lambda r: httpx.Response(200, text=body)) as client:
        provider = PlatformOperatorProvider("http://platform.test", served.platform_key.public_key(), client=client)
        with pytest.raises(error, match=needle) as caught:
            provider.check(card.sign_cert, card.sign_ca, now())
    assert type(caught.value) is error


# -- unchecked -------------------------------------------------------------------------------------------------------


def test_unchecked_is_never_good(identity: CardIdentity, test_ca: TestCA) -> None:
    at = now()
    outcome = UncheckedProvider().check(identity.sign_cert, identity.sign_ca, at)
    assert outcome.checked is False
    assert outcome.status == "not_checked"
    assert outcome.mode == "unchecked"
    assert outcome.description == "revocation not checked"
    result = validate_chain(identity.sign_cert, test_ca.trust_anchors(), at, "sign", UncheckedProvider())
    assert "chain verified" in result.summary
    assert result.summary.endswith("revocation not checked")
    assert result.revocation_checked is False


def test_profile_is_unaffected_by_revocation(served: Served) -> None:
    person: Person = load_person("unknown_sex_partial_dob")
    card = served.ca.issue(person)
    served.ca.revoke(card.sign_cert)
    assert profile.parse_signature_certificate(card.sign_cert) == person.basic4()


# -- property-based: mutated CRLs and OCSP responses never escape as anything but RevocationError ---------------------


@dataclass
class Signed:
    card: CardIdentity
    crl: bytes
    ocsp: bytes
    nonce: bytes


@pytest.fixture(scope="module")
def signed(served: Served) -> Signed:
    card = served.ca.issue(load_person("yamada"))
    nonce = b"fuzz-nonce-16byt"
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(card.sign_cert, card.sign_ca, hashes.SHA256())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    return Signed(
        card,
        served.ca.crl("sign", now()).public_bytes(serialization.Encoding.DER),
        served.ca.ocsp_response(request.public_bytes(serialization.Encoding.DER)),
        nonce,
    )


def test_an_unknown_crl_version_is_a_response_error(signed: Signed, tmp_path: Path) -> None:
    """cryptography raises InvalidVersion, which is not a ValueError, for a CRL version other than v1-v2."""
    v2 = b"\x02\x01\x01"
    assert signed.crl.index(v2) < 16
    (tmp_path / "v9.crl").write_bytes(signed.crl.replace(v2, b"\x02\x01\x09", 1))
    with pytest.raises(RevocationResponseError, match="is not a DER or PEM CRL"):
        CrlProvider([tmp_path / "v9.crl"]).check(signed.card.sign_cert, signed.card.sign_ca, now())


def test_the_unmutated_crl_and_ocsp_response_are_good(signed: Signed, tmp_path: Path) -> None:
    """The fuzz tests below start from answers that verify, so a rejection there comes from the mutation."""
    (tmp_path / "sign.crl").write_bytes(signed.crl)
    assert CrlProvider([tmp_path / "sign.crl"]).check(signed.card.sign_cert, signed.card.sign_ca, now()).checked
    card = signed.card
    assert OcspProvider().verify_response(signed.ocsp, card.sign_cert, card.sign_ca, now(), signed.nonce).checked


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_crl_raises_only_revocation_errors(signed: Signed, tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "mutated.crl"
    path.write_bytes(data.draw(mutations(signed.crl)))
    with contextlib.suppress(RevocationError):
        CrlProvider([path]).check(signed.card.sign_cert, signed.card.sign_ca, now())


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_ocsp_response_raises_only_revocation_errors(signed: Signed, data: st.DataObject) -> None:
    mutated = data.draw(mutations(signed.ocsp))
    with contextlib.suppress(RevocationError):
        OcspProvider().verify_response(mutated, signed.card.sign_cert, signed.card.sign_ca, now(), signed.nonce)
