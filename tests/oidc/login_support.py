"""The login tests' world: xid serve's whole app on uvicorn with the facade's login mounted, an enrolled wallet,
and small fakes of the provider (Completion), the consent part (ConsentGate) and the subject source."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from oidc.context import OidcContext
from oidc.contracts import AuthorizationRequest, LoginOutcome
from oidc.db import create_schema
from oidc.errors import OidcError
from oidc.login import Login
from oidc.login_routes import routes as login_routes
from tests.helpers import enroll_wallet, serve_system
from xid.cli import main
from xid.serve import Services

WALLET_PASSPHRASE = "correct horse battery staple"


class FakeSubjects:
    """Pairwise subjects as a hash of holder and sector; holders in ``unknown`` have no person."""

    def __init__(self) -> None:
        self.unknown: set[str] = set()

    def pairwise(self, holder: str, sector: str) -> str | None:
        """The fake pairwise subject."""
        if holder in self.unknown:
            return None
        return hashlib.sha256(f"{holder}|{sector}".encode()).hexdigest()


class FakeCompletion:
    """The provider's side for the login tests: pending requests, and what completed or failed."""

    def __init__(self) -> None:
        self.requests: dict[str, AuthorizationRequest] = {}
        self.completed: dict[str, LoginOutcome] = {}
        self.failed: dict[str, tuple[str, str]] = {}

    def pending(self, authorization_id: str) -> AuthorizationRequest:
        """The pending request."""
        if authorization_id not in self.requests or authorization_id in self.completed:
            raise OidcError("no such authorization")
        if authorization_id in self.failed:
            raise OidcError("the authorization ended")
        return self.requests[authorization_id]

    def complete(self, authorization_id: str, outcome: LoginOutcome) -> str:
        """Record the outcome; the RP redirect with a code."""
        request = self.pending(authorization_id)
        self.completed[authorization_id] = outcome
        return f"{request.redirect_uri}?" + urlencode({"code": "code-" + authorization_id, "state": request.state})

    def fail(self, authorization_id: str, error: str, description: str) -> str:
        """Record the failure; the RP redirect with the error."""
        request = self.pending(authorization_id)
        self.failed[authorization_id] = (error, description)
        return f"{request.redirect_uri}?" + urlencode({"error": error, "state": request.state})


@dataclass
class FakeConsents:
    """The consent part for the login tests: what was granted, per person and client."""

    granted: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    uses: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def missing(
        self, person: str, request: AuthorizationRequest, claims: Collection[str]
    ) -> tuple[Sequence[str], Sequence[str]]:
        """Claims and linkage not granted yet."""
        have = self.granted.get((person, request.client_id), set())
        return [c for c in claims if c not in have], [f"link:{t}" for t in request.linkage if f"link:{t}" not in have]

    def grant(
        self, person: str, request: AuthorizationRequest, claims: Collection[str], linkage: Collection[str]
    ) -> None:
        """Record the grant."""
        self.granted.setdefault((person, request.client_id), set()).update(claims, linkage)

    def used(self, person: str, request: AuthorizationRequest, claims: Collection[str]) -> None:
        """Record the use."""
        self.uses.append((person, request.client_id, tuple(sorted(claims))))


@dataclass
class LoginWorld:
    """xid serve's app on uvicorn with the facade's login mounted, an enrolled wallet and fake neighbours."""

    url: str
    home: Path
    services: Services
    ctx: OidcContext
    login: Login
    completion: FakeCompletion
    consents: FakeConsents
    subjects: FakeSubjects
    counter: int = 0

    def present(self, request_url: str) -> dict[str, Any]:
        """``xid wallet present --yes --json``: the wallet's report (verification code, redirect_uri)."""
        result = CliRunner().invoke(
            main,
            ["wallet", "present", request_url, "--yes", "--passphrase-stdin", "--json"],
            input=WALLET_PASSPHRASE + "\n",
            env={"XID_HOME": str(self.home)},
        )
        assert result.exit_code == 0, result.output
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def authorization(self, **changes: Any) -> AuthorizationRequest:
        """A fresh pending authorization request (registered with the fake completion)."""
        self.counter += 1
        now = self.ctx.clock()
        request = AuthorizationRequest(
            id=f"authz{self.counter}",
            client_id=f"client-{self.counter}",
            client_name="Example Shop",
            sector="shop.example.jp",
            redirect_uri="https://shop.example.jp/cb",
            state=f"state{self.counter}",
            scopes=("openid", "name"),
            claims={},
            acr_values=(),
            prompt=(),
            max_age=None,
            ui_locales=(),
            linkage=(),
            created_at=now,
            expires_at=now + timedelta(minutes=10),
        )
        request = replace(request, **changes)
        self.completion.requests[request.id] = request
        return request

    def with_settings(self, **verifier: Any) -> None:
        """Change the verifier's settings (e.g. a short request_ttl) for the rest of this world."""
        self.services.verifier.settings = replace(self.services.verifier.settings, **verifier)


@pytest.fixture(scope="module")
def login_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoginWorld]:
    """One enrolled wallet and the login mounted on the whole system (module scope: enrolling takes a while)."""
    home = tmp_path_factory.mktemp("login") / "home"
    with serve_system(home) as (url, services, app):
        enroll_wallet(home, url, WALLET_PASSPHRASE)
        subjects = FakeSubjects()
        ctx = OidcContext(
            base_url=url,
            engine=services.verifier.engine,
            verifier=services.verifier,
            subjects=subjects,
            identity_vct=services.verifier.url("/vct/identity"),
            keys_dir=home / "oidc-keys",
            ledger_key=services.verifier.ledger_key,
        )
        create_schema(ctx.engine)
        completion, consents = FakeCompletion(), FakeConsents()
        login = Login(ctx, completion, consents)
        app.router.routes[0:0] = login_routes(login)  # ahead of the served facade's own login (fakes around it)
        settings = services.verifier.settings
        yield LoginWorld(url, home, services, ctx, login, completion, consents, subjects)
        services.verifier.settings = settings
