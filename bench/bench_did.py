"""The floor (raw signatures with cryptography) and the did package's costs compared with it."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from bench.harness import bench
from did import DidDocument, KeyType, Resolver, SoftwareSigner, did_key
from did.syntax import Did

MESSAGE = bytes(range(200))  # 200 bytes: the raw-signature floors every credential benchmark compares with


@bench("floor", "raw Ed25519 sign (cryptography)")
def _raw_ed25519_sign() -> Callable[[], object]:
    key = ed25519.Ed25519PrivateKey.generate()
    return lambda: key.sign(MESSAGE)


@bench("floor", "raw Ed25519 verify (cryptography)")
def _raw_ed25519_verify() -> Callable[[], object]:
    key = ed25519.Ed25519PrivateKey.generate()
    pub, sig = key.public_key(), key.sign(MESSAGE)
    return lambda: pub.verify(sig, MESSAGE)


def _raw_ec(curve: ec.EllipticCurve) -> tuple[Callable[[], object], Callable[[], object]]:
    key = ec.generate_private_key(curve)
    pub, sig = key.public_key(), key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    return (lambda: key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))), (
        lambda: pub.verify(sig, MESSAGE, ec.ECDSA(hashes.SHA256()))
    )


@bench("floor", "raw P-256 sign (cryptography)")
def _raw_p256_sign() -> Callable[[], object]:
    return _raw_ec(ec.SECP256R1())[0]


@bench("floor", "raw P-256 verify (cryptography)")
def _raw_p256_verify() -> Callable[[], object]:
    return _raw_ec(ec.SECP256R1())[1]


@bench("floor", "raw secp256k1 sign (cryptography)")
def _raw_k1_sign() -> Callable[[], object]:
    return _raw_ec(ec.SECP256K1())[0]


@bench("floor", "raw secp256k1 verify (cryptography)")
def _raw_k1_verify() -> Callable[[], object]:
    return _raw_ec(ec.SECP256K1())[1]


def _signer_pair(key_type: KeyType) -> tuple[Callable[[], object], Callable[[], object]]:
    signer = SoftwareSigner.generate(key_type)
    sig = signer.sign(MESSAGE)
    return (lambda: signer.sign(MESSAGE)), (lambda: signer.public_key.verify(sig, MESSAGE))


@bench("did", "SoftwareSigner Ed25519 sign", floor="raw Ed25519 sign (cryptography)")
def _sw_ed_sign() -> Callable[[], object]:
    return _signer_pair(KeyType.ED25519)[0]


@bench("did", "PublicKey Ed25519 verify", floor="raw Ed25519 verify (cryptography)")
def _sw_ed_verify() -> Callable[[], object]:
    return _signer_pair(KeyType.ED25519)[1]


@bench("did", "SoftwareSigner P-256 sign (JOSE r||s)", floor="raw P-256 sign (cryptography)")
def _sw_p256_sign() -> Callable[[], object]:
    return _signer_pair(KeyType.P256)[0]


@bench("did", "PublicKey P-256 verify (JOSE r||s)", floor="raw P-256 verify (cryptography)")
def _sw_p256_verify() -> Callable[[], object]:
    return _signer_pair(KeyType.P256)[1]


@bench("did", "did:key Ed25519 resolve (with X25519), uncached", floor="raw Ed25519 verify (cryptography)")
def _did_key_resolve() -> Callable[[], object]:
    did = did_key.create(SoftwareSigner.generate(KeyType.ED25519).public_key)
    resolver = Resolver(cache_ttl=0)
    return lambda: resolver.resolve_document(did)


@bench("did", "did:key P-256 resolve, uncached", floor="raw P-256 verify (cryptography)")
def _did_key_resolve_p256() -> Callable[[], object]:
    did = did_key.create(SoftwareSigner.generate(KeyType.P256).public_key)
    resolver = Resolver(cache_ttl=0)
    return lambda: resolver.resolve_document(did)


@bench("did", "did:key Ed25519 resolve from the resolver's cache", floor="raw Ed25519 verify (cryptography)")
def _did_key_resolve_cached() -> Callable[[], object]:
    did = did_key.create(SoftwareSigner.generate(KeyType.ED25519).public_key)
    resolver = Resolver()
    return lambda: resolver.resolve_document(did)


class _StaticWeb:
    method = "web"
    cacheable = True

    def __init__(self, document: DidDocument) -> None:
        self.document = document

    def resolve(self, did: Did) -> DidDocument:
        return self.document


@bench("did", "did:web resolve + dereference from cache", floor="raw Ed25519 verify (cryptography)")
def _did_web_cached() -> Callable[[], object]:
    from did import web_document

    did = "did:web:issuer.example.jp"
    key = SoftwareSigner.generate(KeyType.ED25519).public_key
    resolver = Resolver([_StaticWeb(DidDocument(web_document(did, [("key-1", key)])))], cache_ttl=3600)
    url = f"{did}#key-1"
    resolver.dereference(url)
    return lambda: resolver.dereference(url, "assertionMethod")
