from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

from jpki_bridge import profile
from jpki_bridge.revocation import CertificateRevokedError, CrlProvider, UncheckedProvider
from jpki_bridge.testca import CardIdentity, Person, RootGeneration, TestCA, root_name
from jpki_bridge.trust import (
    PINNED_JLIS_ROOTS,
    CardSignatureError,
    CertificateExpiredError,
    CertificateNotYetValidError,
    ChainValidationError,
    RootExpiredError,
    RootKeyMismatchError,
    TrustAnchorError,
    TrustAnchors,
    TrustError,
    UnpinnedAnchorError,
    UntrustedRootError,
    WrongKeyUsageError,
    WrongPolicyError,
    digest_info_sha256,
    fingerprint,
    validate_chain,
    verify_card_signature,
)

UNCHECKED = UncheckedProvider()
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def anchors(test_ca: TestCA) -> TrustAnchors:
    return test_ca.trust_anchors()


@pytest.fixture(scope="module")
def forged_root() -> RootGeneration:
    """A self-signed root with exactly the TEST sign tree's DN, but its own key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = root_name("sign")
    start = now() - dt.timedelta(days=30)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return RootGeneration("sign", "forged", key, cert)


def leaf(
    root: RootGeneration,
    *,
    usage: tuple[bool, bool] = (True, True),
    policies: tuple[str, ...] = (profile.SIGN_POLICY_OID,),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    aki_key: rsa.RSAPublicKey | None = None,
    unknown_critical: bool = False,
) -> x509.Certificate:
    start = not_before or now() - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST crafted leaf")]))
        .issuer_name(root.cert.subject)
        .public_key(LEAF_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or start + dt.timedelta(days=365))
        .add_extension(
            x509.KeyUsage(usage[0], usage[1], False, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_key or root.key.public_key()), critical=False
        )
    )
    if policies:
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]),
            critical=True,
        )
    if unknown_critical:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), critical=True
        )
    return builder.sign(root.key, hashes.SHA256())


# -- the good paths --------------------------------------------------------------------------------------------------


def test_valid_sign_and_auth_chains_unchecked(identity: CardIdentity, anchors: TrustAnchors, test_ca: TestCA) -> None:
    at = now()
    result = validate_chain(identity.sign_cert, anchors, at, "sign", UNCHECKED)
    assert result.root.label == "TEST-signca03"
    assert result.root.certificate == test_ca.root("sign", "03").cert
    assert result.root.fingerprint == fingerprint(test_ca.root("sign", "03").cert)
    assert result.policies == frozenset({profile.SIGN_POLICY_OID})
    assert result.revocation_checked is False
    assert result.revocation.mode == "unchecked"
    assert result.revocation.status == "not_checked"
    assert "chain verified" in result.summary
    assert result.summary.endswith("revocation not checked")
    auth = validate_chain(identity.auth_cert.public_bytes(serialization.Encoding.DER), anchors, at, "auth", UNCHECKED)
    assert auth.root.label == "TEST-authca03"


def test_every_live_generation_is_trusted(test_ca: TestCA, anchors: TrustAnchors, person: Person) -> None:
    card = test_ca.issue(person, generation="02")
    result = validate_chain(card.sign_cert, anchors, now(), "sign", UNCHECKED)
    assert result.root.label == "TEST-signca02"


def test_point_in_time_under_the_expired_generation(test_ca: TestCA, anchors: TrustAnchors, person: Person) -> None:
    old_root = test_ca.root("sign", "01")
    issued = old_root.cert.not_valid_before_utc + dt.timedelta(days=400)
    card = test_ca.issue(person, issued)
    assert card.sign_ca == old_root.cert
    result = validate_chain(card.sign_cert, anchors, issued + dt.timedelta(days=1), "sign", UNCHECKED)
    assert result.root.label == "TEST-signca01"
    with pytest.raises(CertificateExpiredError):
        validate_chain(card.sign_cert, anchors, now(), "sign", UNCHECKED)


def test_validation_inside_a_running_event_loop(identity: CardIdentity, anchors: TrustAnchors) -> None:
    async def inside() -> str:
        return validate_chain(identity.sign_cert, anchors, now(), "sign", UNCHECKED).root.label

    assert asyncio.run(inside()) == "TEST-signca03"


# -- each failure with its own error ---------------------------------------------------------------------------------


def test_expired(identity: CardIdentity, anchors: TrustAnchors) -> None:
    after = identity.sign_cert.not_valid_after_utc + dt.timedelta(minutes=1)
    with pytest.raises(CertificateExpiredError) as caught:
        validate_chain(identity.sign_cert, anchors, after, "sign", UNCHECKED)
    assert type(caught.value) is CertificateExpiredError
    assert caught.value.code == "certificateExpired"


def test_not_yet_valid(identity: CardIdentity, anchors: TrustAnchors) -> None:
    before = identity.sign_cert.not_valid_before_utc - dt.timedelta(minutes=1)
    with pytest.raises(CertificateNotYetValidError) as caught:
        validate_chain(identity.sign_cert, anchors, before, "sign", UNCHECKED)
    assert caught.value.code == "certificateNotYetValid"


def test_root_expired(test_ca: TestCA, anchors: TrustAnchors) -> None:
    old = test_ca.root("sign", "01")
    expiry = old.cert.not_valid_after_utc
    cert = leaf(old, not_before=expiry - dt.timedelta(days=10), not_after=expiry + dt.timedelta(days=400))
    validate_chain(cert, anchors, expiry - dt.timedelta(days=1), "sign", UNCHECKED)
    with pytest.raises(RootExpiredError) as caught:
        validate_chain(cert, anchors, expiry + dt.timedelta(days=1), "sign", UNCHECKED)
    assert caught.value.code == "rootExpired"


def test_untrusted_root(anchors: TrustAnchors) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Some other TEST CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now() - dt.timedelta(days=1))
        .not_valid_after(now() + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    other = RootGeneration("sign", "other", key, cert)
    with pytest.raises(UntrustedRootError) as caught:
        validate_chain(leaf(other), anchors, now(), "sign", UNCHECKED)
    assert caught.value.code == "untrustedRoot"
    with pytest.raises(UntrustedRootError):  # a root certificate is not a card certificate
        validate_chain(cert, anchors, now(), "sign", UNCHECKED)


def test_root_matched_by_name_but_not_by_key(forged_root: RootGeneration, anchors: TrustAnchors) -> None:
    with pytest.raises(RootKeyMismatchError) as caught:
        validate_chain(leaf(forged_root), anchors, now(), "sign", UNCHECKED)
    assert caught.value.code == "rootKeyMismatch"


def test_forged_root_copying_the_genuine_key_identifier(
    forged_root: RootGeneration, anchors: TrustAnchors, test_ca: TestCA
) -> None:
    genuine = test_ca.root("sign", "03").key.public_key()
    with pytest.raises(RootKeyMismatchError):
        validate_chain(leaf(forged_root, aki_key=genuine), anchors, now(), "sign", UNCHECKED)


def test_tampered_certificate(identity: CardIdentity, anchors: TrustAnchors) -> None:
    der = bytearray(identity.sign_cert.public_bytes(serialization.Encoding.DER))
    der[-10] ^= 0x01  # inside the signature value
    with pytest.raises(RootKeyMismatchError):
        validate_chain(bytes(der), anchors, now(), "sign", UNCHECKED)


def test_wrong_key_usage(test_ca: TestCA, anchors: TrustAnchors, identity: CardIdentity) -> None:
    no_non_repudiation = leaf(test_ca.root("sign", "03"), usage=(True, False))
    with pytest.raises(WrongKeyUsageError) as caught:
        validate_chain(no_non_repudiation, anchors, now(), "sign", UNCHECKED)
    assert caught.value.code == "wrongKeyUsage"
    with pytest.raises(WrongKeyUsageError, match="user authentication tree"):
        validate_chain(identity.auth_cert, anchors, now(), "sign", UNCHECKED)
    with pytest.raises(WrongKeyUsageError, match="signature tree"):
        validate_chain(identity.sign_cert, anchors, now(), "auth", UNCHECKED)


@pytest.mark.parametrize("policies", [(profile.AUTH_POLICY_OID,), (), ("1.2.3.4",)])
def test_wrong_policy(test_ca: TestCA, anchors: TrustAnchors, policies: tuple[str, ...]) -> None:
    with pytest.raises(WrongPolicyError) as caught:
        validate_chain(leaf(test_ca.root("sign", "03"), policies=policies), anchors, now(), "sign", UNCHECKED)
    assert caught.value.code == "wrongPolicy"


def test_acceptable_policies_are_configurable(test_ca: TestCA) -> None:
    cert = leaf(test_ca.root("sign", "03"), policies=("1.2.392.200149.8.5.1.1.40",))
    strict = test_ca.trust_anchors()
    with pytest.raises(WrongPolicyError):
        validate_chain(cert, strict, now(), "sign", UNCHECKED)
    wider = TrustAnchors(
        [*strict.anchors("sign"), *strict.anchors("auth")],
        sign_policies=(profile.SIGN_POLICY_OID, "1.2.392.200149.8.5.1.1.40"),
    )
    assert validate_chain(cert, wider, now(), "sign", UNCHECKED).policies == {"1.2.392.200149.8.5.1.1.40"}


def test_unknown_critical_extension(test_ca: TestCA, anchors: TrustAnchors) -> None:
    with pytest.raises(ChainValidationError, match="critical"):
        validate_chain(leaf(test_ca.root("sign", "03"), unknown_critical=True), anchors, now(), "sign", UNCHECKED)


def test_all_trust_errors_have_distinct_codes() -> None:
    classes = [
        CertificateExpiredError,
        RootExpiredError,
        CertificateNotYetValidError,
        UntrustedRootError,
        RootKeyMismatchError,
        WrongKeyUsageError,
        WrongPolicyError,
        ChainValidationError,
        TrustAnchorError,
        UnpinnedAnchorError,
        CardSignatureError,
    ]
    assert all(issubclass(c, TrustError) for c in classes)
    assert len({c.code for c in classes}) == len(classes)


def test_bad_arguments(identity: CardIdentity, anchors: TrustAnchors) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_chain(identity.sign_cert, anchors, dt.datetime(2026, 1, 1), "sign", UNCHECKED)
    with pytest.raises(ValueError, match="purpose"):
        validate_chain(identity.sign_cert, anchors, now(), "login", UNCHECKED)  # type: ignore[arg-type]
    with pytest.raises(profile.CertificateParseError):
        validate_chain(b"not a certificate", anchors, now(), "sign", UNCHECKED)


def test_revocation_provider_runs_after_the_chain(test_ca: TestCA, anchors: TrustAnchors, tmp_path: Path) -> None:
    person = Person.from_toml(Path(__file__).parent / "persons" / "unknown_dob.toml")
    card = test_ca.issue(person)
    at = now()
    crl_path = tmp_path / "sign.crl"
    crl_path.write_bytes(test_ca.crl("sign", at).public_bytes(serialization.Encoding.DER))
    result = validate_chain(card.sign_cert, anchors, at, "sign", CrlProvider([crl_path]))
    assert result.revocation_checked
    assert result.revocation.mode == "crl"
    assert "not revoked" in result.summary
    test_ca.revoke(card.sign_cert, x509.ReasonFlags.key_compromise, at)
    crl_path.write_bytes(test_ca.crl("sign", at + dt.timedelta(seconds=1)).public_bytes(serialization.Encoding.DER))
    with pytest.raises(CertificateRevokedError) as caught:
        validate_chain(card.sign_cert, anchors, at + dt.timedelta(seconds=2), "sign", CrlProvider([crl_path]))
    assert caught.value.reason is x509.ReasonFlags.key_compromise


# -- production anchors ----------------------------------------------------------------------------------------------


def test_pinned_fingerprints_match_the_reference() -> None:
    pins = {pin.label: pin.fingerprint for pin in PINNED_JLIS_ROOTS}
    assert pins == {
        "signca01": "19645405A1FE14377434BD55957628AC4038557C542403A2243F21C706FC9355",
        "signca02": "79679C33E4CC9319440F1AD120A597FF1844E2EF217063ADB176966FD5E6FBEB",
        "signca03": "D227F6CDE11D35C5252178F106F843D24651944975413B539FA2FB68DBFA365F",
        "authca01": "4DCFC4CA0AAF9FB2A3081B3F0C991C320B3ACC008667A341EEAEC5AF1D58CA7D",
        "authca03": "64114F29620C24ED2631D46476A040E7EE740D956089C00B036A6A8118C322B5",
    }


def test_production_loader_refuses_unpinned_roots(test_ca: TestCA, tmp_path: Path) -> None:
    path = tmp_path / "signca03.cer"
    path.write_bytes(test_ca.root("sign", "03").cert.public_bytes(serialization.Encoding.DER))
    with pytest.raises(UnpinnedAnchorError) as caught:
        TrustAnchors.from_jlis_files([path])
    assert fingerprint(test_ca.root("sign", "03").cert) in caught.value.message


def test_production_loader_with_extra_pins(test_ca: TestCA, tmp_path: Path, identity: CardIdentity) -> None:
    sign, auth = test_ca.root("sign", "03").cert, test_ca.root("auth", "03").cert
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(sign.public_bytes(serialization.Encoding.PEM) + auth.public_bytes(serialization.Encoding.PEM))
    colon_form = ":".join(fingerprint(sign)[i : i + 2] for i in range(0, 64, 2)).lower()
    anchors = TrustAnchors.from_jlis_files(
        [bundle], extra_pins={colon_form: ("sign", "testsign03"), fingerprint(auth): ("auth", "testauth03")}
    )
    assert [a.label for a in anchors.anchors("sign")] == ["testsign03"]
    assert validate_chain(identity.sign_cert, anchors, now(), "sign", UNCHECKED).root.label == "testsign03"
    assert validate_chain(identity.auth_cert, anchors, now(), "auth", UNCHECKED).root.label == "testauth03"


def test_production_loader_bad_inputs(tmp_path: Path, identity: CardIdentity) -> None:
    garbage = tmp_path / "garbage.cer"
    garbage.write_bytes(b"not a certificate")
    with pytest.raises(TrustAnchorError, match="not a DER or PEM"):
        TrustAnchors.from_jlis_files([garbage])
    with pytest.raises(TrustAnchorError, match="cannot read"):
        TrustAnchors.from_jlis_files([tmp_path / "absent.cer"])
    with pytest.raises(TrustAnchorError, match="no J-LIS root"):
        TrustAnchors.from_jlis_files([])
    with pytest.raises(ValueError, match="not a SHA-256"):
        TrustAnchors.from_jlis_files([], extra_pins={"abc": ("sign", "x")})
    leaf_file = tmp_path / "leaf.cer"
    leaf_file.write_bytes(identity.sign_cert.public_bytes(serialization.Encoding.DER))
    with pytest.raises(TrustAnchorError, match="CA:TRUE"):
        TrustAnchors.from_jlis_files([leaf_file], extra_pins={fingerprint(identity.sign_cert): ("sign", "leaf")})
    version_seven = tmp_path / "v7.cer"
    version_seven.write_bytes(
        identity.sign_ca.public_bytes(serialization.Encoding.DER).replace(
            b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x07", 1
        )
    )
    with pytest.raises(TrustAnchorError, match="not a DER or PEM"):
        TrustAnchors.from_jlis_files([version_seven])
    # A pinned root whose name cannot be decoded (countryName typed BIT STRING): an TrustAnchorError, not a TypeError.
    root_der = identity.sign_ca.public_bytes(serialization.Encoding.DER)
    broken = root_der.replace(b"\x06\x03U\x04\x06\x13\x02JP", b"\x06\x03U\x04\x06\x03\x02JP")
    assert broken != root_der
    broken_file = tmp_path / "broken.cer"
    broken_file.write_bytes(broken)
    pin = fingerprint(x509.load_der_x509_certificate(broken))
    with pytest.raises(TrustAnchorError, match="broken: the certificate's names or extensions are not valid DER"):
        TrustAnchors.from_jlis_files([broken_file], extra_pins={pin: ("sign", "broken")})


# -- card signatures -------------------------------------------------------------------------------------------------


def test_verify_card_signature(identity: CardIdentity) -> None:
    data = b"xid-enroll-v1" + b"\x00" * 32
    # The card signs a host-built DigestInfo with PKCS#1 v1.5 type-1 padding: the same bytes as RSASSA-PKCS1-v1_5.
    digest_info = digest_info_sha256(data)
    assert len(digest_info) == 51
    signature = identity.sign_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    prehashed = identity.sign_key.sign(digest_info[19:], padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert signature == prehashed
    verify_card_signature(identity.sign_cert, data, signature)
    verify_card_signature(identity.sign_cert.public_bytes(serialization.Encoding.DER), data, signature)


@pytest.mark.parametrize("tamper", ["data", "signature", "wrong_cert", "short"])
def test_verify_card_signature_rejects(identity: CardIdentity, tamper: str) -> None:
    data = b"transaction data"
    signature = identity.sign_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    cert = identity.sign_cert
    if tamper == "data":
        data = b"transaction datA"
    elif tamper == "signature":
        signature = signature[:-1] + bytes([signature[-1] ^ 1])
    elif tamper == "wrong_cert":
        cert = identity.auth_cert
    else:
        signature = signature[:100]
    with pytest.raises(CardSignatureError) as caught:
        verify_card_signature(cert, data, signature)
    assert caught.value.code == "cardSignatureInvalid"


def test_verify_card_signature_needs_rsa() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST EC")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(LEAF_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now())
        .not_valid_after(now() + dt.timedelta(days=1))
        .sign(LEAF_KEY, hashes.SHA256())
    )
    with pytest.raises(CardSignatureError, match="not RSA"):
        verify_card_signature(cert, b"x", b"y")
