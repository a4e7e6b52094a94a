"""The demo's sample website (xid.sample_rp) as a relying party, proved against an OP we did not write.

panva's oidc-provider (tests/interop/oidc, pinned) stands in for the OP: pairwise subjects, PKCE required. The
website logs a person in through its development login, shows the ID token's claims HTML-escaped, refuses a callback
whose ``state`` it did not issue, and forgets the person at /logout. The same website against xid's own facade, with
the wallet answering, is tests/test_oidc_system.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import serve
from tests.interop.oidc_peers import REFERENCE_CLAIMS, reference_login, reference_op, require_peers
from xid.demo_login import Browser
from xid.sample_rp import AGENCY_SCOPE, SESSION_COOKIE, sample_site_app

SECRET = "sample-site-secret-0123456789-abcdefghij"
HOSTILE_NAME = '<script>alert("x")</script> & 山田'


@dataclass
class Site:
    url: str
    issuer: str


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    require_peers()
    slot: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await slot["app"](scope, receive, send)

    with serve(app) as url:
        client = {
            "client_id": "sample",
            "client_secret": SECRET,
            "redirect_uris": [f"{url}/callback"],
            "subject_type": "pairwise",
            "token_endpoint_auth_method": "client_secret_basic",
        }
        claims = {**REFERENCE_CLAIMS, "name": HOSTILE_NAME}
        with reference_op([client], claims) as issuer:
            slot["app"] = sample_site_app(issuer, "sample", SECRET)
            yield Site(url, issuer)


def shown_claims(body: str) -> dict[str, Any]:
    """The claims the site's page shows (its <pre id="claims">, unescaped)."""
    import html

    found = re.search(r'<pre id="claims">(.*?)</pre>', body, re.S)
    assert found is not None, body
    claims: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return claims


def test_the_sample_site_logs_in_and_shows_the_id_token_claims_escaped(site: Site) -> None:
    with Browser() as browser:
        first = browser.go(f"{site.url}/")
        assert first.response is not None
        assert 'href="/login"' in first.response.text

        authorize = browser.client.get(f"{site.url}/login")
        assert authorize.status_code == 302
        query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", authorize.headers["location"]))
        assert query["scope"] == AGENCY_SCOPE.replace(" ", "+")
        assert query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43
        assert query["state"]
        assert query["nonce"]

        landing = reference_login(browser, f"{site.url}/login", site.issuer)
        assert landing.url == f"{site.url}/"
        assert landing.response is not None
        body = landing.response.text
        assert "<script>" not in body  # the hostile name is shown as text
        assert "&lt;script&gt;" in body
        assert "default-src 'none'" in landing.response.headers["content-security-policy"]
        claims = shown_claims(body)
        assert claims["iss"] == site.issuer
        assert claims["aud"] == "sample"
        assert claims["name"] == HOSTILE_NAME
        assert claims["birthdate"] == REFERENCE_CLAIMS["birthdate"]
        assert claims["sub"].startswith("127.0.0.1")
        assert claims["sub"].endswith("|alice")

        out = browser.go(f"{site.url}/logout")
        assert out.response is not None
        assert 'href="/login"' in out.response.text
        assert "claims" not in out.response.text


def test_a_callback_with_a_state_the_site_did_not_issue_is_refused(site: Site) -> None:
    with Browser() as browser:
        started = browser.client.get(f"{site.url}/login")
        assert started.status_code == 302
        landing = reference_login(browser, f"{site.url}/login", site.issuer, stop_at=f"{site.url}/callback")
        assert landing.response is None  # stopped at the callback, unopened
        forged = re.sub(r"state=[^&]+", "state=forged-state-value", landing.url)
        refused = browser.client.get(forged)
        assert refused.status_code == 400
        assert "Login failed" in refused.text
        home = browser.go(f"{site.url}/")
        assert home.response is not None
        assert 'id="claims"' not in home.response.text
        assert SESSION_COOKIE in browser.client.cookies  # the site's own session, under its own name
