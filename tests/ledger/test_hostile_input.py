"""Hostile input found by fuzzing: each case ends in a ledger error or a one-line CLI error, never a crash."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from did import KeyType, SoftwareSigner
from foundation.db import sqlite_engine
from ledger.anchors import NullAnchor, audit_verifier
from ledger.audit import audit
from ledger.errors import ConsistencyProofError, InclusionProofError, TileError
from ledger.http import BadRequestError, create_app, parse_tile_request
from ledger.log import Log
from ledger.note import Ed25519NoteVerifier
from ledger.records import EventType, PersonalDataError, Record, RecordError, digest
from ledger.rfc9162 import leaf_hash, node_hash, verify_consistency, verify_inclusion
from ledger.store import NotInitializedError, Store
from ledger.tiles import parse_tile_path
from xid.cli_ledger import ledger

ORIGIN = "xid.test/ledger/v1"
ARABIC_ONE = "\u0661"


@pytest.fixture
def default_recursion_limit() -> Iterator[None]:
    """Python's default limit: importing web3 (the EVM anchor) raises it to 100000, so 5000 levels would parse."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(2000)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def record(i: int) -> Record:
    return Record(EventType.CONSENT, datetime(2025, 6, 1, tzinfo=UTC), subject=digest(b"%d" % i))


# --- HTTP -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path = tmp_path_factory.mktemp("hostile-http") / "ledger.sqlite3"
    store = Store(sqlite_engine(path))
    with Log(store, SoftwareSigner.generate(KeyType.ED25519), origin=ORIGIN) as log:
        log.append_many(record(i) for i in range(300))
        log.checkpoint()
    yield create_app(store)
    store.engine.dispose()


def request(app: Any, method: str, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as client:
            return await client.request(method, url)

    return asyncio.run(go())


def test_tile_path_with_too_many_index_groups_is_a_400(app: Any) -> None:
    path = "0/" + "x001/" * 1500 + "000"
    with pytest.raises(BadRequestError, match="more than 7 groups"):
        parse_tile_request(path)
    response = request(app, "GET", "/tile/" + path)
    assert response.status_code == 400
    assert response.json()["error"] == "badRequest"


def test_tile_index_of_2_to_the_63_is_a_400() -> None:
    assert parse_tile_request("0/x009/x223/x372/x036/x854/x775/807") == (0, (1 << 63) - 1, 256)
    with pytest.raises(BadRequestError, match="below 2\\*\\*63"):
        parse_tile_request("0/x009/x223/x372/x036/x854/x775/808")


@pytest.mark.parametrize(
    "url",
    [
        "/tile/0/\u0660\u0660\u0660",
        "/tile/entries/x\u0660\u0660\u0661/000",
        f"/proof/inclusion?index=1{ARABIC_ONE}",
        f"/proof/consistency?old=1&new=2{ARABIC_ONE}",
    ],
)
def test_non_ascii_digits_are_refused_by_the_http_api(app: Any, url: str) -> None:
    response = request(app, "GET", url)
    assert response.status_code == 400
    assert response.json()["error"] == "badRequest"
    assert response.headers["cache-control"] == "no-store"


def test_unknown_routes_and_methods_answer_json(app: Any) -> None:
    response = request(app, "GET", "/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "notFound", "message": "no such resource: /nothing"}
    response = request(app, "POST", "/checkpoint")
    assert response.status_code == 405
    assert response.json()["error"] == "methodNotAllowed"


# --- tiles, records, proofs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [("tile/\u00b2/000", "bad tile level"), ("tile/0/000.p/\u00b2", "bad partial tile width")],
)
def test_parse_tile_path_refuses_non_ascii_digits(path: str, reason: str) -> None:
    with pytest.raises(TileError, match=reason):
        parse_tile_path(path)


def test_parse_tile_path_refuses_too_many_groups() -> None:
    with pytest.raises(TileError, match="bad tile index"):
        parse_tile_path("tile/0/" + "x001/" * 1500 + "000")


def test_rp_port_with_non_ascii_digits_is_refused() -> None:
    doc = {"type": "consent", "time": "2025-01-01T00:00:00.000Z", "rp": f"https://a.b:{ARABIC_ONE}"}
    with pytest.raises(RecordError, match="'rp'"):
        Record.from_json(doc)
    raw = f'{{"rp":"https://a.b:{ARABIC_ONE}","time":"2025-01-01T00:00:00.000Z","type":"consent","v":1}}'
    with pytest.raises(RecordError, match="'rp'"):
        Record.from_bytes(raw.encode())
    assert Record.from_json({**doc, "rp": "https://a.b:8443"}).to_bytes()


def test_time_with_non_ascii_digits_is_refused_not_rewritten() -> None:
    doc = {"type": "consent", "time": f"2025-01-01T00:00:0{ARABIC_ONE}.000Z"}
    with pytest.raises(PersonalDataError, match="'time'"):
        Record.from_json(doc)


@pytest.mark.parametrize("proof", [None, 5, "abc", b"\x00" * 32])
def test_proofs_that_are_not_sequences_are_proof_errors(proof: Any) -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    with pytest.raises(InclusionProofError, match="proof must be a sequence"):
        verify_inclusion(a, 0, 2, proof, node_hash(a, b))
    with pytest.raises(ConsistencyProofError, match="proof must be a sequence"):
        verify_consistency(1, 2, a, node_hash(a, b), proof)


def test_proof_sizes_that_are_not_integers_are_proof_errors() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    bad: Any = None
    with pytest.raises(InclusionProofError, match="leaf index must be an integer"):
        verify_inclusion(a, bad, 2, [b], node_hash(a, b))
    with pytest.raises(ConsistencyProofError, match="new size must be an integer"):
        verify_consistency(1, bad, a, node_hash(a, b), [b])


# --- audit, store ---------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("default_recursion_limit")
def test_deeply_nested_anchor_receipt_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = Store(sqlite_engine(path))
    with Log(store, SoftwareSigner.generate(KeyType.ED25519), origin=ORIGIN, anchors=[NullAnchor()]) as log:
        log.append_many([record(1)])
        log.checkpoint()
        verifier = Ed25519NoteVerifier.from_vkey(log.vkey)
    with sqlite3.connect(path) as conn:
        conn.execute("update ledger_anchors set receipt=?", ("[" * 5000 + "]" * 5000,))
    conn.close()
    report = audit(Store(sqlite_engine(path)), verifier, anchors={"none": audit_verifier(NullAnchor())})
    assert [f.code for f in report.findings] == ["badAnchor"]
    assert "nested too deeply" in report.findings[0].message


@pytest.mark.parametrize("origin", ["bad\u200borigin", "\ud800", "bidi\u202eorigin"])
def test_initialize_refuses_bad_origin_before_writing(tmp_path: Path, origin: str) -> None:
    store = Store(sqlite_engine(tmp_path / "ledger.sqlite3"))
    with pytest.raises(ValueError, match="invalid log origin"):
        store.initialize(origin)
    with pytest.raises(NotInitializedError):
        store.state()
    assert store.initialize(ORIGIN).origin == ORIGIN


# --- CLI ------------------------------------------------------------------------------------------------------------


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(ledger, list(args), env={"XID_HOME": str(self.home)}, input=input)

    def file(self, name: str, data: bytes) -> str:
        path = self.home / name
        path.write_bytes(data)
        return str(path)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = Cli(tmp_path / "home")
    assert c("init", "--origin", ORIGIN).exit_code == 0
    assert c("append", "--type", "consent", "--checkpoint").exit_code == 0
    return c


def one_line_error(result: Result, status: int, *needles: str) -> None:
    """A clean exit with the given status, no traceback, and the needles in the last line of stderr."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last, last


@pytest.mark.usefixtures("default_recursion_limit")
def test_cli_append_json_file_problems(cli: Cli) -> None:
    cases = [
        (cli.file("a.json", b"[1, 2"), "is not JSON"),
        (cli.file("b.json", b"[" * 5000), "nested too deeply"),
        (cli.file("c.json", b"\xff["), "is not UTF-8"),
        (str(cli.home / "missing.json"), "cannot read"),
        (cli.file("d.json", b'{"a": ' + b"[" * 5000 + b"\n"), "line 1 is JSON nested too deeply"),
    ]
    for path, needle in cases:
        one_line_error(cli("append", "--records", path), 2, "--records", needle)
    one_line_error(cli("append", "--records", "-", input=b"\xff\xfe"), 2, "stdin is not UTF-8")
    one_line_error(cli("append", "--records", cli.file("e.json", b"[1, 2]")), 1, "record 1", "must be a JSON object")


def test_cli_append_rp_with_non_ascii_port(cli: Cli) -> None:
    one_line_error(cli("append", "--type", "consent", "--rp", f"https://a.b:{ARABIC_ONE}"), 1, "personalData", "'rp'")


def test_cli_verify_receipt_not_utf8(cli: Cli) -> None:
    vkey = json.loads(cli("init", "--json", "--origin", ORIGIN).stdout)["vkey"]
    result = cli("verify-receipt", cli.file("r.txt", b"\xff"), cli.file("e.bin", b"x"), "--vkey", vkey)
    one_line_error(result, 2, "is not UTF-8")


def test_cli_verify_quorum_without_witnesses(cli: Cli) -> None:
    one_line_error(cli("verify", "--quorum", "1"), 2, "--quorum", "needs at least 1 --witness")


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x"])
def test_cli_junk_database_url(cli: Cli, url: str) -> None:
    one_line_error(cli("--database", url, "verify"), 2, "--database", "not a usable SQLAlchemy database URL")


@pytest.mark.parametrize("args", [["prove", "0", "--size", str(1 << 63)], ["prove", str(1 << 63)]])
def test_cli_prove_refuses_integers_beyond_63_bits(cli: Cli, args: list[str]) -> None:
    one_line_error(cli(*args), 2, "is not in the range")


def test_cli_evm_key_not_hex(cli: Cli) -> None:
    args = ["checkpoint", "--evm-rpc", "http://127.0.0.1:1", "--evm-sender", "0x" + "11" * 20]
    one_line_error(cli(*args, "--evm-key", cli.file("k", b"zz")), 2, "--evm-key", "hex private key")
    one_line_error(cli(*args[:-1], "0x0"), 2, "--evm-sender", "is not an address")


def test_cli_log_key_must_be_ed25519(cli: Cli) -> None:
    path = cli.home / "p256.jwk"
    SoftwareSigner.generate(KeyType.P256).save(path)
    for command in (["checkpoint"], ["init"], ["verify"]):
        one_line_error(cli("--key", str(path), *command), 2, "--key", "must be an Ed25519 key")


def test_cli_export_under_a_regular_file(cli: Cli) -> None:
    target = Path(cli.file("file", b"x")) / "sub"
    one_line_error(cli("export", str(target)), 1, "cannotWrite", "Not a directory")


def test_cli_prove_out_under_a_regular_file(cli: Cli) -> None:
    target = Path(cli.file("file", b"x")) / "receipt.txt"
    one_line_error(cli("prove", "0", "--out", str(target)), 1, "cannotWrite")
    one_line_error(cli("prove", "0", "--entry-out", str(target)), 1, "cannotWrite")


def test_cli_init_refuses_bad_origin_and_leaves_the_database_usable(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    one_line_error(cli("init", "--origin", "bad\u200borigin"), 2, "--origin", "invalid log origin")
    assert cli("init").exit_code == 0
    assert cli("append", "--type", "consent").exit_code == 0


def test_the_evm_anchor_puts_back_the_recursion_limit_web3_raises() -> None:
    """py_ecc (imported by web3) sets the limit to 100,000, at which deep JSON kills the process with SIGSEGV."""
    import subprocess

    program = (
        "import json, sys\n"
        "import web3\n"
        "assert sys.getrecursionlimit() == 100_000, sys.getrecursionlimit()\n"
        "import ledger.anchors.evm\n"
        "print(sys.getrecursionlimit())\n"
        "try:\n"
        "    json.loads('[' * 200_000)\n"
        "except RecursionError:\n"
        "    print('RecursionError')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1000", "RecursionError"]
