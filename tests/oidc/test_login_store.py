"""The login's storage on SQLite and PostgreSQL: single-use transitions, the browser binding, the facade's verifier
relying party, purge. The wallet's answer is recorded through the verifier's own ``accept`` (the HTTP path and the
real wallet are in test_login.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from did import Resolver
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import transaction
from oidc.context import OidcContext
from oidc.login import CLIENT_NAME, ForeignBrowserError, Login, UnknownLoginError, facade_client, logins, purge
from tests.oidc.login_support import FakeCompletion, FakeConsents, FakeSubjects, LoginWorld
from verifier import rps, transactions
from verifier.context import VerifierContext
from verifier.contracts import PresentedCredential, ValidatedResponse

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def engine(oidc_engine: Engine) -> Engine:
    """The shared OIDC test database (tests/oidc/conftest.py), on SQLite and on PostgreSQL."""
    return oidc_engine


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> LoginWorld:
    """A Login over a verifier context on the database (no HTTP server: the world's url is unused)."""
    verifier = VerifierContext(
        base_url=BASE,
        engine=engine,
        signer=SoftwareSigner.generate(KeyType.P256),
        x5c=(),
        did="did:web:127.0.0.1%3A8000",
        resolver=Resolver.standard(),
        status_source=lambda url: {},
        trusted_issuers=(),
        ledger_key=b"k" * 32,
    )
    subjects = FakeSubjects()
    ctx = OidcContext(
        base_url=BASE,
        engine=engine,
        verifier=verifier,
        subjects=subjects,
        identity_vct=BASE + "/vct/identity",
        keys_dir=tmp_path / "keys",
        ledger_key=b"k" * 32,
    )
    completion, consents = FakeCompletion(), FakeConsents()
    login = Login(ctx, completion, consents)
    return LoginWorld(BASE, tmp_path, None, ctx, login, completion, consents, subjects)  # type: ignore[arg-type]


def answer(world: LoginWorld, transaction_id: str, holder: str = "h" * 43) -> None:
    """What the verifier's response endpoint records for a valid presentation."""
    credential = PresentedCredential(
        query_id="identity",
        format="dc+sd-jwt",
        issuer=BASE,
        claims={"name": "山田\u3000太郎"},
        status_checked_at=None,
        holder=holder,
    )
    transactions.accept(world.ctx.verifier, transaction_id, ValidatedResponse((credential,), digest="ab" * 32))


def row(world: LoginWorld, login_id: str) -> dict[str, object]:
    """The login's row."""
    with transaction(world.ctx.engine) as conn:
        found = conn.execute(select(logins).where(logins.c.id == login_id)).first()
    assert found is not None
    return dict(found._mapping)


def test_the_facade_is_one_relying_party_registered_once(world: LoginWorld) -> None:
    first = facade_client(world.ctx)
    assert facade_client(world.ctx) == first
    assert first.name == CLIENT_NAME
    assert first.redirect_uris == (BASE + "/oidc/login/continue",)
    assert [rp.client_id for rp in rps.list_all(world.ctx.engine)] == [first.client_id]
    rps.remove(world.ctx.engine, first.client_id)  # the operator removed it: registered again on next use
    again = facade_client(world.ctx)
    assert again.client_id != first.client_id
    assert [rp.client_id for rp in rps.list_all(world.ctx.engine)] == [again.client_id]


def test_a_login_binds_to_the_first_browser_and_finishes_once(world: LoginWorld) -> None:
    request = world.authorization(scopes=("openid", "name"))
    login_id = world.login.start(request).rsplit("/", 1)[1]
    world.login.bind(login_id, "browser-a")
    world.login.bind(login_id, "browser-a")  # the same browser again: fine
    with pytest.raises(ForeignBrowserError):
        world.login.bind(login_id, "browser-b")
    with pytest.raises(ForeignBrowserError):
        world.login.check_browser(login_id, "browser-b")
    with pytest.raises(UnknownLoginError):
        world.login.bind("no-such-login", "browser-a")
    stored = row(world, login_id)
    assert stored["browser_sha256"] != "browser-a"  # only the cookie's hash is kept

    answer(world, str(stored["cross_tx"]))
    state = world.login.advance(login_id)
    assert state.status == "verified"
    assert state.person == world.subjects.pairwise("h" * 43, "xid:consent")
    assert world.login.advance(login_id).status == "verified"  # the result was read once; the state stays
    with pytest.raises(UnknownLoginError):
        world.login.finish(login_id)  # consent is missing: it does not finish without the person's answer
    url = world.login.finish(login_id, approved=True)
    assert url.startswith("https://shop.example.jp/cb?code=")
    assert row(world, login_id)["outcome"] is None  # the claims are gone from the login once it finished
    with pytest.raises(UnknownLoginError):
        world.login.finish(login_id, approved=True)
    assert list(world.completion.completed) == [request.id]


def test_expired_logins_and_sessions_are_purged(world: LoginWorld) -> None:
    world.login.start(world.authorization())
    api = world.login.start_api()
    answer(world, str(row(world, api["session_id"])["cross_tx"]))
    token = world.login.poll_session(api["session_id"], api["secret"])["session_token"]
    assert world.login.session_person(token) is not None
    assert purge(world.ctx) == 0
    clock = world.ctx.clock
    world.ctx.clock = lambda: clock() + timedelta(days=1)
    try:
        assert world.login.session_person(token) is None  # expired sessions are refused before they are purged
        assert purge(world.ctx) == 3  # two logins, one session
    finally:
        world.ctx.clock = clock
