"""What the verifier's parts hand each other: a stored transaction's facts, and a validated response.

The request side (relying parties, transactions, request objects, the response endpoint) owns every table; the
validation side is pure: given a transaction's facts and the posted response it either returns what was proven or
raises a ``VerifierError`` naming OpenID4VP's error. The response endpoint then, in one transaction, marks the
transaction answered and records the response's digest in the replay store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from verifier.context import ResponseMode

__all__ = ["PresentedCredential", "ResponseValidator", "TransactionFacts", "ValidatedResponse"]


@dataclass(frozen=True)
class TransactionFacts:
    """A presentation request as the validation needs it."""

    id: str
    client_id: str
    """The full client identifier, prefix included (what a KB-JWT ``aud`` / a VP ``aud`` / ``domain`` must be)."""
    nonce: str
    state: str
    dcql_query: Mapping[str, Any]
    response_mode: ResponseMode
    response_uri: str
    encryption_jwk: Mapping[str, Any] | None
    """The private ephemeral JWK (ECDH-ES, P-256) responses are encrypted to, for ``direct_post.jwt``; else None."""
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PresentedCredential:
    """One verified credential of a response, with what it disclosed."""

    query_id: str
    """The DCQL credential query it answers."""
    format: str
    """``dc+sd-jwt``, ``jwt_vc_json`` or ``ldp_vc``."""
    issuer: str
    claims: Mapping[str, Any]
    """The disclosed claims (for W3C formats: the credential subject's)."""
    status_checked_at: datetime | None
    holder: str | None = None
    """The holder's key (a DID or a JWK thumbprint) the presentation was bound to."""


@dataclass(frozen=True)
class ValidatedResponse:
    """A response that passed every check: the credentials, and the digest the replay store and ledger keep."""

    credentials: tuple[PresentedCredential, ...]
    digest: str
    """SHA-256 (hex) of the vp_token as posted (after decryption): the replay key."""
    warnings: tuple[str, ...] = field(default=())


class ResponseValidator(Protocol):
    """Validates a posted authorization response against its transaction (pure; may fetch status lists)."""

    def __call__(self, transaction: TransactionFacts, form: Mapping[str, str]) -> ValidatedResponse:
        """The validated response, or a VerifierError naming the OpenID4VP error."""
        ...
