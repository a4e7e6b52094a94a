"""Verify a signed document: the signature, the signer's xid CA certificate (chain and OCSP) and the ledger receipt.

- A PDF is validated by pyHanko's own validator (``validate_pdf_signature``, a code path separate from signing): every
  embedded signature must be intact and valid, its signer certificate must chain to the xid CA root with the
  ``non_repudiation`` key usage and be ``good`` per the CA's OCSP responder (revocation ``require``: a certificate
  without a status source, or no answer, is a failure), and the last signature must cover the whole file. An RFC
  3161 signature timestamp (PAdES-B-T) must be valid and its TSA chain to a TSA root given (``tsa_roots``; the
  operating system's trust list is not used) with the TSA's revocation checked ``soft-fail`` (public TSAs publish
  CRLs that may be out of reach).
- A detached JWS (``header..signature``, see ``wallet.signing``) is checked over the file's bytes with the key of the
  ``x5c`` leaf, and the leaf validated by pyhanko-certvalidator with the same trust root and OCSP policy.
- The receipt (``<signature>.receipt``, C2SP tlog-proof) must carry the ledger entry in its ``extra`` line: a
  ``signature`` record whose ``object`` is the SHA-256 of the signed PDF, or of the file a JWS signs; the inclusion
  of exactly those entry bytes is verified against the checkpoint signed by the log's key (``ledger.receipt``).

Trust comes from the caller: the xid CA root (a PEM file, or ``{issuer}/ca/root.pem``) and the log's verifier key
(given, or ``{issuer}/ledger/v1/key``); never from a URL inside the certificate. Errors::

    WalletError
    └── SignatureCheckError             signatureCheckFailed  (base; not raised itself)
        ├── SignatureInvalidError       signatureInvalid      the signature does not verify: the document changed
        ├── SignerUntrustedError        signerUntrusted       the certificate does not chain to the xid CA root
        ├── SignerRevokedError          signerRevoked         the signing certificate is revoked (OCSP)
        ├── RevocationUnknownError      revocationUnknown     the certificate status could not be established
        ├── TimestampUntrustedError     timestampUntrusted    a PDF's RFC 3161 timestamp is invalid or its TSA untrusted
        └── ReceiptInvalidError         receiptInvalid        the receipt is missing, malformed or proves another entry
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import Any, Final

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from did import PublicKey
from did.errors import DidError
from foundation.b64 import b64url_bytes, b64url_decode
from foundation.errors import XidError
from foundation.http import FetchError, fetch
from foundation.strict_json import strict_json
from ledger.errors import LedgerError
from ledger.note import Ed25519NoteVerifier
from ledger.receipt import Receipt, verify_receipt
from ledger.records import EventType, Record
from wallet.errors import WalletError
from wallet.http import check_url, one_line
from wallet.signing import DOCUMENT_TYP, is_pdf

__all__ = [
    "MAX_SIGNATURE",
    "ReceiptCheck",
    "ReceiptInvalidError",
    "RevocationUnknownError",
    "SignatureCheckError",
    "SignatureInvalidError",
    "SignatureReport",
    "SignerRevokedError",
    "SignerUntrustedError",
    "TimestampUntrustedError",
    "TrustInputs",
    "fetch_trust",
    "verify_detached",
    "verify_pdf",
    "verify_receipt_for",
]

MAX_SIGNATURE: Final = 64 * 1024
"""The largest detached JWS or receipt read."""
_ALGORITHMS: Final = ("ES256", "EdDSA")


class SignatureCheckError(WalletError):
    """A signed document did not verify (base of the specific reasons)."""

    code = "signatureCheckFailed"


class SignatureInvalidError(SignatureCheckError):
    """The signature does not verify over the document: it was changed after signing, or the signature is broken."""

    code = "signatureInvalid"


class SignerUntrustedError(SignatureCheckError):
    """The signer's certificate does not chain to the xid CA root, or is not a signing certificate."""

    code = "signerUntrusted"


class SignerRevokedError(SignatureCheckError):
    """The signer's certificate was revoked (the CA's OCSP responder says so)."""

    code = "signerRevoked"


class RevocationUnknownError(SignatureCheckError):
    """The status of the signer's certificate could not be established (OCSP unreachable or unusable)."""

    code = "revocationUnknown"


class TimestampUntrustedError(SignatureCheckError):
    """A PDF signature's RFC 3161 timestamp does not verify, or its TSA is not trusted."""

    code = "timestampUntrusted"


class ReceiptInvalidError(SignatureCheckError):
    """The ledger receipt is missing, malformed, for another document, or not proved by the log's checkpoint."""

    code = "receiptInvalid"


@dataclass(frozen=True)
class TrustInputs:
    """What a verification trusts: the xid CA root and the log's note verifier key."""

    root: x509.Certificate
    log_vkey: str | None
    tsa_roots: tuple[x509.Certificate, ...] = ()
    """Roots trusted for timestamp authorities (besides the xid CA root)."""


@dataclass(frozen=True)
class ReceiptCheck:
    """A verified receipt: the entry's index and the checkpoint that covers it."""

    index: int
    origin: str
    size: int
    time: str


@dataclass
class SignatureReport:
    """The outcome of a successful verification."""

    kind: str
    signer: str
    """The certificate's subject common name: the person's pseudonym for the xid CA."""
    signer_did: str | None
    signing_time: datetime | None
    timestamp: datetime | None
    certificate_status: str
    sha256: str
    signatures: int = 1
    receipt: ReceiptCheck | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON."""

        def when(value: datetime | None) -> str | None:
            return value.astimezone(UTC).isoformat(timespec="seconds") if value else None

        return {
            "valid": True,
            "kind": self.kind,
            "signer": self.signer,
            "signer_did": self.signer_did,
            "signing_time": when(self.signing_time),
            "timestamp": when(self.timestamp),
            "certificate_status": self.certificate_status,
            "signatures": self.signatures,
            "sha256": self.sha256,
            "receipt": None
            if self.receipt is None
            else {
                "index": self.receipt.index,
                "origin": self.receipt.origin,
                "size": self.receipt.size,
                "time": self.receipt.time,
            },
        }


def fetch_trust(
    issuer: str,
    *,
    root: x509.Certificate | None = None,
    log_vkey: str | None = None,
    tsa_roots: tuple[x509.Certificate, ...] = (),
) -> TrustInputs:
    """Complete the trust inputs from the issuer: ``/ca/root.pem`` and ``/ledger/v1/key`` when not given."""
    base = check_url(issuer.rstrip("/"), "the issuer URL", SignatureCheckError)
    if root is None:
        text = _get(f"{base}/ca/root.pem", "the xid CA root")
        try:
            root = x509.load_pem_x509_certificate(text)
        except ValueError:
            raise SignerUntrustedError(f"{base}/ca/root.pem is not a PEM certificate") from None
    if log_vkey is None:
        log_vkey = _get(f"{base}/ledger/v1/key", "the log's verifier key").decode("ascii", "replace").strip()
    return TrustInputs(root, log_vkey, tsa_roots)


def _get(url: str, what: str) -> bytes:
    try:
        answer = fetch("GET", url, max_bytes=MAX_SIGNATURE, timeout=10.0)
    except FetchError as exc:
        raise SignatureCheckError(f"{what}: {one_line(exc.message)}") from None
    if answer.status_code != 200:
        raise SignatureCheckError(f"{what}: {url} answered HTTP {answer.status_code}")
    return answer.content


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def _validation_context(root: x509.Certificate) -> Any:
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    return ValidationContext(
        trust_roots=[_asn1(root)],
        allow_fetching=True,
        revocation_mode="require",
        fetcher_backend=RequestsFetcherBackend(),
    )


def _timestamp_context(trust: TrustInputs) -> Any:
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    return ValidationContext(
        trust_roots=[_asn1(c) for c in (trust.root, *trust.tsa_roots)],
        allow_fetching=True,
        revocation_mode="soft-fail",
        fetcher_backend=RequestsFetcherBackend(),
    )


def _signer_names(certificate: asn1_x509.Certificate) -> tuple[str, str | None]:
    parsed = x509.load_der_x509_certificate(certificate.dump())
    names = parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    signer = str(names[0].value) if names else parsed.subject.rfc4514_string()
    did = None
    try:
        san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("did:")]
        did = uris[0] if uris else None
    except x509.ExtensionNotFound:
        pass
    return signer, did


def verify_pdf(data: bytes, trust: TrustInputs) -> SignatureReport:
    """Validate every signature of a PDF with pyHanko (trust root: the xid CA; OCSP required)."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    if not is_pdf(data):
        raise SignatureInvalidError("the file is not a PDF")
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalidError(f"the PDF cannot be read: {one_line(str(exc), 150)}") from None
    if not signatures:
        raise SignatureInvalidError("the PDF holds no signature")
    statuses = []
    for embedded in signatures:
        try:
            status = validate_pdf_signature(
                embedded, _validation_context(trust.root), ts_validation_context=_timestamp_context(trust)
            )
        except (PdfError, ValueError, KeyError, TypeError) as exc:
            raise SignatureInvalidError(f"a signature cannot be validated: {one_line(str(exc), 150)}") from None
        if not status.intact or not status.valid:
            raise SignatureInvalidError("a signature does not match the document: it was changed after signing")
        if status.revoked:
            raise SignerRevokedError("the signing certificate was revoked (OCSP)")
        if not status.trusted:
            problem = getattr(status.trust_problem_indic, "name", "unknown")
            if "REVOC" in problem or "TRY_LATER" in problem:
                raise RevocationUnknownError(f"the signing certificate's status is unknown ({problem})")
            raise SignerUntrustedError(f"the signing certificate is not trusted ({problem})")
        stamp = status.timestamp_validity
        if stamp is not None and not (stamp.intact and stamp.valid and stamp.trusted):
            raise TimestampUntrustedError("the signature's timestamp does not verify or its TSA is not trusted")
        if not status.bottom_line:
            raise SignatureInvalidError("the document was modified after signing in a way its signature forbids")
        statuses.append(status)
    last = statuses[-1]
    if last.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise SignatureInvalidError("bytes were added after the last signature")
    signer, did = _signer_names(last.signing_cert)
    timestamp = last.timestamp_validity.timestamp if last.timestamp_validity is not None else None
    return SignatureReport(
        kind="pades",
        signer=signer,
        signer_did=did,
        signing_time=last.signer_reported_dt,
        timestamp=timestamp,
        certificate_status="good",
        sha256=hashlib.sha256(data).hexdigest(),
        signatures=len(statuses),
    )


def _validate_certificate(leaf: x509.Certificate, chain: list[x509.Certificate], root: x509.Certificate) -> None:
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import (
        InsufficientRevinfoError,
        PathBuildingError,
        PathValidationError,
        RevokedError,
    )

    validator = CertificateValidator(
        _asn1(leaf), intermediate_certs=[_asn1(c) for c in chain], validation_context=_validation_context(root)
    )
    try:
        asyncio.run(validator.async_validate_usage({"non_repudiation"}))  # type: ignore[no-untyped-call]
    except RevokedError:
        raise SignerRevokedError("the signing certificate was revoked (OCSP)") from None
    except InsufficientRevinfoError:
        raise RevocationUnknownError("the signing certificate's status could not be established (OCSP)") from None
    except (PathBuildingError, PathValidationError) as exc:
        raise SignerUntrustedError(f"the signing certificate is not trusted: {one_line(str(exc), 150)}") from None
    except Exception as exc:  # certvalidator's other refusals (key usage, validity) share no base class
        if isinstance(exc, XidError):
            raise
        raise SignerUntrustedError(f"the signing certificate is not acceptable: {one_line(str(exc), 150)}") from None


def verify_detached(data: bytes, token: str, trust: TrustInputs) -> SignatureReport:
    """Verify a detached JWS over the file, then its certificate (chain to the xid CA root, OCSP)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[1] != "":
        raise SignatureInvalidError("the signature is not a detached compact JWS (header..signature)")
    try:
        header = strict_json(b64url_decode(parts[0]), "the JWS header", error=SignatureInvalidError)
        signature = b64url_decode(parts[2])
    except ValueError:
        raise SignatureInvalidError("the JWS is not unpadded base64url") from None
    alg = header.get("alg")
    if alg not in _ALGORITHMS or header.get("typ") != DOCUMENT_TYP or "crit" in header:
        raise SignatureInvalidError(f"the JWS header must have alg ES256 or EdDSA and typ {DOCUMENT_TYP}, no crit")
    chain_value = header.get("x5c")
    if not isinstance(chain_value, list) or not 1 <= len(chain_value) <= 4:
        raise SignatureInvalidError("the JWS header has no x5c certificate chain")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(str(c), validate=True)) for c in chain_value]
    except (ValueError, binascii.Error):
        raise SignatureInvalidError("an x5c entry is not a base64 DER certificate") from None
    signing_input = parts[0].encode("ascii") + b"." + b64url_bytes(data)
    try:
        PublicKey.from_cryptography(chain[0].public_key()).verify(signature, signing_input, str(alg))  # type: ignore[arg-type]
    except DidError:
        raise SignatureInvalidError("the signature does not match the file: it was changed after signing") from None
    _validate_certificate(chain[0], chain[1:], trust.root)
    signer, did = _signer_names(_asn1(chain[0]))
    iat = header.get("iat")
    signing_time = datetime.fromtimestamp(iat, UTC) if isinstance(iat, int) and not isinstance(iat, bool) else None
    return SignatureReport(
        kind="jws",
        signer=signer,
        signer_did=did,
        signing_time=signing_time,
        timestamp=None,
        certificate_status="good",
        sha256=hashlib.sha256(data).hexdigest(),
    )


def verify_receipt_for(text: str, sha256: str, log_vkey: str) -> ReceiptCheck:
    """Check that the receipt proves a ``signature`` entry for this hash under a checkpoint signed by the log."""
    try:
        receipt = Receipt.parse(text)
    except LedgerError as exc:
        raise ReceiptInvalidError(f"the receipt is malformed: {exc.message}") from None
    if receipt.extra is None:
        raise ReceiptInvalidError("the receipt does not carry its ledger entry (extra line)")
    try:
        record = Record.from_bytes(receipt.extra)
    except LedgerError as exc:
        raise ReceiptInvalidError(f"the receipt's entry is not a ledger record: {exc.message}") from None
    if record.type != EventType.SIGNATURE or record.object != sha256:
        raise ReceiptInvalidError("the receipt records another event or another document")
    try:
        verifier = Ed25519NoteVerifier.from_vkey(log_vkey)
        checkpoint = verify_receipt(receipt, receipt.extra, verifier)
    except (LedgerError, ValueError) as exc:
        message = exc.message if isinstance(exc, XidError) else str(exc)
        raise ReceiptInvalidError(f"the receipt does not verify with the log's key: {one_line(message)}") from None
    return ReceiptCheck(receipt.index, checkpoint.origin, checkpoint.size, record.to_json()["time"])
