"""The holder's keys: one holder key per wallet (P-256 by default, Ed25519 optional) sealed in the wallet's vault.

The private key is kept as its private JWK inside a sealed record (``wallet.vault``: scrypt + AES-256-GCM); only
its type and algorithm are in clear. Opening the keystore with a wrong passphrase fails before anything is decrypted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from did import KeyType, SoftwareSigner
from did.errors import DidError
from wallet.errors import WalletCorruptError
from wallet.vault import Vault

__all__ = ["HOLDER_KEY", "KEY_TYPES", "Keystore"]

HOLDER_KEY: Final = "holder-key"
"""The record id of the wallet's holder key."""

KEY_TYPES: Final = {"p256": KeyType.P256, "ed25519": KeyType.ED25519}
"""The holder key types a wallet can have, by their command-line name."""


class Keystore:
    """The holder key of an opened wallet."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

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
        """The holder key as a signer (key id: its RFC 7638 thumbprint)."""
        _, plaintext = self.vault.get(HOLDER_KEY)
        try:
            jwk = json.loads(plaintext)
            return SoftwareSigner.from_private_jwk({k: v for k, v in jwk.items() if k != "kid"})
        except (ValueError, DidError):
            raise WalletCorruptError("the holder key record does not hold a private key") from None
