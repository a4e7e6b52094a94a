"""The xid CA's core on SQLite and PostgreSQL: root, certificate profile, CSR checks, revocation, CRL and OCSP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from sqlalchemy import Engine, func, select

from did import did_jwk
from did.keys import KeyType, PublicKey
from did.signer import SoftwareSigner
from foundation.db import is_unique_violation, open_engine, transaction
from issuer import ca as ca_module
from issuer.ca import (
    CA_SECTOR,
    DOCUMENT_SIGNING,
    CaError,
    CaKeyError,
    CertificateRevokedError,
    CsrError,
    CsrKeyMismatchError,
    RevocationReasonError,
    UnknownCertificateError,
    XidCA,
    ca_certificates,
    ca_roots,
    certificates_of,
    merge_person,
    revoke,
    revoke_from_card,
)
from issuer.context import IssuerContext, IssuerSettings
from issuer.contracts import AuthorizedHolder

T = TypeVar("T")
HolderKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
CARD = "ab" * 32


def pairwise(person_id: str, sector: str) -> str:
    """A fake pairwise derivation (the enrollment part provides the real, keyed one)."""
    return "pw-" + hashlib.sha256(f"{sector}|{person_id}".encode()).hexdigest()[:32]


def make_csr(key: HolderKey | rsa.RSAPrivateKey, *, subject: str = "Yamada Taro") -> bytes:
    """A DER PKCS#10 request signed by key (asking for a subject and extensions the CA must ignore)."""
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


def holder_for(key: HolderKey, grant: str = "grant-1", person: str = "person-1", card: str = CARD) -> AuthorizedHolder:
    """An enrollment's grant whose holder key is key."""
    jwk = PublicKey.from_cryptography(key.public_key()).to_jwk()
    return AuthorizedHolder(
        grant_id=grant, person_id=person, evidence_id="ev-1", holder_jwk=jwk, certificate_fingerprint=card
    )


def flip_bit_in(der: bytes, needle: bytes) -> bytes:
    """der with one bit flipped inside the first occurrence of needle (so the DER still parses)."""
    at = der.index(needle)
    return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]


def verify_signed_by(root: x509.Certificate, signature: bytes, data: bytes, hash_algorithm: Any) -> None:
    """Verify an X.509 signature (ECDSA DER or Ed25519) with the root's key."""
    key = root.public_key()
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, data, ec.ECDSA(hash_algorithm))


def ocsp_request(
    cert: x509.Certificate, root: x509.Certificate, *, algorithm: Any = None, nonce: bytes | None = None
) -> bytes:
    builder = x509_ocsp.OCSPRequestBuilder().add_certificate(cert, root, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.fixture
def holder_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def ca(issuer_context: IssuerContext) -> XidCA:
    return XidCA(issuer_context, pairwise=pairwise)


def count(engine: Engine, table: Any = ca_certificates) -> int:
    with transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def load(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


# -- root ---------------------------------------------------------------------------------------------------------


def test_root_is_a_self_signed_ca_created_once(ca: XidCA, issuer_context: IssuerContext) -> None:
    root = load(ca.root().der)
    assert root.subject.rfc4514_string() == "CN=xid TEST Root CA,O=xid"
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(root.public_key()).digest
    assert root.not_valid_after_utc - root.not_valid_before_utc >= dt.timedelta(days=3650)
    assert root.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert PublicKey.from_cryptography(root.public_key()) == PublicKey.from_jwk(  # type: ignore[arg-type]
        issuer_context.ca_signer.public_jwk
    )
    # another CA object on the same key and database (another process) gets the same stored root
    again = XidCA(issuer_context, pairwise=pairwise).root()
    assert again.der == ca.root().der
    assert count(issuer_context.engine, ca_roots) == 1


def test_root_name_is_configurable(issuer_context: IssuerContext) -> None:
    named = dataclasses.replace(
        issuer_context, settings=IssuerSettings(ca_name="Example Operator CA", development=False)
    )
    root = load(XidCA(named, pairwise=pairwise).root().der)
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Example Operator CA"
    production = dataclasses.replace(issuer_context, settings=IssuerSettings(development=False))
    assert XidCA(production, pairwise=pairwise).root_name() == "xid Root CA"


def _run_together(*calls: Callable[[], T]) -> list[T]:
    """Run the calls in threads at once; their results, or the first error raised."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], T]) -> None:
        try:
            results.append(call())
        except BaseException as error:  # pragma: no cover - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def _record_unique_violations(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    seen: list[bool] = []
    original = is_unique_violation

    def recording(error: BaseException) -> bool:
        seen.append(original(error))
        return seen[-1]

    monkeypatch.setattr(ca_module, "is_unique_violation", recording)
    return seen


def test_root_creation_race_ends_with_one_root(issuer_context: IssuerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes (two engines on one database) that both found no root and built one before either stored it.

    On PostgreSQL both also look again inside their writer transactions before either inserts, so one insert
    hits the primary key; on SQLite the writer lock (BEGIN IMMEDIATE) makes the second one see the first's root.
    """
    postgres = issuer_context.engine.dialect.name == "postgresql"
    violations = _record_unique_violations(monkeypatch)
    second = open_engine(issuer_context.engine.url.render_as_string(hide_password=False))
    try:
        built, looked = threading.Barrier(2), threading.Barrier(2)
        cas = [
            XidCA(dataclasses.replace(issuer_context, engine=e), pairwise=pairwise)
            for e in (issuer_context.engine, second)
        ]
        for one in cas:
            calls = [0]

            def build(build: Callable[[], bytes] = one._build_root) -> bytes:
                der = build()
                built.wait(timeout=30)
                return der

            def load(conn: Any, load: Callable[[Any], Any] = one._load_root, calls: list[int] = calls) -> Any:
                root = load(conn)
                calls[0] += 1
                if calls[0] == 2 and postgres:  # inside the writer transaction, before the insert
                    looked.wait(timeout=30)
                return root

            one._build_root = build  # type: ignore[method-assign]
            one._load_root = load  # type: ignore[method-assign]
        results = _run_together(*(lambda one=one: one.root().der for one in cas))
        assert len(results) == 2
        assert results[0] == results[1]
        assert count(issuer_context.engine, ca_roots) == 1
        assert violations == ([True] if postgres else [])
    finally:
        second.dispose()


def test_unsupported_ca_keys_are_refused(issuer_context: IssuerContext) -> None:
    other = dataclasses.replace(issuer_context, ca_signer=SoftwareSigner.generate(KeyType.SECP256K1))
    with pytest.raises(CaKeyError, match="ES256, ES384 or EdDSA"):
        XidCA(other, pairwise=pairwise)


# -- issuance and profile -----------------------------------------------------------------------------------------


def test_authentication_certificate_profile(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey) -> None:
    holder = holder_for(holder_key)
    issued, created = ca.issue(holder, make_csr(holder_key), "authentication")
    assert created
    cert, root = load(issued.der), load(ca.root().der)
    cert.verify_directly_issued_by(root)
    assert cert.subject.rfc4514_string() == f"CN={pairwise('person-1', CA_SECTOR)},O=xid"  # not the CSR's subject
    assert cert.issuer == root.subject
    assert cert.serial_number == issued.serial
    assert 0 < cert.serial_number < 2**128
    assert cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == holder_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False  # the CSR asked for CA:TRUE
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.content_commitment
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [did_jwk.create(holder.holder_jwk)]
    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.OCSP, "http://127.0.0.1:8000/ca/ocsp"),
        (AuthorityInformationAccessOID.CA_ISSUERS, "http://127.0.0.1:8000/ca/root.cer"),
    ]
    crl_dp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for name in crl_dp[0].full_name or []] == ["http://127.0.0.1:8000/ca/crl"]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == (
        x509.SubjectKeyIdentifier.from_public_key(holder_key.public_key()).digest
    )
    assert cert.not_valid_before_utc == issued.issued_at - dt.timedelta(minutes=5)  # clock skew allowance
    assert cert.not_valid_after_utc == issued.issued_at + dt.timedelta(days=365)
    # nothing of the person beyond the pseudonym: no person ID, no card fingerprint
    assert b"person-1" not in issued.der
    assert CARD.encode() not in issued.der
    assert b"Yamada" not in issued.der


def test_signing_certificate_profile(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey) -> None:
    issued, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    cert = load(issued.der)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_encipherment
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        x509.ObjectIdentifier(DOCUMENT_SIGNING),
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ]


def test_certificates_are_recorded(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext
) -> None:
    holder = holder_for(holder_key)
    auth, _ = ca.issue(holder, make_csr(holder_key), "authentication")
    sign, _ = ca.issue(holder, make_csr(holder_key), "signing")
    with transaction(issuer_context.engine) as conn:
        recorded = certificates_of(issuer_context, conn, "person-1")
        assert certificates_of(issuer_context, conn, "someone-else") == []
    assert {c.serial for c in recorded} == {auth.serial, sign.serial}
    for one in recorded:
        assert (one.grant_id, one.person_id, one.card_fingerprint) == ("grant-1", "person-1", CARD)
        assert one.holder_jkt == PublicKey.from_cryptography(holder_key.public_key()).thumbprint()
        assert one.not_after == load(one.der).not_valid_after_utc
        assert one.not_before == load(one.der).not_valid_before_utc
        assert one.revoked_at is None
    assert {c.usage for c in recorded} == {"authentication", "signing"}


def test_validity_is_capped_by_the_setting_and_the_root(
    issuer_context: IssuerContext, holder_key: ec.EllipticCurvePrivateKey
) -> None:
    short = dataclasses.replace(issuer_context, settings=IssuerSettings(ca_certificate_validity=dt.timedelta(days=30)))
    issued, _ = XidCA(short, pairwise=pairwise).issue(holder_for(holder_key), make_csr(holder_key), "signing")
    assert load(issued.der).not_valid_after_utc == issued.issued_at + dt.timedelta(days=30)
    long = dataclasses.replace(issuer_context, settings=IssuerSettings(ca_certificate_validity=dt.timedelta(days=9000)))
    long_ca = XidCA(long, pairwise=pairwise)
    cert = load(long_ca.issue(holder_for(holder_key, grant="grant-2"), make_csr(holder_key), "signing")[0].der)
    assert cert.not_valid_after_utc == load(long_ca.root().der).not_valid_after_utc


def test_no_certificates_from_an_expired_root(
    issuer_context: IssuerContext, holder_key: ec.EllipticCurvePrivateKey
) -> None:
    now = [dt.datetime.now(dt.UTC)]
    ca = XidCA(dataclasses.replace(issuer_context, clock=lambda: now[0]), pairwise=pairwise)
    ca.root()
    now[0] += dt.timedelta(days=3653)
    with pytest.raises(CaKeyError, match="root has expired"):
        ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    assert count(issuer_context.engine) == 0


@pytest.mark.parametrize("key_type", ["p384", "ed25519"])
def test_other_holder_key_types(ca: XidCA, key_type: str) -> None:
    key: HolderKey = (
        ec.generate_private_key(ec.SECP384R1()) if key_type == "p384" else ed25519.Ed25519PrivateKey.generate()
    )
    issued, _ = ca.issue(holder_for(key), make_csr(key), "authentication")
    cert = load(issued.der)
    cert.verify_directly_issued_by(load(ca.root().der))
    assert (
        PublicKey.from_cryptography(cert.public_key()).thumbprint()  # type: ignore[arg-type]
        == PublicKey.from_cryptography(key.public_key()).thumbprint()
    )


@pytest.mark.parametrize("ca_key", [KeyType.ED25519, KeyType.P384])
def test_other_ca_key_types(
    issuer_context: IssuerContext, holder_key: ec.EllipticCurvePrivateKey, ca_key: KeyType
) -> None:
    ctx = dataclasses.replace(issuer_context, ca_signer=SoftwareSigner.generate(ca_key))
    ca = XidCA(ctx, pairwise=pairwise)
    root = load(ca.root().der)
    root.verify_directly_issued_by(root)
    expected = {
        KeyType.ED25519: x509.SignatureAlgorithmOID.ED25519,
        KeyType.P384: x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    }[ca_key]
    issued, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    cert = load(issued.der)
    assert root.signature_algorithm_oid == cert.signature_algorithm_oid == expected
    cert.verify_directly_issued_by(root)
    with transaction(ctx.engine, write=True) as conn:
        revoke(ctx, conn, issued.serial, "keyCompromise")
    crl = x509.load_der_x509_crl(ca.crl()[0])
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    answer = x509_ocsp.load_der_ocsp_response(ca.ocsp(ocsp_request(cert, root)).der)
    assert answer.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED
    verify_signed_by(root, answer.signature, answer.tbs_response_bytes, answer.signature_hash_algorithm)


def test_one_certificate_per_usage_per_grant(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext
) -> None:
    holder = holder_for(holder_key)
    first, created = ca.issue(holder, make_csr(holder_key), "signing")
    again, created_again = ca.issue(holder, make_csr(holder_key, subject="other"), "signing")
    assert created
    assert not created_again
    assert again == first
    assert count(issuer_context.engine) == 1
    with transaction(issuer_context.engine, write=True) as conn:
        assert revoke(issuer_context, conn, first.serial, "superseded")
    with pytest.raises(CertificateRevokedError, match="revoked"):
        ca.issue(holder, make_csr(holder_key), "signing")
    assert count(issuer_context.engine) == 1


def test_concurrent_requests_for_one_grant_get_one_certificate(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests for one grant and usage that both found none and both signed a certificate: one is stored."""
    postgres = issuer_context.engine.dialect.name == "postgresql"
    violations = _record_unique_violations(monkeypatch)
    holder, csr = holder_for(holder_key), make_csr(holder_key)
    ca.root()
    looked = threading.Barrier(2)
    calls = threading.local()
    original = ca_module._by_grant

    def by_grant(conn: Any, grant_id: str, usage: str) -> Any:
        found = original(conn, grant_id, usage)
        calls.n = getattr(calls, "n", 0) + 1
        if calls.n == 2 and postgres:  # inside the writer transaction, before the insert
            looked.wait(timeout=30)
        return found

    monkeypatch.setattr(ca_module, "_by_grant", by_grant)
    results = _run_together(*(lambda: ca.issue(holder, csr, "authentication") for _ in range(2)))
    assert len({issued.serial for issued, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, True]
    assert count(issuer_context.engine) == 1
    assert violations == ([True] if postgres else [])


# -- CSR checks (each must fail closed and store nothing) --------------------------------------------------------


def test_csr_with_a_bad_signature(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext
) -> None:
    csr = make_csr(holder_key)
    parsed = x509.load_der_x509_csr(csr)
    tampered = flip_bit_in(csr, parsed.signature[-8:])  # the signature's last bytes: the request still parses
    assert x509.load_der_x509_csr(tampered).public_key() == parsed.public_key()
    with pytest.raises(CsrError, match="does not verify"):
        ca.issue(holder_for(holder_key), tampered, "authentication")
    assert count(issuer_context.engine) == 0


def test_csr_for_another_key(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CsrKeyMismatchError, match="not the holder key"):
        ca.issue(holder_for(holder_key), make_csr(other), "signing")
    assert count(issuer_context.engine) == 0


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "only P-256, P-384 and Ed25519"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "secp256k1"),
    ],
    ids=["rsa", "secp256k1"],
)
def test_csr_key_types_refused(
    ca: XidCA, issuer_context: IssuerContext, make_key: Callable[[], Any], message: str
) -> None:
    key = make_key()
    holder = AuthorizedHolder("g", "p", "e", {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}, CARD)
    with pytest.raises(CsrError, match=message):
        ca.issue(holder, make_csr(key), "authentication")
    assert count(issuer_context.engine) == 0


def test_csr_signed_with_sha1_refused(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey) -> None:
    # cryptography no longer makes SHA-1 signatures in CSRs: re-sign a good request's info with ECDSA-SHA1
    request = asn1_csr.CertificationRequest.load(make_csr(holder_key))
    info = request["certification_request_info"]
    signature = holder_key.sign(info.dump(), ec.ECDSA(hashes.SHA1()))
    csr = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": "sha1_ecdsa"},
            "signature": signature,
        }
    ).dump()
    with pytest.raises(CsrError, match="SHA-256"):
        ca.issue(holder_for(holder_key), csr, "authentication")


@pytest.mark.parametrize(
    "csr", [b"", b"garbage", b"\x30\x03\x02\x01\x00", bytes(300)], ids=["empty", "text", "der", "zeros"]
)
def test_garbage_csr(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, csr: bytes, issuer_context: IssuerContext
) -> None:
    with pytest.raises(CsrError, match="not a DER PKCS#10"):
        ca.issue(holder_for(holder_key), csr, "authentication")
    assert count(issuer_context.engine) == 0


def test_unknown_usage(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(CsrError, match="usage"):
        ca.issue(holder_for(holder_key), make_csr(holder_key), "encryption")  # type: ignore[arg-type]


# -- tampering ----------------------------------------------------------------------------------------------------


def test_a_flipped_bit_in_a_certificate_breaks_its_signature(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey) -> None:
    issued, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    root = load(ca.root().der)
    tampered = load(flip_bit_in(issued.der, pairwise("person-1", CA_SECTOR).encode()))
    assert tampered.subject != load(issued.der).subject
    with pytest.raises(InvalidSignature):
        tampered.verify_directly_issued_by(root)


# -- revocation ---------------------------------------------------------------------------------------------------


def test_revoke(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext) -> None:
    issued, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    with transaction(issuer_context.engine, write=True) as conn:
        with pytest.raises(RevocationReasonError):
            revoke(issuer_context, conn, issued.serial, "certificateHold")
        with pytest.raises(UnknownCertificateError):
            revoke(issuer_context, conn, issued.serial + 1, "keyCompromise")
        assert revoke(issuer_context, conn, issued.serial, "keyCompromise")
        assert not revoke(issuer_context, conn, issued.serial, "superseded")  # the first revocation stays
        (recorded,) = certificates_of(issuer_context, conn, "person-1")
    assert recorded.revocation_reason == "keyCompromise"
    assert recorded.revoked_at is not None


def test_revoke_from_card(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext) -> None:
    other_card = "cd" * 32
    ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    ca.issue(holder_for(holder_key), make_csr(holder_key), "authentication")
    other_key = ec.generate_private_key(ec.SECP256R1())
    ca.issue(holder_for(other_key, grant="grant-2", card=other_card), make_csr(other_key), "signing")
    with transaction(issuer_context.engine, write=True) as conn:
        assert revoke_from_card(issuer_context, conn, CARD) == 2
        assert revoke_from_card(issuer_context, conn, CARD) == 0
        reasons = {(c.card_fingerprint, c.revocation_reason) for c in certificates_of(issuer_context, conn, "person-1")}
    assert reasons == {(CARD, "privilegeWithdrawn"), (other_card, None)}


def test_merge_person(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext) -> None:
    ca.issue(holder_for(holder_key, person="old"), make_csr(holder_key), "signing")
    with transaction(issuer_context.engine, write=True) as conn:
        assert merge_person(conn, "old", "new") == 1
        assert [c.person_id for c in certificates_of(issuer_context, conn, "new")] == ["new"]


# -- CRL ----------------------------------------------------------------------------------------------------------


def test_crl_lists_revoked_serials_and_is_cached(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext
) -> None:
    root = load(ca.root().der)
    empty_der, number, _ = ca.crl()
    empty = x509.load_der_x509_crl(empty_der)
    assert empty.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert len(empty) == 0
    assert number == 1
    assert empty.issuer == root.subject
    assert empty.next_update_utc - empty.last_update_utc == dt.timedelta(days=1)  # type: ignore[operator]
    assert empty.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert ca.crl()[:2] == (empty_der, 1)  # nothing changed: the same CRL
    auth, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "authentication")
    sign, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    with transaction(issuer_context.engine, write=True) as conn:
        revoke(issuer_context, conn, sign.serial, "keyCompromise")
        revoke(issuer_context, conn, auth.serial, "unspecified")
    der, number, _ = ca.crl()
    crl = x509.load_der_x509_crl(der)
    assert number == 2
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(sign.serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    unspecified = crl.get_revoked_certificate_by_serial_number(auth.serial)
    assert unspecified is not None
    assert len(unspecified.extensions) == 0
    # another process (another CA object) serves the same cached CRL
    assert XidCA(issuer_context, pairwise=pairwise).crl()[:2] == (der, 2)
    # a flipped bit in the revoked serial breaks the signature
    serial_bytes = sign.serial.to_bytes(17, "big").lstrip(b"\0")
    assert not x509.load_der_x509_crl(flip_bit_in(der, serial_bytes)).is_signature_valid(root.public_key())  # type: ignore[arg-type]


def test_crl_is_signed_again_after_half_its_validity(issuer_context: IssuerContext) -> None:
    now = [dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)]
    ctx = dataclasses.replace(issuer_context, clock=lambda: now[0])
    ca = XidCA(ctx, pairwise=pairwise)
    first = ca.crl()
    now[0] += dt.timedelta(hours=11)
    assert ca.crl() == first
    now[0] += dt.timedelta(hours=2)
    der, number, this_update = ca.crl()
    assert number == 2
    assert this_update == now[0]
    assert x509.load_der_x509_crl(der).last_update_utc == now[0]


# -- OCSP ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
def test_ocsp_good_revoked_unknown(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext, algorithm: Any
) -> None:
    root = load(ca.root().der)
    cert = load(ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")[0].der)

    def ask(target: x509.Certificate, nonce: bytes | None = None) -> x509_ocsp.OCSPResponse:
        answer = ca.ocsp(ocsp_request(target, root, algorithm=algorithm, nonce=nonce))
        response = x509_ocsp.load_der_ocsp_response(answer.der)
        assert response.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
        verify_signed_by(root, response.signature, response.tbs_response_bytes, response.signature_hash_algorithm)
        assert (
            response.responder_key_hash
            == root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        )
        assert response.serial_number == target.serial_number
        assert isinstance(response.hash_algorithm, type(algorithm))
        assert response.next_update_utc - response.this_update_utc == dt.timedelta(hours=1)  # type: ignore[operator]
        return response

    nonce = bytes(range(32))
    good = ask(cert, nonce)
    assert good.certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    with transaction(issuer_context.engine, write=True) as conn:
        revoke(issuer_context, conn, cert.serial_number, "keyCompromise")
    revoked = ask(cert)
    assert revoked.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc is not None
    assert len(revoked.extensions) == 0  # no nonce asked, none echoed
    # a certificate with a serial the CA never issued (same issuer): unknown
    stranger = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(root.subject)
        .public_key(holder_key.public_key())
        .serial_number(12345)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .sign(holder_key, hashes.SHA256())
    )
    assert ask(stranger).certificate_status == x509_ocsp.OCSPCertStatus.UNKNOWN


def test_ocsp_refusals(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey) -> None:
    root = load(ca.root().der)
    cert = load(ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")[0].der)

    def status(request: bytes) -> x509_ocsp.OCSPResponseStatus:
        return x509_ocsp.load_der_ocsp_response(ca.ocsp(request).der).response_status

    malformed = x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert status(b"") == malformed
    assert status(b"not an ocsp request") == malformed
    valid = ocsp_request(cert, root, nonce=b"n" * 32)
    assert status(valid + b"\x00") == malformed  # trailing bytes
    assert status(valid[:-3]) == malformed  # truncated
    assert status(ocsp_request(cert, root, nonce=b"n" * 33)) == malformed  # RFC 8954: at most 32 bytes
    assert status(ocsp_request(cert, root, algorithm=hashes.SHA224())) == malformed
    # the certificate of another issuer: unauthorized
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_root = (
        x509.CertificateBuilder()
        .subject_name(root.subject)  # same name, other key
        .issuer_name(root.subject)
        .public_key(other_key.public_key())
        .serial_number(1)
        .not_valid_before(root.not_valid_before_utc)
        .not_valid_after(root.not_valid_after_utc)
        .sign(other_key, hashes.SHA256())
    )
    assert status(ocsp_request(cert, other_root)) == x509_ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_a_flipped_bit_in_an_ocsp_response_breaks_its_signature(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey
) -> None:
    root = load(ca.root().der)
    cert = load(ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")[0].der)
    nonce = b"0123456789abcdef"
    der = ca.ocsp(ocsp_request(cert, root, nonce=nonce)).der
    tampered = x509_ocsp.load_der_ocsp_response(flip_bit_in(der, nonce))
    with pytest.raises(InvalidSignature):
        verify_signed_by(root, tampered.signature, tampered.tbs_response_bytes, tampered.signature_hash_algorithm)


class _ShortSigner:
    """A CA signer that returns a truncated signature (a broken token driver)."""

    def __init__(self, inner: SoftwareSigner) -> None:
        self.inner = inner
        self.key_id, self.algorithm, self.public_jwk = inner.key_id, inner.algorithm, inner.public_jwk

    def sign(self, data: bytes) -> bytes:
        return self.inner.sign(data)[:-1]


def test_a_misbehaving_ca_signer_is_reported(issuer_context: IssuerContext) -> None:
    ctx = dataclasses.replace(issuer_context, ca_signer=_ShortSigner(SoftwareSigner.generate(KeyType.P256)))
    with pytest.raises(CaKeyError, match="63-byte ES256 signature"):
        XidCA(ctx, pairwise=pairwise).root()
    assert count(issuer_context.engine, ca_roots) == 0


@pytest.mark.parametrize("pseudonym", ["", "x" * 65, "line\nbreak"], ids=["empty", "long", "control"])
def test_an_unusable_pseudonym_is_refused(
    issuer_context: IssuerContext, holder_key: ec.EllipticCurvePrivateKey, pseudonym: str
) -> None:
    ca = XidCA(issuer_context, pairwise=lambda person, sector: pseudonym)
    with pytest.raises(CaError, match="pseudonym"):
        ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    assert count(issuer_context.engine) == 0


def test_the_ca_object_offers_the_operations(
    ca: XidCA, holder_key: ec.EllipticCurvePrivateKey, issuer_context: IssuerContext
) -> None:
    root = load(ca.root().der)
    sign, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")
    auth, _ = ca.issue(holder_for(holder_key), make_csr(holder_key), "authentication")
    with transaction(issuer_context.engine, write=True) as conn:
        assert ca.revoke(conn, sign.serial)  # reason unspecified
        assert ca.revoke_from_card(conn, CARD.upper()) == 1  # the authentication one; the fingerprint's case is free
        assert {c.revocation_reason for c in ca.certificates_of(conn, "person-1")} == {
            "unspecified",
            "privilegeWithdrawn",
        }
    answer = x509_ocsp.load_der_ocsp_response(ca.ocsp(ocsp_request(load(sign.der), root)).der)
    assert answer.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is None  # "unspecified" is left out, as in the CRL
    assert auth.serial != sign.serial


def test_ocsp_requests_for_too_many_certificates_are_refused(ca: XidCA, holder_key: ec.EllipticCurvePrivateKey) -> None:
    root = load(ca.root().der)
    cert = load(ca.issue(holder_for(holder_key), make_csr(holder_key), "signing")[0].der)
    one = asn1_ocsp.OCSPRequest.load(ocsp_request(cert, root))
    single = one["tbs_request"]["request_list"][0]

    def with_requests(n: int) -> bytes:
        der: bytes = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [single] * n}}).dump()
        return der

    many = x509_ocsp.load_der_ocsp_response(ca.ocsp(with_requests(16)).der)
    assert many.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert len(list(many.responses)) == 16
    too_many = x509_ocsp.load_der_ocsp_response(ca.ocsp(with_requests(17)).der)
    assert too_many.response_status == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_service_certificate_for_the_verifier_key(ca: XidCA) -> None:
    from cryptography.x509 import DNSName
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    service = SoftwareSigner.generate(KeyType.P256)
    der = ca.service_certificate(service.public_jwk, "verifier.example.jp", dt.timedelta(days=30))
    cert = x509.load_der_x509_certificate(der)
    root = x509.load_der_x509_certificate(ca.root().der)
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(DNSName("verifier.example.jp"))
    chain = verifier.verify(cert, [])
    assert chain[-1] == root
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert PublicKey.from_cryptography(key) == PublicKey.from_jwk(service.public_jwk)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=30, minutes=10)
    other = PolicyBuilder().store(Store([root])).build_server_verifier(DNSName("evil.example.jp"))
    with pytest.raises(VerificationError):
        other.verify(cert, [])
