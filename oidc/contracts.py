"""What the facade's parts hand each other: a validated authorization request, a login's outcome, and the edges.

The provider (``oidc.provider``) validates ``/authorize`` into an ``AuthorizationRequest`` and hands it to the login
flow (``LoginFlow.start``), which sends the browser to the login page. The login page runs an OpenID4VP presentation
through the verifier, asks for consent where the consent store says it is missing, and finishes through
``Completion.complete`` (code to the RP's ``redirect_uri``) or ``Completion.fail`` (an error there). Consent and
linkage are keyed by a person handle: ``subjects.pairwise(holder, CONSENT_SECTOR)``, never by a claim value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

__all__ = [
    "CONSENT_SECTOR",
    "AuthorizationRequest",
    "Completion",
    "ConsentGate",
    "LoginFlow",
    "LoginOutcome",
    "SubjectSource",
]

CONSENT_SECTOR: Final = "xid:consent"
"""The pairwise sector of the person handle consents, linkage and the account page are keyed by."""


class SubjectSource(Protocol):
    """Pairwise subjects for the person behind a presented credential (the issuer's derivation)."""

    def pairwise(self, holder: str, sector: str) -> str | None:
        """The person's pairwise subject for ``sector``, from the credential holder key's RFC 7638 thumbprint.

        None when no person is known for that key (the login is then refused)."""
        ...


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated OpenID Connect authorization request, waiting for its login (stored by the provider)."""

    id: str
    """Unguessable handle of the pending authorization (what the login page URL carries)."""
    client_id: str
    client_name: str
    sector: str
    """The client's pairwise sector (a host)."""
    redirect_uri: str
    state: str | None
    scopes: tuple[str, ...]
    claims: Mapping[str, Any]
    """The parsed ``claims`` parameter (``{}`` when absent)."""
    acr_values: tuple[str, ...]
    prompt: tuple[str, ...]
    max_age: int | None
    ui_locales: tuple[str, ...]
    linkage: tuple[str, ...]
    """client_ids of other relying parties this one asks a shared linkage identifier with."""
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class LoginOutcome:
    """A login that succeeded: what the wallet's verified presentation proved, and when."""

    person: str
    """The person handle (``subjects.pairwise(holder, CONSENT_SECTOR)``)."""
    holder: str
    """RFC 7638 thumbprint of the presented credential's holder key."""
    issuer: str
    """The credential's issuer."""
    claims: Mapping[str, Any]
    """The disclosed claims of the identity credential (only those the DCQL query asked for)."""
    auth_time: datetime
    status_checked_at: datetime | None
    presentation_digest: str
    """SHA-256 (hex) of the vp_token as posted (the verifier's replay key)."""
    transaction_id: str
    """The verifier transaction that carried the presentation."""
    same_device: bool


class LoginFlow(Protocol):
    """Runs the login of an authorization request (the login page part)."""

    def start(self, request: AuthorizationRequest) -> str:
        """The URL (on the OP) the browser is sent to for this authorization's login."""
        ...


class Completion(Protocol):
    """Finishes an authorization request (the provider part)."""

    def pending(self, authorization_id: str) -> AuthorizationRequest:
        """The pending authorization request, or an OidcError when unknown, finished or expired."""
        ...

    def complete(self, authorization_id: str, outcome: LoginOutcome) -> str:
        """Issue the code and return the RP redirect URL (``code``, ``state``, ``iss``); single use."""
        ...

    def fail(self, authorization_id: str, error: str, description: str) -> str:
        """End the authorization with an OAuth error; the RP redirect URL (``error``, ``state``, ``iss``)."""
        ...


class ConsentGate(Protocol):
    """What the login flow asks the consent part (storage, ledger records)."""

    def missing(
        self, person: str, request: AuthorizationRequest, claims: Collection[str]
    ) -> tuple[Sequence[str], Sequence[str]]:
        """(claims, linkage client_ids) of the request the person has not yet consented to for this client."""
        ...

    def grant(
        self, person: str, request: AuthorizationRequest, claims: Collection[str], linkage: Collection[str]
    ) -> None:
        """Record (and ledger) the person's consent to release ``claims`` and ``linkage`` to the request's client."""
        ...

    def used(self, person: str, request: AuthorizationRequest, claims: Collection[str]) -> None:
        """Ledger that a finished login released ``claims`` to the request's client under the person's consent."""
        ...
