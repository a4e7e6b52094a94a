"""did:key against the public vectors (w3c-ccg/did-key-spec): DID <-> key bytes, and the current document shape."""

from __future__ import annotations

from typing import Any

import base58
import pytest

from did import KeyType, PublicKey, SoftwareSigner, UnsupportedPublicKeyTypeError, did_key
from did.resolver import Resolver
from foundation.b64 import b64url_decode
from tests.helpers import load_vector


def _legacy_key(method: dict[str, Any], key_type: KeyType) -> PublicKey:
    """The key a legacy (2018-2021 suite) verification method states, independent of the DID string."""
    if "publicKeyJwk" in method:
        return PublicKey.from_jwk(method["publicKeyJwk"])
    return PublicKey(key_type, base58.b58decode(method["publicKeyBase58"]))


@pytest.mark.parametrize(("did", "entry"), load_vector("did-key/ed25519-x25519.json").items())
def test_ed25519_vectors(did: str, entry: dict[str, Any]) -> None:
    key = did_key.public_key_from_did(did)
    assert key == _legacy_key(entry["verificationKeyPair"], KeyType.ED25519)
    # The derived key-agreement key matches the vector's X25519 key and its multibase id.
    agreement = key.to_x25519()
    assert agreement == _legacy_key(entry["keyAgreementKeyPair"], KeyType.X25519)
    assert entry["keyAgreementKeyPair"]["id"].endswith("#" + agreement.to_multikey())
    signer = SoftwareSigner.from_private_bytes(KeyType.ED25519, bytes.fromhex(entry["seed"]))
    assert did_key.create(signer.public_key) == did


@pytest.mark.parametrize(("did", "doc"), load_vector("did-key/x25519.json")["didDocument"].items())
def test_x25519_vectors(did: str, doc: dict[str, Any]) -> None:
    key = did_key.public_key_from_did(did)
    assert key == _legacy_key(doc["verificationMethod"][0], KeyType.X25519)
    resolved = did_key.document(did).to_json()
    assert resolved["keyAgreement"] == [f"{did}#{did.removeprefix('did:key:')}"]
    assert "assertionMethod" not in resolved


@pytest.mark.parametrize(("did", "entry"), load_vector("did-key/secp256k1.json").items())
def test_secp256k1_vectors(did: str, entry: dict[str, Any]) -> None:
    vm = entry["verificationKeyPair"]
    assert did_key.public_key_from_did(did) == _legacy_key(vm, KeyType.SECP256K1)
    if "privateKeyBase58" in vm:
        signer = SoftwareSigner.from_private_bytes(KeyType.SECP256K1, base58.b58decode(vm["privateKeyBase58"]))
    else:
        signer = SoftwareSigner.from_private_jwk(vm["privateKeyJwk"])
    assert did_key.create(signer.public_key) == did


@pytest.mark.parametrize(("did", "entry"), load_vector("did-key/nist-curves.json").items())
def test_nist_curve_vectors(did: str, entry: dict[str, Any]) -> None:
    vm = entry["verificationMethod"]
    key = did_key.public_key_from_did(did)
    if "publicKeyJwk" in vm:
        assert key.to_jwk() == {m: vm["publicKeyJwk"][m] for m in ("kty", "crv", "x", "y")}
        signer = SoftwareSigner.from_private_jwk(vm["privateKeyJwk"])
    else:
        assert key == _legacy_key(vm, KeyType.P256)
        signer = SoftwareSigner.from_private_bytes(KeyType.P256, base58.b58decode(vm["privateKeyBase58"]))
    assert did_key.create(signer.public_key) == did
    assert did_key.create(PublicKey.from_jwk(key.to_jwk())) == did


@pytest.mark.parametrize("filename", ["bls12381.json", "rsa.json"])
def test_unsupported_key_types_are_named(filename: str) -> None:
    dids = load_vector(f"did-key/{filename}")
    assert dids
    for did in dids:
        with pytest.raises(UnsupportedPublicKeyTypeError) as info:
            did_key.public_key_from_did(did)
        assert info.value.code == "unsupportedPublicKeyType"
        assert ("BLS12-381" if filename.startswith("bls") else "RSA") in info.value.message
        result = Resolver().resolve(did)
        assert result.did_document is None
        assert result.error == "unsupportedPublicKeyType"


def test_current_spec_document_shape() -> None:
    example = load_vector("did-key/spec-current-examples.json")["ed25519_with_x25519_example"]
    assert did_key.document(example["did"]).to_json() == example["didDocument"]


@pytest.mark.parametrize(
    ("group", "key_type"),
    [
        ("ed25519", KeyType.ED25519),
        ("secp256k1", KeyType.SECP256K1),
        ("p256", KeyType.P256),
        ("p384", KeyType.P384),
    ],
)
def test_current_spec_example_dids_round_trip(group: str, key_type: KeyType) -> None:
    dids = load_vector("did-key/spec-current-examples.json")[group]
    assert dids
    for did in dids:
        key = did_key.public_key_from_did(did)
        assert key.key_type is key_type
        assert did_key.create(key) == did
        assert did_key.create(PublicKey.from_multikey(key.to_multikey())) == did
        doc = Resolver().resolve_document(did)
        assert doc.verification_method(f"#{did[8:]}", "assertionMethod").public_key == key


def test_jwk_coordinates_match_vector_bytes() -> None:
    # JWK coordinates are the curve's size each (32, 48 and 66 bytes); decoding the DID gives a key of that curve.
    checked = []
    for did, entry in load_vector("did-key/nist-curves.json").items():
        jwk = entry["verificationMethod"].get("publicKeyJwk")
        if jwk is None:
            continue  # the one legacy entry states its key in base58 (test_nist_curve_vectors covers it)
        size = did_key.public_key_from_did(did).key_type.spec.size
        assert len(b64url_decode(jwk["x"])) == len(b64url_decode(jwk["y"])) == size
        checked.append(jwk["crv"])
    assert sorted(checked) == ["P-256", "P-256", "P-384", "P-384", "P-521", "P-521"]
