"""The My Number handover, wallet side: read the My Number from the card, encrypt it to a business, deliver it.

The person hands their My Number (個人番号) to a business with a legal basis to collect it; no xid server sees it.
The steps, in this order, so that nothing is read from the card before the business's key is known to be usable:

1. ``fetch_recipient_key``: ``GET {business}/mynumber/key`` answers the business's public JWK (``use: enc``,
   ``alg: ECDH-ES``, a ``kid``). ``check_recipient_key`` accepts EC P-256 / P-384 points on their curve and X25519
   keys that are canonical and not of small order; it refuses RSA, any other type or curve, and private members.
2. ``read_my_number``: the input-assist application's 4-digit PIN (tries left shown first, the last try refused
   unless confirmed, one VERIFY, never retried), then the My Number, its check digit validated.
3. ``seal``: a compact JWE (RFC 7516; ``alg: ECDH-ES``, ``enc: A256GCM``, ``kid``, ``typ:
   mynumber-handover+jwt``) whose plaintext is the claims ``my_number``, ``purpose``, ``aud`` (the business),
   ``iat``, ``exp`` (5 minutes later) and ``jti``.
4. ``deliver``: ``POST {business}/mynumber`` with ``Content-Type: application/jose``; the business answers 201
   ``{"received": true, "kept": "number" | "hash" | "none", "id"}``.

The plaintext number lives only in memory: it is never written, logged or put into an exception message. Errors::

    XidError
    └── WalletError
        ├── RecipientKeyError          invalidRecipientKey   the business's key is missing or unusable
        ├── InvalidPurposeError        invalidPurpose        the purpose is empty, too long or not one line
        ├── RecipientRefusedError      recipientRefused      the business answered with an error
        ├── RecipientProtocolError     recipientProtocol     the business's answer is not what the handover expects
        └── RecipientUnreachableError  recipientUnreachable  no answer from the business (connect, timeout, size)
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from foundation.b64 import b64url_decode
from foundation.http import Fetched, FetchError, fetch
from foundation.strict_json import InvalidJsonError, strict_json
from jpki_bridge.mynumber import check_my_number
from wallet.errors import WalletError
from wallet.http import check_url, error_detail, one_line

if TYPE_CHECKING:
    from jpki_bridge.transport import Transport

__all__ = [
    "HANDOVER_TYPE",
    "LIFETIME",
    "InvalidPurposeError",
    "Receipt",
    "RecipientKey",
    "RecipientKeyError",
    "RecipientProtocolError",
    "RecipientRefusedError",
    "RecipientUnreachableError",
    "business_base",
    "check_recipient_key",
    "deliver",
    "fetch_recipient_key",
    "hand_over",
    "read_my_number",
    "seal",
]

HANDOVER_TYPE: Final = "mynumber-handover+jwt"
"""The JWE's ``typ`` (explicit typing, RFC 8725 §3.11): a handover is not mistaken for another encrypted token."""

LIFETIME: Final = 300
"""Seconds a sealed handover is valid (``exp - iat``)."""

MAX_ANSWER: Final = 64 * 1024
"""The largest answer read from the business, in bytes."""

MAX_PURPOSE: Final = 200
"""The longest purpose, in characters."""

_EC_CURVES: Final = {"P-256": (ec.SECP256R1(), 32), "P-384": (ec.SECP384R1(), 48)}
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_P25519: Final = 2**255 - 19
# The u-coordinates of the Curve25519 points of small order (1, 2, 4 and 8), canonical: u = 0, 1 and p - 1, and
# the two of order 8. Non-canonical encodings (u >= p, or the top bit set) are refused before the comparison, which
# covers the other entries of libsodium's list of 12 (u + p, the top bit set).
_SMALL_ORDER_U: Final = frozenset(
    {
        0,
        1,
        _P25519 - 1,
        int.from_bytes(bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"), "little"),
        int.from_bytes(bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"), "little"),
    }
)


class RecipientKeyError(WalletError):
    """The business's published key is missing, of a refused type (RSA, another curve), off its curve, of small
    order (X25519), or a private key; nothing is read from the card or sent."""

    code = "invalidRecipientKey"


class InvalidPurposeError(WalletError):
    """The purpose given for a handover is empty, longer than 200 characters or not one printable line."""

    code = "invalidPurpose"


class RecipientRefusedError(WalletError):
    """The business answered the handover with an error (``status`` and its ``error`` code)."""

    code = "recipientRefused"

    def __init__(self, message: str, *, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class RecipientProtocolError(WalletError):
    """The business's answer is not what the handover expects (not JSON, a redirect, a wrong shape)."""

    code = "recipientProtocol"


class RecipientUnreachableError(WalletError):
    """No answer from the business: connection refused, timeout, or an answer above the size limit."""

    code = "recipientUnreachable"


@dataclass(frozen=True)
class RecipientKey:
    """The business's checked public encryption key: its public JWK members and ``kid``."""

    jwk: Mapping[str, str]
    kid: str

    @property
    def description(self) -> str:
        """The key's type in words (``EC P-256``, ``OKP X25519``)."""
        return f"{self.jwk['kty']} {self.jwk['crv']}"


@dataclass(frozen=True)
class Receipt:
    """The business's answer to an accepted handover: its id for the handover and what it keeps."""

    id: str
    kept: str


def business_base(url: str) -> str:
    """The business's base URL (https, or http on a loopback host), without a trailing slash."""
    checked = check_url(url.strip(), "the business URL", RecipientProtocolError)
    if "?" in checked:
        raise RecipientProtocolError("the business URL must not carry a query")
    return checked.rstrip("/")


def _b64_member(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError
        raw = b64url_decode(value)
    except ValueError:
        raise RecipientKeyError(f"the business's key member {name!r} is not base64url") from None
    if len(raw) != size:
        raise RecipientKeyError(f"the business's key member {name!r} is not {size} bytes")
    return raw


def check_recipient_key(jwk: object) -> RecipientKey:
    """The business's JWK if it is a public ECDH-ES encryption key this wallet can safely encrypt to."""
    if not isinstance(jwk, Mapping):
        raise RecipientKeyError("the business published no key (a JSON object, a JWK, is expected)")
    private = sorted(_PRIVATE_MEMBERS & set(jwk))
    if private:
        raise RecipientKeyError(
            f"the business published a private key (member {private[0]!r}); it is not used: the key is compromised"
        )
    kty = jwk.get("kty")
    if kty == "RSA":
        raise RecipientKeyError("the business's key is RSA; only ECDH-ES keys (EC P-256/P-384, X25519) are used")
    if jwk.get("use") != "enc":
        raise RecipientKeyError("the business's key is not an encryption key (use must be 'enc')")
    if jwk.get("alg") != "ECDH-ES":
        raise RecipientKeyError("the business's key is not for ECDH-ES (alg must be 'ECDH-ES')")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        raise RecipientKeyError("the business's key has no kid")
    crv = jwk.get("crv")
    if kty == "EC" and isinstance(crv, str) and crv in _EC_CURVES:
        curve, size = _EC_CURVES[crv]
        x, y = _b64_member(jwk, "x", size), _b64_member(jwk, "y", size)
        try:  # cryptography refuses a point that is not on the curve
            ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve).public_key()
        except ValueError:
            raise RecipientKeyError(f"the business's key is not a point on {crv}") from None
        return RecipientKey({"kty": "EC", "crv": crv, "x": jwk["x"], "y": jwk["y"]}, kid)
    if kty == "OKP" and crv == "X25519":
        raw = _b64_member(jwk, "x", 32)
        u = int.from_bytes(raw, "little")
        if u >= _P25519:
            raise RecipientKeyError("the business's X25519 key is not canonically encoded")
        if u in _SMALL_ORDER_U:
            raise RecipientKeyError("the business's X25519 key is a point of small order")
        try:  # a key agreement with it must not give the all-zero secret (cryptography refuses that)
            x25519.X25519PrivateKey.generate().exchange(x25519.X25519PublicKey.from_public_bytes(raw))
        except ValueError:
            raise RecipientKeyError("the business's X25519 key gives an all-zero shared secret") from None
        return RecipientKey({"kty": "OKP", "crv": "X25519", "x": jwk["x"]}, kid)
    shown = one_line(f"{kty} {crv}" if isinstance(kty, str) and isinstance(crv, str) else repr(kty), 40)
    raise RecipientKeyError(f"the business's key type {shown} is not used; ECDH-ES needs EC P-256/P-384 or X25519")


def _send(method: str, url: str, what: str, *, client: httpx.Client | None, content: bytes | None = None) -> Fetched:
    headers = {"Accept": "application/json"}
    if content is not None:
        headers["Content-Type"] = "application/jose"
    try:
        return fetch(method, url, max_bytes=MAX_ANSWER, timeout=10.0, client=client, content=content, headers=headers)
    except FetchError as exc:
        raise RecipientUnreachableError(f"{what}: {one_line(exc.message)}") from None


def _json_answer(answer: Fetched, what: str, ok: int) -> dict[str, Any]:
    status = answer.status_code
    if status == ok:
        if answer.media_type not in ("application/json", "application/jwk+json"):
            shown = answer.media_type or "no media type"
            raise RecipientProtocolError(f"{what}: the business answered {shown}, not JSON")
        try:
            return strict_json(answer.content, what, error=RecipientProtocolError)
        except InvalidJsonError as exc:  # pragma: no cover - strict_json raises the given error type
            raise RecipientProtocolError(f"{what}: {exc.message}") from None
    if 300 <= status < 400:
        raise RecipientProtocolError(f"{what}: the business answered a redirect ({status}); none is followed")
    error, detail = error_detail(answer)
    if status == 404 and what.startswith("fetching"):
        raise RecipientKeyError(f"{what}: the business publishes no key (404)")
    if 400 <= status < 600:
        raise RecipientRefusedError(f"{what}: the business answered {status} {detail}", status=status, error=error)
    raise RecipientProtocolError(f"{what}: unexpected HTTP status {status} ({detail})")


def fetch_recipient_key(business: str, *, client: httpx.Client | None = None) -> RecipientKey:
    """``GET {business}/mynumber/key``, checked with ``check_recipient_key``."""
    what = "fetching the business's key"
    return check_recipient_key(_json_answer(_send("GET", f"{business}/mynumber/key", what, client=client), what, 200))


def read_my_number(transport: Transport, ask_pin: Callable[[int], str], *, confirm_last_try: bool = False) -> str:
    """The card's My Number (check digit validated), after one VERIFY of the input-assist PIN.

    ``ask_pin`` gets the tries left and returns the PIN; it is not called when the PIN is blocked, or when one
    try is left and ``confirm_last_try`` is false. A wrong PIN raises ``WrongPinError`` with the tries left.
    """
    from jpki_bridge.apdu import LastTryError, PinBlockedError
    from jpki_bridge.input_assist import InputAssistCard

    card = InputAssistCard(transport)
    card.select()
    status = card.pin_status()
    if status.blocked:
        raise PinBlockedError("the input-assist PIN is blocked; the municipal office can reset it", 0x6984)
    if status.tries_left == 1 and not confirm_last_try:
        raise LastTryError(
            "only one try is left for the 4-digit input-assist PIN; a wrong value blocks it. Confirm explicitly "
            "(--confirm-last-try) if you are sure"
        )
    card.verify(ask_pin(status.tries_left), confirm_last_try=confirm_last_try)
    return check_my_number(card.read().my_number)


def _check_purpose(purpose: str) -> str:
    if not purpose.strip() or len(purpose) > MAX_PURPOSE or one_line(purpose, MAX_PURPOSE + 1) != purpose:
        raise InvalidPurposeError(f"the purpose must be one line of 1 to {MAX_PURPOSE} characters")
    return purpose


def seal(
    my_number: str,
    key: RecipientKey,
    *,
    purpose: str,
    audience: str,
    now: int | None = None,
    jti: str | None = None,
) -> str:
    """The compact JWE (ECDH-ES, A256GCM) carrying the My Number, purpose, audience, iat, exp and jti."""
    from joserfc import jwe
    from joserfc.jwk import ECKey, OKPKey

    check_my_number(my_number)
    issued = int(time.time()) if now is None else now
    claims = {
        "my_number": my_number,
        "purpose": _check_purpose(purpose),
        "aud": audience,
        "iat": issued,
        "exp": issued + LIFETIME,
        "jti": jti or secrets.token_urlsafe(16),
    }
    public: dict[str, str | list[str]] = dict(key.jwk)
    recipient = ECKey.import_key(public) if public["kty"] == "EC" else OKPKey.import_key(public)
    protected = {"alg": "ECDH-ES", "enc": "A256GCM", "kid": key.kid, "typ": HANDOVER_TYPE}
    plaintext = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        return jwe.encrypt_compact(protected, plaintext, recipient, algorithms=["ECDH-ES", "A256GCM"])
    except ValueError:  # a key agreement that fails (e.g. an all-zero X25519 secret); the message names no claim
        raise RecipientKeyError("encrypting to the business's key failed; nothing was sent") from None


def deliver(business: str, token: str, *, client: httpx.Client | None = None) -> Receipt:
    """``POST {business}/mynumber`` with the sealed handover; the business's receipt (201)."""
    what = "handing over the My Number"
    body = _json_answer(_send("POST", f"{business}/mynumber", what, client=client, content=token.encode()), what, 201)
    kept, handover_id = body.get("kept"), body.get("id")
    if body.get("received") is not True or kept not in ("number", "hash", "none"):
        raise RecipientProtocolError(f"{what}: the business's answer lacks received: true and kept")
    if not isinstance(handover_id, str) or not handover_id:
        raise RecipientProtocolError(f"{what}: the business's answer has no handover id")
    return Receipt(one_line(handover_id, 100), str(kept))


def hand_over(
    business: str,
    purpose: str,
    read: Callable[[], str],
    *,
    consent: Callable[[RecipientKey], bool] = lambda key: True,
    client: httpx.Client | None = None,
) -> Receipt | None:
    """The whole handover: the business's key checked first, then consent, the card read, sealing and delivery.

    Returns None when ``consent`` declines (nothing was read or sent).
    """
    base = business_base(business)
    _check_purpose(purpose)
    key = fetch_recipient_key(base, client=client)
    if not consent(key):
        return None
    return deliver(base, seal(read(), key, purpose=purpose, audience=base), client=client)
