"""The demo's sample website: an ordinary relying party that logs people in with xid through the OIDC facade.

It is written as any website would write it with Authlib's Starlette client (docs/relying-party.md shows the same
lines): discovery from the issuer's ``/.well-known/openid-configuration``, the authorization code flow with PKCE S256,
``state`` and ``nonce`` (Authlib makes and checks them), the ID token checked against the OP's JWKS (signature,
``iss``, ``aud``, ``exp``, ``nonce``, ``at_hash``), the scopes' claims from userinfo (OpenID Connect Core §5.4: with
an access token they come from there) under the same ``sub``, and the Digital Agency profile's scopes (``openid name
address birthdate gender``) by default. The home page shows the claims, HTML-escaped; nothing is stored but the
signed session cookie.
"""

from __future__ import annotations

import html
import json
import secrets
import warnings
from typing import Any, Final

import authlib.deprecate  # noqa: F401 (it turns its own warnings on; the filter below must come after it)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():  # Authlib 1.9 deprecates its httpx fallback for httpx2: nothing a website can change
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, OAuthError

__all__ = ["AGENCY_SCOPE", "SESSION_COOKIE", "sample_site_app"]

AGENCY_SCOPE: Final = "openid name address birthdate gender"
"""The scopes a website built for the Digital Agency's authentication app asks for (the basic 4 information)."""

SESSION_COOKIE: Final = "xid_sample_rp"
"""The sample site's session cookie (its own name: the OP may share the loopback host in the demo)."""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>xid sample shop</title></head>
<body><h1>xid sample shop</h1>{body}</body></html>"""
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=status, headers=_HEADERS)


def sample_site_app(
    issuer: str,
    client_id: str,
    client_secret: str,
    *,
    scope: str = AGENCY_SCOPE,
    acr_values: str | None = None,
    session_secret: str | None = None,
) -> Starlette:
    """The sample website, a client of the OP at ``issuer`` (``client_secret_basic``); routes /, /login, /callback,
    /logout."""
    # -- the integration (docs/relying-party.md shows these lines) ----------------------------------------------
    oauth = OAuth()
    oauth.register(
        "xid",
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_id=client_id,
        client_secret=client_secret,
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},
    )

    async def login(request: Request) -> Response:
        extra = {"acr_values": acr_values} if acr_values else {}
        return await oauth.xid.authorize_redirect(request, request.url_for("callback"), **extra)  # type: ignore[no-any-return]

    async def callback(request: Request) -> Response:
        try:
            token = await oauth.xid.authorize_access_token(request)  # state, PKCE, ID token: JWKS, iss, aud, nonce
            info = await oauth.xid.userinfo(token=token)  # the scopes' claims (OpenID Connect Core §5.4)
            if info["sub"] != token["userinfo"]["sub"]:
                raise OAuthError("invalid_token", "userinfo answered for another sub than the ID token's")
        except OAuthError as error:  # the OP's error redirect, a bad state, a bad ID token: show it, log in again
            return _page(f"<p>Login failed: {html.escape(f'{error.error}: {error.description}')}</p>", 400)
        request.session["claims"] = {**token["userinfo"], **info}  # the ID token's claims, then userinfo's
        return RedirectResponse(request.url_for("home"), status_code=303)

    # -- the website around it ----------------------------------------------------------------------------------
    async def home(request: Request) -> Response:
        claims: dict[str, Any] | None = request.session.get("claims")
        if claims is None:
            return _page('<p>You are not logged in.</p><p><a id="login" href="/login">Log in with xid</a></p>')
        shown = html.escape(json.dumps(claims, ensure_ascii=False, indent=2, sort_keys=True))
        return _page(
            "<p>You are logged in. The ID token and userinfo say:</p>"
            f'<pre id="claims">{shown}</pre><p><a id="logout" href="/logout">Log out</a></p>'
        )

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse(request.url_for("home"), status_code=303)

    return Starlette(
        routes=[
            Route("/", home, name="home"),
            Route("/login", login, name="login"),
            Route("/callback", callback, name="callback"),
            Route("/logout", logout, name="logout"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=session_secret or secrets.token_urlsafe(32),
                session_cookie=SESSION_COOKIE,
                same_site="lax",
                https_only=issuer.startswith("https://"),
            )
        ],
    )
