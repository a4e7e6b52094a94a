"""``xid ledger``: create the log, append records, sign checkpoints, prove inclusion, audit, export tiles."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from xid.cli_group import CommandFailed, XidGroup, echo_json, json_option
from xid.files import parse_json, read_bytes, read_text, save_signer, write_file
from xid.settings import Settings

if TYPE_CHECKING:
    from did.signer import SoftwareSigner
    from ledger.anchors import Anchor
    from ledger.note import Ed25519NoteVerifier
    from ledger.store import Store

__all__ = ["DEFAULT_ORIGIN", "ledger"]

DEFAULT_ORIGIN = "xid.localhost/ledger/v1"
_MAX_INT = (1 << 63) - 1  # indexes and sizes beyond this fit no database column


@dataclass(frozen=True)
class _Config:
    database: str | None
    key: Path

    @contextmanager
    def store(self) -> Iterator[Store]:
        from sqlalchemy import create_engine
        from sqlalchemy import exc as sa_exc

        from foundation.db import sqlite_engine
        from ledger.store import Store

        if self.database is None:
            home = Settings.from_env().home
            try:
                home.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                _fail("cannotWrite", f"cannot create the xid home directory {home}: {exc.strerror}")
            engine = sqlite_engine(home / "ledger.sqlite3")
        else:
            try:
                engine = create_engine(self.database)
            except (sa_exc.ArgumentError, ImportError) as exc:  # not a URL, unknown dialect, or driver missing
                message = f"not a usable SQLAlchemy database URL: {_first_line(exc)}"
                raise click.BadParameter(message, param_hint="--database") from None
        try:
            try:
                store = Store(engine)
            except ValueError as exc:  # a dialect other than SQLite or PostgreSQL
                raise click.BadParameter(str(exc), param_hint="--database") from None
            yield store
        finally:
            engine.dispose()

    def signer(self) -> SoftwareSigner:
        if not self.key.exists():
            _fail("missingKey", f"no ledger key at {self.key}; run 'xid ledger init' first")
        return _log_key(self.key)


def _log_key(path: Path) -> SoftwareSigner:
    """The log's signing key from its file, or a usage error when it is not Ed25519 (checkpoints use Ed25519 only)."""
    from xid.files import load_signer

    signer = load_signer(path, "--key")
    if signer.algorithm != "EdDSA":
        message = f"the log key must be an Ed25519 key; {path} holds a {signer.algorithm} key"
        raise click.BadParameter(message, param_hint="--key")
    return signer


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _anchor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that select anchor back ends (for anchoring new checkpoints or checking stored receipts)."""
    options = [
        click.option("--evm-rpc", metavar="URL", help="EVM anchors: the chain's JSON-RPC endpoint."),
        click.option("--evm-sender", metavar="ADDRESS", help="EVM anchors: the address that sends anchors."),
        click.option(
            "--evm-key",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="EVM anchors: file holding the sender's hex private key (default: the node signs).",
        ),
        click.option("--tsa-url", metavar="URL", help="RFC 3161 anchors: the time-stamping authority's URL."),
        click.option(
            "--tsa-root",
            "tsa_roots",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="RFC 3161 anchors: a trusted TSA root certificate (PEM); repeat for several.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _anchors(evm_rpc: str | None, evm_sender: str | None, evm_key: Path | None, tsa_url: str | None,
             tsa_roots: tuple[Path, ...]) -> list[Anchor]:  # fmt: skip
    anchors: list[Anchor] = []
    if evm_rpc is not None:
        from web3 import HTTPProvider, Web3

        from ledger.anchors.evm import EvmAnchor

        if evm_sender is None:
            raise click.UsageError("--evm-rpc needs --evm-sender")
        key = None
        if evm_key is not None:
            try:
                key = bytes.fromhex(read_text(evm_key, "--evm-key").strip().removeprefix("0x"))
            except ValueError:
                raise click.BadParameter(f"{evm_key} does not hold a hex private key", param_hint="--evm-key") from None
        try:
            anchors.append(EvmAnchor(Web3(HTTPProvider(evm_rpc)), evm_sender, private_key=key))
        except ValueError as exc:  # not an address, or a key that is malformed or belongs to another address
            hint = "--evm-key" if key is not None and Web3.is_address(evm_sender) else "--evm-sender"
            raise click.BadParameter(str(exc), param_hint=hint) from None
    if tsa_url is not None or tsa_roots:
        from cryptography import x509

        from ledger.anchors.rfc3161 import Rfc3161Anchor

        if not tsa_roots:
            raise click.UsageError("RFC 3161 anchors need at least one --tsa-root")
        roots = []
        for path in tsa_roots:
            try:
                roots.append(x509.load_pem_x509_certificate(path.read_bytes()))
            except (OSError, ValueError, x509.InvalidVersion):
                raise click.BadParameter(f"{path} is not a readable PEM certificate", param_hint="--tsa-root") from None
        anchors.append(Rfc3161Anchor(tsa_url or "", roots=roots))
    return anchors


def _fail(code: str, message: str) -> NoReturn:
    raise CommandFailed(code, message)


@click.group("ledger", cls=XidGroup)
@click.option(
    "--database",
    envvar="XID_LEDGER_DATABASE_URL",
    help="SQLAlchemy URL of the ledger database (env XID_LEDGER_DATABASE_URL). Default: $XID_HOME/ledger.sqlite3",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="XID_LEDGER_KEY",
    help="The log's Ed25519 signing key (private JWK; env XID_LEDGER_KEY). Default: $XID_HOME/keys/ledger.jwk",
)
@click.pass_context
def ledger(ctx: click.Context, database: str | None, key: Path | None) -> None:
    """The xid Ledger: an append-only, publicly verifiable log of hash-only records."""
    ctx.obj = _Config(database, key or Settings.from_env().keys_dir / "ledger.jwk")


@ledger.command("init")
@click.option("--origin", default=DEFAULT_ORIGIN, show_default=True, help="The log's origin line (never changes).")
@json_option
@click.pass_obj
def init_command(config: _Config, origin: str, as_json: bool) -> None:
    """Create the signing key (if missing) and the log tables; print the origin and verifier key."""
    from did.keys import KeyType, PublicKey
    from did.signer import SoftwareSigner
    from ledger.note import vkey

    if config.key.exists():
        signer = _log_key(config.key)
    else:
        signer = SoftwareSigner.generate(KeyType.ED25519)
        save_signer(signer, config.key, parents=True)
    with config.store() as store:
        try:
            state = store.initialize(origin)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--origin") from None
    public = PublicKey.from_jwk(signer.public_jwk)
    out = {"origin": state.origin, "size": state.size, "vkey": vkey(state.origin, public.raw), "key": str(config.key)}
    if as_json:
        echo_json(out)
    else:
        click.echo(f"origin:       {out['origin']}")
        click.echo(f"size:         {out['size']}")
        click.echo(f"verifier key: {out['vkey']}")
        click.echo(f"signing key:  {out['key']}")


_HASH_OPTIONS = ("subject", "object", "credential", "evidence", "transaction", "previous")


def _records_from_file(path: str) -> list[dict[str, Any]]:
    """The record objects in a JSON array or JSON Lines file (or stdin for '-'); a one-line error otherwise."""
    where = "stdin" if path == "-" else path
    if path == "-":
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.BadParameter(f"stdin is not UTF-8 text (byte {exc.start})", param_hint="--records") from None
    else:
        text = read_text(Path(path), "--records")
    if text.strip().startswith("["):
        docs = parse_json(text, where, "--records")  # a JSON text starting with '[' is an array or an error
    else:
        lines = enumerate(text.splitlines(), start=1)
        docs = [parse_json(line, f"{where} line {number}", "--records") for number, line in lines if line.strip()]
    records: list[dict[str, Any]] = []
    for number, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            _fail("invalidRecord", f"record {number} in {where} must be a JSON object, got {_json_kind(doc)}")
        records.append(doc)
    return records


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


@ledger.command("append")
@click.option("--type", "event_type", help="Event type: enrollment, authentication, presentation, signature, ...")
@click.option("--time", "event_time", help="Event time, YYYY-MM-DDTHH:MM:SS.mmmZ (default: now).")
@click.option("--subject", help="Pseudonymous subject commitment (64 hex).")
@click.option("--rp", help="Relying party: an https URL or a DID.")
@click.option("--object", "object_hash", help="Hash of the object concerned, e.g. a document (64 hex).")
@click.option("--credential", help="Hash of a credential (64 hex).")
@click.option("--evidence", help="Hash of evidence kept elsewhere (64 hex).")
@click.option("--transaction", help="Hash of a transaction identifier (64 hex).")
@click.option("--previous", help="Hash of a related earlier entry (64 hex).")
@click.option("--outcome", type=click.Choice(["success", "failure"]), help="Outcome of the operation.")
@click.option(
    "--records",
    "records_file",
    metavar="FILE",
    help="Read records from FILE instead ('-' for stdin): a JSON array, or one JSON object per line.",
)
@click.option("--checkpoint", "sign", is_flag=True, help="Sign a checkpoint right after appending.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per record (index, leafHash).")
@click.pass_obj
def append_command(config: _Config, /, records_file: str | None, sign: bool, as_json: bool, **fields: Any) -> None:
    """Append records; prints each record's index and leaf hash.

    Records hold only hashes, commitments, enums and times: anything that looks like personal data is refused.
    """
    from ledger.log import Log
    from ledger.records import Record

    if records_file is not None:
        if any(v is not None for v in fields.values()):
            raise click.UsageError("give either --records or the record options, not both")
        records = [Record.from_json(doc) for doc in _records_from_file(records_file)]
    else:
        if fields["event_type"] is None:
            raise click.UsageError("--type is required (or --records)")
        doc: dict[str, Any] = {"type": fields.pop("event_type"), "time": fields.pop("event_time")}
        doc["object"] = fields.pop("object_hash")
        doc.update(fields)
        if doc["time"] is None:
            doc["time"] = datetime.now(UTC)
        records = [Record.from_json({k: v for k, v in doc.items() if v is not None})]
    signer = config.signer()
    with config.store() as store, Log(store, signer) as log:
        for pending in log.append_many(records):
            if as_json:
                click.echo(json.dumps({"index": pending.index, "leafHash": pending.leaf_hash.hex()}))
            else:
                click.echo(f"appended index {pending.index}, leaf hash {pending.leaf_hash.hex()}")
        if sign:
            log.checkpoint()


@ledger.command("checkpoint")
@_anchor_options
@click.pass_obj
def checkpoint_command(config: _Config, /, **anchor_options: Any) -> None:
    """Sign a checkpoint if the log grew, anchor it with the back ends given, and print it (a C2SP signed note)."""
    from ledger.log import Log

    signer = config.signer()
    anchors = _anchors(**anchor_options)
    if anchor_options["tsa_roots"] and not anchor_options["tsa_url"]:
        raise click.UsageError("anchoring with RFC 3161 needs --tsa-url")
    with config.store() as store, Log(store, signer, anchors=anchors) as log:
        made = log.checkpoint()
        latest = store.latest_checkpoint()
        errors = list(log.anchor_errors)
    for error in errors[:-1]:
        click.echo(f"error [{error.code}]: {error.message}", err=True)
    if errors:
        raise CommandFailed(errors[-1].code, errors[-1].message)
    if made is None:
        click.echo("the log has not grown since the last checkpoint", err=True)
    if latest is not None:
        click.echo(latest.note, nl=False)


@ledger.command("prove")
@click.argument("index", type=click.IntRange(0, _MAX_INT))
@click.option(
    "--size", type=click.IntRange(1, _MAX_INT), help="Prove against the checkpoint of this size (default latest)."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the receipt here.")
@click.option("--entry-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the entry bytes here.")
@click.pass_obj
def prove_command(config: _Config, index: int, size: int | None, out: Path | None, entry_out: Path | None) -> None:
    """Print a receipt (c2sp.org/tlog-proof@v1) proving the entry at INDEX is in the log."""
    from ledger.log import Log

    signer = config.signer()
    with config.store() as store, Log(store, signer) as log:
        receipt = log.prove(index, size=size)
        with store.transaction() as txn:
            entry, _ = txn.entry(index)
    if entry_out is not None:
        write_file(entry_out, entry)
        click.echo(f"wrote {entry_out}", err=True)
    if out is None:
        click.echo(receipt.format(), nl=False)
    else:
        write_file(out, receipt.format())
        click.echo(f"wrote {out}", err=True)


def _verifier(config: _Config, vkeys: tuple[str, ...], origin: str | None) -> Ed25519NoteVerifier:
    from did.keys import PublicKey
    from ledger.note import Ed25519NoteVerifier, vkey

    if vkeys:
        return Ed25519NoteVerifier.from_vkey(vkeys[0])
    if not config.key.exists():
        _fail("missingKey", f"give the log's verifier key with --vkey (no key file at {config.key})")
    public = PublicKey.from_jwk(_log_key(config.key).public_jwk)
    return Ed25519NoteVerifier.from_vkey(vkey(origin or DEFAULT_ORIGIN, public.raw))


@ledger.command("verify")
@click.option("--vkey", "vkeys", multiple=True, help="The log's verifier key (default: from the key file).")
@click.option("--witness", "witnesses", multiple=True, help="A witness verifier key; repeat for several.")
@click.option(
    "--quorum", type=click.IntRange(0, _MAX_INT), default=0, show_default=True, help="Witness signatures needed."
)
@_anchor_options
@json_option
@click.pass_obj
def verify_command(
    config: _Config,
    /,
    vkeys: tuple[str, ...],
    witnesses: tuple[str, ...],
    quorum: int,
    as_json: bool,
    **anchor_options: Any,
) -> None:
    """Audit the whole log: every leaf, tile, root, checkpoint signature, consistency and anchor.

    Anchor receipts are checked for the back ends given by the anchor options ('none' receipts always);
    receipts of other back ends are reported as not checked. Exit status 0 when nothing is wrong; otherwise
    each problem is printed and the status is 1. --json prints the report as one object (ok, size, counts,
    notes, findings).
    """
    from ledger.anchors import NullAnchor, audit_verifier
    from ledger.audit import AnchorVerifier, audit
    from ledger.checkpoint import CosignatureVerifier

    if quorum > len(witnesses):
        message = f"a quorum of {quorum} needs at least {quorum} --witness keys; {len(witnesses)} given"
        raise click.BadParameter(message, param_hint="--quorum")
    witness_verifiers = [CosignatureVerifier.from_vkey(w) for w in witnesses]
    anchors: dict[str, AnchorVerifier] = {
        a.name: audit_verifier(a) for a in [NullAnchor(), *_anchors(**anchor_options)]
    }
    with config.store() as store:
        state = store.state()
        verifier = _verifier(config, vkeys, state.origin)
        with click.progressbar(length=state.size, label="auditing entries", file=sys.stderr) as bar:
            report = audit(
                store, verifier, witnesses=witness_verifiers, quorum=quorum, anchors=anchors, progress=bar.update
            )
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "size": report.size,
                "entriesChecked": report.entries_checked,
                "tilesChecked": report.tiles_checked,
                "checkpointsChecked": report.checkpoints_checked,
                "anchorsChecked": report.anchors_checked,
                "notes": list(report.notes),
                "findings": [{"code": f.code, "message": f.message} for f in report.findings],
                "suppressed": dict(report.suppressed),
            }
        )
    else:
        click.echo(
            f"checked {report.entries_checked} entries, {report.tiles_checked} tiles, "
            f"{report.checkpoints_checked} checkpoints, {report.anchors_checked} anchors (log size {report.size})"
        )
        for note in report.notes:
            click.echo(f"note: {note}")
        for finding in report.findings:
            click.echo(f"FINDING [{finding.code}] {finding.message}")
        for code, count in report.suppressed.items():
            click.echo(f"FINDING [{code}] ... and {count} more")
    if not report.ok:
        _fail("auditFailed", f"{len(report.findings)} problem(s) found in the log")
    if not as_json:
        click.echo("ok: the log is intact")


@ledger.command("verify-receipt")
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("entry_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vkey", "log_vkey", required=True, help="The log's verifier key.")
@json_option
def verify_receipt_command(receipt_file: Path, entry_file: Path, log_vkey: str, as_json: bool) -> None:
    """Check a receipt offline: the entry is in the log whose key signed the receipt's checkpoint."""
    from ledger.note import Ed25519NoteVerifier
    from ledger.receipt import Receipt, verify_receipt

    receipt = Receipt.parse(read_text(receipt_file, "RECEIPT_FILE"))
    entry = read_bytes(entry_file, "ENTRY_FILE")
    checkpoint = verify_receipt(receipt, entry, Ed25519NoteVerifier.from_vkey(log_vkey))
    if as_json:
        echo_json({"ok": True, "index": receipt.index, "origin": checkpoint.origin, "size": checkpoint.size})
    else:
        click.echo(f"ok: entry {receipt.index} is in {checkpoint.origin} at size {checkpoint.size}")


@ledger.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
@click.pass_obj
def export_command(config: _Config, directory: Path, as_json: bool) -> None:
    """Write the latest checkpoint, tiles and entry bundles as files (C2SP tlog-tiles layout) under DIRECTORY."""
    from ledger.log import export_tiles

    with config.store() as store:
        try:
            count, size = export_tiles(store, directory)
        except OSError as exc:
            where = exc.filename or directory
            _fail("cannotWrite", f"cannot write the export under {directory}: {where}: {exc.strerror or exc}")
    if as_json:
        echo_json({"directory": str(directory), "files": count, "size": size})
    else:
        click.echo(f"wrote {count} files for tree size {size} under {directory}{os.sep}")
