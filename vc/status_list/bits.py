"""What both status list formats share: packed arrays of small status values, their decompression, and errors.

A status list is a compressed array of entries of 1, 2, 4 or 8 bits that an issuer publishes and a verifier
fetches; a set value is only meaningful together with the list, and lists have a minimum size (131,072 entries by
default) so that a changed value does not point at one holder. The W3C Bitstring Status List (``bitstring``)
counts bits from the most significant bit of each byte, the IETF Token Status List (``token``) from the least.
Errors::

    VcError
    └── StatusListError            statusListError     (malformed list, entry or credential)
        ├── StatusRangeError       statusRangeError    (index outside the list)
        └── StatusListTooLargeError statusListTooLarge (decompressed size over the limit)
"""

from __future__ import annotations

import zlib
from typing import Final

from vc.errors import VcError

__all__ = [
    "MAX_DECOMPRESSED_BYTES",
    "MIN_ENTRIES",
    "STATUS_SIZES",
    "StatusBits",
    "StatusListError",
    "StatusListTooLargeError",
    "StatusRangeError",
    "inflate",
]

MIN_ENTRIES: Final = 131_072
MAX_DECOMPRESSED_BYTES: Final = 16 * 1024 * 1024
STATUS_SIZES: Final = (1, 2, 4, 8)


class StatusListError(VcError):
    """A status list, status entry or status list credential is malformed."""

    code = "statusListError"


class StatusRangeError(StatusListError):
    """The status index is outside the list."""

    code = "statusRangeError"


class StatusListTooLargeError(StatusListError):
    """The compressed list expands beyond the allowed size (a decompression bomb guard)."""

    code = "statusListTooLarge"


class StatusBits:
    """A mutable array of ``size``-bit values over a bytearray, in either bit order."""

    def __init__(self, data: bytearray, size: int, msb_first: bool) -> None:
        if size not in STATUS_SIZES:
            raise StatusListError(f"status size must be 1, 2, 4 or 8 bits, not {size}")
        self.data, self.size, self.msb_first = data, size, msb_first

    def __len__(self) -> int:
        return len(self.data) * 8 // self.size

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise StatusRangeError(f"status index {index} is outside the list of {len(self)} entries")
        bit = index * self.size
        byte, offset = divmod(bit, 8)
        shift = 8 - offset - self.size if self.msb_first else offset
        return byte, shift

    def get(self, index: int) -> int:
        """The value at an index."""
        byte, shift = self._locate(index)
        return (self.data[byte] >> shift) & ((1 << self.size) - 1)

    def set(self, index: int, value: int) -> None:
        """Store a value at an index."""
        if not 0 <= value < 1 << self.size:
            raise StatusListError(f"status value {value} does not fit in {self.size} bits")
        byte, shift = self._locate(index)
        mask = ((1 << self.size) - 1) << shift
        self.data[byte] = (self.data[byte] & ~mask) | (value << shift)


def inflate(data: bytes, gzip_format: bool, limit: int) -> bytearray:
    """Decompress GZIP or ZLIB data of at most ``limit`` bytes; raise StatusListError/StatusListTooLargeError."""
    decompressor = zlib.decompressobj(wbits=31 if gzip_format else 15)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise StatusListError(f"the status list is not valid {'GZIP' if gzip_format else 'ZLIB'} data") from exc
    if len(out) > limit or decompressor.unconsumed_tail:
        raise StatusListTooLargeError(f"the status list expands beyond {limit} bytes")
    if not decompressor.eof:
        raise StatusListError("the compressed status list is truncated")
    return bytearray(out)
