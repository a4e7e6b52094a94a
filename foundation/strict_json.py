"""Strict JSON for untrusted input, and compact JSON for what xid signs.

``strict_json`` refuses what the standard library lets through: duplicate members (last-one-wins would let two
readers see different values), ``NaN``/``Infinity``, numbers that overflow to infinity, integers longer than Python
reads, invalid UTF-8, and nesting deeper than ``MAX_JSON_DEPTH``, which is checked *before* the recursive decoder
runs (catching ``RecursionError`` is not enough: py_ecc, imported by web3, raises the recursion limit to 100,000,
and the C decoder then overflows the C stack and the process dies). Errors::

    XidError
    └── InvalidJsonError        invalidJson     (the default; callers pass their package's error type)
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any, Final

import orjson

from foundation.errors import XidError

__all__ = [
    "MAX_JSON_DEPTH",
    "InvalidJsonError",
    "compact_json",
    "strict_json",
    "strict_json_value",
]

MAX_JSON_DEPTH: Final = 128
"""How deeply ``strict_json`` lets arrays and objects nest (the outermost object is level 1)."""


class InvalidJsonError(XidError):
    """A JSON text is malformed, ambiguous (duplicate members) or beyond the limits."""

    code = "invalidJson"


class _RefusedError(ValueError):
    """Raised inside the decoder hooks; turned into the caller's error type."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RefusedError(f"duplicate JSON member {key!r}")
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise _RefusedError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _RefusedError(f"the number {text[:24]!r} is out of range (it would be infinite)")
    return value


_JSON_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than MAX_JSON_DEPTH (few brackets cannot: two ``count`` calls)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH


_DECODE: Final = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite_float
).decode


def strict_json(data: bytes | str, what: str, *, error: type[XidError] = InvalidJsonError) -> dict[str, Any]:
    """Parse a JSON object strictly (see the module docstring), raising ``error`` naming ``what``."""
    value = strict_json_value(data, what, error=error)
    if not isinstance(value, dict):
        raise error(f"{what} must be a JSON object")
    return value


def strict_json_value(data: bytes | str, what: str, *, error: type[XidError] = InvalidJsonError) -> Any:
    """Parse any JSON value strictly (see the module docstring), raising ``error`` naming ``what``."""
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        if _too_deep(text):
            raise error(f"{what} is JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
        return _DECODE(text)
    except RecursionError as exc:  # a backstop: the depth check above keeps the decoder far from the limit
        raise error(f"{what} is JSON nested too deeply") from exc
    except _RefusedError as exc:
        raise error(f"{what}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg}") from exc
    except ValueError as exc:  # invalid UTF-8, or an integer longer than sys.get_int_max_str_digits() (4300)
        raise error(f"{what} is not valid JSON (invalid UTF-8, or a number too long to read)") from exc


_STDLIB_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def compact_json(value: Any, *, error: type[XidError] = InvalidJsonError) -> bytes:
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
            raise error(f"the value cannot be written as JSON: {exc}") from exc
    return encoded
