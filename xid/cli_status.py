"""``xid status-list``: create, update and check Bitstring Status List credentials (files)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from vc.status_list import MIN_ENTRIES, PURPOSES, BitstringStatusList, StatusListError
from xid.cli_group import XidGroup, echo_json, json_option
from xid.files import read_json, write_file

__all__ = ["status_list"]


def _read(path: Path, status_size: str | None) -> tuple[dict[str, Any], BitstringStatusList]:
    credential: dict[str, Any] = read_json(path, "FILE")
    subject = credential.get("credentialSubject") if isinstance(credential, dict) else None
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListError(f"{path} is not a BitstringStatusListCredential")
    stated = subject.get("statusSize")  # older files state it; the spec puts it only on the entries
    if stated is not None and status_size is not None and stated != int(status_size):
        raise StatusListError(f"{path} states statusSize {stated!r}, not {status_size}")
    size = int(status_size) if status_size is not None else stated if isinstance(stated, int) else 1
    return credential, BitstringStatusList.decode(subject.get("encodedList", ""), size)


def _write(path: Path, credential: dict[str, Any], *, overwrite: bool = True) -> None:
    """Replace the file atomically: a reader never sees half a status list."""
    write_file(path, json.dumps(credential, indent=2) + "\n", overwrite=overwrite)


@click.group("status-list", cls=XidGroup)
def status_list() -> None:
    """Bitstring Status Lists: revoke or suspend credentials by flipping a bit in a published list.

    The files are unsecured BitstringStatusListCredentials; secure them like any credential before publishing.
    """


@status_list.command("create")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--id", "list_id", required=True, help="The URL the list credential will be published at.")
@click.option("--issuer", required=True, help="The issuer's DID (e.g. did:web:issuer.example.jp).")
@click.option("--purpose", type=click.Choice(PURPOSES), default="revocation", show_default=True)
@click.option("--entries", type=click.IntRange(min=MIN_ENTRIES), default=MIN_ENTRIES, show_default=True,
              help="Number of entries (at least 131072, so a set bit does not identify a holder).")  # fmt: skip
@click.option("--status-size", type=click.Choice(["1", "2", "4", "8"]), default="1", show_default=True)
def create_command(out: Path, list_id: str, issuer: str, purpose: str, entries: int, status_size: str) -> None:
    """Create an empty status list credential in OUT (refuses to overwrite)."""
    status = BitstringStatusList(entries, int(status_size))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _write(out, status.credential(list_id, issuer, purpose, now), overwrite=False)
    click.echo(f"created {out}: {len(status)} entries for {purpose}", err=True)
    if status_size != "1":
        click.echo(f"entries must say statusSize {status_size}; pass --status-size {status_size} to set and check",
                   err=True)  # fmt: skip


@status_list.command("set")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("index", type=click.IntRange(min=0))
@click.option("--value", type=click.IntRange(min=0, max=255), default=1, show_default=True,
              help="Status value to store (1 = revoked/suspended in a 1-bit list; 0 clears).")  # fmt: skip
@click.option("--status-size", type=click.Choice(["1", "2", "4", "8"]),
              help="Bits per entry, as given to create (default 1); the list does not record it.")  # fmt: skip
def set_command(file: Path, index: int, value: int, status_size: str | None) -> None:
    """Set the status at INDEX (use --value 0 to lift a suspension)."""
    credential, status = _read(file, status_size)
    status.set(index, value)
    credential["credentialSubject"]["encodedList"] = status.encode()
    credential["credentialSubject"].pop("statusSize", None)  # not a term of the list in the VC 2.0 context
    stale = credential.pop("proof", None) is not None
    _write(file, credential)
    click.echo(f"{file}: index {index} = {value}", err=True)
    if stale:
        click.echo(f"{file}: its stale proof was removed; secure it again with 'xid vc issue'", err=True)


@status_list.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("index", type=click.IntRange(min=0))
@click.option("--status-size", type=click.Choice(["1", "2", "4", "8"]),
              help="Bits per entry, as given to create (default 1); the list does not record it.")  # fmt: skip
@json_option
def check_command(file: Path, index: int, status_size: str | None, as_json: bool) -> None:
    """Print the status value at INDEX (with --json: index, purpose and status)."""
    credential, status = _read(file, status_size)
    purpose = credential["credentialSubject"].get("statusPurpose")
    value = status.get(index)
    if as_json:
        echo_json({"index": index, "purpose": purpose, "status": value}, indent=None)
    else:
        click.echo(f"index {index}: status {value} ({purpose})")
