"""The W3C Verifiable Credentials Data Model 2.0: structural validation of credentials and presentations.

Validation names the failing property. It checks what the data model requires (contexts, types, issuer, subject,
validity dates, status, schema, evidence, refresh, terms of use and related resource shapes), not what a securing
mechanism proves; ``check_validity_period`` applies ``validFrom``/``validUntil`` at a given time. Errors::

    VcError
    └── CredentialModelError         invalidCredential   (names the property)
        ├── CredentialExpiredError   credentialExpired
        └── CredentialNotYetValidError credentialNotYetValid
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from vc.errors import VcError

__all__ = [
    "CREDENTIALS_V2",
    "Credential",
    "CredentialExpiredError",
    "CredentialModelError",
    "CredentialNotYetValidError",
    "check_validity_period",
    "parse_datetime",
    "validate_credential",
    "validate_presentation",
]

CREDENTIALS_V2: Final = "https://www.w3.org/ns/credentials/v2"
_DATETIME_STAMP = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


class CredentialModelError(VcError):
    """A credential or presentation does not follow the VC Data Model 2.0; the message names the property."""

    code = "invalidCredential"


class CredentialExpiredError(CredentialModelError):
    """The credential's validUntil is in the past."""

    code = "credentialExpired"


class CredentialNotYetValidError(CredentialModelError):
    """The credential's validFrom is in the future."""

    code = "credentialNotYetValid"


@dataclass(frozen=True)
class Credential:
    """The facts a verifier needs from a validated credential."""

    data: Mapping[str, Any]
    types: tuple[str, ...]
    issuer: str
    valid_from: datetime | None
    valid_until: datetime | None
    status: tuple[Mapping[str, Any], ...]


def parse_datetime(value: Any, name: str) -> datetime:
    """Parse an XML Schema dateTimeStamp (a time zone is required)."""
    if not isinstance(value, str) or not _DATETIME_STAMP.fullmatch(value):
        raise CredentialModelError(f"{name} must be a date-time with a time zone, e.g. 2026-01-01T00:00:00Z")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CredentialModelError(f"{name} is not a valid date-time") from exc


def _types(value: Any, required: str | None, where: str) -> tuple[str, ...]:
    types = [value] if isinstance(value, str) else value
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
        raise CredentialModelError(f"{where}type must be a string or a non-empty array of strings")
    if required is not None and required not in types:
        raise CredentialModelError(f"{where}type must include {required}")
    return tuple(types)


def _related_resources(value: Any) -> None:
    """VC Data Model 2.0 §5.3: objects with a unique URL ``id`` and a ``digestSRI`` or ``digestMultibase`` string."""
    items = _objects(value, "relatedResource", ("id",))
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"relatedResource[{i}]"
        if not _URL.fullmatch(item["id"]):
            raise CredentialModelError(f"{where}.id must be a URL")
        if item["id"] in seen:
            raise CredentialModelError(f"{where}.id repeats the id of another related resource")
        seen.add(item["id"])
        digests = [item[name] for name in ("digestSRI", "digestMultibase") if name in item]
        if not digests or not all(isinstance(d, str) and d for d in digests):
            raise CredentialModelError(f"{where} needs a digestSRI or digestMultibase string")


def _contexts(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise CredentialModelError("@context must be an array whose first item is " + CREDENTIALS_V2)
    if value[0] != CREDENTIALS_V2:
        raise CredentialModelError(f"@context must start with {CREDENTIALS_V2}")
    if not all(isinstance(c, str | dict) for c in value):
        raise CredentialModelError("@context items must be URLs or objects")


def _objects(value: Any, name: str, required: tuple[str, ...] = ()) -> tuple[Mapping[str, Any], ...]:
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
        raise CredentialModelError(f"{name} must be an object or a non-empty array of objects")
    for item in items:
        for member in required:
            if not isinstance(item.get(member), str) or not item[member]:
                raise CredentialModelError(f"{name} entries need a '{member}' string")
    return tuple(items)


def validate_credential(data: Any) -> Credential:
    """Validate a credential's structure per VC Data Model 2.0 and return its key facts."""
    if not isinstance(data, Mapping):
        raise CredentialModelError("a credential must be a JSON object")
    _contexts(data.get("@context"))
    types = _types(data.get("type"), "VerifiableCredential", "")
    if "id" in data and (not isinstance(data["id"], str) or not _URL.fullmatch(data["id"])):
        raise CredentialModelError("id must be a URL")
    issuer = data.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    if not isinstance(issuer_id, str) or not _URL.fullmatch(issuer_id):
        raise CredentialModelError("issuer must be a URL or an object with an id URL")
    subjects = _objects(data.get("credentialSubject"), "credentialSubject")
    for subject in subjects:
        if not subject:
            raise CredentialModelError("credentialSubject objects must make at least one claim (an id or a property)")
        if "id" in subject and (not isinstance(subject["id"], str) or not _URL.fullmatch(subject["id"])):
            raise CredentialModelError("credentialSubject.id must be a URL")
    for name in ("evidence", "refreshService", "termsOfUse"):
        if name in data:
            for item in _objects(data[name], name):
                _types(item.get("type"), None, f"{name} ")
    if "relatedResource" in data:
        _related_resources(data["relatedResource"])
    valid_from = parse_datetime(data["validFrom"], "validFrom") if "validFrom" in data else None
    valid_until = parse_datetime(data["validUntil"], "validUntil") if "validUntil" in data else None
    if valid_from and valid_until and valid_until < valid_from:
        raise CredentialModelError("validUntil is before validFrom")
    status = _objects(data["credentialStatus"], "credentialStatus", ("type",)) if "credentialStatus" in data else ()
    if "credentialSchema" in data:
        _objects(data["credentialSchema"], "credentialSchema", ("id", "type"))
    return Credential(data, types, issuer_id, valid_from, valid_until, status)


def check_validity_period(credential: Credential, now: datetime, leeway: timedelta = timedelta(seconds=60)) -> None:
    """Raise if ``now`` (with leeway) is outside validFrom..validUntil."""
    if credential.valid_from is not None and now + leeway < credential.valid_from:
        raise CredentialNotYetValidError(f"the credential is valid from {credential.valid_from.isoformat()}")
    if credential.valid_until is not None and now - leeway > credential.valid_until:
        raise CredentialExpiredError(f"the credential expired at {credential.valid_until.isoformat()}")


def validate_presentation(data: Any) -> tuple[Credential | Mapping[str, Any], ...]:
    """Validate a presentation's structure; embedded JSON credentials are validated too (others returned as-is)."""
    if not isinstance(data, Mapping):
        raise CredentialModelError("a presentation must be a JSON object")
    _contexts(data.get("@context"))
    _types(data.get("type"), "VerifiablePresentation", "presentation ")
    holder = data.get("holder")
    holder_id = holder.get("id") if isinstance(holder, Mapping) else holder
    if holder is not None and (not isinstance(holder_id, str) or not _URL.fullmatch(holder_id)):
        raise CredentialModelError("holder must be a URL or an object with an id URL")
    embedded = data.get("verifiableCredential", [])
    items = embedded if isinstance(embedded, list) else [embedded]
    out: list[Credential | Mapping[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping) and item.get("type") == "EnvelopedVerifiableCredential":
            out.append(item)
        else:
            out.append(validate_credential(item))
    return tuple(out)
