"""One bounded HTTP fetch for everything xid downloads from a URL it was given (DID documents, CRLs, OCSP and
platform-operator answers, time-stamp replies).

``fetch`` sends one request and reads the answer under limits a hostile or broken server cannot lift:

- redirects are never followed (a 3xx comes back to the caller as it is);
- ``Accept-Encoding: identity`` is sent and an answer with any other ``Content-Encoding`` is refused, so the size
  limit counts the bytes that arrive, not what a decompressor makes of them;
- a ``Content-Length`` above the limit is refused before the body is read, and the body is counted while it
  streams, so an answer without (or lying in) ``Content-Length`` stops at the limit too;
- one deadline covers connecting, sending and reading (httpx's own timeouts are per operation): nothing starts
  after it, the body is checked against it after every chunk, and a single network wait lasts at most the time
  that was left when the request was sent;
- a client it creates ignores proxies, certificates and credentials from the environment (``trust_env=False``).

A caller that needs more (did:web connects to a checked address and sends the name in ``Host`` and TLS SNI) passes
its own client, headers and request extensions. Every failure is a ``FetchError``; callers map these to their own
package's errors. Errors::

    XidError
    └── FetchError                 fetchFailed               not an http(s) URL, or the exchange failed
        ├── FetchConnectError      fetchConnectFailed        no connection to the server
        ├── FetchTimeoutError      fetchTimeout              the deadline passed
        ├── FetchTooLargeError     fetchTooLarge             the body is larger than the limit
        └── FetchEncodingError     fetchEncodingRefused      the body is compressed (Content-Encoding)
"""

from __future__ import annotations

import time
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from foundation.errors import XidError

__all__ = [
    "DEFAULT_TIMEOUT",
    "FetchConnectError",
    "FetchEncodingError",
    "FetchError",
    "FetchTimeoutError",
    "FetchTooLargeError",
    "Fetched",
    "fetch",
]

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds a fetch may take in all, unless the caller says otherwise."""


class FetchError(XidError):
    """A bounded fetch failed: the URL is not http(s), or the HTTP exchange broke."""

    code = "fetchFailed"


class FetchConnectError(FetchError):
    """No connection could be made to the server (refused, unreachable, TLS handshake failed)."""

    code = "fetchConnectFailed"


class FetchTimeoutError(FetchError):
    """The fetch did not finish before its deadline."""

    code = "fetchTimeout"


class FetchTooLargeError(FetchError):
    """The answer's body is larger than the caller's limit (declared or counted while streaming)."""

    code = "fetchTooLarge"


class FetchEncodingError(FetchError):
    """The answer is compressed (a Content-Encoding other than identity), which is refused."""

    code = "fetchEncodingRefused"


@dataclass(frozen=True)
class Fetched:
    """An answer read within the limits: its status, headers and body (empty when the body was not read)."""

    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-case ("" when absent)."""
        return str(self.headers.get("content-type", "")).split(";", 1)[0].strip().lower()


def fetch(
    method: str,
    url: str | httpx.URL,
    *,
    max_bytes: int,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    client: httpx.Client | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
    body_statuses: Container[int] | None = None,
) -> Fetched:
    """Send one request and read its answer within the limits in the module docstring.

    ``deadline`` (a ``time.monotonic()`` value) lets several fetches share one; the earlier of it and ``timeout``
    from now applies. When ``body_statuses`` is given, the body of an answer with another status is not read.
    """
    target = httpx.URL(url) if isinstance(url, str) else url
    shown = str(url)
    if target.scheme not in ("http", "https"):
        raise FetchError(f"{shown!r} is not an http(s) URL")
    if not max_bytes > 0 or not timeout > 0:  # also refuses NaN
        raise ValueError("max_bytes and timeout must be positive")
    start = time.monotonic()
    end = start + timeout if deadline is None else min(start + timeout, deadline)
    remaining = end - start
    late = f"fetching {shown} took longer than {max(remaining, 0):g} s"
    if remaining <= 0:
        raise FetchTimeoutError(late)
    sent = httpx.Headers(headers)
    sent["Accept-Encoding"] = "identity"

    def send(active: httpx.Client) -> Fetched:
        with active.stream(
            method,
            target,
            content=content,
            headers=sent,
            timeout=remaining,
            extensions=dict(extensions) if extensions else None,
            follow_redirects=False,
        ) as response:
            status = response.status_code
            if body_statuses is not None and status not in body_statuses:
                return Fetched(shown, status, response.headers, b"")
            return Fetched(shown, status, response.headers, _read(response, shown, max_bytes, end, late))

    try:
        if client is not None:
            return send(client)
        with httpx.Client(trust_env=False, follow_redirects=False) as owned:
            return send(owned)
    except httpx.TimeoutException as exc:
        raise FetchTimeoutError(f"{late} ({type(exc).__name__})") from exc
    except httpx.ConnectError as exc:
        raise FetchConnectError(f"cannot connect to {shown}: {_reason(exc)}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"fetching {shown} failed: {_reason(exc)}") from exc


def _read(response: httpx.Response, shown: str, max_bytes: int, end: float, late: str) -> bytes:
    """The body of an identity-encoded answer, counted against the limit and the deadline while it streams."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchEncodingError(f"{shown} sent a {encoding!r}-compressed body; only uncompressed is accepted")
    declared = response.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > max_bytes:
        raise FetchTooLargeError(f"{shown} is {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():  # identity encoding (checked above): these are the bytes sent
        size += len(chunk)
        if size > max_bytes:
            raise FetchTooLargeError(f"{shown} is larger than the limit of {max_bytes} bytes")
        if time.monotonic() > end:
            raise FetchTimeoutError(late)
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
