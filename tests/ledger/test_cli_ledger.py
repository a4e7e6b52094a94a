"""``xid ledger``: the commands end to end, and one-line errors (never a traceback) for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from ledger.records import digest
from tests.database import KINDS, database_url, engine_for
from xid.cli_ledger import ledger

SUBJECT = digest(b"subject")
OBJECT = digest(b"document")


class Cli:
    def __init__(self, home: Path, database: str | None = None) -> None:
        self.home = home
        self.database = database

    def __call__(self, *args: str, input: str | None = None) -> Result:
        prefix = ["--database", self.database] if self.database else []
        return CliRunner().invoke(ledger, [*prefix, *args], env={"XID_HOME": str(self.home)}, input=input)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


def init(cli: Cli) -> str:
    result = cli("init", "--json", "--origin", "xid.test/ledger/v1")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["origin"], out["size"]) == ("xid.test/ledger/v1", 0)
    return str(out["vkey"])


@pytest.mark.parametrize("kind", KINDS)
def test_the_whole_cycle(kind: str, tmp_path: Path) -> None:
    with database_url(kind, tmp_path) as url:
        cli = Cli(tmp_path / "home", None if kind == "sqlite" else url)
        vkey = init(cli)
        assert init(cli) == vkey  # idempotent: same key, same log

        result = cli(
            "append", "--type", "signature", "--subject", SUBJECT, "--rp", "https://rp.example.jp", "--object", OBJECT
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("appended index 0, leaf hash ")

        lines = [
            json.dumps({"type": "authentication", "time": "2025-04-01T00:00:00.000Z", "subject": digest(b"%d" % i)})
            for i in range(5)
        ]
        result = cli("append", "--records", "-", "--json", "--checkpoint", input="\n".join(lines) + "\n")
        assert result.exit_code == 0, result.output
        assert [json.loads(line)["index"] for line in result.stdout.splitlines()] == [1, 2, 3, 4, 5]

        result = cli("checkpoint")
        assert result.exit_code == 0
        assert "has not grown" in result.stderr
        assert result.stdout.splitlines()[:2] == ["xid.test/ledger/v1", "6"]

        receipt, entry = tmp_path / "r.txt", tmp_path / "e.json"
        result = cli("prove", "3", "--out", str(receipt), "--entry-out", str(entry))
        assert result.exit_code == 0, result.output
        assert receipt.read_text().startswith("c2sp.org/tlog-proof@v1\n")
        result = cli("verify-receipt", str(receipt), str(entry), "--vkey", vkey)
        assert result.exit_code == 0, result.output
        assert result.stdout == "ok: entry 3 is in xid.test/ledger/v1 at size 6\n"
        entry.write_bytes(entry.read_bytes().replace(b"2025", b"2026"))
        result = cli("verify-receipt", str(receipt), str(entry), "--vkey", vkey)
        assert result.exit_code == 1
        assert result.stderr.startswith("error [")

        result = cli("verify")
        assert result.exit_code == 0, result.output
        assert "checked 6 entries" in result.stdout
        assert "ok: the log is intact" in result.stdout
        assert "auditing entries" in result.stderr  # the progress bar

        result = cli("export", str(tmp_path / "out"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / "out" / "checkpoint").read_text().splitlines()[1] == "6"
        assert (tmp_path / "out" / "tile" / "0" / "000.p" / "6").stat().st_size == 6 * 32
        assert (tmp_path / "out" / "tile" / "entries" / "000.p" / "6").exists()

        # The default SQLite database lives in XID_HOME; PostgreSQL is the one given with --database.
        stored = f"sqlite:///{tmp_path / 'home' / 'ledger.sqlite3'}" if kind == "sqlite" else url
        engine = engine_for(stored)
        try:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM ledger_entries WHERE idx = 2"))
        finally:
            engine.dispose()
        result = cli("verify")
        assert result.exit_code == 1
        assert "FINDING [missingEntry] entry 2 is missing" in result.stdout
        assert result.stderr.strip().endswith("error [auditFailed]: 1 problem(s) found in the log")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["append", "--type", "signature", "--subject", "123456789012"], "personalData", "My Number"),
        (["append", "--type", "signature", "--rp", "Taro Yamada"], "personalData", "free text"),
        (["append", "--type", "signature", "--time", "1985-04-12T00:00:00.000Z"], "personalData", "date of birth"),
        (["append", "--type", "gossip"], "invalidRecord", "one of: enrollment"),
        (["prove", "99"], "indexOutOfRange", "no entry at index 99"),
    ],
)
def test_errors_are_one_line(cli: Cli, args: list[str], code: str, fragment: str) -> None:
    init(cli)
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error [{code}]: ")
    assert fragment in result.stderr
    assert "Traceback" not in result.output


def test_personal_data_fields_in_json_input_are_refused(cli: Cli, tmp_path: Path) -> None:
    init(cli)
    source = tmp_path / "records.json"
    source.write_text(json.dumps([{"type": "enrollment", "time": "2025-04-01T00:00:00.000Z", "name": "山田太郎"}]))
    result = cli("append", "--records", str(source))
    assert result.exit_code == 1
    assert (
        result.stderr == "error [personalData]: field 'name' would hold personal data; the ledger stores only hashes\n"
    )
    assert cli("verify").stdout.startswith("checked 0 entries")


def test_usage_errors(cli: Cli) -> None:
    init(cli)
    assert cli("append").exit_code == 2
    result = cli("append", "--records", "-", "--type", "consent")
    assert result.exit_code == 2
    assert "either --records or the record options" in result.stderr
    result = cli("init", "--origin", "bad origin")
    assert result.exit_code == 2
    assert "invalid log origin" in result.stderr


def test_commands_need_the_key_and_the_log(cli: Cli, tmp_path: Path) -> None:
    result = cli("checkpoint")
    assert result.exit_code == 1
    assert result.stderr.startswith("error [missingKey]: no ledger key at ")
    result = Cli(tmp_path / "other")("--key", str(tmp_path / "k.jwk"), "export", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error [notInitialized]: ")
