"""``xid card``: emulate, status, read, sign, in-process and through pcscd + vpcd; errors are one line."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.helpers import PERSONS, rsa_verify
from tests.jpki.pcscd import pcscd  # noqa: F401 - fixture
from xid.cli_card import card


class Cli:
    def __init__(self, home: Path) -> None:
        self.env = {"XID_HOME": str(home)}

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(card, list(args), env=self.env, input=input)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(tmp_path / "home")
    made = runner("emulate", "--person", str(PERSONS / "yamada.toml"))
    assert made.exit_code == 0, made.output
    return runner


@pytest.mark.parametrize("args", [[], ["emulate"], ["status"], ["read"], ["sign"]])
def test_help(args: list[str], tmp_path: Path) -> None:
    result = Cli(tmp_path)(*args, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_status_read_and_sign_in_process(cli: Cli, tmp_path: Path) -> None:
    status = cli("status", "--emulated", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["triesLeft"] == {"sign": 5, "auth": 3, "inputAssist": 3}
    read = cli("read", "--emulated", "--pin-stdin", "--json", input="test1234\n")
    assert read.exit_code == 0, read.output
    basic4 = json.loads(read.stdout)["basic4"]
    assert basic4["name"] == "山田　太郎"
    assert basic4["dateOfBirth"] == "419900102"
    document = tmp_path / "contract.txt"
    document.write_text("I agree.")
    signed = cli("sign", str(document), "--emulated", "--pin-stdin", "--json", input="TEST1234\n")
    assert signed.exit_code == 0, signed.output
    out = json.loads(signed.stdout)
    from cryptography import x509

    identity = json.loads((tmp_path / "home" / "card" / "identity.json").read_text())
    cert = x509.load_pem_x509_certificate(identity["sign_cert"].encode())
    rsa_verify(cert, base64.b64decode(out["signature"]), document.read_bytes())


def test_pin_errors_are_clear_and_safe(cli: Cli, tmp_path: Path) -> None:
    malformed = cli("read", "--emulated", "--pin-stdin", input="abc\n")
    assert malformed.exit_code == 1
    assert malformed.stderr.startswith("error [invalidPinFormat]")
    assert json.loads(cli("status", "--emulated", "--json").stdout)["triesLeft"]["sign"] == 5  # nothing spent
    for left in (4, 3, 2, 1):
        wrong = cli("read", "--emulated", "--pin-stdin", input="WRONG99\n")
        assert wrong.exit_code == 1
        assert f"{left} tries left" in wrong.stderr
        assert "WRONG99" not in wrong.output
    last = cli("read", "--emulated", "--pin-stdin", input="TEST1234\n")
    assert last.exit_code == 1
    assert last.stderr.startswith("error [lastPinTry]")
    assert "--confirm-last-try" in last.stderr
    ok = cli("read", "--emulated", "--pin-stdin", "--confirm-last-try", input="TEST1234\n")
    assert ok.exit_code == 0, ok.output
    assert json.loads(cli("status", "--emulated", "--json").stdout)["triesLeft"]["sign"] == 5
    empty = cli("read", "--emulated", "--pin-stdin", input="")
    assert empty.exit_code == 2
    assert "standard input was empty" in empty.output


def test_no_emulated_card_and_bad_person(tmp_path: Path) -> None:
    fresh = Cli(tmp_path / "other")
    missing = fresh("status", "--emulated")
    assert missing.exit_code == 1
    assert "xid card emulate" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n')
    result = fresh("emulate", "--person", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith("error [")
    assert "Traceback" not in result.output


@pytest.mark.pcsc
def test_emulate_over_vpcd_and_status_through_pcscd(pcscd: str, tmp_path: Path) -> None:  # noqa: F811
    env = {**os.environ, "XID_HOME": str(tmp_path / "home")}
    emulator = subprocess.Popen(
        [sys.executable, "-m", "xid.cli", "card", "emulate", "--person", str(PERSONS / "yamada.toml"), "--vpcd"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        status = subprocess.run(
            [sys.executable, "-m", "xid.cli", "card", "status", "--reader", pcscd, "--wait", "30", "--json"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr.decode()
        data = json.loads(status.stdout)
        assert data["reader"] == pcscd
        assert data["card"] == "my-number-card"
        assert data["triesLeft"]["sign"] == 5
    finally:
        emulator.send_signal(signal.SIGTERM)
        try:
            _, err = emulator.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            emulator.kill()
            _, err = emulator.communicate()
        time.sleep(0.3)
    assert b"card removed" in err
