"""The account page and API (oidc.consent_routes) with a fake account session: listing, revoking, CSRF, 401/404,
the page's headers and languages."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from foundation.web import EXCEPTION_HANDLERS, bearer_token
from oidc.consent import Consents
from oidc.consent_routes import CSRF_COOKIE, routes
from oidc.context import OidcContext
from oidc.contracts import CONSENT_SECTOR
from tests.helpers import AsgiClient
from tests.oidc.conftest import FakeSubjects
from verifier import rps

CSRF_KEY = b"c" * 32


class FakeSessions:
    """Account sessions in small: a bearer token or a ``session`` cookie names a person handle."""

    def __init__(self) -> None:
        self.people: dict[str, str] = {}

    def person(self, request: Request) -> str | None:
        """The person of the request's bearer token or session cookie."""
        token = bearer_token(request) or request.cookies.get("session")
        return self.people.get(token) if token else None

    def start_session(self, return_to: str) -> str:
        """Where the login of an account session would start."""
        return f"https://op.example/oidc/session/start?return_to={quote(return_to, safe='')}"


class Account:
    """The account routes on a test app, two people with sessions, consents to two relying parties."""

    def __init__(self, ctx: OidcContext) -> None:
        self.ctx = ctx
        self.consents = Consents(ctx)
        self.sessions = FakeSessions()
        app = Starlette(routes=routes(ctx, self.consents, self.sessions, csrf_key=CSRF_KEY))
        app.exception_handlers.update(EXCEPTION_HANDLERS)
        self.client = AsgiClient(app, base_url="https://op.example")
        subjects = ctx.subjects
        assert isinstance(subjects, FakeSubjects)
        subjects.persons.update({"holder-a": "a", "holder-b": "b"})
        self.alice = subjects.pairwise("holder-a", CONSENT_SECTOR) or ""
        self.bob = subjects.pairwise("holder-b", CONSENT_SECTOR) or ""
        self.sessions.people.update({"alice-token": self.alice, "bob-token": self.bob})
        self.shop, _ = rps.register(ctx.verifier.engine, "Shop <&>", ["https://shop.example/cb"])
        self.bank, _ = rps.register(ctx.verifier.engine, "Bank", ["https://bank.example/cb"])
        self.shop_consent = self.consents.grant_consent(self.alice, self.shop.client_id, ["name", "address"], [
            self.bank.client_id
        ])  # fmt: skip
        self.bob_consent = self.consents.grant_consent(self.bob, self.bank.client_id, ["birthdate"], [])

    def page(self, cookie: str = "session=alice-token", language: str = "en") -> tuple[str, str, str]:
        """The account page: (html, the first revoke form's csrf token, the browser's csrf cookie)."""
        answer = self.client.get("/oidc/account", headers={"Cookie": cookie, "Accept-Language": language})
        assert answer.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', answer.text)
        assert token is not None
        return answer.text, token.group(1), answer.cookies[CSRF_COOKIE]

    def revoke_form(self, consent_id: str, token: str, cookie: str) -> int:
        answer = self.client.post(
            f"/oidc/account/consents/{consent_id}/revoke",
            data={"csrf_token": token},
            headers={"Cookie": cookie},
        )
        return answer.status_code


@pytest.fixture
def account(consent_context: OidcContext) -> Account:
    return Account(consent_context)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_lists_only_the_persons_consents(account: Account) -> None:
    answer = account.client.get("/oidc/account/consents", headers=bearer("alice-token"))
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    [listed] = answer.json()["consents"]
    assert listed == {
        "id": account.shop_consent.id,
        "client_id": account.shop.client_id,
        "client_name": "Shop <&>",
        "claims": ["address", "name"],
        "linkage": [account.bank.client_id],
        "linkage_names": ["Bank"],
        "granted_at": listed["granted_at"],
        "revoked_at": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed["granted_at"])


def test_the_api_needs_a_session(account: Account) -> None:
    for answer in (
        account.client.get("/oidc/account/consents"),
        account.client.get("/oidc/account/consents", headers=bearer("forged")),
        account.client.request("DELETE", f"/oidc/account/consents/{account.shop_consent.id}"),
    ):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["error"] == "invalid_token"
    assert [c.id for c in account.consents.list(account.alice)] == [account.shop_consent.id]


def test_revoking_through_the_api(account: Account) -> None:
    answer = account.client.request(
        "DELETE", f"/oidc/account/consents/{account.shop_consent.id}", headers=bearer("alice-token")
    )
    assert answer.status_code == 200
    assert answer.json()["id"] == account.shop_consent.id
    assert answer.json()["revoked_at"] is not None
    assert account.client.get("/oidc/account/consents", headers=bearer("alice-token")).json() == {"consents": []}
    again = account.client.request(
        "DELETE", f"/oidc/account/consents/{account.shop_consent.id}", headers=bearer("alice-token")
    )
    assert again.status_code == 404


def test_revoking_someone_elses_consent_is_not_found(account: Account) -> None:
    for consent_id in (account.bob_consent.id, "unknown", "x" * 65, "bad%20id"):
        answer = account.client.request("DELETE", f"/oidc/account/consents/{consent_id}", headers=bearer("alice-token"))
        assert answer.status_code == 404, consent_id
        assert answer.json()["error"] == "not_found"
    assert [c.id for c in account.consents.list(account.bob)] == [account.bob_consent.id]


def test_the_page_lists_consents_with_strict_headers(account: Account) -> None:
    answer = account.client.get("/oidc/account", headers={"Cookie": "session=alice-token", "Accept-Language": "ja"})
    assert answer.status_code == 200
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert '<html lang="ja">' in answer.text
    assert "同意の管理" in answer.text
    assert "氏名" in answer.text
    assert "住所" in answer.text
    assert "Bank" in answer.text
    assert "Shop &lt;&amp;&gt;" in answer.text  # escaped
    assert "Shop <&>" not in answer.text
    cookie = answer.headers["set-cookie"]
    assert CSRF_COOKIE in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Secure" in cookie
    english = account.client.get("/oidc/account", headers={"Cookie": "session=alice-token", "Accept-Language": "en"})
    assert "Your consents" in english.text
    assert "Revoke" in english.text


def test_the_page_without_a_session_goes_to_sign_in(account: Account) -> None:
    answer = account.client.get("/oidc/account")
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        "https://op.example/oidc/session/start?return_to=https%3A%2F%2Fop.example%2Foidc%2Faccount"
    )
    posted = account.client.post(f"/oidc/account/consents/{account.shop_consent.id}/revoke", data={"csrf_token": "x"})
    assert posted.status_code == 303
    assert len(account.consents.list(account.alice)) == 1


def test_the_revoke_button_revokes(account: Account) -> None:
    _, token, browser = account.page()
    cookie = f"session=alice-token; {CSRF_COOKIE}={browser}"
    answer = account.client.post(
        f"/oidc/account/consents/{account.shop_consent.id}/revoke",
        data={"csrf_token": token},
        headers={"Cookie": cookie},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://op.example/oidc/account?revoked=1"
    assert account.consents.list(account.alice) == []
    after = account.client.get("/oidc/account?revoked=1", headers={"Cookie": cookie})
    assert "The consent was revoked." in after.text
    assert "You have given no consent." in after.text


def test_revoke_forms_without_the_right_csrf_token_are_refused(account: Account) -> None:
    _, token, browser = account.page()
    consent_id = account.shop_consent.id
    # No token, a wrong token, no browser cookie, another browser's cookie, another person's session.
    assert account.revoke_form(consent_id, "", f"session=alice-token; {CSRF_COOKIE}={browser}") == 403
    assert account.revoke_form(consent_id, token[:-2] + "AA", f"session=alice-token; {CSRF_COOKIE}={browser}") == 403
    assert account.revoke_form(consent_id, token, "session=alice-token") == 403
    _, _, other_browser = account.page()
    assert other_browser != browser
    assert account.revoke_form(consent_id, token, f"session=alice-token; {CSRF_COOKIE}={other_browser}") == 403
    assert account.revoke_form(consent_id, token, f"session=bob-token; {CSRF_COOKIE}={browser}") == 403
    assert [c.id for c in account.consents.list(account.alice)] == [consent_id]
    # Someone else's consent through the form: not found, nothing changes.
    assert account.revoke_form(account.bob_consent.id, token, f"session=alice-token; {CSRF_COOKIE}={browser}") == 404
    assert len(account.consents.list(account.bob)) == 1


def test_the_revoke_form_refuses_a_body_that_is_not_a_form(account: Account) -> None:
    _, _, browser = account.page()
    answer = account.client.post(
        f"/oidc/account/consents/{account.shop_consent.id}/revoke",
        content=b'{"csrf_token": "x"}',
        headers={"Cookie": f"session=alice-token; {CSRF_COOKIE}={browser}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert len(account.consents.list(account.alice)) == 1
