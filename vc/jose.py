"""Compact JWS on the did package's signers and keys, and VC-JOSE: ``vc+jwt`` (VC-JOSE-COSE) and OID4VCI
``jwt_vc_json``.

Written on ``did`` rather than a JOSE library because verification is on the hot path (DESIGN §7: plain
cryptography + base64 is 2-3x faster than the usual libraries) and because the checks must be strict: exactly
three parts, canonical base64url, header and payload JSON objects without duplicate keys, ``NaN``/``Infinity`` or
numbers that overflow to infinity, ``alg`` from an allow-list that must match the key (never ``none``, never HMAC),
unknown ``crit`` refused, ``typ`` checked, ``exp``/``nbf``/``iat`` finite NumericDates, size limits. Errors::

    VcError
    └── JoseError                   invalidJws          (malformed token or header)
        ├── JwsAlgorithmError       unsupportedAlgorithm
        ├── JwsSignatureError       invalidSignature
        └── JwtClaimsError          invalidClaims       (typ, iss, nbf/exp, kid/issuer mismatch)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import Any, Final, TypeGuard

import orjson

from did import DidError, PublicKey, Signer, parse_did_url
from did.b64 import b64url_bytes, b64url_decode
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
MAX_TOKEN_SIZE: Final = 256 * 1024
MAX_JSON_DEPTH: Final = 128
"""How deeply ``strict_json`` lets arrays and objects nest (the outermost object is level 1)."""
DEFAULT_LEEWAY: Final = timedelta(seconds=60)


class JoseError(VcError):
    """A JWS or JWT is malformed."""

    code = "invalidJws"


class JwsAlgorithmError(JoseError):
    """The JWS algorithm is not allowed or does not fit the key."""

    code = "unsupportedAlgorithm"


class JwsSignatureError(JoseError):
    """The JWS signature does not verify."""

    code = "invalidSignature"


class JwtClaimsError(JoseError):
    """A JWT claim or header value is wrong (typ, issuer, kid, validity time)."""

    code = "invalidClaims"


KeyResolver = Callable[[str], PublicKey]
"""Finds the public key of a kid, e.g. ``lambda kid: resolver.dereference(kid, "assertionMethod").public_key``."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JoseError(f"duplicate JSON member {key!r}")
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise JoseError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JoseError(f"the number {text[:24]!r} is out of range (it would be infinite)")
    return value


_JSON_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than MAX_JSON_DEPTH, checked before the recursive decoder runs.

    Catching RecursionError is not enough: a library may raise the recursion limit (py_ecc, which web3 imports, sets
    it to 100,000), and the C decoder then overflows the C stack and the process dies. Few brackets cannot nest
    deeply, so the usual token costs two ``count`` calls; otherwise strings are dropped and the brackets summed.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH


_STRICT_JSON: Final = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite_float
).decode


def strict_json(data: bytes | str, what: str) -> dict[str, Any]:
    """Parse a JSON object, refusing duplicate members, NaN/Infinity, and nesting or integers Python cannot hold."""
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        if _too_deep(text):
            raise JoseError(f"{what} is JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
        value = _STRICT_JSON(text)
    except RecursionError as exc:  # a backstop: the depth check above keeps the decoder far from the limit
        raise JoseError(f"{what} is JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise JoseError(f"{what} is not valid JSON: {exc.msg}") from exc
    except ValueError as exc:  # invalid UTF-8, or an integer longer than sys.get_int_max_str_digits() (4300)
        raise JoseError(f"{what} is not valid JSON (invalid UTF-8, or a number too long to read)") from exc
    if not isinstance(value, dict):
        raise JoseError(f"{what} must be a JSON object")
    return value


_STDLIB_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def compact_json(value: Any) -> bytes:
    """UTF-8 JSON without whitespace, as JWS payloads, headers and disclosures are serialized here."""
    try:
        encoded = orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits: the standard library writes any integer
        encoded = b""
    # orjson writes NaN and Infinity as null; JSON has no such numbers, so refuse them rather than change the data.
    if not encoded or b"null" in encoded:
        try:
            encoded = _STDLIB_JSON(value).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise JoseError(f"the value cannot be written as JSON: {exc}") from exc
    return encoded


def sign_compact(header: Mapping[str, Any], payload: bytes, signer: Signer) -> str:
    """Create a compact JWS; ``alg`` is the signer's, ``kid`` the signer's key id unless given."""
    full = {"alg": signer.algorithm, "kid": signer.key_id, **header}
    if full["alg"] != signer.algorithm:
        raise JwsAlgorithmError(f"header alg {full['alg']!r} does not match the signer ({signer.algorithm})")
    signing_input = _encoded_header(compact_json(full)) + b"." + b64url_bytes(payload)
    return (signing_input + b"." + b64url_bytes(signer.sign(signing_input))).decode("ascii")


@lru_cache(maxsize=64)
def _encoded_header(header: bytes) -> bytes:
    """Headers repeat (one per signer and type): encode each once."""
    return b64url_bytes(header)


@dataclass(frozen=True)
class CompactJws:
    """A parsed (not yet verified) compact JWS."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> CompactJws:
        """Split and decode a compact JWS strictly."""
        if not isinstance(token, str):
            raise JoseError("a JWS must be a string")
        if len(token) > MAX_TOKEN_SIZE:
            raise JoseError(f"the JWS is larger than {MAX_TOKEN_SIZE} bytes")
        parts = token.split(".")
        if len(parts) != 3:
            raise JoseError("a compact JWS has exactly three dot-separated parts")
        try:
            header_raw, payload, signature = (b64url_decode(p) for p in parts)
        except ValueError as exc:
            raise JoseError("a JWS part is not unpadded base64url") from exc
        header = strict_json(header_raw, "the JWS header")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise JoseError("the JWS header has no alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise JwsAlgorithmError(
                f"algorithm {alg!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_ALGORITHMS))})"
            )
        crit = header.get("crit")
        if crit is not None:
            raise JoseError(f"critical header parameters {crit!r} are not understood")
        return cls(header, payload, (parts[0] + "." + parts[1]).encode("ascii"), signature)

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


def issue_vc_jwt(credential: Mapping[str, Any], signer: Signer, *, typ: str = "vc+jwt") -> str:
    """Secure a credential as ``application/vc+jwt`` (the credential is the JWT payload)."""
    validate_credential(credential)
    return sign_compact({"typ": typ, "cty": "vc"}, compact_json(credential), signer)


def issue_jwt_vc_json(
    credential: Mapping[str, Any], signer: Signer, *, subject: str | None = None, now: datetime | None = None
) -> str:
    """Secure a credential in the OID4VCI ``jwt_vc_json`` form (claims iss/sub/nbf/exp/jti/iat + ``vc``)."""
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
    return sign_compact({"typ": "JWT"}, compact_json(claims), signer)


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
        if payload.get("iss") != credential.issuer:
            raise JwtClaimsError("iss does not equal the credential's issuer")
    else:
        credential = validate_credential(payload)
    check_times(payload, moment, leeway)  # vc+jwt too: RFC 7519 exp/nbf, when present, must be honoured
    kid, key = _issuer_key(jws, credential.issuer, keys)
    jws.verify(key)
    check_validity_period(credential, moment, leeway)
    return JoseVerification(
        credential, kid, credential.issuer, jws.header["alg"], "jwt_vc_json" if typ == "JWT" else "vc+jwt"
    )


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
