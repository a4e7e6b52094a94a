"""What the enrollment, person and evidence tests share: a fake offer factory, a wallet that enrolls a card, and a
snapshot of every issuer table (to prove a refusal changed nothing)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, Engine, select

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.b64 import b64url_encode
from foundation.db import transaction
from foundation.jws import encode_compact
from issuer.context import IssuerContext
from issuer.contracts import CredentialOffer, GrantRequest
from issuer.db import metadata
from issuer.enrollment import PROOF_TYPE, Enrollment, EnrollmentResult, signed_bytes
from jpki_bridge.testca import CardIdentity

__all__ = ["FakeOffers", "Wallet", "later", "snapshot"]


@dataclass
class FakeOffers:
    """An OfferFactory that records its grant requests and returns a fixed-shape offer (optionally fails)."""

    base_url: str
    requests: list[GrantRequest] = field(default_factory=list)
    fail: bool = False

    def __call__(self, conn: Connection, request: GrantRequest) -> CredentialOffer:
        """Record the request and return an offer."""
        if self.fail:
            raise RuntimeError("the offer store failed")
        self.requests.append(request)
        code = f"code-{len(self.requests)}"
        offer = {
            "credential_issuer": self.base_url,
            "credential_configuration_ids": ["xid_identity_sd_jwt"],
            "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": code}},
        }
        return CredentialOffer(
            offer=offer,
            by_value=f"openid-credential-offer://?credential_offer={code}",
            by_reference=f"openid-credential-offer://?credential_offer_uri={self.base_url}/offers/{code}",
            tx_code="123456",
            expires_at=request.verified_at + timedelta(minutes=10),
        )


@dataclass
class Wallet:
    """A holder key and the requests a wallet sends to enroll a card (signatures made with the card's key)."""

    audience: str
    signer: SoftwareSigner = field(default_factory=lambda: SoftwareSigner.generate(KeyType.P256))

    @property
    def jwk(self) -> dict[str, str]:
        """The holder public JWK."""
        return self.signer.public_jwk

    @property
    def jkt(self) -> str:
        """The holder key's RFC 7638 thumbprint."""
        return self.signer.public_key.thumbprint()

    def proof(
        self,
        nonce: str,
        *,
        aud: object = None,
        typ: str = PROOF_TYPE,
        alg: str | None = None,
        iat: int | None = None,
        signer: SoftwareSigner | None = None,
        header_jwk: dict[str, Any] | None = None,
    ) -> str:
        """A holder proof JWT; every part can be overridden to build a bad one."""
        signing = signer or self.signer
        header = {"typ": typ, "alg": alg or signing.algorithm, "jwk": header_jwk or signing.public_jwk}
        payload = {
            "aud": self.audience if aud is None else aud,
            "nonce": nonce,
            "iat": int(time.time()) if iat is None else iat,
        }
        return encode_compact(header, orjson.dumps(payload), signing.sign)

    def card_signature(self, card: CardIdentity, nonce: str, *, auth: bool = False, jkt: str | None = None) -> bytes:
        """What the card signs for this enrollment, signed with the card's sign (or auth) key."""
        key = card.auth_key if auth else card.sign_key
        return key.sign(signed_bytes(nonce, jkt or self.jkt), padding.PKCS1v15(), hashes.SHA256())

    def body(self, card: CardIdentity, nonce: str, *, auth: bool = False) -> dict[str, str]:
        """The JSON body of POST /enroll."""
        cert = card.auth_cert if auth else card.sign_cert
        return {
            "nonce": nonce,
            "certificate": b64url_encode(cert.public_bytes(Encoding.DER)),
            "signature": b64url_encode(self.card_signature(card, nonce, auth=auth)),
            "holder_proof": self.proof(nonce),
        }

    def enroll(self, enrollment: Enrollment, card: CardIdentity) -> EnrollmentResult:
        """Run a whole enrollment against the core."""
        nonce = enrollment.challenge(self.jwk).nonce
        return enrollment.enroll(
            nonce=nonce,
            certificate=card.sign_cert.public_bytes(Encoding.DER),
            signature=self.card_signature(card, nonce),
            holder_proof=self.proof(nonce),
        )


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every issuer table, sorted (equal snapshots: nothing changed)."""
    with transaction(engine) as conn:
        return {
            name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for name, table in metadata.tables.items()
        }


def later(ctx: IssuerContext, delta: timedelta) -> None:
    """Move the context's clock by delta from now (for expiries)."""
    start: datetime = ctx.clock()
    ctx.clock = lambda: start + delta
