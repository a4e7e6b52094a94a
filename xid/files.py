"""Files named on the command line: read them as UTF-8 text or JSON, and write them atomically.

Reading: a file that is missing, unreadable, not UTF-8 or not JSON is a usage error (``click.BadParameter``, exit
status 2 under the CLI contract of ``xid.cli_group``). Writing: ``write_file`` is the one writer of every command;
it writes a temporary file in the target's directory, flushes it to disk and renames it over the target, so a reader
never sees half a file and a crash leaves the old one. Errors (all ``XidError``, exit status 1)::

    XidError
    ├── CannotWriteError       cannotWrite     the output path cannot be written (no directory, no permission, ...)
    └── OutputExistsError      outputExists    the command never overwrites this file (keys, new status lists)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from foundation.errors import XidError

if TYPE_CHECKING:
    from did.signer import SoftwareSigner

__all__ = [
    "CannotWriteError",
    "OutputExistsError",
    "load_signer",
    "parse_json",
    "read_bytes",
    "read_json",
    "read_text",
    "save_signer",
    "writable_directory",
    "write_file",
]


class CannotWriteError(XidError):
    """An output file named on the command line cannot be written."""

    code = "cannotWrite"


class OutputExistsError(XidError):
    """An output file exists and the command promises never to overwrite it."""

    code = "outputExists"


def read_bytes(path: Path, param_hint: str) -> bytes:
    """The file's bytes; click.BadParameter (exit status 2) when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=param_hint) from None


def read_text(path: Path, param_hint: str) -> str:
    """The file's UTF-8 text; click.BadParameter (exit status 2) when it cannot be read or decoded."""
    data = read_bytes(path, param_hint)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path} is not UTF-8 text (byte {exc.start})", param_hint=param_hint) from None


def parse_json(text: str, where: str, param_hint: str) -> Any:
    """Parse JSON text; click.BadParameter naming ``where`` when it is not JSON this tool can hold."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{where} is not JSON: {exc.msg} (line {exc.lineno})", param_hint=param_hint) from None
    except (ValueError, RecursionError):  # an integer of thousands of digits, or nesting deeper than Python's stack
        raise click.BadParameter(
            f"{where} is JSON nested too deeply or with a number too long to read", param_hint=param_hint
        ) from None


def read_json(path: Path, param_hint: str) -> Any:
    """The file's content parsed as JSON; click.BadParameter when it cannot be read or parsed."""
    return parse_json(read_text(path, param_hint), str(path), param_hint)


def load_signer(path: Path, param_hint: str) -> SoftwareSigner:
    """A private key from a JWK file: a usage error when the file is unreadable or not JSON, InvalidJwkError else."""
    from did.signer import SoftwareSigner

    return SoftwareSigner.from_private_jwk(read_json(path, param_hint))


def save_signer(signer: SoftwareSigner, path: Path, *, parents: bool) -> None:
    """Write a new key file (the private JWK, mode 0600) atomically; never overwrites one (OutputExistsError)."""
    write_file(path, signer.key_file_bytes(), secret=True, overwrite=False, parents=parents)


def writable_directory(directory: Path, what: str) -> Path:
    """Create the directory if needed and prove it writable now (CannotWriteError naming ``what`` otherwise)."""
    probe = directory / ".write-test"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise CannotWriteError(f"cannot write in {what} {directory}: {error.strerror}") from None
    return directory


def _cannot(path: Path, exc: OSError) -> CannotWriteError:
    return CannotWriteError(f"cannot write {path}: {exc.strerror or type(exc).__name__}")


def write_file(
    path: Path, data: bytes | str, *, secret: bool = False, overwrite: bool = True, parents: bool = False
) -> None:
    """Write a whole file atomically (temporary file, fsync, rename); mode 0600 when ``secret``.

    With ``overwrite=False`` an existing file is never replaced (OutputExistsError), even by a concurrent writer.
    With ``parents`` missing directories are created (0700 for secrets), for paths xid chooses under $XID_HOME;
    a path the user names must be in an existing directory.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if parents:
            path.parent.mkdir(mode=0o700 if secret else 0o777, parents=True, exist_ok=True)
    except FileExistsError:  # the parent, or a directory above it, is a file
        raise CannotWriteError(f"cannot write {path}: {path.parent} is not a directory") from None
    except OSError as exc:
        raise _cannot(path, exc) from None
    try:
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path} already exists; refusing to overwrite it")
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    except OSError as exc:
        raise _cannot(path, exc) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if not secret:
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        if overwrite:
            tmp.replace(path)
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never replaces it
            tmp.unlink()
        _fsync_directory(path.parent)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise OutputExistsError(f"{path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _cannot(path, exc) from None


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (where the platform allows opening a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
