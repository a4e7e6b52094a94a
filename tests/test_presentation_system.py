"""Presentation end to end: a relying party asks through the verifier's RP API, ``xid wallet present`` answers.

Everything runs as ``xid serve`` composes it, on 127.0.0.1: the wallet enrolls the emulated TEST card first, the
RP registers with ``xid rp add``, creates a request per client identifier prefix and response mode, the wallet
resolves and verifies the request object, shows the same verification code, discloses only what was asked, and the RP
reads the verified claims once.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import transaction
from issuer.app import wire
from issuer.credentials import make_credential_issuer
from tests.helpers import enroll_wallet, require_component, run_node, serve_system
from tests.issuer.credentials_support import facts
from xid.cli import main
from xid.serve import Services

PASSPHRASE = "correct horse battery staple"
NPM_HOLDER = Path(__file__).parent / "interop" / "openid4vp"


@dataclass
class World:
    """xid serve's app on a real uvicorn, an enrolled wallet, and a registered relying party."""

    url: str
    home: Path
    services: Services
    rp: tuple[str, str]

    def xid(self, *args: str, stdin: str | None = None) -> Result:
        """Run ``xid`` with this XID_HOME."""
        return CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(self.home)})

    def rp_api(self) -> httpx.Client:
        """An HTTP client for the RP API, authenticated as the registered RP."""
        return httpx.Client(base_url=self.url, auth=self.rp, timeout=30)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    with serve_system(home) as (url, services, _):
        world = World(url, home, services, ("", ""))
        enroll_wallet(home, url, PASSPHRASE)
        added = world.xid(
            "rp", "add", "--name", "Example Shop", "--redirect-uri", "https://shop.example.jp/cb", "--json"
        )
        assert added.exit_code == 0, added.output
        registered = json.loads(added.stdout)
        world.rp = (registered["client_id"], registered["client_secret"])
        yield world


def present(world: World, request_url: str) -> dict[str, Any]:
    """``xid wallet present`` with consent given; returns its JSON report."""
    result = world.xid(
        "wallet", "present", request_url, "--yes", "--passphrase-stdin", "--json", stdin=PASSPHRASE + "\n"
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize(
    ("prefix", "mode"),
    [("x509_san_dns", "direct_post.jwt"), ("decentralized_identifier", "direct_post"), ("redirect_uri", "direct_post")],
)
def test_an_rp_asks_and_the_wallet_answers(world: World, prefix: str, mode: str) -> None:
    with world.rp_api() as api:
        created = api.post(
            "/verifier/v1/requests", json={"preset": "age_over_20", "client_id_prefix": prefix, "response_mode": mode}
        )
        assert created.status_code == 201, created.text
        request = created.json()
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["request_url"]).query)
        assert query["client_id"][0].startswith(f"{prefix}:")
        assert api.get(f"/verifier/v1/requests/{request['id']}").json()["status"] == "pending"

        report = present(world, request["request_url"])
        assert report["verification_code"] == request["verification_code"]

        answer = api.get(f"/verifier/v1/requests/{request['id']}").json()
        assert answer["status"] == "verified", answer
        (credential,) = answer["result"]["credentials"]
        assert credential["format"] == "dc+sd-jwt"
        assert credential["claims"].get("age_over_20") is True
        assert "name" not in credential["claims"]  # only what was asked was disclosed
        assert "address" not in credential["claims"]
        again = api.get(f"/verifier/v1/requests/{request['id']}").json()
        assert again["status"] == "verified"
        assert "result" not in again  # results are deleted once read


def test_same_device_continues_with_a_response_code(world: World) -> None:
    with world.rp_api() as api:
        created = api.post(
            "/verifier/v1/requests", json={"preset": "identity", "redirect_uri": "https://shop.example.jp/cb"}
        )
        assert created.status_code == 201, created.text
        report = present(world, created.json()["request_url"])
        redirect = report["redirect_uri"]
        assert redirect.startswith("https://shop.example.jp/cb#response_code=")
        code = redirect.split("#response_code=", 1)[1]
        result = api.get("/verifier/v1/results", params={"response_code": code})
        assert result.status_code == 200, result.text
        claims = result.json()["result"]["credentials"][0]["claims"]
        assert claims["name"] == "山田\u3000太郎"
        assert api.get("/verifier/v1/results", params={"response_code": code}).status_code in (400, 404)


@pytest.mark.parametrize("mode", ["direct_post.jwt", "direct_post"])
def test_the_npm_holder_answers_the_real_verifier(world: World, mode: str) -> None:
    """@openid4vc/openid4vp (a holder we did not write) answers; a forged KB-JWT aud is refused."""
    require_component(shutil.which("node") is not None, "node")
    require_component((NPM_HOLDER / "node_modules").exists(), "npm peers in tests/interop/openid4vp (make interop)")
    holder = SoftwareSigner.generate(KeyType.P256)
    issuer = world.services.issuer
    with transaction(issuer.engine, write=True) as conn:
        credential = make_credential_issuer(issuer, wire(issuer).status)(
            conn, "xid_identity_sd_jwt", facts(), holder.public_jwk
        )
    with world.rp_api() as api:
        for forged, expected in ((None, "verified"), ("https://evil.example.jp", "rejected")):
            created = api.post("/verifier/v1/requests", json={"preset": "age_over_20", "response_mode": mode})
            request = created.json()
            payload: dict[str, Any] = {
                "requestUrl": request["request_url"],
                "credential": credential,
                "holderPrivateJwk": holder.to_private_jwk(),
                "disclose": ["age_over_20"],
                "queryId": "age_over_20",
                "kb": {} if forged is None else {"aud": forged},
            }
            sent = run_node(NPM_HOLDER / "holder.mjs", request=payload)
            assert (
                sent["request"]["client_id"]
                == urllib.parse.parse_qs(urllib.parse.urlsplit(request["request_url"]).query)["client_id"][0]
            )
            assert sent["status"] == (200 if forged is None else 400), sent["body"]
            answer = api.get(f"/verifier/v1/requests/{request['id']}").json()
            assert answer["status"] == expected, answer
            if forged is None:
                assert answer["result"]["credentials"][0]["claims"] == {"age_over_20": True}
