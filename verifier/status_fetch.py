"""How the verifier obtains published status lists: bounded, public addresses only, cached for their lifetime.

A status list URL must be https (plain http only to a loopback host, and only with the development allowance, as the
did:web resolver's). Its host must resolve to public addresses only (loopback with the allowance); the fetch goes
through ``foundation.http.fetch`` (size and time limits, no redirects). A list is cached for the time its answer
allows (``Cache-Control: max-age``, a status list token's ``ttl``), at most ``max_ttl``; an answer that names no
lifetime is kept ``default_ttl``. Lists of the verifier's own origin can be answered in-process (``local``), so a
deployment does not fetch its own lists over the network. Errors::

    XidError
    └── VerifierError
        └── StatusFetchError     statusListUnavailable   (not https, non-public host, HTTP error, too large, too slow)

(``vc.verify`` turns any failure of the source into ``CredentialStatusError``: status fails closed.)
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from did.did_web import address_class, system_resolve_host
from foundation.b64 import b64url_decode
from foundation.http import FetchError, fetch
from foundation.strict_json import strict_json
from verifier.errors import VerifierError

__all__ = ["MAX_STATUS_LIST_BYTES", "StatusFetchError", "StatusFetcher"]

MAX_STATUS_LIST_BYTES = 2 * 1024 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d{1,9})\s*(?:,|$)")

Published = Mapping[str, Any] | str


class StatusFetchError(VerifierError):
    """A status list could not be obtained within the rules (scheme, address, size, time, HTTP status)."""

    code = "statusListUnavailable"


def _lifetime(answer_headers: httpx.Headers, body: Published) -> float | None:
    match = _MAX_AGE.search(answer_headers.get("cache-control", "").lower())
    if match:
        return float(match.group(1))
    if isinstance(body, str):  # a status list token: its ttl claim
        try:
            payload = json.loads(b64url_decode(body.split(".")[1]))
            ttl = payload.get("ttl")
            return float(ttl) if isinstance(ttl, int) and ttl >= 0 else None
        except (ValueError, IndexError, AttributeError):  # not a JWT: no ttl
            return None
    return None


class StatusFetcher:
    """A ``StatusSource`` for the verifier: fetch within the rules, cache for the list's lifetime."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        client: httpx.Client | None = None,
        resolve_host: Callable[[str, int], list[str]] = system_resolve_host,
        local: Callable[[str], Published | None] | None = None,
        max_bytes: int = MAX_STATUS_LIST_BYTES,
        timeout: float = 5.0,
        default_ttl: float = 300.0,
        max_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allow_loopback = allow_loopback
        self._client = client
        self._resolve_host = resolve_host
        self._local = local
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Published]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> Published:
        """The published list at ``url`` (JSON object for a status list credential, text for a token)."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        if self._local is not None:
            answered = self._local(url)
            if answered is not None:
                return answered
        self._check_target(url)
        try:
            answer = fetch("GET", url, max_bytes=self.max_bytes, timeout=self.timeout, client=self._client)
        except FetchError as error:
            raise StatusFetchError(f"cannot fetch the status list {url}: {error.message}") from None
        if answer.status_code != 200:
            raise StatusFetchError(f"the status list {url} answered HTTP {answer.status_code}")
        body = self._parse(url, answer.media_type, answer.content)
        lifetime = _lifetime(answer.headers, body)
        ttl = min(self.max_ttl, self.default_ttl if lifetime is None else lifetime)
        if ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[url] = (now + ttl, body)
        return body

    def _check_target(self, url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname
        if host is None or parts.username or parts.password:
            raise StatusFetchError(f"the status list URL {url!r} has no usable host")
        loopback_name = host == "localhost" or host.endswith(".localhost")
        if parts.scheme == "http":
            literal = _ip(host)
            if not self.allow_loopback or not (loopback_name or (literal is not None and literal.is_loopback)):
                raise StatusFetchError(f"status lists are fetched over https only, not {url!r}")
        elif parts.scheme != "https":
            raise StatusFetchError(f"status lists are fetched over https only, not {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [_ip(a) for a in self._resolve_host(host, port)]
        except OSError as error:
            raise StatusFetchError(f"cannot resolve the status list host {host}: {error}") from None
        if not addresses:
            raise StatusFetchError(f"the status list host {host} has no address")
        for ip in addresses:
            kind = "non-public" if ip is None else address_class(ip)
            if kind == "loopback" and self.allow_loopback:
                continue
            if kind is not None:
                raise StatusFetchError(f"the status list host {host} resolves to a {kind} address")

    @staticmethod
    def _parse(url: str, media: str, body: bytes) -> Published:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise StatusFetchError(f"the status list {url} is not UTF-8") from None
        if media.endswith("json"):
            return strict_json(text, f"the status list {url}", error=StatusFetchError)
        return text.strip()


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None
