"""Minimal BER-TLV (ISO 7816-4 / X.690 tags and lengths) for the input-assist application's files."""

from __future__ import annotations

from jpki_bridge.apdu import CardError

__all__ = [
    "TlvError",
    "decode",
    "encode",
    "encode_length",
    "encode_tag",
]


class TlvError(CardError):
    """A TLV structure read from the card is malformed."""

    code = "invalidTlv"


def encode_tag(tag_class: int, constructed: bool, number: int) -> bytes:
    """Encode a tag (class 0-3, number < 128)."""
    first = (tag_class << 6) | (0x20 if constructed else 0)
    if number < 31:
        return bytes([first | number])
    if number >= 128:
        raise ValueError("tag numbers of 128 and above are not needed here")
    return bytes([first | 0x1F, number])


def encode_length(length: int) -> bytes:
    """BER definite length."""
    if length < 0x80:
        return bytes([length])
    if length < 0x100:
        return bytes([0x81, length])
    if length < 0x10000:
        return b"\x82" + length.to_bytes(2, "big")
    raise ValueError("TLV value too long")


def encode(tag: bytes, value: bytes) -> bytes:
    """One TLV."""
    return tag + encode_length(len(value)) + value


def decode(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a sequence of TLVs into (tag bytes, value) pairs, strictly (definite lengths, no trailing garbage)."""
    out: list[tuple[bytes, bytes]] = []
    i = 0
    while i < len(data):
        start = i
        if data[i] & 0x1F == 0x1F:
            i += 1
            if i >= len(data) or data[i] & 0x80:
                raise TlvError("TLV tag is truncated or longer than supported")
        i += 1
        tag = data[start:i]
        if i >= len(data):
            raise TlvError("TLV length is missing")
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):
            size = first & 0x7F
            if i + size > len(data):
                raise TlvError("TLV length is truncated")
            length = int.from_bytes(data[i : i + size], "big")
            i += size
        else:
            raise TlvError("TLV length form is not supported")
        if i + length > len(data):
            raise TlvError("TLV value is truncated")
        out.append((tag, data[i : i + length]))
        i += length
    return out
