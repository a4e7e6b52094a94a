"""The issuer's status lists: allocation of entries, their values, the record of issued credentials, publication.

Two kinds of list live in the database (bits as a blob, allocated indices as rows, every change transactional):

- **Bitstring** (W3C Bitstring Status List, for ``jwt_vc_json``, ``ldp_vc`` and the VC API): one-bit entries, one
  open list per (issuer, purpose), published as a ``BitstringStatusListCredential`` secured with that issuer's
  mechanism (``IssuerSigner``) at ``/status/bitstring/{list_id}``.
- **Token** (IETF Token Status List, for ``dc+sd-jwt``): one list per issuer with two-bit entries covering both
  purposes (0 valid, 1 invalid = revoked, 2 suspended: the values the IETF draft registers), published as a status
  list token (``statuslist+jwt``, signed by the issuer's ES256 key) at ``/status/token/{list_id}``.

Every list has 131,072 entries (the spec minimum, 16 KB of one-bit entries) so that a changed value does not point at
one holder, and indices are drawn at random among the unused ones (herd privacy: neighbouring indices say nothing
about issuance order). A list is full at 7/8 of its entries (random probing stays cheap) and a new one opens.
Revocation is final: a revoked entry never returns to valid, whoever asks.

Publication is cached: the signed form is stored with the list version it signed and re-signed only when the list
changed or half its validity has passed. Errors::

    XidError
    └── IssuerError
        └── StatusError                 issuerStatusError
            ├── UnknownStatusListError  unknownStatusList     (no such list, or not of that kind)
            ├── StatusEntryError        invalidStatusEntry    (index not allocated, value does not fit)
            ├── StatusIssuerError       unknownStatusIssuer   (no signer configured for the issuer)
            ├── RevokedIsFinalError     revokedIsFinal        (a revoked entry or credential cannot change)
            └── UnknownCredentialError  unknownCredential     (no issued credential with that id)
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)

from did.signer import KeyIdSigner, Signer
from foundation.b64 import b64url_encode
from foundation.db import transaction
from issuer.context import IssuerContext
from issuer.contracts import StatusEntry, StatusKind, StatusPurpose
from issuer.db import Millis, metadata
from issuer.errors import IssuerError
from vc.data_integrity import add_proof
from vc.jose import compact_json, issue_vc_jwt, sign_compact
from vc.status_list import (
    INVALID,
    MIN_ENTRIES,
    STATUS_LIST_JWT_TYP,
    SUSPENDED,
    VALID,
    BitstringStatusList,
    StatusBits,
)

__all__ = [
    "CREDENTIAL_STATES",
    "LIST_ENTRIES",
    "MECHANISMS",
    "CredentialRecord",
    "CredentialState",
    "IssuerSigner",
    "Publication",
    "RevokedIsFinalError",
    "StatusEntryError",
    "StatusError",
    "StatusIssuerError",
    "StatusLists",
    "UnknownCredentialError",
    "UnknownStatusListError",
    "card_key",
    "credentials_table",
    "default_signers",
    "entries_table",
    "get_credential",
    "holder_key_hash",
    "list_credentials",
    "lists_table",
    "merge_person",
    "record_credential",
    "reinstate",
    "reinstate_person",
    "revoke",
    "revoke_from_card",
    "revoke_person",
    "set_status",
    "suspend",
    "suspend_person",
]

LIST_ENTRIES: Final = MIN_ENTRIES
"""Entries per list: 131,072 (the Bitstring Status List minimum; 16 KB uncompressed at one bit each)."""
_FULL_AT: Final = LIST_ENTRIES * 7 // 8
_TOKEN_BITS: Final = 2
_TOKEN_PURPOSE: Final = "status"  # noqa: S105 - the one purpose column value of token lists (they carry both purposes)
MECHANISMS: Final = frozenset({"eddsa-rdfc-2022", "ecdsa-rdfc-2019", "eddsa-jcs-2022", "vc+jwt"})
"""How a bitstring status list credential may be secured (Data Integrity cryptosuites, or a ``vc+jwt``)."""

CredentialState = Literal["valid", "suspended", "revoked"]
CREDENTIAL_STATES: Final = ("valid", "suspended", "revoked")


class StatusError(IssuerError):
    """A status list operation failed."""

    code = "issuerStatusError"


class UnknownStatusListError(StatusError):
    """No status list of that kind has that id."""

    code = "unknownStatusList"


class StatusEntryError(StatusError):
    """A status entry cannot take that value: its index was never allocated, or the value does not fit."""

    code = "invalidStatusEntry"


class StatusIssuerError(StatusError):
    """No signer is configured for the issuer a status list is asked for."""

    code = "unknownStatusIssuer"


class RevokedIsFinalError(StatusError):
    """A revoked status entry or credential cannot be suspended or reinstated."""

    code = "revokedIsFinal"


class UnknownCredentialError(StatusError):
    """No issued credential has that id."""

    code = "unknownCredential"


lists_table = Table(
    "issuer_status_lists",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("issuer", String(512), nullable=False),
    Column("status_size", Integer, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("allocated", Integer, nullable=False, default=0),
    Column("full", Boolean, nullable=False, default=False),
    Column("bits", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Millis, nullable=False),
    Column("signed", Text, nullable=True),
    Column("signed_version", Integer, nullable=True),
    Column("refresh_at", Millis, nullable=True),
    Index("ix_issuer_status_lists_open", "kind", "issuer", "purpose", "full"),
)
"""One row per status list: its bits, allocation count, version and cached signed form."""

entries_table = Table(
    "issuer_status_entries",
    metadata,
    Column("list_id", String(64), ForeignKey("issuer_status_lists.id"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
)
"""Allocated indices (the primary key makes every index single use)."""

credentials_table = Table(
    "issuer_credentials",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False, index=True),
    Column("configuration_id", String(64), nullable=False),
    Column("card_key", String(64), nullable=False, index=True),
    Column("status_entries", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("issued_at", Millis, nullable=False),
    Column("expires_at", Millis, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("holder_key", String(64), nullable=True, index=True),
)
"""Every issued credential: whose, which configuration, which status entries, its state and SHA-256; never claims.

``card_key`` is HMAC-SHA256 (the operator's match key) of the card certificate's fingerprint, not the fingerprint:
the table then says nothing about a certificate to someone without the key. ``holder_key`` likewise is the keyed
hash of the credential's holder-key RFC 7638 thumbprint (``holder_key_hash``): the person behind a presentation is
found by it (``issuer.persons.pairwise_for_holder``)."""


# Statements built once (SQLAlchemy's statement construction costs more than SQLite's execution of them).
_OPEN_LIST = (
    select(lists_table.c.id, lists_table.c.entries, lists_table.c.allocated)
    .where(
        lists_table.c.kind == bindparam("kind"),
        lists_table.c.issuer == bindparam("issuer"),
        lists_table.c.purpose == bindparam("purpose"),
        lists_table.c.full.is_(False),
    )
    .order_by(lists_table.c.created_at, lists_table.c.id)
    .limit(1)
    .with_for_update()
)
_TAKEN = select(entries_table.c.idx).where(
    entries_table.c.list_id == bindparam("list_id"), entries_table.c.idx == bindparam("idx")
)
_ALLOCATE = insert(entries_table)
_RECORD = insert(credentials_table)
_COUNT = (
    update(lists_table)
    .where(lists_table.c.id == bindparam("list_id"))
    .values(allocated=lists_table.c.allocated + 1, full=bindparam("full"))
)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class IssuerSigner:
    """Who secures one issuer's bitstring status list credentials: the key, its DID URL and the mechanism."""

    signer: Signer
    kid: str
    """The verification method (a DID URL of the issuer)."""
    mechanism: str
    """``eddsa-rdfc-2022``, ``ecdsa-rdfc-2019``, ``eddsa-jcs-2022`` or ``vc+jwt``."""

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown securing mechanism {self.mechanism!r} (known: {', '.join(sorted(MECHANISMS))})")


def default_signers(ctx: IssuerContext) -> dict[str, IssuerSigner]:
    """The issuer's own did:web, securing its lists with eddsa-rdfc-2022 (the VC API adds its instances)."""
    return {ctx.did: IssuerSigner(ctx.ed25519, ctx.ed25519_kid, "eddsa-rdfc-2022")}


@dataclass(frozen=True)
class Publication:
    """A signed status list as served: the body, its media type, its ETag and how long caches may keep it."""

    body: bytes
    media_type: str
    etag: str
    max_age: int


def _locked_list(conn: Connection, list_id: str) -> Any:
    row = conn.execute(select(lists_table).where(lists_table.c.id == list_id).with_for_update()).first()
    if row is None:
        raise UnknownStatusListError(f"there is no status list {list_id!r}")
    return row


def _bits_of(row: Any) -> StatusBits:
    """The list's entries over its stored bytes (W3C lists count bits from the most significant, IETF lists not)."""
    return StatusBits(bytearray(row.bits), row.status_size, msb_first=row.kind == "bitstring")


def set_status(conn: Connection, list_id: str, index: int, value: int) -> None:
    """Set an allocated entry's value (bitstring: 0/1; token: 0 valid, 1 invalid, 2 suspended); revoked is final."""
    row = _locked_list(conn, list_id)
    if not 0 <= index < row.entries:
        raise StatusEntryError(f"index {index} is outside the status list ({row.entries} entries)")
    allocated = conn.execute(
        select(entries_table.c.idx).where(entries_table.c.list_id == list_id, entries_table.c.idx == index)
    ).first()
    if allocated is None:
        raise StatusEntryError(f"index {index} of status list {list_id!r} was never allocated")
    bits = _bits_of(row)
    limit = (1 << row.status_size) - 1
    if not 0 <= value <= limit:
        raise StatusEntryError(f"status value {value} does not fit the list's {limit.bit_length()}-bit entries")
    current = bits.get(index)
    if current == value:
        return
    revoked = current == INVALID if row.kind == "token" else (row.purpose == "revocation" and current == 1)
    if revoked:
        raise RevokedIsFinalError(f"entry {index} of status list {list_id!r} is revoked; revocation is final")
    bits.set(index, value)
    conn.execute(
        update(lists_table)
        .where(lists_table.c.id == list_id)
        .values(bits=bytes(bits.data), version=lists_table.c.version + 1)
    )


class StatusLists:
    """The issuer's status lists (a ``StatusAllocator``): allocation, values and signed publication."""

    def __init__(self, ctx: IssuerContext, signers: Mapping[str, IssuerSigner] | None = None) -> None:
        self.ctx = ctx
        self.signers: dict[str, IssuerSigner] = dict(default_signers(ctx) if signers is None else signers)

    def list_url(self, kind: StatusKind, list_id: str) -> str:
        """Where a list is published: ``/status/bitstring/{id}`` or ``/status/token/{id}`` under the base URL."""
        return self.ctx.url(f"/status/{kind}/{list_id}")

    def _check_issuer(self, kind: StatusKind, issuer: str) -> None:
        if kind == "token":
            if issuer != self.ctx.base_url:
                raise StatusIssuerError("token status lists are published for the credential issuer's URL only")
        elif issuer not in self.signers:
            raise StatusIssuerError(f"no status list signer is configured for issuer {issuer[:200]!r}")

    def _open_list(self, conn: Connection, kind: StatusKind, purpose: str, issuer: str) -> Any:
        row = conn.execute(_OPEN_LIST, {"kind": kind, "issuer": issuer, "purpose": purpose}).first()
        if row is not None:
            return row
        size = _TOKEN_BITS if kind == "token" else 1
        list_id = self.ctx.token(12)
        conn.execute(
            insert(lists_table).values(
                id=list_id,
                kind=kind,
                purpose=purpose,
                issuer=issuer,
                status_size=size,
                entries=LIST_ENTRIES,
                allocated=0,
                full=False,
                bits=bytes(LIST_ENTRIES * size // 8),
                version=1,
                created_at=_millis(self.ctx.clock()),
            )
        )
        return conn.execute(_OPEN_LIST, {"kind": kind, "issuer": issuer, "purpose": purpose}).one()

    def _random_index(self, entries: int) -> int:
        return int.from_bytes(self.ctx.random(4), "big") % entries  # 2**32 is a multiple of 2**17: uniform

    def allocate(self, conn: Connection, kind: StatusKind, purpose: StatusPurpose, issuer: str) -> StatusEntry:
        """A fresh entry at a random unused index of the issuer's open list (token lists serve both purposes)."""
        if kind not in ("bitstring", "token") or purpose not in ("revocation", "suspension"):
            raise StatusError(f"unknown status kind or purpose: {kind!r}, {purpose!r}")
        self._check_issuer(kind, issuer)
        row = self._open_list(conn, kind, _TOKEN_PURPOSE if kind == "token" else purpose, issuer)
        while True:  # the list is at most 7/8 full, so on average fewer than 8 draws
            index = self._random_index(row.entries)
            if conn.execute(_TAKEN, {"list_id": row.id, "idx": index}).first() is None:
                break
        conn.execute(_ALLOCATE, {"list_id": row.id, "idx": index})
        conn.execute(_COUNT, {"list_id": row.id, "full": row.allocated + 1 >= _FULL_AT})
        return StatusEntry(kind, purpose, row.id, index, self.list_url(kind, row.id))

    def set_status(self, conn: Connection, list_id: str, index: int, value: int) -> None:
        """Set an entry's value (see the module function ``set_status``)."""
        set_status(conn, list_id, index, value)

    # -- publication ----------------------------------------------------------------------------------------------

    def publication(self, kind: StatusKind, list_id: str) -> Publication:
        """The signed list as served, from the cache when the list has not changed (signs and stores otherwise)."""
        now = self.ctx.clock()
        with transaction(self.ctx.engine) as conn:
            row = conn.execute(select(lists_table).where(lists_table.c.id == list_id)).first()
        if row is None or row.kind != kind:
            raise UnknownStatusListError(f"there is no {kind} status list {list_id!r}")
        if not self._fresh(row, now):
            with transaction(self.ctx.engine, write=True) as conn:
                row = _locked_list(conn, list_id)
                if not self._fresh(row, now):
                    signed = self._sign(row, now)
                    validity = self.ctx.settings.status_list_validity
                    conn.execute(
                        update(lists_table)
                        .where(lists_table.c.id == list_id)
                        .values(signed=signed, signed_version=row.version, refresh_at=_millis(now + validity / 2))
                    )
                    row = _locked_list(conn, list_id)
        return self._publication(row)

    @staticmethod
    def _fresh(row: Any, now: datetime) -> bool:
        return bool(
            row.signed is not None and row.signed_version == row.version and _millis(now) < (row.refresh_at or 0)
        )

    def _publication(self, row: Any) -> Publication:
        body = str(row.signed).encode("utf-8")
        etag = '"' + b64url_encode(hashlib.sha256(body).digest()[:18]) + '"'
        if row.kind == "token":
            media_type = "application/statuslist+jwt"
        elif self.signers[row.issuer].mechanism == "vc+jwt":
            media_type = "application/vc+jwt"
        else:
            media_type = "application/vc+ld+json"
        return Publication(body, media_type, etag, self.ctx.settings.status_list_max_age)

    def _sign(self, row: Any, now: datetime) -> str:
        settings = self.ctx.settings
        data = bytes(row.bits)
        url = self.list_url(cast(StatusKind, row.kind), row.id)
        if row.kind == "token":
            issued = int(now.timestamp())
            claims: dict[str, Any] = {
                "sub": url,
                "iss": row.issuer,
                "iat": issued,
                # exp: how long the token may be used at all; ttl: how long a relying party may cache it
                "exp": issued + int(settings.status_list_validity.total_seconds()),
                "ttl": settings.status_list_max_age,
                "status_list": {"bits": row.status_size, "lst": b64url_encode(zlib.compress(data, 9))},
            }
            signer = KeyIdSigner(self.ctx.es256, self.ctx.es256_kid)
            return sign_compact({"typ": STATUS_LIST_JWT_TYP}, compact_json(claims), signer)
        issuer_signer = self.signers.get(row.issuer)
        if issuer_signer is None:
            raise StatusIssuerError(f"no status list signer is configured for issuer {row.issuer[:200]!r}")
        encoded = "u" + b64url_encode(gzip.compress(data, compresslevel=9, mtime=0))
        credential = BitstringStatusList.decode(encoded, row.status_size).credential(
            url, row.issuer, row.purpose, _stamp(now), valid_until=_stamp(now + settings.status_list_validity)
        )
        if issuer_signer.mechanism == "vc+jwt":
            return issue_vc_jwt(credential, KeyIdSigner(issuer_signer.signer, issuer_signer.kid))
        secured = add_proof(
            credential,
            issuer_signer.signer,
            cryptosuite=issuer_signer.mechanism,
            verification_method=issuer_signer.kid,
            created=now,
        )
        return json.dumps(secured, ensure_ascii=False, separators=(",", ":"))


# -- the record of issued credentials and the operations on it ---------------------------------------------------


def holder_key_hash(ctx: IssuerContext, holder_jkt: str) -> str:
    """The keyed hash a credential's holder-key thumbprint is recorded under (HMAC-SHA256 with the match key, hex)."""
    message = b"xid-credential-holder-key-v1\x00" + holder_jkt.encode("ascii", "replace")
    return hmac.new(ctx.secrets.match_key, message, hashlib.sha256).hexdigest()


def card_key(ctx: IssuerContext, certificate_fingerprint: str) -> str:
    """The keyed hash a card certificate's fingerprint is recorded under (HMAC-SHA256 with the match key, hex)."""
    message = b"xid-credential-card-v1\x00" + certificate_fingerprint.lower().encode("ascii")
    return hmac.new(ctx.secrets.match_key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CredentialRecord:
    """An issued credential as recorded: no claims, only whose it is, its status entries and its state."""

    id: str
    person_id: str
    configuration_id: str
    status_entries: tuple[StatusEntry, ...]
    state: CredentialState
    issued_at: datetime
    expires_at: datetime
    digest: str

    def to_json(self) -> dict[str, Any]:
        """The record as the admin API shows it."""
        return {
            "id": self.id,
            "person_id": self.person_id,
            "configuration_id": self.configuration_id,
            "status": self.state,
            "issued_at": _stamp(self.issued_at),
            "expires_at": _stamp(self.expires_at),
            "sha256": self.digest,
            "status_entries": [
                {"kind": e.kind, "purpose": e.purpose, "list": e.list_url, "index": e.index}
                for e in self.status_entries
            ],
        }


def _entries_json(entries: tuple[StatusEntry, ...] | list[StatusEntry]) -> str:
    return json.dumps(
        [
            {"kind": e.kind, "purpose": e.purpose, "list_id": e.list_id, "index": e.index, "url": e.list_url}
            for e in entries
        ],
        separators=(",", ":"),
    )


def _entries_from(text: str) -> tuple[StatusEntry, ...]:
    return tuple(StatusEntry(e["kind"], e["purpose"], e["list_id"], e["index"], e["url"]) for e in json.loads(text))


def _record(row: Any) -> CredentialRecord:
    return CredentialRecord(
        row.id,
        row.person_id,
        row.configuration_id,
        _entries_from(row.status_entries),
        row.state,
        datetime.fromtimestamp(row.issued_at / 1000, UTC),
        datetime.fromtimestamp(row.expires_at / 1000, UTC),
        row.digest,
    )


def record_credential(
    ctx: IssuerContext,
    conn: Connection,
    *,
    credential_id: str,
    person_id: str,
    configuration_id: str,
    certificate_fingerprint: str,
    entries: list[StatusEntry] | tuple[StatusEntry, ...],
    issued_at: datetime,
    expires_at: datetime,
    credential: bytes,
    holder_jkt: str | None = None,
) -> None:
    """Record an issued credential (its SHA-256, never its claims) so its status can be changed later.

    ``holder_jkt``: the RFC 7638 thumbprint of the key the credential is bound to (stored as a keyed hash)."""
    conn.execute(
        _RECORD,
        {
            "id": credential_id,
            "person_id": person_id,
            "configuration_id": configuration_id,
            "card_key": card_key(ctx, certificate_fingerprint),
            "status_entries": _entries_json(entries),
            "state": "valid",
            "issued_at": _millis(issued_at),
            "expires_at": _millis(expires_at),
            "digest": hashlib.sha256(credential).hexdigest(),
            "holder_key": holder_key_hash(ctx, holder_jkt) if holder_jkt else None,
        },
    )


def get_credential(conn: Connection, credential_id: str) -> CredentialRecord:
    """One issued credential's record; UnknownCredentialError when there is none."""
    row = conn.execute(select(credentials_table).where(credentials_table.c.id == credential_id)).first()
    if row is None:
        raise UnknownCredentialError("there is no issued credential with that id")
    return _record(row)


def list_credentials(conn: Connection, person_id: str, limit: int = 1000) -> list[CredentialRecord]:
    """The records of a person's issued credentials, oldest first (at most ``limit``)."""
    rows = conn.execute(
        select(credentials_table)
        .where(credentials_table.c.person_id == person_id)
        .order_by(credentials_table.c.issued_at, credentials_table.c.id)
        .limit(limit)
    )
    return [_record(row) for row in rows]


_TARGET: Final[dict[str, dict[tuple[str, str], int]]] = {
    # new state -> (entry kind, entry purpose) -> value
    "revoked": {("bitstring", "revocation"): 1, ("token", "revocation"): INVALID, ("token", "suspension"): INVALID},
    "suspended": {
        ("bitstring", "suspension"): 1,
        ("token", "revocation"): SUSPENDED,
        ("token", "suspension"): SUSPENDED,
    },
    "valid": {("bitstring", "suspension"): 0, ("token", "revocation"): VALID, ("token", "suspension"): VALID},
}


def _change(conn: Connection, credential_id: str, state: CredentialState) -> bool:
    row = conn.execute(
        select(credentials_table).where(credentials_table.c.id == credential_id).with_for_update()
    ).first()
    if row is None:
        raise UnknownCredentialError("there is no issued credential with that id")
    if row.state == state:
        return False
    if row.state == "revoked":
        raise RevokedIsFinalError("the credential is revoked; revocation is final")
    for entry in _entries_from(row.status_entries):
        value = _TARGET[state].get((entry.kind, entry.purpose))
        if value is not None:
            set_status(conn, entry.list_id, entry.index, value)
    conn.execute(update(credentials_table).where(credentials_table.c.id == credential_id).values(state=state))
    return True


def revoke(ctx: IssuerContext, conn: Connection, credential_id: str) -> bool:
    """Revoke one credential (final); False when it already was."""
    return _change(conn, credential_id, "revoked")


def suspend(ctx: IssuerContext, conn: Connection, credential_id: str) -> bool:
    """Suspend one credential; False when it already was; RevokedIsFinalError when it is revoked."""
    return _change(conn, credential_id, "suspended")


def reinstate(ctx: IssuerContext, conn: Connection, credential_id: str) -> bool:
    """Lift a suspension; False when the credential was valid; RevokedIsFinalError when it is revoked."""
    return _change(conn, credential_id, "valid")


def _ids(conn: Connection, column: Any, value: str, states: tuple[str, ...]) -> Iterator[str]:
    query = select(credentials_table.c.id).where(column == value, credentials_table.c.state.in_(states))
    yield from (row.id for row in conn.execute(query.order_by(credentials_table.c.id)).all())


def _many(conn: Connection, ids: Iterator[str], change: Callable[[Connection, str], bool]) -> int:
    return sum(1 for credential_id in ids if change(conn, credential_id))


def revoke_person(ctx: IssuerContext, conn: Connection, person_id: str) -> int:
    """Revoke every credential issued to a person; how many changed."""
    ids = _ids(conn, credentials_table.c.person_id, person_id, ("valid", "suspended"))
    return _many(conn, ids, lambda c, i: _change(c, i, "revoked"))


def suspend_person(ctx: IssuerContext, conn: Connection, person_id: str) -> int:
    """Suspend every valid credential of a person; how many changed."""
    ids = _ids(conn, credentials_table.c.person_id, person_id, ("valid",))
    return _many(conn, ids, lambda c, i: _change(c, i, "suspended"))


def reinstate_person(ctx: IssuerContext, conn: Connection, person_id: str) -> int:
    """Reinstate every suspended credential of a person; how many changed."""
    ids = _ids(conn, credentials_table.c.person_id, person_id, ("suspended",))
    return _many(conn, ids, lambda c, i: _change(c, i, "valid"))


def merge_person(conn: Connection, merged: str, into: str) -> int:
    """Record the credentials of a merged person under the person it was merged into; returns how many moved."""
    moved = conn.execute(
        update(credentials_table).where(credentials_table.c.person_id == merged).values(person_id=into)
    )
    return int(moved.rowcount)


def revoke_from_card(ctx: IssuerContext, conn: Connection, certificate_fingerprint: str) -> int:
    """Revoke every credential issued from a card certificate (found revoked on re-check); how many changed."""
    ids = _ids(conn, credentials_table.c.card_key, card_key(ctx, certificate_fingerprint), ("valid", "suspended"))
    return _many(conn, ids, lambda c, i: _change(c, i, "revoked"))
