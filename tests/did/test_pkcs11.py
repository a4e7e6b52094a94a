"""PKCS#11 signer against a SoftHSM2 token: keys on the token, signatures verified independently by cryptography."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from pkcs11.util.ec import encode_named_curve_parameters

from did import InvalidSignatureError, KeyType, PublicKey, Signer, SignerError, SoftwareSigner
from did.errors import InvalidPublicKeyError
from did.pkcs11 import Pkcs11Signer, _unwrap_octet_string, generate_key
from tests.helpers import require_component

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN = "xid-test", "1234"
SIGNING_TYPES = [KeyType.ED25519, KeyType.P256, KeyType.P384, KeyType.SECP256K1]

pytestmark = pytest.mark.softhsm


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SoftHSM2 token for this module (the PKCS#11 library reads its config once per process)."""
    require_component(shutil.which("softhsm2-util") is not None and Path(MODULE).exists(), "SoftHSM2 (apt softhsm2)")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", "0000", "--pin", PIN],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        yield TOKEN


@pytest.fixture(scope="module")
def generated(token: str) -> None:
    """Generate one key of each type on the token."""
    with pkcs11.lib(MODULE).get_token(token_label=token).open(rw=True, user_pin=PIN) as session:
        for key_type in SIGNING_TYPES:
            generate_key(session, key_type, f"key-{key_type.name.lower()}")
        with pytest.raises(SignerError, match="already exists"):
            generate_key(session, KeyType.P256, "key-p256")
        for _ in range(2):  # two key pairs under one label, made behind the signer's back
            params = session.create_domain_parameters(
                pkcs11.KeyType.EC, {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
            )
            params.generate_keypair(store=True, label="twin")
        assert isinstance(Pkcs11Signer(session, "key-p256"), Signer)


@pytest.mark.parametrize("key_type", SIGNING_TYPES)
def test_sign_on_token_verify_with_cryptography(generated: None, key_type: KeyType) -> None:
    with Pkcs11Signer.open(MODULE, TOKEN, PIN, f"key-{key_type.name.lower()}") as signer:
        assert isinstance(signer, Signer)
        assert signer.algorithm == key_type.algorithm
        key = PublicKey.from_jwk(signer.public_jwk)
        assert key.key_type is key_type
        assert signer.key_id == key.thumbprint()
        data = b"xid-enroll-v1 nonce thumbprint"
        signature = signer.sign(data)
        assert len(signature) == (64 if key_type is KeyType.ED25519 else 2 * key_type.spec.size)
        key.verify(signature, data, key_type.algorithm)
        with pytest.raises(InvalidSignatureError):
            key.verify(signature, data[:-1] + bytes([data[-1] ^ 1]))
        with pytest.raises(InvalidSignatureError):
            SoftwareSigner.generate(key_type).public_key.verify(signature, data)
        assert PIN not in repr(signer)


def test_wrong_pin_is_refused_without_echoing_it(generated: None) -> None:
    with pytest.raises(SignerError, match=r"PIN .* not accepted") as info:
        Pkcs11Signer.open(MODULE, TOKEN, "987654", "key-p256")
    assert "987654" not in str(info.value)


def test_missing_and_ambiguous_keys_and_tokens(generated: None) -> None:
    with pytest.raises(SignerError, match="no key pair labelled 'absent'"):
        Pkcs11Signer.open(MODULE, TOKEN, PIN, "absent")
    with pytest.raises(SignerError, match="several keys"):
        Pkcs11Signer.open(MODULE, TOKEN, PIN, "twin")
    with pytest.raises(SignerError, match="no PKCS#11 token labelled 'nope'"):
        Pkcs11Signer.open(MODULE, "nope", PIN, "key-p256")
    with pytest.raises(SignerError, match="cannot load PKCS#11 module"):
        Pkcs11Signer.open("/nonexistent/libpkcs11.so", TOKEN, PIN, "key-p256")


def test_public_key_decoding_errors() -> None:
    assert _unwrap_octet_string(bytes.fromhex("0403010203")) == b"\x01\x02\x03"
    assert _unwrap_octet_string(b"\x04\x81\x01\xff") == b"\xff"
    for bad in [b"", b"\x03\x01\x00", b"\x04\x05\x00", b"\x04\x80", b"\x04\x83\x00\x00\x01\x00"]:
        with pytest.raises(InvalidPublicKeyError):
            _unwrap_octet_string(bad)
