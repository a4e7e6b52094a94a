"""The wallet's view of its consents at an xid OpenID Connect provider: open an account session by presenting the
identity credential, then list or revoke the consents (``xid wallet consents``).

An account session (``open_session``): ``POST {op}/oidc/session`` answers ``session_id``, ``request_url`` (an
``openid4vp://`` request), ``verification_code`` and ``expires_in`` (and optionally ``secret``, sent as a bearer token
when polling). The wallet resolves the request with its OpenID4VP holder and answers it only if

- the request's ``response_uri`` is on the provider's own origin (so a provider cannot relay another site's login
  request through the wallet),
- its verification code is the one the provider announced, and
- it discloses no claim at all: the presentation proves holder-key possession only.

It then polls ``GET {op}/oidc/session/{session_id}`` until ``status`` is ``verified`` (with the bearer
``session_token``), or fails on any other status (``failed``, ``done``) or after ``expires_in``. With the token:
``GET {op}/oidc/account/consents`` (``list_consents``) and ``DELETE {op}/oidc/account/consents/{id}``
(``revoke_consent``). Errors::

    WalletError
    └── AccountSessionError   accountSession   (the provider's account session could not be opened safely)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

from foundation.http import Fetched
from wallet.errors import IssuerProtocolError, IssuerRefusedError, WalletError
from wallet.http import WalletHttp, check_url, error_detail, one_line
from wallet.oid4vp import PresentationPlan, PresentationRequest, PresentationResult

__all__ = [
    "ACCOUNT_CONSENTS_PATH",
    "SESSION_PATH",
    "AccountSession",
    "AccountSessionError",
    "ConsentsHttp",
    "PresentingHolder",
    "list_consents",
    "open_session",
    "revoke_consent",
]

SESSION_PATH: Final = "/oidc/session"
ACCOUNT_CONSENTS_PATH: Final = "/oidc/account/consents"
MAX_WAIT_S: Final = 300.0
"""The longest the wallet waits for the provider to confirm a session, whatever ``expires_in`` says."""

_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{1,512}")


class AccountSessionError(WalletError):
    """The provider's account session could not be opened safely (nothing more is sent)."""

    code = "accountSession"


class PresentingHolder(Protocol):
    """What an account session needs of the wallet's OpenID4VP holder (``wallet.oid4vp.Oid4vpHolder``)."""

    def resolve(self, url: str) -> PresentationRequest:
        """Fetch and check the request of an OpenID4VP URL."""
        ...

    def plan(self, request: PresentationRequest) -> PresentationPlan:
        """What would be presented for the request."""
        ...

    def present(self, request: PresentationRequest, plan: PresentationPlan) -> PresentationResult:
        """Present and answer the request."""
        ...


@dataclass(frozen=True)
class AccountSession:
    """An open account session at a provider: its base URL and the bearer session token."""

    op: str
    token: str


class ConsentsHttp(WalletHttp):
    """The wallet's JSON exchanges with a provider's account API (bearer-authenticated GET and DELETE)."""

    @staticmethod
    def _error(answer: Fetched, what: str) -> Exception:
        status = answer.status_code
        if 400 <= status < 600:
            error, detail = error_detail(answer)
            return IssuerRefusedError(f"{what}: the provider answered {status} {detail}", status=status, error=error)
        return WalletHttp._error(answer, what)

    def get_json_bearer(self, url: str, what: str, *, bearer: str | None) -> dict[str, Any]:
        """GET a JSON object (200), with a bearer token when given."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else None
        return self._answer(self._send("GET", url, what, headers=headers), what, (200,))

    def delete_json(self, url: str, what: str, *, bearer: str) -> dict[str, Any]:
        """DELETE with a bearer token and read a JSON object back (200)."""
        answer = self._send("DELETE", url, what, headers={"Authorization": f"Bearer {bearer}"})
        return self._answer(answer, what, (200,))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _string(answer: dict[str, Any], name: str, what: str, pattern: re.Pattern[str] = _TOKEN) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AccountSessionError(f"{what}: the answer has no valid {name!r}")
    return value


def open_session(
    op: str,
    holder: PresentingHolder,
    *,
    http: ConsentsHttp | None = None,
    progress: Callable[[str], None] = lambda message: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_interval: float = 1.0,
) -> AccountSession:
    """Open an account session at the provider ``op`` by presenting the identity credential (no claim disclosed)."""
    http = http or ConsentsHttp()
    op = check_url(op.rstrip("/"), "the provider URL", AccountSessionError)
    what = "opening an account session"
    started = http.post_json(f"{op}{SESSION_PATH}", {}, what, ok=(200, 201))
    session_id = _string(started, "session_id", what)
    request_url = started.get("request_url")
    if not isinstance(request_url, str) or len(request_url) > 8192:
        raise AccountSessionError(f"{what}: the answer has no valid 'request_url'")
    announced = _string(started, "verification_code", what, re.compile(r"[0-9]{4}"))
    expires_in = started.get("expires_in")
    wait = float(expires_in) if isinstance(expires_in, int) and not isinstance(expires_in, bool) else MAX_WAIT_S
    secret = started.get("secret")
    bearer = secret if isinstance(secret, str) and _TOKEN.fullmatch(secret) else None

    request = holder.resolve(request_url)
    if _origin(request.response_uri) != _origin(op):
        raise AccountSessionError(
            f"the session's presentation would go to {one_line(request.response_uri, 200)!r}, not to {op}; "
            "nothing was sent"
        )
    if request.verification_code != announced:
        raise AccountSessionError("the session's request does not carry the verification code the provider announced")
    plan = holder.plan(request)
    if any(selection.whole or selection.paths for selection in plan.selections):
        raise AccountSessionError(
            "the account session asks for claims (it may only ask to prove your key); nothing was sent"
        )
    progress(f"proving your wallet key to {op} (verification code {request.verification_code}; no claim is disclosed)")
    holder.present(request, plan)

    deadline = clock() + min(max(wait, 0.0), MAX_WAIT_S)
    status_url = f"{op}{SESSION_PATH}/{quote(session_id, safe='')}"
    while True:
        answer = http.get_json_bearer(status_url, "waiting for the account session", bearer=bearer)
        status = answer.get("status")
        if status == "verified":
            token = _string(answer, "session_token", "the account session")
            return AccountSession(op, token)
        if status != "pending":
            shown = one_line(status, 40) if isinstance(status, str) else "no status"
            raise AccountSessionError(f"the provider did not open the account session ({shown})")
        if clock() >= deadline:
            raise AccountSessionError("the provider did not confirm the account session in time")
        sleep(poll_interval)


def list_consents(session: AccountSession, *, http: ConsentsHttp | None = None) -> list[dict[str, Any]]:
    """The person's active consents at the provider (as ``GET /oidc/account/consents`` lists them)."""
    http = http or ConsentsHttp()
    what = "listing your consents"
    answer = http.get_json_bearer(f"{session.op}{ACCOUNT_CONSENTS_PATH}", what, bearer=session.token)
    listed = answer.get("consents")
    if not isinstance(listed, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str) for c in listed):
        raise IssuerProtocolError(f"{what}: the answer has no list of consents")
    return listed


def revoke_consent(session: AccountSession, consent_id: str, *, http: ConsentsHttp | None = None) -> dict[str, Any]:
    """Revoke one consent at the provider; the revoked consent as the provider reports it."""
    http = http or ConsentsHttp()
    url = f"{session.op}{ACCOUNT_CONSENTS_PATH}/{quote(consent_id, safe='')}"
    return http.delete_json(url, "revoking the consent", bearer=session.token)
