"""DID syntax, did:jwk, DID documents, the resolver (metadata, cache) and DID URL dereferencing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from did import (
    Did,
    DidDocument,
    DidError,
    InvalidDidDocumentError,
    InvalidDidError,
    InvalidDidUrlError,
    InvalidJwkError,
    KeyType,
    MethodNotSupportedError,
    NotFoundError,
    Resolver,
    SoftwareSigner,
    did_jwk,
    did_key,
    parse_did,
    parse_did_url,
)
from did.multibase import Multicodec, encode_multicodec
from did.syntax import MAX_DID_LENGTH
from foundation.b64 import b64url_encode


def test_parse_did_and_url() -> None:
    assert parse_did("did:example:123:abc%20") == Did("example", "123:abc%20")
    url = parse_did_url("did:web:example.com:u:bob/path/x?versionId=1#key-1")
    assert str(url.did) == "did:web:example.com:u:bob"
    assert (url.path, url.query, url.fragment) == ("/path/x", "versionId=1", "key-1")
    assert str(url) == "did:web:example.com:u:bob/path/x?versionId=1#key-1"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "start with 'did:'"),
        ("DID:key:z6Mk", "start with 'did:'"),
        ("did:key", "method and a method-specific"),
        ("did:KEY:z6Mk", "lower-case"),
        ("did::z6Mk", "lower-case"),
        ("did:key:", "empty or contains"),
        ("did:key:abc:", "empty or contains"),
        ("did:key:a b", "empty or contains"),
        ("did:key:%zz", "empty or contains"),
        ("did:key:" + "z" * MAX_DID_LENGTH, "limit"),
    ],
)
def test_invalid_dids(value: str, reason: str) -> None:
    with pytest.raises(InvalidDidError, match=reason) as info:
        parse_did(value)
    assert info.value.code == "invalidDid"


def test_invalid_did_urls() -> None:
    with pytest.raises(InvalidDidUrlError):
        parse_did_url("did:key:z6Mk#frag ment")
    with pytest.raises(InvalidDidUrlError):
        parse_did_url("did:key:z6Mk/pa th")
    with pytest.raises(InvalidDidUrlError, match="limit"):
        parse_did_url("did:key:z6Mk#" + "a" * 5000)
    with pytest.raises(InvalidDidUrlError):
        parse_did_url("not-a-did#x")


@given(st.text(max_size=200))
@example("did:example:123:abc%20")  # the round-trip branch runs on every run, not only by luck
def test_did_parser_raises_only_invalid_did(value: str) -> None:
    try:
        parsed = parse_did(value)
    except InvalidDidError:
        return
    assert str(parsed) == value


@given(st.text(alphabet="did:key#/?%az09AZ._-~ ", max_size=60))
@example("did:key:z6Mk/a/b?x=y#k-1")
def test_did_url_parser_raises_only_invalid_did_url(value: str) -> None:
    try:
        parsed = parse_did_url(value)
    except InvalidDidUrlError:
        return
    assert str(parsed) == value


@pytest.mark.parametrize("key_type", [KeyType.ED25519, KeyType.P256, KeyType.SECP256K1])
def test_did_jwk_round_trip(key_type: KeyType) -> None:
    key = SoftwareSigner.generate(key_type).public_key
    did = did_jwk.create(key)
    doc = Resolver().resolve_document(did)
    vm = doc.verification_method("#0", "assertionMethod")
    assert vm.public_key == key
    assert vm.type == "JsonWebKey2020"
    assert doc.relationship("keyAgreement") == [f"{did}#0"]  # no 'use' member: every relationship
    assert did_jwk.jwk_from_did(did) == key.to_jwk()


def test_did_jwk_use_restricts_relationships() -> None:
    key = SoftwareSigner.generate(KeyType.P256).public_key
    sig_only = did_jwk.document(did_jwk.create({**key.to_jwk(), "use": "sig"})).to_json()
    assert "keyAgreement" not in sig_only
    assert "authentication" in sig_only
    enc_only = did_jwk.document(did_jwk.create({**key.to_jwk(), "use": "enc"})).to_json()
    assert "authentication" not in enc_only
    assert "keyAgreement" in enc_only
    x25519 = did_jwk.document(did_jwk.create(key_x25519())).to_json()
    assert "assertionMethod" not in x25519


def key_x25519() -> dict[str, str]:
    return SoftwareSigner.generate(KeyType.ED25519).public_key.to_x25519().to_jwk()


def test_did_jwk_errors() -> None:
    signer = SoftwareSigner.generate(KeyType.ED25519)
    with pytest.raises(InvalidJwkError, match="private"):
        did_jwk.create(signer.to_private_jwk())
    private_did = "did:jwk:" + b64url_encode(json.dumps(signer.to_private_jwk()).encode())
    with pytest.raises(InvalidJwkError, match="private"):
        did_jwk.document(private_did)
    with pytest.raises(InvalidDidError, match="base64url"):
        did_jwk.document("did:jwk:abcde")
    with pytest.raises(InvalidDidError, match="base64url"):
        did_jwk.document("did:jwk:" + b64url_encode(b"not json"))
    with pytest.raises(InvalidJwkError, match="object"):
        did_jwk.document("did:jwk:" + b64url_encode(b"[1]"))
    with pytest.raises(InvalidDidError, match="method"):
        did_jwk.jwk_from_did("did:key:z6Mk")


def test_did_key_errors() -> None:
    with pytest.raises(InvalidDidError, match="base58btc"):
        did_key.public_key_from_did("did:key:u7QE")
    with pytest.raises(InvalidDidError, match="does not decode"):
        did_key.public_key_from_did("did:key:z0OIl")
    with pytest.raises(InvalidDidError, match="multi-part"):
        did_key.public_key_from_did("did:key:1:z6Mk")
    with pytest.raises(InvalidDidError, match="method"):
        did_key.public_key_from_did("did:web:example.com")


def _doc(did: str, **extra: Any) -> dict[str, Any]:
    key = SoftwareSigner.generate(KeyType.ED25519).public_key
    return {
        "id": did,
        "verificationMethod": [
            {"id": "#k1", "type": "Multikey", "controller": did, "publicKeyMultibase": key.to_multikey()}
        ],
        "assertionMethod": ["#k1"],
        **extra,
    }


def test_document_validation_errors() -> None:
    did = "did:web:example.com"
    with pytest.raises(InvalidDidDocumentError, match="JSON object"):
        DidDocument([])
    with pytest.raises(InvalidDidDocumentError, match="'id'"):
        DidDocument({})
    with pytest.raises(InvalidDidDocumentError, match="not a DID"):
        DidDocument({"id": "https://example.com"})
    with pytest.raises(InvalidDidDocumentError, match="does not match"):
        DidDocument(_doc(did), expected_id="did:web:example.org")
    with pytest.raises(InvalidDidDocumentError, match="list"):
        DidDocument({**_doc(did), "verificationMethod": {}})
    doc = _doc(did)
    with pytest.raises(InvalidDidDocumentError, match="twice"):
        DidDocument({**doc, "verificationMethod": doc["verificationMethod"] * 2})
    with pytest.raises(InvalidDidDocumentError, match="controller"):
        DidDocument({**_doc(did), "authentication": [{"id": "#k2", "type": "Multikey"}]})
    with pytest.raises(InvalidDidDocumentError, match="strings or verification methods"):
        DidDocument({**_doc(did), "authentication": [1]})
    with pytest.raises(InvalidDidDocumentError, match="valid JSON"):
        DidDocument.from_json(b"{")


def test_dereferencing() -> None:
    did = "did:web:example.com"
    raw = _doc(did)
    raw["verificationMethod"].append({"id": f"{did}#old", "type": "RsaVerificationKey2018", "controller": did})
    doc = DidDocument(raw)
    assert doc.verification_method(f"{did}#k1", "assertionMethod").id == f"{did}#k1"
    with pytest.raises(NotFoundError, match="not authorized for authentication"):
        doc.verification_method("#k1", "authentication")
    with pytest.raises(NotFoundError, match="no verification method"):
        doc.verification_method("#k9")
    with pytest.raises(InvalidDidDocumentError, match="not supported"):
        doc.verification_method("#old")
    with pytest.raises(ValueError, match="relationship"):
        doc.relationship("owner")
    assert list(doc.method_ids()) == [f"{did}#k1", f"{did}#old"]


def test_resolver_metadata_and_dereference() -> None:
    resolver = Resolver()
    signer = SoftwareSigner.generate(KeyType.P256)
    did = did_key.create(signer.public_key)
    result = resolver.resolve(did)
    assert result.error is None
    assert result.did_resolution_metadata["contentType"] == "application/did+json"
    assert result.to_json()["didDocument"]["id"] == did
    vm = resolver.dereference(f"{did}#{did[8:]}", "authentication")
    assert vm.public_key == signer.public_key
    for value, code in [
        ("did:example:123", "methodNotSupported"),
        ("did:key:", "invalidDid"),
        ("nonsense", "invalidDid"),
        ("did:key:" + encode_multicodec(Multicodec.ED25519_PUB, b"\x01" * 31), "invalidPublicKeyLength"),
    ]:
        bad = resolver.resolve(value)
        assert bad.error == code, value
        assert bad.did_document is None
        assert bad.did_resolution_metadata["errorMessage"]
    with pytest.raises(MethodNotSupportedError, match="supported: jwk, key"):
        resolver.resolve_document("did:example:123")
    with pytest.raises(InvalidDidUrlError, match="no fragment"):
        resolver.dereference(did)
    with pytest.raises(InvalidDidUrlError, match="fragment"):
        resolver.dereference(f"{did}/path#x")
    with pytest.raises(NotFoundError):
        resolver.dereference(f"{did}#other")


class _CountingWeb:
    method = "web"
    cacheable = True

    def __init__(self) -> None:
        self.calls = 0

    def resolve(self, did: Did) -> DidDocument:
        self.calls += 1
        return DidDocument(_doc(str(did)))


def test_resolver_cache_ttl_and_size() -> None:
    now = [0.0]
    web = _CountingWeb()
    resolver = Resolver([web], cache_ttl=60, cache_size=2, clock=lambda: now[0])
    first = resolver.resolve_document("did:web:a.example")
    assert resolver.resolve_document("did:web:a.example") is first
    assert web.calls == 1
    now[0] = 61
    assert resolver.resolve_document("did:web:a.example") is not first
    assert web.calls == 2
    resolver.resolve_document("did:web:b.example")
    resolver.resolve_document("did:web:c.example")  # evicts a.example (least recently used)
    resolver.resolve_document("did:web:a.example")
    assert web.calls == 5
    resolver.clear_cache()
    resolver.resolve_document("did:web:c.example")
    assert web.calls == 6


def test_errors_have_codes_and_messages() -> None:
    err = InvalidDidError("bad")
    assert isinstance(err, DidError)
    assert str(err) == "invalidDid: bad"
    assert err.message == "bad"


@pytest.mark.parametrize("key_type", [KeyType.ED25519, KeyType.P256, KeyType.SECP256K1])
def test_did_key_generate_names_the_verification_method_of_its_document(key_type: KeyType) -> None:
    signer = did_key.generate(key_type)
    method = Resolver().dereference(signer.key_id, "assertionMethod")
    assert method.id == signer.key_id == did_key.verification_method_id(signer.public_key)
    assert method.public_key == signer.public_key
