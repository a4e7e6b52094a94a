"""The OIDC facade's composition: the provider, the login and the consent part wired to each other, and their routes.

``Provider`` implements ``Completion`` and takes the login flow; ``Login`` implements ``LoginFlow`` and takes the
provider and the consents; ``Consents`` implements ``ConsentGate`` and is the provider's linkage source. The account
page reads the login part's account sessions through ``AccountSessions``. ``xid serve`` registers the provider's
``authorization_code`` grant at the origin's one token endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.routing import BaseRoute

from foundation.web import bearer_token
from oidc import consent_routes, login_routes, provider_routes
from oidc.consent import Consents
from oidc.context import OidcContext
from oidc.login import Login, purge
from oidc.login_routes import account_cookie_name
from oidc.provider import Provider

__all__ = ["AccountSessions", "OidcParts", "routes", "wire"]


@dataclass
class OidcParts:
    """The wired parts of the facade (what ``routes`` mounts; housekeeping and the CLI use the same objects)."""

    ctx: OidcContext
    provider: Provider
    login: Login
    consents: Consents

    def housekeeping(self) -> int:
        """Delete what has expired: logins and account sessions, tokens, codes, requests, assertion ``jti``s."""
        return purge(self.ctx) + self.provider.purge()


class AccountSessions:
    """The account page's view of the login part's account sessions (``consent_routes.SessionReader``)."""

    def __init__(self, login: Login) -> None:
        self.login = login
        self.cookie = account_cookie_name(login.ctx.base_url.startswith("https:"))

    def person(self, request: Request) -> str | None:
        """The person handle of the request's session: a Bearer session token or the account cookie."""
        return self.login.session_person(bearer_token(request) or request.cookies.get(self.cookie))

    def start_session(self, return_to: str) -> str:
        """The login page that signs the browser in and returns to ``return_to`` (a URL or path on this OP)."""
        parts = urlsplit(return_to)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.login.start_session(path)


def wire(ctx: OidcContext) -> OidcParts:
    """Build the facade's parts over one context."""
    consents = Consents(ctx)
    provider = Provider(ctx, _Pending(), linkage=consents)
    login = Login(ctx, provider, consents)
    provider.login = login
    return OidcParts(ctx, provider, login, consents)


class _Pending:
    """The provider's login flow until ``wire`` gives it the real one (the two take each other)."""

    def start(self, request: object) -> str:
        raise RuntimeError("the OIDC facade is not wired")


def routes(parts: OidcParts) -> list[BaseRoute]:
    """Every route of the facade: the OP endpoints, the login page and session API, the account page and API."""
    sessions = AccountSessions(parts.login)
    return [
        *provider_routes.routes(parts.provider),
        *login_routes.routes(parts.login),
        *consent_routes.routes(parts.ctx, parts.consents, sessions, csrf_key=parts.login.csrf_key),
    ]
