"""What every xid HTTP service shares: bounded body reading, strict JSON and forms, protocol error responses, rate
limits.

Handlers stay thin: read the body with ``read_json`` / ``read_form`` (size-limited, strict), validate it, call the
core, and turn the core's ``XidError`` into the protocol's error with ``error_response``. ``EXCEPTION_HANDLERS``
catches what a handler did not map: a request-body error becomes 400/413 ``invalid_request``, a rate limit 429, a
database outage 503 ``temporarily_unavailable``; no client mistake ever reaches a 500. Errors::

    XidError
    ├── RequestBodyError        invalidRequestBody   (not JSON / not a form / wrong media type / bad shape)
    │   └── BodyTooLargeError   bodyTooLarge         (413)
    └── RateLimitedError        rateLimited          (429, with Retry-After)
"""

from __future__ import annotations

import math
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from foundation.b64 import b64url_encode
from foundation.db import DatabaseUnavailableError
from foundation.errors import XidError
from foundation.strict_json import strict_json

__all__ = [
    "EXCEPTION_HANDLERS",
    "NO_STORE",
    "BodyTooLargeError",
    "RateLimitedError",
    "RateLimiter",
    "RequestBodyError",
    "ServiceOrigin",
    "TokenRequest",
    "TokenResponse",
    "bearer_token",
    "client_key",
    "error_response",
    "json_response",
    "parse_model",
    "read_body",
    "read_form",
    "read_json",
    "safe_description",
]


class RequestBodyError(XidError):
    """The request body is not what the endpoint takes: wrong media type, not JSON or a form, or the wrong shape."""

    code = "invalidRequestBody"


class BodyTooLargeError(RequestBodyError):
    """The request body is larger than the endpoint accepts."""

    code = "bodyTooLarge"


class RateLimitedError(XidError):
    """Too many requests from one client in a short time; ``retry_after`` says when to try again (seconds)."""

    code = "rateLimited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceOrigin:
    """What a service context on one base URL offers its routes: absolute URLs and fresh tokens (a mixin)."""

    base_url: str
    random: Callable[[int], bytes]

    def url(self, path: str) -> str:
        """An absolute URL under the base URL (``path`` starts with ``/``)."""
        if not path.startswith("/"):
            raise ValueError("path must start with /")
        return self.base_url + path

    def token(self, size: int = 32) -> str:
        """A fresh unguessable base64url token from the context's random source."""
        return b64url_encode(self.random(size))


NO_STORE = {"Cache-Control": "no-store"}
"""Headers for responses that carry secrets or single-use values (tokens, nonces, offers)."""

_M = TypeVar("_M", bound=BaseModel)
_MAX_FORM_FIELDS = 32


@dataclass(frozen=True)
class TokenRequest:
    """A token endpoint request as a grant handler sees it: the form and the request headers (lower-case names)."""

    form: Mapping[str, str]
    headers: Mapping[str, str]
    url: str
    """The endpoint's absolute URL (what a client assertion's ``aud`` may name)."""


@dataclass(frozen=True)
class TokenResponse:
    """What a grant handler answers: the HTTP status, the JSON body and extra headers (``no-store`` is added)."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def safe_description(text: str, limit: int = 300) -> str:
    """An ``error_description``: printable ASCII without ``"`` or ``\\`` (RFC 6749 §5.2), at most ``limit`` chars."""
    cleaned = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "?" for c in text)
    return cleaned[: limit - 3] + "..." if len(cleaned) > limit else cleaned


def json_response(
    data: Any, status: int = 200, *, no_store: bool = True, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response (compact UTF-8); ``Cache-Control: no-store`` unless ``no_store=False``."""
    merged = {**(NO_STORE if no_store else {}), **(headers or {})}
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=merged)


def error_response(
    status: int, error: str, description: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    """An OAuth-style error: ``{"error", "error_description", ...extra}`` with the status and no-store."""
    body: dict[str, Any] = {"error": error, "error_description": safe_description(description), **extra}
    return json_response(body, status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with BodyTooLargeError as soon as it exceeds ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestBodyError("the Content-Length header is not a number")
        if int(declared) > limit:
            raise BodyTooLargeError(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a strict JSON object (``application/json``; no duplicate members, NaN or excessive depth)."""
    if _media_type(request) != "application/json":
        raise RequestBodyError("the request body must be application/json")
    return strict_json(await read_body(request, limit), "the request body", error=RequestBodyError)


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """The body as an ``application/x-www-form-urlencoded`` form; a repeated parameter is refused (RFC 6749 §3.2)."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise RequestBodyError("the request body must be application/x-www-form-urlencoded")
    raw = await read_body(request, limit)
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(raw),
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestBodyError(f"the form body is malformed: {str(error)[:80]}") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise RequestBodyError(f"the form parameter {name!r} is repeated")
        form[name] = value
    return form


def parse_model(model: type[_M], data: Any) -> _M:
    """Validate data against a pydantic model; a mismatch is a RequestBodyError naming the first bad field."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        raise RequestBodyError(f"{where}: {first['msg']}") from None


def bearer_token(request: Request) -> str | None:
    """The access token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), or None when there is none."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        return None
    return token.strip()


def client_key(request: Request) -> str:
    """The key rate limits count under: the client's address (a proxy in front must set the real one)."""
    return request.client.host if request.client else "unknown"


class RateLimiter:
    """A per-key token bucket: ``rate`` requests per minute, bursts up to ``rate``; per process, thread-safe."""

    def __init__(self, rate_per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_minute < 1:
            raise ValueError("rate_per_minute must be at least 1")
        self.rate = rate_per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one request from the key's bucket, or raise RateLimitedError with the seconds to wait."""
        now = self._clock()
        per_second = self.rate / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.rate), now))
            tokens = min(float(self.rate), tokens + (now - last) * per_second)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / per_second)
                raise RateLimitedError(f"too many requests; try again in {wait} s", wait)
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle clients rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60.0}


async def _body_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestBodyError)
    status = 413 if isinstance(error, BodyTooLargeError) else 400
    return error_response(status, "invalid_request", error.message)


async def _rate_limited(request: Request, error: Exception) -> Response:
    assert isinstance(error, RateLimitedError)
    return error_response(
        429, "temporarily_unavailable", error.message, headers={"Retry-After": str(error.retry_after)}
    )


async def _unavailable(request: Request, error: Exception) -> Response:
    return error_response(503, "temporarily_unavailable", "the service's database is unavailable; try again later")


async def _http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        headers = dict(error.headers or {})
        return error_response(405, "invalid_request", "method not allowed", headers=headers)
    return error_response(
        error.status_code, "not_found" if error.status_code == 404 else "invalid_request", str(error.detail)
    )


EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    RequestBodyError: _body_error,
    RateLimitedError: _rate_limited,
    DatabaseUnavailableError: _unavailable,
    HTTPException: _http_exception,
}
"""Starlette exception handlers every issuer app installs (the composition root installs them once)."""
