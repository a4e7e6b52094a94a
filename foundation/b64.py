"""Strict unpadded base64url (RFC 7515 §2), the encoding JOSE and did:jwk use."""

from __future__ import annotations

import binascii

__all__ = [
    "b64url_bytes",
    "b64url_decode",
    "b64url_encode",
]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The characters a canonical encoding may end with: every one when the length is a multiple of 4, else only those
# whose unused low bits are zero (4 of them are unused after 2 characters, 2 after 3).
_CANONICAL_LAST = {0: frozenset(_ALPHABET), 2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode("ascii")


def b64url_bytes(data: bytes) -> bytes:
    """Encode bytes as unpadded base64url, as ASCII bytes (for building signing inputs)."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE)


def b64url_decode(value: str) -> bytes:
    """Decode unpadded base64url, rejecting padding, other alphabets and non-canonical trailing bits."""
    # "+", "/" and "=" would pass the standard alphabet after translation; strict mode refuses everything else.
    if not isinstance(value, str) or len(value) % 4 == 1 or "+" in value or "/" in value or "=" in value:
        raise ValueError("not unpadded base64url")
    try:
        raw = value.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(value) % 4)
        data = binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not unpadded base64url") from exc
    if value and value[-1] not in _CANONICAL_LAST[len(value) % 4]:
        raise ValueError("non-canonical base64url (stray trailing bits)")
    return data
