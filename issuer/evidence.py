"""The enrollment evidence (the eKYC verification record), encrypted at rest, kept for the retention period.

One row per enrollment in ``issuer_evidence``. What the record holds — the card's signature certificate (DER), the
card's signature, the bytes it signed, the verification time and a summary of the validation (which trust anchor,
which revocation mode and source) — is one JSON document encrypted with AES-256-GCM under a key derived from
``OperatorSecrets.evidence_key``, a random 96-bit nonce per row and the row ID as associated data (so a ciphertext
cannot be moved to another row). In clear the row holds only the row ID, the person ID, a keyed hash of the
certificate fingerprint (to mark every row of a certificate found revoked), and its times: never the basic 4 info,
which lives only inside the certificate, inside the ciphertext.

``identity_facts(ctx)`` reads the basic 4 info back when a credential is issued; ``purge_expired`` deletes rows
whose retention (``IssuerSettings.evidence_retention``, 7 years by default) has passed; ``recheck`` re-validates the
stored, unexpired, not yet revoked certificates and hands each revoked one to a callback that revokes what was
issued from it.

Errors::

    IssuerError
    └── EvidenceError                   evidenceError
        ├── EvidenceNotFoundError       evidenceNotFound        no such row (never stored, or purged)
        └── EvidenceDecryptionError     evidenceUndecryptable   wrong key, or the row was tampered with
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Column, Connection, ForeignKey, LargeBinary, String, Table, delete, insert, select, update

from foundation.db import transaction
from issuer.context import IssuerContext
from issuer.contracts import IdentityFacts, IdentityFactsReader
from issuer.db import Millis, metadata
from issuer.errors import IssuerError
from issuer.persons import certificate_fingerprint
from jpki_bridge.profile import load_certificate, parse_signature_certificate
from jpki_bridge.revocation import CertificateRevokedError, RevocationError
from jpki_bridge.trust import TrustError, ValidationResult, validate_chain

__all__ = [
    "Evidence",
    "EvidenceDecryptionError",
    "EvidenceError",
    "EvidenceNotFoundError",
    "RecheckReport",
    "StoredEvidence",
    "evidence_table",
    "identity_facts",
    "load",
    "purge_expired",
    "recheck",
    "store",
    "stored_certificates",
]

evidence_table = Table(
    "issuer_evidence",
    metadata,
    Column("evidence_id", String(32), primary_key=True),
    Column("person_id", String(32), ForeignKey("issuer_persons.person_id"), nullable=False, index=True),
    Column("certificate_hash", String(64), nullable=False, index=True),
    Column("created_at", Millis, nullable=False),
    Column("expires_at", Millis, nullable=False, index=True),
    Column("revoked_at", Millis, nullable=True),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
)
"""The encrypted evidence rows (see the module docstring for what is in clear)."""

_VERSION = 1
_PAGE = 200


class EvidenceError(IssuerError):
    """The enrollment evidence cannot be used."""

    code = "evidenceError"


class EvidenceNotFoundError(EvidenceError):
    """No evidence row has this ID: it was never stored, or its retention passed and it was purged."""

    code = "evidenceNotFound"


class EvidenceDecryptionError(EvidenceError):
    """The evidence does not decrypt: the evidence key is not the one it was stored with, or it was tampered with."""

    code = "evidenceUndecryptable"


@dataclass(frozen=True)
class Evidence:
    """One decrypted eKYC verification record."""

    evidence_id: str
    person_id: str
    certificate: bytes
    """The card's signature certificate, DER."""
    signature: bytes
    """The card's RSA PKCS#1 v1.5 SHA-256 signature."""
    signed: bytes
    """The bytes the card signed (``xid-enroll-v1 ‖ nonce ‖ holder key thumbprint``)."""
    verified_at: datetime
    holder_jkt: str
    validation: dict[str, Any]
    """Anchor label and fingerprint, revocation mode, source, whether checked, and the one-line summary."""

    @property
    def certificate_fingerprint(self) -> str:
        """SHA-256 of the certificate, 64 lowercase hex."""
        return hashlib.sha256(self.certificate).hexdigest()


@dataclass(frozen=True)
class StoredEvidence:
    """What storing evidence returns: the row ID and the SHA-256 of its ciphertext (for the ledger record)."""

    evidence_id: str
    ciphertext_sha256: str


@dataclass(frozen=True)
class RecheckReport:
    """What a revocation re-check found (counts of certificates, except ``issued_revoked``)."""

    checked: int
    revoked: int
    expired: int
    unavailable: int
    """Revocation status could not be established (left for the next re-check)."""
    failed: int
    """The chain no longer validates for another reason (e.g. an anchor was removed); left alone."""
    issued_revoked: int
    """What the ``on_revoked`` callback reported revoking (credentials, xid CA certificates)."""


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _aead(ctx: IssuerContext) -> AESGCM:
    key = hmac.new(ctx.secrets.evidence_key, b"xid-evidence-aes-256-gcm-v1", hashlib.sha256).digest()
    return AESGCM(key)


def _certificate_hash(ctx: IssuerContext, fingerprint: str) -> str:
    message = b"xid-evidence-certificate-v1\0" + fingerprint.encode("ascii")
    return hmac.new(ctx.secrets.match_key, message, hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def store(
    ctx: IssuerContext,
    conn: Connection,
    *,
    person_id: str,
    result: ValidationResult,
    signature: bytes,
    signed: bytes,
    holder_jkt: str,
) -> StoredEvidence:
    """Encrypt and insert the evidence of one enrollment (inside the enrollment's transaction)."""
    evidence_id = base64.urlsafe_b64encode(ctx.random(16)).rstrip(b"=").decode("ascii")
    der = result.certificate.public_bytes(Encoding.DER)
    outcome = result.revocation
    document = {
        "v": _VERSION,
        "certificate": _b64(der),
        "signature": _b64(signature),
        "signed": _b64(signed),
        "verified_at": result.at.astimezone(UTC).isoformat(),
        "holder_jkt": holder_jkt,
        "validation": {
            "anchor": result.root.label,
            "anchor_fingerprint": result.root.fingerprint,
            "revocation_mode": outcome.mode,
            "revocation_checked": outcome.checked,
            "revocation_source": outcome.source,
            "summary": result.summary,
        },
    }
    nonce = ctx.random(12)
    ciphertext = _aead(ctx).encrypt(nonce, orjson.dumps(document), evidence_id.encode("ascii"))
    created = _millis(result.at)
    conn.execute(
        insert(evidence_table).values(
            evidence_id=evidence_id,
            person_id=person_id,
            certificate_hash=_certificate_hash(ctx, certificate_fingerprint(result.certificate)),
            created_at=created,
            expires_at=created + int(ctx.settings.evidence_retention.total_seconds() * 1000),
            nonce=nonce,
            ciphertext=ciphertext,
        )
    )
    return StoredEvidence(evidence_id, hashlib.sha256(nonce + ciphertext).hexdigest())


def _decrypt(ctx: IssuerContext, evidence_id: str, person_id: str, nonce: bytes, ciphertext: bytes) -> Evidence:
    try:
        plain = _aead(ctx).decrypt(nonce, ciphertext, evidence_id.encode("ascii"))
        doc = orjson.loads(plain)
        return Evidence(
            evidence_id=evidence_id,
            person_id=person_id,
            certificate=base64.b64decode(doc["certificate"], validate=True),
            signature=base64.b64decode(doc["signature"], validate=True),
            signed=base64.b64decode(doc["signed"], validate=True),
            verified_at=datetime.fromisoformat(doc["verified_at"]),
            holder_jkt=doc["holder_jkt"],
            validation=dict(doc["validation"]),
        )
    except InvalidTag:
        raise EvidenceDecryptionError(
            "the enrollment evidence does not decrypt (a different evidence key, or a tampered row)"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise EvidenceDecryptionError("the decrypted enrollment evidence is not a valid record") from None


def load(ctx: IssuerContext, conn: Connection, evidence_id: str) -> Evidence:
    """Read and decrypt one evidence row."""
    row = conn.execute(
        select(evidence_table.c.person_id, evidence_table.c.nonce, evidence_table.c.ciphertext).where(
            evidence_table.c.evidence_id == evidence_id
        )
    ).first()
    if row is None:
        raise EvidenceNotFoundError("no enrollment evidence has this ID (never stored, or purged after retention)")
    return _decrypt(ctx, evidence_id, row.person_id, bytes(row.nonce), bytes(row.ciphertext))


def identity_facts(ctx: IssuerContext) -> IdentityFactsReader:
    """The reader the credential issuer uses: decrypts the evidence and parses the basic 4 info of its certificate."""

    def read(conn: Connection, evidence_id: str) -> IdentityFacts:
        record = load(ctx, conn, evidence_id)
        return IdentityFacts(
            basic4=parse_signature_certificate(record.certificate),
            verified_at=record.verified_at,
            certificate_fingerprint=record.certificate_fingerprint,
            person_id=record.person_id,
        )

    return read


def purge_expired(ctx: IssuerContext, now: datetime) -> int:
    """Delete the evidence whose retention period has passed at ``now``; returns how many rows went."""
    with transaction(ctx.engine, write=True) as conn:
        return conn.execute(delete(evidence_table).where(evidence_table.c.expires_at <= _millis(now))).rowcount


def stored_certificates(ctx: IssuerContext) -> Iterator[tuple[str, x509.Certificate]]:
    """(evidence ID, certificate) of every stored evidence row not yet marked revoked, in pages."""
    after = ""
    while True:
        with transaction(ctx.engine) as conn:
            rows = conn.execute(
                select(
                    evidence_table.c.evidence_id,
                    evidence_table.c.person_id,
                    evidence_table.c.nonce,
                    evidence_table.c.ciphertext,
                )
                .where(evidence_table.c.revoked_at.is_(None), evidence_table.c.evidence_id > after)
                .order_by(evidence_table.c.evidence_id)
                .limit(_PAGE)
            ).all()
        if not rows:
            return
        for row in rows:
            record = _decrypt(ctx, row.evidence_id, row.person_id, bytes(row.nonce), bytes(row.ciphertext))
            yield row.evidence_id, load_certificate(record.certificate)
        after = rows[-1].evidence_id


def recheck(ctx: IssuerContext, on_revoked: Callable[[Connection, str], int]) -> RecheckReport:
    """Re-validate every stored, unexpired, not yet revoked card certificate now; act on the revoked ones.

    For a revoked certificate, in one transaction: every evidence row of it is marked revoked and
    ``on_revoked(conn, certificate_fingerprint)`` revokes what was issued from it (it returns how many things it
    revoked). Unavailable revocation data leaves the certificate for the next re-check. Does network I/O (OCSP/CRL).
    """
    now = ctx.clock()
    seen: set[str] = set()
    checked = revoked = expired = unavailable = failed = issued = 0
    for _evidence_id, cert in stored_certificates(ctx):
        fingerprint = certificate_fingerprint(cert)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        if cert.not_valid_after_utc <= now:
            expired += 1
            continue
        checked += 1
        try:
            validate_chain(cert, ctx.trust, now, "sign", ctx.revocation)
        except CertificateRevokedError:
            with transaction(ctx.engine, write=True) as conn:
                marked = conn.execute(
                    update(evidence_table)
                    .where(
                        evidence_table.c.certificate_hash == _certificate_hash(ctx, fingerprint),
                        evidence_table.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=_millis(now))
                ).rowcount
                if marked:
                    revoked += 1
                    issued += on_revoked(conn, fingerprint)
        except RevocationError:
            unavailable += 1
        except TrustError:
            failed += 1
    return RecheckReport(checked, revoked, expired, unavailable, failed, issued)
