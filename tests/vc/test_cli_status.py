"""``xid status-list``: create, set, clear and check a status list credential file; errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vc.status_list import BitstringStatusEntry, check_bitstring_status
from xid.cli_status import status_list

URL = "https://issuer.example.jp/status/1"


def test_create_set_clear_check(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "status.json"
    made = runner.invoke(status_list, ["create", str(path), "--id", URL, "--issuer", "did:web:issuer.example.jp",
                                       "--purpose", "suspension"])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert runner.invoke(status_list, ["set", str(path), "23452"]).exit_code == 0
    checked = runner.invoke(status_list, ["check", "--json", str(path), "23452"])
    assert json.loads(checked.stdout) == {"index": 23452, "purpose": "suspension", "status": 1}
    entry = BitstringStatusEntry("suspension", 23452, URL)
    assert check_bitstring_status(entry, json.loads(path.read_text())) == 1  # the file is a real list credential
    assert runner.invoke(status_list, ["set", str(path), "23452", "--value", "0"]).exit_code == 0
    assert json.loads(runner.invoke(status_list, ["check", "--json", str(path), "23452"]).stdout)["status"] == 0


def test_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "status.json"
    args = ["create", str(path), "--id", URL, "--issuer", "did:web:issuer.example.jp"]
    assert runner.invoke(status_list, args).exit_code == 0
    again = runner.invoke(status_list, args)
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.stderr
    out_of_range = runner.invoke(status_list, ["check", "--json", str(path), "131072"])
    assert out_of_range.exit_code == 1
    assert out_of_range.stderr.startswith("error [statusRangeError]")
    too_small = runner.invoke(status_list, ["create", str(tmp_path / "s.json"), "--id", URL, "--issuer", "x",
                                            "--entries", "100"])  # fmt: skip
    assert too_small.exit_code == 2
    other = tmp_path / "other.json"
    other.write_text('{"credentialSubject": {"type": "Person"}}')
    wrong = runner.invoke(status_list, ["set", str(other), "1"])
    assert wrong.exit_code == 1
    assert "not a BitstringStatusListCredential" in wrong.stderr
    before = path.read_bytes()
    bad_value = runner.invoke(status_list, ["set", str(path), "5", "--value", "2"])
    assert bad_value.exit_code == 1
    assert path.read_bytes() == before  # nothing half-written


def test_a_two_bit_list_round_trips_and_can_be_secured(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "status.json"
    made = runner.invoke(status_list, ["create", str(path), "--id", URL, "--issuer", "did:web:issuer.example.jp",
                                       "--purpose", "message", "--status-size", "2"])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "pass --status-size 2 to set and check" in made.stderr
    assert "statusSize" not in json.loads(path.read_text())["credentialSubject"]  # only entries carry it
    assert runner.invoke(status_list, ["set", str(path), "5", "--value", "3", "--status-size", "2"]).exit_code == 0
    checked = runner.invoke(status_list, ["check", "--json", str(path), "5", "--status-size", "2"])
    assert json.loads(checked.stdout)["status"] == 3
    neighbour = runner.invoke(status_list, ["check", "--json", str(path), "4", "--status-size", "2"])
    assert json.loads(neighbour.stdout)["status"] == 0
    entry = BitstringStatusEntry("message", 5, URL, status_size=2)
    assert check_bitstring_status(entry, json.loads(path.read_text())) == 3
    # An older file that states its size: a different --status-size is refused, none means the stated one.
    credential = json.loads(path.read_text())
    credential["credentialSubject"]["statusSize"] = 2
    path.write_text(json.dumps(credential))
    assert json.loads(runner.invoke(status_list, ["check", "--json", str(path), "5"]).stdout)["status"] == 3
    wrong = runner.invoke(status_list, ["check", "--json", str(path), "5", "--status-size", "4"])
    assert wrong.exit_code == 1
    assert "states statusSize 2, not 4" in wrong.stderr
    assert runner.invoke(status_list, ["set", str(path), "5", "--value", "0"]).exit_code == 0
    assert "statusSize" not in json.loads(path.read_text())["credentialSubject"]
