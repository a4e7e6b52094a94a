"""Multibase (base58btc, base64url) and unsigned-varint multicodec prefixes used by Multikey and did:key."""

from __future__ import annotations

import base64
import binascii
import enum
from typing import Final

import base58

from did.errors import InvalidMultibaseError, UnsupportedPublicKeyTypeError

__all__ = [
    "MAX_BASE58_LENGTH",
    "Multicodec",
    "decode",
    "decode_multicodec",
    "encode_base58btc",
    "encode_multicodec",
    "require_known",
    "varint_decode",
    "varint_encode",
]

_MAX_VARINT_BYTES = 9


class Multicodec(enum.IntEnum):
    """Multicodec codes for the key types this project meets (multiformats table, 'key' tag)."""

    ED25519_PUB = 0xED
    X25519_PUB = 0xEC
    SECP256K1_PUB = 0xE7
    BLS12_381_G1_PUB = 0xEA
    BLS12_381_G2_PUB = 0xEB
    BLS12_381_G1G2_PUB = 0xEE
    P256_PUB = 0x1200
    P384_PUB = 0x1201
    P521_PUB = 0x1202
    RSA_PUB = 0x1205
    ED25519_PRIV = 0x1300
    SECP256K1_PRIV = 0x1301
    P256_PRIV = 0x1306
    P384_PRIV = 0x1307
    P521_PRIV = 0x1308


def varint_encode(value: int) -> bytes:
    """Encode a non-negative integer as a multiformats unsigned varint."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_decode(data: bytes) -> tuple[int, int]:
    """Decode a minimal unsigned varint at the start of data; return (value, bytes consumed)."""
    value = 0
    for i, byte in enumerate(data[:_MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise InvalidMultibaseError("multicodec varint is not minimally encoded")
            return value, i + 1
    raise InvalidMultibaseError("multicodec varint is truncated or too long")


def encode_base58btc(data: bytes) -> str:
    """Multibase-encode bytes as base58btc (prefix 'z')."""
    return "z" + base58.b58encode(data).decode("ascii")


# base58 decoding takes time quadratic in the length (64 KB: about 2 s). Keys, private keys and signatures are at
# most about 180 characters, so anything this long is refused before decoding.
MAX_BASE58_LENGTH: Final = 1024


def decode(value: str) -> bytes:
    """Decode a multibase string in base58btc ('z', at most MAX_BASE58_LENGTH characters) or base64url ('u')."""
    if not isinstance(value, str) or len(value) < 2:
        raise InvalidMultibaseError("multibase value is empty or not a string")
    prefix, body = value[0], value[1:]
    if prefix == "z":
        if len(body) > MAX_BASE58_LENGTH:
            raise InvalidMultibaseError(
                f"base58btc multibase value is longer than {MAX_BASE58_LENGTH} characters (keys and signatures are "
                "far shorter)"
            )
        try:
            return bytes(base58.b58decode(body.encode("ascii")))
        except (ValueError, UnicodeEncodeError) as exc:
            raise InvalidMultibaseError("invalid base58btc character in multibase value") from exc
    if prefix == "u":
        if "=" in body or not body.isascii():
            raise InvalidMultibaseError("base64url multibase value must be unpadded ASCII")
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, binascii.Error) as exc:
            raise InvalidMultibaseError("invalid base64url in multibase value") from exc
    raise InvalidMultibaseError(f"unsupported multibase prefix {prefix!r} (expected 'z' or 'u')")


def encode_multicodec(codec: Multicodec, payload: bytes) -> str:
    """Prefix payload with its multicodec varint and encode it as base58btc multibase."""
    return encode_base58btc(varint_encode(codec) + payload)


def decode_multicodec(value: str) -> tuple[Multicodec | int, bytes]:
    """Decode a multibase value into (multicodec, payload); unknown codes are returned as plain ints."""
    raw = decode(value)
    code, used = varint_decode(raw)
    try:
        return Multicodec(code), raw[used:]
    except ValueError:
        return code, raw[used:]


def require_known(code: Multicodec | int) -> Multicodec:
    """Return code as a Multicodec or raise UnsupportedPublicKeyTypeError."""
    if isinstance(code, Multicodec):
        return code
    raise UnsupportedPublicKeyTypeError(f"unknown multicodec 0x{code:x}")
