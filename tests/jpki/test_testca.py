from __future__ import annotations

import datetime as dt
import json
import stat
import tomllib
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID
from hypothesis import given, settings
from hypothesis import strategies as st

from jpki_bridge import profile
from jpki_bridge.mynumber import my_number_check_digit
from jpki_bridge.testca import (
    CardIdentity,
    Person,
    PersonError,
    TestCA,
    TestCAError,
    TestCAStoreError,
    Tree,
    check_my_number,
    fifth_birthday_after,
)
from tests.helpers import PERSON_FILES, load_person, serve

JST = dt.timezone(dt.timedelta(hours=9))


# -- My Number ----------------------------------------------------------------------------------------------------


def test_my_number_check_digit_known_value() -> None:
    # The sample number used in public explanations of the check-digit formula.
    assert my_number_check_digit("12345678901") == "8"
    check_my_number("123456789018")


FULL_WIDTH_NUMBER = "".join(chr(0xFF10 + int(d)) for d in "123456789018")


@pytest.mark.parametrize("bad", ["123456789017", "12345678901", "1234567890189", "12345678901a", FULL_WIDTH_NUMBER])
def test_my_number_rejected_without_echoing_it(bad: str) -> None:
    with pytest.raises(PersonError) as caught:
        check_my_number(bad)
    assert bad not in str(caught.value)


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_my_number_check_digit_round_trip(first: str) -> None:
    digit = my_number_check_digit(first)
    check_my_number(first + digit)
    wrong = str((int(digit) + 1) % 10)
    with pytest.raises(PersonError):
        check_my_number(first + wrong)


# -- Person -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PERSON_FILES, ids=lambda p: p.stem)
def test_example_person_files_load_and_round_trip(path: Path) -> None:
    person = Person.from_toml(path)
    assert Person.from_mapping(tomllib.loads(person.to_toml())) == person
    assert len(person.name_substitution) == len(person.name)
    assert len(person.address_substitution) == len(person.address)


def test_example_persons_cover_the_hard_cases() -> None:
    persons = {path.stem: Person.from_toml(path) for path in PERSON_FILES}
    assert any("1" in p.name_substitution for p in persons.values())
    assert any(len(p.address) > 150 and len(p.address.encode()) > 255 for p in persons.values())
    assert any(p.sex == "3" for p in persons.values())
    assert any(p.basic4().date_of_birth.is_partial for p in persons.values())
    assert persons["unknown_dob"].basic4().date_of_birth.era is profile.Era.UNKNOWN


@settings(max_examples=50)
@given(
    name=st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=30).filter(
        lambda s: s.strip() != ""
    ),
    address=st.text(alphabet=st.characters(categories=["L", "N", "Pd", "Zs"]), min_size=1, max_size=200).filter(
        lambda s: s.strip() != ""
    ),
)
def test_person_toml_round_trip_any_text(name: str, address: str) -> None:
    person = Person(name=name, sex="2", date_of_birth="419900102", address=address, my_number="123456789018")
    assert Person.from_mapping(tomllib.loads(person.to_toml())) == person


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


VALID = 'name = "山田　太郎"\nsex = "1"\ndate_of_birth = "419900102"\naddress = "東京都"\nmy_number = "123456789018"\n'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (VALID.replace('sex = "1"\n', ""), "'sex' is missing"),
        (VALID.replace('sex = "1"', "sex = 1"), "must be a string"),
        (VALID.replace('sex = "1"', 'sex = "9"'), "field 'sex'"),
        (VALID.replace("419900102", "419890102"), "era"),
        (VALID.replace("419900102", "41990010"), "EYYYYMMDD"),
        (VALID.replace("123456789018", "123456789017"), "check digit"),
        (VALID + 'nickname = "x"\n', "unknown field"),
        (VALID + 'name_substitution = "000"\n', "substitution positions"),
        (VALID.replace("山田　太郎", ""), "name is empty"),
        ("name = ", "not valid TOML"),
    ],
)
def test_person_file_errors_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(PersonError) as caught:
        Person.from_toml(write(tmp_path, text))
    assert needle in caught.value.message
    assert "p.toml" in caught.value.message
    assert "山田" not in str(caught.value)
    assert caught.value.code == "invalidPerson"


def test_person_file_missing(tmp_path: Path) -> None:
    with pytest.raises(PersonError, match="no such person file"):
        Person.from_toml(tmp_path / "absent.toml")


def test_person_defaults_substitution_to_zeros() -> None:
    person = Person(name="山田　太郎", sex="1", date_of_birth="419900102", address="東京都", my_number="123456789018")
    assert person.name_substitution == "00000"
    assert person.address_substitution == "000"


# -- validity: the 5th birthday after issuance --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued", "dob", "end"),
    [
        (dt.datetime(2026, 3, 1, 12, tzinfo=JST), "419900401", dt.date(2030, 4, 1)),  # birthday later this year
        (dt.datetime(2026, 5, 1, 12, tzinfo=JST), "419900401", dt.date(2031, 4, 1)),  # birthday already passed
        (dt.datetime(2026, 4, 1, 12, tzinfo=JST), "419900401", dt.date(2031, 4, 1)),  # issued on the birthday
        (dt.datetime(2026, 3, 1, 12, tzinfo=JST), "420000229", dt.date(2031, 2, 28)),  # 29 Feb, common year
        (dt.datetime(2027, 3, 1, 12, tzinfo=JST), "420000229", dt.date(2032, 2, 29)),  # 29 Feb, leap year
        (dt.datetime(2026, 6, 15, 12, tzinfo=JST), "419900000", dt.date(2031, 6, 15)),  # unknown birthday
        (dt.datetime(2026, 6, 15, 12, tzinfo=JST), "000000000", dt.date(2031, 6, 15)),
    ],
)
def test_fifth_birthday_after(issued: dt.datetime, dob: str, end: dt.date) -> None:
    result = fifth_birthday_after(issued, profile.DateOfBirth.parse(dob))
    assert result.astimezone(JST).date() == end
    assert result.astimezone(JST).time() == dt.time(23, 59, 59)


def test_issued_certificates_end_on_the_fifth_birthday(test_ca: TestCA) -> None:
    person = load_person("leap_day")
    issued = dt.datetime(2026, 3, 1, 3, tzinfo=dt.UTC)
    card = test_ca.issue(person, issued)
    expected = dt.datetime(2031, 2, 28, 23, 59, 59, tzinfo=JST)
    assert card.sign_cert.not_valid_after_utc == expected
    assert card.auth_cert.not_valid_after_utc == expected
    assert card.sign_cert.not_valid_before_utc == issued


def test_validity_is_capped_at_the_root(test_ca: TestCA, person: Person) -> None:
    old = test_ca.root("sign", "01")
    issued = old.cert.not_valid_after_utc - dt.timedelta(days=100)
    card = test_ca.issue(person, issued, generation="01")
    assert card.sign_cert.not_valid_after_utc == old.cert.not_valid_after_utc


# -- roots and profile ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tree", ["sign", "auth"])
def test_root_generations_mirror_jlis(test_ca: TestCA, tree: Tree) -> None:
    roots = test_ca.roots(tree)
    assert [r.label for r in roots] == ["01", "02", "03"]
    assert len({r.cert.subject for r in roots}) == 1, "generations share one DN"
    assert len({r.cert.public_key().public_numbers() for r in roots}) == 3, "and differ by key"  # type: ignore[union-attr]
    now = dt.datetime.now(dt.UTC)
    assert not roots[0].valid_at(now), "generation 01 is expired"
    assert roots[1].valid_at(now)
    assert roots[2].valid_at(now)
    assert test_ca.current_root(tree, now).label == "03"
    for root in roots:
        cert = root.cert
        assert cert.issuer == cert.subject
        cert.verify_directly_issued_by(cert)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical
        assert constraints.value.ca
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical
        assert usage.value.key_cert_sign
        assert usage.value.crl_sign
        assert not usage.value.digital_signature
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=3652)
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == 2048
        assert key.public_numbers().e == 65537
        assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256


def assert_says_test(name: x509.Name) -> None:
    organizations = [a.value for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert organizations == ["xid TEST JPKI"]
    rendered = name.rfc4514_string()
    assert "TEST" in rendered
    assert "O=JPKI," not in rendered
    assert not rendered.endswith("O=JPKI")


def test_every_name_says_test(test_ca: TestCA, identity: CardIdentity) -> None:
    for tree in ("sign", "auth"):
        for root in test_ca.roots(tree):
            assert_says_test(root.cert.subject)
    for cert in (identity.sign_cert, identity.auth_cert):
        assert_says_test(cert.subject)
        assert_says_test(cert.issuer)
        assert "TEST" in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        alt = cert.extensions.get_extension_for_class(x509.IssuerAlternativeName).value
        (directory_name,) = alt.get_values_for_type(x509.DirectoryName)  # exactly one, so the check below runs
        assert "TEST" in directory_name.rfc4514_string()
        assert "not J-LIS" in directory_name.rfc4514_string()


def test_signature_certificate_profile(identity: CardIdentity, person: Person) -> None:
    cert = identity.sign_cert
    assert cert.version is x509.Version.v3
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    assert key.public_numbers().e == 65537
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_encipherment
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [profile.SIGN_POLICY_OID]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    other_names = [n for n in san if isinstance(n, x509.OtherName)]
    oids = [n.type_id.dotted_string for n in other_names]
    assert oids == [f"1.2.392.200149.8.5.5.{i}" for i in (1, 4, 3, 5, 2, 6)], "real-card order"
    assert profile.parse_signature_certificate(cert) == person.basic4()
    dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    names = [n for dp in dps for n in dp.full_name or ()]
    assert any(
        isinstance(n, x509.DirectoryName) and "CRL Distribution Points" in n.value.rfc4514_string() for n in names
    )
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    ski = identity.sign_ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki == ski
    cert.verify_directly_issued_by(identity.sign_ca)
    assert key.public_numbers() == identity.sign_key.public_key().public_numbers()
    assert profile.is_signature_certificate(cert)
    assert not profile.is_auth_certificate(cert)


def test_auth_certificate_profile(identity: CardIdentity) -> None:
    cert = identity.auth_cert
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.content_commitment
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [profile.AUTH_POLICY_OID]
    cert.verify_directly_issued_by(identity.auth_ca)
    assert profile.is_auth_certificate(cert)
    assert not profile.is_signature_certificate(cert)
    assert cert.not_valid_after_utc == identity.sign_cert.not_valid_after_utc


def test_card_keys_sign_like_a_card(identity: CardIdentity) -> None:
    data = b"xid-enroll-v1 nonce"
    signature = identity.sign_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    assert len(signature) == 256
    key = identity.sign_cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_no_http_urls_without_base_url(identity: CardIdentity, test_ca: TestCA) -> None:
    with pytest.raises(x509.ExtensionNotFound):
        identity.sign_cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    with pytest.raises(TestCAError, match="base_url"):
        test_ca.crl_url("sign", "03")


# -- renewal and revocation ------------------------------------------------------------------------------------------


def test_renewal_keeps_the_person_and_changes_key_and_serial(test_ca: TestCA) -> None:
    person = load_person("substitute")
    old = test_ca.issue(person)
    new = test_ca.renew(old)
    for before, after in ((old.sign_cert, new.sign_cert), (old.auth_cert, new.auth_cert)):
        assert before.serial_number != after.serial_number
        assert before.public_key().public_numbers() != after.public_key().public_numbers()  # type: ignore[union-attr]
        assert before.subject != after.subject
    assert profile.parse_signature_certificate(new.sign_cert) == profile.parse_signature_certificate(old.sign_cert)
    assert test_ca.person_of(new.sign_cert) == person
    root = test_ca.current_root("sign")
    assert test_ca.status(root, old.sign_cert.serial_number).status == "revoked"
    assert test_ca.status(root, old.sign_cert.serial_number).reason is x509.ReasonFlags.superseded
    assert test_ca.status(root, new.sign_cert.serial_number).status == "good"


def test_renew_from_person_issues_fresh_identity(test_ca: TestCA, person: Person) -> None:
    card = test_ca.renew(person)
    assert profile.parse_signature_certificate(card.sign_cert) == person.basic4()


def test_revoke_and_crl(test_ca: TestCA, person: Person) -> None:
    card = test_ca.issue(person)
    root = test_ca.current_root("sign")
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    test_ca.revoke(card.sign_cert, x509.ReasonFlags.key_compromise, when)
    crl = test_ca.crl("sign", when + dt.timedelta(seconds=1))
    public_key = root.cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(public_key)
    assert crl.issuer == root.cert.subject
    entry = crl.get_revoked_certificate_by_serial_number(card.sign_cert.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == when
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(card.auth_cert.serial_number) is None
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > crl.last_update_utc
    other_generation = test_ca.crl("sign", when + dt.timedelta(seconds=1), generation="02")
    assert other_generation.get_revoked_certificate_by_serial_number(card.sign_cert.serial_number) is None
    before = test_ca.crl("sign", when - dt.timedelta(seconds=1))
    assert before.get_revoked_certificate_by_serial_number(card.sign_cert.serial_number) is None


def test_revoking_a_foreign_certificate_is_refused(test_ca: TestCA, identity: CardIdentity) -> None:
    tampered = x509.load_der_x509_certificate(identity.sign_ca.public_bytes(serialization.Encoding.DER))
    with pytest.raises(TestCAError, match="not issued by this test CA"):
        test_ca.revoke(tampered)


# -- OCSP responder --------------------------------------------------------------------------------------------------


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = b"0123456789abcdef") -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_ocsp_responder_good_revoked_unknown(test_ca: TestCA, person: Person) -> None:
    card = test_ca.issue(person)
    now = dt.datetime.now(dt.UTC)
    good = ocsp.load_der_ocsp_response(test_ca.ocsp_response(ocsp_request(card.auth_cert, card.auth_ca), now))
    assert good.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    key = card.auth_ca.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert good.signature_hash_algorithm is not None
    key.verify(good.signature, good.tbs_response_bytes, padding.PKCS1v15(), good.signature_hash_algorithm)

    test_ca.revoke(card.auth_cert, x509.ReasonFlags.cessation_of_operation, now)
    revoked = ocsp.load_der_ocsp_response(
        test_ca.ocsp_response(ocsp_request(card.auth_cert, card.auth_ca, None), now + dt.timedelta(seconds=1))
    )
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.cessation_of_operation
    with pytest.raises(x509.ExtensionNotFound):
        revoked.extensions.get_extension_for_class(x509.OCSPNonce)

    # A serial under a known root that the CA never issued: "unknown".
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(revoked.issuer_name_hash, revoked.issuer_key_hash, 0xDEADBEEF, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    unknown = ocsp.load_der_ocsp_response(test_ca.ocsp_response(request, now))
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def test_ocsp_responder_refuses_unknown_issuer_and_garbage(test_ca: TestCA, identity: CardIdentity) -> None:
    foreign = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(b"\x01" * 32, b"\x02" * 32, 5, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    answer = ocsp.load_der_ocsp_response(test_ca.ocsp_response(foreign))
    assert answer.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    garbage = ocsp.load_der_ocsp_response(test_ca.ocsp_response(b"\x30\x03\x02\x01\x00"))
    assert garbage.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_http_app_routes(test_ca: TestCA, identity: CardIdentity) -> None:
    with serve(test_ca.http_app()) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/ocsp",
            content=ocsp_request(identity.sign_cert, identity.sign_ca),
            headers={"content-type": "application/ocsp-request"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/ocsp-response"
        assert ocsp.load_der_ocsp_response(response.content).certificate_status is ocsp.OCSPCertStatus.GOOD
        assert client.post("/ocsp", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
        big = client.post("/ocsp", content=b"x" * 20000, headers={"content-type": "application/ocsp-request"})
        assert big.status_code == 413
        crl = client.get("/crl/sign.crl")
        assert crl.status_code == 200
        assert crl.headers["content-type"] == "application/pkix-crl"
        assert x509.load_der_x509_crl(crl.content).issuer == identity.sign_ca.subject
        assert client.get("/crl/auth-02.crl").status_code == 200
        assert client.get("/crl/auth-99.crl").status_code == 404
        assert client.get("/crl/other.crl").status_code == 404


# -- persistence -----------------------------------------------------------------------------------------------------


def test_save_and_load_round_trip(test_ca: TestCA, tmp_path: Path) -> None:
    person = load_person("long_address")
    card = test_ca.issue(person)
    revoked = test_ca.issue(person)
    test_ca.revoke(revoked.sign_cert, x509.ReasonFlags.affiliation_changed)
    test_ca.crl("sign")  # so that the CRL number the store must keep is not 0
    path = test_ca.save(tmp_path / "ca")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = TestCA.load(tmp_path / "ca")
    assert loaded.crl_number == test_ca.crl_number > 0
    for tree in ("sign", "auth"):
        assert loaded.trust_anchor_certificates(tree) == test_ca.trust_anchor_certificates(tree)
    root = loaded.current_root("sign")
    assert loaded.status(root, card.sign_cert.serial_number).status == "good"
    status = loaded.status(root, revoked.sign_cert.serial_number)
    assert status.status == "revoked"
    assert status.reason is x509.ReasonFlags.affiliation_changed
    renewed = loaded.renew(card)
    assert profile.parse_signature_certificate(renewed.sign_cert) == person.basic4()
    renewed.sign_cert.verify_directly_issued_by(test_ca.current_root("sign").cert)


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda state: state.update(format="other"), "is not a xid-testca-v1 file"),
        (lambda state: state.pop("roots"), r"damaged \(KeyError\)"),
        (lambda state: state["roots"][0].update(key="-----BEGIN nonsense"), r"damaged \(ValueError\)"),
        (
            lambda state: state["issued"].append(
                {
                    "tree": "neither",
                    "generation": "03",
                    "serial": "1",
                    "not_after": "2030-01-01T00:00:00+00:00",
                    "person": None,
                }
            ),
            r"damaged \(TestCAError\)",
        ),
    ],
)
def test_load_damaged_store(test_ca: TestCA, tmp_path: Path, damage: object, needle: str) -> None:
    path = test_ca.save(tmp_path)
    state = json.loads(path.read_text(encoding="utf-8"))
    damage(state)  # type: ignore[operator]
    path.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(TestCAStoreError, match=needle) as caught:
        TestCA.load(tmp_path)
    assert caught.value.code == "testCaStore"


def test_load_missing_store(tmp_path: Path) -> None:
    with pytest.raises(TestCAStoreError, match="no test CA"):
        TestCA.load(tmp_path)


def test_card_identity_json_round_trip(identity: CardIdentity) -> None:
    again = CardIdentity.from_json(identity.to_json())
    assert again.sign_cert == identity.sign_cert
    assert again.auth_ca == identity.auth_ca
    assert again.sign_key.private_numbers() == identity.sign_key.private_numbers()
    with pytest.raises(TestCAStoreError):
        CardIdentity.from_json('{"sign_key": "x"}')
