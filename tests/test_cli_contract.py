"""One CLI contract for every ``xid`` subcommand, enumerated from the click tree itself.

Every subcommand is run with a missing input file, an input that is not JSON (or not the format it reads), and an
output path that cannot be written; each must exit with the status the contract gives, print an
``error [code]: message`` line on stderr and never a traceback. A subcommand that takes no such file says why in
the table. A new subcommand fails ``test_the_table_covers_every_subcommand`` until it is added here.

Also: ``import xid.cli`` and the fast paths load no heavy dependency, lazy help matches the commands, and every
group's help lists all of its subcommands.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from did import KeyType, did_key
from tests.helpers import PERSONS
from vc.errors import VcError
from xid.cli import COMMAND_GROUPS, main
from xid.cli_group import XidGroup

URL = "https://issuer.example.jp/status/1"
PIN = "TEST1234\n"


@dataclass(frozen=True)
class Case:
    """One run: arguments after ``xid`` (with {placeholders}), the expected exit status and error code."""

    args: tuple[str, ...]
    status: int
    code: str
    input: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    read_only: bool = False
    """Make every write fail as on a read-only file system (for commands that rewrite the file they read)."""


def case(args: str, status: int, code: str, **kwargs: object) -> Case:
    return Case(tuple(args.split()), status, code, **kwargs)  # type: ignore[arg-type]


NOT_APPLICABLE = "n/a"
MISSING, NOT_JSON, UNWRITABLE = "missing input", "non-JSON input", "unwritable output"

# For each subcommand: a Case per kind of bad file, or a string saying why the kind does not apply.
TABLE: dict[tuple[str, ...], dict[str, Case | str]] = {
    ("card", "emulate"): {
        MISSING: case("card emulate --person {missing}", 2, "usageError"),
        NOT_JSON: case("card emulate --person {text}", 2, "usageError"),  # the person file is TOML
        UNWRITABLE: case("card emulate --person {person}", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("card", "status"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: "writes no file",
    },
    ("card", "read"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("card read --emulated --pin-stdin --out-dir {unwritable}", 1, "cannotWrite", input=PIN),
    },
    ("card", "sign"): {
        MISSING: case("card sign {missing} --emulated --pin-stdin", 2, "usageError", input=PIN),
        NOT_JSON: "signs any bytes",
        UNWRITABLE: case("card sign {text} --emulated --pin-stdin --out {unwritable}", 1, "cannotWrite", input=PIN),
    },
    ("db", "upgrade"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("db upgrade", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("db", "current"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: "writes nothing (a missing embedded database is reported as empty, not created)",
    },
    ("db", "check"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: "writes nothing (the migrations run on a scratch database in memory)",
    },
    ("db", "history"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: "writes nothing",
    },
    ("demo",): {
        MISSING: "takes no arguments",
        NOT_JSON: "takes no arguments",
        UNWRITABLE: "writes only in a temporary directory of its own",
    },
    ("issuer", "instances"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer instances", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "credentials"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer credentials person-1", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "revoke"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer revoke c-1", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "suspend"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer suspend c-1", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "reinstate"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer reinstate c-1", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "revoke-certificate"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer revoke-certificate 0a", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "merge-persons"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer merge-persons p-1 p-2", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "recheck"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer recheck", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "purge"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("issuer purge", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("issuer", "secrets"): {
        MISSING: "reads no file",
        NOT_JSON: "reads no file",
        UNWRITABLE: case("issuer secrets {unwritable}", 1, "cannotWrite"),
    },
    ("mynumber", "keygen"): {
        MISSING: "reads no file",
        NOT_JSON: "reads no file",
        UNWRITABLE: case("mynumber keygen --out {unwritable}", 1, "cannotWrite"),
    },
    ("mynumber", "receive"): {
        MISSING: case("mynumber receive --key {missing} --audience http://127.0.0.1:9 --purpose p", 2, "usageError"),
        NOT_JSON: case("mynumber receive --key {text} --audience http://127.0.0.1:9 --purpose p", 2, "usageError"),
        UNWRITABLE: "writes no file (prints each handover on stdout)",
    },
    ("oidc", "rotate-keys"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("oidc rotate-keys", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("rp", "add"): {
        MISSING: case(
            "rp add --name Shop --sector shop.example --auth-method private_key_jwt --jwks {missing}", 2, "usageError"
        ),
        NOT_JSON: case(
            "rp add --name Shop --sector shop.example --auth-method private_key_jwt --jwks {text}", 2, "usageError"
        ),
        UNWRITABLE: case(
            "rp add --name Shop --sector shop.example", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}
        ),
    },
    ("rp", "list"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("rp list", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("rp", "remove"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case("rp remove c-1", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("config", "check"): {
        MISSING: case("config check --config {missing}", 2, "usageError"),
        NOT_JSON: case("config check --config {text}", 2, "usageError"),
        UNWRITABLE: "writes no file",
    },
    ("config", "show"): {
        MISSING: case("config show --config {missing}", 2, "usageError"),
        NOT_JSON: case("config show --config {text}", 2, "usageError"),
        UNWRITABLE: "writes no file",
    },
    ("serve",): {
        MISSING: case("serve --config {missing}", 2, "usageError"),
        NOT_JSON: case("serve --config {text}", 2, "usageError"),
        UNWRITABLE: case("serve --port 0", 1, "cannotWrite", env={"XID_HOME": "{unwritable}"}),
    },
    ("did", "create"): {
        MISSING: "reads no file",
        NOT_JSON: "reads no file",
        UNWRITABLE: case("did create --out {unwritable}", 1, "cannotWrite"),
    },
    ("did", "resolve"): {
        MISSING: "takes a DID, not a file",
        NOT_JSON: "takes a DID, not a file",
        UNWRITABLE: "prints to stdout only",
    },
    ("did", "web-document"): {
        MISSING: case("did web-document did:web:example.com --key {missing}", 2, "usageError"),
        NOT_JSON: case("did web-document did:web:example.com --key {text}", 2, "usageError"),
        UNWRITABLE: case("did web-document did:web:example.com --key {key} --out {unwritable}", 1, "cannotWrite"),
    },
    ("ledger", "append"): {
        MISSING: case("ledger append --records {missing}", 2, "usageError"),
        NOT_JSON: case("ledger append --records {text}", 2, "usageError"),
        UNWRITABLE: "writes to the database, not to a file",
    },
    ("ledger", "checkpoint"): {
        MISSING: case("ledger checkpoint --tsa-url http://127.0.0.1:9 --tsa-root {missing}", 2, "usageError"),
        NOT_JSON: case("ledger --key {text} checkpoint", 2, "usageError"),
        UNWRITABLE: "writes to the database, not to a file",
    },
    ("ledger", "export"): {
        MISSING: "reads the database, not a file",
        NOT_JSON: "reads the database, not a file (and needs no key)",
        UNWRITABLE: case("ledger export {unwritable}", 1, "cannotWrite"),
    },
    ("ledger", "init"): {
        MISSING: "creates the key when it is missing",
        NOT_JSON: case("ledger --key {text} init", 2, "usageError"),
        UNWRITABLE: case("ledger --key {unwritable} init", 1, "cannotWrite"),
    },
    ("ledger", "prove"): {
        # The log key is state made by 'xid ledger init', not an input: without it the log is not set up.
        MISSING: case("ledger --key {missing} prove 0", 1, "missingKey"),
        NOT_JSON: case("ledger --key {text} prove 0", 2, "usageError"),
        UNWRITABLE: case("ledger prove 0 --out {unwritable}", 1, "cannotWrite"),
    },
    ("ledger", "verify"): {
        MISSING: case("ledger verify --tsa-root {missing}", 2, "usageError"),
        NOT_JSON: case("ledger --key {text} verify", 2, "usageError"),
        UNWRITABLE: "writes no file",
    },
    ("ledger", "verify-receipt"): {
        MISSING: case("ledger verify-receipt {missing} {text} --vkey {vkey}", 2, "usageError"),
        # A receipt is a text format (c2sp.org/tlog-proof): text that is not one is an invalid receipt.
        NOT_JSON: case("ledger verify-receipt {text} {text} --vkey {vkey}", 1, "invalidReceipt"),
        UNWRITABLE: "writes no file",
    },
    ("status-list", "check"): {
        MISSING: case("status-list check {missing} 0", 2, "usageError"),
        NOT_JSON: case("status-list check {text} 0", 2, "usageError"),
        UNWRITABLE: "writes no file",
    },
    ("status-list", "create"): {
        MISSING: "reads no file",
        NOT_JSON: "reads no file",
        UNWRITABLE: case(f"status-list create {{unwritable}} --id {URL} --issuer did:web:x.example", 1, "cannotWrite"),
    },
    ("status-list", "set"): {
        MISSING: case("status-list set {missing} 0", 2, "usageError"),
        NOT_JSON: case("status-list set {text} 0", 2, "usageError"),
        UNWRITABLE: case("status-list set {status} 0", 1, "cannotWrite", read_only=True),
    },
    ("vc", "issue"): {
        MISSING: case("vc issue --format jwt --key {key} {missing}", 2, "usageError"),
        NOT_JSON: case("vc issue --format jwt --key {key} {text}", 2, "usageError"),
        UNWRITABLE: "prints to stdout only",
    },
    ("vc", "present"): {
        MISSING: case("vc present {missing} --holder-key {key} --aud a --nonce n", 2, "usageError"),
        NOT_JSON: case("vc present {text} --holder-key {text} --aud a --nonce n", 2, "usageError"),
        UNWRITABLE: "prints to stdout only",
    },
    ("vc", "verify"): {
        MISSING: case("vc verify {missing}", 2, "usageError"),
        # FILE may hold a compact token (not JSON); the status lists it is given are JSON or tokens.
        NOT_JSON: case("vc verify {text} --status-list {text}", 2, "usageError"),
        UNWRITABLE: "prints to stdout only",
    },
    ("verify-signature",): {
        MISSING: case("verify-signature {missing} --trust-root {text} --vkey k", 2, "usageError"),
        NOT_JSON: case("verify-signature {text} --trust-root {text} --vkey k", 2, "usageError"),  # not a PEM root
        UNWRITABLE: "writes no file",
    },
    ("wallet", "accept"): {
        MISSING: "takes an offer URI, not a file",
        NOT_JSON: "takes an offer URI, not a file",
        UNWRITABLE: case("wallet accept x --wallet {unwritable} --passphrase-stdin", 1, "noWallet", input="pw\n"),
    },
    ("wallet", "enroll"): {
        MISSING: "reads no file named on the command line",
        NOT_JSON: "reads no file named on the command line",
        UNWRITABLE: case(
            "wallet enroll --issuer http://127.0.0.1:9 --emulated --wallet {unwritable} --passphrase-stdin",
            1,
            "noWallet",
            input="pw\n",
        ),
    },
    ("wallet", "init"): {
        MISSING: "reads no file",
        NOT_JSON: "reads no file",
        UNWRITABLE: case("wallet init --wallet {unwritable} --passphrase-stdin", 1, "walletWriteFailed", input="pw\n"),
    },
    ("wallet", "list"): {
        MISSING: "reads the wallet, not a file named on the command line",
        NOT_JSON: "reads the wallet, not a file named on the command line",
        UNWRITABLE: "writes no file",
    },
    ("wallet", "mynumber", "send"): {
        MISSING: "takes a business URL, not a file",
        NOT_JSON: "takes a business URL, not a file",
        UNWRITABLE: "writes no file",
    },
    ("wallet", "present"): {
        MISSING: "takes a request URL, not a file",
        NOT_JSON: "takes a request URL, not a file",
        UNWRITABLE: case("wallet present x --wallet {unwritable} --passphrase-stdin", 1, "noWallet", input="pw\n"),
    },
    ("wallet", "consents", "list"): {
        MISSING: "takes a provider URL, not a file",
        NOT_JSON: "takes a provider URL, not a file",
        UNWRITABLE: case(
            "wallet consents list --op https://op.example --wallet {unwritable} --passphrase-stdin",
            1,
            "noWallet",
            input="pw\n",
        ),
    },
    ("wallet", "consents", "revoke"): {
        MISSING: "takes a consent id and a provider URL, not a file",
        NOT_JSON: "takes a consent id and a provider URL, not a file",
        UNWRITABLE: case(
            "wallet consents revoke x --op https://op.example --wallet {unwritable} --passphrase-stdin",
            1,
            "noWallet",
            input="pw\n",
        ),
    },
    ("wallet", "delete"): {
        MISSING: "takes a credential id, not a file",
        NOT_JSON: "takes a credential id, not a file",
        UNWRITABLE: case("wallet delete x --wallet {unwritable} --passphrase-stdin", 1, "noWallet", input="pw\n"),
    },
    ("wallet", "export"): {
        MISSING: "takes a credential id; the file it names is created",
        NOT_JSON: "takes a credential id; the file it names is created",
        UNWRITABLE: case(
            "wallet export x --out {unwritable} --wallet {unwritable} --passphrase-stdin", 1, "noWallet", input="pw\n"
        ),
    },
    ("wallet", "passphrase"): {
        MISSING: "reads the wallet, not a file named on the command line",
        NOT_JSON: "reads the wallet, not a file named on the command line",
        UNWRITABLE: case("wallet passphrase --wallet {unwritable} --passphrase-stdin", 1, "noWallet", input="pw\n"),
    },
    ("wallet", "show"): {
        MISSING: "takes a credential id, not a file",
        NOT_JSON: "takes a credential id, not a file",
        UNWRITABLE: "writes no file",
    },
    ("wallet", "sign"): {
        MISSING: case("wallet sign {missing}", 2, "usageError"),
        NOT_JSON: "signs any file (a detached JWS for what is not a PDF)",
        UNWRITABLE: case("wallet sign {text} --wallet {unwritable} --passphrase-stdin", 1, "noWallet", input="pw\n"),
    },
    ("wallet", "trust", "add"): {
        MISSING: case("wallet trust add {missing}", 2, "usageError"),
        NOT_JSON: "reads a PEM certificate; the wallet is opened first (a text file is refused: tests/wallet)",
        UNWRITABLE: case(
            "wallet trust add {text} --wallet {unwritable} --passphrase-stdin", 1, "noWallet", input="pw\n"
        ),
    },
    ("wallet", "trust", "list"): {
        MISSING: "reads the wallet, not a file named on the command line",
        NOT_JSON: "reads the wallet, not a file named on the command line",
        UNWRITABLE: "writes no file",
    },
}


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every runnable subcommand under the group, loading lazy groups as the CLI does."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def groups(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Group]]:
    """The group and every group under it."""
    yield prefix, group
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from groups(command, (*prefix, name))


def test_the_table_covers_every_subcommand() -> None:
    assert set(TABLE) == {path for path, _ in leaf_commands(main)}
    for path, kinds in TABLE.items():
        assert set(kinds) == {MISSING, NOT_JSON, UNWRITABLE}, path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A home with an emulated card and a ledger holding one checkpointed entry, and the files the cases name."""
    root = tmp_path_factory.mktemp("contract")
    home = root / "home"
    runner = CliRunner()
    env = {"XID_HOME": str(home)}

    def ok(*args: str) -> Result:
        result = runner.invoke(main, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result

    ok("card", "emulate", "--person", str(PERSONS / "yamada.toml"))
    vkey = json.loads(ok("ledger", "init", "--json").stdout)["vkey"]
    ok("ledger", "append", "--type", "signature", "--subject", "ab" * 32, "--checkpoint")
    key = root / "issuer.jwk"
    did_key.generate(KeyType.ED25519).save(key)
    status = root / "status.json"
    ok("status-list", "create", str(status), "--id", URL, "--issuer", "did:web:x.example")
    text = root / "text.txt"
    text.write_text("this is neither JSON nor TOML nor a receipt\n")
    blocker = root / "a-regular-file"
    blocker.write_text("")
    return {
        "home": str(home),
        "key": str(key),
        "status": str(status),
        "text": str(text),
        "person": str(PERSONS / "yamada.toml"),
        "vkey": vkey,
        "missing": str(root / "no-such-file.json"),
        "unwritable": str(blocker / "out"),  # its parent is a regular file: no one can create it, not even root
    }


CASES = [
    pytest.param(path, kind, spec, id=f"{' '.join(path)}: {kind}")
    for path, kinds in sorted(TABLE.items())
    for kind, spec in kinds.items()
    if isinstance(spec, Case)
]


def _read_only(*args: object, **kwargs: object) -> tuple[int, str]:
    raise OSError(errno.EROFS, "Read-only file system")


@pytest.mark.parametrize(("path", "kind", "spec"), CASES)
def test_every_subcommand_reports_bad_files_as_one_error_line(
    path: tuple[str, ...], kind: str, spec: Case, world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    remaining = iter(spec.args)
    assert all(part in remaining for part in path), "the case runs its own subcommand"
    args = [arg.format(**world) for arg in spec.args]
    env = {"XID_HOME": world["home"], **{k: v.format(**world) for k, v in spec.env.items()}}
    if spec.read_only:
        monkeypatch.setattr(tempfile, "mkstemp", _read_only)
    result = CliRunner().invoke(main, args, env=env, input=spec.input)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == spec.status, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error [")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error [{spec.code}]: "), lines[0]
    assert result.stdout == ""  # no partial result


def test_the_status_list_file_is_untouched_when_it_cannot_be_written(
    world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = Path(world["status"]).read_bytes()
    monkeypatch.setattr(tempfile, "mkstemp", _read_only)
    result = CliRunner().invoke(main, ["status-list", "set", world["status"], "7"], env={"XID_HOME": world["home"]})
    assert result.exit_code == 1
    assert Path(world["status"]).read_bytes() == before


HEAVY = ("sqlalchemy", "pyld", "web3")


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(done.stdout.split())


def test_importing_the_cli_loads_no_heavy_dependency() -> None:
    loaded = _modules_after("import xid.cli")
    assert "xid.cli" in loaded
    assert {m for m in loaded if m.split(".")[0] in HEAVY} == set()


def test_help_and_did_key_resolution_load_no_heavy_dependency() -> None:
    did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    code = (
        "from xid.cli import main\n"
        "main(['--help'], standalone_mode=False)\n"
        f"main(['did', 'resolve', '{did}'], standalone_mode=False)\n"
    )
    loaded = _modules_after(code)
    assert "xid.cli_did" in loaded
    assert "did.resolver" in loaded
    assert {m for m in loaded if m.split(".")[0] in (*HEAVY, "httpx")} == set()  # did:key needs no HTTP client


def test_lazy_short_help_is_the_commands_own() -> None:
    ctx = click.Context(main)
    for name, (_, short_help) in COMMAND_GROUPS.items():
        command = main.get_command(ctx, name)
        assert command is not None
        assert command.get_short_help_str(limit=1000) == short_help, name


def test_every_group_help_lists_all_its_subcommands_and_every_help_works() -> None:
    runner = CliRunner()
    for path, group in groups(main):
        result = runner.invoke(main, [*path, "--help"], prog_name="xid")
        assert result.exit_code == 0, result.output
        commands = result.output.split("Commands:", 1)[1]
        listed = {line.split()[0] for line in commands.splitlines() if line.startswith("  ") and line.split()}
        assert set(group.list_commands(click.Context(group))) <= listed, path
    for path, _ in leaf_commands(main):
        result = runner.invoke(main, [*path, "--help"], prog_name="xid")
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"Usage: xid {' '.join(path)} ")


# What each subcommand prints on stdout, by the output rule: reports take --json, documents and files do not.
REPORT, DOCUMENT, FILE, SERVICE = "report", "document", "file", "service"
OUTPUT: dict[tuple[str, ...], str] = {
    ("card", "emulate"): FILE,
    ("card", "read"): REPORT,
    ("card", "sign"): REPORT,
    ("card", "status"): REPORT,
    ("config", "check"): REPORT,
    ("config", "show"): REPORT,
    ("db", "check"): REPORT,
    ("db", "current"): REPORT,
    ("db", "history"): REPORT,
    ("db", "upgrade"): REPORT,
    ("demo",): DOCUMENT,  # the story itself
    ("did", "create"): REPORT,
    ("did", "resolve"): DOCUMENT,
    ("did", "web-document"): DOCUMENT,
    ("issuer", "credentials"): REPORT,
    ("issuer", "instances"): REPORT,
    ("issuer", "merge-persons"): REPORT,
    ("issuer", "purge"): REPORT,
    ("issuer", "recheck"): REPORT,
    ("issuer", "reinstate"): REPORT,
    ("issuer", "revoke"): REPORT,
    ("issuer", "revoke-certificate"): REPORT,
    ("issuer", "suspend"): REPORT,
    ("issuer", "secrets"): FILE,
    ("ledger", "append"): REPORT,
    ("ledger", "checkpoint"): DOCUMENT,
    ("ledger", "export"): REPORT,
    ("ledger", "init"): REPORT,
    ("ledger", "prove"): DOCUMENT,
    ("ledger", "verify"): REPORT,
    ("ledger", "verify-receipt"): REPORT,
    ("mynumber", "keygen"): DOCUMENT,
    ("mynumber", "receive"): SERVICE,
    ("oidc", "rotate-keys"): REPORT,
    ("rp", "add"): REPORT,
    ("rp", "list"): REPORT,
    ("rp", "remove"): REPORT,
    ("serve",): SERVICE,
    ("status-list", "check"): REPORT,
    ("status-list", "create"): FILE,
    ("status-list", "set"): FILE,
    ("vc", "issue"): DOCUMENT,
    ("vc", "present"): DOCUMENT,
    ("vc", "verify"): REPORT,
    ("verify-signature",): REPORT,
    ("wallet", "accept"): REPORT,
    ("wallet", "consents", "list"): REPORT,
    ("wallet", "consents", "revoke"): REPORT,
    ("wallet", "delete"): REPORT,
    ("wallet", "enroll"): REPORT,
    ("wallet", "export"): FILE,
    ("wallet", "init"): REPORT,
    ("wallet", "list"): REPORT,
    ("wallet", "mynumber", "send"): REPORT,
    ("wallet", "passphrase"): REPORT,
    ("wallet", "present"): REPORT,
    ("wallet", "show"): REPORT,
    ("wallet", "sign"): REPORT,
    ("wallet", "trust", "add"): REPORT,
    ("wallet", "trust", "list"): REPORT,
}


def test_reports_and_only_reports_take_json() -> None:
    commands = dict(leaf_commands(main))
    assert set(OUTPUT) == set(commands)
    for path, kind in OUTPUT.items():
        flags = {opt for param in commands[path].params for opt in getattr(param, "opts", [])}
        json_flags = [p for p in commands[path].params if "--json" in getattr(p, "opts", [])]
        assert ("--json" in flags) == (kind == REPORT), path
        assert all(isinstance(p, click.Option) and p.is_flag for p in json_flags), path


def test_the_root_help_states_the_contract() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "Exit status: 0 done; 1 the command failed" in result.output
    assert "error [code]: message" in result.output


def test_usage_errors_at_every_level_are_one_line() -> None:
    runner = CliRunner()
    for args in (["--bogus"], ["nosuch"], ["did", "nosuch"], ["did", "create", "--type", "rsa"]):
        result = runner.invoke(main, args, prog_name="xid")
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
        assert result.stderr.startswith("error [usageError]: ")
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.rstrip().endswith("--help')")


def test_the_group_maps_errors_it_did_not_see_before_and_leaves_a_closed_pipe_to_click() -> None:
    @click.group(cls=XidGroup)
    def probe() -> None:
        """A group with commands that fail in each way."""

    @probe.command()
    def xid_error() -> None:
        raise VcError("a message")

    @probe.command()
    def os_error() -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/some/file")

    @probe.command()
    def closed_pipe() -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    runner = CliRunner()
    xid_failed = runner.invoke(probe, ["xid-error"])
    assert (xid_failed.exit_code, xid_failed.stderr) == (1, "error [vcError]: a message\n")
    os_failed = runner.invoke(probe, ["os-error"])
    assert (os_failed.exit_code, os_failed.stderr) == (1, "error [ioError]: /some/file: Permission denied\n")
    piped = runner.invoke(probe, ["closed-pipe"])
    assert piped.exit_code == 1
    assert "error [" not in piped.stderr
