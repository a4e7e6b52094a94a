"""What the issuer's parts hand each other: plain data and the interfaces each part takes as a parameter.

Enrollment (card check, persons, evidence), OpenID4VCI (offers, codes, tokens, nonces, the credential endpoint),
credentials and status lists, the xid CA and the VC API are built separately and wired together by the composition
root (``issuer.app``). Each core takes the others as the callables below, so each is tested on its own with fakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Connection

from jpki_bridge.profile import Basic4Info

__all__ = [
    "AuthorizedHolder",
    "CredentialIssuer",
    "CredentialOffer",
    "GrantRequest",
    "IdentityFacts",
    "IdentityFactsReader",
    "OfferFactory",
    "StatusAllocator",
    "StatusEntry",
    "StatusKind",
    "StatusPurpose",
]

StatusKind = Literal["bitstring", "token"]
StatusPurpose = Literal["revocation", "suspension"]


@dataclass(frozen=True)
class GrantRequest:
    """What a successful card check hands to the offer machinery (no personal data: the evidence holds it)."""

    person_id: str
    evidence_id: str
    """Row id of the encrypted enrollment evidence; the basic 4 info is read from its certificate at issuance."""
    holder_jwk: dict[str, Any]
    """The public JWK the card signature bound (the holder key of the enrollment)."""
    certificate_fingerprint: str
    """SHA-256 of the card's signature certificate (64 lowercase hex)."""
    verified_at: datetime


@dataclass(frozen=True)
class CredentialOffer:
    """An OpenID4VCI credential offer with a pre-authorized code, by value and by reference."""

    offer: dict[str, Any]
    """The offer object: ``credential_issuer``, ``credential_configuration_ids``, ``grants``."""
    by_value: str
    """``openid-credential-offer://?credential_offer=<urlencoded JSON>``."""
    by_reference: str
    """``openid-credential-offer://?credential_offer_uri=<urlencoded https URL of the offer>``."""
    tx_code: str | None
    """The transaction code to show the enrolling person (a second channel), or None when none is required."""
    expires_at: datetime


class OfferFactory(Protocol):
    """Creates the offer (pre-authorized code, tx_code) for a grant, inside the enrollment's transaction."""

    def __call__(self, conn: Connection, request: GrantRequest) -> CredentialOffer:
        """Store the grant and return its offer."""
        ...


@dataclass(frozen=True)
class IdentityFacts:
    """What an identity credential states, read from the enrollment evidence when a credential is issued."""

    basic4: Basic4Info
    verified_at: datetime
    """When the card check happened (the eKYC verification time)."""
    certificate_fingerprint: str
    person_id: str


class IdentityFactsReader(Protocol):
    """Reads the identity facts of an enrollment from its (decrypted) evidence."""

    def __call__(self, conn: Connection, evidence_id: str) -> IdentityFacts:
        """The facts of the evidence row; raises an IssuerError when it is gone (purged) or unreadable."""
        ...


@dataclass(frozen=True)
class AuthorizedHolder:
    """Whom a valid access token was issued to (an enrollment's grant)."""

    grant_id: str
    person_id: str
    evidence_id: str
    holder_jwk: dict[str, Any]
    certificate_fingerprint: str


class CredentialIssuer(Protocol):
    """Builds, secures, records and returns one identity credential of a configuration, bound to a holder key."""

    def __call__(
        self, conn: Connection, configuration_id: str, facts: IdentityFacts, holder_jwk: dict[str, Any]
    ) -> str | dict[str, Any]:
        """The credential as the credential response carries it (a string for JWT formats, an object for ldp_vc)."""
        ...


@dataclass(frozen=True)
class StatusEntry:
    """One allocated status entry: which list, which index, and where the list is published."""

    kind: StatusKind
    purpose: StatusPurpose
    list_id: str
    index: int
    list_url: str
    """The status list credential URL (bitstring) or the status list token URI (token)."""


class StatusAllocator(Protocol):
    """Allocates status entries and sets their values (the issuer's status lists)."""

    def allocate(self, conn: Connection, kind: StatusKind, purpose: StatusPurpose, issuer: str) -> StatusEntry:
        """A fresh, never used entry in a list of the given issuer (a new list when the current one is full)."""
        ...

    def set_status(self, conn: Connection, list_id: str, index: int, value: int) -> None:
        """Set an entry's value (0 = valid; 1 = revoked or suspended for one-bit lists)."""
        ...
