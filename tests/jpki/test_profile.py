from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jpki_bridge import profile
from jpki_bridge.profile import (
    Basic4InfoEncodingError,
    CertificateParseError,
    DateOfBirth,
    DuplicateBasic4InfoError,
    Era,
    InvalidAddressError,
    InvalidDateOfBirthError,
    InvalidNameError,
    InvalidSexError,
    InvalidSubstitutionError,
    MissingBasic4InfoError,
    ProfileError,
    Sex,
    UnexpectedSubjectAltNameError,
    decode_utf8string,
    parse_signature_certificate,
)
from jpki_bridge.testca import CardIdentity, Person, TestCA
from tests.helpers import CRYPTOGRAPHY_WARNINGS, PERSON_FILES, mutations

# -- date of birth ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "era", "ymd", "partial"),
    [
        ("419900102", Era.HEISEI, (1990, 1, 2), False),
        ("319890107", Era.SHOWA, (1989, 1, 7), False),  # last day of Showa
        ("419890108", Era.HEISEI, (1989, 1, 8), False),  # first day of Heisei
        ("520190501", Era.REIWA, (2019, 5, 1), False),
        ("219120730", Era.TAISHO, (1912, 7, 30), False),
        ("118800101", Era.MEIJI, (1880, 1, 1), False),
        ("419900000", Era.HEISEI, (1990, None, None), True),
        ("419900100", Era.HEISEI, (1990, 1, None), True),
        ("400000000", Era.HEISEI, (None, None, None), True),
        ("000000000", Era.UNKNOWN, (None, None, None), True),
        ("019900102", Era.UNKNOWN, (1990, 1, 2), False),
        ("420000229", Era.HEISEI, (2000, 2, 29), False),
        ("319890000", Era.SHOWA, (1989, None, None), True),  # 1989 is both Showa and Heisei
        ("419890000", Era.HEISEI, (1989, None, None), True),
    ],
)
def test_date_of_birth_valid(text: str, era: Era, ymd: tuple[int | None, ...], partial: bool) -> None:
    value = DateOfBirth.parse(text)
    assert value.era is era
    assert (value.year, value.month, value.day) == ymd
    assert value.is_partial is partial
    assert value.text == text
    if partial:
        assert value.as_date() is None
    else:
        assert value.as_date() == dt.date(*ymd)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("619900102", "era digit"),
        ("919900102", "era digit"),
        ("41990010", "EYYYYMMDD"),
        ("4199001020", "EYYYYMMDD"),
        ("4199O0102", "EYYYYMMDD"),
        ("\uff14\uff11\uff19\uff19\uff10\uff10\uff11\uff10\uff12", "EYYYYMMDD"),
        ("419900230", "calendar"),
        ("419901301", "month"),
        ("419900132", "calendar"),
        ("419900002", "no month"),
        ("400000102", "no year"),
        ("418000102", "before 1868"),
        ("419880102", "era"),  # 1988 is Showa, not Heisei
        ("319890108", "era"),  # 1989-01-08 is Heisei
        ("520190430", "era"),  # Reiwa began 2019-05-01
        ("120000101", "era"),
        ("419900102 ", "EYYYYMMDD"),
    ],
)
def test_date_of_birth_invalid(text: str, why: str) -> None:
    with pytest.raises(InvalidDateOfBirthError) as caught:
        DateOfBirth.parse(text)
    assert why in caught.value.message
    assert text.strip() not in caught.value.message
    assert caught.value.code == "invalidDateOfBirth"


def test_sex_codes() -> None:
    assert Sex.parse("1") is Sex.MALE
    assert Sex.parse("2") is Sex.FEMALE
    assert Sex.parse("3") is Sex.UNKNOWN
    for bad in ("0", "4", "9", "", "11", "M", "\uff11"):
        with pytest.raises(InvalidSexError):
            Sex.parse(bad)


# -- UTF8String decoding -----------------------------------------------------------------------------------------------


def test_decode_utf8string_short_and_long_form() -> None:
    assert decode_utf8string(b"\x0c\x03abc") == "abc"
    assert decode_utf8string(b"\x0c\x00") == ""
    text = "東" * 100
    encoded = text.encode()
    assert decode_utf8string(b"\x0c\x82\x01\x2c" + encoded) == text
    assert decode_utf8string(b"\x0c\x81\x80" + b"a" * 128) == "a" * 128


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x0c",
        b"\x04\x03abc",  # OCTET STRING, accepted by one lax decoder, not here
        b"\x13\x03abc",  # PrintableString
        b"\x0c\x81\x03abc",  # long form for a short length
        b"\x0c\x82\x00\x03abc",  # leading zero length byte
        b"\x0c\x80abc",  # indefinite length (BER)
        b"\x0c\x04abc",  # truncated
        b"\x0c\x02abc",  # trailing byte
        b"\x0c\x02\xc3\x28",  # invalid UTF-8
        b"\x0c\x03\xed\xa0\x80",  # UTF-8 encoded surrogate
        b"\x0c\x85\x01\x00\x00\x00\x00",  # absurd length
    ],
)
def test_decode_utf8string_rejects(der: bytes) -> None:
    with pytest.raises(Basic4InfoEncodingError):
        decode_utf8string(der)


# -- certificates built with chosen SAN contents ---------------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())


def utf8(text: str) -> bytes:
    content = text.encode()
    assert len(content) < 0x80 or len(content) < 0x10000
    if len(content) < 0x80:
        return b"\x0c" + bytes([len(content)]) + content
    size = 1 if len(content) < 0x100 else 2
    return b"\x0c" + bytes([0x80 | size]) + len(content).to_bytes(size, "big") + content


BASE_VALUES = {
    profile.OID_NAME: "山田\u3000太郎",
    profile.OID_DATE_OF_BIRTH: "419900102",
    profile.OID_SEX: "1",
    profile.OID_ADDRESS: "東京都千代田区千代田\uff11\uff0d\uff11",
    profile.OID_NAME_SUBSTITUTION: "00000",
    profile.OID_ADDRESS_SUBSTITUTION: "0" * 13,
}


def names(**overrides: str) -> list[x509.GeneralName]:
    values = dict(BASE_VALUES)
    for key, value in overrides.items():
        values[getattr(profile, f"OID_{key.upper()}")] = value
    return [x509.OtherName(oid, utf8(value)) for oid, value in values.items()]


def certificate(
    san: list[x509.GeneralName] | None,
    *,
    usage: tuple[bool, bool] = (True, True),
    policies: tuple[str, ...] = (profile.SIGN_POLICY_OID,),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST profile fixture")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .add_extension(
            x509.KeyUsage(usage[0], usage[1], False, False, False, False, False, False, False),
            critical=True,
        )
    )
    if policies:
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]),
            critical=False,
        )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(_KEY, hashes.SHA256())


def test_parse_crafted_certificate_and_der_bytes() -> None:
    cert = certificate(names())
    info = parse_signature_certificate(cert)
    assert info == parse_signature_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert info.name == "山田\u3000太郎"
    assert info.sex is Sex.MALE
    assert info.date_of_birth == DateOfBirth(Era.HEISEI, 1990, 1, 2)
    assert info.name_substituted_positions == ()


def test_order_of_entries_does_not_matter() -> None:
    reversed_names = list(reversed(names()))
    assert parse_signature_certificate(certificate(reversed_names)) == parse_signature_certificate(certificate(names()))


def test_substitution_positions() -> None:
    info = parse_signature_certificate(certificate(names(name_substitution="10010")))
    assert info.name_substituted_positions == (0, 3)
    assert info.address_substituted_positions == ()


@pytest.mark.parametrize(
    ("san", "error", "needle"),
    [
        (None, MissingBasic4InfoError, "no subjectAltName"),
        (names()[:-1], MissingBasic4InfoError, "address substitution positions entry is missing"),
        ([*names(), x509.OtherName(profile.OID_SEX, utf8("2"))], DuplicateBasic4InfoError, "sex entry"),
        ([*names(), x509.DNSName("example.test")], UnexpectedSubjectAltNameError, "DNSName"),
        (
            [*names(), x509.OtherName(x509.ObjectIdentifier("1.2.392.200149.8.5.5.7"), utf8("x"))],
            UnexpectedSubjectAltNameError,
            "1.2.392.200149.8.5.5.7",
        ),
        (
            [
                x509.OtherName(o, b"\x04\x09419900102" if o == profile.OID_DATE_OF_BIRTH else utf8(v))
                for o, v in BASE_VALUES.items()
            ],
            Basic4InfoEncodingError,
            "date of birth entry",
        ),
        (names(name=""), InvalidNameError, "name is empty"),
        (names(name="\u3000", name_substitution="0"), InvalidNameError, "name is empty"),
        (names(name="山田\x00太郎"), InvalidNameError, "control"),
        (names(name="山田\ue000太郎"), InvalidNameError, "private-use"),
        (names(sex="4"), InvalidSexError, "sex"),
        (names(sex=""), InvalidSexError, "sex"),
        (names(date_of_birth="619900102"), InvalidDateOfBirthError, "era digit"),
        (names(date_of_birth="419900231"), InvalidDateOfBirthError, "calendar"),
        (names(address="", address_substitution=""), InvalidAddressError, "address is empty"),
        (names(address="東" * 201, address_substitution="0" * 201), InvalidAddressError, "longer than 200"),
        (names(name_substitution="0000"), InvalidSubstitutionError, "4 digits for 5 characters"),
        (names(name_substitution="00200"), InvalidSubstitutionError, "only the digits 0 and 1"),
        (names(address_substitution=""), InvalidSubstitutionError, "0 digits for 13 characters"),
    ],
)
def test_malformed_basic4_rejected(san: list[x509.GeneralName] | None, error: type[ProfileError], needle: str) -> None:
    with pytest.raises(error) as caught:
        parse_signature_certificate(certificate(san))
    assert needle in caught.value.message
    for personal in ("山田", "太郎", "東京都", "419900102"):
        assert personal not in str(caught.value)


def test_not_a_certificate() -> None:
    with pytest.raises(CertificateParseError):
        parse_signature_certificate(b"\x30\x03\x02\x01\x01")
    with pytest.raises(TypeError):
        parse_signature_certificate("not bytes")  # type: ignore[arg-type]


def test_trailing_bytes_after_der_rejected(identity: CardIdentity) -> None:
    der = identity.sign_cert.public_bytes(serialization.Encoding.DER)
    with pytest.raises(CertificateParseError):
        parse_signature_certificate(der + b"\x00")


# -- real test-CA certificates and the example persons -----------------------------------------------------------------


@pytest.mark.parametrize("path", PERSON_FILES, ids=lambda p: p.stem)
def test_parse_test_ca_certificates_for_every_person(test_ca: TestCA, path: Path) -> None:
    person = Person.from_toml(path)
    card = test_ca.issue(person)
    info = parse_signature_certificate(card.sign_cert)
    assert info == person.basic4()
    assert info.name == person.name
    assert info.date_of_birth.text == person.date_of_birth
    with pytest.raises(MissingBasic4InfoError):
        parse_signature_certificate(card.auth_cert)


def test_classification_by_usage_and_policy(identity: CardIdentity) -> None:
    assert profile.is_signature_certificate(identity.sign_cert)
    assert profile.is_auth_certificate(identity.auth_cert)
    assert not profile.is_signature_certificate(identity.auth_cert)
    assert not profile.is_auth_certificate(identity.sign_cert)
    # Right key usage, wrong policy arc; right policy, wrong key usage; no policy at all.
    assert not profile.is_signature_certificate(certificate(names(), policies=(profile.AUTH_POLICY_OID,)))
    assert not profile.is_signature_certificate(certificate(names(), usage=(True, False)))
    assert not profile.is_signature_certificate(certificate(names(), policies=()))
    assert profile.is_signature_certificate(certificate(names(), policies=("1.2.392.200149.8.5.1.1.40",)))
    assert profile.is_auth_certificate(certificate(None, usage=(True, False), policies=(profile.AUTH_POLICY_OID,)))
    assert not profile.is_auth_certificate(certificate(None, usage=(True, True), policies=(profile.AUTH_POLICY_OID,)))
    assert not profile.is_auth_certificate(certificate(None, usage=(False, False), policies=(profile.AUTH_POLICY_OID,)))


# -- property-based: random and mutated DER never escape as anything but ProfileError ----------------------------------


def parse_or_profile_error(data: bytes) -> None:
    with contextlib.suppress(ProfileError):
        parse_signature_certificate(data)


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_profile_errors(data: bytes) -> None:
    parse_or_profile_error(data)


@pytest.fixture(scope="module")
def real_der(test_ca: TestCA) -> bytes:
    person = Person.from_toml(next(p for p in PERSON_FILES if p.stem == "long_address"))
    return test_ca.issue(person).sign_cert.public_bytes(serialization.Encoding.DER)


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_der_of_a_real_certificate_raises_only_profile_errors(real_der: bytes, data: st.DataObject) -> None:
    mutated = data.draw(mutations(real_der))
    parse_or_profile_error(mutated)


def test_an_unknown_certificate_version_is_a_parse_error(real_der: bytes) -> None:
    """cryptography raises InvalidVersion, which is not a ValueError, for a version other than v1-v3."""
    v3 = b"\xa0\x03\x02\x01\x02"
    assert real_der.index(v3) < 16
    with pytest.raises(CertificateParseError, match=r"not a DER-encoded X\.509 certificate"):
        parse_signature_certificate(real_der.replace(v3, b"\xa0\x03\x02\x01\x07", 1))


def test_a_name_attribute_of_the_wrong_asn1_type_is_a_parse_error(real_der: bytes) -> None:
    """Found by the fuzz test: a countryName typed BIT STRING in issuerAltName made cryptography raise TypeError."""
    good, bad = b"\x06\x03U\x04\x06\x13\x02JP1<", b"\x06\x03U\x04\x06\x03\x02JP1<"
    assert real_der.count(good) == 1
    mutated = real_der.replace(good, bad)
    lazily_parsed = x509.load_der_x509_certificate(mutated)  # loads: names and extensions are decoded on first read
    for given_as in (mutated, lazily_parsed):
        with pytest.raises(CertificateParseError, match="names or extensions are not valid DER"):
            parse_signature_certificate(given_as)
        with pytest.raises(CertificateParseError):
            profile.is_signature_certificate(given_as)


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_other_name_values_raise_only_profile_errors(value: bytes) -> None:
    try:
        cert = certificate([x509.OtherName(profile.OID_NAME, value), *names()[1:]])
    except ValueError:
        return  # cryptography refused to encode it; nothing to parse
    parse_or_profile_error(cert.public_bytes(serialization.Encoding.DER))
