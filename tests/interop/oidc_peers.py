"""The npm OpenID Connect peers of tests/interop/oidc: openid-client as a relying party (rp.mjs) and panva's
oidc-provider as a reference OP (reference_op.mjs), which proves the relying-party code on its own."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from tests.helpers import require_component, run_node
from xid.demo_login import Browser, Landing, approving_form

PEER = Path(__file__).parent / "oidc"
REFERENCE_CLAIMS = {
    "name": "山田 太郎",
    "address": {"formatted": "東京都千代田区永田町一丁目"},
    "birthdate": "1990-04-01",
    "gender": "male",
}


def require_peers() -> None:
    """Require node and the npm peers installed by ``make interop`` (skip locally, fail in CI)."""
    require_component(shutil.which("node") is not None, "node")
    modules = PEER / "node_modules"
    installed = (modules / "openid-client").exists() and (modules / "oidc-provider").exists()
    require_component(installed, "npm peers in tests/interop/oidc (run make interop)")


def openid_client(request: Any, *, expect: int = 0) -> dict[str, Any]:
    """One step of the openid-client relying party (rp.mjs): ``start`` (authorization URL) or ``finish``."""
    return run_node(PEER / "rp.mjs", request=request, expect=expect, timeout=60)


@contextlib.contextmanager
def reference_op(clients: list[dict[str, Any]], claims: dict[str, Any] | None = None) -> Iterator[str]:
    """panva's oidc-provider on 127.0.0.1 with these clients and one account's claims; yields its issuer URL."""
    process = subprocess.Popen(
        ["node", "reference_op.mjs"],
        cwd=PEER,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps({"clients": clients, "claims": claims or REFERENCE_CLAIMS}))
        process.stdin.close()
        line = process.stdout.readline()
        assert line, "the reference OP did not start"
        yield str(json.loads(line)["issuer"])
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def reference_login(
    browser: Browser, start_url: str, issuer: str, *, stop_at: str | None = None, login: str = "alice"
) -> Landing:
    """Through the reference OP's development login (any name and password) and consent pages, as a person would."""
    landing = browser.go(start_url, stop_at=stop_at)
    for _ in range(4):
        response = landing.response
        if response is None or not landing.url.startswith(issuer) or response.status_code != 200:
            return landing
        chosen = approving_form(response.text)
        if chosen is None:
            return landing
        form, _button = chosen
        data = dict(form.fields)
        if "login" in data:
            data |= {"login": login, "password": "any"}
        landing = browser.go(urljoin(landing.url, form.action), stop_at=stop_at, method="POST", data=data)
    return landing
