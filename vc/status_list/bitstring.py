"""The W3C Bitstring Status List (VC ``BitstringStatusListEntry``): the list, its entries, and checking one.

``encodedList`` is multibase base64url (``u``) of the GZIP-compressed bitstring; entry *i* occupies ``statusSize``
bits starting at bit ``i*statusSize``, the most significant bit of byte 0 being bit 0. Errors are those of
``vc.status_list.bits`` (``StatusListError`` and its subclasses).
"""

from __future__ import annotations

import gzip
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from foundation.b64 import b64url_decode, b64url_encode
from vc.model import CREDENTIALS_V2
from vc.status_list.bits import (
    MAX_DECOMPRESSED_BYTES,
    MIN_ENTRIES,
    STATUS_SIZES,
    StatusBits,
    StatusListError,
    inflate,
)

__all__ = [
    "CREDENTIALS_V2",
    "MAX_INDEX_DIGITS",
    "PURPOSES",
    "BitstringStatusEntry",
    "BitstringStatusList",
    "StatusListCache",
    "check_bitstring_status",
]

MAX_INDEX_DIGITS: Final = 15
"""Most digits in a ``statusListIndex`` (a 16 MiB list of 1-bit entries ends below index 2**27, 9 digits)."""
_INDEX: Final = re.compile(f"0|[1-9][0-9]{{0,{MAX_INDEX_DIGITS - 1}}}")  # [0-9] is ASCII only, unlike \\d
PURPOSES: Final = ("revocation", "suspension", "refresh", "message")


class BitstringStatusList:
    """A W3C Bitstring Status List (entries of ``status_size`` bits, most significant bit first)."""

    def __init__(self, entries: int = MIN_ENTRIES, status_size: int = 1, *, minimum: int = MIN_ENTRIES) -> None:
        if entries < minimum:
            raise StatusListError(f"a status list needs at least {minimum} entries so a set bit hides its holder")
        size_bits = entries * status_size
        self._bits = StatusBits(bytearray((size_bits + 7) // 8), status_size, msb_first=True)

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
        data = inflate(compressed, gzip_format=True, limit=limit)
        result = cls.__new__(cls)
        result._bits = StatusBits(data, status_size, msb_first=True)
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
    if type(size) is not int or size not in STATUS_SIZES:
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
