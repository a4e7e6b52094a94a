"""Credential status: the W3C Bitstring Status List (``bitstring``) and the IETF Token Status List (``token``, for
SD-JWT VC), on the packed status arrays and errors both share (``bits``).

Every public name of the three modules is importable from ``vc.status_list`` too. Errors::

    VcError
    └── StatusListError                 statusListError     (malformed list, entry or credential)
        ├── StatusRangeError            statusRangeError    (index outside the list)
        ├── StatusListTooLargeError     statusListTooLarge  (decompressed size over the limit)
        └── StatusListTokenError        invalidStatusListToken (a status list token does not verify)
"""

from vc.status_list.bits import (
    MAX_DECOMPRESSED_BYTES,
    MIN_ENTRIES,
    STATUS_SIZES,
    StatusBits,
    StatusListError,
    StatusListTooLargeError,
    StatusRangeError,
    inflate,
)
from vc.status_list.bitstring import (
    CREDENTIALS_V2,
    MAX_INDEX_DIGITS,
    PURPOSES,
    BitstringStatusEntry,
    BitstringStatusList,
    StatusListCache,
    check_bitstring_status,
)
from vc.status_list.token import (
    INVALID,
    STATUS_LIST_JWT_TYP,
    SUSPENDED,
    VALID,
    StatusListTokenError,
    TokenStatus,
    TokenStatusList,
    TokenStatusReference,
    issue_status_list_token,
    verify_status_list_token,
)

__all__ = [
    "CREDENTIALS_V2",
    "INVALID",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_INDEX_DIGITS",
    "MIN_ENTRIES",
    "PURPOSES",
    "STATUS_LIST_JWT_TYP",
    "STATUS_SIZES",
    "SUSPENDED",
    "VALID",
    "BitstringStatusEntry",
    "BitstringStatusList",
    "StatusBits",
    "StatusListCache",
    "StatusListError",
    "StatusListTokenError",
    "StatusListTooLargeError",
    "StatusRangeError",
    "TokenStatus",
    "TokenStatusList",
    "TokenStatusReference",
    "check_bitstring_status",
    "inflate",
    "issue_status_list_token",
    "verify_status_list_token",
]
