"""Ledger records: small canonical documents that hold hashes and pseudonymous commitments, never personal data.

A record is what one log entry says happened: an event type from a fixed list, the time (inside the leaf, so it is
covered by every proof), and optional hash-only fields::

    {"object":"<64 hex>","rp":"https://rp.example.jp","subject":"<64 hex>","time":"2025-04-01T09:30:00.000Z",
     "type":"authentication","v":1}

The entry bytes are the canonical serialization: keys sorted, no whitespace, UTF-8 (all values are ASCII), at most
``MAX_ENTRY_BYTES``. The schema is closed: every field is an enum, a timestamp, a SHA-256 value written as 64
lowercase hex characters, or a relying-party identifier (an https URL or a DID, ASCII, no spaces). Unknown fields
are refused, so the public API cannot write a name, an address, a birth date, a My Number or free text. Errors::

    LedgerError
    └── RecordError          invalidRecord   (malformed, unknown field, non-canonical bytes)
        └── PersonalDataError personalData   (the field or value looks like personal data)

Subjects are commitments, not identifiers: derive them with ``commitment(key, identifier)`` (HMAC-SHA256 under a
key the operator keeps off the log), so the log cannot be searched by guessing identifiers.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from ledger.errors import LedgerError

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_ENTRY_BYTES",
    "MAX_RP_LENGTH",
    "VERSION",
    "EventType",
    "Outcome",
    "PersonalDataError",
    "Record",
    "RecordError",
    "canonical_json",
    "commitment",
    "digest",
    "format_time",
]

VERSION = 1
MAX_ENTRY_BYTES = 1024
MAX_RP_LENGTH = 200
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_RP_URL = re.compile(rf"https://{_HOST}(?::[0-9]{{1,5}})?(?:/[A-Za-z0-9._~-]+)*/?")
_RP_DID = re.compile(
    r"did:(?:web:[a-z0-9.%-]+(?::[A-Za-z0-9._~-]+)*|key:z[1-9A-HJ-NP-Za-km-z]{40,60}|jwk:[A-Za-z0-9_-]+)"
)


class RecordError(LedgerError):
    """The record is malformed: unknown field, wrong type, bad format, or non-canonical entry bytes."""

    code = "invalidRecord"


class PersonalDataError(RecordError):
    """The field or value looks like personal data, which the ledger never stores."""

    code = "personalData"


class EventType(enum.Enum):
    """What happened; the allow-list of events the ledger records."""

    ENROLLMENT = "enrollment"
    ISSUANCE = "issuance"
    AUTHENTICATION = "authentication"
    PRESENTATION = "presentation"
    SIGNATURE = "signature"
    CONSENT = "consent"
    CONSENT_REVOCATION = "consent-revocation"
    LINKAGE = "linkage"
    REVOCATION = "revocation"
    KEY_ROTATION = "key-rotation"


class Outcome(enum.Enum):
    """Whether the recorded operation succeeded."""

    SUCCESS = "success"
    FAILURE = "failure"


# Field names that mean personal data (normalized: lower case, no "_", "-", " "). Any unknown field is refused;
# these get the more specific PersonalDataError.
_PERSONAL_FIELDS = frozenset(
    {
        "name", "fullname", "givenname", "familyname", "firstname", "lastname", "surname", "kana", "kanji",
        "address", "addr", "street", "city", "postalcode", "zip", "zipcode",
        "birthdate", "dateofbirth", "dob", "birthday", "age",
        "gender", "sex", "nationality", "photo", "face", "portrait",
        "mynumber", "individualnumber", "kojinbango", "cardnumber", "serialnumber", "certificate", "cert",
        "phone", "telephone", "tel", "mobile", "email", "mail",
        "text", "note", "notes", "comment", "comments", "description", "message", "memo", "remarks", "free",
    }
)  # fmt: skip
_PERSONAL_PARTS = ("name", "addr", "birth", "phone", "mail", "gender", "mynumber", "individual", "card")

_HASH_FIELDS = ("subject", "object", "credential", "evidence", "transaction", "previous")
_ALL_FIELDS = ("v", "type", "time", "rp", "outcome", *_HASH_FIELDS)


def digest(data: bytes) -> str:
    """SHA-256 of data as 64 lowercase hex characters, the form every hash field takes."""
    return hashlib.sha256(data).hexdigest()


def commitment(key: bytes, identifier: str) -> str:
    """A pseudonymous subject commitment: HMAC-SHA256(key, identifier) as 64 lowercase hex characters."""
    if len(key) < 16:
        raise ValueError("the commitment key must be at least 16 bytes")
    return hmac.new(key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()


def _personal_hint(value: object) -> str | None:
    """Say what personal data a refused value looks like, or None when it merely has the wrong format."""
    if not isinstance(value, str):
        return None
    if any(ord(c) > 127 for c in value):
        return "it contains non-ASCII text (a name or an address?)"
    compact = re.sub(r"[\s-]", "", value)
    if re.fullmatch(r"\d{12}", compact):
        return "it is a 12-digit number (an Individual Number / My Number?)"
    if re.search(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\b(?:19|20)\d{6}\b|[\u5e74]", value):
        return "it contains a date (a birth date?)"
    if "@" in value:
        return "it contains an e-mail address"
    if re.search(r"\d{3}-\d{4}|\d{7,}", value):
        return "it contains a long number (a phone number, postal code or card number?)"
    if re.search(r"\s", value):
        return "it is free text"
    return None


def _refuse(field: str, value: object, expected: str) -> RecordError:
    hint = _personal_hint(value)
    if hint is not None:
        return PersonalDataError(f"field {field!r} refused: {hint}; the ledger stores only {expected}")
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return RecordError(f"field {field!r} must be {expected}, got {shown}")


def _check_hash(field: str, value: object) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _refuse(field, value, "a SHA-256 value as 64 lowercase hex characters")
    return value


def _check_rp(value: object) -> str:
    expected = "a relying-party identifier: an https URL without query, or a did:web/did:key/did:jwk DID"
    if not isinstance(value, str) or len(value) > MAX_RP_LENGTH:
        raise _refuse("rp", value, expected)
    if not (_RP_URL.fullmatch(value) or _RP_DID.fullmatch(value)):
        raise _refuse("rp", value, expected)
    return value


def format_time(value: datetime) -> str:
    """The record form of a time: UTC, millisecond precision, ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    u = value.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}."
        f"{u.microsecond // 1000:03d}Z"
    )


def _check_time(value: object) -> datetime:
    if isinstance(value, str):
        if not _TIME.fullmatch(value):
            raise _refuse("time", value, "a UTC time written YYYY-MM-DDTHH:MM:SS.mmmZ")
        try:
            value = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise RecordError(f"field 'time' is not a real date and time: {value!r}") from None
    if not isinstance(value, datetime):
        raise RecordError(f"field 'time' must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise RecordError("field 'time' must be timezone-aware (a naive datetime has no defined instant)")
    value = value.astimezone(UTC)
    value = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    if not EARLIEST <= value < LATEST:
        raise PersonalDataError(
            f"field 'time' refused: {format_time(value)} is outside {EARLIEST:%Y}-{LATEST:%Y}; it is the time of"
            " the event (a date of birth must never be recorded)"
        )
    return value


def _check_enum(field: str, cls: type[EventType] | type[Outcome], value: object) -> Any:
    if isinstance(value, cls):
        return value
    allowed = ", ".join(m.value for m in cls)
    try:
        return cls(value)
    except ValueError:
        raise _refuse(field, value, f"one of: {allowed}") from None


def _check_field_name(name: object) -> None:
    if not isinstance(name, str):
        raise RecordError(f"field names must be strings, got {name!r}")
    if name in _ALL_FIELDS:
        return
    normalized = re.sub(r"[\s_.-]", "", name).lower()
    if normalized in _PERSONAL_FIELDS or any(part in normalized for part in _PERSONAL_PARTS):
        raise PersonalDataError(f"field {name!r} would hold personal data; the ledger stores only hashes")
    raise RecordError(f"unknown field {name!r}; allowed fields: {', '.join(sorted(_ALL_FIELDS))}")


@dataclass(frozen=True)
class Record:
    """One ledger record; validated on construction, serialized canonically as the log entry."""

    type: EventType
    time: datetime
    subject: str | None = None
    rp: str | None = None
    object: str | None = None
    credential: str | None = None
    evidence: str | None = None
    transaction: str | None = None
    previous: str | None = None
    outcome: Outcome | None = None
    _time_text: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _check_enum("type", EventType, self.type))
        object.__setattr__(self, "time", _check_time(self.time))
        object.__setattr__(self, "_time_text", format_time(self.time))
        if self.outcome is not None:
            object.__setattr__(self, "outcome", _check_enum("outcome", Outcome, self.outcome))
        if self.rp is not None:
            _check_rp(self.rp)
        for name in _HASH_FIELDS:
            value = getattr(self, name)
            if value is not None:
                _check_hash(name, value)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (only the fields that are set)."""
        doc: dict[str, Any] = {"v": VERSION, "type": self.type.value, "time": self._time_text}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("type", "time") or f.name.startswith("_") or value is None:
                continue
            doc[f.name] = value.value if isinstance(value, enum.Enum) else value
        return doc

    def to_bytes(self) -> bytes:
        """The canonical entry bytes: sorted keys, compact JSON, UTF-8 (equal to ``canonical_json(to_json())``)."""
        # Built directly, keys in sorted order: every value was validated to be ASCII without quotes or
        # backslashes, so no JSON escaping can occur. This is the hot path of every append (one attribute read
        # per field, no loops: half the time of a loop over field names).
        parts = []
        value = self.credential
        if value is not None:
            parts.append(f'"credential":"{value}"')
        value = self.evidence
        if value is not None:
            parts.append(f'"evidence":"{value}"')
        value = self.object
        if value is not None:
            parts.append(f'"object":"{value}"')
        if self.outcome is not None:
            parts.append(f'"outcome":"{self.outcome.value}"')
        value = self.previous
        if value is not None:
            parts.append(f'"previous":"{value}"')
        value = self.rp
        if value is not None:
            parts.append(f'"rp":"{value}"')
        value = self.subject
        if value is not None:
            parts.append(f'"subject":"{value}"')
        if self.transaction is not None:
            parts.append(f'"time":"{self._time_text}","transaction":"{self.transaction}"')
        else:
            parts.append(f'"time":"{self._time_text}"')
        parts.append(f'"type":"{self.type.value}","v":{VERSION}')
        data = ("{" + ",".join(parts) + "}").encode("ascii")
        if len(data) > MAX_ENTRY_BYTES:
            raise RecordError(f"record is {len(data)} bytes, more than the {MAX_ENTRY_BYTES} allowed")
        return data

    @classmethod
    def from_json(cls, doc: Any) -> Record:
        """Validate a JSON object (e.g. read from a file) into a record; unknown fields are refused."""
        if not isinstance(doc, Mapping):
            raise RecordError(f"a record must be a JSON object, got {type(doc).__name__}")
        for name in doc:
            _check_field_name(name)
        if "v" in doc and (type(doc["v"]) is not int or doc["v"] != VERSION):
            raise RecordError(f"unsupported record version {doc['v']!r}; this software writes version {VERSION}")
        for required in ("type", "time"):
            if required not in doc:
                raise RecordError(f"field {required!r} is required")
        for name, value in doc.items():
            if name not in ("v", "time") and value is not None and not isinstance(value, str):
                raise _refuse(name, value, "a string")
        args = {name: value for name, value in doc.items() if name != "v"}
        return cls(**args)

    @classmethod
    def from_bytes(cls, entry: bytes) -> Record:
        """Parse entry bytes strictly: valid JSON, a valid record, and exactly the canonical serialization."""
        if len(entry) > MAX_ENTRY_BYTES:
            raise RecordError(f"entry is {len(entry)} bytes, more than the {MAX_ENTRY_BYTES} allowed")
        try:
            doc = json.loads(entry.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise RecordError(f"entry is not UTF-8 JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("v") != VERSION:
            raise RecordError(f"entry is not a version {VERSION} record")
        record = cls.from_json(doc)
        if record.to_bytes() != entry:
            raise RecordError("entry bytes are not the canonical serialization of the record")
        return record


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
