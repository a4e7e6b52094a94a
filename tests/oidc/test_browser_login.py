"""A real browser on the login page: Debian's chromium, driven by the pinned npm ``playwright-core``.

The whole system runs (``serve_system``), the wallet is enrolled with the emulated card. The first test is the whole
path a website's visitor takes: the browser opens ``/authorize`` of the served OP (a registered RP, PKCE, nonce,
state), lands on the login page, the wallet answers, the browser lands on the RP's callback with ``code``, ``state``
and ``iss``, and the RP redeems the code at ``/token`` for an ID token. The others start the login page through
``Login.start`` with a fake provider around it, to reach each page state directly. The browser opens the page in
Japanese or English, sees the QR code and the verification code, the wallet (``xid wallet present --yes --json``)
answers and shows the same code, and the browser lands on the RP's callback (a tiny callback server of the test).
Screenshots of the pages are kept in tests/artifacts/ (gitignored; CI keeps them as artifacts).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from secrets import token_bytes
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from foundation.b64 import b64url_decode, b64url_encode
from tests.helpers import enroll_wallet, require_component, run_node, serve, serve_system
from tests.oidc.login_support import WALLET_PASSPHRASE, LoginWorld
from verifier import rps

WALLET_PRESENT = [
    sys.executable,
    "-c",
    "from xid.cli import main; main()",
    "wallet",
    "present",
    "--yes",
    "--passphrase-stdin",
    "--json",
]
PEER = Path(__file__).parents[1] / "interop" / "browser" / "login.mjs"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def callback() -> Iterator[str]:
    """The RP's callback: a tiny local server that answers with what it received."""

    async def cb(request: Request) -> Response:
        return PlainTextResponse("RP callback: " + str(request.query_params))

    with serve(Starlette(routes=[Route("/cb", cb)])) as url:
        yield url + "/cb"


def _browser(home: Path, callback: str) -> Any:
    """The browser peer for a wallet in ``home``: run it on a page URL, get its JSON report."""
    require_component(CHROMIUM is not None, "chromium (apt install chromium fonts-noto-cjk)")
    require_component(shutil.which("node") is not None, "node")
    require_component((PEER.parent / "node_modules").exists(), "npm peers in tests/interop/browser (make interop)")
    ARTIFACTS.mkdir(exist_ok=True)

    def run(url: str, *, lang: str, mode: str, consent: str | None, screenshot: str) -> dict[str, Any]:
        request = {
            "loginUrl": url,
            "acceptLanguage": lang,
            "screenshot": str(ARTIFACTS / screenshot),
            "callbackPrefix": callback,
            "wallet": WALLET_PRESENT,
            "walletEnv": {"XID_HOME": str(home)},
            "passphrase": WALLET_PASSPHRASE,
            "mode": mode,
            "consent": consent,
        }
        return run_node(PEER, request=request, timeout=180)

    return run


@pytest.fixture
def drive(login_world: LoginWorld, callback: str) -> Any:
    """Run the browser peer on a login page of the fake-wired login; returns its JSON report."""
    return _browser(login_world.home, callback)


def test_a_visitor_logs_in_from_authorize_to_the_callback_and_the_website_gets_its_tokens(
    tmp_path: Path, callback: str
) -> None:
    home = tmp_path / "home"
    with serve_system(home) as (url, services, _):
        enroll_wallet(home, url, WALLET_PASSPHRASE)
        party, secret = rps.register(services.verifier.engine, "Example Shop", [callback])
        verifier = b64url_encode(token_bytes(32))
        state, nonce = b64url_encode(token_bytes(16)), b64url_encode(token_bytes(16))
        query = {
            "response_type": "code",
            "client_id": party.client_id,
            "redirect_uri": callback,
            "scope": "openid name birthdate",
            "state": state,
            "nonce": nonce,
            "code_challenge": b64url_encode(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        run = _browser(home, callback)
        report = run(f"{url}/authorize?{urlencode(query)}", lang="ja", mode="cross", consent="approve",
                     screenshot="login-authorize-ja.png")  # fmt: skip
        assert report["pageCode"] == report["walletCode"]
        assert report["qrVisible"]
        landed = urlsplit(report["landed"])
        assert f"{landed.scheme}://{landed.netloc}{landed.path}" == callback
        answer = parse_qs(landed.query)
        assert answer["state"] == [state]
        assert answer["iss"] == [url]  # RFC 9207
        form = {"grant_type": "authorization_code", "code": answer["code"][0], "redirect_uri": callback,
                "code_verifier": verifier}  # fmt: skip
        tokens = httpx.post(f"{url}/token", data=form, auth=(party.client_id, secret), timeout=30)
        assert tokens.status_code == 200, tokens.text
        claims = json.loads(b64url_decode(tokens.json()["id_token"].split(".")[1]))
        assert claims["nonce"] == nonce
        assert claims["aud"] == party.client_id
        assert claims["iss"] == url
        userinfo = httpx.get(f"{url}/userinfo", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
        assert userinfo.json() == {"sub": claims["sub"], "name": "山田\u3000太郎", "birthdate": "1990-01-02"}
        again = httpx.post(f"{url}/token", data=form, auth=(party.client_id, secret), timeout=30)
        assert again.json()["error"] == "invalid_grant"  # the code is single use


def test_japanese_login_page_consent_and_callback(login_world: LoginWorld, drive: Any, callback: str) -> None:
    world = login_world
    request = world.authorization(
        scopes=("openid", "name", "address"), client_id="client-browser", redirect_uri=callback
    )
    report = drive(world.login.start(request), lang="ja", mode="cross", consent="approve", screenshot="login-ja.png")
    assert report["lang"] == "ja"
    assert report["title"] == "xIDでログイン"
    assert report["qrVisible"]
    assert report["qrIsImage"]
    assert report["pageCode"] == report["walletCode"]
    assert "氏名" in report["consentText"]
    assert "住所" in report["consentText"]
    landed = urlsplit(report["landed"])
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == callback
    assert report["landedText"].startswith("RP callback: code=")
    assert parse_qs(landed.query) == {"code": [f"code-{request.id}"], "state": [request.state]}
    assert world.completion.completed[request.id].claims["name"] == "山田\u3000太郎"
    assert (ARTIFACTS / "login-ja.png").stat().st_size > 10_000


def test_english_page_continues_by_itself_to_the_callback(login_world: LoginWorld, drive: Any, callback: str) -> None:
    world = login_world
    request = world.authorization(
        scopes=("openid",), redirect_uri=callback
    )  # nothing to consent to: straight back to the RP
    report = drive(world.login.start(request), lang="en", mode="cross", consent=None, screenshot="login-en.png")
    assert report["lang"] == "en"
    assert report["title"] == "Log in with xID"
    assert report["pageCode"] == report["walletCode"]
    assert report["landed"].startswith(callback + "?code=code-")
    assert request.id in world.completion.completed


def test_same_device_in_the_browser(login_world: LoginWorld, drive: Any, callback: str) -> None:
    world = login_world
    request = world.authorization(scopes=("openid", "birthdate"), redirect_uri=callback)
    report = drive(world.login.start(request), lang="en", mode="same", consent="approve", screenshot="login-same.png")
    assert report["walletCode"] in report["sameCodeText"]  # the button's wallet shows the code written under it
    assert report["landed"].startswith(callback + "?code=code-")
    assert world.completion.completed[request.id].same_device


def test_expired_login_message(login_world: LoginWorld, drive: Any, callback: str) -> None:
    world = login_world
    world.with_settings(request_ttl=timedelta(0))
    try:
        request = world.authorization(redirect_uri=callback)
        url = world.login.start(request)
    finally:
        world.with_settings(request_ttl=timedelta(minutes=5))
    report = drive(url, lang="ja", mode="expired", consent=None, screenshot="login-expired-ja.png")
    assert "有効期限が切れました" in report["reason"]
    assert parse_qs(urlsplit(report["back"]).query)["error"] == ["access_denied"]
