"""Claim mapping: what an authorization request asks for → the DCQL query of its login presentation.

Only what the relying party asked for is requested from the wallet: scopes (``profile``, ``name``, ``address``,
``birthdate``, ``gender``) and the ``claims`` parameter's members (including those inside ``verified_claims``)
name OpenID Connect claims; each maps to a claim path of the identity SD-JWT VC. ``openid`` alone asks for no claim:
the presentation then proves holder-key possession only. (The other direction, a verified presentation → ID token
and userinfo claims, is the provider's part and lives here too.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from oidc.contracts import AuthorizationRequest

__all__ = ["CREDENTIAL_PATHS", "CREDENTIAL_QUERY_ID", "SCOPE_CLAIMS", "dcql_query", "requested_claims"]

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
