"""Changing the wallet passphrase: all records under the new key, the old one refused, and crash safety.

A crash is a real one: a child process runs ``change_passphrase`` and ends itself with ``os._exit`` at a named
checkpoint; the parent then finds either the whole old wallet or the whole new one, never a mix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wallet.errors import WalletCorruptError, WrongPassphraseError
from wallet.keystore import Keystore
from wallet.store import CredentialStore, list_wallet
from wallet.vault import Vault, change_passphrase
from xid.cli import main

OLD = "old passphrase 古い"
NEW = "new passphrase 新しい"
CLAIM = "SECRET-CLAIM-大阪府"
ROOT = Path(__file__).resolve().parents[2]


def files(directory: Path) -> dict[str, bytes]:
    """Every file under the directory with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def make_wallet(directory: Path) -> dict[str, bytes]:
    """A wallet with a holder key and three credentials; returns each record's plaintext by id."""
    keystore = Keystore.create(directory, OLD)
    store = CredentialStore(keystore.vault)
    for number in range(3):
        store.add_credential(
            credential_format="jwt_vc_json",
            configuration_id=f"c{number}",
            issuer="https://issuer.example",
            credential={"name": f"{CLAIM}-{number}"},
            valid_until=None,
        )
    return contents(keystore.vault)


def contents(vault: Vault) -> dict[str, bytes]:
    """Every record's plaintext by id (decrypting all of them)."""
    ids = [p.name.removesuffix(".json") for p in sorted((vault.directory / "records").glob("*.json"))]
    return {record_id: vault.get(record_id)[1] for record_id in ids}


def test_change_re_encrypts_every_record(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    before = make_wallet(directory)
    old_files = files(directory)
    changed = change_passphrase(directory, OLD, NEW)
    assert changed.directory == directory
    assert contents(Vault.open(directory, NEW)) == before
    new_files = files(directory)
    assert set(new_files) == set(old_files)
    for name in old_files:  # new salt, new key, new nonces: no ciphertext survives
        assert new_files[name] != old_files[name], name
    assert json.loads(new_files["wallet.json"])["kdf"]["salt"] != json.loads(old_files["wallet.json"])["kdf"]["salt"]
    with pytest.raises(WrongPassphraseError):
        Vault.open(directory, OLD)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w.lock", "w"]  # nothing left beside it
    for path in directory.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path
    assert CLAIM.encode() not in b"".join(new_files.values())


def test_wrong_old_passphrase_writes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    make_wallet(directory)
    before = files(directory)
    with pytest.raises(WrongPassphraseError):
        change_passphrase(directory, "not it", NEW)
    assert files(directory) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w.lock", "w"]


def test_empty_new_passphrase_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    make_wallet(directory)
    before = files(directory)
    with pytest.raises(WrongPassphraseError, match="may not be empty"):
        change_passphrase(directory, OLD, "")
    assert files(directory) == before


def test_a_tampered_record_stops_the_change_and_keeps_the_old_wallet(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    make_wallet(directory)
    victim = sorted((directory / "records").glob("credential-*.json"))[1]
    body = json.loads(victim.read_text())
    body["meta"]["issuer"] = "https://evil.example"
    victim.write_text(json.dumps(body))
    before = files(directory)
    with pytest.raises(WalletCorruptError):
        change_passphrase(directory, OLD, NEW)
    assert files(directory) == before
    Vault.open(directory, OLD)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w.lock", "w"]  # the half-built copy is gone


CHILD = """
import os, sys
import wallet.vault as vault
stage, wanted = sys.argv[2], int(sys.argv[3])
seen = []
def checkpoint(name):
    if name == stage:
        seen.append(name)
        if len(seen) == wanted:
            os._exit(3)
vault._checkpoint = checkpoint
vault.change_passphrase(vault.Path(sys.argv[1]), {old!r}, {new!r})
sys.exit(0)
"""


@pytest.mark.parametrize(
    ("stage", "occurrence", "survivor"),
    [
        ("record", 1, OLD),  # after the first record was re-encrypted
        ("record", 3, OLD),  # in the middle of the records
        ("built", 1, OLD),  # the new copy is complete, nothing swapped yet
        ("old-moved", 1, OLD),  # between the two renames: only .w.previous exists
        ("new-moved", 1, NEW),  # the new wallet is in place, the old one not yet removed
    ],
)
def test_a_crash_leaves_the_old_or_the_new_wallet(tmp_path: Path, stage: str, occurrence: int, survivor: str) -> None:
    directory = tmp_path / "w"
    before = make_wallet(directory)
    code = CHILD.format(old=OLD, new=NEW)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", code, str(directory), stage, str(occurrence)], env=env, capture_output=True, timeout=120
    )
    assert child.returncode == 3, child.stderr.decode()
    if stage == "old-moved":
        assert not directory.exists()  # the crash really hit mid-swap
        assert (tmp_path / ".w.previous").is_dir()
    # The next look at the wallet finishes or undoes the change.
    assert Vault.exists(directory)
    assert not (tmp_path / ".w.previous").exists()
    other = NEW if survivor == OLD else OLD
    with pytest.raises(WrongPassphraseError):
        Vault.open(directory, other)
    assert contents(Vault.open(directory, survivor)) == before  # every record opens with the one passphrase
    assert sorted(item.meta["configurationId"] for item in list_wallet(directory)) == ["c0", "c1", "c2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w.lock", "w"]  # no half-built copy is left


def run(*args: str, input: str) -> tuple[int, str, str]:
    """Run xid; exit code, stdout, stderr."""
    result = CliRunner().invoke(main, list(args), input=input, env={"XID_WALLET": ""})
    return result.exit_code, result.stdout, result.stderr


def test_cli_changes_the_passphrase(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    before = make_wallet(directory)
    code, out, err = run("wallet", "passphrase", "--wallet", str(directory), "--passphrase-stdin", "--json",
                         input=f"{OLD}\n{NEW}\n{NEW}\n")  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {"wallet": str(directory), "records": 4}
    assert contents(Vault.open(directory, NEW)) == before


@pytest.mark.parametrize(
    ("stdin", "error"),
    [
        (f"wrong\n{NEW}\n{NEW}\n", "error [wrongPassphrase]"),
        (f"{OLD}\n{NEW}\nsomething else\n", "the two new passphrases differ"),
        (f"{OLD}\n\n\n", "may not be empty"),
        (f"{OLD}\n", "standard input was empty"),
    ],
)
def test_cli_refuses_and_writes_nothing(tmp_path: Path, stdin: str, error: str) -> None:
    directory = tmp_path / "w"
    make_wallet(directory)
    before = files(directory)
    code, _, err = run("wallet", "passphrase", "--wallet", str(directory), "--passphrase-stdin", input=stdin)
    assert code != 0
    assert error in err
    assert files(directory) == before
    Vault.open(directory, OLD)


def test_a_damaged_credential_can_still_be_deleted(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    make_wallet(directory)
    store = CredentialStore(Vault.open(directory, OLD))
    victim = sorted((directory / "records").glob("credential-*.json"))[0]
    body = json.loads(victim.read_text())
    body["ciphertext"] = body["ciphertext"][:-4] + "AAAA"
    victim.write_text(json.dumps(body))
    record_id = victim.name.removesuffix(".json")
    with pytest.raises(WalletCorruptError):
        store.credential(record_id)
    assert store.delete(record_id).id == record_id
    assert not victim.exists()
    assert len(list_wallet(directory)) == 2
