"""The npm OpenID Connect peers of tests/interop/oidc: openid-client as a relying party (rp.mjs) and panva's
oidc-provider as a reference OP (reference_op.mjs), which proves the relying-party code on its own."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from click.testing import CliRunner, Result
from joserfc.jwk import ECKey

from tests.helpers import enroll_wallet, require_component, run_node, serve_system
from xid.cli import main
from xid.demo_login import Browser, Landing, WalletAnswer, approving_form
from xid.sample_rp import AGENCY_SCOPE
from xid.serve import Services

__all__ = [
    "AGENCY_SCOPE",
    "PASSPHRASE",
    "PEER",
    "REFERENCE_CLAIMS",
    "RP",
    "OidcWorld",
    "facade_metadata",
    "openid_client",
    "reference_login",
    "reference_op",
    "require_peers",
    "start_world",
]

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


# -- xid serve with the facade, an enrolled wallet, relying parties -------------------------------------------------

PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class RP:
    """A relying party registered with ``xid rp add``: its credentials and its one redirect URI."""

    client_id: str
    client_secret: str
    redirect_uri: str
    private_jwk: dict[str, Any] | None = None

    def driver_fields(self) -> dict[str, Any]:
        """The client fields of an rp.mjs request."""
        fields: dict[str, Any] = {"client_id": self.client_id, "redirect_uri": self.redirect_uri}
        if self.private_jwk is not None:
            return {**fields, "auth": "private_key_jwt", "private_jwk": self.private_jwk}
        return {**fields, "client_secret": self.client_secret}


@dataclass
class OidcWorld:
    """xid serve's app on a real uvicorn with the OIDC facade, an enrolled wallet, registered relying parties."""

    url: str
    home: Path
    services: Services
    metadata: dict[str, Any]
    rps: dict[str, RP] = field(default_factory=dict)

    def xid(self, *args: str, stdin: str | None = None) -> Result:
        """Run ``xid`` with this XID_HOME."""
        return CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(self.home)})

    def wallet(self, request_url: str) -> WalletAnswer:
        """``xid wallet present URL --yes --passphrase-stdin --json``: the wallet answers a login page's request."""
        result = self.xid(
            "wallet", "present", request_url, "--yes", "--passphrase-stdin", "--json", stdin=PASSPHRASE + "\n"
        )
        assert result.exit_code == 0, result.output
        return WalletAnswer.from_json(json.loads(result.stdout))

    def add_rp(self, key: str, name: str, redirect_uri: str, *, private_key_jwt: bool = False) -> RP:
        """``xid rp add`` (a key-authenticated client: ``--auth-method private_key_jwt --jwks FILE``, and ES256 ID
        tokens with ``--id-token-alg ES256``)."""
        args = ["rp", "add", "--name", name, "--redirect-uri", redirect_uri, "--json"]
        jwk: dict[str, Any] | None = None
        if private_key_jwt:
            key_pair = ECKey.generate_key("P-256", parameters={"kid": f"{key}-1", "alg": "ES256"}, private=True)
            jwk = key_pair.as_dict(private=True)
            jwks = self.home / f"{key}.jwks.json"
            jwks.write_text(json.dumps({"keys": [key_pair.as_dict(private=False)]}), encoding="utf-8")
            args += ["--auth-method", "private_key_jwt", "--jwks", str(jwks), "--id-token-alg", "ES256"]
        added = self.xid(*args)
        assert added.exit_code == 0, added.output
        registered = json.loads(added.stdout)
        rp = RP(registered["client_id"], registered.get("client_secret", ""), redirect_uri, jwk)
        self.rps[key] = rp
        return rp


def facade_metadata(url: str) -> dict[str, Any]:
    """The OP's discovery document as xid serve publishes it (the only path a website is given)."""
    response = httpx.get(f"{url}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200, response.text
    metadata: dict[str, Any] = response.json()
    assert "authorization_endpoint" in metadata
    return metadata


@contextlib.contextmanager
def start_world(home: Path, *, npm: bool = True) -> Iterator[OidcWorld]:
    """xid serve with an enrolled wallet (the emulated TEST card of tests/jpki/persons/yamada.toml) and RPs of two
    sectors: shop (shop.example.jp, client secret), shop-jwt (the same sector, private_key_jwt, ES256 ID tokens),
    bank (bank.example.com). ``npm``: the npm peers are needed too."""
    if npm:
        require_peers()
    with serve_system(home / "xid") as (url, services, _):
        metadata = facade_metadata(url)
        assert metadata["issuer"] == url
        world = OidcWorld(url, home / "xid", services, metadata)
        enroll_wallet(home / "xid", url, PASSPHRASE)
        world.add_rp("shop", "Example Shop", "https://shop.example.jp/cb")
        world.add_rp("shop-jwt", "Example Shop (key)", "https://shop.example.jp/cb-jwt", private_key_jwt=True)
        world.add_rp("bank", "Example Bank", "https://bank.example.com/cb")
        yield world
