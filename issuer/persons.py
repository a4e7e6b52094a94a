"""One stable person ID per human: resolution at enrollment, renewal links, merging, and pairwise subjects.

A person ID is 128 random bits (base64url, 22 characters) that never leaves the issuer: relying parties see
``pairwise_subject(ctx, person_id, sector)`` instead. Nothing here stores personal data in clear: every link is a
keyed hash under ``OperatorSecrets.match_key`` (HMAC-SHA256, one domain-separation label per kind of link):

- ``issuer_person_certificates``: HMAC of a signature certificate's SHA-256 fingerprint → person;
- ``issuer_person_holder_keys``: HMAC of a holder key's RFC 7638 thumbprint → person (a key may be bound to several);
- ``issuer_person_matches``: HMAC of the normalised name, sex and date of birth, per person.

Resolution (``resolve``), first hit wins:

1. the same certificate was enrolled before → its person;
2. the renewal-link provider (``ctx.renewal_links``) names a predecessor certificate that is linked → that person
   (JPKI renewal and card re-issue give a new key and certificate);
3. the enrolling holder key is already bound to a person AND that person's match record equals the new
   certificate's → that person (a re-issued card proven by the wallet that holds the old enrollment's key);
4. otherwise a new person.

Matching normalises only for comparison, never for what is stored or issued: each character is NFKC-normalised and
mapped through a small table of variant kanji (髙→高, 﨑→崎, 齋/齊→斎, 邊/邉→辺, 澤→沢, …), and spaces (full- and
half-width) are dropped. Positions the certificate marks as substitute characters (代替文字, "substitute
characters": the card replaced a character outside JIS X 0208/0212) compare as a wildcard at that position: they are
replaced by one placeholder before hashing, so two certificates whose substitutes differ at the same flagged
positions still match, while a different length or flag pattern does not. A wrong non-match only creates a second
person (the operator merges them); a wrong match would join two humans, so the rule errs towards non-matching and is
only used together with the proof of a bound holder key.

Errors::

    IssuerError
    └── PersonError                 personError           a person operation cannot be done
        ├── UnknownPersonError      unknownPerson         no such person ID
        └── MergeError              personMergeRefused    same person, or one of them already merged
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Column, Connection, ForeignKey, Index, String, Table, insert, select, update

from foundation.b64 import b64url_encode
from foundation.db import transaction
from issuer.context import IssuerContext
from issuer.db import Millis, metadata
from issuer.errors import IssuerError
from jpki_bridge.profile import Basic4Info
from jpki_bridge.testca import CardIdentity, TestCA
from ledger.records import EventType, Record, commitment

__all__ = [
    "MergeError",
    "PersonError",
    "Resolution",
    "StaticRenewalLinks",
    "TestCaRenewalLinks",
    "UnknownPersonError",
    "bind",
    "certificate_fingerprint",
    "current_person",
    "match_hash",
    "match_text",
    "merge",
    "pairwise_for_holder",
    "pairwise_subject",
    "persons",
    "resolve",
]

persons = Table(
    "issuer_persons",
    metadata,
    Column("person_id", String(32), primary_key=True),
    Column("created_at", Millis, nullable=False),
    Column("merged_into", String(32), ForeignKey("issuer_persons.person_id"), nullable=True),
    Column("merged_at", Millis, nullable=True),
)
"""One row per person ID; ``merged_into`` names the person an absorbed one was merged into."""

certificate_links = Table(
    "issuer_person_certificates",
    metadata,
    Column("certificate_hash", String(64), primary_key=True),
    Column("person_id", String(32), ForeignKey("issuer_persons.person_id"), nullable=False, index=True),
    Column("created_at", Millis, nullable=False),
)

holder_keys = Table(
    "issuer_person_holder_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("person_id", String(32), ForeignKey("issuer_persons.person_id"), primary_key=True, index=True),
    Column("created_at", Millis, nullable=False),
)

matches = Table(
    "issuer_person_matches",
    metadata,
    Column("person_id", String(32), ForeignKey("issuer_persons.person_id"), primary_key=True),
    Column("match_hash", String(64), primary_key=True),
    Column("created_at", Millis, nullable=False),
    Index("ix_issuer_person_matches_hash", "match_hash"),
)

_PLACEHOLDER: Final = "\ufffc"
_VARIANTS: Final = str.maketrans(
    {
        "髙": "高", "﨑": "崎", "嵜": "崎", "齋": "斎", "齊": "斎", "邊": "辺", "邉": "辺", "澤": "沢",
        "濱": "浜", "濵": "浜", "廣": "広", "國": "国", "櫻": "桜", "嶋": "島", "嶌": "島", "德": "徳",
        "惠": "恵", "眞": "真", "藏": "蔵", "冨": "富", "槇": "槙", "曾": "曽", "栁": "柳", "顯": "顕",
        "驒": "騨", "條": "条", "總": "総", "實": "実", "壽": "寿", "彌": "弥", "與": "与", "舘": "館",
    }
)  # fmt: skip
"""Variant kanji folded together for matching only (the first few are the ones JPKI names show most often)."""


class PersonError(IssuerError):
    """A person operation cannot be done."""

    code = "personError"


class UnknownPersonError(PersonError):
    """No person has this ID."""

    code = "unknownPerson"


class MergeError(PersonError):
    """A merge was refused: the two IDs are the same person, or one of them was already merged."""

    code = "personMergeRefused"


@dataclass(frozen=True)
class Resolution:
    """Which person an enrollment belongs to, and how that was decided."""

    person_id: str
    new_person: bool
    how: str
    """``certificate``, ``renewal``, ``holder-key`` or ``new``."""


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _keyed(ctx: IssuerContext, label: str, value: str) -> str:
    message = label.encode("ascii") + b"\0" + value.encode("utf-8")
    return hmac.new(ctx.secrets.match_key, message, hashlib.sha256).hexdigest()


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint of a certificate's DER, 64 lowercase hex (the form renewal links use)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def match_text(basic4: Basic4Info) -> str:
    """The normalised ``name|sex|date of birth`` compared when a holder key is re-used (see the module docstring)."""
    flags = basic4.name_substitution
    runs: list[str] = []  # the unflagged runs, normalised as a whole (half-width kana with their voicing marks)
    run: list[str] = []
    for position, char in enumerate(basic4.name):
        if position < len(flags) and flags[position] == "1":
            runs.append(_fold("".join(run)) + _PLACEHOLDER)
            run = []
        else:
            run.append(char)
    runs.append(_fold("".join(run)))
    return f"{''.join(runs)}|{basic4.sex.value}|{basic4.date_of_birth.text}"


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).translate(_VARIANTS)
    return "".join(c for c in folded if not c.isspace())


def match_hash(ctx: IssuerContext, basic4: Basic4Info) -> str:
    """The keyed hash of ``match_text`` (HMAC-SHA256 under the match key, 64 lowercase hex)."""
    return _keyed(ctx, "xid-person-match-v1", match_text(basic4))


def current_person(conn: Connection, person_id: str) -> str:
    """The person an ID stands for now: itself, or the person it was (transitively) merged into."""
    seen: set[str] = set()
    while True:
        row = conn.execute(select(persons.c.merged_into).where(persons.c.person_id == person_id)).first()
        if row is None:
            raise UnknownPersonError("no person has this ID")
        if row.merged_into is None or person_id in seen:
            return person_id
        seen.add(person_id)
        person_id = row.merged_into


def resolve(
    ctx: IssuerContext, conn: Connection, cert: x509.Certificate, basic4: Basic4Info, holder_jkt: str
) -> Resolution:
    """Find (or create) the person of an enrollment and bind the certificate, holder key and match record to it.

    Runs inside the caller's writer transaction (the enrollment's), so a refused enrollment leaves nothing behind.
    """
    fingerprint = certificate_fingerprint(cert)
    cert_hash = _keyed(ctx, "xid-person-certificate-v1", fingerprint)
    found = conn.execute(
        select(certificate_links.c.person_id).where(certificate_links.c.certificate_hash == cert_hash)
    ).first()
    resolution: Resolution | None = None
    if found is not None:
        resolution = Resolution(current_person(conn, found.person_id), False, "certificate")
    if resolution is None and ctx.renewal_links is not None:
        predecessors = [
            _keyed(ctx, "xid-person-certificate-v1", fp.lower()) for fp in ctx.renewal_links.predecessors(cert)
        ]
        if predecessors:
            row = conn.execute(
                select(certificate_links.c.person_id)
                .where(certificate_links.c.certificate_hash.in_(predecessors))
                .order_by(certificate_links.c.created_at)
                .limit(1)
            ).first()
            if row is not None:
                resolution = Resolution(current_person(conn, row.person_id), False, "renewal")
    match = match_hash(ctx, basic4)
    key_hash = _keyed(ctx, "xid-person-holder-key-v1", holder_jkt)
    if resolution is None:
        row = conn.execute(
            select(holder_keys.c.person_id)
            .join(matches, matches.c.person_id == holder_keys.c.person_id)
            .where(holder_keys.c.key_hash == key_hash, matches.c.match_hash == match)
            .order_by(holder_keys.c.created_at)
            .limit(1)
        ).first()
        if row is not None:
            resolution = Resolution(current_person(conn, row.person_id), False, "holder-key")
    if resolution is None:
        person_id = b64url_encode(ctx.random(16))
        conn.execute(insert(persons).values(person_id=person_id, created_at=_millis(ctx.clock())))
        resolution = Resolution(person_id, True, "new")
    bind(ctx, conn, resolution.person_id, cert_hash=cert_hash, key_hash=key_hash, match=match)
    return resolution


def bind(ctx: IssuerContext, conn: Connection, person_id: str, *, cert_hash: str, key_hash: str, match: str) -> None:
    """Link a certificate hash, a holder-key hash and a match hash to a person (each only once)."""
    now = _millis(ctx.clock())
    cert_row = select(certificate_links.c.person_id).where(certificate_links.c.certificate_hash == cert_hash)
    if conn.execute(cert_row).first() is None:
        conn.execute(insert(certificate_links).values(certificate_hash=cert_hash, person_id=person_id, created_at=now))
    key_row = select(holder_keys.c.person_id).where(
        holder_keys.c.key_hash == key_hash, holder_keys.c.person_id == person_id
    )
    if conn.execute(key_row).first() is None:
        conn.execute(insert(holder_keys).values(key_hash=key_hash, person_id=person_id, created_at=now))
    match_row = select(matches.c.person_id).where(matches.c.person_id == person_id, matches.c.match_hash == match)
    if conn.execute(match_row).first() is None:
        conn.execute(insert(matches).values(person_id=person_id, match_hash=match, created_at=now))


def _move(conn: Connection, table: Table, key: str, keep: str, absorb: str) -> None:
    """Re-point ``absorb``'s rows of a link table at ``keep``, dropping those ``keep`` already has."""
    key_column = table.c[key]
    kept = {row[0] for row in conn.execute(select(key_column).where(table.c.person_id == keep))}
    for row in conn.execute(select(key_column).where(table.c.person_id == absorb)).all():
        condition = (key_column == row[0]) & (table.c.person_id == absorb)
        if row[0] in kept:
            conn.execute(table.delete().where(condition))
        else:
            conn.execute(update(table).where(condition).values(person_id=keep))


def merge(
    ctx: IssuerContext, keep: str, absorb: str, *, also: Sequence[Callable[[Connection, str, str], int]] = ()
) -> None:
    """Merge person ``absorb`` into ``keep`` (operator command): links and evidence move, absorb is marked merged.

    One transaction, which also runs each ``also(conn, absorb, keep)`` (the other parts' records of the person: xid
    CA certificates, credential records); a ledger record (``linkage``: subject = keep's commitment, object =
    absorb's) is appended after it commits when the context has a ledger.
    """
    if keep == absorb:
        raise MergeError("a person cannot be merged into itself")
    from issuer.evidence import evidence_table  # evidence imports this module for its person foreign key

    now = ctx.clock()
    with transaction(ctx.engine, write=True) as conn:
        found = select(persons.c.person_id, persons.c.merged_into).where(persons.c.person_id.in_([keep, absorb]))
        rows = {row.person_id: row.merged_into for row in conn.execute(found)}
        for person_id in (keep, absorb):
            if person_id not in rows:
                raise UnknownPersonError("no person has this ID")
            if rows[person_id] is not None:
                raise MergeError("one of the persons was already merged into another; merge into that one")
        _move(conn, certificate_links, "certificate_hash", keep, absorb)
        _move(conn, holder_keys, "key_hash", keep, absorb)
        _move(conn, matches, "match_hash", keep, absorb)
        conn.execute(update(evidence_table).where(evidence_table.c.person_id == absorb).values(person_id=keep))
        for move in also:
            move(conn, absorb, keep)
        conn.execute(
            update(persons).where(persons.c.person_id == absorb).values(merged_into=keep, merged_at=_millis(now))
        )
    if ctx.ledger is not None:
        ctx.ledger.append(
            Record(
                type=EventType.LINKAGE,
                time=now,
                subject=commitment(ctx.secrets.ledger_key, keep),
                object=commitment(ctx.secrets.ledger_key, absorb),
            )
        )


def pairwise_subject(ctx: IssuerContext, person_id: str, sector: str) -> str:
    """The pairwise subject of a person for a sector: base64url(HMAC-SHA256(pairwise_key, sector ‖ 0x00 ‖ id)).

    Stable for one person and sector, unlinkable across sectors without the operator's pairwise key; the sector is
    the relying party's sector identifier (OpenID Connect Core §8.1: the host of its redirect URIs or its
    ``sector_identifier_uri``). Pass ``current_person`` first so merged persons keep one subject.
    """
    message = sector.encode("utf-8") + b"\0" + person_id.encode("utf-8")
    return b64url_encode(hmac.new(ctx.secrets.pairwise_key, message, hashlib.sha256).digest())


def pairwise_for_holder(ctx: IssuerContext, holder_jkt: str, sector: str) -> str | None:
    """The pairwise subject for ``sector`` of the person a presented credential's holder key belongs to, or None.

    The key is looked up among the issued credentials' holder keys (keyed hashes), then among the holder keys bound
    at enrollment when exactly one person has it; merges are followed, so a renewed card (new credentials, new
    holder keys, the same person) gives the same subject."""
    from issuer.status import credentials_table, holder_key_hash

    if not holder_jkt or len(holder_jkt) > 128:
        return None
    with transaction(ctx.engine) as conn:
        row = conn.execute(
            select(credentials_table.c.person_id)
            .where(credentials_table.c.holder_key == holder_key_hash(ctx, holder_jkt))
            .limit(1)
        ).first()
        candidates = [row.person_id] if row is not None else []
        if not candidates:
            key_hash = _keyed(ctx, "xid-person-holder-key-v1", holder_jkt)
            candidates = list(
                conn.execute(select(holder_keys.c.person_id).where(holder_keys.c.key_hash == key_hash)).scalars()
            )
        try:
            people = {current_person(conn, person_id) for person_id in candidates}
        except UnknownPersonError:
            return None
    if len(people) != 1:
        return None
    return pairwise_subject(ctx, people.pop(), sector)


class StaticRenewalLinks:
    """A renewal-link provider over a fixed mapping: new certificate fingerprint → the fingerprints it replaced."""

    def __init__(self, links: Mapping[str, Sequence[str]] | None = None) -> None:
        self._links: dict[str, list[str]] = {}
        for new, olds in (links or {}).items():
            self._links[new.lower()] = [old.lower() for old in olds]

    def add(self, old: x509.Certificate | str, new: x509.Certificate | str) -> None:
        """Record that ``new`` replaced ``old`` (certificates or their fingerprints)."""
        old_fp = old.lower() if isinstance(old, str) else certificate_fingerprint(old)
        new_fp = new.lower() if isinstance(new, str) else certificate_fingerprint(new)
        self._links.setdefault(new_fp, []).append(old_fp)

    def predecessors(self, certificate: x509.Certificate) -> Sequence[str]:
        """The fingerprints the certificate replaced (empty when unknown)."""
        return tuple(self._links.get(certificate_fingerprint(certificate), ()))


class TestCaRenewalLinks(StaticRenewalLinks):
    """The renewal links of a TEST JPKI CA: renew cards through it, and it tells which certificate replaced which."""

    __test__ = False

    def __init__(self, ca: TestCA) -> None:
        super().__init__()
        self.ca = ca

    def renew(self, identity: CardIdentity, now: datetime | None = None, *, revoke_old: bool = True) -> CardIdentity:
        """Renew a card at the CA (new keys and certificates) and record the signature certificate's link."""
        renewed = self.ca.renew(identity, now, revoke_old=revoke_old)
        self.add(identity.sign_cert, renewed.sign_cert)
        return renewed
