"""The holder's keys: one holder key per wallet (P-256 by default, Ed25519 optional) sealed in the wallet's vault.

The private key is kept as its private JWK inside a sealed record (``wallet.vault``: scrypt + AES-256-GCM); only
its type and algorithm are in clear. Opening the keystore with a wrong passphrase fails before anything is decrypted.

The holder key may instead live on a PKCS#11 token (``Keystore.create_pkcs11``): the wallet then keeps a reference
(module path, token label, key label: no secret; in the record's clear metadata) and, sealed, the key's public JWK
as it was at creation. ``Keystore.signer`` logs in with the token PIN and refuses a token key that is not the one
pinned (a key replaced under the same label). The PIN is asked for each use and never stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from did import KeyType, SoftwareSigner
from did.errors import DidError
from wallet.errors import Pkcs11KeyError, WalletCorruptError
from wallet.vault import Vault

if TYPE_CHECKING:
    from did.pkcs11 import Pkcs11Signer

__all__ = ["HOLDER_KEY", "KEY_TYPES", "Keystore", "TokenKey"]

HOLDER_KEY: Final = "holder-key"
"""The record id of the wallet's holder key."""

KEY_TYPES: Final = {"p256": KeyType.P256, "ed25519": KeyType.ED25519}
"""The holder key types a wallet can have, by their command-line name."""


@dataclass(frozen=True)
class TokenKey:
    """Where a PKCS#11 holder key is: the module (shared library path), the token label and the key label."""

    module: str
    token: str
    label: str

    def to_json(self) -> dict[str, str]:
        """The reference as JSON (stored in clear: it is no secret)."""
        return {"module": self.module, "token": self.token, "label": self.label}

    def open(self, pin: str) -> Pkcs11Signer:
        """Log in to the token and bind to the key (Pkcs11KeyError when it cannot be found or used)."""
        from did.pkcs11 import Pkcs11Signer

        try:
            return Pkcs11Signer.open(self.module, self.token, pin, self.label)
        except DidError as exc:  # SignerError and key decoding errors; the PIN is never in them
            raise Pkcs11KeyError(f"the PKCS#11 holder key: {exc}") from None


class Keystore:
    """The holder key of an opened wallet."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    @classmethod
    def create_pkcs11(cls, directory: Path, passphrase: str, token_key: TokenKey, pin: str) -> Keystore:
        """Create a wallet whose holder key is on a PKCS#11 token (the key must exist; the PIN is not stored)."""
        with token_key.open(pin) as signer:
            if signer.key_type not in KEY_TYPES.values():
                raise Pkcs11KeyError(f"a holder key is P-256 or Ed25519, not {signer.key_type.value}")
            meta = {
                "keyType": signer.key_type.value,
                "alg": signer.algorithm,
                "created": datetime.now(UTC).isoformat(),
                "pkcs11": token_key.to_json(),
            }
            sealed = json.dumps({"pkcs11": token_key.to_json(), "publicJwk": signer.public_jwk}).encode()
        return cls(Vault.create(directory, passphrase, initial=[(HOLDER_KEY, "key", meta, sealed)]))

    def token_key(self) -> TokenKey | None:
        """The PKCS#11 reference of the holder key, or None when the key is sealed in the wallet."""
        record, _ = self.vault.get(HOLDER_KEY)
        reference = record.meta.get("pkcs11")
        if reference is None:
            return None
        if not isinstance(reference, dict) or not all(
            isinstance(reference.get(k), str) for k in TokenKey.__annotations__
        ):
            raise WalletCorruptError("the holder key's PKCS#11 reference is malformed")
        return TokenKey(reference["module"], reference["token"], reference["label"])

    def public_jwk(self) -> dict[str, str]:
        """The holder key's public JWK (for a token key: the one pinned at creation; no PIN needed)."""
        if self.token_key() is None:
            return self.holder().public_jwk
        _, plaintext = self.vault.get(HOLDER_KEY)
        value = json.loads(plaintext).get("publicJwk")
        if not isinstance(value, dict):
            raise WalletCorruptError("the holder key record does not hold the token key's public JWK")
        return {str(k): str(v) for k, v in value.items()}

    def signer(self, pin: Callable[[], str]) -> SoftwareSigner | Pkcs11Signer:
        """The holder key as a signer; for a token key ``pin`` is asked and the token's key checked against the pin.

        A Pkcs11Signer holds a token session: close it after use.
        """
        token_key = self.token_key()
        if token_key is None:
            return self.holder()
        _, plaintext = self.vault.get(HOLDER_KEY)
        pinned: Any = json.loads(plaintext).get("publicJwk")
        signer = token_key.open(pin())
        if signer.public_jwk != pinned:
            signer.close()
            raise Pkcs11KeyError(
                f"the key labelled {token_key.label!r} on token {token_key.token!r} is not this wallet's holder key"
            )
        return signer

    @classmethod
    def create(cls, directory: Path, passphrase: str, key_type: KeyType = KeyType.P256) -> Keystore:
        """Create a wallet with a fresh holder key."""
        if key_type not in KEY_TYPES.values():
            raise ValueError(f"a holder key is P-256 or Ed25519, not {key_type.value}")
        signer = SoftwareSigner.generate(key_type)
        meta = {"keyType": key_type.value, "alg": signer.algorithm, "created": datetime.now(UTC).isoformat()}
        key = (HOLDER_KEY, "key", meta, json.dumps(signer.to_private_jwk()).encode())
        return cls(Vault.create(directory, passphrase, initial=[key]))

    @classmethod
    def open(cls, directory: Path, passphrase: str) -> Keystore:
        """Open an existing wallet (WrongPassphraseError before anything is decrypted)."""
        return cls(Vault.open(directory, passphrase))

    def holder(self) -> SoftwareSigner:
        """The software holder key as a signer (key id: its RFC 7638 thumbprint); ``signer`` also handles tokens."""
        record, plaintext = self.vault.get(HOLDER_KEY)
        if "pkcs11" in record.meta:
            raise Pkcs11KeyError("this wallet's holder key is on a PKCS#11 token: it needs the token PIN")
        try:
            jwk = json.loads(plaintext)
            return SoftwareSigner.from_private_jwk({k: v for k, v in jwk.items() if k != "kid"})
        except (ValueError, DidError):
            raise WalletCorruptError("the holder key record does not hold a private key") from None
