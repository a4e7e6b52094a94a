"""The credential store: credentials and the xid CA certificates, each a sealed record of the wallet's vault.

A credential record holds the credential as issued (an SD-JWT VC or JWT string, or a Data Integrity JSON object)
sealed; its clear metadata says only the format, the credential configuration id, the issuer, when it was received
and until when it is valid: no claim. A certificate record holds the certificate and its chain (PEM) sealed; its
clear metadata is the usage, the issuer and the validity end.

``inspect_credential`` is what ``xid wallet show`` prints: the credential verified again with
``vc.verify.CredentialVerifier`` (issuer signature through its DID; did:web over plain http only for a loopback
host), its claims decoded, and its status checked live through ``fetch_status``, a bounded GET (https, or http on a
loopback host; at most ``MAX_STATUS_LIST`` bytes; no redirect). A status that cannot be established is reported as
``unknown`` with the reason, never as valid. ``export_credential`` writes the credential as issued to a new file
(mode 0600, never over an existing one); ``delete`` removes a record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from did import Did, DidDocument, DidError, Resolver
from foundation.http import FetchError, fetch
from foundation.strict_json import InvalidJsonError, strict_json
from vc.errors import VcError
from vc.verify import (
    CredentialRevokedError,
    CredentialStatusError,
    CredentialSuspendedError,
    CredentialVerifier,
)
from wallet.errors import IssuerUnreachableError, NoSuchCredentialError, WalletCorruptError
from wallet.http import WalletHttp, check_url, one_line
from wallet.vault import Record, Vault, atomic_write, list_records

__all__ = [
    "MAX_STATUS_LIST",
    "CredentialStore",
    "CredentialView",
    "StoredItem",
    "fetch_status",
    "inspect_credential",
    "list_wallet",
]

MAX_STATUS_LIST: Final = 2 * 1024 * 1024
"""The largest status list the wallet fetches, in bytes."""

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


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

    def stored(self, record_id: str) -> tuple[StoredItem, str | dict[str, Any]]:
        """A stored credential's listing entry and the credential as issued (NoSuchCredentialError when unknown)."""
        item = self.find(record_id, kinds=("credential",))
        return item, self.credential(item.id)

    def find(self, record_id: str, kinds: tuple[str, ...] = ("credential", "certificate")) -> StoredItem:
        """A stored credential's or certificate's listing entry (NoSuchCredentialError when unknown)."""
        try:
            record = self.vault.record(record_id) if self.vault.has(record_id) else None
        except ValueError:  # not a record id at all
            record = None
        if record is None or record.kind not in kinds:
            what = " or ".join(kinds)
            raise NoSuchCredentialError(f"the wallet holds no {what} {one_line(record_id, 80)!r}")
        return _item(record)

    def export_credential(self, record_id: str, out: Path) -> StoredItem:
        """Write a credential as issued to a new file (mode 0600; an existing file is never replaced)."""
        item, credential = self.stored(record_id)
        data = credential.encode() if isinstance(credential, str) else json.dumps(credential, indent=2).encode()
        atomic_write(out, data + b"\n", overwrite=False)
        return item

    def delete(self, record_id: str) -> StoredItem:
        """Remove a stored credential or certificate from the wallet (also a damaged one: nothing is decrypted)."""
        item = self.find(record_id)
        try:
            os.unlink(self.vault.directory / "records" / f"{record_id}.json")
        except FileNotFoundError:
            raise NoSuchCredentialError(f"the wallet holds no {record_id!r} (already deleted?)") from None
        return item


@dataclass(frozen=True)
class CredentialView:
    """A stored credential as shown to its holder: decoded claims, issuer, validity and live status."""

    id: str
    format: str
    issuer: str
    configuration_id: str
    claims: Mapping[str, Any]
    valid_from: str | None
    valid_until: str | None
    verified: bool
    status: str
    """``valid``, ``revoked``, ``suspended``, ``expired``, ``no status`` or ``unknown``."""
    problem: str | None = None
    status_lists: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The view as JSON (``xid wallet show --json``)."""
        return {
            "id": self.id,
            "format": self.format,
            "issuer": self.issuer,
            "configurationId": self.configuration_id,
            "validFrom": self.valid_from,
            "validUntil": self.valid_until,
            "verified": self.verified,
            "status": self.status,
            "problem": self.problem,
            "statusLists": self.status_lists,
            "claims": dict(self.claims),
        }


class _LoopbackAwareWeb:
    """did:web resolution over https, or over http with the loopback allowance when the DID's host is loopback."""

    method = "web"
    cacheable = False

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def resolve(self, did: Did) -> DidDocument:
        """Resolve one did:web."""
        from did.did_web import DidWebResolver

        host = unquote(str(did).split(":")[2]) if str(did).count(":") >= 2 else ""
        try:
            loopback = (urlsplit(f"//{host}").hostname or "") in _LOOPBACK
        except ValueError:
            loopback = False
        options: dict[str, Any] = {"scheme": "http", "allow_loopback": True} if loopback else {}
        with DidWebResolver(timeout=self.timeout, **options) as web:
            return web.resolve(did)


def fetch_status(http: WalletHttp, url: str) -> Mapping[str, Any] | str:
    """A published status list (JSON object, or a token as text): bounded GET, https or loopback http only."""
    check_url(url, "the status list URL", error=IssuerUnreachableError)
    try:
        answer = fetch("GET", url, max_bytes=MAX_STATUS_LIST, timeout=http.timeout, client=http.client)
    except FetchError as exc:
        raise IssuerUnreachableError(f"status list {one_line(url, 200)}: {one_line(exc.message)}") from None
    if answer.status_code != 200:
        raise IssuerUnreachableError(f"status list {one_line(url, 200)} answered HTTP {answer.status_code}")
    text = answer.content.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            return strict_json(answer.content, "the status list")
        except InvalidJsonError as exc:
            raise IssuerUnreachableError(f"status list {one_line(url, 200)}: {exc.message}") from None
    return text


def _validity(claims: Mapping[str, Any], key: str, numeric: str) -> str | None:
    value = claims.get(key)
    if isinstance(value, str):
        return value
    number = claims.get(numeric)
    if isinstance(number, int | float) and not isinstance(number, bool):
        return datetime.fromtimestamp(number, UTC).isoformat(timespec="seconds")
    return None


def _shown_claims(view_format: str, claims: Mapping[str, Any]) -> Mapping[str, Any]:
    if view_format == "dc+sd-jwt":
        technical = {"iss", "iat", "nbf", "exp", "cnf", "status", "vct", "_sd_alg", "vct#integrity"}
        return {k: v for k, v in claims.items() if k not in technical}
    subject = claims.get("credentialSubject")
    return subject if isinstance(subject, Mapping) else {"credentialSubject": subject}


def inspect_credential(
    store: CredentialStore, record_id: str, http: WalletHttp | None = None, *, now: datetime | None = None
) -> CredentialView:
    """Verify a stored credential again, decode its claims and check its status live."""
    item, credential = store.stored(record_id)
    http = http or WalletHttp()
    verifier = CredentialVerifier(
        Resolver.standard(_LoopbackAwareWeb(http.timeout), cache_ttl=0), lambda url: fetch_status(http, url)
    )
    meta = item.meta
    identity = (item.id, str(meta.get("format")), str(meta.get("issuer")), str(meta.get("configurationId")))
    moment = now or datetime.now(UTC)
    try:
        result = verifier.verify(credential, require_key_binding=False, check_status=False, now=moment)
    except (VcError, DidError) as exc:
        until = meta.get("validUntil") if isinstance(meta.get("validUntil"), str) else None
        try:
            expired = until is not None and datetime.fromisoformat(until) < moment
        except ValueError:
            expired = False
        reason = f"the credential does not verify: {one_line(str(exc))}"
        return CredentialView(
            *identity, {}, None, until, verified=False, status="expired" if expired else "unknown", problem=reason
        )
    claims = result.claims
    view_format = result.format
    valid_from = _validity(claims, "validFrom", "nbf") or _validity(claims, "issuanceDate", "iat")
    valid_until = _validity(claims, "validUntil", "exp") or _validity(claims, "expirationDate", "exp")
    status, lists = "no status", list[str]()
    problem: str | None = None
    try:
        checks = verifier.check_status(result, moment)
        lists = [c.list_url for c in checks]
        status = "valid" if checks else "no status"
    except CredentialRevokedError:
        status = "revoked"
    except CredentialSuspendedError:
        status = "suspended"
    except CredentialStatusError as exc:
        status, problem = "unknown", f"the status could not be checked: {one_line(str(exc))}"
    return CredentialView(
        *identity,
        claims=_shown_claims(view_format, claims),
        valid_from=valid_from,
        valid_until=valid_until,
        verified=True,
        status=status,
        problem=problem,
        status_lists=lists,
    )


def list_wallet(directory: Path) -> list[StoredItem]:
    """Stored credentials and certificates (clear metadata; no passphrase needed)."""
    return [_item(r) for r in list_records(directory) if r.kind in ("credential", "certificate")]
