"""The wallet's HTTP exchanges with issuers, all through ``foundation.http.fetch`` (bounded, no redirects).

Each call names what it does (``what``) so a failure is one line a person understands. The rules:

- only https URLs, except loopback hosts (127.0.0.1, ::1, localhost) for local development and tests;
- a 2xx answer must be JSON (``application/json``) holding an object, read strictly (``foundation.strict_json``);
- an error answer is shown as ``<what>: the issuer answered <status> <error>: <error_description>``, with the
  description cut to one line of at most 300 characters (``IssuerRefusedError``);
- a redirect is refused (the protocol has none where the wallet calls); a connection failure, timeout or an answer
  above the size limit is ``IssuerUnreachableError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, Final
from urllib.parse import urlencode

import httpx

from foundation.http import Fetched, FetchError, fetch
from foundation.strict_json import InvalidJsonError, strict_json
from wallet.errors import IssuerProtocolError, IssuerRefusedError, IssuerUnreachableError

__all__ = ["MAX_ANSWER", "WalletHttp", "check_url", "error_detail", "one_line"]

MAX_ANSWER: Final = 1024 * 1024
"""The largest answer the wallet reads from an issuer, in bytes."""

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def error_detail(answer: Fetched) -> tuple[str, str]:
    """An error answer's OAuth ``error`` code ("" when none) and a one-line ``code: description`` for people."""
    error, description = "", ""
    try:
        body = json.loads(answer.content)
        if isinstance(body, dict):
            code, text = body.get("error"), body.get("error_description")
            error = code if isinstance(code, str) else ""
            description = text if isinstance(text, str) else ""
    except (ValueError, RecursionError):
        pass
    detail = one_line(error, 80) if error else "no error code"
    if description:
        detail += f": {one_line(description)}"
    return error, detail


def one_line(text: str, limit: int = 300) -> str:
    """Text from a server made safe to show: control characters and newlines collapsed, at most ``limit`` chars."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def check_url(url: str, what: str, error: type[Exception] = IssuerProtocolError) -> str:
    """The URL if it is https (or http on a loopback host), without fragment; ``error`` otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise error(f"{what} is not a URL: {one_line(str(url), 100)!r}") from None
    secure = parsed.scheme == "https" or (parsed.scheme == "http" and parsed.host in _LOOPBACK)
    if secure and parsed.host and not parsed.fragment:
        return url
    raise error(f"{what} must be an https URL (http only on 127.0.0.1/localhost): {one_line(str(url), 100)!r}")


class WalletHttp:
    """JSON exchanges with an issuer, bounded in size and time; ``client`` may be injected (tests, proxies)."""

    def __init__(
        self, client: httpx.Client | None = None, *, timeout: float = 10.0, max_bytes: int = MAX_ANSWER
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.max_bytes = max_bytes

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        check_url(url, f"the URL for {what}")
        sent = {"Accept": "application/json", **(headers or {})}
        try:
            return fetch(
                method,
                url,
                max_bytes=self.max_bytes,
                timeout=self.timeout,
                client=self.client,
                content=content,
                headers=sent,
            )
        except FetchError as exc:
            raise IssuerUnreachableError(f"{what}: {one_line(exc.message)}") from None

    def _answer(self, answer: Fetched, what: str, ok: Collection[int]) -> dict[str, Any]:
        if answer.status_code in ok:
            if answer.media_type != "application/json":
                shown = answer.media_type or "no media type"
                raise IssuerProtocolError(f"{what}: the issuer answered {shown}, not application/json")
            try:
                return strict_json(answer.content, what, error=IssuerProtocolError)
            except InvalidJsonError as exc:  # pragma: no cover - strict_json raises the given error type
                raise IssuerProtocolError(f"{what}: {exc.message}") from None
        raise self._error(answer, what)

    @staticmethod
    def _error(answer: Fetched, what: str) -> Exception:
        status = answer.status_code
        if 300 <= status < 400:
            return IssuerProtocolError(f"{what}: the issuer answered a redirect ({status}); none is followed")
        error, detail = error_detail(answer)
        if not 400 <= status < 600:
            return IssuerProtocolError(f"{what}: unexpected HTTP status {status} ({detail})")
        return IssuerRefusedError(f"{what}: the issuer answered {status} {detail}", status=status, error=error)

    def get_json(self, url: str, what: str) -> dict[str, Any]:
        """GET a JSON object (200)."""
        return self._answer(self._send("GET", url, what), what, (200,))

    def post_json(
        self, url: str, body: Mapping[str, Any], what: str, *, bearer: str | None = None, ok: Collection[int] = (200,)
    ) -> dict[str, Any]:
        """POST a JSON object and read a JSON object back."""
        headers = {"Content-Type": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        answer = self._send("POST", url, what, content=json.dumps(dict(body)).encode(), headers=headers)
        return self._answer(answer, what, ok)

    def post_form(self, url: str, form: Mapping[str, str], what: str) -> dict[str, Any]:
        """POST a form (application/x-www-form-urlencoded) and read a JSON object back (200)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = self._send("POST", url, what, content=urlencode(dict(form)).encode(), headers=headers)
        return self._answer(answer, what, (200,))

    def post_empty(self, url: str, what: str) -> dict[str, Any]:
        """POST with no body and read a JSON object back (200)."""
        return self._answer(self._send("POST", url, what, content=b""), what, (200,))

    def post_json_no_content(self, url: str, body: Mapping[str, Any], what: str, *, bearer: str) -> None:
        """POST a JSON object expecting no content back (204, or 200)."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
        answer = self._send("POST", url, what, content=json.dumps(dict(body)).encode(), headers=headers)
        if answer.status_code not in (200, 204):
            raise self._error(answer, what)
