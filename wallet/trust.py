"""The roots the wallet trusts for verifiers' certificates (the ``x509_san_dns`` client identifier prefix).

Two sources: the root of every xid CA chain the wallet received at enrollment (``CredentialStore`` certificate
records), and roots the person adds with ``xid wallet trust add CERT.pem``. An added root is a sealed record of
the vault (kind ``trust-root``), so nobody who can only write the wallet's files can slip a root in: a record
that was not sealed with the passphrase does not decrypt. Its clear metadata is the certificate's subject, its
SHA-256 fingerprint and validity end (a CA's, not a person's, data).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from wallet.errors import InvalidCertificateError, WalletCorruptError
from wallet.vault import Record, Vault, list_records

__all__ = ["MAX_PEM", "TRUST_KIND", "add_root", "ca_certificate", "list_roots", "trusted_roots"]

TRUST_KIND: Final = "trust-root"
"""The record kind of a root the person added."""

MAX_PEM: Final = 64 * 1024
"""The largest certificate file ``add_root`` reads, in bytes."""


def ca_certificate(pem: bytes) -> x509.Certificate:
    """The one CA certificate in a PEM text (InvalidCertificateError otherwise)."""
    if len(pem) > MAX_PEM:
        raise InvalidCertificateError(f"the certificate file is larger than {MAX_PEM} bytes")
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise InvalidCertificateError("the file holds no PEM certificate") from None
    if len(certificates) != 1:
        raise InvalidCertificateError(f"the file holds {len(certificates)} certificates; add one root at a time")
    certificate = certificates[0]
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except ValueError:
        raise InvalidCertificateError("the certificate has malformed extensions") from None
    if constraints is None or not constraints.ca:
        raise InvalidCertificateError("the certificate is not a CA certificate (basicConstraints cA is not true)")
    if certificate.not_valid_after_utc <= datetime.now(UTC):
        raise InvalidCertificateError("the certificate has expired")
    return certificate


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def add_root(vault: Vault, pem: bytes) -> Record:
    """Trust a CA certificate for verifiers' certificates from now on (adding it twice keeps one record)."""
    certificate = ca_certificate(pem)
    fingerprint = _fingerprint(certificate)
    meta = {
        "subject": certificate.subject.rfc4514_string()[:200],
        "sha256": fingerprint,
        "validUntil": certificate.not_valid_after_utc.isoformat(timespec="seconds"),
        "added": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return vault.put(f"trust-{fingerprint[:32]}", TRUST_KIND, meta, certificate.public_bytes(Encoding.PEM))


def trusted_roots(vault: Vault) -> list[x509.Certificate]:
    """Every root the wallet trusts: the xid CA roots of its certificate chains and the roots the person added."""
    roots: dict[str, x509.Certificate] = {}
    for record in list_records(vault.directory):
        if record.kind not in ("certificate", TRUST_KIND):
            continue
        _, plaintext = vault.get(record.id)
        try:
            if record.kind == TRUST_KIND:
                found = x509.load_pem_x509_certificates(plaintext)
            else:
                chain = json.loads(plaintext).get("chain") or []
                found = x509.load_pem_x509_certificates(chain[-1].encode()) if chain else []
        except (ValueError, AttributeError, TypeError):
            raise WalletCorruptError(f"record {record.id!r} does not hold PEM certificates") from None
        for certificate in found:
            if certificate.issuer == certificate.subject:  # a chain's last element is its root
                roots[_fingerprint(certificate)] = certificate
    return list(roots.values())


def list_roots(directory: Path) -> list[Record]:
    """The roots the person added (clear metadata; no passphrase needed)."""
    return list(list_records(directory, TRUST_KIND))
