"""The OP's HTTP endpoints: discovery, JWKS, authorization (+ PAR), userinfo, the login receipt and end-session.

Thin handlers over ``oidc.provider.Provider`` (the synchronous, database-bound core runs in the thread pool). The
token endpoint is the one of the origin (``issuer.oid4vci_routes``): xid registers ``Provider.token_grant`` there for
``grant_type=authorization_code``. Paths: ``GET /.well-known/openid-configuration``, ``GET /jwks``,
``GET|POST /authorize``, ``POST /par``, ``GET|POST /userinfo``, ``GET /oidc/receipt``, ``GET /end_session``.

Errors at ``/authorize`` before the client and its redirect_uri are known are shown on an error page (never
redirected, OIDC Core §3.1.2.6); later ones go to the redirect_uri with ``error``, ``state`` and ``iss``. While the
database is unavailable the browser pages (``/authorize``, ``/end_session``) answer an HTML 503
(``oidc.pages.unavailable_page``), the JSON endpoints the origin's JSON 503 ``temporarily_unavailable``.
"""

from __future__ import annotations

import html
from secrets import token_urlsafe

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from foundation.db import DatabaseUnavailableError
from foundation.web import (
    RateLimiter,
    RequestBodyError,
    bearer_token,
    client_key,
    error_response,
    json_response,
    read_form,
)
from oidc import keys
from oidc.errors import OidcError
from oidc.pages import Locale, locale, page, unavailable_page
from oidc.provider import InvalidAuthorizationRequestError, Provider

__all__ = ["routes"]

_METADATA_CACHE = {"Cache-Control": "public, max-age=300"}
_JWKS_CACHE = {"Cache-Control": f"public, max-age={keys.JWKS_MAX_AGE}"}

_TEXT = {
    "title": {"ja": "ログインを開始できません", "en": "The login cannot start"},
    "lead": {
        "ja": "このウェブサイトからのログイン要求に誤りがあります。ウェブサイトに戻ってやり直してください。",
        "en": "The website's login request is not valid. Go back to the website and try again.",
    },
    "signed_out": {"ja": "ログアウトしました", "en": "You are signed out"},
}


def _error_page(request: Request, error: OidcError, lang: Locale | None = None) -> Response:
    language = lang or locale(request)
    body = (
        f"<h1>{html.escape(_TEXT['title'][language])}</h1><p>{html.escape(_TEXT['lead'][language])}</p>"
        f'<p class="error">{html.escape(error.error)}: {html.escape(error.message)}</p>'
    )
    return page(_TEXT["title"][language], body, lang=language, nonce=token_urlsafe(16), status=error.status)


def _oidc_error(error: OidcError) -> Response:
    headers: dict[str, str] = {}
    if error.status == 401:
        scheme = "Basic" if error.error == "invalid_client" else "Bearer"
        headers["WWW-Authenticate"] = f'{scheme} error="{error.error}"'
    return error_response(error.status, error.error, error.message, headers=headers)


def routes(provider: Provider) -> list[BaseRoute]:
    """The OP routes of ``provider`` (the token endpoint is the origin's, see the module docstring)."""
    ctx = provider.ctx
    limit = ctx.settings.max_body_bytes
    limiter = RateLimiter(ctx.settings.token_rate_per_minute)

    async def discovery(request: Request) -> Response:
        return json_response(provider.discovery(), no_store=False, headers=_METADATA_CACHE)

    async def jwks(request: Request) -> Response:
        document = await run_in_threadpool(keys.jwks, ctx)
        return json_response(document, no_store=False, headers=_JWKS_CACHE)

    async def authorize(request: Request) -> Response:
        limiter.check(client_key(request))
        if request.method == "POST":
            try:
                params = await read_form(request, limit)
            except RequestBodyError as error:
                return _error_page(request, InvalidAuthorizationRequestError(error.message))
        else:
            repeated = [k for k in request.query_params if len(request.query_params.getlist(k)) > 1]
            if repeated:
                problem = InvalidAuthorizationRequestError(f"the parameter {repeated[0][:40]!r} is repeated")
                return _error_page(request, problem)
            params = dict(request.query_params)
        try:
            result = await run_in_threadpool(provider.authorize, params)
        except DatabaseUnavailableError:  # a browser page: an HTML 503, not the JSON one
            return unavailable_page(locale(request, params.get("ui_locales", "").split()), token_urlsafe(16))
        if result.error is not None:
            return _error_page(request, result.error, locale(request, params.get("ui_locales", "").split()))
        assert result.location is not None
        return RedirectResponse(result.location, status_code=303, headers={"Cache-Control": "no-store"})

    async def par(request: Request) -> Response:
        limiter.check(client_key(request))
        form = await read_form(request, limit)
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            answer = await run_in_threadpool(provider.push, form, headers)
        except OidcError as error:
            return _oidc_error(error)
        return json_response(answer, 201)

    async def userinfo(request: Request) -> Response:
        if "access_token" in request.query_params:
            return error_response(400, "invalid_request", "send the access token in the Authorization header")
        try:
            answer = await run_in_threadpool(provider.userinfo, bearer_token(request))
        except OidcError as error:
            return _oidc_error(error)
        return json_response(answer)

    async def receipt(request: Request) -> Response:
        try:
            answer = await run_in_threadpool(provider.receipt, bearer_token(request))
        except OidcError as error:
            return _oidc_error(error)
        return json_response(answer)

    async def end_session(request: Request) -> Response:
        try:
            target = await run_in_threadpool(provider.end_session, dict(request.query_params))
        except OidcError as error:
            return _error_page(request, error)
        except DatabaseUnavailableError:
            return unavailable_page(locale(request), token_urlsafe(16))
        if target is not None:
            return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        language = locale(request, request.query_params.get("ui_locales", "").split())
        title = _TEXT["signed_out"][language]
        return page(title, f"<h1>{html.escape(title)}</h1>", lang=language, nonce=token_urlsafe(16))

    return [
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/jwks", jwks, methods=["GET"]),
        Route("/authorize", authorize, methods=["GET", "POST"]),
        Route("/par", par, methods=["POST"]),
        Route("/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/oidc/receipt", receipt, methods=["GET"]),
        Route("/end_session", end_session, methods=["GET"]),
    ]
