"""The compact JWS serialization (RFC 7515 §7.1), strictly: one parser and one encoder for every JWS xid reads.

What is checked here is what every use shares: exactly three dot-separated parts, each canonical unpadded
base64url, a header that is a strict JSON object (``foundation.strict_json``) with a string ``alg``, no ``crit``
(no extension is understood), and a size limit. Which algorithms and keys are acceptable, ``typ`` and the payload's
meaning are the caller's: ``vc.jose`` verifies with DID keys, ``jpki_bridge`` with a platform operator's key.
Errors::

    XidError
    └── InvalidJwsError         invalidJwsSerialization   (the default; callers pass their package's error type)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from foundation.b64 import b64url_bytes, b64url_decode
from foundation.errors import XidError
from foundation.strict_json import compact_json, strict_json

__all__ = [
    "MAX_TOKEN_SIZE",
    "InvalidJwsError",
    "JwsParts",
    "encode_compact",
    "parse_compact",
]

MAX_TOKEN_SIZE: Final = 256 * 1024
"""The largest compact JWS ``parse_compact`` reads by default, in characters."""


class InvalidJwsError(XidError):
    """A compact JWS is malformed."""

    code = "invalidJwsSerialization"


@dataclass(frozen=True)
class JwsParts:
    """A parsed, not yet verified, compact JWS."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def parse_compact(
    token: object, *, what: str = "the JWS", max_size: int = MAX_TOKEN_SIZE, error: type[XidError] = InvalidJwsError
) -> JwsParts:
    """Split and decode a compact JWS strictly (see the module docstring), raising ``error``."""
    if not isinstance(token, str):
        raise error(f"{what} must be a string")
    if len(token) > max_size:
        raise error(f"{what} is larger than {max_size} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise error(f"{what} is not a compact JWS (exactly three dot-separated parts)")
    try:
        header_raw, payload, signature = (b64url_decode(p) for p in parts)
    except ValueError as exc:
        raise error(f"a part of {what} is not unpadded base64url") from exc
    header = strict_json(header_raw, f"{what} header", error=error)
    if not isinstance(header.get("alg"), str):
        raise error(f"{what} header has no alg")
    if "crit" in header:
        raise error(f"critical header parameters {header['crit']!r} in {what} are not understood")
    return JwsParts(header, payload, (parts[0] + "." + parts[1]).encode("ascii"), signature)


def encode_compact(
    header: Mapping[str, Any],
    payload: bytes,
    sign: Callable[[bytes], bytes],
    *,
    error: type[XidError] = InvalidJwsError,
) -> str:
    """Create a compact JWS: ``sign`` gets the signing input and returns the JWS signature bytes."""
    signing_input = _encoded_header(compact_json(dict(header), error=error)) + b"." + b64url_bytes(payload)
    return (signing_input + b"." + b64url_bytes(sign(signing_input))).decode("ascii")


@lru_cache(maxsize=64)
def _encoded_header(header: bytes) -> bytes:
    """Headers repeat (one per signer and type): encode each once."""
    return b64url_bytes(header)
