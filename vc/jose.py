"""Compact JWS on the did package's signers and keys, and VC-JOSE: ``vc+jwt`` (VC-JOSE-COSE) and OID4VCI
``jwt_vc_json``.

Written on ``did`` rather than a JOSE library (docs/decisions.md §11) because verification is on the hot path
(``make bench`` holds ``verify_vc_jwt`` within 2x the raw signature, bench/bench_vc_jose.py, next to joserfc's bare
JWS verification for reference) and because the checks must be strict: exactly
three parts, canonical base64url, header and payload JSON objects without duplicate keys, ``NaN``/``Infinity`` or
numbers that overflow to infinity, ``alg`` from an allow-list that must match the key (never ``none``, never HMAC),
unknown ``crit`` refused, ``typ`` checked, ``exp``/``nbf``/``iat`` finite NumericDates, size limits. Errors::

    VcError
    └── JoseError                   invalidJws          (malformed token or header)
        ├── JwsAlgorithmError       unsupportedAlgorithm
        ├── JwsSignatureError       invalidJwsSignature
        └── JwtClaimsError          invalidClaims       (typ, iss/sub mismatch, nbf/exp, kid/issuer mismatch)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeGuard

from did import DidError, KeyType, PublicKey, Signer, parse_did_url
from foundation.jws import MAX_TOKEN_SIZE, encode_compact, parse_compact
from foundation.strict_json import MAX_JSON_DEPTH
from foundation.strict_json import compact_json as _compact_json
from foundation.strict_json import strict_json as _strict_json
from vc.errors import VcError
from vc.model import Credential, check_validity_period, validate_credential

__all__ = [
    "ALLOWED_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "MAX_JSON_DEPTH",
    "MAX_TOKEN_SIZE",
    "CompactJws",
    "JoseError",
    "JoseVerification",
    "JwsAlgorithmError",
    "JwsSignatureError",
    "JwtClaimsError",
    "KeyResolver",
    "algorithm_names",
    "check_claim_mapping",
    "check_times",
    "compact_json",
    "is_numeric_date",
    "issue_jwt_vc_json",
    "issue_vc_jwt",
    "sign_compact",
    "strict_json",
    "verify_vc_jwt",
]

ALLOWED_ALGORITHMS: Final = frozenset({"EdDSA", "Ed25519", "ES256", "ES384", "ES256K"})
"""JWS ``alg`` values verified: ``Ed25519`` is RFC 9864's fully-specified name for ``EdDSA`` over Ed25519. Each
must also fit the key (``KeyType.algorithms``): ``Ed25519``/``EdDSA`` only with Ed25519 keys, ``ES256`` only P-256."""
DEFAULT_LEEWAY: Final = timedelta(seconds=60)


class JoseError(VcError):
    """A JWS or JWT is malformed."""

    code = "invalidJws"


class JwsAlgorithmError(JoseError):
    """The JWS algorithm is not allowed or does not fit the key."""

    code = "unsupportedAlgorithm"


class JwsSignatureError(JoseError):
    """The JWS signature does not verify."""

    code = "invalidJwsSignature"


class JwtClaimsError(JoseError):
    """A JWT claim or header value is wrong (typ, issuer, kid, validity time)."""

    code = "invalidClaims"


KeyResolver = Callable[[str], PublicKey]
"""Finds the public key of a kid, e.g. ``lambda kid: resolver.dereference(kid, "assertionMethod").public_key``."""


def strict_json(data: bytes | str, what: str) -> dict[str, Any]:
    """Parse a JSON object with ``foundation.strict_json``, raising JoseError."""
    return _strict_json(data, what, error=JoseError)


def compact_json(value: Any) -> bytes:
    """UTF-8 JSON without whitespace (``foundation.strict_json.compact_json``), raising JoseError."""
    return _compact_json(value, error=JoseError)


_NAMES: Final = {name: kt.algorithms for kt in KeyType if kt.spec.alg is not None for name in kt.algorithms}


def algorithm_names(algorithm: str) -> tuple[str, ...]:
    """The JOSE ``alg`` names a signer of ``algorithm`` may write: e.g. ``EdDSA`` and RFC 9864's ``Ed25519``."""
    return _NAMES.get(algorithm, (algorithm,))


def sign_compact(header: Mapping[str, Any], payload: bytes, signer: Signer, *, alg: str | None = None) -> str:
    """Create a compact JWS; ``alg`` is the signer's unless given (a name of its key, e.g. ``Ed25519``)."""
    full = {"alg": alg or signer.algorithm, "kid": signer.key_id, **header}
    if full["alg"] not in algorithm_names(signer.algorithm):
        raise JwsAlgorithmError(f"header alg {full['alg']!r} does not match the signer ({signer.algorithm})")
    return encode_compact(full, payload, signer.sign, error=JoseError)


@dataclass(frozen=True)
class CompactJws:
    """A parsed (not yet verified) compact JWS."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> CompactJws:
        """Split and decode a compact JWS strictly, with ``alg`` from the allow-list."""
        parts = parse_compact(token, max_size=MAX_TOKEN_SIZE, error=JoseError)
        alg = parts.header["alg"]
        if alg not in ALLOWED_ALGORITHMS:
            raise JwsAlgorithmError(
                f"algorithm {alg!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_ALGORITHMS))})"
            )
        return cls(parts.header, parts.payload, parts.signing_input, parts.signature)

    def verify(self, key: PublicKey) -> None:
        """Check the signature with a key of the header's algorithm; raise JwsSignatureError/JwsAlgorithmError."""
        try:
            key.verify(self.signature, self.signing_input, self.header["alg"])
        except DidError as exc:
            if exc.code == "unsupportedAlgorithm":
                raise JwsAlgorithmError(exc.message) from exc
            raise JwsSignatureError("the JWS signature does not verify") from exc


@dataclass(frozen=True)
class JoseVerification:
    """A verified VC-JOSE credential: the credential and which key, issuer and algorithm secured it."""

    credential: Credential
    kid: str
    issuer: str
    algorithm: str
    format: str


def issue_vc_jwt(credential: Mapping[str, Any], signer: Signer, *, typ: str = "vc+jwt", alg: str | None = None) -> str:
    """Secure a credential as ``application/vc+jwt`` (the credential is the JWT payload; its iss/sub must fit).

    ``alg`` picks the header name (default the signer's, ``EdDSA`` for Ed25519; ``Ed25519`` per RFC 9864).
    """
    check_claim_mapping({}, credential, validate_credential(credential))
    return sign_compact({"typ": typ, "cty": "vc"}, compact_json(credential), signer, alg=alg)


def issue_jwt_vc_json(
    credential: Mapping[str, Any],
    signer: Signer,
    *,
    subject: str | None = None,
    now: datetime | None = None,
    alg: str | None = None,
) -> str:
    """Secure a credential in the OID4VCI ``jwt_vc_json`` form (claims iss/sub/nbf/exp/jti/iat + ``vc``).

    ``subject`` becomes ``sub`` and must be the ``id`` of a credential subject; ``alg`` as for ``issue_vc_jwt``.
    """
    parsed = validate_credential(credential)
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {"iss": parsed.issuer, "iat": int(issued.timestamp()), "vc": dict(credential)}
    claims["nbf"] = int((parsed.valid_from or issued).timestamp())
    if parsed.valid_until is not None:
        claims["exp"] = int(parsed.valid_until.timestamp())
    if isinstance(credential.get("id"), str):
        claims["jti"] = credential["id"]
    if subject is not None:
        claims["sub"] = subject
    check_claim_mapping({}, claims, parsed)
    return sign_compact({"typ": "JWT"}, compact_json(claims), signer, alg=alg)


def _issuer_key(jws: CompactJws, issuer: str, keys: KeyResolver) -> tuple[str, PublicKey]:
    kid = jws.header.get("kid")
    if not isinstance(kid, str):
        raise JwtClaimsError("the JWS header has no kid")
    try:
        url = parse_did_url(kid)
    except DidError as exc:
        raise JwtClaimsError(f"kid is not a DID URL: {exc.message}") from exc
    if str(url.did) != issuer:
        raise JwtClaimsError(f"kid {kid!r} does not belong to the issuer {issuer!r}")
    try:
        return kid, keys(kid)
    except DidError as exc:
        raise JwtClaimsError(f"cannot find the issuer key {kid!r}: {exc.message}") from exc


def verify_vc_jwt(
    token: str,
    keys: KeyResolver,
    *,
    now: datetime | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
    expected_types: Sequence[str] = ("vc+jwt", "JWT"),
) -> JoseVerification:
    """Verify a ``vc+jwt`` or ``jwt_vc_json`` credential: signature, issuer key, typ and validity period."""
    jws = CompactJws.parse(token)
    typ = jws.header.get("typ")
    if typ not in expected_types:
        raise JwtClaimsError(f"typ {typ!r} is not one of {', '.join(expected_types)}")
    payload = strict_json(jws.payload, "the JWT payload")
    moment = now or datetime.now(UTC)
    if typ == "JWT":
        credential = validate_credential(payload.get("vc"))
        if "iss" not in payload:
            raise JwtClaimsError("a jwt_vc_json token needs an iss claim naming the credential's issuer")
    else:
        credential = validate_credential(payload)
    check_claim_mapping(jws.header, payload, credential)
    check_times(payload, moment, leeway)  # vc+jwt too: RFC 7519 exp/nbf, when present, must be honoured
    kid, key = _issuer_key(jws, credential.issuer, keys)
    jws.verify(key)
    check_validity_period(credential, moment, leeway)
    return JoseVerification(
        credential, kid, credential.issuer, jws.header["alg"], "jwt_vc_json" if typ == "JWT" else "vc+jwt"
    )


def check_claim_mapping(header: Mapping[str, Any], claims: Mapping[str, Any], credential: Credential) -> None:
    """Refuse JWT ``iss``/``sub`` that name another party than the credential's ``issuer``/``credentialSubject``.

    ``iss`` (a claim, or replicated in the JOSE header, RFC 7519 §5.3) must equal the issuer (``issuer`` or
    ``issuer.id``; VC-JOSE-COSE #iss). ``sub`` must equal the ``id`` of a credential subject: of the subject when
    there is one, of one of them when there are several; a ``sub`` beside subjects without ``id`` is refused, since
    a reader of ``sub`` would bind the claims to a party the credential does not name (VC-JOSE-COSE
    #jose-header-parameters-jwt-claims, VC Data Model 1.1 §6.3.1 for ``jwt_vc_json``).
    """
    for where, source in (("the JWT claims", claims), ("the JOSE header", header)):
        if "iss" in source and source["iss"] != credential.issuer:
            raise JwtClaimsError(f"iss in {where} names {source['iss']!r:.80}, not the issuer {credential.issuer!r}")
    for where, source in (("the JWT claims", claims), ("the JOSE header", header)):
        if "sub" not in source:
            continue
        subjects = credential.data.get("credentialSubject")
        ids = [s.get("id") for s in (subjects if isinstance(subjects, list) else [subjects]) if isinstance(s, Mapping)]
        if not isinstance(source["sub"], str) or source["sub"] not in ids:
            named = ", ".join(repr(i) for i in ids if i is not None) or "no subject id"
            raise JwtClaimsError(f"sub in {where} names {source['sub']!r:.80}, not a credential subject ({named})")


def is_numeric_date(value: object) -> TypeGuard[int | float]:
    """Whether ``value`` is a JWT NumericDate: a finite int or float, and not a bool."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def check_times(
    claims: Mapping[str, Any],
    now: datetime,
    leeway: timedelta,
    *,
    error: type[VcError] = JwtClaimsError,
    what: str = "the JWT",
) -> None:
    """Check ``nbf``/``exp`` (and that ``iat``, ``nbf``, ``exp`` are finite NumericDates), raising ``error``."""
    stamp, slack = now.timestamp(), leeway.total_seconds()
    for name in ("nbf", "exp", "iat"):
        value = claims.get(name)
        if value is not None and not is_numeric_date(value):
            raise error(f"{name} must be a finite number of seconds")
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if nbf is not None and stamp + slack < nbf:
        raise error(f"{what} is not valid yet (nbf)")
    if exp is not None and stamp - slack > exp:
        raise error(f"{what} has expired (exp)")
