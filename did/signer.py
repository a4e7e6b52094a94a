"""The ``Signer`` protocol every signing component uses, and software keys that implement it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from did.errors import InvalidJwkError, InvalidPublicKeyLengthError, SignerError, UnsupportedAlgorithmError
from did.keys import KeyType, PublicKey
from did.multibase import decode_multicodec, require_known
from foundation.b64 import b64url_decode, b64url_encode

__all__ = [
    "KeyFacts",
    "KeyIdSigner",
    "PrivateKeyObject",
    "Signer",
    "SoftwareSigner",
    "verify_with_jwk",
]

PrivateKeyObject = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@runtime_checkable
class Signer(Protocol):
    """Something that signs bytes with one key: software, a PKCS#11 token, or (later) a card."""

    @property
    def key_id(self) -> str:
        """Identifier of the key, e.g. a DID URL or a JWK thumbprint."""
        ...

    @property
    def algorithm(self) -> str:
        """JOSE algorithm name of the signatures this signer makes (EdDSA, ES256, ES256K, ...)."""
        ...

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign data; ECDSA signatures are returned in JOSE form (raw r||s)."""
        ...


class KeyIdSigner:
    """Any signer (software or PKCS#11) under another key id, e.g. the DID URL of its verification method."""

    def __init__(self, signer: Signer, key_id: str) -> None:
        self._signer = signer
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        """The key id given (a DID URL)."""
        return self._key_id

    @property
    def algorithm(self) -> str:
        """The wrapped signer's JOSE algorithm."""
        return self._signer.algorithm

    @property
    def public_jwk(self) -> dict[str, str]:
        """The wrapped signer's public JWK."""
        return self._signer.public_jwk

    def sign(self, data: bytes) -> bytes:
        """Sign with the wrapped signer."""
        return self._signer.sign(data)


class KeyFacts:
    """What every Signer states about its key, derived once from the public key: id, algorithm, JWK, type."""

    def __init__(self, public_key: PublicKey, key_id: str | None) -> None:
        self.public_key = public_key
        self._alg = public_key.algorithm
        self._jwk = public_key.to_jwk()
        self._key_id = key_id or public_key.thumbprint()

    @property
    def key_id(self) -> str:
        """Identifier of the key."""
        return self._key_id

    @property
    def algorithm(self) -> str:
        """JOSE algorithm name."""
        return self._alg

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (a copy)."""
        return dict(self._jwk)

    @property
    def key_type(self) -> KeyType:
        """The key's type."""
        return self.public_key.key_type


class SoftwareSigner(KeyFacts):
    """A signer holding its private key in memory (Ed25519, P-256, P-384, P-521, secp256k1)."""

    def __init__(self, private_key: PrivateKeyObject, key_id: str | None = None) -> None:
        super().__init__(PublicKey.from_cryptography(private_key.public_key()), key_id)
        self._key = private_key
        spec = self.public_key.key_type.spec
        self._size = spec.size
        self._ecdsa = ec.ECDSA(spec.hash) if spec.hash is not None else None

    def __repr__(self) -> str:
        return f"SoftwareSigner({self.public_key.key_type.value}, key_id={self._key_id!r})"

    def with_key_id(self, key_id: str) -> SoftwareSigner:
        """The same key under another key id (e.g. a DID URL once the DID is known)."""
        return SoftwareSigner(self._key, key_id)

    def sign(self, data: bytes) -> bytes:
        """Sign data; ECDSA signatures are raw r||s."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(data)
        assert self._ecdsa is not None
        r, s = decode_dss_signature(self._key.sign(data, self._ecdsa))
        return r.to_bytes(self._size, "big") + s.to_bytes(self._size, "big")

    # -- construction and storage -------------------------------------------------------------------------------

    @classmethod
    def generate(cls, key_type: KeyType, key_id: str | None = None) -> SoftwareSigner:
        """Create a fresh random key of the given type."""
        key_type.algorithm  # noqa: B018 - raises for key-agreement-only types
        if key_type is KeyType.ED25519:
            return cls(ed25519.Ed25519PrivateKey.generate(), key_id)
        assert key_type.spec.curve is not None
        return cls(ec.generate_private_key(key_type.spec.curve), key_id)

    @classmethod
    def from_private_bytes(cls, key_type: KeyType, secret: bytes, key_id: str | None = None) -> SoftwareSigner:
        """Load a key from its raw secret (Ed25519 seed or EC scalar, big-endian)."""
        spec = key_type.spec
        if len(secret) != spec.size:
            raise InvalidPublicKeyLengthError(f"{key_type.value} secret must be {spec.size} bytes")
        key_type.algorithm  # noqa: B018 - raises for key-agreement-only types
        if key_type is KeyType.ED25519:
            return cls(ed25519.Ed25519PrivateKey.from_private_bytes(secret), key_id)
        assert spec.curve is not None
        try:
            return cls(ec.derive_private_key(int.from_bytes(secret, "big"), spec.curve), key_id)
        except ValueError as exc:
            raise InvalidJwkError(f"secret is not a valid {key_type.value} scalar") from exc

    @classmethod
    def from_secret_multibase(cls, value: str, key_id: str | None = None) -> SoftwareSigner:
        """Load a key from a multibase secret key (``secretKeyMultibase``/``privateKeyMultibase``)."""
        code, payload = decode_multicodec(value)
        known = require_known(code)
        for kt in KeyType:
            if kt.spec.private_multicodec is known:
                return cls.from_private_bytes(kt, payload, key_id)
        raise UnsupportedAlgorithmError(f"multicodec {known.name} is not a supported secret key type")

    @classmethod
    def from_private_jwk(cls, jwk: Any, key_id: str | None = None) -> SoftwareSigner:
        """Load a key from a private JWK; the public part must match the secret."""
        if not isinstance(jwk, dict) or not isinstance(jwk.get("d"), str):
            raise InvalidJwkError("private JWK must be a JSON object with a 'd' member")
        public = PublicKey.from_jwk({k: v for k, v in jwk.items() if k != "d"})
        try:
            secret = b64url_decode(jwk["d"])
        except ValueError as exc:
            raise InvalidJwkError("JWK member 'd' is not unpadded base64url") from exc
        signer = cls.from_private_bytes(public.key_type, secret, key_id or jwk.get("kid"))
        if signer.public_key != public:
            raise InvalidJwkError("private JWK 'd' does not match its public members")
        return signer

    def to_private_jwk(self) -> dict[str, str]:
        """Export the key as a private JWK (handle as a secret)."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            secret = self._key.private_bytes_raw()
        else:
            secret = self._key.private_numbers().private_value.to_bytes(self._size, "big")
        return {**self._jwk, "d": b64url_encode(secret), "kid": self._key_id}

    def key_file_bytes(self) -> bytes:
        """The content of a key file: the private JWK as indented JSON (what ``save`` writes and ``load`` reads)."""
        return json.dumps(self.to_private_jwk(), indent=2).encode() + b"\n"

    def save(self, path: Path) -> None:
        """Write the private JWK to a new file readable only by its owner; never overwrites."""
        data = self.key_file_bytes()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            if path.parent.is_dir():
                raise SignerError(f"key file {path} already exists; refusing to overwrite it") from exc
            raise SignerError(f"cannot write key file {path}: {path.parent} is not a directory") from None
        except OSError as exc:
            raise SignerError(f"cannot write key file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    @classmethod
    def load(cls, path: Path) -> SoftwareSigner:
        """Read a private JWK file written by ``save`` (or any private JWK)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SignerError(f"cannot read key file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise InvalidJwkError(f"key file {path} is not UTF-8 text") from None
        try:
            jwk = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, a number too long to read, or nesting too deep
            raise InvalidJwkError(f"key file {path} is not JSON") from None
        return cls.from_private_jwk(jwk)


def verify_with_jwk(jwk: dict[str, Any], signature: bytes, data: bytes, algorithm: str | None = None) -> None:
    """Verify a signature with a public JWK; raise InvalidSignatureError on failure."""
    PublicKey.from_jwk(jwk).verify(signature, data, algorithm)
