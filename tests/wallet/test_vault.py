"""The wallet's encrypted records: scrypt + AES-256-GCM, wrong passphrase, tampering, no plaintext on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from did import KeyType
from foundation.b64 import b64url_decode, b64url_encode
from wallet.errors import NoWalletError, WalletCorruptError, WalletExistsError, WrongPassphraseError
from wallet.keystore import HOLDER_KEY, Keystore
from wallet.store import CredentialStore, list_wallet
from wallet.vault import SCRYPT_N, Vault

PASSPHRASE = "パスフレーズ and words"
SECRET_CLAIM = "SECRET-CLAIM-東京都"


def files(directory: Path) -> dict[str, bytes]:
    """Every file under the directory with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    """A new wallet with a P-256 holder key and one credential."""
    keystore = Keystore.create(tmp_path / "w", PASSPHRASE)
    CredentialStore(keystore.vault).add_credential(
        credential_format="jwt_vc_json",
        configuration_id="c1",
        issuer="https://issuer.example",
        credential={"name": SECRET_CLAIM},
        valid_until=None,
    )
    return keystore


def test_kdf_parameters_and_modes(keystore: Keystore) -> None:
    header = json.loads((keystore.vault.directory / "wallet.json").read_text())
    assert header["kdf"]["alg"] == "scrypt"
    assert (header["kdf"]["n"], header["kdf"]["r"], header["kdf"]["p"]) == (SCRYPT_N, 8, 1)
    assert len(b64url_decode(header["kdf"]["salt"])) == 16
    assert SCRYPT_N >= 2**15
    for path in keystore.vault.directory.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_no_plaintext_key_or_claim_on_disk(keystore: Keystore) -> None:
    private = keystore.holder().to_private_jwk()["d"]
    everything = b"".join(files(keystore.vault.directory).values())
    for secret in (private.encode(), b64url_decode(private), SECRET_CLAIM.encode(), json.dumps(SECRET_CLAIM).encode()):
        assert secret not in everything
    assert PASSPHRASE.encode() not in everything


def test_reopen_with_the_passphrase_and_nfc(keystore: Keystore) -> None:
    again = Keystore.open(keystore.vault.directory, PASSPHRASE)
    assert again.holder().public_jwk == keystore.holder().public_jwk
    record = next(item for item in list_wallet(keystore.vault.directory) if item.kind == "credential")
    assert CredentialStore(again.vault).credential(record.id) == {"name": SECRET_CLAIM}
    decomposed = Keystore.open(keystore.vault.directory, "ハ\u309aスフレーズ and words")  # NFD of パ: same key
    assert decomposed.holder().public_jwk == keystore.holder().public_jwk


def test_wrong_passphrase_is_one_error_and_writes_nothing(keystore: Keystore) -> None:
    before = files(keystore.vault.directory)
    with pytest.raises(WrongPassphraseError, match="does not open this wallet"):
        Keystore.open(keystore.vault.directory, PASSPHRASE + "x")
    assert files(keystore.vault.directory) == before


def test_a_flipped_bit_in_a_record_is_detected(keystore: Keystore) -> None:
    path = keystore.vault.directory / "records" / f"{HOLDER_KEY}.json"
    body = json.loads(path.read_text())
    sealed = bytearray(b64url_decode(body["ciphertext"]))
    sealed[0] ^= 1
    path.write_text(json.dumps({**body, "ciphertext": b64url_encode(bytes(sealed))}))
    with pytest.raises(WalletCorruptError, match="does not decrypt"):
        keystore.holder()


def test_edited_metadata_is_detected(keystore: Keystore) -> None:
    path = next((keystore.vault.directory / "records").glob("credential-*.json"))
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "meta": {**body["meta"], "issuer": "https://evil.example"}}))
    with pytest.raises(WalletCorruptError, match="does not decrypt"):
        CredentialStore(keystore.vault).credential(body["id"])


def test_a_record_moved_to_another_id_is_detected(keystore: Keystore) -> None:
    records = keystore.vault.directory / "records"
    source = next(records.glob("credential-*.json"))
    body = json.loads(source.read_text())
    (records / "credential-0000000000000000.json").write_text(json.dumps({**body, "id": "credential-0000000000000000"}))
    with pytest.raises(WalletCorruptError, match="does not decrypt"):
        CredentialStore(keystore.vault).credential("credential-0000000000000000")


def test_a_record_from_another_wallet_does_not_open(keystore: Keystore, tmp_path: Path) -> None:
    other = Keystore.create(tmp_path / "other", PASSPHRASE, KeyType.ED25519)
    (keystore.vault.directory / "records" / f"{HOLDER_KEY}.json").write_bytes(
        (other.vault.directory / "records" / f"{HOLDER_KEY}.json").read_bytes()
    )
    with pytest.raises(WalletCorruptError):
        keystore.holder()


def test_a_lowered_scrypt_cost_is_refused(keystore: Keystore) -> None:
    path = keystore.vault.directory / "wallet.json"
    header = json.loads(path.read_text())
    header["kdf"]["n"] = 2**10
    path.write_text(json.dumps(header))
    with pytest.raises(WalletCorruptError, match="scrypt n=1024"):
        Keystore.open(keystore.vault.directory, PASSPHRASE)


def test_create_never_overwrites_and_open_needs_a_wallet(keystore: Keystore, tmp_path: Path) -> None:
    with pytest.raises(WalletExistsError):
        Vault.create(keystore.vault.directory, "another")
    with pytest.raises(NoWalletError):
        Vault.open(tmp_path / "nothing", PASSPHRASE)
    with pytest.raises(WrongPassphraseError, match="empty"):
        Vault.create(tmp_path / "empty", "")


def test_a_concurrent_creation_never_replaces_a_wallet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "w"
    first = Keystore.create(directory, PASSPHRASE)
    before = files(directory)
    monkeypatch.setattr(Vault, "exists", staticmethod(lambda _: False))  # as if the other writer had not finished
    with pytest.raises(WalletExistsError):
        Keystore.create(directory, "another passphrase")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # the loser's build directory is gone
    assert (directory / "wallet.json").read_bytes() == before["wallet.json"]
    assert Keystore.open(directory, PASSPHRASE).holder().public_jwk == first.holder().public_jwk


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda h: b"not json", "is not JSON"),
        (lambda h: b"[]", "not a JSON object"),
        (lambda h: json.dumps({**h, "format": "other"}).encode(), "is not an xid-wallet-v1 wallet"),
        (lambda h: json.dumps({**h, "kdf": {**h["kdf"], "alg": "pbkdf2"}}).encode(), "malformed key derivation"),
        (lambda h: json.dumps({**h, "kdf": {**h["kdf"], "salt": "***"}}).encode(), "malformed key derivation"),
        (lambda h: json.dumps({**h, "kdf": {**h["kdf"], "n": 3 * 2**15}}).encode(), "allowed"),
    ],
)
def test_a_damaged_wallet_file_is_reported(keystore: Keystore, change: object, match: str) -> None:
    path = keystore.vault.directory / "wallet.json"
    path.write_bytes(change(json.loads(path.read_text())))  # type: ignore[operator]
    with pytest.raises(WalletCorruptError, match=match):
        Keystore.open(keystore.vault.directory, PASSPHRASE)


def test_damaged_records_are_reported(keystore: Keystore) -> None:
    records = keystore.vault.directory / "records"
    with pytest.raises(ValueError, match="record id"):
        keystore.vault.get("../wallet")
    with pytest.raises(WalletCorruptError, match="no record"):
        keystore.vault.get("missing")
    assert not keystore.vault.has("missing")
    (records / "broken.json").write_text(json.dumps({"id": "broken", "kind": "credential", "meta": {}}))
    with pytest.raises(WalletCorruptError, match="malformed"):
        keystore.vault.get("broken")
    (records / "renamed.json").write_text(json.dumps({"id": "other", "kind": "credential", "meta": {}}))
    with pytest.raises(WalletCorruptError, match="holds record 'other'"):
        list_wallet(keystore.vault.directory)
    with pytest.raises(WalletCorruptError, match="is not a credential"):
        CredentialStore(keystore.vault).credential(HOLDER_KEY)


def test_listing_needs_a_wallet(tmp_path: Path) -> None:
    with pytest.raises(NoWalletError):
        list_wallet(tmp_path)


def test_an_unwritable_wallet_is_one_error(keystore: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from wallet.errors import WalletWriteError

    before = files(keystore.vault.directory)

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(WalletWriteError, match="Read-only file system"):
        keystore.vault.put("new", "credential", {}, b"x")
    assert files(keystore.vault.directory) == before  # the temporary file is gone too
    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with pytest.raises(WalletWriteError, match="Read-only file system"):
        keystore.vault.put("new", "credential", {}, b"x")


def test_holder_keys_are_p256_or_ed25519_and_must_be_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="P-256 or Ed25519"):
        Keystore.create(tmp_path / "w", PASSPHRASE, KeyType.P384)
    assert not (tmp_path / "w").exists()
    keystore = Keystore.create(tmp_path / "k", PASSPHRASE)
    keystore.vault.put(HOLDER_KEY, "key", {}, b'{"kty": "oct"}')
    with pytest.raises(WalletCorruptError, match="does not hold a private key"):
        keystore.holder()
