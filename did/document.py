"""DID documents: validation of the JSON representation and dereferencing to verification methods."""

from __future__ import annotations

import copy as _copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from did.errors import DidError, InvalidDidDocumentError, InvalidDidUrlError, NotFoundError
from did.keys import PublicKey
from did.syntax import parse_did, parse_did_url

__all__ = [
    "DID_V1_1_CONTEXT",
    "DID_V1_CONTEXT",
    "MULTIKEY_CONTEXT",
    "RELATIONSHIPS",
    "SIGNING_RELATIONSHIPS",
    "DidDocument",
    "VerificationMethod",
    "multikey_method",
    "split_did_url",
]

DID_V1_1_CONTEXT: Final = "https://www.w3.org/ns/did/v1.1"
DID_V1_CONTEXT: Final = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT: Final = "https://w3id.org/security/multikey/v1"

RELATIONSHIPS: Final = (
    "authentication",
    "assertionMethod",
    "keyAgreement",
    "capabilityInvocation",
    "capabilityDelegation",
)
SIGNING_RELATIONSHIPS: Final = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
)
_JWK_TYPES: Final = ("JsonWebKey", "JsonWebKey2020")


@dataclass(frozen=True)
class VerificationMethod:
    """A verification method with its public key decoded."""

    id: str
    type: str
    controller: str
    public_key: PublicKey

    def to_json(self) -> dict[str, Any]:
        """The JSON form (Multikey or JsonWebKey, keeping the original type)."""
        out: dict[str, Any] = {"id": self.id, "type": self.type, "controller": self.controller}
        if self.type in _JWK_TYPES:
            out["publicKeyJwk"] = self.public_key.to_jwk()
        else:
            out["publicKeyMultibase"] = self.public_key.to_multikey()
        return out


def multikey_method(controller: str, vm_id: str, public_key: PublicKey | str) -> dict[str, Any]:
    """JSON for a Multikey verification method (the key, or its publicKeyMultibase string)."""
    multibase = public_key if isinstance(public_key, str) else public_key.to_multikey()
    return {"id": vm_id, "type": "Multikey", "controller": controller, "publicKeyMultibase": multibase}


class DidDocument:
    """A validated DID document (JSON representation)."""

    def __init__(self, data: Any, expected_id: str | None = None, *, copy: bool = True) -> None:
        """Validate ``data``; ``copy=False`` hands the dict over to the document (the caller must not change it)."""
        if not isinstance(data, dict):
            raise InvalidDidDocumentError("DID document must be a JSON object")
        doc_id = data.get("id")
        if not isinstance(doc_id, str):
            raise InvalidDidDocumentError("DID document has no 'id' string")
        try:
            parse_did(doc_id)
        except DidError as exc:
            raise InvalidDidDocumentError(f"DID document id is not a DID: {exc.message}") from exc
        if expected_id is not None and doc_id != expected_id:
            raise InvalidDidDocumentError(f"DID document id {doc_id!r} does not match the resolved DID {expected_id!r}")
        self._data = _copy.deepcopy(data) if copy else data
        self.id: str = doc_id
        self._methods: dict[str, dict[str, Any]] = {}
        self._decoded: dict[str, VerificationMethod] = {}
        vms = data.get("verificationMethod", [])
        if not isinstance(vms, list):
            raise InvalidDidDocumentError("'verificationMethod' must be a list")
        for vm in vms:
            self._add_method(vm, "verificationMethod")
        for rel in RELATIONSHIPS:
            entries = data.get(rel, [])
            if not isinstance(entries, list):
                raise InvalidDidDocumentError(f"{rel!r} must be a list")
            for entry in entries:
                if isinstance(entry, dict):
                    self._add_method(entry, rel)
                elif not isinstance(entry, str):
                    raise InvalidDidDocumentError(f"{rel!r} entries must be strings or verification methods")

    def _add_method(self, vm: Any, where: str) -> None:
        if not isinstance(vm, dict):
            raise InvalidDidDocumentError(f"{where!r} contains a non-object verification method")
        for member in ("id", "type", "controller"):
            if not isinstance(vm.get(member), str):
                raise InvalidDidDocumentError(f"verification method in {where!r} lacks a {member!r} string")
        full = self._absolute(vm["id"])
        if full in self._methods:
            raise InvalidDidDocumentError(f"verification method id {full!r} appears twice")
        self._methods[full] = vm

    def _absolute(self, ref: str) -> str:
        if ref.startswith("#"):
            return self.id + ref
        return ref

    @classmethod
    def from_json(cls, text: str | bytes, expected_id: str | None = None) -> DidDocument:
        """Parse and validate a DID document from JSON text."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError):  # ValueError: not JSON, or a 5000-digit number
            raise InvalidDidDocumentError("DID document is not valid JSON, or nested too deeply to read") from None
        return cls(data, expected_id, copy=False)

    def to_json(self) -> dict[str, Any]:
        """A deep copy of the document's JSON."""
        return _copy.deepcopy(self._data)

    def method_ids(self) -> Iterator[str]:
        """Absolute ids of every verification method in the document."""
        return iter(self._methods)

    def relationship(self, name: str) -> list[str]:
        """Absolute ids of the verification methods listed under a verification relationship."""
        if name not in RELATIONSHIPS:
            raise ValueError(f"unknown verification relationship {name!r}")
        out = []
        for entry in self._data.get(name, []):
            out.append(self._absolute(entry if isinstance(entry, str) else entry["id"]))
        return out

    def verification_method(self, ref: str, relationship: str | None = None) -> VerificationMethod:
        """Dereference a verification method by absolute DID URL or relative '#fragment'.

        With ``relationship``, the method must also be authorized for it (e.g. ``assertionMethod``).
        """
        full = self._absolute(ref)
        vm = self._methods.get(full)
        if vm is None:
            raise NotFoundError(f"no verification method {full!r} in the DID document")
        if relationship is not None and full not in self.relationship(relationship):
            raise NotFoundError(f"verification method {full!r} is not authorized for {relationship}")
        decoded = self._decoded.get(full)
        if decoded is None:
            decoded = self._decoded[full] = _decode_method(full, vm)
        return decoded


def _decode_method(full_id: str, vm: dict[str, Any]) -> VerificationMethod:
    vm_type = vm["type"]
    if "publicKeyMultibase" in vm and "publicKeyJwk" in vm:
        raise InvalidDidDocumentError(f"verification method {full_id!r} has two public key forms")
    if vm_type == "Multikey":
        value = vm.get("publicKeyMultibase")
        if not isinstance(value, str):
            raise InvalidDidDocumentError(f"Multikey {full_id!r} lacks 'publicKeyMultibase'")
        key = PublicKey.from_multikey(value)
    elif vm_type in _JWK_TYPES:
        key = PublicKey.from_jwk(vm.get("publicKeyJwk"))
    else:
        raise InvalidDidDocumentError(f"verification method type {vm_type!r} is not supported")
    return VerificationMethod(full_id, vm_type, vm["controller"], key)


def split_did_url(did_url: str) -> tuple[str, str | None]:
    """Split a DID URL into (DID, fragment), refusing paths and queries that this package cannot dereference."""
    parsed = parse_did_url(did_url)
    if parsed.path or parsed.query is not None:
        raise InvalidDidUrlError("only DID URLs with a fragment can be dereferenced to a verification method")
    return str(parsed.did), parsed.fragment
