"""A wallet whose holder key stays on a PKCS#11 token (SoftHSM2): enrollment, credentials bound to the token key,
and a presentation whose key binding the token signs, all against ``xid serve`` on 127.0.0.1.

Every command that touches the token runs as its own process: a PKCS#11 library reads its configuration once per
process, and other tests of this run may have loaded SoftHSM2 with theirs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.types import Receive, Scope, Send

from foundation.b64 import b64url_decode
from tests.helpers import PERSONS, require_component, serve
from wallet.keystore import Keystore
from wallet.store import CredentialStore
from xid.cli import main
from xid.serve import running
from xid.settings import Settings

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN, LABEL = "xid-wallet", "4321", "holder"
PASSPHRASE = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.softhsm

GENERATE = """
import sys, pkcs11
from did import KeyType
from did.pkcs11 import generate_key
module, token, pin, label, replace = sys.argv[1:6]
with pkcs11.lib(module).get_token(token_label=token).open(rw=True, user_pin=pin) as session:
    if replace == "yes":
        for obj in list(session.get_objects({pkcs11.Attribute.LABEL: label})):
            obj.destroy()
    generate_key(session, KeyType.P256, label)
"""


@dataclass
class World:
    """xid serve on 127.0.0.1, a SoftHSM2 token with a P-256 key, and the environment for xid processes."""

    url: str
    home: Path
    env: dict[str, str]

    def xid(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run ``xid`` as a separate process with this home and token configuration."""
        command = [sys.executable, "-m", "xid.cli", *args]
        return subprocess.run(command, input=stdin, env=self.env, capture_output=True, text=True, timeout=300)

    def python(self, code: str, *args: str) -> None:
        """Run Python code as a separate process with the token configuration."""
        done = subprocess.run([sys.executable, "-c", code, *args], env=self.env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_component(shutil.which("softhsm2-util") is not None and Path(MODULE).exists(), "SoftHSM2 (apt softhsm2)")
    root = tmp_path_factory.mktemp("wallet-token")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    home = root / "home"
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "XID_HOME": str(home), "XID_WALLET": "", "PYTHONPATH": str(ROOT)}
    init = ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", "0000", "--pin", PIN]
    subprocess.run(init, check=True, capture_output=True, env=env)
    current: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await current["app"](scope, receive, send)

    with serve(app) as url, running(Settings.from_env({"XID_HOME": str(home)}), url) as (_, starlette):
        current["app"] = starlette
        world = World(url, home, env)
        world.python(GENERATE, MODULE, TOKEN, PIN, LABEL, "no")
        card = CliRunner().invoke(main, ["card", "emulate", "--person", str(PERSONS / "yamada.toml")], env=env)
        assert card.exit_code == 0, card.output
        yield world


def token_init(world: World, wallet: Path, pin: str) -> subprocess.CompletedProcess[str]:
    """``xid wallet init`` with the token key."""
    args = ["wallet", "init", "--wallet", str(wallet), "--passphrase-stdin", "--pin-stdin", "--json"]
    token = ["--pkcs11-module", MODULE, "--pkcs11-token", TOKEN, "--pkcs11-key", LABEL]
    return world.xid(*args, *token, stdin=f"{PASSPHRASE}\n{pin}\n")


def test_the_token_key_enrolls_and_presents(world: World) -> None:
    wallet = world.home / "wallet"
    created = token_init(world, wallet, PIN)
    assert created.returncode == 0, created.stderr
    holder_did = json.loads(created.stdout)["holder"]
    keystore = Keystore.open(wallet, PASSPHRASE)
    token_key = keystore.token_key()
    assert token_key is not None
    assert token_key.to_json() == {"module": MODULE, "token": TOKEN, "label": LABEL}
    public = keystore.public_jwk()
    assert json.loads(b64url_decode(holder_did.removeprefix("did:jwk:"))) == public
    assert PIN.encode() not in b"".join(p.read_bytes() for p in wallet.rglob("*") if p.is_file())

    enrolled = world.xid(
        "wallet", "enroll", "--issuer", world.url, "--emulated", "--passphrase-stdin", "--pin-stdin", "--json",
        stdin=f"{PASSPHRASE}\n{PIN}\nTEST1234\n",
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    assert len(json.loads(enrolled.stdout)["credentials"]) == 3
    store = CredentialStore(Keystore.open(wallet, PASSPHRASE).vault)
    listed = json.loads(world.xid("wallet", "list", "--json").stdout)
    (sd_jwt_id,) = [i["id"] for i in listed if i.get("configurationId") == "xid_identity_sd_jwt"]
    sd_jwt = store.credential(sd_jwt_id)
    assert isinstance(sd_jwt, str)
    payload = json.loads(b64url_decode(sd_jwt.split("~")[0].split(".")[1]))
    assert payload["cnf"]["jwk"] == public  # the issuer bound the credential to the key on the token

    client_id, secret = _register_rp(world)
    with httpx.Client(base_url=world.url, auth=(client_id, secret), timeout=30) as api:
        created_request = api.post("/verifier/v1/requests", json={"preset": "age_over_20"})
        assert created_request.status_code == 201, created_request.text
        request = created_request.json()
        wrong = world.xid("wallet", "present", request["request_url"], "--yes", "--passphrase-stdin", "--pin-stdin",
                          stdin=f"{PASSPHRASE}\n9999\n")  # fmt: skip
        assert wrong.returncode == 1
        assert "error [pkcs11Key]" in wrong.stderr
        assert "9999" not in wrong.stderr
        assert api.get(f"/verifier/v1/requests/{request['id']}").json()["status"] == "pending"  # nothing was sent

        presented = world.xid("wallet", "present", request["request_url"], "--yes", "--passphrase-stdin",
                              "--pin-stdin", "--json", stdin=f"{PASSPHRASE}\n{PIN}\n")  # fmt: skip
        assert presented.returncode == 0, presented.stderr
        answer = api.get(f"/verifier/v1/requests/{request['id']}").json()
        assert answer["status"] == "verified", answer
        assert answer["result"]["credentials"][0]["claims"]["age_over_20"] is True

        # The key under the label is replaced behind the wallet's back: the wallet refuses it, nothing is sent.
        world.python(GENERATE, MODULE, TOKEN, PIN, LABEL, "yes")
        second = api.post("/verifier/v1/requests", json={"preset": "age_over_20"}).json()
        replaced = world.xid("wallet", "present", second["request_url"], "--yes", "--passphrase-stdin", "--pin-stdin",
                             stdin=f"{PASSPHRASE}\n{PIN}\n")  # fmt: skip
        assert replaced.returncode == 1
        assert "error [pkcs11Key]" in replaced.stderr
        assert "is not this wallet's holder key" in replaced.stderr
        assert api.get(f"/verifier/v1/requests/{second['id']}").json()["status"] == "pending"


def _register_rp(world: World) -> tuple[str, str]:
    added = CliRunner().invoke(
        main,
        ["rp", "add", "--name", "Example Shop", "--redirect-uri", "https://shop.example.jp/cb", "--json"],
        env={"XID_HOME": str(world.home)},
    )
    assert added.exit_code == 0, added.output
    registered = json.loads(added.stdout)
    return registered["client_id"], registered["client_secret"]


@pytest.mark.parametrize(
    ("extra", "pin", "error"),
    [
        ((), "0000", "error [pkcs11Key]"),  # wrong PIN
        (("--pkcs11-key", "nothing-here"), PIN, "no key pair labelled"),
        (("--pkcs11-token", "no-such-token"), PIN, "no PKCS#11 token labelled"),
    ],
)
def test_init_refuses_what_the_token_cannot_give(world: World, extra: tuple[str, ...], pin: str, error: str) -> None:
    wallet = world.home / f"refused-{len(extra)}-{pin}"
    args = ["wallet", "init", "--wallet", str(wallet), "--passphrase-stdin", "--pin-stdin"]
    token = {"--pkcs11-module": MODULE, "--pkcs11-token": TOKEN, "--pkcs11-key": LABEL}
    token.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    result = world.xid(*args, *[x for pair in token.items() for x in pair], stdin=f"{PASSPHRASE}\n{pin}\n")
    assert result.returncode == 1, result.stderr
    assert error in result.stderr
    assert pin not in result.stderr
    assert not wallet.exists()


def test_token_options_go_together(world: World) -> None:
    result = world.xid("wallet", "init", "--wallet", str(world.home / "half"), "--pkcs11-module", MODULE,
                       "--passphrase-stdin", stdin=f"{PASSPHRASE}\n")  # fmt: skip
    assert result.returncode == 2
    assert "go together" in result.stderr
    assert not (world.home / "half").exists()
