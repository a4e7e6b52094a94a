"""Claim mapping: what an authorization request asks for → the DCQL query of its login presentation.

Only what the relying party asked for is requested from the wallet: scopes (``profile``, ``name``, ``address``,
``birthdate``, ``gender``) and the ``claims`` parameter's members (including those inside ``verified_claims``)
name OpenID Connect claims; each maps to a claim path of the identity SD-JWT VC. ``openid`` alone asks for no claim:
the presentation then proves holder-key possession only. (The other direction, a verified presentation → ID token
and userinfo claims, is the provider's part and lives here too.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from oidc.contracts import AuthorizationRequest

__all__ = [
    "CREDENTIAL_PATHS",
    "CREDENTIAL_QUERY_ID",
    "GENDERS",
    "SCOPE_CLAIMS",
    "VERIFIED_CLAIMS",
    "dcql_query",
    "released_claims",
    "requested_claims",
]

CREDENTIAL_QUERY_ID: Final = "identity"
"""The DCQL credential query id of the login presentation."""

SCOPE_CLAIMS: Final[Mapping[str, tuple[str, ...]]] = {
    "profile": ("name", "birthdate", "gender"),
    "name": ("name",),
    "address": ("address",),
    "birthdate": ("birthdate",),
    "gender": ("gender",),
}
"""OpenID Connect claims each scope asks for (``name``/``address``/``birthdate``/``gender``: the Digital Agency's)."""

CREDENTIAL_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "name": ("name",),
    "address": ("address",),
    "birthdate": ("birthdate",),
    "gender": ("sex",),
    "verified_claims": ("verification",),
}
"""OpenID Connect claim → the identity credential's claim path that carries it."""


def requested_claims(request: AuthorizationRequest) -> tuple[str, ...]:
    """The OpenID Connect claims the request asks for that xid can answer, sorted."""
    wanted: set[str] = set()
    for scope in request.scopes:
        wanted.update(SCOPE_CLAIMS.get(scope, ()))
    for target in ("id_token", "userinfo"):
        members = request.claims.get(target)
        if not isinstance(members, Mapping):
            continue
        for name, spec in members.items():
            if name == "verified_claims":
                wanted.add("verified_claims")
                for entry in spec if isinstance(spec, list) else [spec]:
                    inner = entry.get("claims") if isinstance(entry, Mapping) else None
                    if isinstance(inner, Mapping):
                        wanted.update(n for n in inner if n in CREDENTIAL_PATHS)
            elif name in CREDENTIAL_PATHS:
                wanted.add(name)
    return tuple(sorted(wanted))


def dcql_query(request: AuthorizationRequest, vct: str) -> dict[str, Any]:
    """The DCQL query of the login: the identity SD-JWT VC, holder-bound, with the requested claims only."""
    paths = sorted({CREDENTIAL_PATHS[name] for name in requested_claims(request)})
    query: dict[str, Any] = {
        "id": CREDENTIAL_QUERY_ID,
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [vct]},
        "require_cryptographic_holder_binding": True,
    }
    if paths:
        query["claims"] = [{"path": list(path)} for path in paths]
    return {"credentials": [query]}


# -- the other direction: a verified presentation → ID token and userinfo claims ----------------------------------

VERIFIED_CLAIMS: Final = ("name", "address", "birthdate", "gender")
"""Claims xid can release inside ``verified_claims`` (all come from the card's JPKI signature certificate)."""

GENDERS: Final[Mapping[Any, str]] = {1: "male", 2: "female", "1": "male", "2": "female"}
"""The card's sex code → OpenID Connect ``gender`` (code 3, "not applicable", is not released as a gender)."""


def _standard(name: str, credential: Mapping[str, Any]) -> Any:
    """The OpenID Connect value of one standard claim from the credential's claims, or None when it has none."""
    if name == "name":
        value = credential.get("name")
        return value if isinstance(value, str) and value else None
    if name == "address":
        address = credential.get("address")
        formatted = address.get("formatted") if isinstance(address, Mapping) else None
        return {"formatted": formatted} if isinstance(formatted, str) and formatted else None
    if name == "birthdate":
        value = credential.get("birthdate")
        return value if isinstance(value, str) and len(value) == 10 else None
    if name == "gender":
        return GENDERS.get(credential.get("sex"))
    return None


def _wanted(spec: Any, value: Any) -> bool:
    """Whether a claim's request (``null`` or ``{essential, value, values}``) accepts ``value`` (else: omitted)."""
    if not isinstance(spec, Mapping):
        return True
    if "value" in spec and spec["value"] != value:
        return False
    values = spec.get("values")
    return not (isinstance(values, list) and value not in values)


def _verified_claims(spec: Any, credential: Mapping[str, Any], now: datetime) -> list[dict[str, Any]] | None:
    """``verified_claims`` (OIDC4IDA) for one request entry list; None when nothing can be returned."""
    verification = credential.get("verification")
    if not isinstance(verification, Mapping) or verification.get("trust_framework") != "jp_aml":
        return None
    answered: list[dict[str, Any]] = []
    for entry in spec if isinstance(spec, list) else [spec]:
        if not isinstance(entry, Mapping):
            continue
        wanted_verification = entry.get("verification")
        wanted_verification = wanted_verification if isinstance(wanted_verification, Mapping) else {}
        if not _wanted(wanted_verification.get("trust_framework"), "jp_aml"):
            continue
        time_spec = wanted_verification.get("time")
        checked = verification.get("time")
        if isinstance(time_spec, Mapping) and isinstance(time_spec.get("max_age"), int):
            try:
                when = datetime.fromisoformat(str(checked).replace("Z", "+00:00"))
            except ValueError:
                continue
            if (now - when).total_seconds() > time_spec["max_age"]:
                continue
        inner = entry.get("claims")
        inner = inner if isinstance(inner, Mapping) else {}
        released: dict[str, Any] = {}
        for name, claim_spec in inner.items():
            value = _standard(name, credential) if name in VERIFIED_CLAIMS else None
            if value is not None and _wanted(claim_spec, value):
                released[name] = value
        if not released:
            continue
        block: dict[str, Any] = {"trust_framework": "jp_aml"}
        if isinstance(checked, str):
            block["time"] = checked
        evidence = verification.get("evidence")
        if isinstance(evidence, list):
            block["evidence"] = evidence
        answered.append({"verification": block, "claims": released})
    return answered or None


def released_claims(
    request: AuthorizationRequest, credential: Mapping[str, Any], now: datetime | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ID token claims, userinfo claims) from the presented credential: only what the request asked for.

    Scope claims go to the userinfo (OIDC Core §5.4: an access token is issued); the ``claims`` parameter's
    ``id_token``/``userinfo`` members go where they were asked for; ``value``/``values`` that do not match and a
    ``verified_claims`` whose ``trust_framework`` or ``time.max_age`` cannot be met are omitted, never an error."""
    moment = now or datetime.now(UTC)
    targets: dict[str, dict[str, Any]] = {"id_token": {}, "userinfo": {}}
    for scope in request.scopes:
        for name in SCOPE_CLAIMS.get(scope, ()):
            value = _standard(name, credential)
            if value is not None:
                targets["userinfo"][name] = value
    for target, members in request.claims.items():
        if target not in targets or not isinstance(members, Mapping):
            continue
        for name, spec in members.items():
            if name == "verified_claims":
                verified = _verified_claims(spec, credential, moment)
                if verified is not None:
                    targets[target]["verified_claims"] = verified[0] if len(verified) == 1 else verified
            elif name in VERIFIED_CLAIMS:
                value = _standard(name, credential)
                if value is not None and _wanted(spec, value):
                    targets[target][name] = value
    return targets["id_token"], targets["userinfo"]
