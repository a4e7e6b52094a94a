"""What every part of the issuer needs, built once by the composition root and passed to each core and route.

The issuer's cores take their edges as parameters (database engine, signers, clock, random source, trust anchors,
revocation provider, ledger); ``IssuerContext`` carries them so that route factories have one argument. Nothing in
here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from secrets import token_bytes
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine

from did.signer import Signer
from foundation.b64 import b64url_decode, b64url_encode
from foundation.errors import XidError
from foundation.web import ServiceOrigin
from jpki_bridge.revocation import RevocationProvider
from jpki_bridge.trust import TrustAnchors

if TYPE_CHECKING:
    from cryptography import x509

    from ledger.log import Log

__all__ = ["IssuerContext", "IssuerSettings", "OperatorSecrets", "RenewalLinkProvider", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


class RenewalLinkProvider(Protocol):
    """Tells which earlier certificates a new JPKI signature certificate replaced (renewal or card re-issue)."""

    def predecessors(self, certificate: x509.Certificate) -> Sequence[str]:
        """SHA-256 fingerprints (64 lowercase hex) of the certificates this one replaced; empty when unknown."""
        ...


_SECRET_NAMES = ("evidence_key", "match_key", "pairwise_key", "ledger_key")


@dataclass(frozen=True)
class OperatorSecrets:
    """Keys the operator keeps off the database: each at least 32 random bytes, each used for one purpose only."""

    evidence_key: bytes
    """AES-256-GCM key encrypting the enrollment evidence at rest."""
    match_key: bytes
    """HMAC-SHA256 key for the keyed hashes used to match persons (certificate fingerprints, name/sex/birth date)."""
    pairwise_key: bytes
    """HMAC-SHA256 key deriving per-sector pairwise subject identifiers from person IDs."""
    ledger_key: bytes
    """HMAC-SHA256 key for the ledger's subject commitments (``ledger.records.commitment``)."""

    def __post_init__(self) -> None:
        for name in _SECRET_NAMES:
            if len(getattr(self, name)) < 32:
                raise ValueError(f"the operator secret {name} must be at least 32 bytes")

    def __repr__(self) -> str:
        return "OperatorSecrets(<redacted>)"

    def to_json(self) -> dict[str, str]:
        """The secrets as a JSON object of base64url strings (the operator secrets file)."""
        return {name: b64url_encode(getattr(self, name)) for name in _SECRET_NAMES}

    @classmethod
    def from_json(cls, document: object) -> OperatorSecrets:
        """Secrets from their JSON form; ValueError when a member is missing, not base64url or too short."""
        if not isinstance(document, dict) or not all(isinstance(document.get(n), str) for n in _SECRET_NAMES):
            raise ValueError(f"the operator secrets need the members {', '.join(_SECRET_NAMES)} (base64url strings)")
        try:
            return cls(*(b64url_decode(document[name]) for name in _SECRET_NAMES))
        except (XidError, ValueError) as error:
            raise ValueError(f"an operator secret is not base64url or too short: {error}") from None

    @classmethod
    def generate(cls) -> OperatorSecrets:
        """Fresh random secrets (development and tests; operators keep theirs in a file or a KMS)."""
        return cls(*(token_bytes(32) for _ in range(4)))


@dataclass(frozen=True)
class IssuerSettings:
    """The issuer's policy knobs, with the defaults of the embedded development configuration."""

    tx_code: bool = True
    """Whether credential offers require a transaction code (sent to the enrolling client, typed into the wallet)."""
    tx_code_length: int = 6
    tx_code_attempts: int = 3
    """Wrong transaction codes allowed per pre-authorized code before the code is invalidated."""
    challenge_ttl: timedelta = timedelta(minutes=5)
    offer_ttl: timedelta = timedelta(minutes=10)
    access_token_ttl: timedelta = timedelta(minutes=10)
    c_nonce_ttl: timedelta = timedelta(minutes=5)
    proof_max_age: timedelta = timedelta(minutes=5)
    """How old a proof JWT's ``iat`` may be (and, as leeway, how far in the future)."""
    credential_validity: timedelta = timedelta(days=365)
    status_list_validity: timedelta = timedelta(days=1)
    """How long a signed status list (credential or token) is valid; it is re-signed after half of it."""
    status_list_max_age: int = 300
    """Seconds relying parties may cache a status list (``Cache-Control: max-age`` and the token's ``ttl``)."""
    evidence_retention: timedelta = timedelta(days=7 * 365)
    """How long enrollment evidence is kept (the eKYC record period), then purged."""
    batch_size: int = 10
    """Most proofs (credentials) per credential request."""
    max_body_bytes: int = 64 * 1024
    enroll_rate_per_minute: int = 30
    token_rate_per_minute: int = 60
    vc_api_token: str | None = None
    """Static bearer token for the W3C VC API (``XID_VC_API_TOKEN``); None disables the static token."""
    admin_token: str | None = None
    """Bearer token of the admin API (``XID_ADMIN_TOKEN``); None disables the admin API."""
    ca_name: str = ""
    """Common name of the xid CA's root; empty: ``xid TEST Root CA`` in development, else ``xid Root CA``."""
    ca_certificate_validity: timedelta = timedelta(days=365)
    """Lifetime of the holder certificates the xid CA issues (capped by the root's own notAfter)."""
    ca_crl_validity: timedelta = timedelta(days=1)
    """Time from a CRL's thisUpdate to its nextUpdate; a fresh CRL is signed after half of it, or on a revocation."""
    ca_ocsp_validity: timedelta = timedelta(hours=1)
    """Time from an OCSP response's thisUpdate to its nextUpdate."""
    development: bool = True
    """The embedded default (SQLite, software keys, the TEST card CA trusted); xid serve prints a banner."""

    def __repr__(self) -> str:
        tokens = {name: "<set>" if getattr(self, name) else None for name in ("vc_api_token", "admin_token")}
        return f"IssuerSettings(tx_code={self.tx_code}, development={self.development}, tokens={tokens})"


@dataclass
class IssuerContext(ServiceOrigin):
    """The edges of the issuer: identity, storage, keys, trust, policy, clock and randomness."""

    base_url: str
    """The credential issuer identifier (``https://host[:port][/path]``, no trailing slash; http only on loopback)."""
    did: str
    """The issuer's did:web, matching ``base_url``."""
    engine: Engine
    es256: Signer
    """P-256 key: SD-JWT VC, jwt_vc_json, status list tokens. Its verification method is ``{did}#es256``."""
    ed25519: Signer
    """Ed25519 key: ldp_vc (eddsa-rdfc-2022) and the status list credentials. Method ``{did}#ed25519``."""
    ca_signer: Signer
    """The xid CA's key (P-256)."""
    secrets: OperatorSecrets
    trust: TrustAnchors
    revocation: RevocationProvider
    settings: IssuerSettings = field(default_factory=IssuerSettings)
    ledger: Log | None = None
    renewal_links: RenewalLinkProvider | None = None
    vc_api_signers: Mapping[str, Signer] = field(default_factory=dict)
    """Keys of the VC API's did:key issuer instances, by name (``ed25519``, ``p256``, ``p384``)."""
    clock: Callable[[], datetime] = utc_now
    random: Callable[[int], bytes] = token_bytes

    @property
    def es256_kid(self) -> str:
        """The DID URL of the ES256 verification method."""
        return f"{self.did}#es256"

    @property
    def ed25519_kid(self) -> str:
        """The DID URL of the Ed25519 verification method."""
        return f"{self.did}#ed25519"
