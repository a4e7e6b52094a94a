"""The TEST CA's revocation protocols, without any server: signed CRLs (RFC 5280 §5) and OCSP responses
(RFC 6960) built with ``cryptography``'s builders from what the CA recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from jpki_bridge.testca.certificates import RootGeneration

__all__ = [
    "CertificateStatus",
    "RootFinder",
    "StatusLookup",
    "build_crl",
    "build_ocsp_response",
]


@dataclass(frozen=True)
class CertificateStatus:
    """What the CA knows about one serial under one root: good, revoked (with time and reason) or unknown."""

    status: Literal["good", "revoked", "unknown"]
    revocation_time: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None


RootFinder = Callable[[hashes.HashAlgorithm, bytes, bytes], RootGeneration | None]
"""Finds the root generation whose (issuerNameHash, issuerKeyHash) under an algorithm are the given ones."""
StatusLookup = Callable[[RootGeneration, int, dt.datetime], CertificateStatus]
"""The status of a serial under a root at a time."""

_CERT_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


def build_crl(
    root: RootGeneration,
    revoked: Iterable[tuple[int, dt.datetime, x509.ReasonFlags]],
    number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
) -> x509.CertificateRevocationList:
    """A complete CRL signed by ``root`` listing the (serial, time, reason) entries revoked by ``this_update``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
    )
    for serial, time, reason in sorted(revoked):
        if time > this_update:
            continue
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(time)
        if reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(root.key, hashes.SHA256())


def build_ocsp_response(
    request_der: bytes, find_root: RootFinder, status_of: StatusLookup, when: dt.datetime, validity: dt.timedelta
) -> bytes:
    """Answer a DER OCSP request, signed by the issuing root itself; echoes the request nonce."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        algorithm = request.hash_algorithm
        name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
        nonce = _request_nonce(request)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if not isinstance(algorithm, hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    root = find_root(algorithm, name_hash, key_hash)
    if root is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    status = status_of(root, serial, when)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=algorithm,
            cert_status=_CERT_STATUS[status.status],
            this_update=when,
            next_update=when + validity,
            revocation_time=status.revocation_time,
            revocation_reason=status.reason if status.status == "revoked" else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, root.cert)
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.sign(root.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _request_nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)
