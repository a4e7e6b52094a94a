"""Receiving My Numbers: a business's receiver for the wallet's handover (library and two routes).

A business with a legal basis to collect the My Number (個人番号) publishes an ECDH-ES public key at
``GET /mynumber/key`` and takes handovers at ``POST /mynumber`` (``Content-Type: application/jose``): a compact JWE
(RFC 7516) with ``alg: ECDH-ES``, ``enc: A256GCM``, the receiver's ``kid`` and ``typ: mynumber-handover+jwt``,
whose plaintext is the JSON claims ``my_number``, ``purpose``, ``aud``, ``iat``, ``exp`` and ``jti``.

``Receiver.receive`` decrypts (only that algorithm pair, only its own key), then checks ``aud`` (the business's base
URL), ``iat`` / ``exp`` (a bounded leeway and lifetime), ``purpose`` (one of the configured purposes), the ``jti``
(never seen before: replays are refused while the handover is valid) and the check digit, and hands the ``store``
callable only what it is configured to keep: the number, its keyed hash (HMAC-SHA256), or nothing. Answers are
201 ``{"received": true, "kept", "id"}`` or 400 ``{"error": "invalid_request", "error_description"}``; neither the
number nor any claim value appears in an answer, a log line or an exception message. Errors::

    XidError
    └── VerifierError
        └── HandoverError               handoverInvalid       (root of the handover's refusals; invalid_request)
            ├── HandoverDecryptError    handoverUndecryptable not a JWE for this key and algorithm, or tampered
            ├── HandoverClaimsError     handoverClaims        the claims are missing, of the wrong type or unknown
            ├── HandoverAudienceError   handoverAudience      sealed for another business
            ├── HandoverExpiredError    handoverExpired       expired, not yet valid, or living too long
            ├── HandoverPurposeError    handoverPurpose       a purpose this business does not collect for
            ├── HandoverNumberError     handoverNumber        not 12 digits with the right check digit
            ├── HandoverReplayError     handoverReplayed      a jti already received
            └── ReceiverBusyError       receiverBusy          the replay cache is full (503, temporarily_unavailable)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from foundation.b64 import b64url_decode
from foundation.errors import XidError
from foundation.strict_json import InvalidJsonError, strict_json
from foundation.web import (
    RateLimitedError,
    RateLimiter,
    RequestBodyError,
    client_key,
    error_response,
    json_response,
    read_body,
)
from verifier.errors import VerifierError

__all__ = [
    "HANDOVER_TYPE",
    "Handover",
    "HandoverAudienceError",
    "HandoverClaimsError",
    "HandoverDecryptError",
    "HandoverError",
    "HandoverExpiredError",
    "HandoverNumberError",
    "HandoverPurposeError",
    "HandoverReplayError",
    "JtiCache",
    "Keep",
    "Receiver",
    "ReceiverBusyError",
    "generate_key",
    "my_number_is_valid",
    "routes",
]

log = logging.getLogger(__name__)

HANDOVER_TYPE: Final = "mynumber-handover+jwt"
"""The JWE's ``typ``: another encrypted token sent to the same key is not taken for a handover."""

Keep = Literal["number", "hash", "none"]
"""What the receiver keeps of a number: the number, its keyed hash, or nothing."""

MAX_BODY: Final = 16 * 1024
"""The largest handover accepted, in bytes (a handover is under 1 KiB)."""

_CLAIMS: Final = frozenset({"my_number", "purpose", "aud", "iat", "exp", "jti"})
_CURVES: Final = {("EC", "P-256"), ("EC", "P-384"), ("OKP", "X25519")}


class HandoverError(VerifierError):
    """A handover the receiver refuses (maps to ``invalid_request``, 400); the root of the handover's refusals."""

    code = "handoverInvalid"
    oauth_error = "invalid_request"
    status = 400


class HandoverDecryptError(HandoverError):
    """Not a compact JWE for this receiver's key with ECDH-ES and A256GCM, or it was tampered with."""

    code = "handoverUndecryptable"


class HandoverClaimsError(HandoverError):
    """The decrypted claims are not the handover's: missing, of the wrong type, or unknown members."""

    code = "handoverClaims"


class HandoverAudienceError(HandoverError):
    """The handover was sealed for another business (``aud``)."""

    code = "handoverAudience"


class HandoverExpiredError(HandoverError):
    """The handover has expired, is not yet valid (``iat`` in the future) or claims too long a lifetime."""

    code = "handoverExpired"


class HandoverPurposeError(HandoverError):
    """The handover's purpose is not one this business collects My Numbers for."""

    code = "handoverPurpose"


class HandoverNumberError(HandoverError):
    """The handed-over value is not 12 digits with the right check digit."""

    code = "handoverNumber"


class HandoverReplayError(HandoverError):
    """The handover's ``jti`` was received before (a replay)."""

    code = "handoverReplayed"


class ReceiverBusyError(HandoverError):
    """The receiver holds too many unexpired handover ids to take another now (503, temporarily_unavailable)."""

    code = "receiverBusy"
    oauth_error = "temporarily_unavailable"
    status = 503


def my_number_is_valid(value: str) -> bool:
    """Whether a string is a My Number: 12 ASCII digits whose last is the check digit (番号法施行令 §8)."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    total = sum(int(d) * (n + 1 if n <= 6 else n - 5) for n, d in enumerate(reversed(value[:11]), start=1))
    remainder = total % 11
    return value[11] == ("0" if remainder <= 1 else str(11 - remainder))


@dataclass(frozen=True)
class Handover:
    """An accepted handover as given to the store: only what the receiver keeps (personal data: never log)."""

    id: str
    purpose: str
    received_at: int
    kept: Keep
    my_number: str | None
    my_number_hash: str | None

    def __repr__(self) -> str:
        return f"Handover(id={self.id!r}, purpose={self.purpose!r}, kept={self.kept!r}, <number hidden>)"


class JtiCache:
    """The handover ids seen while they are valid (per process, thread-safe, bounded)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, jti: str, expires: int, now: int) -> bool:
        """Record the id until ``expires``; False if it is already recorded. ReceiverBusyError when full."""
        with self._lock:
            if len(self._seen) >= self.limit:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
                if len(self._seen) >= self.limit:
                    raise ReceiverBusyError("too many handovers at once; try again in a few minutes")
            if jti in self._seen and self._seen[jti] >= now:
                return False
            self._seen[jti] = expires
            return True

    def release(self, jti: str) -> None:
        """Forget an id (the handover was not stored and may be sent again)."""
        with self._lock:
            self._seen.pop(jti, None)


def generate_key(curve: str = "P-256") -> dict[str, str]:
    """A new private JWK for a receiver: EC P-256 (or P-384, X25519), ``use: enc``, ``alg: ECDH-ES``, a ``kid``."""
    from joserfc.jwk import ECKey, OKPKey

    key = OKPKey.generate_key("X25519") if curve == "X25519" else ECKey.generate_key(curve)
    jwk = {str(k): str(v) for k, v in key.as_dict(private=True).items()}
    return {**jwk, "use": "enc", "alg": "ECDH-ES", "kid": key.thumbprint()}


def _b64_json(part: str, what: str) -> dict[str, Any]:
    try:
        return strict_json(b64url_decode(part), what, error=HandoverDecryptError)
    except (ValueError, InvalidJsonError):
        raise HandoverDecryptError(f"{what} is not base64url JSON") from None


class Receiver:
    """A business's My Number receiver: its private key, audience, purposes, what it keeps, and where."""

    def __init__(
        self,
        key: Mapping[str, Any],
        audience: str,
        purposes: Collection[str],
        keep: Keep = "none",
        store: Callable[[Handover], None] = lambda handover: None,
        *,
        hash_key: bytes | None = None,
        leeway: int = 60,
        max_lifetime: int = 600,
        rate_per_minute: int = 60,
        clock: Callable[[], float] = time.time,
        replay: JtiCache | None = None,
    ) -> None:
        from joserfc.jwk import ECKey, OKPKey

        kid = key.get("kid")
        if (key.get("kty"), key.get("crv")) not in _CURVES or "d" not in key:
            raise ValueError("the receiver's key must be a private EC P-256/P-384 or X25519 JWK")
        if not isinstance(kid, str) or not kid:
            raise ValueError("the receiver's key needs a kid")
        if keep not in ("number", "hash", "none"):
            raise ValueError("keep must be 'number', 'hash' or 'none'")
        if not purposes or not all(isinstance(p, str) and p for p in purposes):
            raise ValueError("the receiver needs at least one purpose")
        members = {k: v for k, v in key.items() if k not in ("kid", "use", "alg", "key_ops")}
        self._key = ECKey.import_key(members) if key["kty"] == "EC" else OKPKey.import_key(members)
        self.kid = kid
        self.public_jwk: dict[str, str] = {
            **{str(k): str(v) for k, v in self._key.as_dict(private=False).items()},
            "use": "enc",
            "alg": "ECDH-ES",
            "kid": kid,
        }
        self.audience = audience.rstrip("/")
        self.purposes = frozenset(purposes)
        self.keep: Keep = keep
        self.store = store
        # The keyed hash's key: given, or derived from the private key (so a keygen'd key file is all the state).
        self._hash_key = hash_key or hashlib.sha256(b"xid mynumber keyed hash\x00" + str(key["d"]).encode()).digest()
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.limiter = RateLimiter(rate_per_minute)
        self.clock = clock
        self.replay = replay or JtiCache()

    def keyed_hash(self, my_number: str) -> str:
        """The number's keyed hash (HMAC-SHA256, hex): the same number gives the same hash for this receiver."""
        return hmac.new(self._hash_key, my_number.encode("ascii"), hashlib.sha256).hexdigest()

    def _decrypt(self, token: str) -> bytes:
        from joserfc import jwe
        from joserfc.errors import JoseError

        parts = token.split(".")
        if len(parts) != 5:
            raise HandoverDecryptError("the handover is not a compact JWE (five parts)")
        header = _b64_json(parts[0], "the JWE header")
        if header.get("alg") != "ECDH-ES" or header.get("enc") != "A256GCM":
            raise HandoverDecryptError("the handover must be encrypted with alg ECDH-ES and enc A256GCM")
        if header.get("kid") != self.kid:
            raise HandoverDecryptError("the handover is sealed to another key (kid) than this business publishes")
        if header.get("typ") != HANDOVER_TYPE:
            raise HandoverDecryptError(f"the handover's typ must be {HANDOVER_TYPE}")
        if "zip" in header or "crit" in header or parts[1]:
            raise HandoverDecryptError("the handover has an encrypted key, compression or critical extensions")
        try:
            return jwe.decrypt_compact(token, self._key, algorithms=["ECDH-ES", "A256GCM"]).plaintext or b""
        except (JoseError, ValueError, TypeError):
            raise HandoverDecryptError("the handover does not decrypt with this business's key (tampered?)") from None

    def _claims(self, plaintext: bytes) -> dict[str, Any]:
        try:
            claims = strict_json(plaintext, "the handover's claims", error=HandoverClaimsError)
        except InvalidJsonError:  # pragma: no cover - strict_json raises the given error type
            raise HandoverClaimsError("the handover's claims are not JSON") from None
        if set(claims) != _CLAIMS:
            raise HandoverClaimsError(f"the handover's claims must be exactly: {', '.join(sorted(_CLAIMS))}")
        for name in ("my_number", "purpose", "aud", "jti"):
            if not isinstance(claims[name], str) or not claims[name] or len(claims[name]) > 2000:
                raise HandoverClaimsError(f"the claim {name} must be a non-empty string")
        for name in ("iat", "exp"):
            if type(claims[name]) is not int:
                raise HandoverClaimsError(f"the claim {name} must be an integer (seconds since 1970)")
        return claims

    def receive(self, token: str) -> Handover:
        """Decrypt and check a handover, store what is kept; the accepted handover. HandoverError otherwise."""
        claims = self._claims(self._decrypt(token))
        if claims["aud"].rstrip("/") != self.audience:
            raise HandoverAudienceError("the handover is for another business (aud)")
        now = int(self.clock())
        if claims["exp"] <= claims["iat"] or claims["exp"] - claims["iat"] > self.max_lifetime:
            raise HandoverExpiredError(f"the handover's lifetime (exp - iat) must be 1 to {self.max_lifetime} s")
        if claims["iat"] > now + self.leeway:
            raise HandoverExpiredError("the handover is issued in the future (iat)")
        if claims["exp"] + self.leeway < now:
            raise HandoverExpiredError("the handover has expired (exp)")
        if claims["purpose"] not in self.purposes:
            raise HandoverPurposeError("this business does not collect My Numbers for that purpose")
        number = claims["my_number"]
        if not my_number_is_valid(number):
            raise HandoverNumberError("the handed-over value is not a My Number (12 digits, check digit)")
        if not self.replay.claim(claims["jti"], claims["exp"] + self.leeway, now):
            raise HandoverReplayError("this handover was received before (jti)")
        handover = Handover(
            id=secrets.token_urlsafe(12),
            purpose=claims["purpose"],
            received_at=now,
            kept=self.keep,
            my_number=number if self.keep == "number" else None,
            my_number_hash=self.keyed_hash(number) if self.keep == "hash" else None,
        )
        try:
            self.store(handover)
        except BaseException:
            self.replay.release(claims["jti"])
            raise
        return handover


def routes(receiver: Receiver) -> list[BaseRoute]:
    """``GET /mynumber/key`` (the public JWK) and ``POST /mynumber`` (a handover) for the receiver."""

    async def key(request: Request) -> Response:
        return json_response(receiver.public_jwk, no_store=False, headers={"Cache-Control": "max-age=300"})

    async def handover(request: Request) -> Response:
        try:
            receiver.limiter.check(client_key(request))
            media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media != "application/jose":
                raise RequestBodyError("a handover is sent as application/jose (a compact JWE)")
            body = await read_body(request, MAX_BODY)
            try:
                token = body.decode("ascii").strip()
            except UnicodeDecodeError:
                raise HandoverDecryptError("the handover is not a compact JWE (ASCII)") from None
            accepted = await run_in_threadpool(receiver.receive, token)
        except HandoverError as error:
            log.info("My Number handover refused: %s", error.code)
            return error_response(error.status, error.oauth_error, error.message)
        except RateLimitedError as error:
            headers = {"Retry-After": str(error.retry_after)}
            return error_response(429, "temporarily_unavailable", error.message, headers=headers)
        except XidError as error:  # the body: foundation.web's errors
            return error_response(413 if error.code == "bodyTooLarge" else 400, "invalid_request", error.message)
        except Exception as error:  # the business's store failed; its message may hold personal data: not shown
            log.error("My Number handover: the store failed (%s)", type(error).__name__)
            return error_response(503, "temporarily_unavailable", "the receiver cannot store handovers now")
        log.info("My Number handover %s accepted (kept: %s)", accepted.id, accepted.kept)
        return json_response({"received": True, "kept": accepted.kept, "id": accepted.id}, 201)

    return [
        Route("/mynumber/key", key, methods=["GET"]),
        Route("/mynumber", handover, methods=["POST"]),
    ]
