"""The My Number handover beside the whole system: the wallet enrolls with xid serve, then hands the number to a
business's receiver; the issuer's and verifier's databases, the ledger and the logs never see it. And ``xid mynumber
receive`` run as its own process, as a business runs it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from starlette.applications import Starlette

from tests.helpers import PERSONS, free_port, load_person, serve, serve_system
from verifier.mynumber import Handover, Receiver, generate_key, routes
from xid.cli import main

PASSPHRASE = "correct horse battery staple"
NUMBER = load_person("yamada").my_number
PURPOSE = "employment"


def xid(home: Path, *args: str, stdin: str | None = None) -> Result:
    """Run ``xid`` with this XID_HOME."""
    return CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(home), "XID_WALLET": ""})


def test_no_xid_server_sees_the_number(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    kept: list[Handover] = []
    business = Starlette()
    with serve_system(home) as (url, services, _), serve(business) as shop:
        business.router.routes.extend(routes(Receiver(generate_key(), shop, {PURPOSE}, "number", kept.append)))
        assert xid(home, "card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
        assert xid(home, "wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0
        enrolled = xid(
            home, "wallet", "enroll", "--issuer", url, "--emulated", "--passphrase-stdin", "--pin-stdin",
            stdin=f"{PASSPHRASE}\nTEST1234\n",
        )  # fmt: skip
        assert enrolled.exit_code == 0, enrolled.output
        sent = xid(
            home, "wallet", "mynumber", "send", "--to", shop, "--purpose", PURPOSE, "--emulated", "--pin-stdin",
            "--yes", stdin="1234\n",
        )  # fmt: skip
        assert sent.exit_code == 0, sent.output
        assert [h.my_number for h in kept] == [NUMBER]
        services.ledger.checkpoint()
        assert NUMBER not in sent.output
    # nothing outside the card's own files holds it: the databases (with WAL files), keys, ledger, the wallet
    probe = NUMBER.encode()
    checked = [p for p in home.rglob("*") if p.is_file() and not p.is_relative_to(home / "card")]
    assert any(p.name.endswith(".sqlite3") for p in checked)
    assert [p for p in checked if probe in p.read_bytes()] == []
    assert NUMBER not in caplog.text


@pytest.fixture
def receiver_process(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``xid mynumber keygen`` then ``xid mynumber receive --keep number`` in its own process."""
    key = tmp_path / "shop.jwk"
    made = CliRunner().invoke(main, ["mynumber", "keygen", "--out", str(key)])
    assert made.exit_code == 0, made.output
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "xid.cli", "mynumber", "receive", "--key", str(key), "--audience", url]
    command += ["--purpose", PURPOSE, "--purpose", "tax", "--keep", "number", "--port", str(port)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/mynumber/key", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"xid mynumber receive did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_xid_mynumber_receive_prints_each_handover(
    tmp_path: Path, receiver_process: tuple[str, subprocess.Popen[str]]
) -> None:
    url, process = receiver_process
    home = tmp_path / "home"
    assert xid(home, "card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
    sent = xid(
        home, "wallet", "mynumber", "send", "--to", url, "--purpose", PURPOSE, "--emulated", "--pin-stdin", "--yes",
        "--json", stdin="1234\n",
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    receipt = json.loads(sent.stdout)
    refused = xid(
        home, "wallet", "mynumber", "send", "--to", url, "--purpose", "marketing", "--emulated", "--pin-stdin",
        "--yes", stdin="1234\n",
    )  # fmt: skip
    assert refused.stderr.splitlines()[-1].startswith("error [recipientRefused]: handing over the My Number: ")
    assert "purpose" in refused.stderr
    process.terminate()
    out, err = process.communicate(timeout=15)
    assert out.splitlines() == [f"{receipt['id']} {NUMBER}"]  # one accepted handover, with --keep number
    assert NUMBER not in err
