"""Reading a posted OpenID4VP 1.0 authorization response: ``direct_post`` or ``direct_post.jwt``, and ``vp_token``.

``parse_response`` takes the transaction's facts and the posted form and returns the ``vp_token`` (a JSON object
keyed by DCQL credential query id, each value a non-empty array of presentations: strings for SD-JWT VC and JWT
VPs, objects for ``ldp_vp``) with its digest, or raises. For ``direct_post`` the form carries ``vp_token`` (JSON
text) and ``state``; for ``direct_post.jwt`` it carries only ``response``, a compact JWE encrypted to the
transaction's ephemeral key (``ECDH-ES`` with ``A128GCM`` or ``A256GCM``, decrypted with joserfc) whose payload holds
``vp_token`` and ``state`` as members (OpenID4VP 1.0 §8.2, §8.3). A response in the other mode than the one
requested is refused, as is a response for an expired transaction, a ``state`` that is not the transaction's, and
anything larger than the bounds below. A wallet's error response (``error``, RFC 6749 §4.1.2.1) is reported as
``WalletResponseError`` once its ``state`` matches. The digest is SHA-256 over the JCS (RFC 8785) form of the
``vp_token`` value, so the same presentations posted in either mode are the same replay key.

Every refusal is a ``ResponseRejectedError`` naming the OAuth error the response endpoint returns (``oauth_error``)::

    VerifierError
    └── ResponseRejectedError        responseRejected       (invalid_request)
        ├── TransactionExpiredError  transactionExpired     (invalid_request)
        ├── ResponseModeError        wrongResponseMode      (invalid_request)
        ├── ResponseDecryptionError  responseDecryption     (invalid_request)
        ├── StateMismatchError       stateMismatch          (invalid_request)
        ├── MalformedResponseError   malformedResponse      (invalid_request)
        └── WalletResponseError      walletErrorResponse    (the wallet's own error, e.g. access_denied)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import rfc8785
from joserfc import jwe
from joserfc.jwk import ECKey

from foundation.b64 import b64url_decode
from foundation.errors import XidError
from foundation.strict_json import strict_json
from verifier.contracts import TransactionFacts
from verifier.errors import VerifierError

__all__ = [
    "ENCRYPTION_ALGORITHM",
    "ENCRYPTION_METHODS",
    "MAX_PRESENTATIONS",
    "MAX_PRESENTATION_CHARS",
    "MAX_RESPONSE_CHARS",
    "MalformedResponseError",
    "ParsedResponse",
    "ResponseDecryptionError",
    "ResponseModeError",
    "ResponseRejectedError",
    "StateMismatchError",
    "TransactionExpiredError",
    "WalletResponseError",
    "parse_response",
    "vp_token_digest",
]

ENCRYPTION_ALGORITHM: Final = "ECDH-ES"
ENCRYPTION_METHODS: Final = ("A128GCM", "A256GCM")
MAX_RESPONSE_CHARS: Final = 256 * 1024
"""The longest ``vp_token`` text or ``response`` JWE read (the response endpoint's body limit bounds it as well)."""
MAX_PRESENTATIONS: Final = 16
"""The most presentations one ``vp_token`` may carry, over all credential queries."""
MAX_PRESENTATION_CHARS: Final = 64 * 1024
"""The longest single presentation (SD-JWT with its disclosures, a JWT VP, or an ``ldp_vp`` as JSON)."""
_QUERY_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ERROR_CODE: Final = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}")


class ResponseRejectedError(VerifierError):
    """A posted authorization response is refused (OAuth error ``invalid_request`` unless a subclass says else)."""

    code = "responseRejected"
    oauth_error: str = "invalid_request"
    """The OAuth 2.0 / OpenID4VP error code the response endpoint answers with."""


class TransactionExpiredError(ResponseRejectedError):
    """The transaction the response answers has expired (``invalid_request``)."""

    code = "transactionExpired"


class ResponseModeError(ResponseRejectedError):
    """The response does not use the response mode the request asked for (``invalid_request``)."""

    code = "wrongResponseMode"


class ResponseDecryptionError(ResponseRejectedError):
    """The ``response`` JWE is malformed, uses another algorithm or key, or does not decrypt (``invalid_request``)."""

    code = "responseDecryption"


class StateMismatchError(ResponseRejectedError):
    """The response's ``state`` is missing or is not the transaction's (``invalid_request``)."""

    code = "stateMismatch"


class MalformedResponseError(ResponseRejectedError):
    """The response or its ``vp_token`` does not have OpenID4VP 1.0's shape or exceeds a bound (``invalid_request``)."""

    code = "malformedResponse"


class WalletResponseError(ResponseRejectedError):
    """The wallet answered with an error response (``access_denied`` and the like) instead of a ``vp_token``."""

    code = "walletErrorResponse"

    def __init__(self, message: str, wallet_error: str) -> None:
        super().__init__(message)
        self.oauth_error = wallet_error


@dataclass(frozen=True)
class ParsedResponse:
    """A response's ``vp_token`` (query id → presentations), its canonical digest, and the mode it came in."""

    vp_token: Mapping[str, tuple[str | Mapping[str, Any], ...]]
    digest: str
    encrypted: bool


def vp_token_digest(vp_token: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over the JCS (RFC 8785) serialization of a ``vp_token`` object."""
    if all(k.isascii() and isinstance(v, list) and all(isinstance(i, str) for i in v) for k, v in vp_token.items()):
        # Only ASCII keys and arrays of strings (SD-JWT and JWT presentations): JCS is then exactly the sorted,
        # whitespace-free JSON with minimal escaping, which the json module writes much faster than rfc8785.
        fast = json.dumps(vp_token, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(fast).hexdigest()
    try:
        canonical = rfc8785.dumps(vp_token)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedResponseError("vp_token holds a value JSON canonicalization cannot serialize") from exc
    return hashlib.sha256(canonical).hexdigest()


def parse_response(transaction: TransactionFacts, form: Mapping[str, str], now: datetime) -> ParsedResponse:
    """The ``vp_token`` of a posted response, once mode, decryption, ``state``, expiry and shape are right."""
    if now >= transaction.expires_at:
        raise TransactionExpiredError("the presentation request has expired")
    encrypted = transaction.response_mode == "direct_post.jwt"
    if "error" in form and "response" not in form:
        _wallet_error(transaction, form)
    if encrypted:
        if set(form) - {"response"}:
            raise ResponseModeError("direct_post.jwt was requested: post only response=<JWE>, not plain parameters")
        response = form.get("response")
        if not response:
            raise ResponseModeError("direct_post.jwt was requested but the form has no response parameter")
        params = _decrypt(transaction, response)
        if "error" in params and "vp_token" not in params:
            _wallet_error(transaction, params)
    else:
        if "response" in form:
            raise ResponseModeError("direct_post was requested: post vp_token and state, not an encrypted response")
        params = dict(form)
    _check_state(transaction, params.get("state"))
    raw = params.get("vp_token")
    if raw is None:
        raise MalformedResponseError("the response has no vp_token")
    if isinstance(raw, str):  # a form parameter; some wallets also put the JSON text into the JWE payload
        if len(raw) > MAX_RESPONSE_CHARS:
            raise MalformedResponseError(f"vp_token is longer than {MAX_RESPONSE_CHARS} characters")
        raw = _json_object(raw, "vp_token")
    vp_token = _shape(raw)
    return ParsedResponse(vp_token, vp_token_digest(raw), encrypted)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        return strict_json(text, what, error=MalformedResponseError)
    except XidError as exc:
        raise MalformedResponseError(exc.message) from exc


def _check_state(transaction: TransactionFacts, state: Any) -> None:
    if not isinstance(state, str) or not state:
        raise StateMismatchError("the response has no state")
    if not hmac.compare_digest(state.encode("utf-8"), transaction.state.encode("utf-8")):
        raise StateMismatchError("the response's state is not the one of this presentation request")


def _wallet_error(transaction: TransactionFacts, params: Mapping[str, Any]) -> None:
    _check_state(transaction, params.get("state"))
    error = params.get("error")
    if not isinstance(error, str) or not _ERROR_CODE.fullmatch(error):
        raise MalformedResponseError("the wallet's error response has no valid error code")
    raise WalletResponseError(f"the wallet answered with the error {error}", error)


def _decrypt(transaction: TransactionFacts, token: str) -> dict[str, Any]:
    jwk = transaction.encryption_jwk
    if jwk is None:
        raise ResponseDecryptionError("this presentation request has no response encryption key")
    if len(token) > MAX_RESPONSE_CHARS:
        raise ResponseDecryptionError(f"the response JWE is longer than {MAX_RESPONSE_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 5:
        raise ResponseDecryptionError("the response is not a compact JWE (five base64url parts)")
    try:
        header = strict_json(b64url_decode(parts[0]), "the JWE header", error=ResponseDecryptionError)
    except ValueError as exc:
        raise ResponseDecryptionError("the JWE protected header is not base64url") from exc
    except XidError as exc:
        raise ResponseDecryptionError(f"the JWE protected header is malformed: {exc.message}") from exc
    if header.get("alg") != ENCRYPTION_ALGORITHM:
        raise ResponseDecryptionError(f"the JWE alg must be {ENCRYPTION_ALGORITHM}")
    if header.get("enc") not in ENCRYPTION_METHODS:
        raise ResponseDecryptionError(f"the JWE enc must be one of {', '.join(ENCRYPTION_METHODS)}")
    if "zip" in header:
        raise ResponseDecryptionError("compressed responses (zip) are not accepted")
    if "kid" in header and header["kid"] != jwk.get("kid"):
        raise ResponseDecryptionError("the JWE names another key (kid) than this request's encryption key")
    registry = jwe.JWERegistry(algorithms=[ENCRYPTION_ALGORITHM, *ENCRYPTION_METHODS])
    try:
        key = ECKey.import_key(dict(jwk))
        plaintext = jwe.decrypt_compact(token, key, registry=registry).plaintext
    except Exception as exc:  # joserfc's errors, and whatever a hostile header makes its parsers raise: no detail
        raise ResponseDecryptionError("the response JWE does not decrypt with this request's key") from exc
    if plaintext is None:
        raise ResponseDecryptionError("the response JWE has no payload")
    try:
        return strict_json(plaintext, "the JWE payload", error=MalformedResponseError)
    except XidError as exc:
        raise MalformedResponseError(exc.message) from exc


def _shape(vp_token: Any) -> dict[str, tuple[str | Mapping[str, Any], ...]]:
    if not isinstance(vp_token, Mapping) or not vp_token:
        raise MalformedResponseError("vp_token must be a non-empty JSON object keyed by credential query id")
    out: dict[str, tuple[str | Mapping[str, Any], ...]] = {}
    count = 0
    for query_id, presentations in vp_token.items():
        if not isinstance(query_id, str) or not _QUERY_ID.fullmatch(query_id):
            raise MalformedResponseError("vp_token keys must be credential query ids (A-Z a-z 0-9 _ -)")
        if not isinstance(presentations, list) or not presentations:
            raise MalformedResponseError(f"vp_token.{query_id} must be a non-empty array of presentations")
        count += len(presentations)
        if count > MAX_PRESENTATIONS:
            raise MalformedResponseError(f"vp_token carries more than {MAX_PRESENTATIONS} presentations")
        for item in presentations:
            if isinstance(item, str):
                if not item or len(item) > MAX_PRESENTATION_CHARS or not item.isascii():
                    raise MalformedResponseError(
                        f"a presentation in vp_token.{query_id} is empty, not ASCII or longer than "
                        f"{MAX_PRESENTATION_CHARS} characters"
                    )
            elif not isinstance(item, Mapping):
                raise MalformedResponseError(
                    f"vp_token.{query_id} holds a presentation that is neither a string nor a JSON object"
                )
        out[query_id] = tuple(presentations)
    return out
