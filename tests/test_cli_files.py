"""Files given on the command line that are not UTF-8, not JSON, nested too deeply or hold a huge number: one-line
usage errors with exit status 2, never a traceback; a JSON file that is not a valid key is a domain error (1)."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from did import InvalidJwkError, KeyType, SoftwareSigner, did_key
from xid.cli_status import status_list
from xid.cli_vc import vc
from xid.files import CannotWriteError, OutputExistsError, parse_json, read_json, read_text, write_file

NOT_UTF8 = b'{"a": "\xff\xfe"}'
DEEP = "[" * 100_000 + "]" * 100_000
HUGE_NUMBER = '{"a": ' + "1" * 5000 + "}"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"binary": NOT_UTF8, "deep": DEEP.encode(), "huge": HUGE_NUMBER.encode(), "broken": b'{"a": '}
    for name, data in paths.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in paths}


def test_read_text_and_json_name_the_problem(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(click.BadParameter, match=r"is not UTF-8 text \(byte 7\)"):
        read_text(files["binary"], "FILE")
    with pytest.raises(click.BadParameter, match=r"cannot read .*absent"):
        read_text(tmp_path / "absent", "FILE")
    with pytest.raises(click.BadParameter, match=r"is not JSON: Expecting value \(line 1\)"):
        read_json(files["broken"], "FILE")
    for name in ("deep", "huge"):
        with pytest.raises(click.BadParameter, match="nested too deeply or with a number too long"):
            read_json(files[name], "FILE")
    assert parse_json('{"a": [1]}', "x", "FILE") == {"a": [1]}


def run(group: click.Group, *args: str | Path) -> Result:
    return CliRunner().invoke(group, [str(a) for a in args])


def one_line_error(result: Result, status: int) -> None:
    assert result.exit_code == status, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def test_vc_commands_refuse_unreadable_files(files: dict[str, Path], tmp_path: Path) -> None:
    key = tmp_path / "issuer.jwk"
    did_key.generate(KeyType.ED25519).save(key)
    token = tmp_path / "token.txt"
    token.write_text("a.b.c")
    for name in ("binary", "deep", "huge"):
        issued = run(vc, "issue", "--format", "jwt", "--key", key, files[name])
        one_line_error(issued, 2)
        assert "Invalid value for CREDENTIAL" in issued.output
        listed = run(vc, "verify", token, "--status-list", files[name])
        one_line_error(listed, 2)
        assert "--status-list" in listed.output
    one_line_error(run(vc, "verify", files["binary"]), 2)
    bad_key = run(vc, "issue", "--format", "jwt", "--key", files["binary"], files["broken"])
    one_line_error(bad_key, 2)
    assert bad_key.stderr.startswith("error [usageError]: Invalid value for --key: ")
    not_a_key = tmp_path / "not-a-key.json"
    not_a_key.write_text('{"kty": "OKP"}')
    invalid = run(vc, "issue", "--format", "jwt", "--key", not_a_key, files["broken"])
    one_line_error(invalid, 1)
    assert invalid.stderr.startswith("error [invalidJwk]: ")


def test_a_non_ascii_digit_in_a_claim_path_is_a_name_not_an_index(tmp_path: Path) -> None:
    key = tmp_path / "issuer.jwk"
    did_key.generate(KeyType.ED25519).save(key)
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"vct": "https://xid.example/v", "list": ["a", "b"], "²": "squared"}))
    issued = run(vc, "issue", "--format", "sd-jwt", "--key", key, "--sd", "²", "--sd", "list.1", claims)
    assert issued.exit_code == 0, issued.output
    assert issued.stdout.count("~") == 3  # two disclosures: the "²" claim and list element 1


def test_status_list_check_refuses_unreadable_files(files: dict[str, Path]) -> None:
    for name, needle in (("binary", "is not UTF-8 text"), ("deep", "nested too deeply"), ("huge", "too long")):
        checked = run(status_list, "check", files[name], "0")
        one_line_error(checked, 2)
        assert checked.stderr.startswith("error [usageError]: Invalid value for FILE: ")
        assert needle in checked.stderr


def test_signer_load_refuses_unreadable_key_files(files: dict[str, Path]) -> None:
    for name in ("binary", "deep", "huge", "broken"):
        with pytest.raises(InvalidJwkError, match="key file"):
            SoftwareSigner.load(files[name])


def test_write_file_replaces_atomically_with_the_modes_asked(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_file(target, '{"a": 1}\n')
    assert target.read_text() == '{"a": 1}\n'
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    write_file(target, b"second")
    assert target.read_bytes() == b"second"
    secret = tmp_path / "keys" / "k.jwk"
    write_file(secret, "secret", secret=True, parents=True)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", "out.json"]  # no temporary file left


def test_write_file_never_overwrites_when_asked_not_to(tmp_path: Path) -> None:
    target = tmp_path / "k.jwk"
    write_file(target, "first", secret=True, overwrite=False)
    with pytest.raises(OutputExistsError, match="already exists; refusing to overwrite it"):
        write_file(target, "second", secret=True, overwrite=False)
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["k.jwk"]


def test_write_file_keeps_the_old_file_when_the_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "status.json"
    target.write_text("old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CannotWriteError, match=r"cannot write .*status.json: No space left on device"):
        write_file(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_write_file_does_not_create_directories_the_user_named(tmp_path: Path) -> None:
    with pytest.raises(CannotWriteError, match="No such file or directory"):
        write_file(tmp_path / "missing" / "x.json", "{}")
    assert not (tmp_path / "missing").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CannotWriteError, match="file is not a directory"):
        write_file(blocker / "x.json", "{}", parents=True)
    with pytest.raises(CannotWriteError, match="Not a directory"):
        write_file(blocker / "x.json", "{}")
