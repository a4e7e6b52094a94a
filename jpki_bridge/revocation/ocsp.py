"""Revocation checking for JPKI certificates as pluggable providers: CRL, OCSP, a platform operator, or unchecked.

J-LIS gives revocation data only to registered verifiers and to businesses that use a certified platform operator
(jpki.md §2.5), so the check is a provider the deployment chooses. Every provider answers for one certificate and
its issuing root at a validation time: it returns a ``RevocationOutcome`` when the certificate was not revoked at
that time, and raises a ``RevocationError`` otherwise. ``UncheckedProvider`` returns an outcome that says
"revocation not checked" — it is never reported as good.

Freshness: a CRL or response must have a nextUpdate not before the validation time (less ``clock_skew``); an OCSP
or platform response without nextUpdate must have a thisUpdate within ``max_age`` of it; an OCSP response's
thisUpdate must also be within ``max_response_age`` of it however far away its nextUpdate is; none may claim a
thisUpdate later than the provider's clock (plus skew). A revocation dated after the validation time does not
count: the certificate was good then.

OCSP signers: the issuing root itself, or a responder certificate it issued with the OCSPSigning EKU (RFC 6960
§4.2.2.2). The signer and the root must be valid at the validation time *and* at the provider's clock (within
``clock_skew``), as RFC 6960 and OpenSSL require, not merely at the response's own ``producedAt``: whoever holds an
expired responder key could otherwise backdate ``producedAt`` and answer "good" for ever.

Platform operator API (``PlatformOperatorProvider``; the reference server is in tests/jpki/test_revocation.py)::

    POST {base_url}/v1/jpki/certificate-status        Content-Type: application/json
         [Authorization: Bearer <api key>]
    {"serial_number": "<lower-case hex>", "issuer_name_hash": "<hex SHA-256 of the issuer DN DER>",
     "issuer_key_hash": "<hex SHA-256 of the issuer subjectPublicKey bits>", "nonce": "<base64url, 16+ bytes>",
     "at": "<RFC 3339 validation time>"}

    200  Content-Type: application/jwt — a compact JWS, header {"alg": "EdDSA" | "ES256", "typ": "jpki-status+jwt"},
         signed with the operator's response key (configured out of band), payload:
    {"serial_number", "issuer_name_hash", "issuer_key_hash", "nonce"   (echoed),
     "status": "good" | "revoked" | "unknown", "this_update": <unix s>, "next_update": <unix s>,
     "revocation_time": <unix s, when revoked>, "revocation_reason": "<RFC 5280 reason name, optional>"}
    4xx/5xx  {"error": "<code>", "error_description": "<text>"}

Only the serial and issuer hashes leave the relying party, never the certificate (it carries the basic 4 info).

Errors (all ``JpkiError``)::

    RevocationError                        revocationError
    ├── CertificateRevokedError            certificateRevoked          revoked at or before the validation time
    ├── RevocationStatusUnknownError       revocationStatusUnknown     the responder does not know the certificate
    ├── RevocationUnavailableError         revocationUnavailable       no source, network/HTTP failure, refusal
    ├── RevocationResponseError            revocationResponseInvalid   malformed, or not about this certificate
    ├── NonceMismatchError                 revocationNonceMismatch     response nonce absent or different
    ├── RevocationSignatureError           revocationSignatureInvalid
    │   ├── CrlSignatureError              crlSignatureInvalid
    │   ├── OcspSignatureError             ocspSignatureInvalid
    │   │   └── OcspSignerNotValidError    ocspSignerNotValid          signer or root expired (or not yet valid)
    │   └── PlatformSignatureError         platformSignatureInvalid
    └── StaleRevocationError               revocationStale
        ├── StaleCrlError                  crlStale
        ├── StaleOcspError                 ocspStale
        └── StalePlatformResponseError     platformResponseStale
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from foundation.b64 import b64url_encode
from foundation.http import Fetched, FetchError, FetchTooLargeError, fetch
from foundation.jws import encode_compact, parse_compact
from foundation.strict_json import compact_json, strict_json
from jpki_bridge.errors import JpkiError

__all__ = [
    "DEFAULT_MAX_RESPONSE_AGE",
    "DEFAULT_SKEW",
    "PLATFORM_JWS_TYPE",
    "PLATFORM_STATUS_PATH",
    "CertificateRevokedError",
    "Clock",
    "CrlProvider",
    "CrlSignatureError",
    "NonceMismatchError",
    "OcspProvider",
    "OcspSignatureError",
    "OcspSignerNotValidError",
    "PlatformKey",
    "PlatformOperatorProvider",
    "PlatformSignatureError",
    "PlatformSigningKey",
    "RevocationError",
    "RevocationMode",
    "RevocationOutcome",
    "RevocationProvider",
    "RevocationResponseError",
    "RevocationSignatureError",
    "RevocationStatusUnknownError",
    "RevocationUnavailableError",
    "StaleCrlError",
    "StaleOcspError",
    "StalePlatformResponseError",
    "StaleRevocationError",
    "UncheckedProvider",
    "decode_platform_response",
    "encode_platform_response",
    "issuer_hashes",
    "public_key_bits",
    "utc_now",
]

RevocationMode = Literal["crl", "ocsp", "platform", "unchecked"]
Clock = Callable[[], dt.datetime]
DEFAULT_SKEW = dt.timedelta(minutes=5)
DEFAULT_MAX_RESPONSE_AGE = dt.timedelta(days=10)
"""How old an OCSP response's thisUpdate may be: the longest validity interval the CA/Browser Forum Baseline
Requirements (§4.9.10) allow a responder."""
PLATFORM_STATUS_PATH = "/v1/jpki/certificate-status"
PLATFORM_JWS_TYPE = "jpki-status+jwt"
_MAX_CRL_BYTES = 16 * 1024 * 1024
_MAX_RESPONSE_BYTES = 256 * 1024


class RevocationError(JpkiError):
    """Revocation status could not be established as good."""

    code = "revocationError"


class CertificateRevokedError(RevocationError):
    """The certificate was revoked at or before the validation time."""

    code = "certificateRevoked"

    def __init__(self, message: str, revocation_time: dt.datetime, reason: x509.ReasonFlags | None) -> None:
        super().__init__(message)
        self.revocation_time = revocation_time
        self.reason = reason


class RevocationStatusUnknownError(RevocationError):
    """The responder does not know the certificate (OCSP "unknown")."""

    code = "revocationStatusUnknown"


class RevocationUnavailableError(RevocationError):
    """No revocation data could be obtained (no source, network failure, HTTP error, responder refusal)."""

    code = "revocationUnavailable"


class RevocationResponseError(RevocationError):
    """A CRL or response is malformed, or is not about the certificate asked about."""

    code = "revocationResponseInvalid"


class NonceMismatchError(RevocationError):
    """A response does not echo the nonce of its request (a replayed or misrouted response)."""

    code = "revocationNonceMismatch"


class RevocationSignatureError(RevocationError):
    """A CRL or response is not signed by the party entitled to sign it."""

    code = "revocationSignatureInvalid"


class CrlSignatureError(RevocationSignatureError):
    """The CRL's signature does not verify under the issuing root's key."""

    code = "crlSignatureInvalid"


class OcspSignatureError(RevocationSignatureError):
    """The OCSP response is not signed by the issuer or by a responder the issuer delegated."""

    code = "ocspSignatureInvalid"


class OcspSignerNotValidError(OcspSignatureError):
    """The OCSP signer (a delegated responder or the root) is expired or not yet valid at the validation time or
    at the provider's clock."""

    code = "ocspSignerNotValid"


class PlatformSignatureError(RevocationSignatureError):
    """The platform operator's response does not verify under its configured key."""

    code = "platformSignatureInvalid"


class StaleRevocationError(RevocationError):
    """Revocation data is too old (or dated in the future) for the validation time."""

    code = "revocationStale"


class StaleCrlError(StaleRevocationError):
    """The CRL's nextUpdate has passed (or it has none, or it is dated in the future)."""

    code = "crlStale"


class StaleOcspError(StaleRevocationError):
    """The OCSP response is out of date (or dated in the future)."""

    code = "ocspStale"


class StalePlatformResponseError(StaleRevocationError):
    """The platform operator's response is out of date (or dated in the future)."""

    code = "platformResponseStale"


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RevocationOutcome:
    """How revocation was handled for one certificate: the mode, whether it was checked, and what was seen."""

    mode: RevocationMode
    checked: bool
    source: str
    at: dt.datetime
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None

    @property
    def status(self) -> Literal["good", "not_checked"]:
        """``good`` when checked and not revoked at the validation time, else ``not_checked``."""
        return "good" if self.checked else "not_checked"

    @property
    def description(self) -> str:
        """A sentence for people and logs (no personal data)."""
        if not self.checked:
            return "revocation not checked"
        return f"not revoked at {self.at.isoformat()} ({self.mode.upper()} from {self.source})"


class RevocationProvider(Protocol):
    """Checks one certificate against its issuing root at a time; raises RevocationError unless it was good."""

    @property
    def mode(self) -> RevocationMode:
        """Which kind of revocation data this provider uses."""
        ...

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Return the outcome when ``cert`` was not revoked at ``at``; raise a RevocationError otherwise."""
        ...


class UncheckedProvider:
    """Explicitly skips revocation: the outcome says "revocation not checked", never good."""

    @property
    def mode(self) -> RevocationMode:
        """Always ``unchecked``."""
        return "unchecked"

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Return the not-checked outcome."""
        return RevocationOutcome(mode="unchecked", checked=False, source="none", at=at)


# -- shared helpers ------------------------------------------------------------------------------------------------


def public_key_bits(cert: x509.Certificate) -> bytes:
    """The contents of a certificate's subjectPublicKey BIT STRING (what OCSP key hashes cover)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _spki_bits(spki)


def _spki_bits(spki: bytes) -> bytes:
    # SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }: skip the outer header and the
    # algorithm, then return the BIT STRING contents after its unused-bits byte.
    def header(data: bytes, pos: int) -> tuple[int, int]:
        first = data[pos + 1]
        if first < 0x80:
            return pos + 2, first
        count = first & 0x7F
        return pos + 2 + count, int.from_bytes(data[pos + 2 : pos + 2 + count], "big")

    start, _ = header(spki, 0)
    alg_start, alg_len = header(spki, start)
    bits_start, bits_len = header(spki, alg_start + alg_len)
    return spki[bits_start + 1 : bits_start + bits_len]


def issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of an issuer certificate under a hash algorithm."""
    return _digest(algorithm, issuer.subject.public_bytes()), _digest(algorithm, public_key_bits(issuer))


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("the validation time must be timezone-aware")
    return when.astimezone(dt.UTC)


# cryptography decodes names, extensions and algorithm identifiers only when they are first read; a malformed one
# then raises one of these. A CRL or OCSP response comes from the network, so such a defect is the answer's fault.
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@contextlib.contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Turn a decoding failure inside the block into RevocationResponseError naming ``what``."""
    try:
        yield
    except _DECODE_ERRORS:
        raise RevocationResponseError(f"{what} has a field that cannot be decoded") from None


def _http(
    client: httpx.Client | None,
    timeout: float,
    method: str,
    url: str,
    max_bytes: int,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Fetched:
    """Send one request through the bounded fetch; any failure means revocation data is unavailable."""
    try:
        return fetch(method, url, max_bytes=max_bytes, timeout=timeout, client=client, content=content, headers=headers)
    except FetchTooLargeError:
        raise RevocationUnavailableError(f"the answer from {url} exceeds {max_bytes} bytes") from None
    except FetchError as exc:
        raise RevocationUnavailableError(f"cannot reach {url}: {exc.message}") from None


def _check_dates(
    this_update: dt.datetime,
    next_update: dt.datetime | None,
    at: dt.datetime,
    now: dt.datetime,
    skew: dt.timedelta,
    max_age: dt.timedelta | None,
    error: type[StaleRevocationError],
    what: str,
    max_response_age: dt.timedelta | None = None,
) -> None:
    if this_update > now + skew:
        raise error(f"the {what} is dated in the future (thisUpdate {this_update.isoformat()})")
    if next_update is not None:
        if next_update < this_update:
            raise error(f"the {what} has a nextUpdate before its thisUpdate")
        if next_update + skew < at:
            raise error(f"the {what} expired at {next_update.isoformat()}, before the validation time {at.isoformat()}")
    elif max_age is None:
        raise error(f"the {what} has no nextUpdate, so its freshness cannot be established")
    elif this_update + max_age + skew < at:
        raise error(f"the {what} from {this_update.isoformat()} is older than {max_age} at the validation time")
    if max_response_age is not None and this_update + max_response_age + skew < at:
        raise error(
            f"the {what} from {this_update.isoformat()} is older than {max_response_age} at the validation time, "
            "whatever its nextUpdate"
        )


def _revoked(at: dt.datetime, time: dt.datetime, reason: x509.ReasonFlags | None, source: str) -> None:
    """Raise CertificateRevokedError when a revocation dated ``time`` had happened by ``at``."""
    if time <= at:
        why = f" ({reason.value})" if reason is not None else ""
        raise CertificateRevokedError(
            f"the certificate was revoked at {time.isoformat()}{why} per {source}", time, reason
        )


# -- CRL -----------------------------------------------------------------------------------------------------------


class CrlProvider:
    """Checks a certificate against CRLs from files or HTTP URLs (default: the certificate's HTTP CRL DPs)."""

    def __init__(
        self,
        sources: Sequence[str | Path] | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Clock = utc_now,
        clock_skew: dt.timedelta = DEFAULT_SKEW,
        max_bytes: int = _MAX_CRL_BYTES,
    ) -> None:
        self.sources = tuple(sources) if sources is not None else None
        self.client = client
        self.timeout = timeout
        self.clock = clock
        self.clock_skew = clock_skew
        self.max_bytes = max_bytes

    @property
    def mode(self) -> RevocationMode:
        """Always ``crl``."""
        return "crl"

    def _sources(self, cert: x509.Certificate) -> list[str | Path]:
        if self.sources is not None:
            return list(self.sources)
        try:
            points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except x509.ExtensionNotFound:
            return []
        return [
            name.value
            for point in points
            for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://"))
        ]

    def _load(self, source: str | Path) -> x509.CertificateRevocationList:
        if isinstance(source, str) and source.startswith(("http://", "https://")):
            response = _http(self.client, self.timeout, "GET", source, self.max_bytes)
            if response.status_code != 200:
                raise RevocationUnavailableError(f"{source} answered HTTP {response.status_code}")
            data = response.content
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise RevocationUnavailableError(f"cannot read the CRL file {source} ({type(exc).__name__})") from None
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                return x509.load_pem_x509_crl(data)
            return x509.load_der_x509_crl(data)
        except (ValueError, x509.InvalidVersion):
            raise RevocationResponseError(f"{source} is not a DER or PEM CRL") from None

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Find the CRL of the certificate's root, verify it, and look the serial up."""
        at = _aware(at)
        sources = self._sources(cert)
        if not sources:
            raise RevocationUnavailableError(
                "no CRL source: none is configured and the certificate names no HTTP distribution point"
            )
        issuer_key_id = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
        for source in sources:
            crl = self._load(source)
            with _decoding(f"the CRL from {source}"):
                if crl.issuer != issuer.subject:
                    continue
                try:
                    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
                except x509.ExtensionNotFound:
                    aki = None
                if aki is not None and aki != issuer_key_id:
                    continue  # another root generation with the same name
                return self._check_crl(crl, str(source), cert, issuer, at)
        raise RevocationUnavailableError("none of the configured CRLs was issued by the certificate's root")

    def _check_crl(
        self,
        crl: x509.CertificateRevocationList,
        source: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: dt.datetime,
    ) -> RevocationOutcome:
        public_key = issuer.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) or not crl.is_signature_valid(
            public_key
        ):
            raise CrlSignatureError(f"the CRL from {source} is not signed by the certificate's root")
        for extension in crl.extensions:
            if isinstance(extension.value, x509.IssuingDistributionPoint):
                idp = extension.value
                if idp.only_contains_ca_certs or idp.only_contains_attribute_certs or idp.only_some_reasons:
                    raise RevocationResponseError(
                        f"the CRL from {source} is partial and does not cover user certificates"
                    )
                if idp.indirect_crl:
                    raise RevocationResponseError(f"the CRL from {source} is an indirect CRL, which is not supported")
            elif extension.critical and not isinstance(extension.value, x509.CRLNumber | x509.DeltaCRLIndicator):
                raise RevocationResponseError(f"the CRL from {source} has an unsupported critical extension")
            if isinstance(extension.value, x509.DeltaCRLIndicator):
                raise RevocationResponseError(f"{source} is a delta CRL; a complete CRL is required")
        _check_dates(
            crl.last_update_utc, crl.next_update_utc, at, self.clock(), self.clock_skew, None, StaleCrlError, "CRL"
        )
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            reason: x509.ReasonFlags | None = None
            with contextlib.suppress(x509.ExtensionNotFound):
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            if reason is not x509.ReasonFlags.remove_from_crl:
                _revoked(at, entry.revocation_date_utc, reason, f"the CRL from {source}")
        return RevocationOutcome("crl", True, source, at, crl.last_update_utc, crl.next_update_utc)


# -- OCSP ----------------------------------------------------------------------------------------------------------


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
        at = _aware(at)
        url = self._url(cert)
        nonce = self.nonce_source()
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, issuer, hashes.SHA256())
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        response = _http(
            self.client,
            self.timeout,
            "POST",
            url,
            _MAX_RESPONSE_BYTES,
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
        at = _aware(at)
        try:
            response = ocsp.load_der_ocsp_response(response_der)
        except ValueError:
            raise RevocationResponseError(f"the answer from {source} is not a DER OCSP response") from None
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailableError(f"the OCSP responder {source} refused: {response.response_status.name}")
        now = self.clock()
        with _decoding(f"the OCSP response from {source}"):
            self._verify_signature(response, issuer, source, (at, now))
            self._verify_nonce(response, nonce, source)
            single = _matching_response(response, cert, issuer, source)
            revocation_time, revocation_reason = single.revocation_time_utc, single.revocation_reason
        _check_dates(
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
            _revoked(at, revocation_time, revocation_reason, f"the OCSP responder {source}")
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


# -- platform operator ---------------------------------------------------------------------------------------------

PlatformKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PlatformSigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _jws_alg(key: PlatformKey | PlatformSigningKey) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise TypeError("the platform response key must be Ed25519 or ECDSA P-256")


def encode_platform_response(payload: Mapping[str, object], key: PlatformSigningKey) -> str:
    """Sign a platform-operator status payload as a compact JWS (the operator side of the API above)."""

    def sign(signing_input: bytes) -> bytes:
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(signing_input)
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    header = {"alg": _jws_alg(key), "typ": PLATFORM_JWS_TYPE}
    body = compact_json(dict(payload), error=RevocationResponseError)
    return encode_compact(header, body, sign, error=RevocationResponseError)


def decode_platform_response(token: str, key: PlatformKey) -> dict[str, object]:
    """Verify a compact-JWS platform response under the operator's key and return its payload."""
    what = "the platform response"
    parts = parse_compact(token.strip(), what=what, max_size=_MAX_RESPONSE_BYTES, error=RevocationResponseError)
    header = parts.header
    if header.get("typ") != PLATFORM_JWS_TYPE:
        raise RevocationResponseError(f"the platform response typ must be {PLATFORM_JWS_TYPE}")
    if header.get("alg") != _jws_alg(key) or set(header) - {"alg", "typ", "kid"}:
        raise PlatformSignatureError("the platform response uses an algorithm other than the configured key's")
    signature = parts.signature
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, parts.signing_input)
        else:
            if len(signature) != 64:
                raise InvalidSignature("wrong ES256 signature length")
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, parts.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PlatformSignatureError(
            "the platform response signature does not verify under the operator's key"
        ) from None
    return strict_json(parts.payload, f"{what} payload", error=RevocationResponseError)


_END_OF_YEAR_9999 = 253_402_300_800  # the first second datetime cannot hold


def _optional_timestamp(payload: Mapping[str, object], name: str) -> dt.datetime | None:
    return None if payload.get(name) is None else _timestamp(payload, name)


def _timestamp(payload: Mapping[str, object], name: str) -> dt.datetime:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _END_OF_YEAR_9999:
        raise RevocationResponseError(f"the platform response field {name} must be a unix time in seconds")
    return dt.datetime.fromtimestamp(value, dt.UTC)


class PlatformOperatorProvider:
    """Asks a certified platform operator (プラットフォーム事業者) over the JSON API in this module's docstring."""

    def __init__(
        self,
        base_url: str,
        response_key: PlatformKey,
        *,
        api_key: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Clock = utc_now,
        clock_skew: dt.timedelta = DEFAULT_SKEW,
        nonce_source: Callable[[], bytes] = lambda: secrets.token_bytes(16),
    ) -> None:
        _jws_alg(response_key)
        self.base_url = base_url.rstrip("/")
        self.response_key = response_key
        self._api_key = api_key
        self.client = client
        self.timeout = timeout
        self.clock = clock
        self.clock_skew = clock_skew
        self.nonce_source = nonce_source

    @property
    def mode(self) -> RevocationMode:
        """Always ``platform``."""
        return "platform"

    def __repr__(self) -> str:
        return f"PlatformOperatorProvider({self.base_url!r}, api_key={'set' if self._api_key else 'unset'})"

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Ask the operator about the certificate's serial and root, then verify the signed answer."""
        at = _aware(at)
        name_hash, key_hash = issuer_hashes(issuer, hashes.SHA256())
        nonce = b64url_encode(self.nonce_source())
        request = {
            "serial_number": format(cert.serial_number, "x"),
            "issuer_name_hash": name_hash.hex(),
            "issuer_key_hash": key_hash.hex(),
            "nonce": nonce,
            "at": at.isoformat(),
        }
        headers = {"Content-Type": "application/json", "Accept": "application/jwt"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = self.base_url + PLATFORM_STATUS_PATH
        response = _http(
            self.client,
            self.timeout,
            "POST",
            url,
            _MAX_RESPONSE_BYTES,
            content=compact_json(request, error=RevocationResponseError),
            headers=headers,
        )
        if response.status_code != 200:
            raise RevocationUnavailableError(
                f"the platform operator {url} answered HTTP {response.status_code}{_error_code(response)}"
            )
        try:
            token = response.content.decode("ascii")
        except UnicodeDecodeError:
            raise RevocationResponseError("the platform response is not an ASCII compact JWS") from None
        payload = decode_platform_response(token, self.response_key)
        for field_name in ("serial_number", "issuer_name_hash", "issuer_key_hash"):
            if payload.get(field_name) != request[field_name]:
                raise RevocationResponseError(
                    f"the platform response is about another certificate ({field_name} differs)"
                )
        echoed = payload.get("nonce")
        if not isinstance(echoed, str) or not secrets.compare_digest(echoed, nonce):
            raise NonceMismatchError("the platform response answers a different request (nonce mismatch)")
        this_update = _timestamp(payload, "this_update")
        next_update = _optional_timestamp(payload, "next_update")
        _check_dates(
            this_update,
            next_update,
            at,
            self.clock(),
            self.clock_skew,
            None,
            StalePlatformResponseError,
            "platform response",
        )
        status = payload.get("status")
        if status == "unknown":
            raise RevocationStatusUnknownError("the platform operator does not know the certificate")
        if status == "revoked":
            revocation_time = _timestamp(payload, "revocation_time")
            reason = _reason(payload.get("revocation_reason"))
            _revoked(at, revocation_time, reason, "the platform operator")
        elif status != "good":
            raise RevocationResponseError("the platform response status must be good, revoked or unknown")
        return RevocationOutcome("platform", True, url, at, this_update, next_update)


def _reason(value: object) -> x509.ReasonFlags | None:
    if value is None:
        return None
    try:
        return x509.ReasonFlags(value)
    except ValueError:
        raise RevocationResponseError("the platform response has an unknown revocation_reason") from None


def _error_code(response: Fetched) -> str:
    try:
        code = strict_json(response.content, "the platform error", error=RevocationResponseError).get("error")
    except RevocationResponseError:
        return ""
    if isinstance(code, str) and code.isascii() and code.replace("_", "").isalnum() and len(code) <= 64:
        return f" ({code})"
    return ""
