"""Strict unpadded base64url (RFC 7515 §2), the encoding JOSE and did:jwk use."""

from __future__ import annotations

import base64
import binascii
import re

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


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


def b64url_decode_lenient(value: str) -> bytes:
    """Decode base64url whose alphabet the caller has already checked (padding optional); raise ValueError."""
    try:
        return binascii.a2b_base64(value.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(value) % 4))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not base64url") from exc


def b64url_decode(value: str) -> bytes:
    """Decode unpadded base64url, rejecting padding, other alphabets and non-canonical trailing bits."""
    if not isinstance(value, str) or not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not unpadded base64url") from exc
    if value and value[-1] not in _CANONICAL_LAST[len(value) % 4]:
        raise ValueError("non-canonical base64url (stray trailing bits)")
    return data
