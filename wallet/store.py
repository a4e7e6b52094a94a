"""The credential store: credentials and the xid CA certificates, each a sealed record of the wallet's vault.

A credential record holds the credential as issued (an SD-JWT VC or JWT string, or a Data Integrity JSON object)
sealed; its clear metadata says only the format, the credential configuration id, the issuer, when it was received
and until when it is valid: no claim. A certificate record holds the certificate and its chain (PEM) sealed; its
clear metadata is the usage, the issuer and the validity end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wallet.errors import WalletCorruptError
from wallet.vault import Record, Vault, list_records

__all__ = ["CredentialStore", "StoredItem", "list_wallet"]


@dataclass(frozen=True)
class StoredItem:
    """One stored credential or certificate, as listed (clear metadata only)."""

    id: str
    kind: str
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The listing entry as JSON."""
        return {"id": self.id, "kind": self.kind, **self.meta}


def _item(record: Record) -> StoredItem:
    return StoredItem(record.id, record.kind, record.meta)


class CredentialStore:
    """Credentials and certificates of an opened wallet."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def add_credential(
        self,
        *,
        credential_format: str,
        configuration_id: str,
        issuer: str,
        credential: str | dict[str, Any],
        valid_until: datetime | None,
    ) -> StoredItem:
        """Store a credential as issued."""
        meta = {
            "format": credential_format,
            "configurationId": configuration_id,
            "issuer": issuer,
            "received": datetime.now(UTC).isoformat(timespec="seconds"),
            "validUntil": valid_until.isoformat(timespec="seconds") if valid_until else None,
        }
        plaintext = json.dumps({"credential": credential}, ensure_ascii=False).encode()
        return _item(self.vault.put(Vault.new_id("credential"), "credential", meta, plaintext))

    def add_certificate(
        self, *, usage: str, issuer: str, certificate: str, chain: list[str], not_after: datetime
    ) -> StoredItem:
        """Store a certificate (PEM) with its chain (PEM, up to the root)."""
        meta = {
            "usage": usage,
            "issuer": issuer,
            "received": datetime.now(UTC).isoformat(timespec="seconds"),
            "validUntil": not_after.isoformat(timespec="seconds"),
        }
        plaintext = json.dumps({"certificate": certificate, "chain": chain}).encode()
        return _item(self.vault.put(Vault.new_id("certificate"), "certificate", meta, plaintext))

    def credential(self, record_id: str) -> str | dict[str, Any]:
        """A stored credential as issued (decrypted)."""
        record, plaintext = self.vault.get(record_id)
        value = json.loads(plaintext).get("credential") if record.kind == "credential" else None
        if not isinstance(value, str | dict):
            raise WalletCorruptError(f"record {record_id!r} is not a credential")
        return value


def list_wallet(directory: Path) -> list[StoredItem]:
    """Stored credentials and certificates (clear metadata; no passphrase needed)."""
    return [_item(r) for r in list_records(directory) if r.kind in ("credential", "certificate")]
