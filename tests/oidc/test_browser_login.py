"""A real browser on the login page: Debian's chromium, driven by the pinned npm ``playwright-core``.

The whole system runs (``serve_system``), the wallet is enrolled with the emulated card, the login starts through
``Login.start`` with a real ``AuthorizationRequest`` (the provider is a small fake until the lead wires it). The
browser opens the page in Japanese or English, sees the QR code and the verification code, the wallet
(``xid wallet present --yes --json``) answers and shows the same code, and the browser lands on the RP's callback
(a tiny callback server of the test). Screenshots of the pages are kept in tests/artifacts/ (gitignored; CI keeps
them as artifacts).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.helpers import require_component, run_node, serve
from tests.oidc.login_support import WALLET_PASSPHRASE, LoginWorld

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


@pytest.fixture
def drive(login_world: LoginWorld, callback: str) -> Any:
    """Run the browser peer on a login page; returns its JSON report."""
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
            "walletEnv": {"XID_HOME": str(login_world.home)},
            "passphrase": WALLET_PASSPHRASE,
            "mode": mode,
            "consent": consent,
        }
        return run_node(PEER, request=request, timeout=180)

    return run


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
