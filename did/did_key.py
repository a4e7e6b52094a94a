"""The did:key method (W3C CCG did:key v0.9): create from a public key and resolve to a Multikey DID document."""

from __future__ import annotations

from typing import Any

from did.document import DID_V1_1_CONTEXT, SIGNING_RELATIONSHIPS, DidDocument, multikey_method
from did.errors import InvalidDidError, InvalidMultibaseError
from did.keys import KeyType, PublicKey
from did.signer import SoftwareSigner
from did.syntax import Did, parse_did

__all__ = [
    "METHOD",
    "create",
    "document",
    "generate",
    "public_key_from_did",
    "verification_method_id",
]

METHOD = "key"


def create(public_key: PublicKey) -> str:
    """The did:key DID of a public key."""
    return f"did:key:{public_key.to_multikey()}"


def verification_method_id(public_key: PublicKey) -> str:
    """The id of the key's verification method in its did:key document (``did:key:<mb>#<mb>``)."""
    multikey = public_key.to_multikey()
    return f"did:key:{multikey}#{multikey}"


def generate(key_type: KeyType) -> SoftwareSigner:
    """A new software key whose key id is its did:key verification method."""
    signer = SoftwareSigner.generate(key_type)
    return signer.with_key_id(verification_method_id(signer.public_key))


def public_key_from_did(did: str | Did) -> PublicKey:
    """Decode the public key a did:key DID carries."""
    parsed = parse_did(did) if isinstance(did, str) else did
    if parsed.method != METHOD:
        raise InvalidDidError(f"not a did:key DID (method {parsed.method!r})")
    msid = parsed.method_specific_id
    if ":" in msid:
        raise InvalidDidError("did:key versioned or multi-part identifiers are not supported")
    if not msid.startswith("z"):
        raise InvalidDidError("did:key identifier must be base58btc multibase (start with 'z')")
    try:
        return PublicKey.from_multikey(msid)
    except InvalidMultibaseError as exc:
        raise InvalidDidError(f"did:key identifier does not decode: {exc.message}") from exc


def document(did: str | Did, *, derive_encryption_key: bool = True) -> DidDocument:
    """Resolve a did:key DID to its DID document (current spec: did/v1.1 context, Multikey methods)."""
    parsed = parse_did(did) if isinstance(did, str) else did
    key = public_key_from_did(parsed)
    did_str = str(parsed)
    msid = parsed.method_specific_id  # the key's publicKeyMultibase
    vm_id = f"{did_str}#{msid}"
    data: dict[str, Any] = {
        "@context": [DID_V1_1_CONTEXT],
        "id": did_str,
        "verificationMethod": [multikey_method(did_str, vm_id, msid)],
    }
    if key.key_type is KeyType.X25519:
        data["keyAgreement"] = [vm_id]
    else:
        for rel in SIGNING_RELATIONSHIPS:
            data[rel] = [vm_id]
        if key.key_type is KeyType.ED25519 and derive_encryption_key:
            agreement = key.to_x25519().to_multikey()
            data["keyAgreement"] = [multikey_method(did_str, f"{did_str}#{agreement}", agreement)]
    return DidDocument(data, expected_id=did_str, copy=False)
