"""DCQL, the Digital Credentials Query Language of OpenID4VP 1.0 (§6): parse and validate a query, and match it
against credentials in any format (``dc+sd-jwt``, ``jwt_vc_json``, ``ldp_vc``).

The wallet uses ``match`` to find which credentials and which claims answer a verifier; the verifier uses the same
code to check that what came back answers what it asked (never trusting the wallet to have applied the query).
Claims are matched against a credential's full claim set as JSON (for SD-JWT VC: the payload with every
disclosure applied), so the result also names the claims to disclose. Errors::

    VcError
    └── DcqlError      invalidDcqlQuery   (the query violates the specification; the message names the member)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from vc.errors import VcError

__all__ = [
    "SD_JWT_VC",
    "W3C_FORMATS",
    "Candidate",
    "ClaimsQuery",
    "CredentialMatch",
    "CredentialQuery",
    "CredentialSetQuery",
    "DcqlError",
    "DcqlQuery",
    "DcqlResult",
    "match",
    "match_credential",
    "select",
]

_ID = re.compile(r"[A-Za-z0-9_-]+")
ClaimPath = tuple[str | int | None, ...]
ClaimValue = str | int | bool
W3C_FORMATS: Final = ("jwt_vc_json", "ldp_vc")
SD_JWT_VC: Final = "dc+sd-jwt"


class DcqlError(VcError):
    """A DCQL query is malformed."""

    code = "invalidDcqlQuery"


@dataclass(frozen=True)
class ClaimsQuery:
    """One requested claim: a claims path pointer and optional accepted values."""

    path: ClaimPath
    id: str | None = None
    values: tuple[ClaimValue, ...] | None = None


@dataclass(frozen=True)
class CredentialQuery:
    """One requested credential."""

    id: str
    format: str
    meta: Mapping[str, Any]
    claims: tuple[ClaimsQuery, ...] | None = None
    claim_sets: tuple[tuple[str, ...], ...] | None = None
    multiple: bool = False
    require_cryptographic_holder_binding: bool = True


@dataclass(frozen=True)
class CredentialSetQuery:
    """Alternative sets of credential query ids, of which one must (or, if optional, may) be satisfied."""

    options: tuple[tuple[str, ...], ...]
    required: bool = True


@dataclass(frozen=True)
class DcqlQuery:
    """A validated DCQL query."""

    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSetQuery, ...] | None = None

    @classmethod
    def parse(cls, value: Any) -> DcqlQuery:
        """Validate a DCQL query (a JSON object); unknown members are ignored as the specification requires."""
        if not isinstance(value, Mapping):
            raise DcqlError("the DCQL query must be a JSON object")
        raw_credentials = value.get("credentials")
        if not isinstance(raw_credentials, list) or not raw_credentials:
            raise DcqlError("'credentials' must be a non-empty array")
        credentials = tuple(_credential_query(q, i) for i, q in enumerate(raw_credentials))
        ids = [q.id for q in credentials]
        if len(set(ids)) != len(ids):
            raise DcqlError("credential query ids must be unique")
        sets = None
        if "credential_sets" in value:
            raw_sets = value["credential_sets"]
            if not isinstance(raw_sets, list) or not raw_sets:
                raise DcqlError("'credential_sets' must be a non-empty array")
            sets = tuple(_credential_set(s, i, set(ids)) for i, s in enumerate(raw_sets))
        return cls(credentials, sets)


def _credential_query(value: Any, position: int) -> CredentialQuery:
    where = f"credentials[{position}]"
    if not isinstance(value, Mapping):
        raise DcqlError(f"{where} must be an object")
    query_id, fmt, meta = value.get("id"), value.get("format"), value.get("meta")
    if not isinstance(query_id, str) or not _ID.fullmatch(query_id):
        raise DcqlError(f"{where}.id must be a non-empty string of A-Z a-z 0-9 _ -")
    if not isinstance(fmt, str) or not fmt:
        raise DcqlError(f"{where}.format must be a non-empty string")
    if not isinstance(meta, Mapping):
        raise DcqlError(f"{where}.meta is required and must be an object")
    _check_meta(fmt, meta, where)
    for flag in ("multiple", "require_cryptographic_holder_binding"):
        if flag in value and not isinstance(value[flag], bool):
            raise DcqlError(f"{where}.{flag} must be a boolean")
    claims = None
    if "claims" in value:
        raw_claims = value["claims"]
        if not isinstance(raw_claims, list) or not raw_claims:
            raise DcqlError(f"{where}.claims must be a non-empty array")
        claims = tuple(_claims_query(c, f"{where}.claims[{i}]", fmt) for i, c in enumerate(raw_claims))
    claim_sets = None
    if "claim_sets" in value:
        if claims is None:
            raise DcqlError(f"{where}.claim_sets requires claims")
        claim_ids = {c.id for c in claims}
        if None in claim_ids:
            raise DcqlError(f"{where}: every claims query needs an id when claim_sets is present")
        raw_sets = value["claim_sets"]
        if not isinstance(raw_sets, list) or not raw_sets:
            raise DcqlError(f"{where}.claim_sets must be a non-empty array")
        sets = []
        for i, option in enumerate(raw_sets):
            if not isinstance(option, list) or not option or not all(isinstance(x, str) for x in option):
                raise DcqlError(f"{where}.claim_sets[{i}] must be a non-empty array of claim ids")
            unknown = set(option) - claim_ids
            if unknown:
                raise DcqlError(f"{where}.claim_sets[{i}] names unknown claim ids: {', '.join(sorted(unknown))}")
            sets.append(tuple(option))
        claim_sets = tuple(sets)
    if claims is not None:
        named = [c.id for c in claims if c.id is not None]
        if len(set(named)) != len(named):
            raise DcqlError(f"{where}: claims query ids must be unique")
    return CredentialQuery(
        query_id,
        fmt,
        dict(meta),
        claims,
        claim_sets,
        bool(value.get("multiple", False)),
        bool(value.get("require_cryptographic_holder_binding", True)),
    )


def _check_meta(fmt: str, meta: Mapping[str, Any], where: str) -> None:
    if fmt == SD_JWT_VC:
        vct_values = meta.get("vct_values")
        if not isinstance(vct_values, list) or not vct_values or not all(isinstance(v, str) for v in vct_values):
            raise DcqlError(f"{where}.meta.vct_values must be a non-empty array of strings for {fmt}")
    elif fmt in W3C_FORMATS:
        type_values = meta.get("type_values")
        ok = (
            isinstance(type_values, list)
            and type_values
            and all(isinstance(t, list) and t and all(isinstance(x, str) for x in t) for t in type_values)
        )
        if not ok:
            raise DcqlError(f"{where}.meta.type_values must be a non-empty array of non-empty arrays of type IRIs")


def _claims_query(value: Any, where: str, fmt: str) -> ClaimsQuery:
    if not isinstance(value, Mapping):
        raise DcqlError(f"{where} must be an object")
    path = value.get("path")
    if not isinstance(path, list) or not path:
        raise DcqlError(f"{where}.path must be a non-empty array")
    for element in path:
        if element is None or isinstance(element, str):
            continue
        if isinstance(element, bool) or not isinstance(element, int) or element < 0:
            raise DcqlError(f"{where}.path elements must be strings, null or non-negative integers")
    claim_id = value.get("id")
    if claim_id is not None and (not isinstance(claim_id, str) or not _ID.fullmatch(claim_id)):
        raise DcqlError(f"{where}.id must be a string of A-Z a-z 0-9 _ -")
    values = value.get("values")
    if values is not None:
        if not isinstance(values, list) or not values:
            raise DcqlError(f"{where}.values must be a non-empty array")
        if not all(isinstance(v, str | int | bool) for v in values):
            raise DcqlError(f"{where}.values may hold only strings, integers and booleans")
        values = tuple(values)
    return ClaimsQuery(tuple(path), claim_id, values)


# -- matching ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A credential the wallet holds, as DCQL sees it."""

    id: str
    format: str
    claims: Mapping[str, Any]
    vct: str | None = None
    types: frozenset[str] = frozenset()  # W3C: fully expanded type IRIs
    holder_binding: bool = True


@dataclass(frozen=True)
class CredentialMatch:
    """A candidate that answers a credential query, with the claims queries it satisfied (to disclose)."""

    credential_id: str
    claims: tuple[ClaimsQuery, ...] = ()


@dataclass(frozen=True)
class DcqlResult:
    """Which credentials answer which queries, and whether the query as a whole can be satisfied."""

    matches: Mapping[str, tuple[CredentialMatch, ...]]
    selected_queries: tuple[str, ...]
    satisfied: bool
    unsatisfied: tuple[str, ...] = field(default_factory=tuple)


def select(claims: Any, path: ClaimPath) -> list[Any]:
    """Apply a claims path pointer; an empty list means the path selects nothing."""
    current = [claims]
    for element in path:
        following: list[Any] = []
        for node in current:
            if isinstance(element, str):
                if isinstance(node, Mapping) and element in node:
                    following.append(node[element])
            elif element is None:
                if isinstance(node, list):
                    following.extend(node)
            elif isinstance(node, list) and element < len(node):
                following.append(node[element])
        current = following
        if not current:
            return []
    return current


def _claim_matches(claims: Mapping[str, Any], query: ClaimsQuery) -> bool:
    selected = select(claims, query.path)
    if not selected:
        return False
    if query.values is None:
        return True
    wanted = query.values
    return any(any(type(v) is type(w) and v == w for w in wanted) for v in selected if isinstance(v, str | int | bool))


def _meta_matches(query: CredentialQuery, candidate: Candidate) -> bool:
    if query.format == SD_JWT_VC:
        return candidate.vct in query.meta["vct_values"]
    if query.format in W3C_FORMATS:
        return any(set(option) <= candidate.types for option in query.meta["type_values"])
    return False  # formats this wallet does not hold (e.g. mso_mdoc) never match


def match_credential(query: CredentialQuery, candidate: Candidate) -> CredentialMatch | None:
    """The match of one candidate for one credential query, or None."""
    if candidate.format != query.format or not _meta_matches(query, candidate):
        return None
    if query.require_cryptographic_holder_binding and not candidate.holder_binding:
        return None
    if query.claims is None:
        return CredentialMatch(candidate.id)
    if query.claim_sets is None:
        if all(_claim_matches(candidate.claims, c) for c in query.claims):
            return CredentialMatch(candidate.id, query.claims)
        return None
    by_id = {c.id: c for c in query.claims}
    for option in query.claim_sets:  # ordered by the verifier's preference: the first satisfiable wins
        chosen = tuple(by_id[i] for i in option)
        if all(_claim_matches(candidate.claims, c) for c in chosen):
            return CredentialMatch(candidate.id, chosen)
    return None


def match(query: DcqlQuery, candidates: Sequence[Candidate]) -> DcqlResult:
    """Match every credential query against the candidates and resolve credential_sets."""
    matches: dict[str, tuple[CredentialMatch, ...]] = {}
    for q in query.credentials:
        found = [m for c in candidates if (m := match_credential(q, c)) is not None]
        matches[q.id] = tuple(found if q.multiple else found[:1])
    if query.credential_sets is None:
        missing = tuple(q.id for q in query.credentials if not matches[q.id])
        selected = tuple(q.id for q in query.credentials if matches[q.id])
        return DcqlResult(matches, selected, not missing, missing)
    selected_ids: list[str] = []
    unsatisfied: list[str] = []
    for position, credential_set in enumerate(query.credential_sets):
        option = next((o for o in credential_set.options if all(matches[i] for i in o)), None)
        if option is not None:
            selected_ids.extend(i for i in option if i not in selected_ids)
        elif credential_set.required:
            unsatisfied.append(f"credential_sets[{position}]")
    return DcqlResult(matches, tuple(selected_ids), not unsatisfied, tuple(unsatisfied))


def _credential_set(value: Any, position: int, ids: set[str]) -> CredentialSetQuery:
    where = f"credential_sets[{position}]"
    if not isinstance(value, Mapping):
        raise DcqlError(f"{where} must be an object")
    options = value.get("options")
    if not isinstance(options, list) or not options:
        raise DcqlError(f"{where}.options must be a non-empty array")
    parsed = []
    for i, option in enumerate(options):
        if not isinstance(option, list) or not option or not all(isinstance(x, str) for x in option):
            raise DcqlError(f"{where}.options[{i}] must be a non-empty array of credential query ids")
        unknown = set(option) - ids
        if unknown:
            raise DcqlError(f"{where}.options[{i}] names unknown credential queries: {', '.join(sorted(unknown))}")
        parsed.append(tuple(option))
    required = value.get("required", True)
    if not isinstance(required, bool):
        raise DcqlError(f"{where}.required must be a boolean")
    return CredentialSetQuery(tuple(parsed), required)
