"""Document signing with the holder key and the xid CA signing certificate; the event recorded in the xid Ledger.

- A PDF (it starts with ``%PDF-``) gets a PAdES signature made with pyHanko: PAdES-B-B, or PAdES-B-T with an
  RFC 3161 timestamp when a TSA URL is given. The CMS signature is made by the holder key through ``did.Signer``
  (``cms_signer``; ECDSA's JOSE r||s becomes the DER ``ECDSA-Sig-Value`` of CMS) with the signing certificate
  and its chain embedded. Written as ``FILE.signed.pdf``.
- Any other file gets a detached JWS (RFC 7515 appendix F, detached content): the payload is the file itself
  (base64url in the signing input, as RFC 7515 §5.1 has it) and is left out of the serialization, written as
  ``header..signature`` to ``FILE.jws``. The header: ``alg`` (ES256 or EdDSA), ``typ`` ``xid-document+jws``,
  ``x5c`` = [signing certificate, chain...] (standard base64 DER, RFC 7515 §4.1.6), ``iat`` (the claimed signing
  time). Any JOSE library verifies it by putting the file's base64url back between the dots.
- The event: ``POST {issuer}/ledger/v1/signatures`` with a proof JWS by the same key (``typ``
  ``xid-signature-record+jwt``, the certificate chain in ``x5c``) over ``{"sha256": <hex of the document>, "iat"}``;
  the answer's receipt (C2SP tlog-proof text whose ``extra`` line carries the ledger entry) is written beside the
  signature as ``<signature>.receipt``. The hash recorded is that of the signed PDF as written (its signature
  included), or of the file a detached JWS signs: what a verifier holds in hand.

Nothing is overwritten: outputs are written atomically and refused when they exist. Errors::

    WalletError
    └── SigningError                 signingFailed       the document cannot be signed (no certificate, bad input)
        └── NoSigningCertificateError noSigningCertificate  the wallet holds no xid CA signing certificate
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from asn1crypto import algos as asn1_algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from did import Signer
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from wallet.errors import IssuerProtocolError, WalletCorruptError, WalletError
from wallet.http import WalletHttp
from wallet.vault import Vault, atomic_write, list_records

__all__ = [
    "DOCUMENT_TYP",
    "MAX_DOCUMENT",
    "PDF_MAGIC",
    "RECORD_PROOF_TYP",
    "SIGNATURES_PATH",
    "NoSigningCertificateError",
    "SignedDocument",
    "SigningCertificate",
    "SigningError",
    "cms_signer",
    "detached_jws",
    "is_pdf",
    "output_paths",
    "record_proof",
    "request_receipt",
    "sign_document",
    "sign_pdf",
    "signing_certificate",
    "x5c",
]

PDF_MAGIC: Final = b"%PDF-"
"""The bytes a PDF starts with (ISO 32000-2 §7.5.2)."""
DOCUMENT_TYP: Final = "xid-document+jws"
"""The JOSE ``typ`` of a detached document signature."""
RECORD_PROOF_TYP: Final = "xid-signature-record+jwt"
"""The JOSE ``typ`` of the proof sent with a signature event to the ledger."""
SIGNATURES_PATH: Final = "/ledger/v1/signatures"
"""Where an issuer takes signature events (relative to its base URL)."""
MAX_DOCUMENT: Final = 256 * 1024 * 1024
"""The largest document signed (read into memory whole)."""

_CMS_ALGORITHMS: Final = {"ES256": "sha256_ecdsa", "EdDSA": "ed25519"}


class SigningError(WalletError):
    """The document cannot be signed: no usable certificate, an unreadable input, or the signer misbehaved."""

    code = "signingFailed"


class NoSigningCertificateError(SigningError):
    """The wallet holds no xid CA signing certificate (enroll first)."""

    code = "noSigningCertificate"


@dataclass(frozen=True)
class SigningCertificate:
    """The xid CA signing certificate of the holder key, with its chain (up to the root) and its issuer's URL."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    issuer: str


def signing_certificate(vault: Vault, issuer: str | None = None) -> SigningCertificate:
    """The newest stored signing certificate (of the given issuer, when one is named) that is still valid."""
    now = datetime.now(UTC)
    best: tuple[str, SigningCertificate] | None = None
    for record in list_records(vault.directory, "certificate"):
        meta = record.meta
        if meta.get("usage") != "signing" or (issuer is not None and meta.get("issuer") != issuer.rstrip("/")):
            continue
        _, plaintext = vault.get(record.id)
        try:
            body = json.loads(plaintext)
            certificate = x509.load_pem_x509_certificate(body["certificate"].encode("ascii"))
            chain = tuple(x509.load_pem_x509_certificate(c.encode("ascii")) for c in body["chain"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise WalletCorruptError(f"record {record.id!r} does not hold a certificate and its chain") from None
        if certificate.not_valid_after_utc <= now:
            continue
        received = str(meta.get("received", ""))
        if best is None or received > best[0]:
            best = (received, SigningCertificate(certificate, chain, str(meta.get("issuer", ""))))
    if best is None:
        where = f" from {issuer}" if issuer else ""
        raise NoSigningCertificateError(
            f"the wallet holds no valid xid CA signing certificate{where}: run 'xid wallet enroll' first"
        )
    return best[1]


def x5c(certificate: SigningCertificate) -> list[str]:
    """The ``x5c`` header value: the certificate then its chain, standard base64 DER (RFC 7515 §4.1.6)."""
    certificates = (certificate.certificate, *certificate.chain)
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in certificates]


def _check_key(holder: Signer, certificate: SigningCertificate) -> None:
    from did import PublicKey

    if PublicKey.from_cryptography(certificate.certificate.public_key()) != PublicKey.from_jwk(holder.public_jwk):  # type: ignore[arg-type]
        raise SigningError("the signing certificate is for another key than this wallet's holder key")
    if holder.algorithm not in _CMS_ALGORITHMS:
        raise SigningError(f"a holder key signs with ES256 or EdDSA, not {holder.algorithm}")


def is_pdf(data: bytes) -> bool:
    """Whether the bytes are a PDF (by its magic bytes)."""
    return data.startswith(PDF_MAGIC)


def detached_jws(data: bytes, holder: Signer, certificate: SigningCertificate, now: float) -> str:
    """A detached JWS (RFC 7515 appendix F) over the document: ``header..signature``."""
    _check_key(holder, certificate)
    header = {"alg": holder.algorithm, "typ": DOCUMENT_TYP, "x5c": x5c(certificate), "iat": int(now)}
    token = encode_compact(header, data, holder.sign)
    head, _, rest = token.partition(".")
    return f"{head}..{rest.rpartition('.')[2]}"


def record_proof(holder: Signer, certificate: SigningCertificate, sha256: str, now: float) -> str:
    """The proof of possession sent with a signature event: a JWS over ``{"sha256", "iat"}`` with ``x5c``."""
    _check_key(holder, certificate)
    header = {"alg": holder.algorithm, "typ": RECORD_PROOF_TYP, "x5c": x5c(certificate)}
    return encode_compact(header, compact_json({"sha256": sha256, "iat": int(now)}), holder.sign)


def request_receipt(http: WalletHttp, issuer: str, proof: str, sha256: str) -> str:
    """Record the signature event with the issuer's ledger; return the receipt text (tlog-proof) after checking it.

    The receipt must carry a ``signature`` entry for exactly this hash (its inclusion is checked by whoever verifies
    the signature, with the log's key).
    """
    from ledger.errors import LedgerError
    from ledger.receipt import Receipt
    from ledger.records import EventType, Record

    answer = http.post_json(f"{issuer.rstrip('/')}{SIGNATURES_PATH}", {"proof": proof}, "the signature record")
    receipt = answer.get("receipt")
    if not isinstance(receipt, str) or len(receipt) > 16384:
        raise IssuerProtocolError("the signature record's answer has no receipt")
    try:
        parsed = Receipt.parse(receipt)
        record = Record.from_bytes(parsed.extra) if parsed.extra is not None else None
    except LedgerError as exc:
        raise IssuerProtocolError(f"the signature record's receipt is malformed: {exc.message}") from None
    if record is None or record.type != EventType.SIGNATURE or record.object != sha256:
        raise IssuerProtocolError("the signature record's receipt does not record this document's signature")
    return receipt


def cms_signer(holder: Signer, certificate: SigningCertificate) -> Any:
    """A pyHanko ``Signer`` whose raw signatures come from a ``did.Signer`` (software or PKCS#11 holder key)."""
    from pyhanko.sign.signers import Signer as PyHankoSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    _check_key(holder, certificate)
    algorithm = _CMS_ALGORITHMS[holder.algorithm]

    def load(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))

    class HolderSigner(PyHankoSigner):
        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            if dry_run:  # only the size matters: a DER ECDSA-Sig-Value is at most 72 bytes for P-256
                return bytes(72 if holder.algorithm == "ES256" else 64)
            if holder.algorithm == "ES256" and digest_algorithm != "sha256":
                raise SigningError(f"ES256 signs SHA-256 digests, not {digest_algorithm}")
            signature = holder.sign(data)
            if holder.algorithm == "ES256":  # JOSE r||s to the DER ECDSA-Sig-Value of CMS (RFC 5753)
                size = len(signature) // 2
                signature = encode_dss_signature(
                    int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
                )
            return signature

    return HolderSigner(
        signing_cert=load(certificate.certificate),
        cert_registry=SimpleCertificateStore.from_certs([load(c) for c in certificate.chain]),  # type: ignore[no-untyped-call]
        signature_mechanism=asn1_algos.SignedDigestAlgorithm({"algorithm": algorithm}),
        embed_roots=True,
    )


def sign_pdf(data: bytes, holder: Signer, certificate: SigningCertificate, *, tsa: str | None = None) -> bytes:
    """The PDF with a PAdES signature (B-B; B-T with an RFC 3161 timestamp from ``tsa``) appended incrementally."""
    from io import BytesIO

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps.requests_client import HTTPTimeStamper

    signer = cms_signer(holder, certificate)
    try:
        writer = IncrementalPdfFileWriter(BytesIO(data), strict=False)
        field_name = _free_field_name(writer)
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256" if holder.algorithm == "ES256" else "sha512",
            subfilter=fields.SigSeedSubFilter.PADES,
            use_pades_lta=False,
        )
        timestamper = HTTPTimeStamper(tsa, timeout=10) if tsa is not None else None  # type: ignore[no-untyped-call]
        pdf_signer = signers.PdfSigner(
            meta, signer=signer, timestamper=timestamper, new_field_spec=fields.SigFieldSpec(field_name)
        )
        out = BytesIO()
        asyncio.run(pdf_signer.async_sign_pdf(writer, output=out))
    except PdfError as exc:
        raise SigningError(f"the PDF cannot be signed: {str(exc)[:200]}") from None
    return out.getvalue()


def _free_field_name(writer: Any) -> str:
    from pyhanko.sign import fields

    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer, filled_status=None)}
    index = 1
    while f"xid-signature-{index}" in taken:
        index += 1
    return f"xid-signature-{index}"


def output_paths(document: Path, pdf: bool, out: Path | None) -> tuple[Path, Path]:
    """Where the signature and its receipt go: ``FILE.signed.pdf`` / ``FILE.jws`` (or ``out``) and ``.receipt``."""
    signature = out if out is not None else document.with_name(document.name + (".signed.pdf" if pdf else ".jws"))
    return signature, signature.with_name(signature.name + ".receipt")


@dataclass(frozen=True)
class SignedDocument:
    """What ``sign_document`` wrote and recorded."""

    kind: str
    """``pades`` or ``jws``."""
    sha256: str
    """SHA-256 (hex) recorded in the ledger: of the signed PDF as written, or of the file a JWS signs."""
    signature: Path
    receipt: Path | None
    index: int | None
    """The ledger index of the signature event."""


def _receipt_index(receipt: str) -> int:
    from ledger.receipt import Receipt

    return Receipt.parse(receipt).index


def sign_document(
    document: Path,
    holder: Signer,
    certificate: SigningCertificate,
    *,
    out: Path | None = None,
    http: WalletHttp | None = None,
    issuer: str | None = None,
    tsa: str | None = None,
    record: bool = True,
    clock: Callable[[], float] = time.time,
) -> SignedDocument:
    """Sign a file (PAdES for a PDF, else a detached JWS), write it beside the input, record it, store the receipt."""
    try:
        with document.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT + 1)
    except OSError as exc:
        raise SigningError(f"cannot read {document}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_DOCUMENT:
        raise SigningError(f"{document} is larger than {MAX_DOCUMENT} bytes")
    pdf = is_pdf(data)
    signature_path, receipt_path = output_paths(document, pdf, out)
    if signature_path.resolve() == document.resolve():
        raise SigningError("the signature would overwrite the document; choose another --out")
    for path in (signature_path, receipt_path):
        if path.exists():
            raise SigningError(f"{path} already exists; it is never overwritten")
    if pdf:
        output = sign_pdf(data, holder, certificate, tsa=tsa)
        sha256 = hashlib.sha256(output).hexdigest()
    else:
        output = (detached_jws(data, holder, certificate, clock()) + "\n").encode("ascii")
        sha256 = hashlib.sha256(data).hexdigest()
    receipt = None
    if record:
        # the ledger first: a signature written without its event would look recorded when it is not
        proof = record_proof(holder, certificate, sha256, clock())
        receipt = request_receipt(http or WalletHttp(), issuer or certificate.issuer, proof, sha256)
    atomic_write(signature_path, output, overwrite=False)
    if receipt is not None:
        atomic_write(receipt_path, receipt.encode("utf-8"), overwrite=False)
    return SignedDocument(
        kind="pades" if pdf else "jws",
        sha256=sha256,
        signature=signature_path,
        receipt=receipt_path if receipt is not None else None,
        index=_receipt_index(receipt) if receipt is not None else None,
    )
