"""The wallet's encrypted directory: records sealed with AES-256-GCM under a key derived from the passphrase.

Layout of a wallet directory (mode 0700, files 0600, each written atomically: temporary file, fsync, rename)::

    wallet.json          {"format": "xid-wallet-v1", "kdf": {"alg": "scrypt", "salt", "n", "r", "p"}, "check": {...}}
    records/<id>.json    {"id", "kind", "meta": {...}, "nonce", "ciphertext"}

The key is scrypt(passphrase in NFC, UTF-8; a random 16-byte salt per wallet; n = 2**15, r = 8, p = 1), 32 bytes.
It is never stored, nor is the passphrase. Every record is sealed with a fresh random 96-bit nonce; the associated
data is the record's id, kind and metadata (so none of them can be swapped or edited unnoticed). ``check`` is a
sealed constant: opening a wallet decrypts it first, so a wrong passphrase is one clear error before anything else
is decrypted or written. ``meta`` is in clear for listing without the passphrase; callers put no personal data
in it (format, configuration id, issuer, times). Errors are those of ``wallet.errors``.

Changing the passphrase (``change_passphrase``) re-encrypts every record under a new salt and key into a new
directory beside the wallet (``.<name>.changing``), then swaps it in with two renames (wallet ->
``.<name>.previous``, new -> wallet) and removes the previous one. A crash at any point leaves the old or the new
wallet, never a mix: before the first rename the old wallet is untouched (a half-built ``.<name>.changing`` is
removed at the next look); between the renames only ``.<name>.previous`` exists and the next look at the wallet
(``Vault.exists``, so every opening and listing) renames it back; after the second a left-over
``.<name>.previous`` is removed. A lock file ``.<name>.lock`` beside the wallet serialises changes and recoveries.

Atomic writing is a small helper of this module (``atomic_write``): wallet/ may not import the command line's
``xid.files``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from foundation.b64 import b64url_decode, b64url_encode
from wallet.errors import (
    NoWalletError,
    WalletCorruptError,
    WalletExistsError,
    WalletWriteError,
    WrongPassphraseError,
)

__all__ = ["FORMAT", "SCRYPT_N", "Record", "Vault", "atomic_write", "change_passphrase", "list_records"]

FORMAT: Final = "xid-wallet-v1"
"""The wallet directory format this module reads and writes."""

SCRYPT_N: Final = 2**15
"""The scrypt cost of new wallets (the least a wallet is opened with; r = 8, p = 1)."""

_R, _P = 8, 1
_CHECK: Final = b"xid wallet passphrase check"
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write a whole file (mode 0600) atomically: a temporary file beside it, fsync, rename.

    With ``overwrite=False`` an existing file is never replaced, even by a concurrent writer (WalletExistsError).
    """
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise WalletWriteError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if the target exists
            os.unlink(temporary)
    except FileExistsError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise WalletExistsError(f"{path} already exists; it is never overwritten") from None
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise WalletWriteError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _previous(directory: Path) -> Path:
    return directory.parent / f".{directory.name}.previous"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``.<name>.lock`` beside the wallet (passphrase changes and their recovery)."""
    try:
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(directory.parent / f".{directory.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise WalletWriteError(f"cannot lock {directory}: {exc.strerror or type(exc).__name__}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _changing(directory: Path) -> Path:
    return directory.parent / f".{directory.name}.changing"


def _recover(directory: Path) -> None:
    """Finish or undo a passphrase change that was interrupted (caller holds the lock)."""
    shutil.rmtree(_changing(directory), ignore_errors=True)  # a half-built copy: never in use
    previous = _previous(directory)
    if not previous.is_dir():
        return
    try:
        if (directory / "wallet.json").is_file():  # the new wallet was in place: drop the old one
            shutil.rmtree(previous)
        else:  # interrupted between the two renames: the old wallet comes back
            if directory.is_dir():
                directory.rmdir()  # only ever empty here; a non-empty one raises and nothing is lost
            os.rename(previous, directory)
            _fsync_directory(directory.parent)
    except OSError as exc:
        raise WalletCorruptError(
            f"an interrupted passphrase change left {previous}; it could not be restored: "
            f"{exc.strerror or type(exc).__name__}"
        ) from None


def _checkpoint(stage: str) -> None:
    """A named point of ``change_passphrase`` (tests end the process here to prove crash safety)."""


def _derive(passphrase: str, salt: bytes, n: int) -> bytes:
    normalised = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Scrypt(salt=salt, length=32, n=n, r=_R, p=_P).derive(normalised)


def _aad(record_id: str, kind: str, meta: Mapping[str, Any]) -> bytes:
    return json.dumps([FORMAT, record_id, kind, meta], sort_keys=True, separators=(",", ":")).encode()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except OSError as exc:
        raise WalletCorruptError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except (ValueError, RecursionError):
        raise WalletCorruptError(f"{path} is not JSON") from None
    if not isinstance(value, dict):
        raise WalletCorruptError(f"{path} is not a JSON object")
    return value


@dataclass(frozen=True)
class Record:
    """A record's clear part: id, kind and metadata (no personal data), as listed without the passphrase."""

    id: str
    kind: str
    meta: dict[str, Any]


class Vault:
    """An opened wallet directory: seals and opens records with the passphrase-derived key."""

    def __init__(self, directory: Path, key: bytes) -> None:
        self.directory = directory
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return f"Vault({str(self.directory)!r})"

    # -- creating and opening ---------------------------------------------------------------------------------

    @staticmethod
    def exists(directory: Path) -> bool:
        """Whether the directory holds a wallet (after finishing or undoing an interrupted passphrase change)."""
        if _previous(directory).is_dir() or _changing(directory).is_dir():
            with _locked(directory):
                _recover(directory)
        return (directory / "wallet.json").is_file()

    @classmethod
    def create(
        cls,
        directory: Path,
        passphrase: str,
        *,
        n: int = SCRYPT_N,
        initial: Sequence[tuple[str, str, Mapping[str, Any], bytes]] = (),
    ) -> Vault:
        """Create a new wallet in a new or empty directory (never over an existing one), with its first records.

        The wallet is built in a temporary directory beside the target and renamed into place in one step, so an
        interrupted creation leaves nothing, and of two concurrent creations exactly one wins.
        """
        if not passphrase:
            raise WrongPassphraseError("the passphrase may not be empty")
        if cls.exists(directory):
            raise WalletExistsError(f"{directory} already holds a wallet; it is never overwritten")
        try:
            directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
        except OSError as exc:
            raise WalletWriteError(f"cannot create {directory}: {exc.strerror or type(exc).__name__}") from None
        try:
            (building / "records").mkdir(mode=0o700)
            salt = secrets.token_bytes(16)
            vault = cls(building, _derive(passphrase, salt, n))
            nonce = secrets.token_bytes(12)
            check = {
                "nonce": b64url_encode(nonce),
                "ciphertext": b64url_encode(vault._aead.encrypt(nonce, _CHECK, b"check")),
            }
            kdf = {"alg": "scrypt", "salt": b64url_encode(salt), "n": n, "r": _R, "p": _P}
            for record_id, kind, meta, plaintext in initial:
                vault.put(record_id, kind, meta, plaintext)
            text = json.dumps({"format": FORMAT, "kdf": kdf, "check": check}, indent=2).encode() + b"\n"
            atomic_write(building / "wallet.json", text)
            try:
                os.rename(building, directory)  # replaces only a missing or empty directory
            except OSError as exc:
                if (directory / "wallet.json").is_file():
                    raise WalletExistsError(f"{directory} already holds a wallet; it is never overwritten") from None
                reason = "it is not empty" if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) else exc.strerror
                raise WalletWriteError(f"cannot create the wallet in {directory}: {reason}") from None
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        vault.directory = directory
        return vault

    @classmethod
    def open(cls, directory: Path, passphrase: str) -> Vault:
        """Open the wallet: WrongPassphraseError before anything is decrypted when the passphrase is wrong."""
        if not cls.exists(directory):
            raise NoWalletError(f"no wallet in {directory}: run 'xid wallet init' first")
        header = _read_json(directory / "wallet.json")
        kdf, check = header.get("kdf"), header.get("check")
        if header.get("format") != FORMAT or not isinstance(kdf, dict) or not isinstance(check, dict):
            raise WalletCorruptError(f"{directory / 'wallet.json'} is not an {FORMAT} wallet")
        try:
            salt, nonce = b64url_decode(kdf["salt"]), b64url_decode(check["nonce"])
            sealed = b64url_decode(check["ciphertext"])
            n = kdf["n"]
            if kdf.get("alg") != "scrypt" or (kdf.get("r"), kdf.get("p")) != (_R, _P) or type(n) is not int:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise WalletCorruptError(f"{directory / 'wallet.json'} has a malformed key derivation") from None
        if not SCRYPT_N <= n <= 2**20 or n & (n - 1):
            raise WalletCorruptError(f"{directory / 'wallet.json'} asks for scrypt n={n}; allowed: 2**15 to 2**20")
        vault = cls(directory, _derive(passphrase, salt, n))
        try:
            if vault._aead.decrypt(nonce, sealed, b"check") != _CHECK:
                raise WalletCorruptError(f"{directory / 'wallet.json'} has a wrong check value")
        except InvalidTag:
            raise WrongPassphraseError("the passphrase does not open this wallet") from None
        return vault

    # -- records ----------------------------------------------------------------------------------------------

    def _path(self, record_id: str) -> Path:
        if not _ID.fullmatch(record_id):
            raise ValueError(f"record id {record_id!r} is not [a-z0-9-]")
        return self.directory / "records" / f"{record_id}.json"

    def put(self, record_id: str, kind: str, meta: Mapping[str, Any], plaintext: bytes) -> Record:
        """Seal and write a record (replacing one with the same id)."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(record_id, kind, meta))
        body = {
            "id": record_id,
            "kind": kind,
            "meta": dict(meta),
            "nonce": b64url_encode(nonce),
            "ciphertext": b64url_encode(sealed),
        }
        atomic_write(self._path(record_id), json.dumps(body, indent=2, ensure_ascii=False).encode() + b"\n")
        return Record(record_id, kind, dict(meta))

    def get(self, record_id: str) -> tuple[Record, bytes]:
        """A record and its decrypted content; WalletCorruptError when it was tampered with."""
        path = self._path(record_id)
        if not path.is_file():
            raise WalletCorruptError(f"the wallet has no record {record_id!r}")
        body = _read_json(path)
        record = _record(body, path)
        try:
            nonce, sealed = b64url_decode(body["nonce"]), b64url_decode(body["ciphertext"])
        except (KeyError, TypeError, ValueError):
            raise WalletCorruptError(f"{path} is malformed") from None
        try:
            plaintext = self._aead.decrypt(nonce, sealed, _aad(record.id, record.kind, record.meta))
        except InvalidTag:
            raise WalletCorruptError(f"{path} does not decrypt: it was changed or belongs to another wallet") from None
        return record, plaintext

    def record(self, record_id: str) -> Record:
        """A record's clear part (id, kind, metadata) without decrypting it; WalletCorruptError when absent."""
        path = self._path(record_id)
        if not path.is_file():
            raise WalletCorruptError(f"the wallet has no record {record_id!r}")
        return _record(_read_json(path), path)

    def has(self, record_id: str) -> bool:
        """Whether a record with this id exists."""
        return self._path(record_id).is_file()

    @staticmethod
    def new_id(prefix: str) -> str:
        """A fresh random record id."""
        return f"{prefix}-{secrets.token_hex(8)}"


def change_passphrase(directory: Path, old: str, new: str, *, n: int = SCRYPT_N) -> Vault:
    """Re-encrypt the whole wallet under a new passphrase, atomically (the old or the new wallet, never a mix).

    A wrong old passphrase is WrongPassphraseError before anything is written; an empty new one is refused.
    """
    if not new:
        raise WrongPassphraseError("the new passphrase may not be empty")
    with _locked(directory):
        _recover(directory)
        old_vault = Vault.open(directory, old)
        records = sorted((directory / "records").glob("*.json"))
        others = [p for p in directory.iterdir() if p.name not in ("wallet.json", "records")]
        if any(not p.is_file() for p in others):
            raise WalletCorruptError(f"{directory} holds a directory other than records/; not changed")
        building = _changing(directory)
        try:
            building.mkdir(mode=0o700)
            (building / "records").mkdir(mode=0o700)
            salt = secrets.token_bytes(16)
            new_vault = Vault(building, _derive(new, salt, n))
            for path in records:
                record, plaintext = old_vault.get(path.name.removesuffix(".json"))
                new_vault.put(record.id, record.kind, record.meta, plaintext)
                _checkpoint("record")
            for path in others:
                atomic_write(building / path.name, path.read_bytes())
            nonce = secrets.token_bytes(12)
            check = {
                "nonce": b64url_encode(nonce),
                "ciphertext": b64url_encode(new_vault._aead.encrypt(nonce, _CHECK, b"check")),
            }
            kdf = {"alg": "scrypt", "salt": b64url_encode(salt), "n": n, "r": _R, "p": _P}
            text = json.dumps({"format": FORMAT, "kdf": kdf, "check": check}, indent=2).encode() + b"\n"
            atomic_write(building / "wallet.json", text)
            _fsync_directory(building / "records")
            _fsync_directory(building)
            _checkpoint("built")
            _swap(directory, building)
        except OSError as exc:
            shutil.rmtree(building, ignore_errors=True)
            raise WalletWriteError(f"cannot write beside {directory}: {exc.strerror or type(exc).__name__}") from None
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        new_vault.directory = directory
        return new_vault


def _swap(directory: Path, building: Path) -> None:
    previous = _previous(directory)
    try:
        os.rename(directory, previous)
    except OSError as exc:
        raise WalletWriteError(f"cannot replace {directory}: {exc.strerror or type(exc).__name__}") from None
    _checkpoint("old-moved")
    try:
        os.rename(building, directory)
        _fsync_directory(directory.parent)
    except OSError as exc:
        _recover(directory)  # puts the old wallet back
        raise WalletWriteError(f"cannot replace {directory}: {exc.strerror or type(exc).__name__}") from None
    _checkpoint("new-moved")
    shutil.rmtree(previous, ignore_errors=True)


def _record(body: dict[str, Any], path: Path) -> Record:
    record_id, kind, meta = body.get("id"), body.get("kind"), body.get("meta")
    if not isinstance(record_id, str) or not isinstance(kind, str) or not isinstance(meta, dict):
        raise WalletCorruptError(f"{path} is malformed")
    if path.name != f"{record_id}.json":
        raise WalletCorruptError(f"{path} holds record {record_id!r}")
    return Record(record_id, kind, meta)


def list_records(directory: Path, kind: str | None = None) -> Iterator[Record]:
    """The records' clear parts (no passphrase needed), sorted by id."""
    if not Vault.exists(directory):
        raise NoWalletError(f"no wallet in {directory}: run 'xid wallet init' first")
    for path in sorted((directory / "records").glob("*.json")):
        record = _record(_read_json(path), path)
        if kind is None or record.kind == kind:
            yield record
