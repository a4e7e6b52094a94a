"""What every part of the OIDC facade needs, built once by the composition root (``xid serve``) and passed along.

The facade is an OpenID Connect provider on the same origin as the issuer and the verifier (one authorization
server, DESIGN §3): its login is an OpenID4VP presentation handled by the verifier's core, its ``sub`` comes from the
issuer's pairwise derivation through ``subjects``. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_bytes
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from foundation.web import ServiceOrigin
from oidc.contracts import SubjectSource

if TYPE_CHECKING:
    from ledger.log import Log
    from verifier.context import VerifierContext

__all__ = ["OidcContext", "OidcSettings"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OidcSettings:
    """Lifetimes and limits of the facade (defaults suit production; tests shorten them)."""

    authorization_ttl: timedelta = timedelta(minutes=10)
    """From ``/authorize`` to the end of the login (the login page's presentation request expires earlier)."""
    par_ttl: timedelta = timedelta(seconds=90)
    """A pushed authorization request's ``request_uri`` lifetime (RFC 9126 §2.2)."""
    code_ttl: timedelta = timedelta(seconds=60)
    access_token_ttl: timedelta = timedelta(minutes=10)
    id_token_ttl: timedelta = timedelta(minutes=10)
    key_publish_lead: timedelta = timedelta(minutes=15)
    """How long a rotated-in signing key is published before it signs (longer than the JWKS cache lifetime)."""
    client_assertion_max_age: timedelta = timedelta(minutes=5)
    session_ttl: timedelta = timedelta(minutes=30)
    """The account page's session after a presentation."""
    max_body_bytes: int = 64 * 1024
    token_rate_per_minute: int = 600
    login_rate_per_minute: int = 120
    development: bool = False
    """Development configuration: http on loopback hosts allowed, the banner shown."""


@dataclass
class OidcContext(ServiceOrigin):
    """The edges of the OIDC facade: origin, storage, the verifier it logs in through, subjects, keys, ledger."""

    base_url: str
    """The OP's ``issuer`` (the origin's base URL, shared with the credential issuer and the verifier)."""
    engine: Engine
    verifier: VerifierContext
    """The verifier whose transactions carry the login presentations (same origin, same database)."""
    subjects: SubjectSource
    """Pairwise subjects from a presented credential's holder key (the issuer's derivation, wired by ``xid``)."""
    identity_vct: str
    """The ``vct`` of the identity SD-JWT VC the login asks for (``{issuer base}/vct/identity``)."""
    keys_dir: Path
    """Where the OP's ID token signing keys live (software keys; created on first use)."""
    ledger_key: bytes
    """HMAC key for the ledger's subject commitments (``ledger.records.commitment``)."""
    ledger: Log | None = None
    settings: OidcSettings = field(default_factory=OidcSettings)
    clock: Callable[[], datetime] = _utc_now
    random: Callable[[int], bytes] = token_bytes
    on_login: Callable[[str], None] = field(default=lambda outcome: None)
    """Told ``success`` or ``failure`` when an authorization ends (``xid serve`` counts it in its metrics)."""
