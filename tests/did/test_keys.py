"""Keys: JWK <-> Multikey <-> cryptography conversions, thumbprints, signing and fail-closed verification."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import example, given
from hypothesis import strategies as st

from did import (
    InvalidJwkError,
    InvalidMultibaseError,
    InvalidPublicKeyError,
    InvalidPublicKeyLengthError,
    InvalidSignatureError,
    KeyType,
    PublicKey,
    SignerError,
    SoftwareSigner,
    UnsupportedAlgorithmError,
    UnsupportedPublicKeyTypeError,
    jwk_thumbprint,
)
from did.multibase import (
    Multicodec,
    decode_multicodec,
    encode_base58btc,
    encode_multicodec,
    varint_decode,
    varint_encode,
)
from foundation.b64 import b64url_decode, b64url_encode

SIGNING_TYPES = [KeyType.ED25519, KeyType.P256, KeyType.P384, KeyType.P521, KeyType.SECP256K1]


@pytest.mark.parametrize("key_type", SIGNING_TYPES)
def test_sign_verify_and_conversions_round_trip(key_type: KeyType) -> None:
    signer = SoftwareSigner.generate(key_type)
    key = signer.public_key
    data = b"xid-enroll-v1 nonce"
    sig = signer.sign(data)
    key.verify(sig, data)
    key.verify(sig, data, key_type.algorithm)
    assert signer.algorithm == key_type.algorithm
    assert PublicKey.from_jwk(key.to_jwk()) == key
    assert PublicKey.from_multikey(key.to_multikey()) == key
    assert PublicKey.from_cryptography(key.public_key) == key
    assert signer.key_id == key.thumbprint()
    restored = SoftwareSigner.from_private_jwk(signer.to_private_jwk())
    assert restored.public_key == key
    assert isinstance(signer, SoftwareSigner)


@pytest.mark.parametrize("key_type", SIGNING_TYPES)
def test_verification_fails_closed(key_type: KeyType) -> None:
    signer = SoftwareSigner.generate(key_type)
    data = b"document hash"
    sig = signer.sign(data)
    flipped = bytes([sig[0] ^ 0x01]) + sig[1:]
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(flipped, data)
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(sig, b"Document hash")
    with pytest.raises(InvalidSignatureError):
        SoftwareSigner.generate(key_type).public_key.verify(sig, data)
    with pytest.raises(InvalidSignatureError):
        signer.public_key.verify(sig[:-1], data)
    with pytest.raises(UnsupportedAlgorithmError):
        signer.public_key.verify(sig, data, "HS256")
    with pytest.raises(UnsupportedAlgorithmError):
        signer.public_key.verify(sig, data, "none")


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 §3.1 example key and its thumbprint; the RFC 8037 Ed25519 example (§A.3) too.
    rsa = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV"
        "4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgd"
        "AZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
        "kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(rsa) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    ed = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(ed) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rfc8037_ed25519_signature_example() -> None:
    # RFC 8037 §A.4: JWS signing input and signature with the §A.1 key.
    signer = SoftwareSigner.from_private_jwk(
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        }
    )
    signing_input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    expected = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    assert b64url_encode(signer.sign(signing_input)) == expected


def test_ed25519_point_not_on_curve() -> None:
    # y = 2 has no x on the curve (x^2 is a non-residue).
    with pytest.raises(InvalidPublicKeyError, match="not a point on the curve"):
        PublicKey(KeyType.ED25519, (2).to_bytes(32, "little"))
    with pytest.raises(InvalidPublicKeyError, match="canonical"):
        PublicKey(KeyType.ED25519, b"\xff" * 31 + b"\x7f")


def small_order_ed25519_encodings() -> list[bytes]:
    """The 8 points P with 8·P = identity, derived here from the curve equation (RFC 8032 §5.1), not from did.keys.

    -x² + y² = 1 + d·x²·y². Order 1: y = 1; order 2: y = -1 (x = 0); order 4: y = 0 (x² = -1); order 8: y(2P) = 0,
    i.e. x² = -y², which gives d·y⁴ + 2·y² - 1 = 0, so y² = (-1 ± sqrt(1 + d)) / d.
    """
    p = 2**255 - 19
    d = -121665 * pow(121666, -1, p) % p

    def sqrt(a: int) -> int | None:  # p = 5 (mod 8)
        x = pow(a, (p + 3) // 8, p)
        if x * x % p != a % p:
            x = x * pow(2, (p - 1) // 4, p) % p
        return x if x * x % p == a % p else None

    root = sqrt(1 + d)
    assert root is not None
    order8 = [y for sign in (1, -1) if (y := sqrt((-1 + sign * root) * pow(d, -1, p) % p)) is not None]
    ys = [(1, False), (p - 1, False), (0, True)] + [(y, True) for y in order8] + [(p - y, True) for y in order8]
    encodings = []
    for y, x_nonzero in ys:
        encodings.append(y.to_bytes(32, "little"))
        if x_nonzero:  # the point with the other x: the sign bit set
            encodings.append((y | 1 << 255).to_bytes(32, "little"))
    return encodings


def test_ed25519_small_order_keys_are_refused() -> None:
    """Under a small-order key, R = identity and S = 0 would verify for any message; such keys never load."""
    encodings = small_order_ed25519_encodings()
    assert len(set(encodings)) == 8
    for raw in encodings:
        with pytest.raises(InvalidPublicKeyError, match="small order"):
            PublicKey(KeyType.ED25519, raw)
        with pytest.raises(InvalidPublicKeyError, match="small order"):
            PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)})
    for _ in range(50):
        key = SoftwareSigner.generate(KeyType.ED25519).public_key
        assert PublicKey(KeyType.ED25519, key.raw) == key
        with pytest.raises(InvalidSignatureError):
            key.verify(encodings[0] + bytes(32), b"any message")


def test_ec_point_not_on_curve() -> None:
    signer = SoftwareSigner.generate(KeyType.P256)
    jwk = signer.public_jwk
    bad_y = bytearray(b64url_decode(jwk["y"]))
    bad_y[-1] ^= 1
    with pytest.raises(InvalidPublicKeyError, match="not a point"):
        PublicKey.from_jwk({**jwk, "y": b64url_encode(bytes(bad_y))})
    # A compressed x with no matching y on the curve: try x values until one is off the curve.
    for x in range(2, 50):
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x02" + x.to_bytes(32, "big"))
        except ValueError:
            with pytest.raises(InvalidPublicKeyError):
                PublicKey(KeyType.P256, b"\x02" + x.to_bytes(32, "big"))
            return
    pytest.fail("no off-curve x found")


def test_multikey_errors() -> None:
    key = SoftwareSigner.generate(KeyType.ED25519).public_key
    good = key.to_multikey()
    with pytest.raises(InvalidMultibaseError):
        PublicKey.from_multikey("z0OIl")  # not base58 characters
    with pytest.raises(InvalidMultibaseError, match="prefix"):
        PublicKey.from_multikey("m" + good[1:])
    with pytest.raises(InvalidPublicKeyLengthError):
        PublicKey.from_multikey(encode_multicodec(Multicodec.ED25519_PUB, key.raw[:-1]))
    with pytest.raises(UnsupportedPublicKeyTypeError, match="0x1234"):
        PublicKey.from_multikey(encode_multicodec(0x1234, key.raw))  # type: ignore[arg-type]
    with pytest.raises(UnsupportedPublicKeyTypeError, match="ED25519_PRIV"):
        PublicKey.from_multikey(encode_multicodec(Multicodec.ED25519_PRIV, key.raw))
    with pytest.raises(InvalidMultibaseError, match="truncated"):
        PublicKey.from_multikey(encode_base58btc(b"\x80"))
    with pytest.raises(InvalidPublicKeyError, match="compressed"):
        PublicKey.from_multikey(encode_multicodec(Multicodec.P256_PUB, b"\x04" + b"\x01" * 32))


def test_varint() -> None:
    for value in (0, 1, 0x7F, 0x80, 0xED, 0x1200, 0x1300, 2**40):
        assert varint_decode(varint_encode(value) + b"rest") == (value, len(varint_encode(value)))
    assert varint_encode(0x1300) == b"\x80\x26"
    with pytest.raises(InvalidMultibaseError, match="minimally"):
        varint_decode(b"\x81\x00")
    with pytest.raises(InvalidMultibaseError, match="truncated"):
        varint_decode(b"\x80")
    with pytest.raises(ValueError, match="non-negative"):
        varint_encode(-1)


def test_jwk_errors() -> None:
    signer = SoftwareSigner.generate(KeyType.P256)
    jwk = signer.public_jwk
    with pytest.raises(InvalidJwkError, match="private"):
        PublicKey.from_jwk(signer.to_private_jwk())
    with pytest.raises(InvalidJwkError, match="object"):
        PublicKey.from_jwk("not a jwk")
    with pytest.raises(UnsupportedPublicKeyTypeError):
        PublicKey.from_jwk({**jwk, "crv": "P-192"})
    with pytest.raises(UnsupportedPublicKeyTypeError, match="RSA"):
        PublicKey.from_jwk({"kty": "RSA", "n": "AQAB", "e": "AQAB"})
    with pytest.raises(InvalidJwkError, match="kty"):
        PublicKey.from_jwk({**jwk, "kty": "OKP"})
    with pytest.raises(InvalidJwkError, match="'y'"):
        PublicKey.from_jwk({k: v for k, v in jwk.items() if k != "y"})
    with pytest.raises(InvalidJwkError, match="base64url"):
        PublicKey.from_jwk({**jwk, "x": jwk["x"] + "="})
    with pytest.raises(InvalidPublicKeyLengthError):
        PublicKey.from_jwk({**jwk, "x": b64url_encode(b64url_decode(jwk["x"])[:-1])})
    okp = SoftwareSigner.generate(KeyType.ED25519).public_jwk
    with pytest.raises(InvalidJwkError, match="'y'"):
        PublicKey.from_jwk({**okp, "y": okp["x"]})
    with pytest.raises(InvalidJwkError, match="thumbprint"):
        jwk_thumbprint({"kty": "oct", "k": "c2VjcmV0"})


def test_private_jwk_must_match_public_part() -> None:
    a, b = SoftwareSigner.generate(KeyType.ED25519), SoftwareSigner.generate(KeyType.ED25519)
    mixed = {**a.to_private_jwk(), "x": b.public_jwk["x"]}
    with pytest.raises(InvalidJwkError, match="does not match"):
        SoftwareSigner.from_private_jwk(mixed)
    with pytest.raises(InvalidJwkError, match="'d'"):
        SoftwareSigner.from_private_jwk(a.public_jwk)


def test_x25519_cannot_sign() -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="key agreement"):
        SoftwareSigner.generate(KeyType.X25519)
    x = SoftwareSigner.generate(KeyType.ED25519).public_key.to_x25519()
    with pytest.raises(UnsupportedAlgorithmError):
        x.verify(b"\x00" * 64, b"data")


def test_key_file_round_trip_and_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.jwk"
    signer = SoftwareSigner.generate(KeyType.P256)
    signer.save(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert SoftwareSigner.load(path).public_key == signer.public_key
    with pytest.raises(SignerError, match="already exists"):
        signer.save(path)
    path.write_text("{not json")
    with pytest.raises(InvalidJwkError, match="not JSON"):
        SoftwareSigner.load(path)
    with pytest.raises(SignerError, match="cannot read"):
        SoftwareSigner.load(path.with_name("missing.jwk"))
    assert "d" not in signer.public_jwk
    assert signer.to_private_jwk()["d"] not in repr(signer)


def test_secret_multibase() -> None:
    # The W3C DI vectors store secrets as multibase with the private-key multicodec.
    signer = SoftwareSigner.generate(KeyType.P256)
    secret = b64url_decode(signer.to_private_jwk()["d"])
    value = encode_multicodec(Multicodec.P256_PRIV, secret)
    assert SoftwareSigner.from_secret_multibase(value).public_key == signer.public_key
    assert decode_multicodec(value)[0] is Multicodec.P256_PRIV
    with pytest.raises(InvalidPublicKeyLengthError):
        SoftwareSigner.from_secret_multibase(encode_multicodec(Multicodec.P256_PRIV, secret[1:]))


def test_key_type_parse() -> None:
    assert KeyType.parse("p256") is KeyType.P256
    assert KeyType.parse("Ed25519") is KeyType.ED25519
    assert KeyType.parse("SECP256K1") is KeyType.SECP256K1
    with pytest.raises(UnsupportedPublicKeyTypeError, match="rsa"):
        KeyType.parse("rsa")


@given(st.text(max_size=80))
@example("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")  # a valid key: the round-trip branch always runs
def test_multikey_parser_raises_only_did_errors(value: str) -> None:
    try:
        key = PublicKey.from_multikey(value)
    except (InvalidMultibaseError, InvalidPublicKeyError):
        return  # base58 or multicodec damage, or a bad key: both are DidErrors the resolver reports
    assert key.to_multikey() == value


@given(st.binary(max_size=80))
@example(bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))  # RFC 8032 §7.1 test 1
def test_multikey_parser_on_random_bytes(payload: bytes) -> None:
    try:
        key = PublicKey.from_multikey(encode_multicodec(Multicodec.ED25519_PUB, payload))
    except InvalidPublicKeyError:
        return
    assert (key.key_type, key.raw) == (KeyType.ED25519, payload)


@given(st.text(alphabet="ABCxyz019-_=+/", max_size=12))
@example("xyz0")
def test_b64url_decode_is_strict(value: str) -> None:
    try:
        raw = b64url_decode(value)
    except ValueError:
        return
    assert b64url_encode(raw) == value


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=11))
@example("AQ")
@example("AR")  # not canonical: the last character sets bits beyond the one encoded byte
def test_b64url_decode_accepts_exactly_the_canonical_encodings(value: str) -> None:
    try:
        raw = b64url_decode(value)
    except ValueError:
        assert len(value) % 4 == 1 or b64url_encode(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) != value
        return
    assert b64url_encode(raw) == value


@given(st.binary(max_size=64))
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data
