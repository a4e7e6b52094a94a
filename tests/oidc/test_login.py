"""The login page over the whole system: a real wallet (``xid wallet present``) answers the facade's presentations.

Each test starts an authorization through ``Login.start`` (the provider and the consent part are small fakes from
tests/oidc/login_support.py), drives the page with a cookie-keeping HTTP client like a browser, and checks where the
browser is sent: the RP's redirect with a code, or an error; the login's refusals change nothing they must not.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oidc.contracts import CONSENT_SECTOR
from oidc.login import InvalidReturnError, logins, purge
from oidc.login_routes import account_cookie_name, browser_cookie_name
from tests.oidc.login_support import LoginWorld
from verifier import transactions

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def browser(world: LoginWorld) -> httpx.Client:
    """A browser: keeps cookies, does not follow redirects (the tests look at each one)."""
    return httpx.Client(base_url=world.url, timeout=30, follow_redirects=False)


def page_value(page: str, pattern: str) -> str:
    """One value from a page (a regex group), unescaped."""
    found = re.search(pattern, page)
    assert found is not None, f"{pattern!r} not in the page"
    return html.unescape(found.group(1))


def cross_url(page: str) -> str:
    """The QR code's request URL (the figure's data attribute)."""
    return page_value(page, r'data-request-url="([^"]+)"')


def same_url(page: str) -> str:
    """The same-device button's request URL."""
    return page_value(page, r'id=same-device class=button href="([^"]+)"')


def code_of(page: str) -> str:
    """The verification code the page shows."""
    return page_value(page, r"id=verification-code class=code>(\d{4})<")


def csrf_of(page: str) -> str:
    """The CSRF token of the page's form."""
    return page_value(page, r'name=csrf_token value="([^"]+)"')


def test_cross_device_login_consent_and_code(login_world: LoginWorld) -> None:
    world = login_world
    request = world.authorization(scopes=("openid", "name", "address"), client_id="client-shop")
    url = world.login.start(request)
    assert url.startswith(world.url + "/oidc/login/")
    with browser(world) as me:
        first = me.get(url)
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        assert "httponly" in cookie.lower()
        assert "samesite=lax" in cookie.lower()
        csp = first.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'nonce-" in csp
        assert first.headers["x-frame-options"] == "DENY"
        assert first.headers["cache-control"] == "no-store"
        page = first.text
        assert "Example Shop" in page
        assert "Full name" in page
        assert "Address" in page
        assert '<img class=qr src="data:image/svg+xml' in page
        assert same_url(page).startswith("openid4vp://")
        assert cross_url(page) != same_url(page)  # two transactions: the QR one and the same-device one
        nonce = page_value(page, r'<script nonce="([^"]+)"')
        assert f"'nonce-{nonce}'" in csp

        assert me.get(url + "/status").json() == {"status": "pending", "reason": None}
        report = world.present(cross_url(page))
        assert report["verification_code"] == code_of(page)
        assert report["redirect_uri"] is None  # cross-device: the page continues by itself
        assert sorted(report["disclosed"]["identity"]) == [["address"], ["name"]]  # what the RP asked, nothing else
        assert me.get(url + "/status").json()["status"] == "verified"

        consent = me.get(url)
        assert consent.status_code == 200
        assert "name=decision value=approve" in consent.text
        assert "Full name" in consent.text
        forged = me.post(url + "/consent", data={"decision": "approve", "csrf_token": "x" * 43})
        assert forged.status_code == 403
        missing = me.post(url + "/consent", data={"decision": "approve"})
        assert missing.status_code == 403
        assert request.id not in world.completion.completed  # refused posts changed nothing

        done = me.post(url + "/consent", data={"decision": "approve", "csrf_token": csrf_of(consent.text)})
        assert done.status_code == 303
        target = urlsplit(done.headers["location"])
        assert target.netloc == "shop.example.jp"
        assert parse_qs(target.query) == {"code": [f"code-{request.id}"], "state": [request.state]}
        outcome = world.completion.completed[request.id]
        assert outcome.claims["name"] == "山田\u3000太郎"
        assert "address" in outcome.claims
        assert "birthdate" not in outcome.claims
        assert "sex" not in outcome.claims
        assert outcome.person == world.subjects.pairwise(outcome.holder, CONSENT_SECTOR)
        assert not outcome.same_device
        assert len(outcome.presentation_digest) == 64
        assert world.consents.granted[(outcome.person, "client-shop")] >= {"name", "address"}
        assert (outcome.person, "client-shop", ("address", "name")) in world.consents.uses  # the release ledgered
        assert me.get(url + "/status").json()["status"] == "done"
        assert "complete" in me.get(url).text  # a reload does not send a second code

        again = world.authorization(
            scopes=("openid", "name"), client_id="client-shop"
        )  # consent stands: no consent step the next time
        url = world.login.start(again)
        report = world.present(cross_url(me.get(url).text))
        finished = me.get(url)
        assert finished.status_code == 303
        assert "code=code-" in finished.headers["location"]


def test_the_consent_step_can_be_declined(login_world: LoginWorld) -> None:
    world = login_world
    request = world.authorization(scopes=("openid", "birthdate"), linkage=("client-bank",))
    url = world.login.start(request)
    with browser(world) as me:
        world.present(cross_url(me.get(url).text))
        consent = me.get(url)
        assert "Date of birth" in consent.text
        assert "link:client-bank" in consent.text
        denied = me.post(url + "/consent", data={"decision": "deny", "csrf_token": csrf_of(consent.text)})
        assert denied.status_code == 303
        assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
        assert world.completion.failed[request.id][0] == "access_denied"
        assert request.id not in world.completion.completed


def test_same_device_continues_only_in_the_browser_that_started(login_world: LoginWorld) -> None:
    world = login_world
    request = world.authorization()
    url = world.login.start(request)
    with browser(world) as me, browser(world) as other:
        report = world.present(same_url(me.get(url).text))
        back = report["redirect_uri"]
        assert back.startswith(world.url + "/oidc/login/continue#response_code=")
        code = back.split("#response_code=", 1)[1]

        assert other.get(url).status_code == 403  # the login page itself is bound to the first browser
        assert "another browser" in other.get(url).text
        assert other.get(url + "/status").status_code == 403
        with browser(world) as fresh:  # no cookie at all: refused before anything
            assert fresh.get("/oidc/login/continue").status_code == 403
        other_login = world.login.start(world.authorization())
        assert other.get(other_login).status_code == 200  # the other browser has a pending login of its own
        continue_page = other.get("/oidc/login/continue")
        refused = other.post(
            "/oidc/login/continue", data={"response_code": code, "csrf_token": csrf_of(continue_page.text)}
        )
        assert refused.status_code == 403
        assert request.id not in world.completion.completed
        assert world.completion.failed[request.id][0] == "access_denied"  # the relayed answer ended that login
        assert other.get(other_login + "/status").json()["status"] == "pending"

    request = world.authorization()
    url = world.login.start(request)
    with browser(world) as me:
        back = world.present(same_url(me.get(url).text))["redirect_uri"]
        code = back.split("#response_code=", 1)[1]
        continue_page = me.get("/oidc/login/continue")
        assert continue_page.status_code == 200
        assert "location.hash" in continue_page.text
        no_csrf = me.post("/oidc/login/continue", data={"response_code": code})
        assert no_csrf.status_code == 403
        resumed = me.post(
            "/oidc/login/continue", data={"response_code": code, "csrf_token": csrf_of(continue_page.text)}
        )
        assert resumed.status_code == 303
        assert resumed.headers["location"] == url
        consent = me.get(url)
        done = me.post(url + "/consent", data={"decision": "approve", "csrf_token": csrf_of(consent.text)})
        assert done.status_code == 303
        assert "code=code-" in done.headers["location"]
        assert world.completion.completed[request.id].same_device


def test_a_wallet_answering_another_transaction_does_not_complete_this_one(login_world: LoginWorld) -> None:
    world = login_world
    mine, theirs = world.authorization(), world.authorization()
    mine_url, theirs_url = world.login.start(mine), world.login.start(theirs)
    with browser(world) as me, browser(world) as them:
        me.get(mine_url)
        world.present(cross_url(them.get(theirs_url).text))
        assert me.get(mine_url + "/status").json()["status"] == "pending"
        assert them.get(theirs_url + "/status").json()["status"] == "verified"
        # a same-device answer to their login, brought back to my browser (which has a pending login)
        third = world.login.start(world.authorization())
        back = world.present(same_url(them.get(third).text))["redirect_uri"]
        continue_page = me.get("/oidc/login/continue")
        code = back.split("#response_code=", 1)[1]
        refused = me.post(
            "/oidc/login/continue", data={"response_code": code, "csrf_token": csrf_of(continue_page.text)}
        )
        assert refused.status_code == 403
        assert me.get(mine_url + "/status").json()["status"] == "pending"
        assert mine.id not in world.completion.completed
        assert mine.id not in world.completion.failed


def test_an_expired_login_says_so_and_ends_the_authorization(login_world: LoginWorld) -> None:
    world = login_world
    world.with_settings(request_ttl=timedelta(0))  # the presentation requests expire as they are made
    try:
        request = world.authorization()
        url = world.login.start(request)
    finally:
        world.with_settings(request_ttl=timedelta(minutes=5))
    with browser(world) as me:
        expired = me.get(url, headers={"accept-language": "ja"})
        assert expired.status_code == 410
        assert "有効期限が切れました" in expired.text
        back = page_value(expired.text, r'id=back class=button href="([^"]+)"')
        assert parse_qs(urlsplit(back).query)["error"] == ["access_denied"]
        assert world.completion.failed[request.id] == ("access_denied", "the login expired before the wallet answered")
        assert me.get(url + "/status").json() == {"status": "failed", "reason": "expired"}


def test_refusal_and_unknown_holder_messages(login_world: LoginWorld) -> None:
    world = login_world
    request = world.authorization()
    url = world.login.start(request)
    with browser(world) as me:
        me.get(url)
        (row,) = _rows(world, request_id=url.rsplit("/", 1)[1])
        facts = transactions.facts(world.services.verifier, row["cross_tx"])
        declined = httpx.post(facts.response_uri, data={"error": "access_denied", "state": facts.state}, timeout=30)
        assert declined.status_code == 200
        refused = me.get(url)
        assert refused.status_code == 403
        assert "declined in the wallet" in refused.text
        assert world.completion.failed[request.id][0] == "access_denied"

        first = world.authorization()
        first_url = world.login.start(first)
        world.present(cross_url(me.get(first_url).text))
        world.login.advance(first_url.rsplit("/", 1)[1])
        holder = world.login.outcome(first_url.rsplit("/", 1)[1]).holder
        world.subjects.unknown.add(holder)
        try:
            request = world.authorization()
            url = world.login.start(request)
            world.present(cross_url(me.get(url).text))
            unknown = me.get(url)
        finally:
            world.subjects.unknown.discard(holder)
        assert unknown.status_code == 403
        assert "Enroll your My Number Card" in unknown.text
        assert world.completion.failed[request.id][0] == "access_denied"
        assert request.id not in world.completion.completed


def test_live_status_events(login_world: LoginWorld) -> None:
    world = login_world
    url = world.login.start(world.authorization())
    with browser(world) as me, browser(world) as other:
        page = me.get(url).text
        assert other.get(url + "/events").status_code == 403
        world.present(cross_url(page))
        events = me.get(url + "/events")
        assert events.headers["content-type"].startswith("text/event-stream")
        assert 'event: status\ndata: {"status":"verified","reason":null}' in events.text


def test_account_session_in_a_browser(login_world: LoginWorld) -> None:
    world = login_world
    with pytest.raises(InvalidReturnError):
        world.login.start_session("https://evil.example/")
    with pytest.raises(InvalidReturnError):
        world.login.start_session("//evil.example/")
    url = world.login.start_session("/oidc/account")
    with browser(world) as me:
        page = me.get(url)
        assert "xID account" in page.text
        assert "No personal information" in page.text
        report = world.present(cross_url(page.text))
        assert report["disclosed"] == {"identity": []}  # the account login proves key possession only
        landed = me.get(url)
        assert landed.status_code == 303
        assert landed.headers["location"] == world.url + "/oidc/account"
        token = me.cookies.get(account_cookie_name(False))
        assert token is not None
        person = world.login.session_person(token)
        assert person is not None
        assert len(person) == 64
        assert world.login.session_person(token[:-2] + "xx") is None
        assert world.login.end_session(token)
        assert world.login.session_person(token) is None
    assert browser_cookie_name(True).startswith("__Host-")


def test_session_api_for_a_wallet_without_a_browser(login_world: LoginWorld) -> None:
    world = login_world
    with httpx.Client(base_url=world.url, timeout=30) as api:
        started = api.post("/oidc/session")
        assert started.status_code == 201
        body: dict[str, Any] = started.json()
        assert set(body) == {"session_id", "secret", "request_url", "verification_code", "expires_in"}
        poll = f"/oidc/session/{body['session_id']}"
        assert api.get(poll).status_code == 401
        assert api.get(poll, headers={"authorization": "Bearer wrong"}).status_code == 401
        auth = {"authorization": f"Bearer {body['secret']}"}
        assert api.get(poll, headers=auth).json() == {"status": "pending"}
        assert world.present(body["request_url"])["verification_code"] == body["verification_code"]
        verified = api.get(poll, headers=auth).json()
        assert verified["status"] == "verified"
        assert verified["token_type"] == "Bearer"
        assert world.login.session_person(verified["session_token"]) is not None
        assert api.get(poll, headers=auth).json() == {"status": "done"}  # the token is handed out once


def test_purge_deletes_expired_logins(login_world: LoginWorld) -> None:
    world = login_world
    world.login.start(world.authorization())
    clock = world.ctx.clock
    world.ctx.clock = lambda: clock() + timedelta(days=2)
    try:
        assert purge(world.ctx) >= 1
        assert _rows(world) == []
    finally:
        world.ctx.clock = clock


def _rows(world: LoginWorld, request_id: str | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from foundation.db import transaction

    query = select(logins) if request_id is None else select(logins).where(logins.c.id == request_id)
    with transaction(world.ctx.engine) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def test_relying_parties_never_see_the_holder_key(login_world: LoginWorld) -> None:
    """The verifier keeps the holder thumbprint for the facade (internal) but never shows it to an RP: it would be
    one identifier of the person across every relying party."""
    world = login_world
    vctx, client = world.services.verifier, world.login.client()
    query = {
        "credentials": [{"id": "identity", "format": "dc+sd-jwt", "meta": {"vct_values": [world.ctx.identity_vct]}}]
    }
    for internal in (False, True):
        created = transactions.create(vctx, client, transactions.RequestSpec(dcql_query=query))
        world.present(created.request_url)
        result = transactions.status(vctx, client, created.id, internal=internal)["result"]
        (credential,) = result["credentials"]
        assert ("holder" in credential) is internal
        assert ("digest" in result) is internal
        if internal:
            assert len(credential["holder"]) == 43  # an RFC 7638 SHA-256 thumbprint, base64url


def test_a_login_whose_authorization_ended_elsewhere_ends_too(login_world: LoginWorld) -> None:
    world = login_world
    request = world.authorization()
    url = world.login.start(request)
    with browser(world) as me:
        page = me.get(url).text
        assert "id=same-device-code" in page  # the button's own code: a wallet opened by it shows that one
        world.completion.failed[request.id] = ("access_denied", "ended by the provider")
        ended = me.get(url)
        assert ended.status_code == 403
        assert "This login has ended" in ended.text
        assert me.get(url + "/status").json() == {"status": "failed", "reason": "closed"}
