"""The card check with an xid issuer (the client of ``POST /enroll/challenge`` and ``POST /enroll``).

1. ``POST {issuer}/enroll/challenge`` with the holder's public JWK returns a single-use ``nonce``.
2. The card's signature key signs ``b"xid-enroll-v1" || nonce || JWK thumbprint`` (RFC 7638, of the holder key):
   the card computes RSASSA-PKCS1-v1_5 over the SHA-256 DigestInfo after one VERIFY of the signature password.
   The caller supplies that step (``CardSigner``) so the PIN handling stays with the command line; the signature
   is checked here against the certificate read from the card before it is sent.
3. ``POST {issuer}/enroll`` with the nonce, the signature certificate (base64url DER), the signature (base64url) and
   a holder proof JWT (``typ: xid-enroll+jwt``, the holder JWK in the header; ``aud`` = the issuer, ``nonce``,
   ``iat``) returns a credential offer by value and by reference, the transaction code (if the issuer uses one)
   and a QR code of the offer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from did import Signer, jwk_thumbprint
from foundation.b64 import b64url_encode
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from jpki_bridge.errors import JpkiError
from jpki_bridge.trust import verify_card_signature
from wallet.errors import CardCheckError, IssuerProtocolError
from wallet.http import WalletHttp, check_url, one_line
from wallet.oid4vci import OFFER_SCHEME, CredentialOffer, offer_from_json

__all__ = [
    "ENROLL_CONTEXT",
    "HOLDER_PROOF_TYP",
    "CardSigner",
    "EnrollmentOffer",
    "enroll",
    "enrollment_message",
    "holder_proof",
    "issuer_base",
]

ENROLL_CONTEXT: Final = b"xid-enroll-v1"
"""The prefix of the bytes the card signs, so a card signature made for enrollment means nothing else."""

HOLDER_PROOF_TYP: Final = "xid-enroll+jwt"
"""The JOSE ``typ`` of the holder proof sent with the card check."""

CardSigner = Callable[[bytes], tuple[bytes, x509.Certificate]]
"""Signs bytes with the card's signature key: returns the signature and the signature certificate."""

Progress = Callable[[str], None]


def issuer_base(url: str) -> str:
    """The issuer's base URL (its identifier) without a trailing slash; https, or http on loopback."""
    return check_url(url.rstrip("/"), "the issuer URL", IssuerProtocolError)


def enrollment_message(nonce: str, thumbprint: str) -> bytes:
    """The bytes the card signs: ``b"xid-enroll-v1" || nonce || thumbprint`` (both ASCII)."""
    return ENROLL_CONTEXT + nonce.encode("ascii") + thumbprint.encode("ascii")


def holder_proof(holder: Signer, issuer: str, nonce: str, now: float) -> str:
    """The holder proof JWT over the challenge nonce."""
    header = {"typ": HOLDER_PROOF_TYP, "alg": holder.algorithm, "jwk": holder.public_jwk}
    return encode_compact(header, compact_json({"aud": issuer, "nonce": nonce, "iat": int(now)}), holder.sign)


@dataclass(frozen=True)
class EnrollmentOffer:
    """What the issuer answers to a successful card check."""

    offer: CredentialOffer
    offer_uri: str
    """The offer by value (``openid-credential-offer://?credential_offer=...``)."""
    offer_reference: str | None
    """The offer by reference (``openid-credential-offer://?credential_offer_uri=...``), shorter for QR codes."""
    tx_code: str | None
    expires_in: int | None


def _offer_uri(answer: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = answer.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.startswith(f"{OFFER_SCHEME}://"):
        raise IssuerProtocolError(f"the enrollment answer's {name} is not an {OFFER_SCHEME}:// URI")
    return value


def enroll(
    http: WalletHttp,
    issuer: str,
    holder: Signer,
    card_sign: CardSigner,
    *,
    progress: Progress,
    clock: Callable[[], float] = time.time,
) -> EnrollmentOffer:
    """Run the card check with the issuer and return its credential offer."""
    base = issuer_base(issuer)
    progress(f"asking {base} for a challenge")
    challenge = http.post_json(
        f"{base}/enroll/challenge", {"holder_jwk": holder.public_jwk}, "the enrollment challenge", ok=(200, 201)
    )
    nonce = challenge.get("nonce")
    if not isinstance(nonce, str) or not nonce.isascii() or not nonce.isprintable() or not 0 < len(nonce) <= 512:
        raise IssuerProtocolError("the enrollment challenge has no nonce string (printable ASCII)")
    message = enrollment_message(nonce, jwk_thumbprint(holder.public_jwk))
    signature, certificate = card_sign(message)
    try:
        verify_card_signature(certificate, message, signature)
    except JpkiError as exc:
        raise CardCheckError(f"the card's signature does not check: {exc.message}") from None
    progress("checking the card with the issuer")
    body = {
        "nonce": nonce,
        "certificate": b64url_encode(certificate.public_bytes(Encoding.DER)),
        "signature": b64url_encode(signature),
        "holder_proof": holder_proof(holder, base, nonce, clock()),
    }
    answer = http.post_json(f"{base}/enroll", body, "the card check", ok=(200, 201))
    offer = offer_from_json(answer.get("credential_offer"))
    if offer.credential_issuer != base:
        progress(f"note: the offer's issuer is {one_line(offer.credential_issuer, 120)}")
    tx_code = answer.get("tx_code")
    if tx_code is not None and (not isinstance(tx_code, str) or not tx_code):
        raise IssuerProtocolError("the enrollment answer's tx_code is not a string")
    expires_in = answer.get("expires_in")
    return EnrollmentOffer(
        offer=offer,
        offer_uri=str(_offer_uri(answer, "credential_offer_uri", required=True)),
        offer_reference=_offer_uri(answer, "credential_offer_reference", required=False),
        tx_code=tx_code,
        expires_in=expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) else None,
    )
