"""The TEST certificate profile, mirroring J-LIS's (docs/jpki.md §2): self-signed roots, end-entity certificates
valid until the holder's 5th birthday after issuance, the J-LIS key usages and certificate policies, the six basic
4 info ``otherName`` entries (signature certificates only, in real-card order), directoryName CRL distribution
points, and OCSP responder certificates."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jpki_bridge import profile
from jpki_bridge.testca.common import (
    TEST_ORGANIZATION,
    TREE_UNITS,
    TestCAError,
    Tree,
    alt_directory_name,
    root_name,
)
from jpki_bridge.testca.person import Person

__all__ = [
    "RootGeneration",
    "distribution_points",
    "end_entity_certificate",
    "fifth_birthday_after",
    "responder_certificate",
    "root_certificate",
]

_JST: Final = dt.timezone(dt.timedelta(hours=9))


@dataclass(frozen=True)
class RootGeneration:
    """One self-signed root of one tree (the label orders generations, like J-LIS's 01/02/03)."""

    tree: Tree
    label: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def valid_at(self, when: dt.datetime) -> bool:
        """True when the root's validity period covers the instant."""
        return self.cert.not_valid_before_utc <= when <= self.cert.not_valid_after_utc


def fifth_birthday_after(issued: dt.datetime, date_of_birth: profile.DateOfBirth) -> dt.datetime:
    """End of the holder's 5th birthday after issuance (23:59:59 JST); five years on for an unknown birthday."""
    day = issued.astimezone(_JST).date()
    if date_of_birth.month is None or date_of_birth.day is None:
        month, mday = day.month, day.day
        years = 5
        first = day
    else:
        month, mday = date_of_birth.month, date_of_birth.day
        first = _birthday_in(day.year, month, mday)
        if first <= day:
            first = _birthday_in(day.year + 1, month, mday)
        years = 4
    end = _birthday_in(first.year + years, month, mday)
    return dt.datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=_JST).astimezone(dt.UTC)


def _birthday_in(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:  # 29 February in a common year
        return dt.date(year, 2, 28)


def root_certificate(
    tree: Tree, key: rsa.RSAPrivateKey, not_before: dt.datetime, not_after: dt.datetime
) -> x509.Certificate:
    """A self-signed TEST root: CA:TRUE, keyCertSign and cRLSign, the tree's shared DN."""
    name = root_name(tree)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([alt_directory_name()]), critical=False)
        .add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint([x509.DirectoryName(name)], None, None, None)]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def distribution_points(root: RootGeneration, crl_url: str | None) -> x509.CRLDistributionPoints:
    """The CRL distribution point of a root's certificates: a directoryName, plus ``crl_url`` when given."""
    directory = x509.DirectoryName(
        x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TREE_UNITS[root.tree]),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST Prefecture"),
                x509.NameAttribute(NameOID.COMMON_NAME, "TEST Municipality"),
            ]
        )
    )
    names: list[x509.GeneralName] = [directory]
    if crl_url:
        names.append(x509.UniformResourceIdentifier(crl_url))
    return x509.CRLDistributionPoints([x509.DistributionPoint(names, None, None, None)])


def end_entity_certificate(
    root: RootGeneration,
    public_key: rsa.RSAPublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    person: Person | None,
    *,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> x509.Certificate:
    """A signature (with ``person``) or authentication certificate under ``root``, never outliving it."""
    not_after = min(not_after, root.cert.not_valid_after_utc)
    subject = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
    ]
    if root.tree == "sign":
        subject += [
            x509.NameAttribute(NameOID.LOCALITY_NAME, "TEST Prefecture"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "TEST Municipality"),
        ]
    subject.append(x509.NameAttribute(NameOID.COMMON_NAME, "TEST" + secrets.token_hex(8).upper()))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(root.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
            critical=False,
        )
        .add_extension(x509.IssuerAlternativeName([alt_directory_name()]), critical=False)
        .add_extension(distribution_points(root, crl_url), critical=False)
    )
    if root.tree == "sign":
        if person is None:
            raise TestCAError("a signature certificate needs a person")
        builder = (
            builder.add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
            .add_extension(_policies(profile.SIGN_POLICY_OID), critical=True)
            .add_extension(x509.SubjectAlternativeName(_basic4_names(person)), critical=False)
        )
    else:
        builder = builder.add_extension(_key_usage(digital_signature=True), critical=True).add_extension(
            _policies(profile.AUTH_POLICY_OID), critical=True
        )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(root.key, hashes.SHA256())


def responder_certificate(root: RootGeneration, key: rsa.RSAPrivateKey, when: dt.datetime) -> x509.Certificate:
    """A delegated OCSP responder certificate (EKU OCSPSigning, id-pkix-ocsp-nocheck) valid 30 days from ``when``."""
    return (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"TEST OCSP responder {root.tree}-{root.label}"),
                ]
            )
        )
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(when - dt.timedelta(minutes=5))
        .not_valid_after(min(when + dt.timedelta(days=30), root.cert.not_valid_after_utc))
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
        .sign(root.key, hashes.SHA256())
    )


def _utf8string(text: str) -> bytes:
    content = text.encode("utf-8")
    length = len(content)
    if length < 0x80:
        header = bytes([length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([0x80 | size]) + length.to_bytes(size, "big")
    return b"\x0c" + header + content


def _key_usage(*, digital_signature: bool = False, content_commitment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _policies(oid: str) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(oid), None)])


def _basic4_names(person: Person) -> list[x509.GeneralName]:
    # The order seen on a real card (docs/jpki.md §2.3): .1, .4, .3, .5, .2, .6.
    values = [
        (profile.OID_NAME, person.name),
        (profile.OID_DATE_OF_BIRTH, person.date_of_birth),
        (profile.OID_SEX, person.sex),
        (profile.OID_ADDRESS, person.address),
        (profile.OID_NAME_SUBSTITUTION, person.name_substitution),
        (profile.OID_ADDRESS_SUBSTITUTION, person.address_substitution),
    ]
    return [x509.OtherName(oid, _utf8string(text)) for oid, text in values]
