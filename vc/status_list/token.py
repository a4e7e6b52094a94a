"""The IETF Token Status List (draft-ietf-oauth-status-list), for SD-JWT VC: the list, a token's reference to
it, and the signed status list token (``statuslist+jwt``) that publishes it.

``lst`` is base64url of the ZLIB-compressed byte array; entry *i* occupies ``bits`` bits at bit offset ``i*bits``
counted from the least significant bit. Errors (beside those of ``vc.status_list.bits``)::

    VcError
    └── StatusListError                 statusListError
        └── StatusListTokenError        invalidStatusListToken (signature, typ, issuer key, sub or exp wrong)
"""

from __future__ import annotations

import urllib.parse
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from did import DidError, PublicKey, Signer, parse_did_url
from foundation.b64 import b64url_decode, b64url_encode
from vc.jose import CompactJws, JoseError, JwtClaimsError, compact_json, is_numeric_date, sign_compact, strict_json
from vc.status_list.bits import (
    MAX_DECOMPRESSED_BYTES,
    MIN_ENTRIES,
    STATUS_SIZES,
    StatusBits,
    StatusListError,
    inflate,
)

__all__ = [
    "INVALID",
    "STATUS_LIST_JWT_TYP",
    "SUSPENDED",
    "VALID",
    "StatusListTokenError",
    "TokenStatus",
    "TokenStatusList",
    "TokenStatusReference",
    "issue_status_list_token",
    "verify_status_list_token",
]

STATUS_LIST_JWT_TYP: Final = "statuslist+jwt"
TokenStatus = Literal[0, 1, 2]
VALID, INVALID, SUSPENDED = 0, 1, 2


class StatusListTokenError(StatusListError):
    """A status list token does not verify: signature, typ, issuer key, subject (its URL) or expiry."""

    code = "invalidStatusListToken"


class TokenStatusList:
    """An IETF Token Status List (entries of ``bits`` bits, least significant bit first, ZLIB-compressed)."""

    def __init__(self, entries: int = MIN_ENTRIES, bits: int = 1, *, minimum: int = MIN_ENTRIES) -> None:
        if entries < minimum:
            raise StatusListError(f"a status list needs at least {minimum} entries so a set bit hides its holder")
        self._bits = StatusBits(bytearray((entries * bits + 7) // 8), bits, msb_first=False)

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
        if type(bits) is not int or bits not in STATUS_SIZES:  # not true (== 1) or 1.0: a JSON integer
            raise StatusListError(f"status_list bits must be the integer 1, 2, 4 or 8, not {bits!r:.20}")
        if not isinstance(lst, str):
            raise StatusListError("status_list lst must be a base64url string")
        try:
            compressed = b64url_decode(lst)
        except ValueError as exc:
            raise StatusListError("status_list lst is not valid base64url") from exc
        result = cls.__new__(cls)
        result._bits = StatusBits(inflate(compressed, gzip_format=False, limit=limit), bits, msb_first=False)
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
        if not isinstance(uri, str) or not (uri.startswith("https://") or _loopback_http(uri)):
            raise StatusListError("status_list uri must be an https URL (plain http only on a loopback host)")
        return cls(idx, uri)

    def to_json(self) -> dict[str, Any]:
        """The ``status`` claim value."""
        return {"status_list": {"idx": self.index, "uri": self.uri}}


def _loopback_http(uri: str) -> bool:
    """Whether a URI is plain http to a loopback host (a development issuer; fetching it stays the caller's policy)."""
    parts = urllib.parse.urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")


def issue_status_list_token(
    status_list: TokenStatusList,
    uri: str,
    signer: Signer,
    *,
    issuer: str | None = None,
    ttl: timedelta | None = timedelta(hours=1),
    now: datetime | None = None,
    alg: str | None = None,
) -> str:
    """Sign a status list token (``statuslist+jwt``) published at ``uri`` (``alg`` as for ``vc.jose.sign_compact``)."""
    issued = int((now or datetime.now(UTC)).timestamp())
    claims: dict[str, Any] = {"sub": uri, "iat": issued, "status_list": status_list.to_json()}
    if issuer is not None:
        claims["iss"] = issuer
    if ttl is not None:
        claims["exp"] = issued + int(ttl.total_seconds())
        claims["ttl"] = int(ttl.total_seconds())
    return sign_compact({"typ": STATUS_LIST_JWT_TYP}, compact_json(claims), signer, alg=alg)


def verify_status_list_token(
    token: str, keys: Callable[[str], PublicKey], uri: str, issuer: str, now: datetime
) -> TokenStatusList:
    """Verify a status list token for ``uri`` signed by a key of ``issuer``; return the list.

    Raises StatusListTokenError when the token does not verify, StatusListError when its list is malformed.
    """
    try:
        jws = CompactJws.parse(token)
        if jws.header.get("typ") != STATUS_LIST_JWT_TYP:
            raise JwtClaimsError(f"the status list token must have typ {STATUS_LIST_JWT_TYP}")
        kid = jws.header.get("kid")
        if not isinstance(kid, str) or str(parse_did_url(kid).did) != issuer:
            raise JwtClaimsError(f"the status list token is not signed by a key of {issuer}")
        jws.verify(keys(kid))
        claims = strict_json(jws.payload, "the status list token")
    except (JoseError, DidError) as exc:
        raise StatusListTokenError(f"the status list token {uri} does not verify: {exc.message}") from exc
    if claims.get("sub") != uri:
        raise StatusListTokenError(f"the status list token is for {claims.get('sub')!r}, not {uri}")
    expires = claims.get("exp")
    if expires is not None:
        if not is_numeric_date(expires):
            raise StatusListTokenError(f"the status list token {uri} has an exp that is not a finite number")
        if now.timestamp() > expires:
            raise StatusListTokenError(f"the status list token {uri} has expired")
    return TokenStatusList.from_json(claims.get("status_list"))
