"""The did:jwk method: a DID that is a base64url-encoded public JWK."""

from __future__ import annotations

import json
from typing import Any, Final

from did.document import SIGNING_RELATIONSHIPS, DidDocument
from did.errors import InvalidDidError, InvalidJwkError
from did.keys import KeyType, PublicKey
from did.syntax import Did, parse_did
from foundation.b64 import b64url_decode, b64url_encode

__all__ = [
    "CONTEXT",
    "METHOD",
    "create",
    "document",
    "jwk_from_did",
]

METHOD = "jwk"
CONTEXT: Final = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"]


def create(public_key: PublicKey | dict[str, Any]) -> str:
    """The did:jwk DID of a public key (JWK members sorted, compact JSON)."""
    jwk = public_key.to_jwk() if isinstance(public_key, PublicKey) else dict(public_key)
    PublicKey.from_jwk(jwk)  # validates and refuses private members
    try:
        encoded = json.dumps(jwk, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in some member
        raise InvalidJwkError("a JWK member is not valid Unicode text") from None
    return f"did:jwk:{b64url_encode(encoded)}"


def jwk_from_did(did: str | Did) -> dict[str, Any]:
    """Decode the JWK a did:jwk DID carries (validated as a public key)."""
    parsed = parse_did(did) if isinstance(did, str) else did
    if parsed.method != METHOD:
        raise InvalidDidError(f"not a did:jwk DID (method {parsed.method!r})")
    try:
        raw = b64url_decode(parsed.method_specific_id)
        jwk = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidDidError("did:jwk identifier is not base64url-encoded JSON") from None
    if not isinstance(jwk, dict):
        raise InvalidJwkError("did:jwk identifier does not encode a JSON object")
    PublicKey.from_jwk(jwk)
    return jwk


def document(did: str | Did) -> DidDocument:
    """Resolve a did:jwk DID to its DID document (JsonWebKey2020, relationships from 'use')."""
    parsed = parse_did(did) if isinstance(did, str) else did
    jwk = jwk_from_did(parsed)
    did_str = str(parsed)
    vm_id = f"{did_str}#0"
    data: dict[str, Any] = {
        "@context": list(CONTEXT),
        "id": did_str,
        "verificationMethod": [{"id": vm_id, "type": "JsonWebKey2020", "controller": did_str, "publicKeyJwk": jwk}],
    }
    use = jwk.get("use")
    encryption_only = use == "enc" or PublicKey.from_jwk(jwk).key_type is KeyType.X25519
    if not encryption_only:
        for rel in SIGNING_RELATIONSHIPS:
            data[rel] = [vm_id]
    if use != "sig":
        data["keyAgreement"] = [vm_id]
    return DidDocument(data, expected_id=did_str, copy=False)
