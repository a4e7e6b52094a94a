"""Credential status: the W3C Bitstring Status List and the IETF Token Status List (for SD-JWT VC).

Both are compressed arrays of small status values that an issuer publishes and a verifier fetches; a set bit is
only meaningful together with the list, and lists have a minimum size (131,072 entries by default) so that a
changed bit does not point at one holder.

- Bitstring Status List (W3C VC, ``BitstringStatusListEntry``): ``encodedList`` is multibase base64url (``u``) of
  the GZIP-compressed bitstring; entry *i* occupies ``statusSize`` bits starting at bit ``i*statusSize``, the most
  significant bit of byte 0 being bit 0.
- Token Status List (``status.status_list`` with ``idx``/``uri``): ``lst`` is base64url of the ZLIB-compressed
  byte array; entry *i* occupies ``bits`` bits at bit offset ``i*bits`` counted from the least significant bit.

Errors::

    VcError
    └── StatusListError            statusListError     (malformed list, entry or credential)
        ├── StatusRangeError       statusRangeError    (index outside the list)
        └── StatusListTooLargeError statusListTooLarge (decompressed size over the limit)
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from foundation.b64 import b64url_decode, b64url_encode
from vc.errors import VcError
from vc.model import CREDENTIALS_V2

__all__ = [
    "CREDENTIALS_V2",
    "INVALID",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_INDEX_DIGITS",
    "MIN_ENTRIES",
    "PURPOSES",
    "SUSPENDED",
    "VALID",
    "BitstringStatusEntry",
    "BitstringStatusList",
    "StatusListCache",
    "StatusListError",
    "StatusListTooLargeError",
    "StatusRangeError",
    "TokenStatus",
    "TokenStatusList",
    "TokenStatusReference",
    "check_bitstring_status",
]

MIN_ENTRIES: Final = 131_072
MAX_DECOMPRESSED_BYTES: Final = 16 * 1024 * 1024
MAX_INDEX_DIGITS: Final = 15
"""Most digits in a ``statusListIndex`` (a 16 MiB list of 1-bit entries ends below index 2**27, 9 digits)."""
_STATUS_SIZES: Final = (1, 2, 4, 8)
_INDEX: Final = re.compile(f"0|[1-9][0-9]{{0,{MAX_INDEX_DIGITS - 1}}}")  # [0-9] is ASCII only, unlike \\d
PURPOSES: Final = ("revocation", "suspension", "refresh", "message")
TokenStatus = Literal[0, 1, 2]
VALID, INVALID, SUSPENDED = 0, 1, 2


class StatusListError(VcError):
    """A status list, status entry or status list credential is malformed."""

    code = "statusListError"


class StatusRangeError(StatusListError):
    """The status index is outside the list."""

    code = "statusRangeError"


class StatusListTooLargeError(StatusListError):
    """The compressed list expands beyond the allowed size (a decompression bomb guard)."""

    code = "statusListTooLarge"


class _Bits:
    """A mutable array of ``size``-bit values over a bytearray, in either bit order."""

    def __init__(self, data: bytearray, size: int, msb_first: bool) -> None:
        if size not in (1, 2, 4, 8):
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
        byte, shift = self._locate(index)
        return (self.data[byte] >> shift) & ((1 << self.size) - 1)

    def set(self, index: int, value: int) -> None:
        if not 0 <= value < 1 << self.size:
            raise StatusListError(f"status value {value} does not fit in {self.size} bits")
        byte, shift = self._locate(index)
        mask = ((1 << self.size) - 1) << shift
        self.data[byte] = (self.data[byte] & ~mask) | (value << shift)


def _inflate(data: bytes, gzip_format: bool, limit: int) -> bytearray:
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


# -- W3C Bitstring Status List ----------------------------------------------------------------------------------


class BitstringStatusList:
    """A W3C Bitstring Status List (entries of ``status_size`` bits, most significant bit first)."""

    def __init__(self, entries: int = MIN_ENTRIES, status_size: int = 1, *, minimum: int = MIN_ENTRIES) -> None:
        if entries < minimum:
            raise StatusListError(f"a status list needs at least {minimum} entries so a set bit hides its holder")
        size_bits = entries * status_size
        self._bits = _Bits(bytearray((size_bits + 7) // 8), status_size, msb_first=True)

    @property
    def status_size(self) -> int:
        """Bits per entry."""
        return self._bits.size

    def __len__(self) -> int:
        return len(self._bits)

    def get(self, index: int) -> int:
        """The status value at an index."""
        return self._bits.get(index)

    def set(self, index: int, value: int = 1) -> None:
        """Set the status value at an index (1 = revoked/suspended for 1-bit lists)."""
        self._bits.set(index, value)

    def clear(self, index: int) -> None:
        """Reset the status at an index to 0."""
        self._bits.set(index, 0)

    def encode(self) -> str:
        """The ``encodedList`` value: multibase base64url of the GZIP-compressed bitstring."""
        compressed = gzip.compress(bytes(self._bits.data), compresslevel=9, mtime=0)
        return "u" + b64url_encode(compressed)

    @classmethod
    def decode(
        cls, encoded: str, status_size: int = 1, *, minimum: int = MIN_ENTRIES, limit: int = MAX_DECOMPRESSED_BYTES
    ) -> BitstringStatusList:
        """Parse an ``encodedList`` value (accepts padded base64url as some issuers emit it)."""
        if not isinstance(encoded, str) or not encoded.startswith("u"):
            raise StatusListError("encodedList must be multibase base64url (start with 'u')")
        _check_status_size(status_size)
        body = encoded[1:].rstrip("=")
        try:
            compressed = b64url_decode(body)
        except ValueError as exc:
            raise StatusListError("encodedList is not valid base64url") from exc
        data = _inflate(compressed, gzip_format=True, limit=limit)
        result = cls.__new__(cls)
        result._bits = _Bits(data, status_size, msb_first=True)
        if len(result) < minimum:
            raise StatusListError(
                f"the status list has {len(result)} entries of statusSize {status_size}; "
                f"at least {minimum} are required"
            )
        return result

    def credential(
        self, list_id: str, issuer: str, purpose: str, valid_from: str, *, valid_until: str | None = None
    ) -> dict[str, Any]:
        """An unsecured ``BitstringStatusListCredential`` publishing this list (secure it like any credential).

        The list carries no ``statusSize``: the VC 2.0 context defines it only on ``BitstringStatusListEntry``, so
        each entry that points here says how many bits it uses (an RDFC proof would refuse the undefined term).
        """
        if purpose not in PURPOSES:
            raise StatusListError(f"status purpose must be one of {', '.join(PURPOSES)}")
        subject: dict[str, Any] = {
            "id": f"{list_id}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": self.encode(),
        }
        credential: dict[str, Any] = {
            "@context": [CREDENTIALS_V2],
            "id": list_id,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": issuer,
            "validFrom": valid_from,
            "credentialSubject": subject,
        }
        if valid_until is not None:
            credential["validUntil"] = valid_until
        return credential


@dataclass(frozen=True)
class BitstringStatusEntry:
    """A ``BitstringStatusListEntry`` from a credential's ``credentialStatus``."""

    purpose: str
    index: int
    list_credential: str
    status_size: int = 1

    @classmethod
    def parse(cls, entry: Any) -> BitstringStatusEntry:
        """Validate a credentialStatus entry (statusListIndex is a decimal string)."""
        if not isinstance(entry, Mapping) or entry.get("type") != "BitstringStatusListEntry":
            raise StatusListError("credentialStatus entry is not a BitstringStatusListEntry")
        purpose, index, url = (
            entry.get("statusPurpose"),
            entry.get("statusListIndex"),
            entry.get("statusListCredential"),
        )
        if purpose not in PURPOSES:
            raise StatusListError(f"statusPurpose must be one of {', '.join(PURPOSES)}")
        if not isinstance(index, str) or _INDEX.fullmatch(index) is None:
            raise StatusListError(
                f"statusListIndex must be a decimal string (ASCII digits) without leading zeros, "
                f"at most {MAX_INDEX_DIGITS} digits"
            )
        if not isinstance(url, str) or not url:
            raise StatusListError("statusListCredential must be a URL")
        size = entry.get("statusSize", 1)
        _check_status_size(size)
        return cls(str(purpose), int(index), url, size)


def _check_status_size(size: Any) -> None:
    """statusSize is a JSON integer (not a string, boolean or float) of a supported width."""
    if type(size) is not int or size not in _STATUS_SIZES:
        raise StatusListError(f"statusSize must be the integer 1, 2, 4 or 8, not {size!r:.20}")


class StatusListCache:
    """Decompressed status lists by their encoded form (decompression dominates a status check)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._lists: OrderedDict[tuple[str, int], BitstringStatusList] = OrderedDict()

    def get(self, encoded: str, status_size: int = 1) -> BitstringStatusList:
        """The decoded list, from cache when seen before."""
        key = (encoded, status_size)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = BitstringStatusList.decode(encoded, status_size)
            while len(self._lists) > self._size:
                self._lists.popitem(last=False)
        self._lists.move_to_end(key)
        return found


def check_bitstring_status(
    entry: BitstringStatusEntry, list_credential: Mapping[str, Any], cache: StatusListCache | None = None
) -> int:
    """The status value of an entry in a (verified) status list credential; purposes must agree.

    The list is read with the entry's ``statusSize``; a list that states its own ``statusSize`` (allowed in
    JCS- or JWT-secured lists, whose JSON is not limited to context terms) must state the same.
    """
    if not isinstance(list_credential, Mapping):
        raise StatusListError("the status list credential must be a JSON object")
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, Mapping) or subject.get("type") != "BitstringStatusList":
        raise StatusListError("the status list credential has no BitstringStatusList subject")
    if list_credential.get("id") != entry.list_credential:
        raise StatusListError("the status list credential is not the one the entry names")
    if subject.get("statusPurpose") != entry.purpose:
        raise StatusListError(
            f"the status list is for {subject.get('statusPurpose')!r}, the entry for {entry.purpose!r}"
        )
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise StatusListError("the status list credential lacks encodedList")
    if "statusSize" in subject:
        _check_status_size(subject["statusSize"])
        if subject["statusSize"] != entry.status_size:
            raise StatusListError(f"the entry has statusSize {entry.status_size}, the list {subject['statusSize']}")
    status_list = (cache or StatusListCache(1)).get(encoded, entry.status_size)
    return status_list.get(entry.index)


# -- IETF Token Status List -------------------------------------------------------------------------------------


class TokenStatusList:
    """An IETF Token Status List (entries of ``bits`` bits, least significant bit first, ZLIB-compressed)."""

    def __init__(self, entries: int = MIN_ENTRIES, bits: int = 1, *, minimum: int = MIN_ENTRIES) -> None:
        if entries < minimum:
            raise StatusListError(f"a status list needs at least {minimum} entries so a set bit hides its holder")
        self._bits = _Bits(bytearray((entries * bits + 7) // 8), bits, msb_first=False)

    @property
    def bits(self) -> int:
        """Bits per entry (1, 2, 4 or 8)."""
        return self._bits.size

    def __len__(self) -> int:
        return len(self._bits)

    def get(self, index: int) -> int:
        """The status at an index (0 VALID, 1 INVALID, 2 SUSPENDED, ...)."""
        return self._bits.get(index)

    def set(self, index: int, value: int) -> None:
        """Set the status at an index."""
        self._bits.set(index, value)

    def to_json(self) -> dict[str, Any]:
        """The ``status_list`` claim: ``{"bits": n, "lst": base64url(ZLIB(bytes))}``."""
        return {"bits": self.bits, "lst": b64url_encode(zlib.compress(bytes(self._bits.data), 9))}

    @classmethod
    def from_json(
        cls, value: Any, *, minimum: int = MIN_ENTRIES, limit: int = MAX_DECOMPRESSED_BYTES
    ) -> TokenStatusList:
        """Parse a ``status_list`` claim."""
        if not isinstance(value, Mapping):
            raise StatusListError("status_list must be a JSON object with bits and lst")
        bits, lst = value.get("bits"), value.get("lst")
        if type(bits) is not int or bits not in _STATUS_SIZES:  # not true (== 1) or 1.0: a JSON integer
            raise StatusListError(f"status_list bits must be the integer 1, 2, 4 or 8, not {bits!r:.20}")
        if not isinstance(lst, str):
            raise StatusListError("status_list lst must be a base64url string")
        try:
            compressed = b64url_decode(lst)
        except ValueError as exc:
            raise StatusListError("status_list lst is not valid base64url") from exc
        result = cls.__new__(cls)
        result._bits = _Bits(_inflate(compressed, gzip_format=False, limit=limit), bits, msb_first=False)
        if len(result) < minimum:
            raise StatusListError(f"the status list has {len(result)} entries; at least {minimum} are required")
        return result


@dataclass(frozen=True)
class TokenStatusReference:
    """The ``status.status_list`` member of a referenced token: index and list URI."""

    index: int
    uri: str

    @classmethod
    def parse(cls, status: Any) -> TokenStatusReference:
        """Validate a token's ``status`` claim."""
        reference = status.get("status_list") if isinstance(status, Mapping) else None
        if not isinstance(reference, Mapping):
            raise StatusListError("status claim lacks status_list")
        idx, uri = reference.get("idx"), reference.get("uri")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise StatusListError("status_list idx must be a non-negative integer")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise StatusListError("status_list uri must be an https URL")
        return cls(idx, uri)

    def to_json(self) -> dict[str, Any]:
        """The ``status`` claim value."""
        return {"status_list": {"idx": self.index, "uri": self.uri}}
