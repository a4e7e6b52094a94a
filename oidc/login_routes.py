"""The login page and the session API: what a person sees between ``/authorize`` and the relying party's callback.

Browser routes (cookie-bound; every page through ``oidc.pages``: CSP with a nonce, no framing, no caching)::

    GET  /oidc/login/{id}           the login page: QR code, same-device link, verification code, live status;
                                    then the consent step, or the redirect to the RP / to return_to
    GET  /oidc/login/{id}/status    {"status", "reason"} (the polling fallback)
    GET  /oidc/login/{id}/events    the same as server-sent events
    POST /oidc/login/{id}/consent   approve / deny (CSRF)
    GET  /oidc/login/continue       where a same-device wallet returns the browser (``#response_code=...``)
    POST /oidc/login/continue       that code, posted by the continue page's script (CSRF)
    GET  /oidc/login/continue/refused, /unavailable   where that script goes when the code is refused / the
                                    database is unavailable

The login is bound on its first view to the browser's ``xid_browser`` cookie (HttpOnly, SameSite=Lax, Secure on
https; ``__Host-`` prefixed there); an account login ends with the ``xid_account`` session cookie. Session API for a
wallet without a browser: ``POST /oidc/session`` → ``{session_id, secret, request_url, verification_code,
expires_in}``; ``GET /oidc/session/{id}`` with ``Authorization: Bearer {secret}`` → pending / verified (with a bearer
``session_token``, once) / failed. While the database is unavailable the pages (the login page, the consent form,
the continue form) answer an HTML 503 a person can reload later (``oidc.pages.unavailable_page``); status, events and
the session API the origin's JSON 503 ``temporarily_unavailable``.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Mapping
from typing import Final
from urllib.parse import urlsplit

import orjson
import segno
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from foundation.db import DatabaseUnavailableError
from foundation.web import (
    NO_STORE,
    RateLimitedError,
    RateLimiter,
    RequestBodyError,
    bearer_token,
    client_key,
    error_response,
    json_response,
    read_form,
)
from oidc.claims import requested_claims
from oidc.contracts import AuthorizationRequest
from oidc.errors import OidcError
from oidc.login import CONTINUE_PATH, Login, LoginState
from oidc.pages import Locale, check_csrf, claim_label, csrf_token, locale, page, text, unavailable_page

__all__ = [
    "EVENT_POLL_S",
    "account_cookie_name",
    "account_person",
    "browser_cookie_name",
    "routes",
]

EVENT_POLL_S: Final = 1.0
"""How often the event stream looks at the login (seconds)."""
_KEEP_ALIVE_S: Final = 15.0
_CSP_ORIGIN: Final = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
_MAX_STREAM_S: Final = 15 * 60.0

MESSAGES: Final[Mapping[str, Mapping[Locale, str]]] = {
    "title": {"ja": "xIDでログイン", "en": "Log in with xID"},
    "account_title": {"ja": "xIDアカウントにログイン", "en": "Log in to your xID account"},
    "asks": {"ja": "{rp} があなたの確認を求めています。", "en": "{rp} asks you to log in."},
    "account_asks": {
        "ja": "同意の確認と取り消しのため、ウォレットで本人確認をしてください。",
        "en": "Prove it is you with your wallet to see and revoke your consents.",
    },
    "wants": {"ja": "求められている情報:", "en": "It asks for:"},
    "wants_nothing": {
        "ja": "情報の提供はありません (ウォレットの鍵の所持のみを証明します)。",
        "en": "No personal information: your wallet only proves it holds your key.",
    },
    "scan": {
        "ja": "スマートフォンのxIDウォレットでこのQRコードを読み取ってください。",
        "en": "Scan this QR code with the xID wallet on your phone.",
    },
    "qr_alt": {"ja": "ログイン要求のQRコード", "en": "QR code of the login request"},
    "same_device": {"ja": "この端末のウォレットで開く", "en": "Open the wallet on this device"},
    "code_label": {"ja": "確認コード", "en": "Verification code"},
    "same_code": {
        "ja": "このボタンで開いたウォレットには確認コード {code} が表示されます。",
        "en": "A wallet opened with this button shows the code {code}.",
    },
    "code_help": {
        "ja": (
            "ウォレットに表示される4桁の番号がこの番号と同じことを確かめてから提示してください。"
            "違う場合は提示しないでください。"
        ),
        "en": "Check that your wallet shows the same four digits before you present. If they differ, do not present.",
    },
    "waiting": {"ja": "ウォレットからの応答を待っています…", "en": "Waiting for your wallet…"},
    "expires": {"ja": "有効期限: {time} (UTC)", "en": "Expires at {time} (UTC)"},
    "continue": {"ja": "続ける", "en": "Continue"},
    "noscript": {
        "ja": "JavaScriptが無効です。ウォレットで提示した後、「続ける」を押してください。",
        "en": "JavaScript is off: after presenting with your wallet, press Continue.",
    },
    "consent_title": {"ja": "情報提供への同意", "en": "Your consent"},
    "consent_intro": {
        "ja": "{rp} に次の情報を提供します。よろしいですか?",
        "en": "{rp} will receive the following. Do you agree?",
    },
    "consent_linkage": {
        "ja": "次のサービスと共通の連携用識別子を共有します:",
        "en": "A shared linkage identifier with these services:",
    },
    "approve": {"ja": "同意して続ける", "en": "Agree and continue"},
    "deny": {"ja": "同意しない", "en": "Do not agree"},
    "back": {"ja": "{rp} に戻る", "en": "Return to {rp}"},
    "back_plain": {"ja": "元のサイトに戻る", "en": "Return to the website"},
    "retry": {"ja": "もう一度ログインする", "en": "Log in again"},
    "done": {"ja": "ログインは完了しました。", "en": "This login is complete."},
    "failed_title": {"ja": "ログインできませんでした", "en": "The login did not succeed"},
    "reason_expired": {
        "ja": "ログインの有効期限が切れました。もう一度お試しください。",
        "en": "The login expired. Please start again.",
    },
    "reason_refused": {
        "ja": "ウォレットで提示が拒否されました。",
        "en": "The presentation was declined in the wallet.",
    },
    "reason_rejected": {
        "ja": "ウォレットの提示を確認できませんでした (証明書が無効か、失効しています)。",
        "en": "The wallet's presentation could not be verified (the credential is invalid or revoked).",
    },
    "reason_unknown_holder": {
        "ja": "このウォレットの本人が登録されていません。先にマイナンバーカードでウォレットを登録してください。",
        "en": "No person is enrolled for this wallet. Enroll your My Number Card in the wallet first.",
    },
    "reason_denied": {"ja": "情報提供に同意されませんでした。", "en": "You did not consent."},
    "reason_closed": {"ja": "このログインは終了しました。", "en": "This login has ended."},
    "foreign": {
        "ja": (
            "このログインは別のブラウザで開始されました。"
            "ログインを始めたブラウザで続けるか、サイトから始め直してください。"
        ),
        "en": "This login was started in another browser. Continue in that browser, or start again from the website.",
    },
    "unknown": {
        "ja": "このログインは見つかりません。サイトから始め直してください。",
        "en": "This login is unknown. Please start again from the website.",
    },
    "continue_title": {"ja": "ログインを続けています", "en": "Continuing your login"},
    "continue_noscript": {
        "ja": "続けるにはJavaScriptが必要です。元のタブに戻ってください。",
        "en": "JavaScript is needed to continue here. Please go back to the tab where you started.",
    },
}


def browser_cookie_name(secure: bool) -> str:
    """The login-binding cookie's name (``__Host-`` prefixed on https)."""
    return "__Host-xid_browser" if secure else "xid_browser"


def account_cookie_name(secure: bool) -> str:
    """The account session cookie's name (``__Host-`` prefixed on https)."""
    return "__Host-xid_account" if secure else "xid_account"


async def account_person(login: Login, request: Request) -> str | None:
    """The person of the request's account session: the ``xid_account`` cookie or a Bearer session token."""
    token = bearer_token(request) or request.cookies.get(account_cookie_name(login.ctx.base_url.startswith("https:")))
    return await run_in_threadpool(login.session_person, token)


def _t(key: str, lang: Locale, **values: str) -> str:
    """One message, HTML-escaped, with escaped values filled in."""
    return text(MESSAGES, key, lang).format(**{k: html.escape(v) for k, v in values.items()})


def _nonce(login: Login) -> str:
    return login.ctx.token(16)


def _claim_list(claims: tuple[str, ...], lang: Locale) -> str:
    items = "".join(f"<li>{claim_label(c, lang)}</li>" for c in claims)
    return f"<ul class=claims>{items}</ul>"


def routes(login: Login) -> list[BaseRoute]:
    """The login page's and the session API's routes (paths in the module docstring)."""
    ctx = login.ctx
    secure = ctx.base_url.startswith("https:")
    browser_cookie = browser_cookie_name(secure)
    account_cookie = account_cookie_name(secure)
    limiter = RateLimiter(ctx.settings.login_rate_per_minute)
    limit = ctx.settings.max_body_bytes

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")

    def message_page(request: Request, key: str, status: int, lang: Locale, link: str = "") -> Response:
        body = f"<h1>{_t('failed_title', lang)}</h1><p class=error>{_t(key, lang)}</p>{link}"
        return page(MESSAGES["failed_title"][lang], body, lang=lang, nonce=_nonce(login), status=status)

    def error_page(request: Request, error: OidcError, lang: Locale) -> Response:
        key = "foreign" if error.code == "oidcForeignBrowser" else "unknown"
        if error.code == "oidcCsrf":
            key = "reason_closed"
        return message_page(request, key, error.status, lang)

    def client_name(state: LoginState) -> str | None:
        if state.authorization_id is None:
            return None
        try:
            return login.completion.pending(state.authorization_id).client_name
        except OidcError:
            return None

    def login_page(state: LoginState, lang: Locale, rp_name: str | None, claims: tuple[str, ...]) -> Response:
        nonce = _nonce(login)
        here = ctx.url(f"/oidc/login/{state.id}")
        if rp_name is None:
            title, intro = MESSAGES["account_title"][lang], _t("account_asks", lang)
        else:
            title, intro = MESSAGES["title"][lang], _t("asks", lang, rp=rp_name)
        wants = (
            f"<p>{_t('wants', lang)}</p>{_claim_list(claims, lang)}"
            if claims
            else f"<p>{_t('wants_nothing', lang)}</p>"
        )
        qr = ""
        if state.cross_url:
            image = segno.make(state.cross_url, error="m").svg_data_uri(scale=4, border=2)
            qr = (
                f'<figure id=qr data-request-url="{html.escape(state.cross_url)}"><img class=qr src="{image}" '
                f'alt="{_t("qr_alt", lang)}"><figcaption>{_t("scan", lang)}</figcaption></figure>'
            )
        same = ""
        if state.same_url:
            same = (
                f'<p><a id=same-device class=button href="{html.escape(state.same_url)}">{_t("same_device", lang)}</a>'
                f"<br><small id=same-device-code>"
                f"{_t('same_code', lang, code=state.same_verification_code or '')}</small></p>"
            )
        expires = state.presentation_expires_at.strftime("%H:%M:%S")
        body = (
            f"<h1>{html.escape(title)}</h1><p>{intro}</p>{wants}{qr}{same}"
            f"<section aria-labelledby=code-label><h2 id=code-label>{_t('code_label', lang)}</h2>"
            f"<p id=verification-code class=code>{html.escape(state.verification_code)}</p>"
            f"<p>{_t('code_help', lang)}</p></section>"
            f"<p id=status role=status aria-live=polite>{_t('waiting', lang)}</p>"
            f"<p><small>{_t('expires', lang, time=expires)}</small></p>"
            f'<noscript><meta http-equiv="refresh" content="5"><p>{_t("noscript", lang)}</p>'
            f'<p><a class=button href="{html.escape(here)}">{_t("continue", lang)}</a></p></noscript>'
            f'<script nonce="{nonce}">{_status_script(here)}</script>'
        )
        return page(title, body, lang=lang, nonce=nonce)

    def consent_page(
        state: LoginState,
        browser: str,
        lang: Locale,
        request_: AuthorizationRequest,
        claims: tuple[str, ...],
        linkage: tuple[str, ...],
    ) -> Response:
        rp_name, redirect_uri = request_.client_name, request_.redirect_uri
        nonce = _nonce(login)
        token = csrf_token(login.csrf_key, browser, f"consent:{state.id}")
        shared = ""
        if linkage:
            names = "".join(f"<li>{html.escape(name)}</li>" for name in linkage)
            shared = f"<p>{_t('consent_linkage', lang)}</p><ul class=linkage>{names}</ul>"
        action = html.escape(ctx.url(f"/oidc/login/{state.id}/consent"))
        body = (
            f"<h1>{_t('consent_title', lang)}</h1><p>{_t('consent_intro', lang, rp=rp_name)}</p>"
            f"{_claim_list(claims, lang) if claims else ''}{shared}"
            f'<form method=post action="{action}"><input type=hidden name=csrf_token value="{token}">'
            f"<button id=approve name=decision value=approve>{_t('approve', lang)}</button> "
            f"<button id=deny name=decision value=deny class=secondary>{_t('deny', lang)}</button></form>"
        )
        return page(MESSAGES["consent_title"][lang], body, lang=lang, nonce=nonce, form_action=[_origin(redirect_uri)])

    def ended_page(state: LoginState, lang: Locale, rp_name: str | None) -> Response:
        if state.status == "done":
            body = f"<h1>{_t('title', lang)}</h1><p>{_t('done', lang)}</p>"
            return page(MESSAGES["title"][lang], body, lang=lang, nonce=_nonce(login))
        link = ""
        if state.finish_url and state.kind == "authorize":
            label = _t("back", lang, rp=rp_name) if rp_name else _t("back_plain", lang)
            link = f'<p><a id=back class=button href="{html.escape(state.finish_url)}">{label}</a></p>'
        elif state.kind == "account" and state.return_to:
            link = (
                f'<p><a id=back class=button href="{html.escape(ctx.url(state.return_to))}">{_t("retry", lang)}</a></p>'
            )
        reason = f"reason_{state.reason}" if f"reason_{state.reason}" in MESSAGES else "reason_closed"
        status = 410 if state.reason == "expired" else 403
        body = f"<h1>{_t('failed_title', lang)}</h1><p id=reason class=error>{_t(reason, lang)}</p>{link}"
        return page(MESSAGES["failed_title"][lang], body, lang=lang, nonce=_nonce(login), status=status)

    def show(request: Request, login_id: str, browser: str) -> Response:
        """The login's page as it stands (run in the thread pool)."""
        state = login.advance(login_id)
        lang = locale(request)
        if state.authorization_id is not None:
            try:
                pending = login.completion.pending(state.authorization_id)
                lang = locale(request, pending.ui_locales)
                rp_name: str | None = pending.client_name
                claims = requested_claims(pending)
            except OidcError:  # the authorization ended elsewhere (expired, or finished): so does the login
                login.close(login_id)
                return ended_page(login.state(login_id), lang, None)
        else:
            rp_name, claims = None, ()
        if state.status == "pending":
            return login_page(state, lang, rp_name, claims)
        if state.status == "verified" and state.kind == "authorize":
            request_, missing, linkage = login.pending_consent(login_id)
            if missing or linkage:
                return consent_page(state, browser, lang, request_, missing, linkage)
            return RedirectResponse(login.finish(login_id), status_code=303, headers=NO_STORE)
        if state.status == "verified":
            token, to = login.open_session(login_id)
            response = RedirectResponse(ctx.url(to), status_code=303, headers=NO_STORE)
            set_cookie(response, account_cookie, token, int(ctx.settings.session_ttl.total_seconds()))
            return response
        return ended_page(login.state(login_id), lang, rp_name or client_name(state))

    async def login_view(request: Request) -> Response:
        login_id = request.path_params["id"]
        browser = request.cookies.get(browser_cookie)
        fresh = browser is None or len(browser) > 100
        if fresh:
            browser = ctx.token(32)
        assert browser is not None
        lang = locale(request)
        try:
            await run_in_threadpool(login.bind, login_id, browser)
            response = await run_in_threadpool(show, request, login_id, browser)
        except OidcError as error:
            response = error_page(request, error, lang)
        except DatabaseUnavailableError:  # a page, not the JSON 503: the person reloads it later
            response = unavailable_page(lang, _nonce(login))
        if fresh:
            set_cookie(response, browser_cookie, browser, int(ctx.settings.authorization_ttl.total_seconds()) * 6)
        return response

    async def status_view(request: Request) -> Response:
        login_id = request.path_params["id"]
        try:
            await run_in_threadpool(login.check_browser, login_id, request.cookies.get(browser_cookie))
            state = await run_in_threadpool(login.advance, login_id)
        except OidcError as error:
            return error_response(error.status, error.error, error.message)
        return json_response({"status": state.status, "reason": state.reason})

    async def events_view(request: Request) -> Response:
        login_id = request.path_params["id"]
        try:
            await run_in_threadpool(login.check_browser, login_id, request.cookies.get(browser_cookie))
            first = await run_in_threadpool(login.advance, login_id)
        except OidcError as error:
            return error_response(error.status, error.error, error.message)

        async def stream() -> AsyncIterator[bytes]:
            state, last, quiet, elapsed = first, b"", 0.0, 0.0
            while True:
                report = orjson.dumps({"status": state.status, "reason": state.reason})
                if report != last:
                    yield b"event: status\ndata: " + report + b"\n\n"
                    last, quiet = report, 0.0
                elif quiet >= _KEEP_ALIVE_S:
                    yield b": keep-alive\n\n"
                    quiet = 0.0
                if state.status != "pending" or elapsed >= _MAX_STREAM_S:
                    return
                await asyncio.sleep(EVENT_POLL_S)
                quiet += EVENT_POLL_S
                elapsed += EVENT_POLL_S
                try:
                    state = await run_in_threadpool(login.advance, login_id)
                except (OidcError, DatabaseUnavailableError):  # the stream ends; the page falls back to polling
                    return

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={**NO_STORE, "X-Accel-Buffering": "no"}
        )

    async def consent_post(request: Request) -> Response:
        login_id = request.path_params["id"]
        browser = request.cookies.get(browser_cookie)
        lang = locale(request)
        try:
            form = await read_form(request, limit)
            await run_in_threadpool(login.check_browser, login_id, browser)
            check_csrf(login.csrf_key, browser, f"consent:{login_id}", form.get("csrf_token"))
            decision = form.get("decision")
            if decision not in ("approve", "deny"):
                return message_page(request, "reason_closed", 400, lang)
            url = await run_in_threadpool(login.finish, login_id, approved=decision == "approve")
        except RequestBodyError:
            return message_page(request, "reason_closed", 400, lang)
        except DatabaseUnavailableError:
            return unavailable_page(lang, _nonce(login))
        except OidcError as error:
            return error_page(request, error, lang)
        return RedirectResponse(url, status_code=303, headers=NO_STORE)

    async def continue_view(request: Request) -> Response:
        lang = locale(request)
        browser = request.cookies.get(browser_cookie)
        if browser is None:
            return message_page(request, "foreign", 403, lang)
        nonce = _nonce(login)
        token = csrf_token(login.csrf_key, browser, "continue")
        action = html.escape(ctx.url(CONTINUE_PATH))
        body = (
            f"<h1>{_t('continue_title', lang)}</h1>"
            f'<form id=continue method=post action="{action}"><input type=hidden name=csrf_token value="{token}">'
            f"<input type=hidden name=response_code id=response-code></form>"
            f"<noscript><p>{_t('continue_noscript', lang)}</p></noscript>"
            f'<script nonce="{nonce}">{_CONTINUE_SCRIPT}</script>'
        )
        return page(MESSAGES["continue_title"][lang], body, lang=lang, nonce=nonce)

    async def continue_post(request: Request) -> Response:
        lang = locale(request)
        browser = request.cookies.get(browser_cookie)
        try:
            limiter.check(client_key(request))
            form = await read_form(request, limit)
            check_csrf(login.csrf_key, browser, "continue", form.get("csrf_token"))
            login_id = await run_in_threadpool(login.redeem, browser, form.get("response_code", ""))
        except (RequestBodyError, RateLimitedError):
            return message_page(request, "reason_closed", 400, lang)
        except DatabaseUnavailableError:
            if "application/json" in request.headers.get("accept", ""):  # the script navigates to the 503 page
                unavailable = ctx.url(CONTINUE_PATH + "/unavailable")
                return json_response({"next": unavailable}, 503, headers={"Retry-After": "30"})
            return unavailable_page(lang, _nonce(login))
        except OidcError as error:
            if "application/json" in request.headers.get("accept", ""):
                return json_response({"next": ctx.url(CONTINUE_PATH + "/refused")}, 403)
            return error_page(request, error, lang)
        next_url = ctx.url(f"/oidc/login/{login_id}")
        if "application/json" in request.headers.get("accept", ""):  # the continue page's script: it navigates
            return json_response({"next": next_url})
        return RedirectResponse(next_url, status_code=303, headers=NO_STORE)

    async def continue_refused(request: Request) -> Response:
        return message_page(request, "foreign", 403, locale(request))

    async def continue_unavailable(request: Request) -> Response:
        return unavailable_page(locale(request), _nonce(login))

    async def session_create(request: Request) -> Response:
        try:
            limiter.check(client_key(request))
            if int(request.headers.get("content-length") or 0) > limit:
                raise RequestBodyError("the body is too large")
            started = await run_in_threadpool(login.start_api)
        except RateLimitedError as error:
            return error_response(429, "slow_down", error.message)
        except RequestBodyError as error:
            return error_response(400, "invalid_request", error.message)
        return json_response(started, 201)

    async def session_poll(request: Request) -> Response:
        try:
            report = await run_in_threadpool(login.poll_session, request.path_params["id"], bearer_token(request))
        except OidcError as error:
            headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if error.status == 401 else None
            return error_response(error.status, error.error, error.message, headers=headers)
        return json_response(report)

    return [
        Route(CONTINUE_PATH, continue_view, methods=["GET"]),
        Route(CONTINUE_PATH, continue_post, methods=["POST"]),
        Route(CONTINUE_PATH + "/refused", continue_refused, methods=["GET"]),
        Route(CONTINUE_PATH + "/unavailable", continue_unavailable, methods=["GET"]),
        Route("/oidc/login/{id}", login_view, methods=["GET"]),
        Route("/oidc/login/{id}/status", status_view, methods=["GET"]),
        Route("/oidc/login/{id}/events", events_view, methods=["GET"]),
        Route("/oidc/login/{id}/consent", consent_post, methods=["POST"]),
        Route("/oidc/session", session_create, methods=["POST"]),
        Route("/oidc/session/{id}", session_poll, methods=["GET"]),
    ]


def _status_script(here: str) -> str:
    """Live status: server-sent events, polling when they fail; the page reloads when the login moves on."""
    target = orjson.dumps(here).decode("utf-8").replace("<", "\\u003c")
    return (
        f"(function(){{var u={target},done=false;"
        "function go(){if(!done){done=true;location.replace(u);}}"
        "function poll(){setInterval(function(){fetch(u+'/status',{credentials:'same-origin'})"
        ".then(function(r){return r.json();}).then(function(d){if(d.status!=='pending')go();})"
        ".catch(function(){});},2000);}"
        "if(window.EventSource){var e=new EventSource(u+'/events');"
        "e.addEventListener('status',function(m){var d=JSON.parse(m.data);if(d.status!=='pending'){e.close();go();}});"
        "e.onerror=function(){e.close();if(!done)poll();};}else{poll();}})();"
    )


_CONTINUE_SCRIPT: Final = (
    "(function(){var m=/[#&]response_code=([^&]+)/.exec(location.hash);if(!m)return;"
    "var f=document.getElementById('continue');document.getElementById('response-code').value=decodeURIComponent(m[1]);"
    "history.replaceState(null,'',location.pathname);"
    "fetch(f.action,{method:'POST',body:new URLSearchParams(new FormData(f)),credentials:'same-origin',"
    "headers:{'Accept':'application/json'}}).then(function(r){return r.json();})"
    ".then(function(d){location.replace(d.next);});})();"
)
"""The continue page's script: the response code from the fragment, posted with fetch (a form post could not be
redirected on to the relying party under ``form-action 'self'``), then a fresh navigation to the login."""


def _origin(url: str) -> str:
    """The origin of a URL (for ``form-action``); ``'none'`` when it could break out of the CSP source list."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _CSP_ORIGIN.fullmatch(origin) else "'none'"
