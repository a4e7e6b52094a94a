"""A TEST certification authority that mirrors the J-LIS JPKI profile, for the software card and for tests.

It mirrors jpki.md §2: separate sign and auth trees, three self-signed root generations per tree that share one DN
and differ by key (the oldest already expired), RSA keys, end-entity certificates valid until the holder's 5th
birthday after issuance, the six basic-4-info ``otherName`` entries on signature certificates only, the J-LIS key
usages and certificate policies, directoryName CRL distribution points (plus HTTP ones when ``base_url`` is set).
Every name it writes says TEST (``O=xid TEST JPKI``, ``CN=TEST…``), so a certificate from it can never be taken
for a J-LIS one; production trust anchors are pinned by fingerprint in ``jpki_bridge.trust`` in any case.

It also revokes (signed CRLs, an OCSP responder built with ``cryptography``'s OCSP builders, a Starlette app that
serves both over HTTP) and renews (new key and serial for the same person).

Errors (all ``JpkiError``)::

    TestCAError             testCaError       misuse: unknown tree/generation, no live root, unknown certificate
    ├── PersonError         invalidPerson     a person file or value is missing or invalid
    └── TestCAStoreError    testCaStore       a saved CA directory is missing or unreadable
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jpki_bridge import mynumber, profile
from jpki_bridge.errors import JpkiError
from jpki_bridge.revocation import issuer_hashes
from jpki_bridge.trust import Anchor, TrustAnchors

__all__ = [
    "TEST_ORGANIZATION",
    "TREES",
    "CardIdentity",
    "CertificateStatus",
    "Clock",
    "Person",
    "PersonError",
    "RootGeneration",
    "SexCode",
    "TestCA",
    "TestCAError",
    "TestCAStoreError",
    "Tree",
    "check_my_number",
    "fifth_birthday_after",
    "root_name",
    "utc_now",
]

Tree = Literal["sign", "auth"]
TREES: tuple[Tree, ...] = get_args(Tree)
SexCode = Literal["1", "2", "3"]
Clock = Callable[[], dt.datetime]

TEST_ORGANIZATION = "xid TEST JPKI"
_TREE_OU = {"sign": "TEST JPKI for digital signature", "auth": "TEST JPKI for user authentication"}
_NOT_JLIS_OU = "xid TEST CA - not Japan Agency for Local Authority Information Systems"
_ALT_ORGANIZATION = "xid TEST 公的個人認証サービス (not J-LIS)"
_JST = dt.timezone(dt.timedelta(hours=9))
# Root generations relative to the CA's creation time, mirroring the J-LIS 2015 / 2019 / 2023 roots as of 2026:
# (label, starts this many days before creation, ten-year lifetime). "01" is already expired.
_GENERATIONS = (("01", 4055), ("02", 2629), ("03", 1228))
_ROOT_LIFETIME = dt.timedelta(days=3652)
_MAX_OCSP_REQUEST = 16 * 1024
_STORE_FILE = "testca.json"
_STORE_FORMAT = "xid-testca-v1"


class TestCAError(JpkiError):
    """The test CA was asked for something it cannot do."""

    __test__ = False
    code = "testCaError"


class PersonError(TestCAError):
    """A test person's data is missing or invalid."""

    code = "invalidPerson"


class TestCAStoreError(TestCAError):
    """A saved test CA could not be read."""

    __test__ = False
    code = "testCaStore"


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


def check_my_number(my_number: str) -> None:
    """Check a 12-digit My Number and its check digit, raising PersonError without echoing the number."""
    if len(my_number) != 12 or not my_number.isascii() or not my_number.isdigit():
        raise PersonError("my_number must be exactly 12 ASCII digits")
    try:
        mynumber.check_my_number(my_number)
    except mynumber.MyNumberError:
        raise PersonError("my_number has a wrong check digit") from None


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string: same escapes, \uXXXX for control characters.
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Person:
    """A test card holder: the basic 4 info as the certificate carries them, plus the My Number."""

    name: str
    sex: SexCode
    date_of_birth: str
    address: str
    my_number: str
    name_substitution: str = ""
    address_substitution: str = ""

    def __post_init__(self) -> None:
        if not self.name_substitution:
            object.__setattr__(self, "name_substitution", "0" * len(self.name))
        if not self.address_substitution:
            object.__setattr__(self, "address_substitution", "0" * len(self.address))
        try:
            self.basic4()
        except profile.ProfileError as exc:
            raise PersonError(exc.message) from None
        check_my_number(self.my_number)

    def basic4(self) -> profile.Basic4Info:
        """The basic 4 info a signature certificate for this person carries."""
        return profile.basic4_from_values(
            name=self.name,
            name_substitution=self.name_substitution,
            sex=self.sex,
            date_of_birth=self.date_of_birth,
            address=self.address,
            address_substitution=self.address_substitution,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], source: str = "person") -> Person:
        """Build a person from a TOML-style mapping, naming the field in every error."""
        known = {"name", "sex", "date_of_birth", "address", "my_number", "name_substitution", "address_substitution"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PersonError(f"{source}: unknown field(s) {', '.join(unknown)}")
        values: dict[str, str] = {}
        for key in sorted(known):
            raw = data.get(key)
            if raw is None:
                if key in ("name_substitution", "address_substitution"):
                    continue
                raise PersonError(f"{source}: required field '{key}' is missing")
            if not isinstance(raw, str):
                raise PersonError(f"{source}: field '{key}' must be a string (quote it, e.g. sex = \"1\")")
            values[key] = raw
        if values["sex"] not in get_args(SexCode):
            raise PersonError(f'{source}: field \'sex\' must be "1" (male), "2" (female) or "3" (unknown)')
        try:
            return cls(
                name=values["name"],
                sex=cast(SexCode, values["sex"]),
                date_of_birth=values["date_of_birth"],
                address=values["address"],
                my_number=values["my_number"],
                name_substitution=values.get("name_substitution", ""),
                address_substitution=values.get("address_substitution", ""),
            )
        except PersonError as exc:
            raise PersonError(f"{source}: {exc.message}") from None

    @classmethod
    def from_toml(cls, path: Path) -> Person:
        """Read a person from a TOML file (see tests/jpki/persons/ for examples)."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PersonError(f"{path}: no such person file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PersonError(f"{path}: cannot read the person file ({type(exc).__name__})") from None
        except tomllib.TOMLDecodeError as exc:
            raise PersonError(f"{path}: not valid TOML ({exc})") from None
        return cls.from_mapping(data, source=str(path))

    def to_toml(self) -> str:
        """Serialise to TOML that from_toml reads back to an equal Person."""
        lines = [
            f"name = {_toml_string(self.name)}",
            f"name_substitution = {_toml_string(self.name_substitution)}",
            f"sex = {_toml_string(self.sex)}",
            f"date_of_birth = {_toml_string(self.date_of_birth)}",
            f"address = {_toml_string(self.address)}",
            f"address_substitution = {_toml_string(self.address_substitution)}",
            f"my_number = {_toml_string(self.my_number)}",
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CardIdentity:
    """The keys and certificates a test card holds: the sign pair with its CA, the auth pair with its CA."""

    sign_key: rsa.RSAPrivateKey
    sign_cert: x509.Certificate
    sign_ca: x509.Certificate
    auth_key: rsa.RSAPrivateKey
    auth_cert: x509.Certificate
    auth_ca: x509.Certificate

    def to_json(self) -> str:
        """Serialise keys (unencrypted PEM: TEST keys only) and certificates."""
        return json.dumps({name: _pem(getattr(self, name)) for name in _IDENTITY_FIELDS}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CardIdentity:
        """Read an identity written by to_json."""
        try:
            data = json.loads(text)
            values = {name: _load_pem(name, data[name]) for name in _IDENTITY_FIELDS}
        except (ValueError, KeyError, TypeError):
            raise TestCAStoreError("the card identity file is not a valid identity") from None
        return cls(**values)  # type: ignore[arg-type]


_IDENTITY_FIELDS = ("sign_key", "sign_cert", "sign_ca", "auth_key", "auth_cert", "auth_ca")


def _pem(value: object) -> str:
    if isinstance(value, rsa.RSAPrivateKey):
        return value.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
    if isinstance(value, x509.Certificate):
        return value.public_bytes(serialization.Encoding.PEM).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _load_pem(name: str, text: str) -> rsa.RSAPrivateKey | x509.Certificate:
    if name.endswith("_key"):
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("not an RSA key")
        return key
    return x509.load_pem_x509_certificate(text.encode("ascii"))


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


@dataclass(frozen=True)
class CertificateStatus:
    """What the CA knows about one serial under one root: good, revoked (with time and reason) or unknown."""

    status: Literal["good", "revoked", "unknown"]
    revocation_time: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None


@dataclass
class _Issued:
    tree: Tree
    generation: str
    serial: int
    not_after: dt.datetime
    person: Person | None = None


@dataclass
class _Revoked:
    time: dt.datetime
    reason: x509.ReasonFlags


def _utf8string(text: str) -> bytes:
    content = text.encode("utf-8")
    length = len(content)
    if length < 0x80:
        header = bytes([length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([0x80 | size]) + length.to_bytes(size, "big")
    return b"\x0c" + header + content


def root_name(tree: Tree) -> x509.Name:
    """The DN shared by every root generation of a TEST tree (mirrors the J-LIS layout, says TEST)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _TREE_OU[tree]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _NOT_JLIS_OU),
        ]
    )


def _alt_directory_name() -> x509.DirectoryName:
    return x509.DirectoryName(
        x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ALT_ORGANIZATION),
            ]
        )
    )


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


class TestCA:
    """A TEST JPKI CA: sign and auth trees with root generations, issuance, renewal, revocation, CRL and OCSP."""

    __test__ = False

    def __init__(
        self,
        roots: Mapping[Tree, list[RootGeneration]],
        *,
        key_size: int = 2048,
        clock: Clock = utc_now,
        base_url: str | None = None,
        crl_validity: dt.timedelta = dt.timedelta(days=1),
        ocsp_validity: dt.timedelta = dt.timedelta(hours=4),
    ) -> None:
        for tree in TREES:
            if not roots.get(tree):
                raise TestCAError(f"the {tree} tree needs at least one root generation")
        self._roots: dict[Tree, list[RootGeneration]] = {
            tree: sorted(roots[tree], key=lambda root: root.label) for tree in TREES
        }
        self.key_size = key_size
        self.clock = clock
        self.base_url = base_url
        self.crl_validity = crl_validity
        self.ocsp_validity = ocsp_validity
        self._issued: dict[tuple[Tree, str, int], _Issued] = {}
        self._revoked: dict[tuple[Tree, str, int], _Revoked] = {}
        self._crl_number = 0

    @classmethod
    def create(
        cls,
        *,
        now: dt.datetime | None = None,
        key_size: int = 2048,
        clock: Clock = utc_now,
        base_url: str | None = None,
    ) -> TestCA:
        """Generate a new CA: three root generations per tree, the oldest expired at ``now``."""
        created = _second(now or clock())
        roots: dict[Tree, list[RootGeneration]] = {}
        for tree in TREES:
            roots[tree] = []
            for label, days_before in _GENERATIONS:
                key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
                start = created - dt.timedelta(days=days_before)
                cert = _root_certificate(tree, key, start, start + _ROOT_LIFETIME)
                roots[tree].append(RootGeneration(tree, label, key, cert))
        return cls(roots, key_size=key_size, clock=clock, base_url=base_url)

    # -- roots -------------------------------------------------------------------------------------------------

    def roots(self, tree: Tree) -> tuple[RootGeneration, ...]:
        """All root generations of a tree, oldest first."""
        return tuple(self._roots[_tree(tree)])

    def root(self, tree: Tree, generation: str) -> RootGeneration:
        """One root generation by its label."""
        for root in self._roots[_tree(tree)]:
            if root.label == generation:
                return root
        raise TestCAError(f"the {tree} tree has no root generation {generation!r}")

    def current_root(self, tree: Tree, now: dt.datetime | None = None) -> RootGeneration:
        """The newest root generation valid at ``now`` (the one that issues new certificates)."""
        when = now or self.clock()
        live = [root for root in self._roots[_tree(tree)] if root.valid_at(when)]
        if not live:
            raise TestCAError(f"no {tree} root generation is valid at {when.isoformat()}")
        return live[-1]

    def trust_anchor_certificates(self, tree: Tree) -> tuple[x509.Certificate, ...]:
        """The root certificates of a tree, for TrustAnchors.for_testing."""
        return tuple(root.cert for root in self._roots[_tree(tree)])

    # -- issuance ----------------------------------------------------------------------------------------------

    def issue(
        self,
        person: Person,
        now: dt.datetime | None = None,
        *,
        generation: str | None = None,
    ) -> CardIdentity:
        """Issue a card: a sign and an auth key pair with certificates valid to the 5th birthday after ``now``."""
        issued_at = _second(now or self.clock())
        sign_root = self.root("sign", generation) if generation else self.current_root("sign", issued_at)
        auth_root = self.root("auth", generation) if generation else self.current_root("auth", issued_at)
        not_after = fifth_birthday_after(issued_at, profile.DateOfBirth.parse(person.date_of_birth))
        sign_key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        auth_key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        sign_cert = self._end_entity(sign_root, sign_key.public_key(), issued_at, not_after, person)
        auth_cert = self._end_entity(auth_root, auth_key.public_key(), issued_at, not_after, None)
        self._issued[("sign", sign_root.label, sign_cert.serial_number)] = _Issued(
            "sign", sign_root.label, sign_cert.serial_number, sign_cert.not_valid_after_utc, person
        )
        self._issued[("auth", auth_root.label, auth_cert.serial_number)] = _Issued(
            "auth", auth_root.label, auth_cert.serial_number, auth_cert.not_valid_after_utc, person
        )
        return CardIdentity(sign_key, sign_cert, sign_root.cert, auth_key, auth_cert, auth_root.cert)

    def renew(
        self, identity_or_person: CardIdentity | Person, now: dt.datetime | None = None, *, revoke_old: bool = True
    ) -> CardIdentity:
        """Issue new keys and certificates (new serials) for the same person; the old pair is revoked (superseded)."""
        if isinstance(identity_or_person, Person):
            return self.issue(identity_or_person, now)
        old = identity_or_person
        record = self._record(old.sign_cert)
        if record.person is None:
            raise TestCAError("this CA holds no person record for the identity's signature certificate")
        when = _second(now or self.clock())
        renewed = self.issue(record.person, when)
        if revoke_old:
            self.revoke(old.sign_cert, x509.ReasonFlags.superseded, when)
            self.revoke(old.auth_cert, x509.ReasonFlags.superseded, when)
        return renewed

    def person_of(self, cert: x509.Certificate) -> Person | None:
        """The person a certificate from this CA was issued to, if the CA knows."""
        return self._record(cert).person

    def _record(self, cert: x509.Certificate) -> _Issued:
        for key, record in self._issued.items():
            if key[2] == cert.serial_number and self.root(key[0], key[1]).cert.subject == cert.issuer:
                return record
        raise TestCAError("the certificate was not issued by this test CA")

    def _end_entity(
        self,
        root: RootGeneration,
        public_key: rsa.RSAPublicKey,
        not_before: dt.datetime,
        not_after: dt.datetime,
        person: Person | None,
    ) -> x509.Certificate:
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
            .add_extension(x509.IssuerAlternativeName([_alt_directory_name()]), critical=False)
            .add_extension(self._distribution_points(root), critical=False)
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
        if self.base_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.oid.AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(f"{self.base_url}/ocsp"),
                        )
                    ]
                ),
                critical=False,
            )
        return builder.sign(root.key, hashes.SHA256())

    def _distribution_points(self, root: RootGeneration) -> x509.CRLDistributionPoints:
        directory = x509.DirectoryName(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _TREE_OU[root.tree]),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST Prefecture"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "TEST Municipality"),
                ]
            )
        )
        names: list[x509.GeneralName] = [directory]
        if self.base_url:
            names.append(x509.UniformResourceIdentifier(self.crl_url(root.tree, root.label)))
        return x509.CRLDistributionPoints([x509.DistributionPoint(names, None, None, None)])

    def crl_url(self, tree: Tree, generation: str) -> str:
        """Where the HTTP app serves one root generation's CRL (needs ``base_url``)."""
        if not self.base_url:
            raise TestCAError("the test CA has no base_url, so it has no CRL URL")
        return f"{self.base_url}/crl/{tree}-{generation}.crl"

    # -- revocation --------------------------------------------------------------------------------------------

    def revoke(
        self,
        cert: x509.Certificate,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
        time: dt.datetime | None = None,
    ) -> None:
        """Revoke a certificate this CA issued (the first revocation of a certificate stands)."""
        record = self._record(cert)
        key = (record.tree, record.generation, record.serial)
        self._revoked.setdefault(key, _Revoked(_second(time or self.clock()), reason))

    def status(self, root: RootGeneration, serial: int, at: dt.datetime | None = None) -> CertificateStatus:
        """The status of a serial under a root at a time: revoked if revoked by then, good if issued, else unknown."""
        key = (root.tree, root.label, serial)
        when = at or self.clock()
        revoked = self._revoked.get(key)
        if revoked is not None and revoked.time <= when:
            return CertificateStatus("revoked", revoked.time, revoked.reason)
        if key in self._issued:
            return CertificateStatus("good")
        return CertificateStatus("unknown")

    def crl(
        self, tree: Tree, now: dt.datetime | None = None, *, generation: str | None = None
    ) -> x509.CertificateRevocationList:
        """A signed CRL of one root generation (default: the current one) listing what it revoked by ``now``."""
        when = _second(now or self.clock())
        root = self.root(tree, generation) if generation else self.current_root(tree, when)
        self._crl_number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(root.cert.subject)
            .last_update(when)
            .next_update(when + self.crl_validity)
            .add_extension(x509.CRLNumber(self._crl_number), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
        )
        for (entry_tree, label, serial), revoked in sorted(self._revoked.items()):
            if entry_tree != root.tree or label != root.label or revoked.time > when:
                continue
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked.time)
            if revoked.reason is not x509.ReasonFlags.unspecified:
                entry = entry.add_extension(x509.CRLReason(revoked.reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(root.key, hashes.SHA256())

    def ocsp_response(self, request_der: bytes, now: dt.datetime | None = None) -> bytes:
        """Answer a DER OCSP request (RFC 6960), signed by the issuing root itself; echoes the request nonce."""
        when = _second(now or self.clock())
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            serial = request.serial_number
            algorithm = request.hash_algorithm
            name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
            nonce = _request_nonce(request)
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if not isinstance(algorithm, hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        root = self._root_by_hashes(algorithm, name_hash, key_hash)
        if root is None:
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        status = self.status(root, serial, when)
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status.status]
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=serial,
                algorithm=algorithm,
                cert_status=cert_status,
                this_update=when,
                next_update=when + self.ocsp_validity,
                revocation_time=status.revocation_time,
                revocation_reason=status.reason if status.status == "revoked" else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, root.cert)
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.sign(root.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _root_by_hashes(
        self, algorithm: hashes.HashAlgorithm, name_hash: bytes, key_hash: bytes
    ) -> RootGeneration | None:
        for roots in self._roots.values():
            for root in roots:
                if issuer_hashes(root.cert, algorithm) == (name_hash, key_hash):
                    return root
        return None

    def ocsp_delegate(
        self, tree: Tree, generation: str, now: dt.datetime | None = None
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """A delegated OCSP responder key and certificate (EKU OCSPSigning) issued by one root, for tests."""
        root = self.root(tree, generation)
        when = _second(now or self.clock())
        key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
                        x509.NameAttribute(NameOID.COMMON_NAME, f"TEST OCSP responder {tree}-{generation}"),
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
        return key, cert

    # -- HTTP --------------------------------------------------------------------------------------------------

    def http_app(self, clock: Clock | None = None) -> Starlette:
        """A Starlette app: ``POST /ocsp`` (application/ocsp-request) and ``GET /crl/<tree>[-<generation>].crl``."""
        now = clock or self.clock

        async def ocsp_endpoint(request: Request) -> Response:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/ocsp-request":
                return Response("expected application/ocsp-request\n", status_code=415, media_type="text/plain")
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > _MAX_OCSP_REQUEST:
                    return Response("OCSP request too large\n", status_code=413, media_type="text/plain")
            return Response(self.ocsp_response(body, now()), media_type="application/ocsp-response")

        async def crl_endpoint(request: Request) -> Response:
            name = request.path_params["name"]
            tree, _, generation = name.partition("-")
            if tree not in TREES:
                return Response("unknown CRL\n", status_code=404, media_type="text/plain")
            try:
                crl = self.crl(cast(Tree, tree), now(), generation=generation or None)
            except TestCAError:
                return Response("unknown CRL\n", status_code=404, media_type="text/plain")
            return Response(crl.public_bytes(serialization.Encoding.DER), media_type="application/pkix-crl")

        return Starlette(
            routes=[
                Route("/ocsp", ocsp_endpoint, methods=["POST"]),
                Route("/crl/{name}.crl", crl_endpoint, methods=["GET"]),
            ]
        )

    # -- persistence -------------------------------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write the CA (TEST keys unencrypted, mode 0600) to ``directory/testca.json``; returns the file."""
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = {
            "format": _STORE_FORMAT,
            "key_size": self.key_size,
            "base_url": self.base_url,
            "crl_number": self._crl_number,
            "roots": [
                {"tree": r.tree, "label": r.label, "key": _pem(r.key), "cert": _pem(r.cert)}
                for tree in TREES
                for r in self._roots[tree]
            ],
            "issued": [
                {
                    "tree": i.tree,
                    "generation": i.generation,
                    "serial": format(i.serial, "x"),
                    "not_after": i.not_after.isoformat(),
                    "person": None if i.person is None else i.person.to_toml(),
                }
                for i in self._issued.values()
            ],
            "revoked": [
                {
                    "tree": tree,
                    "generation": label,
                    "serial": format(serial, "x"),
                    "time": r.time.isoformat(),
                    "reason": r.reason.value,
                }
                for (tree, label, serial), r in self._revoked.items()
            ],
        }
        path = directory / _STORE_FILE
        tmp = directory / (_STORE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, ensure_ascii=False, indent=1)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: Path, *, clock: Clock = utc_now) -> TestCA:
        """Read a CA written by save."""
        path = Path(directory) / _STORE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TestCAStoreError(f"no test CA at {path}") from None
        except (OSError, ValueError) as exc:
            raise TestCAStoreError(f"cannot read the test CA at {path} ({type(exc).__name__})") from None
        try:
            if state["format"] != _STORE_FORMAT:
                raise TestCAStoreError(f"{path} is not a {_STORE_FORMAT} file")
            roots: dict[Tree, list[RootGeneration]] = {tree: [] for tree in TREES}
            for item in state["roots"]:
                tree = _tree(item["tree"])
                key = _load_pem("root_key", item["key"])
                cert = _load_pem("root_cert", item["cert"])
                if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(cert, x509.Certificate):
                    raise TestCAStoreError(f"the test CA at {path} holds a root that is not an RSA key and certificate")
                roots[tree].append(RootGeneration(tree, str(item["label"]), key, cert))
            ca = cls(roots, key_size=int(state["key_size"]), clock=clock, base_url=state["base_url"])
            ca._crl_number = int(state["crl_number"])
            for item in state["issued"]:
                tree = _tree(item["tree"])
                person = None
                if item["person"] is not None:
                    person = Person.from_mapping(tomllib.loads(item["person"]), source=str(path))
                record = _Issued(
                    tree,
                    item["generation"],
                    int(item["serial"], 16),
                    dt.datetime.fromisoformat(item["not_after"]),
                    person,
                )
                ca._issued[(tree, record.generation, record.serial)] = record
            for item in state["revoked"]:
                key3 = (_tree(item["tree"]), str(item["generation"]), int(item["serial"], 16))
                ca._revoked[key3] = _Revoked(dt.datetime.fromisoformat(item["time"]), x509.ReasonFlags(item["reason"]))
        except TestCAStoreError:
            raise
        except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError, TestCAError) as exc:
            raise TestCAStoreError(f"the test CA at {path} is damaged ({type(exc).__name__})") from None
        return ca

    def trust_anchors(self) -> TrustAnchors:
        """TrustAnchors holding this CA's roots (every generation of both trees)."""
        return TrustAnchors(
            Anchor(root.tree, f"TEST-{root.tree}ca{root.label}", root.cert)
            for tree in TREES
            for root in self._roots[tree]
        )


def _tree(value: object) -> Tree:
    if value == "sign":
        return "sign"
    if value == "auth":
        return "auth"
    raise TestCAError(f"unknown tree {value!r}; expected 'sign' or 'auth'")


def _second(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return when.astimezone(dt.UTC).replace(microsecond=0)


def _request_nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


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
    # The order seen on a real card (jpki.md §2.3): .1, .4, .3, .5, .2, .6.
    values = [
        (profile.OID_NAME, person.name),
        (profile.OID_DATE_OF_BIRTH, person.date_of_birth),
        (profile.OID_SEX, person.sex),
        (profile.OID_ADDRESS, person.address),
        (profile.OID_NAME_SUBSTITUTION, person.name_substitution),
        (profile.OID_ADDRESS_SUBSTITUTION, person.address_substitution),
    ]
    return [x509.OtherName(oid, _utf8string(text)) for oid, text in values]


def _root_certificate(
    tree: Tree, key: rsa.RSAPrivateKey, not_before: dt.datetime, not_after: dt.datetime
) -> x509.Certificate:
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
        .add_extension(x509.SubjectAlternativeName([_alt_directory_name()]), critical=False)
        .add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint([x509.DirectoryName(name)], None, None, None)]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
