"""``xid card``: emulate, status, read, sign, in-process and through pcscd + vpcd; errors are one line."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jpki_bridge.profile import DateOfBirth, Sex
from tests.helpers import PERSONS, require_component, rsa_verify
from tests.jpki.pcscd import pcscd  # noqa: F401 - fixture
from xid.cli_card import card

OPENSSL = shutil.which("openssl")


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
    assert (basic4["dateOfBirth"], basic4["dateOfBirthIso"], basic4["dateOfBirthEra"]) == (
        "419900102",
        "1990-01-02",
        "平成2年",
    )
    assert (basic4["sex"], basic4["sexLabel"]) == ("1", "male")
    document = tmp_path / "contract.txt"
    document.write_text("I agree.")
    signed = cli("sign", str(document), "--emulated", "--which", "sign", "--pin-stdin", "--json", input="TEST1234\n")
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


def test_read_shows_what_a_person_reads_and_keeps_the_stored_values(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    assert cli("emulate", "--person", str(PERSONS / "unknown_sex_partial_dob.toml")).exit_code == 0
    read = cli("read", "--emulated", "--pin-stdin", input="TEST1234\n")
    assert read.exit_code == 0, read.output
    lines = read.stdout.splitlines()
    assert "sex:           unknown (code 3)" in lines
    assert "date of birth: 1990 (平成2年; month and day unknown) (stored as 419900000)" in lines
    data = json.loads(cli("read", "--emulated", "--pin-stdin", "--json", input="TEST1234\n").stdout)["basic4"]
    assert (data["dateOfBirth"], data["dateOfBirthIso"], data["dateOfBirthEra"]) == ("419900000", "1990", "平成2年")
    assert (data["sex"], data["sexLabel"]) == ("3", "unknown")


def test_read_exports_the_certificates_as_pem(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    read = cli("read", "--emulated", "--pin-stdin", "--json", "--out-dir", str(out), input="TEST1234\n")
    assert read.exit_code == 0, read.output
    data = json.loads(read.stdout)
    assert data["files"] == {
        "signCertificate": str(out / "signature.pem"),
        "authCertificate": str(out / "authentication.pem"),
    }
    identity = json.loads((tmp_path / "home" / "card" / "identity.json").read_text())
    for name, key, summary in (
        ("signature.pem", "sign_cert", "signCertificate"),
        ("authentication.pem", "auth_cert", "authCertificate"),
    ):
        pem = out / name
        assert pem.read_text() == identity[key]  # exactly the card's certificate
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600  # the signature certificate holds the basic 4 info
        require_component(OPENSSL is not None, "openssl CLI (apt: openssl)")
        assert OPENSSL is not None
        shown = subprocess.run(
            [OPENSSL, "x509", "-in", str(pem), "-noout", "-serial"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        label, _, value = shown.stdout.strip().partition("=")
        assert (label, int(value, 16)) == ("serial", int(data[summary]["serial"], 16))


def test_sign_writes_the_signature_and_the_key_is_chosen_with_which(cli: Cli, tmp_path: Path) -> None:
    document = tmp_path / "contract.txt"
    document.write_text("I agree.")
    out = tmp_path / "contract.sig"
    signed = cli(
        "sign",
        str(document),
        "--emulated",
        "--which",
        "auth",
        "--pin-stdin",
        "--json",
        "--out",
        str(out),
        input="1234\n",
    )
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["key"] == "auth"
    from cryptography import x509

    identity = json.loads((tmp_path / "home" / "card" / "identity.json").read_text())
    rsa_verify(x509.load_pem_x509_certificate(identity["auth_cert"].encode()), out.read_bytes(), document.read_bytes())
    old = cli("sign", str(document), "--emulated", "--key", "auth")
    assert old.exit_code == 2
    assert old.stderr.startswith("error [usageError]: No such option '--key'")


@pytest.mark.parametrize(
    ("stored", "iso", "era_year", "shown"),
    [
        ("118680101", "1868-01-01", "明治元年", "1868-01-01 (明治元年)"),
        ("119120730", "1912-07-30", "明治45年", "1912-07-30 (明治45年)"),  # the last day of Meiji ...
        ("219120730", "1912-07-30", "大正元年", "1912-07-30 (大正元年)"),  # ... is also the first of Taisho
        ("219261225", "1926-12-25", "大正15年", "1926-12-25 (大正15年)"),
        ("319261225", "1926-12-25", "昭和元年", "1926-12-25 (昭和元年)"),
        ("319890107", "1989-01-07", "昭和64年", "1989-01-07 (昭和64年)"),
        ("419890108", "1989-01-08", "平成元年", "1989-01-08 (平成元年)"),
        ("419900102", "1990-01-02", "平成2年", "1990-01-02 (平成2年)"),
        ("420190430", "2019-04-30", "平成31年", "2019-04-30 (平成31年)"),
        ("520190501", "2019-05-01", "令和元年", "2019-05-01 (令和元年)"),
        ("520260101", "2026-01-01", "令和8年", "2026-01-01 (令和8年)"),
        ("520210500", "2021-05", "令和3年", "2021-05 (令和3年; day unknown)"),
        ("419900000", "1990", "平成2年", "1990 (平成2年; month and day unknown)"),
        ("400000000", None, None, "unknown (平成)"),
        ("000000000", None, None, "unknown"),
        ("019900102", "1990-01-02", None, "1990-01-02"),  # era not stated: none is made up
        ("019900000", "1990", None, "1990 (month and day unknown)"),
    ],
)
def test_date_of_birth_for_people(stored: str, iso: str | None, era_year: str | None, shown: str) -> None:
    dob = DateOfBirth.parse(stored)
    assert (dob.text, dob.iso, dob.era_year, dob.display()) == (stored, iso, era_year, shown)


def test_sex_as_a_word() -> None:
    assert [(Sex.parse(code).label, Sex.parse(code).value) for code in "123"] == [
        ("male", "1"),
        ("female", "2"),
        ("unknown", "3"),
    ]


def test_an_unwritable_output_fails_before_the_pin_is_asked(cli: Cli, tmp_path: Path) -> None:
    document = tmp_path / "contract.txt"
    document.write_text("I agree.")
    blocker = tmp_path / "file"
    blocker.write_text("")
    for args in (["sign", str(document), "--out", str(blocker / "sig")], ["read", "--out-dir", str(blocker / "d")]):
        result = cli(*args, "--emulated", "--pin-stdin", input="WRONG99\n")
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error [cannotWrite]: ")
    assert json.loads(cli("status", "--emulated", "--json").stdout)["triesLeft"]["sign"] == 5  # no try spent
