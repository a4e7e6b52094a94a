"""Revocation through a certified platform operator (プラットフォーム事業者) over a small JSON API.

Platform operator API (``PlatformOperatorProvider``; the reference server is in tests/jpki/test_revocation.py)::

    POST {base_url}/v1/jpki/certificate-status        Content-Type: application/json
         [Authorization: Bearer <api key>]
    {"serial_number": "<lower-case hex>", "issuer_name_hash": "<hex SHA-256 of the issuer DN DER>",
     "issuer_key_hash": "<hex SHA-256 of the issuer subjectPublicKey bits>", "nonce": "<base64url, 16+ bytes>",
     "at": "<RFC 3339 validation time>"}

    200  Content-Type: application/jwt — a compact JWS, header {"alg": "EdDSA" | "ES256", "typ": "jpki-status+jwt"},
         signed with the operator's response key (configured out of band), payload:
    {"serial_number", "issuer_name_hash", "issuer_key_hash", "nonce"   (echoed),
     "status": "good" | "revoked" | "unknown", "this_update": <unix s>, "next_update": <unix s>,
     "revocation_time": <unix s, when revoked>, "revocation_reason": "<RFC 5280 reason name, optional>"}
    4xx/5xx  {"error": "<code>", "error_description": "<text>"}

Only the serial and issuer hashes leave the relying party, never the certificate (it carries the basic 4 info).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from foundation.b64 import b64url_encode
from foundation.http import Fetched
from foundation.jws import encode_compact, parse_compact
from foundation.strict_json import compact_json, strict_json
from jpki_bridge.revocation.common import (
    DEFAULT_SKEW,
    MAX_RESPONSE_BYTES,
    Clock,
    RevocationMode,
    RevocationOutcome,
    aware_utc,
    check_dates,
    fetch_answer,
    issuer_hashes,
    raise_if_revoked,
    utc_now,
)
from jpki_bridge.revocation.errors import (
    NonceMismatchError,
    PlatformSignatureError,
    RevocationResponseError,
    RevocationStatusUnknownError,
    RevocationUnavailableError,
    StalePlatformResponseError,
)

__all__ = [
    "PLATFORM_JWS_TYPE",
    "PLATFORM_STATUS_PATH",
    "PlatformKey",
    "PlatformOperatorProvider",
    "PlatformSigningKey",
    "decode_platform_response",
    "encode_platform_response",
]

PLATFORM_STATUS_PATH = "/v1/jpki/certificate-status"
PLATFORM_JWS_TYPE = "jpki-status+jwt"

PlatformKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PlatformSigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _jws_alg(key: PlatformKey | PlatformSigningKey) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise TypeError("the platform response key must be Ed25519 or ECDSA P-256")


def encode_platform_response(payload: Mapping[str, object], key: PlatformSigningKey) -> str:
    """Sign a platform-operator status payload as a compact JWS (the operator side of the API above)."""

    def sign(signing_input: bytes) -> bytes:
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(signing_input)
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    header = {"alg": _jws_alg(key), "typ": PLATFORM_JWS_TYPE}
    body = compact_json(dict(payload), error=RevocationResponseError)
    return encode_compact(header, body, sign, error=RevocationResponseError)


def decode_platform_response(token: str, key: PlatformKey) -> dict[str, object]:
    """Verify a compact-JWS platform response under the operator's key and return its payload."""
    what = "the platform response"
    parts = parse_compact(token.strip(), what=what, max_size=MAX_RESPONSE_BYTES, error=RevocationResponseError)
    header = parts.header
    if header.get("typ") != PLATFORM_JWS_TYPE:
        raise RevocationResponseError(f"the platform response typ must be {PLATFORM_JWS_TYPE}")
    if header.get("alg") != _jws_alg(key) or set(header) - {"alg", "typ", "kid"}:
        raise PlatformSignatureError("the platform response uses an algorithm other than the configured key's")
    signature = parts.signature
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, parts.signing_input)
        else:
            if len(signature) != 64:
                raise InvalidSignature("wrong ES256 signature length")
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, parts.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PlatformSignatureError(
            "the platform response signature does not verify under the operator's key"
        ) from None
    return strict_json(parts.payload, f"{what} payload", error=RevocationResponseError)


_END_OF_YEAR_9999 = 253_402_300_800  # the first second datetime cannot hold


def _optional_timestamp(payload: Mapping[str, object], name: str) -> dt.datetime | None:
    return None if payload.get(name) is None else _timestamp(payload, name)


def _timestamp(payload: Mapping[str, object], name: str) -> dt.datetime:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _END_OF_YEAR_9999:
        raise RevocationResponseError(f"the platform response field {name} must be a unix time in seconds")
    return dt.datetime.fromtimestamp(value, dt.UTC)


class PlatformOperatorProvider:
    """Asks a certified platform operator (プラットフォーム事業者) over the JSON API in this module's docstring."""

    def __init__(
        self,
        base_url: str,
        response_key: PlatformKey,
        *,
        api_key: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Clock = utc_now,
        clock_skew: dt.timedelta = DEFAULT_SKEW,
        nonce_source: Callable[[], bytes] = lambda: secrets.token_bytes(16),
    ) -> None:
        _jws_alg(response_key)
        self.base_url = base_url.rstrip("/")
        self.response_key = response_key
        self._api_key = api_key
        self.client = client
        self.timeout = timeout
        self.clock = clock
        self.clock_skew = clock_skew
        self.nonce_source = nonce_source

    @property
    def mode(self) -> RevocationMode:
        """Always ``platform``."""
        return "platform"

    def __repr__(self) -> str:
        return f"PlatformOperatorProvider({self.base_url!r}, api_key={'set' if self._api_key else 'unset'})"

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Ask the operator about the certificate's serial and root, then verify the signed answer."""
        at = aware_utc(at)
        name_hash, key_hash = issuer_hashes(issuer, hashes.SHA256())
        nonce = b64url_encode(self.nonce_source())
        request = {
            "serial_number": format(cert.serial_number, "x"),
            "issuer_name_hash": name_hash.hex(),
            "issuer_key_hash": key_hash.hex(),
            "nonce": nonce,
            "at": at.isoformat(),
        }
        headers = {"Content-Type": "application/json", "Accept": "application/jwt"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = self.base_url + PLATFORM_STATUS_PATH
        response = fetch_answer(
            self.client,
            self.timeout,
            "POST",
            url,
            MAX_RESPONSE_BYTES,
            content=compact_json(request, error=RevocationResponseError),
            headers=headers,
        )
        if response.status_code != 200:
            raise RevocationUnavailableError(
                f"the platform operator {url} answered HTTP {response.status_code}{_error_code(response)}"
            )
        try:
            token = response.content.decode("ascii")
        except UnicodeDecodeError:
            raise RevocationResponseError("the platform response is not an ASCII compact JWS") from None
        payload = decode_platform_response(token, self.response_key)
        for field_name in ("serial_number", "issuer_name_hash", "issuer_key_hash"):
            if payload.get(field_name) != request[field_name]:
                raise RevocationResponseError(
                    f"the platform response is about another certificate ({field_name} differs)"
                )
        echoed = payload.get("nonce")
        if not isinstance(echoed, str) or not secrets.compare_digest(echoed, nonce):
            raise NonceMismatchError("the platform response answers a different request (nonce mismatch)")
        this_update = _timestamp(payload, "this_update")
        next_update = _optional_timestamp(payload, "next_update")
        check_dates(
            this_update,
            next_update,
            at,
            self.clock(),
            self.clock_skew,
            None,
            StalePlatformResponseError,
            "platform response",
        )
        status = payload.get("status")
        if status == "unknown":
            raise RevocationStatusUnknownError("the platform operator does not know the certificate")
        if status == "revoked":
            revocation_time = _timestamp(payload, "revocation_time")
            reason = _reason(payload.get("revocation_reason"))
            raise_if_revoked(at, revocation_time, reason, "the platform operator")
        elif status != "good":
            raise RevocationResponseError("the platform response status must be good, revoked or unknown")
        return RevocationOutcome("platform", True, url, at, this_update, next_update)


def _reason(value: object) -> x509.ReasonFlags | None:
    if value is None:
        return None
    try:
        return x509.ReasonFlags(value)
    except ValueError:
        raise RevocationResponseError("the platform response has an unknown revocation_reason") from None


def _error_code(response: Fetched) -> str:
    try:
        code = strict_json(response.content, "the platform error", error=RevocationResponseError).get("error")
    except RevocationResponseError:
        return ""
    if isinstance(code, str) and code.isascii() and code.replace("_", "").isalnum() and len(code) <= 64:
        return f" ({code})"
    return ""
