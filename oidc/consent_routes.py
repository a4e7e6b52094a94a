"""The account page and API: a person sees which relying parties receive which claims (and which are linked) and
revokes consents.

Routes (the person is the one of the account session, read through ``SessionReader``):

- ``GET /oidc/account``: the HTML page (Japanese or English, ``oidc.pages``), one entry per active consent with a
  revoke button; without a session, a 303 to the login that opens one (``SessionReader.start_session``).
- ``POST /oidc/account/consents/{id}/revoke``: the page's revoke form (``csrf_token``), then a 303 back to the page.
  The CSRF token is an HMAC of the person handle and a random cookie of this browser (``CSRF_COOKIE``), so a form
  from another site or another browser is refused (403) and nothing changes.
- ``GET /oidc/account/consents``: ``{"consents": [...]}`` (``Consent.to_json``).
- ``DELETE /oidc/account/consents/{id}``: revokes one; answers the revoked consent. Another person's consent id, or
  an unknown one, is 404.

The JSON API answers 401 (``WWW-Authenticate: Bearer``) without a session; errors are ``{"error",
"error_description"}`` and change nothing.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping
from typing import Final, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from foundation.web import NO_STORE, BodyTooLargeError, RequestBodyError, error_response, json_response, read_form
from oidc.consent import Consent, Consents
from oidc.context import OidcContext
from oidc.errors import OidcError
from oidc.pages import CsrfError, Locale, check_csrf, claim_label, csrf_token, locale, page, text

__all__ = ["ACCOUNT_PATH", "CSRF_COOKIE", "SessionReader", "routes"]

ACCOUNT_PATH: Final = "/oidc/account"
CSRF_COOKIE: Final = "xid_account_csrf"
"""The browser's random value the account page's CSRF tokens are bound to (HttpOnly, SameSite=Strict)."""
_REVOKE_PURPOSE: Final = "account-revoke"
_CONSENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionReader(Protocol):
    """The account session (the login part): who is signed in on this request, and how to sign in."""

    def person(self, request: Request) -> str | None:
        """The person handle of the request's account session (cookie or bearer token), None when there is none."""
        ...

    def start_session(self, return_to: str) -> str:
        """The URL (on the OP) that signs the browser in with a presentation and then returns to ``return_to``."""
        ...


_MESSAGES: Final[Mapping[str, Mapping[Locale, str]]] = {
    "title": {"ja": "同意の管理", "en": "Your consents"},
    "intro": {
        "ja": "あなたの同意により情報を受け取るサービスの一覧です。取り消すと、次回のログインで再び確認します。",
        "en": "These services receive information about you with your consent. Revoke one and you are asked again.",
    },
    "none": {"ja": "同意はありません。", "en": "You have given no consent."},
    "claims": {"ja": "提供する情報", "en": "Information released"},
    "no_claims": {"ja": "なし(ログインのみ)", "en": "none (login only)"},
    "linkage": {"ja": "連携を許可したサービス", "en": "May be linked with"},
    "granted": {"ja": "同意日時 (UTC)", "en": "Granted (UTC)"},
    "revoke": {"ja": "取り消す", "en": "Revoke"},
    "revoked": {"ja": "同意を取り消しました。", "en": "The consent was revoked."},
    "not_found": {"ja": "その同意は見つかりません。", "en": "No such consent."},
    "csrf": {
        "ja": "このフォームは無効です。ページを再読み込みしてください。",
        "en": "This form is not valid any more; reload the page and try again.",
    },
}


def routes(ctx: OidcContext, consents: Consents, sessions: SessionReader, *, csrf_key: bytes) -> list[BaseRoute]:
    """The account page and API routes (``csrf_key``: the HMAC key of the page's CSRF tokens, at least 32 bytes)."""
    if len(csrf_key) < 32:
        raise ValueError("the CSRF key must be at least 32 bytes")
    secure = ctx.base_url.startswith("https://")

    def browser_value(request: Request) -> str:
        value = request.cookies.get(CSRF_COOKIE, "")
        return value if re.fullmatch(r"[A-Za-z0-9_-]{43}", value) else ""

    def csrf_session(person: str, browser: str) -> str:
        return f"{person}\x00{browser}"

    def sign_in(request: Request) -> Response:
        return RedirectResponse(sessions.start_session(ctx.url(ACCOUNT_PATH)), status_code=303, headers=NO_STORE)

    async def account_page(request: Request) -> Response:
        person = await run_in_threadpool(sessions.person, request)
        if person is None:
            return sign_in(request)
        lang = locale(request)
        listed = await run_in_threadpool(consents.list, person)
        browser = browser_value(request) or secrets.token_urlsafe(32)
        token = csrf_token(csrf_key, csrf_session(person, browser), _REVOKE_PURPOSE)
        notice = f'<p role="status">{text(_MESSAGES, "revoked", lang)}</p>' if "revoked" in request.query_params else ""
        body = f"<h1>{text(_MESSAGES, 'title', lang)}</h1>{notice}<p>{text(_MESSAGES, 'intro', lang)}</p>"
        body += "".join(_entry(c, token, lang) for c in listed) or f"<p>{text(_MESSAGES, 'none', lang)}</p>"
        response = page(_MESSAGES["title"][lang], body, lang=lang, nonce=secrets.token_urlsafe(16))
        response.set_cookie(
            CSRF_COOKIE, browser, path=ACCOUNT_PATH, secure=secure, httponly=True, samesite="strict", max_age=86400
        )
        return response

    async def revoke_form(request: Request) -> Response:
        person = await run_in_threadpool(sessions.person, request)
        if person is None:
            return sign_in(request)
        lang = locale(request)

        def refused(message: str, status: int) -> Response:
            return page(_MESSAGES["title"][lang], _back(message), lang=lang, nonce=nonce, status=status)

        nonce = secrets.token_urlsafe(16)
        try:
            form = await read_form(request, ctx.settings.max_body_bytes)
            session = csrf_session(person, browser_value(request)) if browser_value(request) else None
            check_csrf(csrf_key, session, _REVOKE_PURPOSE, form.get("csrf_token"))
            await run_in_threadpool(consents.revoke, person, _consent_id(request))
        except CsrfError:
            return refused(_MESSAGES["csrf"][lang], 403)
        except RequestBodyError as error:
            return refused(error.message, 413 if isinstance(error, BodyTooLargeError) else 400)
        except OidcError as error:
            return refused(_MESSAGES["not_found"][lang] if error.status == 404 else error.message, error.status)
        return RedirectResponse(ctx.url(f"{ACCOUNT_PATH}?revoked=1"), status_code=303, headers=NO_STORE)

    async def list_api(request: Request) -> Response:
        person = await run_in_threadpool(sessions.person, request)
        if person is None:
            return _unauthenticated()
        listed = await run_in_threadpool(consents.list, person)
        return json_response({"consents": [c.to_json() for c in listed]})

    async def revoke_api(request: Request) -> Response:
        person = await run_in_threadpool(sessions.person, request)
        if person is None:
            return _unauthenticated()
        try:
            revoked = await run_in_threadpool(consents.revoke, person, _consent_id(request))
        except OidcError as error:
            return error_response(error.status, error.error, error.message)
        return json_response(revoked.to_json())

    return [
        Route(ACCOUNT_PATH, account_page, methods=["GET"]),
        Route(f"{ACCOUNT_PATH}/consents", list_api, methods=["GET"]),
        Route(f"{ACCOUNT_PATH}/consents/{{id}}", revoke_api, methods=["DELETE"]),
        Route(f"{ACCOUNT_PATH}/consents/{{id}}/revoke", revoke_form, methods=["POST"]),
    ]


def _consent_id(request: Request) -> str:
    """The path's consent id; a malformed one is simply unknown (404)."""
    from oidc.consent import UnknownConsentError

    value = str(request.path_params["id"])
    if not _CONSENT_ID.fullmatch(value):
        raise UnknownConsentError("no active consent of yours has this id")
    return value


def _unauthenticated() -> Response:
    return error_response(
        401,
        "invalid_token",
        "sign in first: open an account session by presenting your credential (POST /oidc/session)",
        headers={"WWW-Authenticate": 'Bearer realm="xid account"'},
    )


def _entry(consent: Consent, token: str, lang: Locale) -> str:
    claims = ", ".join(claim_label(name, lang) for name in consent.claims) or text(_MESSAGES, "no_claims", lang)
    parts = [
        f"<section><h2>{html.escape(consent.client_name)}</h2>",
        f"<p>{text(_MESSAGES, 'claims', lang)}: {claims}</p>",
    ]
    if consent.linkage:
        linked = ", ".join(html.escape(name) for name in consent.linkage_names)
        parts.append(f"<p>{text(_MESSAGES, 'linkage', lang)}: {linked}</p>")
    parts += [
        f"<p>{text(_MESSAGES, 'granted', lang)}: {consent.granted_at:%Y-%m-%d %H:%M}</p>",
        f'<form method="post" action="{ACCOUNT_PATH}/consents/{html.escape(consent.id)}/revoke">',
        f'<input type="hidden" name="csrf_token" value="{html.escape(token)}">',
        f'<button type="submit">{text(_MESSAGES, "revoke", lang)}</button></form></section>',
    ]
    return "".join(parts)


def _back(message: str) -> str:
    return f'<p class="error">{html.escape(message)}</p><p><a href="{ACCOUNT_PATH}">&larr; {ACCOUNT_PATH}</a></p>'
