"""A ``Signer`` whose private key lives on a PKCS#11 token (an HSM, a smart card, or SoftHSM2 in tests).

The key type is read from the token's public key object (``CKA_EC_PARAMS`` names the curve, ``CKA_EC_POINT``
holds the point), so the algorithm and public JWK are derived, never configured. ECDSA keys sign a digest
computed here (``CKM_ECDSA``); Ed25519 keys sign the message itself (``CKM_EDDSA``). Token PINs never appear in
errors, reprs or logs.
"""

from __future__ import annotations

import hashlib
from types import TracebackType
from typing import Final, cast

import pkcs11
from pkcs11 import Attribute, Mechanism, ObjectClass
from pkcs11 import KeyType as P11KeyType
from pkcs11.exceptions import (
    NoSuchToken,
    PinIncorrect,
    PinLenRange,
    PKCS11Error,
)
from pkcs11.types import SignMixin
from pkcs11.util.ec import encode_named_curve_parameters

from did.errors import InvalidPublicKeyError, SignerError, UnsupportedPublicKeyTypeError
from did.keys import KeyType, PublicKey
from did.signer import KeyFacts

__all__ = [
    "Pkcs11Signer",
    "generate_key",
    "public_key_from_token",
]

# DER of the namedCurve OIDs a token reports in CKA_EC_PARAMS.
_CURVES: Final[dict[bytes, KeyType]] = {
    bytes.fromhex("06082a8648ce3d030107"): KeyType.P256,
    bytes.fromhex("06052b81040022"): KeyType.P384,
    bytes.fromhex("06052b81040023"): KeyType.P521,
    bytes.fromhex("06052b8104000a"): KeyType.SECP256K1,
    bytes.fromhex("06032b6570"): KeyType.ED25519,
}
_CURVE_NAMES: Final[dict[KeyType, str]] = {
    KeyType.P256: "secp256r1",
    KeyType.P384: "secp384r1",
    KeyType.P521: "secp521r1",
    KeyType.SECP256K1: "secp256k1",
    KeyType.ED25519: "1.3.101.112",
}
_DIGESTS: Final = {KeyType.P256: hashlib.sha256, KeyType.P384: hashlib.sha384, KeyType.P521: hashlib.sha512,
                   KeyType.SECP256K1: hashlib.sha256}  # fmt: skip


def _unwrap_octet_string(der: bytes) -> bytes:
    """The contents of a DER OCTET STRING (tokens wrap CKA_EC_POINT in one)."""
    if len(der) < 2 or der[0] != 0x04:
        raise InvalidPublicKeyError("token EC point is not a DER OCTET STRING")
    length, offset = der[1], 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 2 or len(der) < 2 + size:
            raise InvalidPublicKeyError("token EC point has a bad DER length")
        length, offset = int.from_bytes(der[2 : 2 + size], "big"), 2 + size
    if len(der) != offset + length:
        raise InvalidPublicKeyError("token EC point has a bad DER length")
    return der[offset:]


def public_key_from_token(public: pkcs11.PublicKey) -> PublicKey:
    """Decode a token's EC or Ed25519 public key object into a PublicKey."""
    params = bytes(public[Attribute.EC_PARAMS])
    key_type = _CURVES.get(params)
    if key_type is None:
        raise UnsupportedPublicKeyTypeError(f"token key uses an unsupported curve (EC_PARAMS {params.hex()})")
    point = _unwrap_octet_string(bytes(public[Attribute.EC_POINT]))
    if key_type is KeyType.ED25519:
        return PublicKey(key_type, point)
    if not point or point[0] != 0x04 or len(point) % 2 != 1:
        raise InvalidPublicKeyError("token EC point is not an uncompressed SEC1 point")
    size = (len(point) - 1) // 2
    x, y = point[1 : 1 + size], point[1 + size :]
    compressed = bytes([2 + (y[-1] & 1)]) + x
    return PublicKey(key_type, compressed)


def _find_one(session: pkcs11.Session, object_class: ObjectClass, label: str) -> pkcs11.Object:
    """The one object of a class with a label (the search is consumed fully, so no token iterator is left open)."""
    try:
        found = list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))
    except PKCS11Error as exc:
        raise SignerError(f"token error while looking up key {label!r}: {type(exc).__name__}") from exc
    if not found:
        raise SignerError(f"no key pair labelled {label!r} on token {session.token.label!r}")
    if len(found) > 1:
        raise SignerError(f"several keys are labelled {label!r} on token {session.token.label!r}")
    return found[0]


class Pkcs11Signer(KeyFacts):
    """A Signer backed by a private key on a PKCS#11 token."""

    def __init__(self, session: pkcs11.Session, key_label: str, key_id: str | None = None) -> None:
        private = cast(SignMixin, _find_one(session, ObjectClass.PRIVATE_KEY, key_label))
        public = cast(pkcs11.PublicKey, _find_one(session, ObjectClass.PUBLIC_KEY, key_label))
        super().__init__(public_key_from_token(public), key_id)
        self._private = private
        self._session = session
        self._owns_session = False
        self._label = key_label
        self._digest = _DIGESTS.get(self.public_key.key_type)

    @classmethod
    def open(
        cls, module_path: str, token_label: str, user_pin: str, key_label: str, key_id: str | None = None
    ) -> Pkcs11Signer:
        """Load a PKCS#11 module, log in to a token and bind to a key; close() ends the session."""
        try:
            token = pkcs11.lib(module_path).get_token(token_label=token_label)
        except NoSuchToken as exc:
            raise SignerError(f"no PKCS#11 token labelled {token_label!r}") from exc
        except (OSError, RuntimeError, PKCS11Error) as exc:
            raise SignerError(f"cannot load PKCS#11 module {module_path}: {type(exc).__name__}") from exc
        try:
            session = token.open(user_pin=user_pin)
        except (PinIncorrect, PinLenRange) as exc:
            raise SignerError(f"the PIN for token {token_label!r} was not accepted") from exc
        except PKCS11Error as exc:
            raise SignerError(f"cannot open a session on token {token_label!r}: {type(exc).__name__}") from exc
        try:
            signer = cls(session, key_label, key_id)
        except BaseException:
            session.close()
            raise
        signer._owns_session = True
        return signer

    def __repr__(self) -> str:
        return f"Pkcs11Signer({self.public_key.key_type.value}, label={self._label!r}, key_id={self._key_id!r})"

    def sign(self, data: bytes) -> bytes:
        """Sign data on the token; ECDSA signatures come back as raw r||s, the JOSE form."""
        try:
            if self._digest is None:
                return bytes(self._private.sign(data, mechanism=Mechanism.EDDSA))
            return bytes(self._private.sign(self._digest(data).digest(), mechanism=Mechanism.ECDSA))
        except PKCS11Error as exc:
            raise SignerError(f"token refused to sign with key {self._label!r}: {type(exc).__name__}") from exc

    def close(self) -> None:
        """Close the session if this signer opened it."""
        if self._owns_session:
            self._session.close()
            self._owns_session = False

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def generate_key(session: pkcs11.Session, key_type: KeyType, label: str) -> Pkcs11Signer:
    """Generate a persistent signing key pair on the token and return a signer for it."""
    curve = _CURVE_NAMES.get(key_type)
    if curve is None:
        raise UnsupportedPublicKeyTypeError(f"{key_type.value} keys cannot be generated for signing")
    p11_type = P11KeyType.EC_EDWARDS if key_type is KeyType.ED25519 else P11KeyType.EC
    try:
        existing = list(session.get_objects({Attribute.LABEL: label}))
    except PKCS11Error as exc:
        raise SignerError(f"token error while listing keys: {type(exc).__name__}") from exc
    if existing:
        raise SignerError(f"a key labelled {label!r} already exists on token {session.token.label!r}")
    try:
        params = session.create_domain_parameters(
            p11_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
        )
        params.generate_keypair(store=True, label=label)
    except PKCS11Error as exc:
        raise SignerError(f"token cannot generate a {key_type.value} key: {type(exc).__name__}") from exc
    return Pkcs11Signer(session, label)
