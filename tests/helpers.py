"""Helpers the tests share: vector files, the CI rule for missing components, a local ASGI server, the example
persons, DER mutations and the software card with its PINs.

Import them from here (``from tests.helpers import load_vector``); fixtures stay in the conftest.py files, and test
modules do not import from conftest.py or from one another.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import pkgutil
import socket
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from jpki_bridge.softcard import FaceData, SoftCard
from jpki_bridge.testca import CardIdentity, Person

if TYPE_CHECKING:
    from xid.serve import Services

__all__ = [
    "AUTH_PIN",
    "CRYPTOGRAPHY_WARNINGS",
    "INPUT_PIN",
    "IN_CI",
    "PERSONS",
    "PERSON_FILES",
    "SIGN_PASSWORD",
    "VECTORS",
    "load_person",
    "load_vector",
    "make_card",
    "mutations",
    "require_component",
    "rsa_verify",
    "run_node",
    "serve",
]

TESTS = Path(__file__).parent
VECTORS = TESTS / "vectors"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def load_vector(relative: str) -> Any:
    """Load a JSON vector file from tests/vectors/."""
    return json.loads((VECTORS / relative).read_text(encoding="utf-8"))


def require_component(available: bool, component: str) -> None:
    """Skip locally, fail in CI, when a component a test needs is missing."""
    if available:
        return
    message = f"missing component: {component}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing component is a failure, see .ci/run)")
    pytest.skip(message)


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", http="h11", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local uvicorn test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class AsgiClient:
    """A synchronous httpx client over an ASGI app in this process (starlette's TestClient wants another httpx)."""

    def __init__(self, app: ASGIApp, base_url: str = "http://127.0.0.1:8000", client_host: str = "127.0.0.1") -> None:
        self.app = app
        self.base_url = base_url
        self.client_host = client_host

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request; kwargs as for ``httpx.AsyncClient.request``."""

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(self.client_host, 50000))
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET url."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST url."""
        return self.request("POST", url, **kwargs)


def run_node(script: Path, *args: str, request: Any, expect: int = 0, timeout: float = 120.0) -> dict[str, Any]:
    """Run a node peer (from its own folder) with one JSON request on stdin; return the JSON object it prints.

    The exit status must be ``expect`` (0: success; the peers exit 1 with a JSON error when a step fails).
    """
    done = subprocess.run(
        ["node", script.name, *args],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=script.parent,
        check=False,
    )
    assert done.returncode == expect, (
        f"{script.name}: exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    )
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict)
    return answer


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_system(home: Path) -> Iterator[tuple[str, Services, Starlette]]:
    """``xid serve``'s whole app (issuer, verifier, ledger) on a real uvicorn; its base URL is the served one."""
    from xid.serve import running
    from xid.settings import Settings

    current: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await current["app"](scope, receive, send)

    with serve(app) as url, running(Settings.from_env({"XID_HOME": str(home)}), url) as (services, starlette):
        current["app"] = starlette
        yield url, services, starlette


def enroll_wallet(home: Path, url: str, passphrase: str, person: str = "yamada") -> None:
    """``xid card emulate``, ``wallet init`` and ``wallet enroll --emulated`` at ``url`` in the XID_HOME ``home``."""
    from click.testing import CliRunner

    from xid.cli import main

    def xid(*args: str, stdin: str | None = None) -> None:
        done = CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(home)})
        assert done.exit_code == 0, done.output

    xid("card", "emulate", "--person", str(TESTS / "jpki" / "persons" / f"{person}.toml"))
    xid("wallet", "init", "--passphrase-stdin", stdin=passphrase + "\n")
    xid(
        "wallet", "enroll", "--issuer", url, "--emulated", "--passphrase-stdin", "--pin-stdin",
        stdin=f"{passphrase}\nTEST1234\n",
    )  # fmt: skip


# -- JPKI: example persons, DER fuzzing, the software card ---------------------------------------------------------

PERSONS = TESTS / "jpki" / "persons"
PERSON_FILES = sorted(PERSONS.glob("*.toml"))


def load_person(stem: str) -> Person:
    """One of the example persons in tests/jpki/persons/."""
    return Person.from_toml(PERSONS / f"{stem}.toml")


@st.composite
def mutations(draw: st.DrawFn, der: bytes) -> bytes:
    """DER with one to four random edits: bit flips, tag and length bytes, truncation, insertion, deletion."""
    data = bytearray(der)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "set" and data:
            data[position] = draw(st.sampled_from([0x00, 0x04, 0x0C, 0x13, 0x30, 0x80, 0x81, 0x82, 0xA0, 0xFF]))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and data:
            del data[position : position + draw(st.integers(min_value=1, max_value=4))]
    return bytes(data)


# cryptography warns (and does not fail) about fields that break RFC 5280 limits, such as a 70-character common name
# or a non-positive serial, because real certificates have them; pytest turns warnings into errors, fuzz input has
# them by design.
CRYPTOGRAPHY_WARNINGS = pytest.mark.filterwarnings(
    "ignore:Attribute's length must be:UserWarning",
    "ignore::cryptography.utils.CryptographyDeprecationWarning",
)

SIGN_PASSWORD, AUTH_PIN, INPUT_PIN = "ABC123", "1234", "5678"


def make_card(identity: CardIdentity, person: Person, state: Path | None = None) -> SoftCard:
    """A software card for the identity and person, with the PINs above."""
    return SoftCard(
        identity,
        sign_pin=SIGN_PASSWORD,
        auth_pin=AUTH_PIN,
        face=FaceData.of(person),
        input_pin=INPUT_PIN,
        state_file=state,
    )


def rsa_verify(cert: x509.Certificate, signature: bytes, message: bytes) -> None:
    """Verify an RSASSA-PKCS1-v1_5 SHA-256 signature with cryptography (independent of the card code)."""
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


ROOT = TESTS.parent
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
WHEEL_PACKAGES: list[str] = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
"""The top-level packages xid ships (pyproject.toml), so walks over the code need no list of their own."""


def import_all(packages: list[str]) -> list[str]:
    """Import every package and module under the given top-level packages; return their names."""
    found: list[str] = []
    for package in packages:
        found.append(package)
        module = importlib.import_module(package)
        found += [info.name for info in pkgutil.walk_packages(module.__path__, f"{package}.")]
    return found
