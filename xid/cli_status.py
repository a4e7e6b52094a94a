"""``xid status-list``: create, update and check Bitstring Status List credentials (files)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from vc.errors import VcError
from vc.status_list import MIN_ENTRIES, PURPOSES, BitstringStatusList, StatusListError


class _Group(click.Group):
    """Reports vc errors as one line ``error [code]: message`` with exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning VcError into a clear message."""
        try:
            return super().invoke(ctx)
        except VcError as exc:
            click.echo(f"error [{exc.code}]: {exc.message}", err=True)
            sys.exit(1)


def _read(path: Path, status_size: str | None) -> tuple[dict[str, Any], BitstringStatusList]:
    try:
        credential = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StatusListError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise StatusListError(f"{path} is not UTF-8 text") from None
    except (ValueError, RecursionError):  # not JSON, a number too long to read, or nesting too deep
        raise StatusListError(f"{path} is not JSON") from None
    subject = credential.get("credentialSubject") if isinstance(credential, dict) else None
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListError(f"{path} is not a BitstringStatusListCredential")
    stated = subject.get("statusSize")  # older files state it; the spec puts it only on the entries
    if stated is not None and status_size is not None and stated != int(status_size):
        raise StatusListError(f"{path} states statusSize {stated!r}, not {status_size}")
    size = int(status_size) if status_size is not None else stated if isinstance(stated, int) else 1
    return credential, BitstringStatusList.decode(subject.get("encodedList", ""), size)


def _write(path: Path, credential: dict[str, Any]) -> None:
    """Replace the file atomically: a reader never sees half a status list."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(credential, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


@click.group("status-list", cls=_Group)
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
    if out.exists():
        raise StatusListError(f"{out} already exists; refusing to overwrite it")
    status = BitstringStatusList(entries, int(status_size))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _write(out, status.credential(list_id, issuer, purpose, now))
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
def check_command(file: Path, index: int, status_size: str | None) -> None:
    """Print the status value at INDEX as JSON."""
    credential, status = _read(file, status_size)
    purpose = credential["credentialSubject"].get("statusPurpose")
    click.echo(json.dumps({"index": index, "purpose": purpose, "status": status.get(index)}))
