"""Revocation by OCSP (RFC 6960): a request with a fresh nonce, and a response verified for its signer (the root
or a responder it delegated, valid at the validation time and at the clock), nonce, certificate and freshness."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from jpki_bridge.revocation.common import (
    DEFAULT_MAX_RESPONSE_AGE,
    DEFAULT_SKEW,
    MAX_RESPONSE_BYTES,
    Clock,
    RevocationMode,
    RevocationOutcome,
    aware_utc,
    check_dates,
    decoding,
    fetch_answer,
    issuer_hashes,
    public_key_bits,
    raise_if_revoked,
    utc_now,
)
from jpki_bridge.revocation.errors import (
    NonceMismatchError,
    OcspSignatureError,
    OcspSignerNotValidError,
    RevocationResponseError,
    RevocationStatusUnknownError,
    RevocationUnavailableError,
    StaleOcspError,
)

__all__ = [
    "OcspProvider",
]


class OcspProvider:
    """Asks an OCSP responder (RFC 6960) over HTTP with a fresh nonce; verifies signer, nonce, and freshness."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Clock = utc_now,
        clock_skew: dt.timedelta = DEFAULT_SKEW,
        max_age: dt.timedelta = dt.timedelta(hours=24),
        max_response_age: dt.timedelta = DEFAULT_MAX_RESPONSE_AGE,
        require_nonce: bool = True,
        nonce_source: Callable[[], bytes] = lambda: secrets.token_bytes(16),
    ) -> None:
        self.url = url
        self.client = client
        self.timeout = timeout
        self.clock = clock
        self.clock_skew = clock_skew
        self.max_age = max_age
        self.max_response_age = max_response_age
        self.require_nonce = require_nonce
        self.nonce_source = nonce_source

    @property
    def mode(self) -> RevocationMode:
        """Always ``ocsp``."""
        return "ocsp"

    def _url(self, cert: x509.Certificate) -> str:
        if self.url:
            return self.url
        try:
            access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        except x509.ExtensionNotFound:
            access = x509.AuthorityInformationAccess([])
        for description in access:
            location = description.access_location
            if description.access_method == x509.oid.AuthorityInformationAccessOID.OCSP and isinstance(
                location, x509.UniformResourceIdentifier
            ):
                return location.value
        raise RevocationUnavailableError("no OCSP responder: none is configured and the certificate names none")

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Send a request for the certificate and verify the answer."""
        at = aware_utc(at)
        url = self._url(cert)
        nonce = self.nonce_source()
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, issuer, hashes.SHA256())
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        response = fetch_answer(
            self.client,
            self.timeout,
            "POST",
            url,
            MAX_RESPONSE_BYTES,
            content=request.public_bytes(serialization.Encoding.DER),
            headers={"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"},
        )
        if response.status_code != 200:
            raise RevocationUnavailableError(f"the OCSP responder {url} answered HTTP {response.status_code}")
        return self.verify_response(response.content, cert, issuer, at, nonce, source=url)

    def verify_response(
        self,
        response_der: bytes,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: dt.datetime,
        nonce: bytes | None,
        *,
        source: str = "OCSP response",
    ) -> RevocationOutcome:
        """Verify a DER OCSP response about ``cert`` (signature, nonce, dates, status); usable offline."""
        at = aware_utc(at)
        try:
            response = ocsp.load_der_ocsp_response(response_der)
        except ValueError:
            raise RevocationResponseError(f"the answer from {source} is not a DER OCSP response") from None
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailableError(f"the OCSP responder {source} refused: {response.response_status.name}")
        now = self.clock()
        with decoding(f"the OCSP response from {source}"):
            self._verify_signature(response, issuer, source, (at, now))
            self._verify_nonce(response, nonce, source)
            single = _matching_response(response, cert, issuer, source)
            revocation_time, revocation_reason = single.revocation_time_utc, single.revocation_reason
        check_dates(
            single.this_update_utc,
            single.next_update_utc,
            at,
            now,
            self.clock_skew,
            self.max_age,
            StaleOcspError,
            "OCSP response",
            self.max_response_age,
        )
        if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
            raise RevocationStatusUnknownError(f"the OCSP responder {source} does not know the certificate")
        if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            if revocation_time is None:
                raise RevocationResponseError(f"the OCSP response from {source} says revoked but gives no time")
            raise_if_revoked(at, revocation_time, revocation_reason, f"the OCSP responder {source}")
        return RevocationOutcome("ocsp", True, source, at, single.this_update_utc, single.next_update_utc)

    def _verify_signature(
        self, response: ocsp.OCSPResponse, issuer: x509.Certificate, source: str, moments: tuple[dt.datetime, ...]
    ) -> None:
        issuer_key_sha1 = hashlib.sha1(public_key_bits(issuer), usedforsecurity=False).digest()
        if response.responder_key_hash == issuer_key_sha1 or response.responder_name == issuer.subject:
            signer: x509.Certificate = issuer
        else:
            signer = self._delegated_signer(response, issuer, source)
        try:
            _verify_with_certificate(signer, response.signature, response.tbs_response_bytes, response)
        except InvalidSignature:
            raise OcspSignatureError(f"the OCSP response from {source} does not verify under its signer") from None
        # The signer and its chain (the root) at producedAt, at the validation time and at the clock: RFC 6960
        # §4.2.2.2 and OpenSSL check the responder at the current time; producedAt alone is the signer's word.
        for certificate in dict.fromkeys((signer, issuer)):
            for moment in (response.produced_at_utc, *moments):
                if not (
                    certificate.not_valid_before_utc - self.clock_skew
                    <= moment
                    <= certificate.not_valid_after_utc + self.clock_skew
                ):
                    role = "root" if certificate is issuer else "delegated responder"
                    raise OcspSignerNotValidError(
                        f"the OCSP response from {source} is signed under a {role} certificate that is not valid at "
                        f"{moment.isoformat()} (valid {certificate.not_valid_before_utc.isoformat()} to "
                        f"{certificate.not_valid_after_utc.isoformat()})"
                    )

    @staticmethod
    def _delegated_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate, source: str) -> x509.Certificate:
        for candidate in response.certificates:
            matches = response.responder_name == candidate.subject or (
                response.responder_key_hash is not None
                and response.responder_key_hash
                == hashlib.sha1(public_key_bits(candidate), usedforsecurity=False).digest()
            )
            if not matches:
                continue
            try:
                candidate.verify_directly_issued_by(issuer)
                usage = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
                break
            if ExtendedKeyUsageOID.OCSP_SIGNING in usage:
                return candidate
            break
        raise OcspSignatureError(
            f"the OCSP response from {source} is signed neither by the certificate's root nor by a responder it "
            "authorised"
        )

    def _verify_nonce(self, response: ocsp.OCSPResponse, nonce: bytes | None, source: str) -> None:
        try:
            echoed: bytes | None = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if nonce is None:
            return
        if echoed is None:
            if self.require_nonce:
                raise NonceMismatchError(f"the OCSP response from {source} carries no nonce")
            return
        if not secrets.compare_digest(echoed, nonce):
            raise NonceMismatchError(f"the OCSP response from {source} answers a different request (nonce mismatch)")


def _matching_response(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate, source: str
) -> ocsp.OCSPSingleResponse:
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        name_hash, key_hash = issuer_hashes(issuer, single.hash_algorithm)
        if single.issuer_name_hash == name_hash and single.issuer_key_hash == key_hash:
            return single
    raise RevocationResponseError(f"the OCSP response from {source} is not about this certificate")


def _verify_with_certificate(
    signer: x509.Certificate, signature: bytes, data: bytes, response: ocsp.OCSPResponse
) -> None:
    algorithm = response.signature_hash_algorithm
    if not isinstance(algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        raise InvalidSignature("unsupported OCSP signature hash")
    key = signer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise InvalidSignature("unsupported OCSP signer key type")
