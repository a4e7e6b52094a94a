"""Selective Disclosure JWT (RFC 9901) and SD-JWT VC (``dc+sd-jwt``): issue, present with key binding, verify.

Issuers mark claims with ``SD(value)`` (object members, array elements, and nested values, recursively); each
becomes a salted Disclosure whose digest replaces it in the signed payload, mixed with decoy digests. Holders
present a chosen subset of Disclosures and a Key Binding JWT (``kb+jwt``: ``aud``, ``nonce``, ``iat``,
``sd_hash``) signed with the key in ``cnf.jwk``. Verification checks everything and fails closed: the issuer
signature, ``_sd_alg``, each Disclosure's shape, duplicates, every Disclosure referenced exactly once, no claim
overwritten, nesting at most ``MAX_DEPTH`` levels deep, and the KB-JWT. For SD-JWT VC (``dc+sd-jwt``, and the
older ``vc+sd-jwt``) the claims in ``NEVER_DISCLOSABLE`` (``iss``, ``nbf``, ``exp``, ``cnf``, ``vct``,
``vct#integrity``, ``status``) must not be selectively disclosable at the top level: ``issue`` refuses to make them
so and ``verify`` refuses a presentation that discloses one, since a holder could otherwise withhold its expiry or
status. Written on ``vc.jose`` rather than the ``sd-jwt`` package (see docs/decisions.md §11). Errors::

    VcError
    └── SdJwtError                      invalidSdJwt
        ├── DisclosureError             invalidDisclosure   (malformed, duplicate, unreferenced, overwriting)
        │   └── NonDisclosableClaimError nonDisclosableClaim (an SD-JWT VC claim that must always be disclosed)
        └── KeyBindingError             invalidKeyBinding   (missing, wrong aud/nonce/iat/sd_hash, bad signature)
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from did import DidError, PublicKey, Signer
from foundation.b64 import b64url_bytes, b64url_decode, b64url_encode
from vc.errors import VcError
from vc.jose import CompactJws, JoseError, check_times, compact_json, is_numeric_date, sign_compact, strict_json

__all__ = [
    "KB_JWT_TYP",
    "MAX_DEPTH",
    "MAX_DISCLOSURES",
    "NEVER_DISCLOSABLE",
    "SD",
    "SD_JWT_VC_TYP",
    "ClaimPath",
    "DisclosureError",
    "IssuerKeyResolver",
    "KeyBindingError",
    "NonDisclosableClaimError",
    "SdJwtError",
    "SdJwtVerification",
    "issue",
    "present",
    "sd_hash",
    "verify",
]

SD_JWT_VC_TYP: Final = "dc+sd-jwt"
KB_JWT_TYP: Final = "kb+jwt"
MAX_DISCLOSURES: Final = 1024
MAX_DEPTH: Final = 64
"""How deeply claims may nest (objects and arrays, through disclosures too) below the payload object."""
NEVER_DISCLOSABLE: Final = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
"""Top-level claims an SD-JWT VC must not make selectively disclosable (draft-ietf-oauth-sd-jwt-vc)."""
_VC_TYPES: Final = frozenset({SD_JWT_VC_TYP, "vc+sd-jwt"})  # vc+sd-jwt: the SD-JWT VC media type before draft 06
ClaimPath = tuple[str | int, ...]


class SdJwtError(VcError):
    """An SD-JWT is malformed or does not verify."""

    code = "invalidSdJwt"


class DisclosureError(SdJwtError):
    """A Disclosure is malformed, duplicated, unreferenced, or would overwrite a claim."""

    code = "invalidDisclosure"


class NonDisclosableClaimError(DisclosureError):
    """An SD-JWT VC claim that must always be disclosed (``NEVER_DISCLOSABLE``) is selectively disclosable."""

    code = "nonDisclosableClaim"


class KeyBindingError(SdJwtError):
    """The Key Binding JWT is missing or wrong."""

    code = "invalidKeyBinding"


@dataclass(frozen=True)
class SD:
    """Marks a claim value (object member or array element) as selectively disclosable."""

    value: Any


def _digest(disclosure: str) -> str:
    try:
        return _digest_bytes(disclosure.encode("ascii"))
    except UnicodeEncodeError as exc:
        raise DisclosureError("a disclosure is not base64url (it has a non-ASCII character)") from exc


_SCALARS: Final = (str, int, float, bool, type(None))
_SCALAR_TYPES: Final = frozenset(_SCALARS)
_STRING_JSON: Final = json.encoder.encode_basestring
_SALT_BYTES: Final = 18  # 144 bits (at least 128 are required); a multiple of 3, so salts need no padding
_SALT_CHARS: Final = _SALT_BYTES * 4 // 3


def _json(value: Any) -> str:
    return _STRING_JSON(value) if type(value) is str else compact_json(value).decode("utf-8")


def _digest_bytes(encoded: bytes) -> str:
    return b64url_encode(hashlib.sha256(encoded).digest())


class _Issuer:
    def __init__(self, decoys: int) -> None:
        self.disclosures: list[str] = []
        self.decoys = decoys
        self._pool = ""

    def salt(self) -> str:
        """A fresh 144-bit salt (drawn and encoded in batches of 8: one system call, one base64 pass)."""
        if not self._pool:
            self._pool = b64url_encode(secrets.token_bytes(_SALT_BYTES * 8))
        salt, self._pool = self._pool[:_SALT_CHARS], self._pool[_SALT_CHARS:]
        return salt

    def disclose(self, name: str | None, value: Any) -> str:
        """Record a Disclosure ``[salt, name, value]`` (or ``[salt, value]``) and return its digest."""
        salt, value = self.salt(), _json(self.process(value))
        text = f'["{salt}", {_STRING_JSON(name)}, {value}]' if name is not None else f'["{salt}", {value}]'
        encoded = b64url_bytes(text.encode("utf-8"))
        self.disclosures.append(encoded.decode("ascii"))
        return _digest_bytes(encoded)

    def process(self, value: Any) -> Any:
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, SD):
            raise SdJwtError("SD(...) marks members and array elements, not the whole payload")
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            digests: list[str] = []
            for reserved in ("_sd", "..."):
                if reserved in value:
                    raise SdJwtError(f"claim name {reserved!r} is reserved by SD-JWT")
            for name, member in value.items():
                kind = type(member)
                if kind is SD:
                    digests.append(self.disclose(name, member.value))
                elif kind in _SCALAR_TYPES:
                    out[name] = member
                else:
                    out[name] = self.process(member)
            if digests:
                digests.extend(_digest(self.salt()) for _ in range(self.decoys))
                out["_sd"] = sorted(digests)
            return out
        if isinstance(value, list):
            elements = []
            for element in value:
                if isinstance(element, SD):
                    elements.append({"...": self.disclose(None, element.value)})
                else:
                    elements.append(self.process(element))
            return elements
        return value


def issue(
    claims: Mapping[str, Any],
    signer: Signer,
    *,
    holder_jwk: Mapping[str, str] | None = None,
    typ: str = SD_JWT_VC_TYP,
    decoys: int = 2,
    alg: str | None = None,
) -> str:
    """Issue an SD-JWT (``<issuer JWT>~<disclosure>~...~``); ``SD(...)`` marks disclosable claims.

    ``alg`` picks the JWS ``alg`` name (default the signer's; ``Ed25519`` for RFC 9864's name of ``EdDSA``).
    """
    refused = sorted(name for name in NEVER_DISCLOSABLE if isinstance(claims.get(name), SD))
    if refused and typ in _VC_TYPES:
        raise NonDisclosableClaimError(
            f"an SD-JWT VC may not make {', '.join(refused)} selectively disclosable "
            f"(never disclosable: {', '.join(sorted(NEVER_DISCLOSABLE))})"
        )
    issuer = _Issuer(decoys)
    payload = issuer.process(claims)
    payload["_sd_alg"] = "sha-256"
    if holder_jwk is not None:
        payload["cnf"] = {"jwk": dict(holder_jwk)}
    jwt = sign_compact({"typ": typ}, compact_json(payload), signer, alg=alg)
    return "~".join([jwt, *issuer.disclosures]) + "~"


@dataclass(frozen=True)
class _Parsed:
    jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None


def _split(sd_jwt: str) -> _Parsed:
    if not isinstance(sd_jwt, str):
        raise SdJwtError("an SD-JWT must be a string")
    if sd_jwt.lstrip().startswith("{"):
        return _from_json_serialization(sd_jwt)
    parts = sd_jwt.split("~")
    if len(parts) < 2:
        raise SdJwtError("an SD-JWT is '<JWT>~<disclosures>~' (no '~' found)")
    if len(parts) - 2 > MAX_DISCLOSURES:
        raise SdJwtError(f"more than {MAX_DISCLOSURES} disclosures")
    jwt, disclosures, last = parts[0], tuple(parts[1:-1]), parts[-1]
    if any(not d for d in disclosures):
        raise DisclosureError("empty disclosure between '~' separators")
    if not sd_jwt.isascii():  # O(1) for str; a non-ASCII disclosure cannot be hashed as its ASCII encoding
        _check_ascii(disclosures)
    return _Parsed(jwt, disclosures, last or None)


def _check_ascii(disclosures: Sequence[str]) -> None:
    if not all(d.isascii() for d in disclosures):
        raise DisclosureError("a disclosure is not base64url (it has a non-ASCII character)")


def _from_json_serialization(text: str) -> _Parsed:
    data = strict_json(text, "the SD-JWT JSON serialization")
    if "signatures" in data:
        signatures = data.get("signatures")
        if not isinstance(signatures, list) or not signatures or not isinstance(signatures[0], Mapping):
            raise SdJwtError("JWS JSON general serialization needs signatures")
        data = {**data, **signatures[0]}
    raw_header = data.get("header")
    header: Mapping[str, Any] = raw_header if isinstance(raw_header, Mapping) else {}
    disclosures = data.get("disclosures", header.get("disclosures", []))
    kb_jwt = data.get("kb_jwt", header.get("kb_jwt"))
    protected, payload, signature = data.get("protected"), data.get("payload"), data.get("signature")
    if not all(isinstance(x, str) for x in (protected, payload, signature)):
        raise SdJwtError("JWS JSON serialization needs protected, payload and signature strings")
    if not isinstance(disclosures, list) or not all(isinstance(d, str) and d for d in disclosures):
        raise DisclosureError("disclosures must be an array of strings")
    _check_ascii(disclosures)
    if kb_jwt is not None and not isinstance(kb_jwt, str):
        raise KeyBindingError("kb_jwt must be a string")
    return _Parsed(f"{protected}.{payload}.{signature}", tuple(disclosures), kb_jwt)


@dataclass(frozen=True)
class _Disclosure:
    encoded: str
    salt: str
    name: str | None
    value: Any


def _decode_disclosure(encoded: str) -> _Disclosure:
    try:
        items = orjson.loads(b64url_decode(encoded))
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError, and so is invalid UTF-8
        raise DisclosureError("a disclosure is not base64url-encoded JSON") from exc
    if not isinstance(items, list) or len(items) not in (2, 3) or not isinstance(items[0], str):
        raise DisclosureError("a disclosure must be [salt, name, value] or [salt, value]")
    if len(items) == 3:
        if not isinstance(items[1], str):
            raise DisclosureError("a disclosure's claim name must be a string")
        if items[1] in ("_sd", "..."):
            raise DisclosureError(f"a disclosure may not name the reserved claim {items[1]!r}")
        return _Disclosure(encoded, items[0], items[1], items[2])
    return _Disclosure(encoded, items[0], None, items[1])


class _Resolver:
    """Rebuilds the claims from the signed payload and the Disclosures, recording what each one disclosed."""

    def __init__(self, disclosures: Sequence[str], never_disclosable: frozenset[str] = frozenset()) -> None:
        self.never_disclosable = never_disclosable  # top-level claim names no disclosure may carry
        self.by_digest: dict[str, _Disclosure] = {}
        for encoded in disclosures:
            digest = _digest(encoded)
            if digest in self.by_digest:
                raise DisclosureError("the same disclosure is presented twice")
            self.by_digest[digest] = _decode_disclosure(encoded)
        self.seen: set[str] = set()
        self.used: dict[str, ClaimPath] = {}

    def _take(self, digest: Any) -> _Disclosure | None:
        if not isinstance(digest, str):
            raise SdJwtError("digests must be strings")
        if digest in self.seen:
            raise SdJwtError("a digest appears more than once in the SD-JWT")
        self.seen.add(digest)
        return self.by_digest.get(digest)

    def resolve(self, value: Any, path: ClaimPath) -> Any:
        if isinstance(value, _SCALARS):
            return value
        if len(path) > MAX_DEPTH:  # the path grows by one per object or array level, disclosed or not
            raise SdJwtError(f"the SD-JWT nests claims more than {MAX_DEPTH} levels deep")
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for name, member in value.items():
                if name == "_sd":
                    continue
                if name == "...":
                    raise SdJwtError("'...' may only appear in array elements")
                out[name] = self.resolve(member, (*path, name))
            digests = value.get("_sd", [])
            if not isinstance(digests, list):
                raise SdJwtError("_sd must be an array of digests")
            for digest in digests:
                found = self._take(digest)
                if found is None:
                    continue  # a decoy, or a claim the holder did not disclose
                if found.name is None:
                    raise DisclosureError("an array-element disclosure is referenced from an object's _sd")
                if found.name in out:
                    raise DisclosureError(f"disclosure for {found.name!r} would overwrite an existing claim")
                if not path and found.name in self.never_disclosable:
                    raise NonDisclosableClaimError(f"an SD-JWT VC may not disclose {found.name!r} selectively")
                self.used[found.encoded] = (*path, found.name)
                out[found.name] = self.resolve(found.value, (*path, found.name))
            return out
        if isinstance(value, list):
            elements: list[Any] = []
            for element in value:
                if isinstance(element, Mapping) and "..." in element:
                    if len(element) != 1:
                        raise SdJwtError("an array element digest object must hold only '...'")
                    found = self._take(element["..."])
                    if found is None:
                        continue
                    if found.name is not None:
                        raise DisclosureError("an object-property disclosure is referenced from an array element")
                    self.used[found.encoded] = (*path, len(elements))
                    elements.append(self.resolve(found.value, (*path, len(elements))))
                else:
                    elements.append(self.resolve(element, (*path, len(elements))))
            return elements
        return value


@dataclass(frozen=True)
class SdJwtVerification:
    """A verified SD-JWT (VC): the disclosed claims and the facts of its verification."""

    claims: dict[str, Any]
    issuer_header: dict[str, Any]
    holder_jwk: dict[str, Any] | None
    disclosed: tuple[ClaimPath, ...]
    key_bound: bool
    vct: str | None = None
    status: Any = None
    audience: str | None = field(default=None)


IssuerKeyResolver = Callable[[dict[str, Any], dict[str, Any]], PublicKey]
"""Finds the issuer's key from the JWT header and payload (e.g. ``kid`` via a DID resolver, or a fixed key)."""


def sd_hash(presentation_without_kb: str) -> str:
    """The ``sd_hash`` a KB-JWT carries: base64url(SHA-256(``<JWT>~<disclosures>~``))."""
    return b64url_encode(hashlib.sha256(presentation_without_kb.encode("ascii")).digest())


def present(
    sd_jwt: str,
    disclose: Sequence[ClaimPath],
    holder: Signer | None,
    *,
    audience: str | None = None,
    nonce: str | None = None,
    now: datetime | None = None,
    alg: str | None = None,
) -> str:
    """Build a presentation disclosing the claims at ``disclose`` (and their parents), with a KB-JWT if ``holder``.

    ``alg`` picks the KB-JWT's ``alg`` name, as for ``issue``.
    """
    parsed = _split(sd_jwt)
    jws = CompactJws.parse(parsed.jwt)
    resolver = _Resolver(parsed.disclosures)
    resolver.resolve(strict_json(jws.payload, "the SD-JWT payload"), ())
    wanted = [tuple(p) for p in disclose]

    def needed(path: ClaimPath) -> bool:
        return any(w[: len(path)] == path or path[: len(w)] == w for w in wanted)

    chosen = [d for d in parsed.disclosures if needed(resolver.used.get(d, ()))]
    body = "~".join([parsed.jwt, *chosen]) + "~"
    if holder is None:
        return body
    if audience is None or nonce is None:
        raise KeyBindingError("a key-bound presentation needs an audience and a nonce")
    issued = int((now or datetime.now(UTC)).timestamp())
    claims = {"iat": issued, "aud": audience, "nonce": nonce, "sd_hash": sd_hash(body)}
    return body + sign_compact({"typ": KB_JWT_TYP}, compact_json(claims), holder, alg=alg)


def verify(
    presentation: str,
    issuer_key: IssuerKeyResolver,
    *,
    audience: str | None,
    nonce: str | None,
    now: datetime | None = None,
    require_key_binding: bool = True,
    allowed_types: Sequence[str] = (SD_JWT_VC_TYP,),
    leeway: timedelta = timedelta(seconds=60),
    max_kb_age: timedelta = timedelta(minutes=5),
) -> SdJwtVerification:
    """Verify an SD-JWT presentation (issuer signature, disclosures, key binding, validity); return the claims."""
    parsed = _split(presentation)
    try:
        jws = CompactJws.parse(parsed.jwt)
    except JoseError as exc:
        raise SdJwtError(f"the issuer-signed JWT is malformed: {exc.message}") from exc
    typ = jws.header.get("typ")
    if typ not in allowed_types:
        raise SdJwtError(f"typ {typ!r} is not one of {', '.join(allowed_types)}")
    payload = strict_json(jws.payload, "the SD-JWT payload")
    try:
        key = issuer_key(jws.header, payload)
    except DidError as exc:
        raise SdJwtError(f"cannot find the issuer's key: {exc.message}") from exc
    jws.verify(key)
    if payload.get("_sd_alg", "sha-256") != "sha-256":
        raise SdJwtError(f"unsupported _sd_alg {payload.get('_sd_alg')!r}; only sha-256")
    resolver = _Resolver(parsed.disclosures, NEVER_DISCLOSABLE if typ in _VC_TYPES else frozenset())
    claims = resolver.resolve({k: v for k, v in payload.items() if k != "_sd_alg"}, ())
    unreferenced = [d for d in parsed.disclosures if d not in resolver.used]
    if unreferenced:
        raise DisclosureError(f"{len(unreferenced)} disclosure(s) are not referenced by any digest")
    moment = now or datetime.now(UTC)
    check_times(claims, moment, leeway, error=SdJwtError, what="the SD-JWT")
    cnf = claims.get("cnf")
    holder_jwk = cnf.get("jwk") if isinstance(cnf, Mapping) else None
    key_bound = False
    if parsed.kb_jwt is not None or require_key_binding:
        body = "~".join([parsed.jwt, *parsed.disclosures]) + "~"
        _check_key_binding(parsed.kb_jwt, holder_jwk, body, audience, nonce, moment, leeway, max_kb_age)
        key_bound = True
    vct = claims.get("vct")
    if typ == SD_JWT_VC_TYP and not isinstance(vct, str):
        raise SdJwtError("an SD-JWT VC needs a vct string")
    return SdJwtVerification(
        claims,
        jws.header,
        dict(holder_jwk) if isinstance(holder_jwk, Mapping) else None,
        tuple(resolver.used[d] for d in parsed.disclosures),
        key_bound,
        vct if isinstance(vct, str) else None,
        claims.get("status"),
        audience if key_bound else None,
    )


def _check_key_binding(
    kb_jwt: str | None,
    holder_jwk: Any,
    body: str,
    audience: str | None,
    nonce: str | None,
    now: datetime,
    leeway: timedelta,
    max_age: timedelta,
) -> None:
    if kb_jwt is None:
        raise KeyBindingError("the presentation has no Key Binding JWT")
    if not isinstance(holder_jwk, Mapping):
        raise KeyBindingError("the SD-JWT has no cnf.jwk to check the Key Binding JWT with")
    try:
        kb = CompactJws.parse(kb_jwt)
        if kb.header.get("typ") != KB_JWT_TYP:
            raise KeyBindingError(f"the Key Binding JWT must have typ {KB_JWT_TYP}")
        kb.verify(PublicKey.from_jwk(dict(holder_jwk)))
    except (JoseError, DidError) as exc:
        raise KeyBindingError(f"the Key Binding JWT does not verify: {exc.message}") from exc
    claims = strict_json(kb.payload, "the Key Binding JWT payload")
    if audience is None or claims.get("aud") != audience:
        raise KeyBindingError("the Key Binding JWT is for another audience")
    if nonce is None or claims.get("nonce") != nonce:
        raise KeyBindingError("the Key Binding JWT carries the wrong nonce")
    iat = claims.get("iat")
    if not is_numeric_date(iat):
        raise KeyBindingError("the Key Binding JWT has no iat that is a finite number of seconds")
    if iat > (now + leeway).timestamp() or iat < (now - max_age - leeway).timestamp():
        raise KeyBindingError("the Key Binding JWT's iat is too old or in the future")
    if claims.get("sd_hash") != sd_hash(body):
        raise KeyBindingError("the Key Binding JWT's sd_hash does not match the presented SD-JWT")
