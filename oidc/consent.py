"""Consents and data linkage: which claims a person lets each relying party receive, and which pairs of relying
parties may share a linkage identifier for them.

A consent is one grant by one person (the person handle, ``subjects.pairwise(holder, CONSENT_SECTOR)``) to one
client: the claim NAMES released and the client_ids it may be linked with, a random consent id, the time granted and,
once revoked, the time revoked. Claim values are never stored. A request's claims are covered when the union of the
person's active consents for that client holds them.

Linkage (``docs/wallet.md``): a relying party asks with one scope ``linkage:<other client_id>`` per other relying
party (``linkage_targets``). A consent to link A with B, given at A's or B's login, covers both directions: it is one
linkage. ``linkage_id(person, A, B, holder=...)`` returns the identifier both see: the issuer's pairwise subject of the
person for the sector ``xid:linkage:<lower client_id> <higher client_id>`` (``linkage_sector``), so it is the same for
A and B, different for every other pair, stable across logins and card renewals, and computed from the presented
holder key at login time (nothing linkable is stored). Without an active consent to exactly that pair it raises
``LinkageRefusedError``; revoking the consent stops it.

Every grant, use and revocation is a hash-only ledger record: subject = ``commitment(ledger_key, person handle)``,
object = SHA-256 of the consent id with its claim names and linkage, rp = the relying party as the verifier names it:

- grant: ``consent`` with ``subject``, ``object``, ``rp``;
- use (a login released claims under the consent): ``consent`` with ``transaction`` = SHA-256 of the authorization;
- linkage identifier issued: ``linkage`` with ``object`` = SHA-256 of the consent id and the pair;
- revocation: ``consent-revocation`` with the grant's ``object``.

Errors::

    OidcError
    ├── LinkageRefusedError     oidcLinkageRefused     (access_denied, 403: no active consent to link that pair)
    ├── InvalidLinkageError     oidcInvalidLinkage     (invalid_scope, 400: a malformed or unknown linkage target)
    ├── InvalidConsentError     oidcInvalidConsent     (invalid_request, 400: bad claim names, unknown client)
    └── UnknownConsentError     oidcUnknownConsent     (not_found, 404: no such active consent of this person)
"""

from __future__ import annotations

import builtins
import json
import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Column, Index, String, Table, Text, insert, select, update

from foundation.db import transaction
from ledger.errors import LedgerError
from ledger.records import EventType, Record, commitment, digest
from oidc.context import OidcContext
from oidc.contracts import CONSENT_SECTOR, AuthorizationRequest
from oidc.db import Millis, metadata
from oidc.errors import OidcError
from verifier import rps

__all__ = [
    "LINKAGE_CLAIM",
    "LINKAGE_SCOPE_PREFIX",
    "MAX_CLAIMS",
    "MAX_LINKAGE_TARGETS",
    "MAX_LISTED",
    "Consent",
    "Consents",
    "InvalidConsentError",
    "InvalidLinkageError",
    "LinkageRefusedError",
    "UnknownConsentError",
    "consents",
    "linkage_sector",
    "linkage_targets",
]

log = logging.getLogger(__name__)

LINKAGE_CLAIM: Final = "xid_linkage"
"""The ID token / userinfo claim carrying ``{other client_id: linkage identifier}`` (``Consents.linkage_claim``)."""
LINKAGE_SCOPE_PREFIX: Final = "linkage:"
"""A scope ``linkage:<client_id>`` asks for a linkage identifier shared with that relying party."""
MAX_LINKAGE_TARGETS: Final = 5
"""At most this many linkage targets in one authorization request."""
MAX_CLAIMS: Final = 32
"""At most this many claim names in one consent."""
MAX_LISTED: Final = 500
"""At most this many consents in one listing (newest first)."""

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

consents = Table(
    "oidc_consents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person", String(128), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("claims", Text, nullable=False),  # JSON array of the released claim names, sorted (never values)
    Column("linkage", Text, nullable=False),  # JSON array of the client_ids it may be linked with, sorted
    Column("granted_at", Millis, nullable=False),
    Column("revoked_at", Millis, nullable=True),
    Index("oidc_consents_person", "person", "client_id"),
)
"""One row per grant; active while ``revoked_at`` is NULL."""


class LinkageRefusedError(OidcError):
    """No active consent of the person links exactly these two relying parties (403, ``access_denied``)."""

    code = "oidcLinkageRefused"
    error = "access_denied"
    status = 403


class InvalidLinkageError(OidcError):
    """A linkage scope names no registered relying party, the client itself, or too many (``invalid_scope``)."""

    code = "oidcInvalidLinkage"
    error = "invalid_scope"
    status = 400


class InvalidConsentError(OidcError):
    """A consent that cannot be stored: too many or malformed claim names, an unknown client (``invalid_request``)."""

    code = "oidcInvalidConsent"
    error = "invalid_request"
    status = 400


class UnknownConsentError(OidcError):
    """The person has no active consent with that id (404; another person's consent is not theirs to see)."""

    code = "oidcUnknownConsent"
    error = "not_found"
    status = 404


@dataclass(frozen=True)
class Consent:
    """One consent grant as the account page and API show it (names, never claim values)."""

    id: str
    client_id: str
    client_name: str
    claims: tuple[str, ...]
    linkage: tuple[str, ...]
    granted_at: datetime
    revoked_at: datetime | None
    linkage_names: tuple[str, ...] = ()
    """The names of the linked relying parties, in the order of ``linkage``."""

    def to_json(self) -> dict[str, object]:
        """The consent as JSON (what ``GET /oidc/account/consents`` lists)."""
        return {
            "id": self.id,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "claims": list(self.claims),
            "linkage": list(self.linkage),
            "linkage_names": list(self.linkage_names),
            "granted_at": _iso(self.granted_at),
            "revoked_at": _iso(self.revoked_at) if self.revoked_at is not None else None,
        }


def linkage_targets(scopes: Iterable[str]) -> tuple[str, ...]:
    """The client_ids named by ``linkage:<client_id>`` scopes, sorted and unique; InvalidLinkageError if malformed."""
    targets: set[str] = set()
    for scope in scopes:
        if not scope.startswith(LINKAGE_SCOPE_PREFIX):
            continue
        target = scope[len(LINKAGE_SCOPE_PREFIX) :]
        if not _CLIENT_ID.fullmatch(target):
            raise InvalidLinkageError("a linkage scope is 'linkage:' followed by the other relying party's client_id")
        targets.add(target)
    if len(targets) > MAX_LINKAGE_TARGETS:
        raise InvalidLinkageError(f"at most {MAX_LINKAGE_TARGETS} linkage scopes in one request")
    return tuple(sorted(targets))


def linkage_sector(client_id: str, other_client_id: str) -> str:
    """The pairwise sector of the linkage between two relying parties (the same in both orders)."""
    first, second = sorted((client_id, other_client_id))
    return f"xid:linkage:{first} {second}"


class Consents:
    """The consent store of the facade (implements ``oidc.contracts.ConsentGate``) and the linkage identifiers."""

    def __init__(self, ctx: OidcContext) -> None:
        self.ctx = ctx

    # -- the login's questions ------------------------------------------------------------------------------------

    def missing(
        self, person: str, request: AuthorizationRequest, claims: Collection[str]
    ) -> tuple[Sequence[str], Sequence[str]]:
        """(claims, linkage client_ids) of the request the person has not yet consented to for this client."""
        wanted_linkage = self.check_linkage(request.client_id, request.linkage)
        wanted_claims = _claim_names(claims)
        granted: set[str] = set()
        for row in self._active(person, request.client_id):
            granted.update(json.loads(row.claims))
        linked = self._linked(person, request.client_id)
        return (
            [name for name in wanted_claims if name not in granted],
            [target for target in wanted_linkage if target not in linked],
        )

    def grant(
        self, person: str, request: AuthorizationRequest, claims: Collection[str], linkage: Collection[str]
    ) -> None:
        """Record (and ledger) the person's consent to release ``claims`` and ``linkage`` to the request's client."""
        self.grant_consent(person, request.client_id, claims, linkage)

    def grant_consent(self, person: str, client_id: str, claims: Collection[str], linkage: Collection[str]) -> Consent:
        """Store one consent of ``person`` for ``client_id`` and append its ledger record; the stored consent."""
        names = _claim_names(claims)
        targets = self.check_linkage(client_id, linkage)
        rp = self._rp(client_id)
        if rp is None:
            raise InvalidConsentError(f"no relying party has the client_id {client_id[:64]!r}")
        consent_id = self.ctx.token()
        now = _ms(self.ctx.clock())
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(
                insert(consents).values(
                    id=consent_id,
                    person=person,
                    client_id=client_id,
                    claims=json.dumps(list(names)),
                    linkage=json.dumps(list(targets)),
                    granted_at=now,
                    revoked_at=None,
                )
            )
        self._ledger(EventType.CONSENT, person, _consent_digest(consent_id, names, targets), rp)
        return Consent(consent_id, client_id, rp.name, names, targets, _time(now), None)

    def used(self, person: str, request: AuthorizationRequest, claims: Collection[str]) -> None:
        """Ledger the use of the consents under which a login releases ``claims`` to the request's client."""
        names = set(_claim_names(claims))
        if not names:
            return
        rp = self._rp(request.client_id)
        login = digest(f"xid-authorization-v1\x00{request.id}".encode())
        for row in self._active(person, request.client_id):
            granted = tuple(json.loads(row.claims))
            if names.intersection(granted):
                target = _consent_digest(row.id, granted, tuple(json.loads(row.linkage)))
                self._ledger(EventType.CONSENT, person, target, rp, transaction_digest=login)

    # -- linkage --------------------------------------------------------------------------------------------------

    def linkage_id(self, person: str, client_id: str, other_client_id: str, *, holder: str) -> str:
        """The linkage identifier ``client_id`` and ``other_client_id`` share for the person (ledgered as a use).

        ``holder`` is the RFC 7638 thumbprint of the credential the person just presented; it must belong to
        ``person``. LinkageRefusedError unless an active consent of the person links exactly these two."""
        if client_id == other_client_id:
            raise LinkageRefusedError("a relying party cannot be linked with itself")
        row = self._linking(person, client_id, other_client_id)
        if row is None:
            raise LinkageRefusedError("the person has not consented to link these two relying parties")
        if self.ctx.subjects.pairwise(holder, CONSENT_SECTOR) != person:
            raise LinkageRefusedError("the presented credential does not belong to the consenting person")
        identifier = self.ctx.subjects.pairwise(holder, linkage_sector(client_id, other_client_id))
        if identifier is None:  # pragma: no cover - the person was just found under CONSENT_SECTOR
            raise LinkageRefusedError("no person is known for the presented credential")
        pair = "\x00".join(sorted((client_id, other_client_id)))
        target = digest(f"xid-linkage-v1\x00{row.id}\x00{pair}".encode())
        self._ledger(EventType.LINKAGE, person, target, self._rp(client_id))
        return identifier

    def linkage_claim(self, person: str, holder: str, request: AuthorizationRequest) -> dict[str, str]:
        """``{other client_id: linkage identifier}`` for the request's linkage targets the person consented to."""
        shared: dict[str, str] = {}
        for target in request.linkage:
            try:
                shared[target] = self.linkage_id(person, request.client_id, target, holder=holder)
            except LinkageRefusedError:
                continue
        return shared

    # -- the account page -----------------------------------------------------------------------------------------

    def list(self, person: str) -> builtins.list[Consent]:
        """The person's active consents, newest first."""
        with transaction(self.ctx.engine) as conn:
            rows = conn.execute(
                select(consents)
                .where(consents.c.person == person, consents.c.revoked_at.is_(None))
                .order_by(consents.c.granted_at.desc(), consents.c.id)
                .limit(MAX_LISTED)
            ).all()
        names: dict[str, str] = {}

        def name(client_id: str) -> str:
            if client_id not in names:
                rp = self._rp(client_id)
                names[client_id] = rp.name if rp is not None else client_id
            return names[client_id]

        listed = []
        for row in rows:
            linkage = tuple(json.loads(row.linkage))
            listed.append(
                Consent(
                    row.id,
                    row.client_id,
                    name(row.client_id),
                    tuple(json.loads(row.claims)),
                    linkage,
                    _time(row.granted_at),
                    None,
                    tuple(name(target) for target in linkage),
                )
            )
        return listed

    def revoke(self, person: str, consent_id: str) -> Consent:
        """Revoke one of the person's active consents (and ledger it); UnknownConsentError when there is none."""
        now = _ms(self.ctx.clock())
        with transaction(self.ctx.engine, write=True) as conn:
            row = conn.execute(
                select(consents).where(
                    consents.c.id == consent_id[:64], consents.c.person == person, consents.c.revoked_at.is_(None)
                )
            ).first()
            revoked = 0
            if row is not None:
                revoked = conn.execute(
                    update(consents)
                    .where(consents.c.id == row.id, consents.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                ).rowcount
        if row is None or revoked != 1:
            raise UnknownConsentError("no active consent of yours has this id")
        names, targets = tuple(json.loads(row.claims)), tuple(json.loads(row.linkage))
        rp = self._rp(row.client_id)
        self._ledger(EventType.CONSENT_REVOCATION, person, _consent_digest(row.id, names, targets), rp)
        return Consent(
            row.id, row.client_id, rp.name if rp else row.client_id, names, targets, _time(row.granted_at), _time(now)
        )

    # -- internals ------------------------------------------------------------------------------------------------

    def _active(self, person: str, client_id: str) -> Sequence[Any]:
        with transaction(self.ctx.engine) as conn:
            rows = conn.execute(
                select(consents.c.id, consents.c.claims, consents.c.linkage).where(
                    consents.c.person == person, consents.c.client_id == client_id, consents.c.revoked_at.is_(None)
                )
            ).all()
        return rows

    def _linked(self, person: str, client_id: str) -> set[str]:
        """The client_ids an active consent of the person links with ``client_id`` (either direction)."""
        linked: set[str] = set()
        with transaction(self.ctx.engine) as conn:
            rows = conn.execute(
                select(consents.c.client_id, consents.c.linkage).where(
                    consents.c.person == person, consents.c.revoked_at.is_(None)
                )
            ).all()
        for row in rows:
            targets = json.loads(row.linkage)
            if row.client_id == client_id:
                linked.update(targets)
            elif client_id in targets:
                linked.add(row.client_id)
        return linked

    def _linking(self, person: str, client_id: str, other_client_id: str) -> Any:
        """The oldest active consent of the person that links the two relying parties, or None."""
        with transaction(self.ctx.engine) as conn:
            rows = conn.execute(
                select(consents.c.id, consents.c.client_id, consents.c.linkage)
                .where(
                    consents.c.person == person,
                    consents.c.revoked_at.is_(None),
                    consents.c.client_id.in_((client_id, other_client_id)),
                )
                .order_by(consents.c.granted_at, consents.c.id)
            ).all()
        for row in rows:
            other = other_client_id if row.client_id == client_id else client_id
            if other in json.loads(row.linkage):
                return row
        return None

    def check_linkage(self, client_id: str, targets: Collection[str]) -> tuple[str, ...]:
        """The linkage targets sorted and unique; InvalidLinkageError unless each is another registered client."""
        unique = tuple(sorted(set(targets)))
        if len(unique) > MAX_LINKAGE_TARGETS:
            raise InvalidLinkageError(f"at most {MAX_LINKAGE_TARGETS} linkage targets")
        for target in unique:
            if not _CLIENT_ID.fullmatch(target):
                raise InvalidLinkageError("a linkage target must be a client_id")
            if target == client_id:
                raise InvalidLinkageError("a relying party cannot ask for linkage with itself")
            if self._rp(target) is None:
                raise InvalidLinkageError(f"no relying party has the client_id {target!r} named for linkage")
        return unique

    def _rp(self, client_id: str) -> rps.RelyingParty | None:
        try:
            return rps.get(self.ctx.verifier.engine, client_id)
        except rps.UnknownRelyingPartyError:
            return None

    def _ledger(
        self,
        kind: EventType,
        person: str,
        target: str,
        rp: rps.RelyingParty | None,
        *,
        transaction_digest: str | None = None,
    ) -> None:
        if self.ctx.ledger is None:
            return
        record = Record(
            type=kind,
            time=self.ctx.clock(),
            subject=commitment(self.ctx.ledger_key, person),
            object=target,
            rp=rp.ledger_rp if rp is not None else None,
            transaction=transaction_digest,
        )
        try:
            self.ctx.ledger.append(record)
        except (LedgerError, TimeoutError) as error:  # the consent stands; the record is missing from the log
            log.warning("the %s ledger record was not appended: %s", kind.value, type(error).__name__)


def _claim_names(claims: Collection[str]) -> tuple[str, ...]:
    names = tuple(sorted(set(claims)))
    if len(names) > MAX_CLAIMS:
        raise InvalidConsentError(f"at most {MAX_CLAIMS} claims in one consent")
    for name in names:
        if not _CLAIM_NAME.fullmatch(name):
            raise InvalidConsentError("a claim name is 1 to 64 letters, digits, '_', '.' or '-'")
    return names


def _consent_digest(consent_id: str, claims: Sequence[str], linkage: Sequence[str]) -> str:
    """The ledger's object of a consent: SHA-256 of its id, claim names and linkage targets."""
    text = "\x00".join(("xid-consent-v1", consent_id, ",".join(claims), ",".join(linkage)))
    return digest(text.encode())


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
