"""The card check (eKYC enrollment): a single-use challenge, then the card's signature, the holder-key proof, the
JPKI chain and revocation, and, all in one transaction, the person, the encrypted evidence and the credential offer.

Flow (docs/issuer.md): ``challenge(holder_jwk)`` stores a random nonce with the RFC 7638 thumbprint of the wallet's
holder key and an expiry. The card signs (RSASSA-PKCS1-v1_5, SHA-256) ``signed_bytes(nonce, thumbprint)`` =
``b"xid-enroll-v1" ‖ nonce ‖ thumbprint`` (ASCII); the holder key signs a proof JWT (``typ: xid-enroll+jwt``, header
``jwk``, payload ``aud`` = the credential issuer identifier, ``nonce``, ``iat``). ``enroll`` checks, in this
order, the nonce (known, unexpired), the holder proof, the card signature, the certificate chain to the configured
JPKI signature roots with revocation (network I/O: call it from a worker thread), and that the certificate carries
the basic 4 info. Then ONE writer transaction consumes the nonce (a conditional DELETE: single use across
processes), resolves the person (``issuer.persons``), stores the evidence (``issuer.evidence``) and asks the
injected ``OfferFactory`` for the offer; the ledger record (``enrollment``: the person's commitment and the SHA-256 of
the evidence ciphertext, nothing else) is appended after the commit.

What a refusal consumes: nothing, except after the card signature verified and the certificate was then refused
(untrusted, expired, revoked, not a signature certificate). Such a card-signed request can never succeed, so its
nonce is burnt: the one-shot card signature is accepted at most once and the wallet must start over with a fresh
challenge. Every earlier refusal (malformed body, unknown nonce, bad holder proof, bad card signature) leaves the
nonce usable, since anyone who saw a nonce could otherwise burn the enrolling person's challenge without their
card; and "revocation status unavailable" (503) leaves it usable so that the same signed request can be retried
without asking for the PIN again.

Revocation "not checked" (``jpki_bridge.revocation.UncheckedProvider``) is accepted only in the development
configuration (``IssuerSettings.development``), and the evidence then says so; otherwise it is refused like
unavailable revocation data (503), since a card check without revocation is not an eKYC verification.

Errors (the routes map each to its HTTP error)::

    IssuerError
    └── EnrollmentError                     enrollmentError
        ├── EnrollmentRequestError          enrollmentRequestInvalid          400 invalid_request
        ├── EnrollmentNonceError            enrollmentNonceInvalid            400 invalid_nonce
        ├── HolderProofError                enrollmentHolderProofInvalid      400 invalid_proof
        ├── CardSignatureRejectedError      enrollmentCardSignatureInvalid    400 invalid_signature
        ├── CertificateRejectedError        enrollmentCertificateRejected     403 certificate_rejected
        └── RevocationUnknownError          enrollmentRevocationUnavailable   503 temporarily_unavailable
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from cryptography import x509
from sqlalchemy import Column, String, Table, Text, delete, insert, select

from did.errors import DidError
from did.keys import KeyType, PublicKey
from foundation.db import transaction
from foundation.jws import parse_compact
from foundation.strict_json import strict_json
from issuer import evidence, persons
from issuer.context import IssuerContext
from issuer.contracts import CredentialOffer, GrantRequest, OfferFactory
from issuer.db import Millis, metadata
from issuer.errors import IssuerError
from jpki_bridge.profile import ProfileError, load_certificate, parse_signature_certificate
from jpki_bridge.revocation import CertificateRevokedError, RevocationError
from jpki_bridge.trust import CardSignatureError, TrustError, ValidationResult, validate_chain, verify_card_signature
from ledger.records import EventType, Record, commitment

__all__ = [
    "ENROLL_CONTEXT",
    "HOLDER_KEY_TYPES",
    "PROOF_ALGORITHMS",
    "PROOF_TYPE",
    "CardSignatureRejectedError",
    "CertificateRejectedError",
    "Challenge",
    "Enrollment",
    "EnrollmentError",
    "EnrollmentNonceError",
    "EnrollmentRequestError",
    "EnrollmentResult",
    "HolderProofError",
    "RevocationUnknownError",
    "challenges",
    "holder_key",
    "signed_bytes",
]

log = logging.getLogger(__name__)

ENROLL_CONTEXT: Final = b"xid-enroll-v1"
"""The domain-separation prefix of the bytes the card signs."""
PROOF_TYPE: Final = "xid-enroll+jwt"
PROOF_ALGORITHMS: Final = frozenset({"ES256", "ES384", "EdDSA", "Ed25519"})
HOLDER_KEY_TYPES: Final = frozenset({KeyType.P256, KeyType.P384, KeyType.ED25519})
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_NONCE_BYTES: Final = 32
_MAX_PROOF_SIZE: Final = 8 * 1024
_LEDGER_TIMEOUT_S: Final = 30.0

challenges = Table(
    "issuer_enroll_challenges",
    metadata,
    Column("nonce_hash", String(64), primary_key=True),
    Column("holder_jkt", String(64), nullable=False),
    Column("holder_jwk", Text, nullable=False),
    Column("created_at", Millis, nullable=False),
    Column("expires_at", Millis, nullable=False, index=True),
)
"""Open enrollment challenges: SHA-256 of the nonce (the nonce itself is never stored), the holder key, expiry."""


class EnrollmentError(IssuerError):
    """An enrollment request was refused."""

    code = "enrollmentError"


class EnrollmentRequestError(EnrollmentError):
    """A field of the enrollment request is malformed (not base64url, not a certificate, not a usable public JWK)."""

    code = "enrollmentRequestInvalid"


class EnrollmentNonceError(EnrollmentError):
    """The nonce is unknown, already used or expired."""

    code = "enrollmentNonceInvalid"


class HolderProofError(EnrollmentError):
    """The holder-key proof JWT is not valid: typ, alg, key, signature, aud, nonce or iat."""

    code = "enrollmentHolderProofInvalid"


class CardSignatureRejectedError(EnrollmentError):
    """The card's signature does not verify under the certificate over the expected bytes."""

    code = "enrollmentCardSignatureInvalid"


class CertificateRejectedError(EnrollmentError):
    """The card certificate is not acceptable: untrusted, expired, revoked, wrong key usage, or no basic 4 info."""

    code = "enrollmentCertificateRejected"


class RevocationUnknownError(EnrollmentError):
    """The certificate's revocation status could not be established (fail closed; try again later)."""

    code = "enrollmentRevocationUnavailable"


@dataclass(frozen=True)
class Challenge:
    """A fresh enrollment challenge: the nonce to sign and when it expires."""

    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class EnrollmentResult:
    """A completed enrollment: the person (internal; never sent to the client), whether new, and the offer."""

    person_id: str
    new_person: bool
    offer: CredentialOffer
    evidence_id: str


def signed_bytes(nonce: str, thumbprint: str) -> bytes:
    """The bytes the card signs: ``b"xid-enroll-v1" ‖ nonce ‖ holder key thumbprint`` (both ASCII)."""
    return ENROLL_CONTEXT + nonce.encode("ascii") + thumbprint.encode("ascii")


def holder_key(jwk: object) -> tuple[dict[str, str], str]:
    """Check a holder public JWK (EC P-256/P-384 or OKP Ed25519, no private members); (minimal JWK, thumbprint)."""
    if not isinstance(jwk, dict):
        raise EnrollmentRequestError("holder_jwk must be a JSON object (a public JWK)")
    if _PRIVATE_MEMBERS & set(jwk):
        raise EnrollmentRequestError("holder_jwk holds private key members; send the public key only")
    try:
        key = PublicKey.from_jwk(jwk)
    except DidError as error:
        raise EnrollmentRequestError(f"holder_jwk is not a usable public key: {error.message}") from None
    if key.key_type not in HOLDER_KEY_TYPES:
        raise EnrollmentRequestError("holder_jwk must be an EC P-256 or P-384 key or an OKP Ed25519 key")
    return key.to_jwk(), key.thumbprint()


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


class Enrollment:
    """The enrollment core: challenges and card checks, storing into ``ctx.engine``, offers from ``offers``."""

    def __init__(self, ctx: IssuerContext, offers: OfferFactory) -> None:
        self.ctx = ctx
        self.offers = offers

    def challenge(self, holder_jwk: object) -> Challenge:
        """Store a single-use nonce bound to the holder key, expiring after ``settings.challenge_ttl``."""
        jwk, jkt = holder_key(holder_jwk)
        now = self.ctx.clock()
        nonce = self.ctx.token(_NONCE_BYTES)
        expires_at = now + self.ctx.settings.challenge_ttl
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(delete(challenges).where(challenges.c.expires_at <= _millis(now)))
            conn.execute(
                insert(challenges).values(
                    nonce_hash=_nonce_hash(nonce),
                    holder_jkt=jkt,
                    holder_jwk=orjson.dumps(jwk).decode("ascii"),
                    created_at=_millis(now),
                    expires_at=_millis(expires_at),
                )
            )
        return Challenge(nonce, expires_at)

    def enroll(self, *, nonce: str, certificate: bytes, signature: bytes, holder_proof: str) -> EnrollmentResult:
        """Check a card-signed enrollment and create its person, evidence and offer (see the module docstring)."""
        ctx = self.ctx
        now = ctx.clock()
        if not isinstance(nonce, str) or not nonce.isascii() or len(nonce) > 128:
            raise EnrollmentNonceError("the nonce is unknown")
        with transaction(ctx.engine) as conn:
            row = conn.execute(
                select(challenges.c.holder_jkt, challenges.c.holder_jwk, challenges.c.expires_at).where(
                    challenges.c.nonce_hash == _nonce_hash(nonce)
                )
            ).first()
        if row is None:
            raise EnrollmentNonceError("the nonce is unknown or was already used; ask for a new challenge")
        if row.expires_at <= _millis(now):
            raise EnrollmentNonceError("the nonce has expired; ask for a new challenge")
        holder_jwk: dict[str, Any] = orjson.loads(row.holder_jwk)
        jkt: str = row.holder_jkt
        self._check_proof(holder_proof, nonce, jkt, now)
        try:
            cert = load_certificate(certificate)
        except ProfileError:
            raise EnrollmentRequestError("certificate is not a DER-encoded X.509 certificate") from None
        signed = signed_bytes(nonce, jkt)
        try:
            verify_card_signature(cert, signed, signature)
        except CardSignatureError as error:
            raise CardSignatureRejectedError(
                f"{error.message} (the card must sign xid-enroll-v1 || nonce || holder key thumbprint)"
            ) from None
        result = self._validate(cert, nonce, now)
        try:
            basic4 = parse_signature_certificate(cert)  # must be readable when the credentials are issued
        except ProfileError as error:
            self._burn(nonce)
            raise CertificateRejectedError(
                f"the certificate does not carry valid basic 4 info: {error.message}"
            ) from None
        with transaction(ctx.engine, write=True) as conn:
            consumed = conn.execute(
                delete(challenges).where(
                    challenges.c.nonce_hash == _nonce_hash(nonce), challenges.c.expires_at > _millis(now)
                )
            ).rowcount
            if consumed != 1:
                raise EnrollmentNonceError("the nonce was used by another request meanwhile; ask for a new challenge")
            resolution = persons.resolve(ctx, conn, cert, basic4, jkt)
            stored = evidence.store(
                ctx,
                conn,
                person_id=resolution.person_id,
                result=result,
                signature=signature,
                signed=signed,
                holder_jkt=jkt,
            )
            offer = self.offers(
                conn,
                GrantRequest(
                    person_id=resolution.person_id,
                    evidence_id=stored.evidence_id,
                    holder_jwk=holder_jwk,
                    certificate_fingerprint=persons.certificate_fingerprint(cert),
                    verified_at=now,
                ),
            )
        self._record(resolution.person_id, stored.ciphertext_sha256, now)
        return EnrollmentResult(resolution.person_id, resolution.new_person, offer, stored.evidence_id)

    def _check_proof(self, token: str, nonce: str, jkt: str, now: datetime) -> None:
        parts = parse_compact(token, what="the holder proof", max_size=_MAX_PROOF_SIZE, error=HolderProofError)
        header = parts.header
        if header.get("typ") != PROOF_TYPE:
            raise HolderProofError(f"the holder proof's typ must be {PROOF_TYPE}")
        alg = header["alg"]
        if alg not in PROOF_ALGORITHMS:
            raise HolderProofError(f"the holder proof's alg must be one of {', '.join(sorted(PROOF_ALGORITHMS))}")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & set(jwk):
            raise HolderProofError("the holder proof's header must carry the holder's public key as jwk")
        try:
            key = PublicKey.from_jwk(jwk)
            if key.thumbprint() != jkt:
                raise HolderProofError("the holder proof is signed by another key than the challenge's holder key")
            key.verify(parts.signature, parts.signing_input, alg)
        except DidError as error:
            raise HolderProofError(f"the holder proof does not verify: {error.message}") from None
        payload = strict_json(parts.payload, "the holder proof payload", error=HolderProofError)
        audience = payload.get("aud")
        if not (audience == self.ctx.base_url or (isinstance(audience, list) and self.ctx.base_url in audience)):
            raise HolderProofError(f"the holder proof's aud must be the credential issuer {self.ctx.base_url}")
        claimed = payload.get("nonce")
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), nonce.encode()):
            raise HolderProofError("the holder proof's nonce is not the challenge's nonce")
        iat = payload.get("iat")
        if type(iat) is not int:
            raise HolderProofError("the holder proof's iat must be an integer (seconds since the epoch)")
        age = now.timestamp() - iat
        limit = self.ctx.settings.proof_max_age.total_seconds()
        if age > limit or age < -limit:
            raise HolderProofError(f"the holder proof's iat is more than {int(limit)} s away from the issuer's time")

    def _validate(self, cert: x509.Certificate, nonce: str, now: datetime) -> ValidationResult:
        try:
            result = validate_chain(cert, self.ctx.trust, now, "sign", self.ctx.revocation)
        except CertificateRevokedError:
            self._burn(nonce)
            raise CertificateRejectedError("the card certificate has been revoked") from None
        except RevocationError as error:
            raise RevocationUnknownError(
                f"the card certificate's revocation status is unavailable ({error.code}); try again later"
            ) from None
        except (TrustError, ProfileError) as error:
            self._burn(nonce)
            raise CertificateRejectedError(f"{error.code}: {error.message}") from None
        if not result.revocation_checked and not self.ctx.settings.development:
            raise RevocationUnknownError(
                "revocation checking is switched off (unchecked provider); outside the development configuration "
                "enrollment needs a CRL, OCSP or platform-operator revocation provider"
            )
        return result

    def _burn(self, nonce: str) -> None:
        """Consume the nonce of a card-signed request whose certificate was refused (see the module docstring)."""
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(delete(challenges).where(challenges.c.nonce_hash == _nonce_hash(nonce)))

    def _record(self, person_id: str, evidence_digest: str, now: datetime) -> None:
        ledger = self.ctx.ledger
        if ledger is None:
            return
        record = Record(
            type=EventType.ENROLLMENT,
            time=now,
            subject=commitment(self.ctx.secrets.ledger_key, person_id),
            evidence=evidence_digest,
        )
        try:
            ledger.append(record, timeout=_LEDGER_TIMEOUT_S)
        except Exception as error:  # the enrollment has committed; the operator must see the gap, the client not
            log.error("the ledger record of an enrollment could not be appended: %s", type(error).__name__)
