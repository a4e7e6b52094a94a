"""What every part of the verifier needs, built once by the composition root (``xid serve``) and passed along.

The verifier's cores take their edges as parameters: database engine, the key that signs request objects (with its
certificate chain for ``x509_san_dns`` and its DID URL for ``decentralized_identifier``), the DID resolver and the
status-list source (both bounded, with the development loopback allowance only when configured), the trusted
issuers, the ledger, clock and randomness. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from secrets import token_bytes
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import Engine

from did.resolver import Resolver
from did.signer import Signer
from foundation.web import ServiceOrigin

if TYPE_CHECKING:
    from ledger.log import Log

__all__ = ["ClientIdPrefix", "ResponseMode", "StatusSource", "VerifierContext", "VerifierSettings"]

ResponseMode = Literal["direct_post", "direct_post.jwt"]
ClientIdPrefix = Literal["x509_san_dns", "decentralized_identifier", "redirect_uri"]
StatusSource = Callable[[str], "Mapping[str, Any] | str"]
"""A published status list by URL: a status list credential (JSON) or a status list token (text)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VerifierSettings:
    """The verifier's policy knobs, with the defaults of the embedded configuration."""

    request_ttl: timedelta = timedelta(minutes=5)
    """How long a presentation request (and its request_uri) stays answerable."""
    result_ttl: timedelta = timedelta(minutes=10)
    """How long a verified result waits for the relying party before it is deleted."""
    iat_leeway: timedelta = timedelta(minutes=5)
    """How far a key binding JWT's or VP's ``iat`` may lie in the past, and (as clock skew) in the future."""
    status_required: bool = True
    """Refuse credentials without a status entry (a verifier that cannot learn of revocation is blind to it)."""
    default_response_mode: ResponseMode = "direct_post.jwt"
    default_client_id_prefix: ClientIdPrefix = "x509_san_dns"
    max_body_bytes: int = 256 * 1024
    presentation_rate_per_minute: int = 120
    """Responses accepted per client address and minute at the response endpoint."""


@dataclass
class VerifierContext(ServiceOrigin):
    """The edges of the verifier: identity and keys, storage, trust, status, policy, clock and randomness."""

    base_url: str
    """The verifier's base URL (the same origin as the issuer under ``xid serve``); no trailing slash."""
    engine: Engine
    signer: Signer
    """Signs request objects (P-256 / ES256 by default)."""
    x5c: tuple[bytes, ...]
    """DER certificates for ``x509_san_dns``: the leaf (whose dNSName is the base URL's host, key = ``signer``)
    first, then its issuers (not the root)."""
    did: str
    """The verifier's did:web (``decentralized_identifier`` client ids); ``signer``'s method is ``{did}#verifier``."""
    resolver: Resolver
    """Resolves issuer DIDs (did:key, did:jwk, did:web with the configured limits)."""
    status_source: StatusSource
    """Fetches published status lists (bounded, https only unless the development loopback allowance is on)."""
    trusted_issuers: tuple[str, ...]
    """Issuer identifiers (DIDs or https issuer URLs) whose credentials are accepted."""
    ledger_key: bytes
    """HMAC key for the ledger's subject commitments."""
    ledger: Log | None = None
    settings: VerifierSettings = field(default_factory=VerifierSettings)
    clock: Callable[[], datetime] = _utc_now
    random: Callable[[int], bytes] = token_bytes

    @property
    def host(self) -> str:
        """The base URL's host (the ``x509_san_dns`` client identifier's value)."""
        host = urlsplit(self.base_url).hostname
        assert host is not None
        return host

    @property
    def kid(self) -> str:
        """The DID URL of the request-signing key."""
        return f"{self.did}#verifier"
