"""Public keys in the forms the DID and VC world uses: raw bytes, JWK, Multikey, and cryptography objects."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from did.errors import (
    InvalidJwkError,
    InvalidPublicKeyError,
    InvalidPublicKeyLengthError,
    InvalidSignatureError,
    UnsupportedAlgorithmError,
    UnsupportedPublicKeyTypeError,
)
from did.multibase import Multicodec, decode_multicodec, encode_multicodec, require_known
from foundation.b64 import b64url_decode, b64url_encode

__all__ = [
    "KeyType",
    "PublicKey",
    "PublicKeyObject",
    "jwk_thumbprint",
]

PublicKeyObject = ed25519.Ed25519PublicKey | x25519.X25519PublicKey | ec.EllipticCurvePublicKey

# Ed25519 curve constants (RFC 8032 §5.1), used only to check that a public key is a point on the curve and to
# map it to its X25519 twin; the arithmetic is on public values, so constant time does not matter.
_P: Final = 2**255 - 19
_D: Final = (-121665 * pow(121666, _P - 2, _P)) % _P


@dataclass(frozen=True)
class _Spec:
    multicodec: Multicodec
    private_multicodec: Multicodec | None
    kty: str
    crv: str
    alg: str | None
    size: int  # field size in bytes
    curve: ec.EllipticCurve | None = None
    hash: hashes.HashAlgorithm | None = None


class KeyType(enum.Enum):
    """The key types this project supports, named by their JWK curve."""

    ED25519 = "Ed25519"
    X25519 = "X25519"
    P256 = "P-256"
    P384 = "P-384"
    P521 = "P-521"
    SECP256K1 = "secp256k1"

    @property
    def spec(self) -> _Spec:
        """Encoding facts for this key type."""
        return _SPECS[self]

    @property
    def algorithm(self) -> str:
        """The JOSE signature algorithm of this key type; X25519 has none and raises."""
        alg = self.spec.alg
        if alg is None:
            raise UnsupportedAlgorithmError(f"{self.value} keys are for key agreement and cannot sign")
        return alg

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Every JOSE ``alg`` name for this key type: the usual one first, then RFC 9864's fully-specified one."""
        names = _ALGORITHMS.get(self)
        if names is None:
            raise UnsupportedAlgorithmError(f"{self.value} keys are for key agreement and cannot sign")
        return names

    @classmethod
    def parse(cls, name: str) -> KeyType:
        """Look a key type up by JWK curve name or by the CLI spelling (ed25519, p256, secp256k1, ...)."""
        wanted = name.strip().lower().replace("-", "")
        for kt in cls:
            if kt.value.lower().replace("-", "") == wanted:
                return kt
        raise UnsupportedPublicKeyTypeError(f"unsupported key type {name!r}")


_SPECS: Final[dict[KeyType, _Spec]] = {
    KeyType.ED25519: _Spec(Multicodec.ED25519_PUB, Multicodec.ED25519_PRIV, "OKP", "Ed25519", "EdDSA", 32),
    KeyType.X25519: _Spec(Multicodec.X25519_PUB, None, "OKP", "X25519", None, 32),
    KeyType.P256: _Spec(
        Multicodec.P256_PUB, Multicodec.P256_PRIV, "EC", "P-256", "ES256", 32, ec.SECP256R1(), hashes.SHA256()
    ),
    KeyType.P384: _Spec(
        Multicodec.P384_PUB, Multicodec.P384_PRIV, "EC", "P-384", "ES384", 48, ec.SECP384R1(), hashes.SHA384()
    ),
    KeyType.P521: _Spec(
        Multicodec.P521_PUB, Multicodec.P521_PRIV, "EC", "P-521", "ES512", 66, ec.SECP521R1(), hashes.SHA512()
    ),
    KeyType.SECP256K1: _Spec(
        Multicodec.SECP256K1_PUB,
        Multicodec.SECP256K1_PRIV,
        "EC",
        "secp256k1",
        "ES256K",
        32,
        ec.SECP256K1(),
        hashes.SHA256(),
    ),
}
_FULLY_SPECIFIED: Final[dict[str, tuple[str, ...]]] = {"EdDSA": ("Ed25519",)}
"""RFC 9864 §2.2 replaces the polymorphic JOSE ``EdDSA`` by ``Ed25519`` (and ``Ed448``, not supported here). JOSE's
ES256/ES384/ES512/ES256K already name their curve (RFC 7518 §3.4, RFC 8812); RFC 9864's ESP256/ESP384/ESP512 are
COSE algorithm identifiers only, so no JOSE alias exists for them."""
_ALGORITHMS: Final = {
    kt: (spec.alg, *_FULLY_SPECIFIED.get(spec.alg, ())) for kt, spec in _SPECS.items() if spec.alg is not None
}
_BY_MULTICODEC: Final = {spec.multicodec: kt for kt, spec in _SPECS.items()}
_BY_CRV: Final = {spec.crv: kt for kt, spec in _SPECS.items()}
_UNSUPPORTED_CODECS: Final = {
    Multicodec.BLS12_381_G1_PUB: "BLS12-381 G1",
    Multicodec.BLS12_381_G2_PUB: "BLS12-381 G2",
    Multicodec.BLS12_381_G1G2_PUB: "BLS12-381 G1+G2",
    Multicodec.RSA_PUB: "RSA",
}


def _jacobi(a: int, n: int) -> int:
    """Jacobi symbol (a/n) for odd n > 0; for a prime n it is the Legendre symbol (1: square, -1: not, 0: zero)."""
    a %= n
    result = 1
    while a:
        zeros = (a & -a).bit_length() - 1
        a >>= zeros
        if zeros & 1 and n & 7 in (3, 5):
            result = -result
        if a & 3 == 3 and n & 3 == 3:
            result = -result
        a, n = n % a, a
    return result if n == 1 else 0


def _ed25519_y_on_curve(raw: bytes) -> int:
    """Return y of an encoded Ed25519 point, raising if the encoding is not a point on the curve."""
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        raise InvalidPublicKeyError("Ed25519 public key is not canonically encoded")
    # x^2 = u / v; it has a root iff u*v is a square mod p (the Legendre symbol of v^-1 equals that of v).
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    square = _jacobi(u * v, _P)
    if square == -1 or (square == 0 and sign):
        raise InvalidPublicKeyError("Ed25519 public key is not a point on the curve")
    if _ed25519_small_order(y):
        # Under a key of order 1, 2, 4 or 8, one fixed signature (R = identity, S = 0) verifies for every message.
        raise InvalidPublicKeyError("Ed25519 public key is a point of small order, which anyone can sign for")
    return y


def _ed25519_small_order(y: int) -> bool:
    """True when 8·P is the identity, for the point P with this y (on the curve, a = -1): double it three times.

    Doubling needs only y, since x² = (y² - 1) / (d·y² + 1): y(2P) = (y² + x²) / (2 + x² - y²). With y = Y/Z and
    A = Y², B = Z², N = A - B, M = d·A + B this is Y' = A·M + N·B, Z' = 2·B·M + N·B - A·M, so no inversion is
    needed. The identity is the only point with y = 1; the denominators never vanish (d is not a square).
    """
    big_y, big_z = y, 1
    for _ in range(3):
        a, b = big_y * big_y % _P, big_z * big_z % _P
        n, m = (a - b) % _P, (_D * a + b) % _P
        am, nb = a * m % _P, n * b % _P
        big_y, big_z = (am + nb) % _P, (2 * b * m + nb - am) % _P
    return big_z != 0 and big_y == big_z


def _load(key_type: KeyType, raw: bytes) -> PublicKeyObject:
    spec = key_type.spec
    try:
        if key_type is KeyType.ED25519:
            _ed25519_y_on_curve(raw)
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if key_type is KeyType.X25519:
            return x25519.X25519PublicKey.from_public_bytes(raw)
        assert spec.curve is not None
        return ec.EllipticCurvePublicKey.from_encoded_point(spec.curve, raw)
    except ValueError as exc:
        raise InvalidPublicKeyError(f"{key_type.value} public key is not a point on the curve") from exc


@dataclass(frozen=True)
class PublicKey:
    """A validated public key: its type and raw encoding (compressed SEC1 point for EC, 32 bytes for OKP)."""

    key_type: KeyType
    raw: bytes
    _obj: PublicKeyObject = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        spec = self.key_type.spec
        expected = spec.size if spec.kty == "OKP" else spec.size + 1
        if len(self.raw) != expected:
            raise InvalidPublicKeyLengthError(
                f"{self.key_type.value} public key must be {expected} bytes, got {len(self.raw)}"
            )
        if spec.kty == "EC" and self.raw[0] not in (2, 3):
            raise InvalidPublicKeyError(f"{self.key_type.value} public key must be a compressed SEC1 point")
        object.__setattr__(self, "_obj", _load(self.key_type, self.raw))

    # -- constructors -------------------------------------------------------------------------------------------

    @classmethod
    def from_cryptography(cls, key: PublicKeyObject) -> PublicKey:
        """Wrap a cryptography public key object."""
        if isinstance(key, ed25519.Ed25519PublicKey):
            return cls(KeyType.ED25519, key.public_bytes_raw())
        if isinstance(key, x25519.X25519PublicKey):
            return cls(KeyType.X25519, key.public_bytes_raw())
        if isinstance(key, ec.EllipticCurvePublicKey):
            for kt, spec in _SPECS.items():
                if spec.curve is not None and spec.curve.name == key.curve.name:
                    raw = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
                    # cryptography's EC key objects are valid points already: keep this one instead of decoding
                    # the compressed point again (Ed25519 keys always go through __post_init__'s small-order check)
                    wrapped = object.__new__(cls)
                    object.__setattr__(wrapped, "key_type", kt)
                    object.__setattr__(wrapped, "raw", raw)
                    object.__setattr__(wrapped, "_obj", key)
                    return wrapped
            raise UnsupportedPublicKeyTypeError(f"unsupported elliptic curve {key.curve.name}")
        raise UnsupportedPublicKeyTypeError(f"unsupported key class {type(key).__name__}")

    @classmethod
    def from_multicodec(cls, code: Multicodec | int, payload: bytes) -> PublicKey:
        """Build a key from a multicodec code and its payload."""
        known = require_known(code)
        if known in _UNSUPPORTED_CODECS:
            raise UnsupportedPublicKeyTypeError(f"{_UNSUPPORTED_CODECS[known]} keys are not supported")
        key_type = _BY_MULTICODEC.get(known)
        if key_type is None:
            raise UnsupportedPublicKeyTypeError(f"multicodec {known.name} is not a supported public key type")
        return cls(key_type, payload)

    @classmethod
    def from_multikey(cls, public_key_multibase: str) -> PublicKey:
        """Decode a Multikey ``publicKeyMultibase`` value."""
        code, payload = decode_multicodec(public_key_multibase)
        return cls.from_multicodec(code, payload)

    @classmethod
    def from_jwk(cls, jwk: Any) -> PublicKey:
        """Build a key from a public JWK (RFC 7517/8037); private members are refused."""
        if not isinstance(jwk, dict):
            raise InvalidJwkError("JWK must be a JSON object")
        if "d" in jwk:
            raise InvalidJwkError("JWK contains private key material where a public key was expected")
        kty, crv = jwk.get("kty"), jwk.get("crv")
        if kty == "RSA":
            raise UnsupportedPublicKeyTypeError("RSA keys are not supported")
        if not isinstance(crv, str) or crv not in _BY_CRV:
            raise UnsupportedPublicKeyTypeError(f"unsupported JWK curve {crv!r}")
        key_type = _BY_CRV[crv]
        spec = key_type.spec
        if kty != spec.kty:
            raise InvalidJwkError(f"JWK kty {kty!r} does not match curve {crv}")
        x = _jwk_coordinate(jwk, "x", spec.size)
        if spec.kty == "OKP":
            if "y" in jwk:
                raise InvalidJwkError("OKP JWK must not have a 'y' member")
            return cls(key_type, x)
        y = _jwk_coordinate(jwk, "y", spec.size)
        assert spec.curve is not None
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(spec.curve, b"\x04" + x + y)
        except ValueError as exc:
            raise InvalidPublicKeyError(f"JWK coordinates are not a point on {crv}") from exc
        return cls.from_cryptography(point)

    # -- conversions --------------------------------------------------------------------------------------------

    @property
    def public_key(self) -> PublicKeyObject:
        """The cryptography public key object."""
        return self._obj

    @property
    def algorithm(self) -> str:
        """The JOSE algorithm this key signs with (raises for X25519)."""
        return self.key_type.algorithm

    def to_multikey(self) -> str:
        """Encode as a Multikey ``publicKeyMultibase`` value (base58btc, multicodec prefix)."""
        return encode_multicodec(self.key_type.spec.multicodec, self.raw)

    def to_jwk(self) -> dict[str, str]:
        """Encode as a public JWK with only the required members."""
        spec = self.key_type.spec
        if spec.kty == "OKP":
            return {"kty": "OKP", "crv": spec.crv, "x": b64url_encode(self.raw)}
        assert isinstance(self._obj, ec.EllipticCurvePublicKey)
        numbers = self._obj.public_numbers()
        return {
            "kty": "EC",
            "crv": spec.crv,
            "x": b64url_encode(numbers.x.to_bytes(spec.size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(spec.size, "big")),
        }

    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 JWK thumbprint, base64url."""
        return jwk_thumbprint(self.to_jwk())

    def to_x25519(self) -> PublicKey:
        """Map an Ed25519 key to its X25519 key-agreement twin (RFC 7748 birational map)."""
        if self.key_type is not KeyType.ED25519:
            raise UnsupportedPublicKeyTypeError("only Ed25519 keys map to X25519")
        y = int.from_bytes(self.raw, "little") & ((1 << 255) - 1)  # validated on construction
        denominator = (1 - y) % _P
        if denominator == 0:
            raise InvalidPublicKeyError("Ed25519 identity point has no X25519 equivalent")
        u = (1 + y) * pow(denominator, -1, _P) % _P
        return PublicKey(KeyType.X25519, u.to_bytes(32, "little"))

    # -- verification -------------------------------------------------------------------------------------------

    def verify(self, signature: bytes, data: bytes, algorithm: str | None = None) -> None:
        """Verify a JOSE-form signature (raw r||s for ECDSA) over data; raise InvalidSignatureError on failure.

        ``algorithm``, when given, must be one of this key type's JOSE names (``KeyType.algorithms``: RFC 9864's
        fully-specified ``Ed25519`` as well as ``EdDSA`` for Ed25519 keys), else UnsupportedAlgorithmError.
        """
        alg = self.algorithm
        if algorithm is not None and algorithm not in self.key_type.algorithms:
            raise UnsupportedAlgorithmError(f"algorithm {algorithm!r} does not match {self.key_type.value} key")
        spec = self.key_type.spec
        try:
            if isinstance(self._obj, ed25519.Ed25519PublicKey):
                self._obj.verify(signature, data)
                return
            assert isinstance(self._obj, ec.EllipticCurvePublicKey)
            assert spec.hash is not None
            if len(signature) != 2 * spec.size:
                raise InvalidSignatureError(f"{alg} signature must be {2 * spec.size} bytes, got {len(signature)}")
            r = int.from_bytes(signature[: spec.size], "big")
            s = int.from_bytes(signature[spec.size :], "big")
            self._obj.verify(encode_dss_signature(r, s), data, ec.ECDSA(spec.hash))
        except InvalidSignature as exc:
            raise InvalidSignatureError(f"{alg} signature does not verify") from exc


def _jwk_coordinate(jwk: dict[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidJwkError(f"JWK member {name!r} is missing or not a string")
    try:
        raw = b64url_decode(value)
    except ValueError as exc:
        raise InvalidJwkError(f"JWK member {name!r} is not unpadded base64url") from exc
    if len(raw) != size:
        raise InvalidPublicKeyLengthError(f"JWK member {name!r} must be {size} bytes, got {len(raw)}")
    return raw


_THUMBPRINT_MEMBERS: Final = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a JWK (OKP, EC or RSA), base64url."""
    if not isinstance(jwk, dict):
        raise InvalidJwkError("a JWK must be a JSON object")
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise InvalidJwkError(f"cannot compute a thumbprint for kty {kty!r}")
    subset = {}
    for name in members:
        if not isinstance(jwk.get(name), str):
            raise InvalidJwkError(f"JWK member {name!r} is missing or not a string")
        subset[name] = jwk[name]
    canonical = json.dumps(subset, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    try:
        encoded = canonical.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON text can carry but UTF-8 cannot
        raise InvalidJwkError("a JWK member is not valid Unicode text") from None
    return b64url_encode(hashlib.sha256(encoded).digest())
