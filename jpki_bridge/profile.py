"""The JPKI certificate profile: the basic 4 info in the signature certificate, and which certificate is which.

The signature certificate (署名用電子証明書) carries the holder's name, sex, date of birth and address as six
subjectAltName ``otherName`` entries under ``1.2.392.200149.8.5.5`` (docs/jpki.md §2.3). Each value is
``[0] EXPLICIT UTF8String``. The parser is strict: the six OIDs exactly once each, nothing else in the extension,
minimal DER, valid UTF-8, and well-formed values. Error messages never contain the personal data itself.

Errors (all ``JpkiError``)::

    ProfileError                        profileError
    ├── CertificateParseError           certificateParseError         not a DER X.509 certificate
    ├── MissingBasic4InfoError          basic4InfoMissing             no subjectAltName, or an entry is absent
    ├── DuplicateBasic4InfoError        basic4InfoDuplicate           an entry appears twice
    ├── UnexpectedSubjectAltNameError   unexpectedSubjectAltName      another name type or OID in the extension
    ├── Basic4InfoEncodingError         basic4InfoEncoding            not a DER UTF8String, or invalid UTF-8
    ├── InvalidNameError                invalidName
    ├── InvalidSexError                 invalidSex
    ├── InvalidDateOfBirthError         invalidDateOfBirth            bad era digit, impossible date, era mismatch
    ├── InvalidAddressError             invalidAddress
    └── InvalidSubstitutionError        invalidSubstitutionPositions  not one 0/1 digit per character
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from jpki_bridge.errors import JpkiError

__all__ = [
    "AUTH_POLICY_ARC",
    "AUTH_POLICY_OID",
    "BASIC4_ARC",
    "BASIC4_OIDS",
    "MAX_ADDRESS_LENGTH",
    "OID_ADDRESS",
    "OID_ADDRESS_SUBSTITUTION",
    "OID_DATE_OF_BIRTH",
    "OID_NAME",
    "OID_NAME_SUBSTITUTION",
    "OID_SEX",
    "SIGN_POLICY_ARC",
    "SIGN_POLICY_OID",
    "Basic4Info",
    "Basic4InfoEncodingError",
    "CertificateParseError",
    "DateOfBirth",
    "DuplicateBasic4InfoError",
    "Era",
    "InvalidAddressError",
    "InvalidDateOfBirthError",
    "InvalidNameError",
    "InvalidSexError",
    "InvalidSubstitutionError",
    "MissingBasic4InfoError",
    "ProfileError",
    "Sex",
    "UnexpectedSubjectAltNameError",
    "basic4_from_values",
    "check_address",
    "check_name",
    "check_substitution",
    "decode_utf8string",
    "is_auth_certificate",
    "is_signature_certificate",
    "load_certificate",
    "parse_signature_certificate",
]

BASIC4_ARC = "1.2.392.200149.8.5.5"
OID_NAME = ObjectIdentifier(f"{BASIC4_ARC}.1")
OID_NAME_SUBSTITUTION = ObjectIdentifier(f"{BASIC4_ARC}.2")
OID_SEX = ObjectIdentifier(f"{BASIC4_ARC}.3")
OID_DATE_OF_BIRTH = ObjectIdentifier(f"{BASIC4_ARC}.4")
OID_ADDRESS = ObjectIdentifier(f"{BASIC4_ARC}.5")
OID_ADDRESS_SUBSTITUTION = ObjectIdentifier(f"{BASIC4_ARC}.6")
BASIC4_OIDS = (OID_NAME, OID_NAME_SUBSTITUTION, OID_SEX, OID_DATE_OF_BIRTH, OID_ADDRESS, OID_ADDRESS_SUBSTITUTION)
_FIELD_NAMES = {
    OID_NAME: "name",
    OID_NAME_SUBSTITUTION: "name substitution positions",
    OID_SEX: "sex",
    OID_DATE_OF_BIRTH: "date of birth",
    OID_ADDRESS: "address",
    OID_ADDRESS_SUBSTITUTION: "address substitution positions",
}

# Certificate policies (docs/jpki.md §2.2, single source): the sign arc and the auth arc, and the class OIDs seen in
# user certificates. Classification uses the arcs; chain validation uses the exact OIDs (configurable there).
SIGN_POLICY_ARC = "1.2.392.200149.8.5.1.1"
AUTH_POLICY_ARC = "1.2.392.200149.8.5.1.3"
SIGN_POLICY_OID = f"{SIGN_POLICY_ARC}.20"
AUTH_POLICY_OID = f"{AUTH_POLICY_ARC}.30"

MAX_ADDRESS_LENGTH = 200
_DOB_RE = re.compile(r"[0-5][0-9]{8}")
_SUBSTITUTION_RE = re.compile(r"[01]*")
_UTF8STRING_TAG = 0x0C


class ProfileError(JpkiError):
    """A certificate does not follow the JPKI profile."""

    code = "profileError"


class CertificateParseError(ProfileError):
    """The bytes are not a strict-DER X.509 certificate."""

    code = "certificateParseError"


class MissingBasic4InfoError(ProfileError):
    """The subjectAltName extension or one of its six basic-4-info entries is absent."""

    code = "basic4InfoMissing"


class DuplicateBasic4InfoError(ProfileError):
    """A basic-4-info entry appears more than once."""

    code = "basic4InfoDuplicate"


class UnexpectedSubjectAltNameError(ProfileError):
    """The subjectAltName holds something besides the six basic-4-info entries."""

    code = "unexpectedSubjectAltName"


class Basic4InfoEncodingError(ProfileError):
    """An entry's value is not a DER UTF8String holding valid UTF-8."""

    code = "basic4InfoEncoding"


class InvalidNameError(ProfileError):
    """The name entry is empty or holds characters a name cannot hold."""

    code = "invalidName"


class InvalidSexError(ProfileError):
    """The sex entry is not 1, 2 or 3."""

    code = "invalidSex"


class InvalidDateOfBirthError(ProfileError):
    """The date of birth is not a valid EYYYYMMDD value."""

    code = "invalidDateOfBirth"


class InvalidAddressError(ProfileError):
    """The address entry is empty, too long, or holds characters an address cannot hold."""

    code = "invalidAddress"


class InvalidSubstitutionError(ProfileError):
    """A substitution-position string is not one 0/1 digit per character of its value."""

    code = "invalidSubstitutionPositions"


class Era(enum.IntEnum):
    """The Japanese era digit that leads a JPKI date of birth."""

    UNKNOWN = 0
    MEIJI = 1
    TAISHO = 2
    SHOWA = 3
    HEISEI = 4
    REIWA = 5

    @property
    def kanji(self) -> str | None:
        """The era's name as written in Japanese (平成), or None for the unknown era."""
        return _ERA_KANJI.get(self)

    @property
    def first_year(self) -> int | None:
        """The Gregorian year of the era's first year (元年), or None for the unknown era."""
        return _ERA_FIRST_YEAR.get(self)


_ERA_KANJI: dict[Era, str] = {
    Era.MEIJI: "明治",
    Era.TAISHO: "大正",
    Era.SHOWA: "昭和",
    Era.HEISEI: "平成",
    Era.REIWA: "令和",
}
_ERA_FIRST_YEAR: dict[Era, int] = {
    Era.MEIJI: 1868,
    Era.TAISHO: 1912,
    Era.SHOWA: 1926,
    Era.HEISEI: 1989,
    Era.REIWA: 2019,
}

# Inclusive Gregorian ranges per era; the first day of Taisho and Showa was also the last day of the era before.
_ERA_RANGES: dict[Era, tuple[dt.date, dt.date]] = {
    Era.MEIJI: (dt.date(1868, 1, 1), dt.date(1912, 7, 30)),
    Era.TAISHO: (dt.date(1912, 7, 30), dt.date(1926, 12, 25)),
    Era.SHOWA: (dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era.HEISEI: (dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    Era.REIWA: (dt.date(2019, 5, 1), dt.date.max),
}
_EARLIEST_YEAR = 1868


class Sex(enum.Enum):
    """The sex code of the basic 4 info."""

    MALE = "1"
    FEMALE = "2"
    UNKNOWN = "3"

    @property
    def label(self) -> str:
        """The sex as a word for people: male, female or unknown."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Sex:
        """Parse the one-character sex code, raising InvalidSexError."""
        for member in cls:
            if member.value == text:
                return member
        raise InvalidSexError("sex must be one of the codes 1, 2 or 3")


@dataclass(frozen=True)
class DateOfBirth:
    """A JPKI date of birth: the era digit and a Gregorian date whose year, month or day may be unknown (None)."""

    era: Era
    year: int | None
    month: int | None
    day: int | None

    @classmethod
    def parse(cls, text: str) -> DateOfBirth:
        """Parse ``EYYYYMMDD`` (zeros for unknown parts), raising InvalidDateOfBirthError."""
        if not _DOB_RE.fullmatch(text):
            raise InvalidDateOfBirthError("date of birth must be 9 ASCII digits EYYYYMMDD with an era digit 0-5")
        era = Era(int(text[0]))
        year, month, day = int(text[1:5]) or None, int(text[5:7]) or None, int(text[7:9]) or None
        if year is None and (month is not None or day is not None):
            raise InvalidDateOfBirthError("date of birth has a month or day but no year")
        if month is None and day is not None:
            raise InvalidDateOfBirthError("date of birth has a day but no month")
        if year is not None and year < _EARLIEST_YEAR:
            raise InvalidDateOfBirthError(f"date of birth year is before {_EARLIEST_YEAR}")
        if month is not None and not 1 <= month <= 12:
            raise InvalidDateOfBirthError("date of birth month is not 01-12")
        if year is not None and month is not None and day is not None:
            try:
                dt.date(year, month, day)
            except ValueError:
                raise InvalidDateOfBirthError("date of birth is not a calendar date") from None
        value = cls(era, year, month, day)
        value._check_era()
        return value

    def _check_era(self) -> None:
        if self.era is Era.UNKNOWN or self.year is None:
            return
        first, last = _ERA_RANGES[self.era]
        latest_possible = (self.year, self.month or 12, self.day or 31)
        earliest_possible = (self.year, self.month or 1, self.day or 1)
        if latest_possible < (first.year, first.month, first.day) or earliest_possible > (
            last.year,
            last.month,
            last.day,
        ):
            raise InvalidDateOfBirthError("date of birth does not fall in the era its era digit names")

    @property
    def text(self) -> str:
        """The ``EYYYYMMDD`` form as written in the certificate."""
        return f"{int(self.era)}{self.year or 0:04d}{self.month or 0:02d}{self.day or 0:02d}"

    @property
    def is_partial(self) -> bool:
        """True when the year, month or day is unknown."""
        return self.year is None or self.month is None or self.day is None

    def as_date(self) -> dt.date | None:
        """The Gregorian date, or None when the date is partial."""
        if self.year is None or self.month is None or self.day is None:
            return None
        return dt.date(self.year, self.month, self.day)

    @property
    def iso(self) -> str | None:
        """ISO 8601 at the precision known: ``1990-01-02``, ``1990-01`` or ``1990``; None when the year is unknown."""
        if self.year is None:
            return None
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    @property
    def era_year(self) -> str | None:
        """The year in the era the card names, as people write it (``平成2年``, ``令和元年``); None if unknown."""
        first = self.era.first_year
        if first is None or self.year is None:
            return None
        number = self.year - first + 1
        return f"{self.era.kanji}{'元' if number == 1 else number}年"

    def display(self) -> str:
        """The date for people: ``1990-01-02 (平成2年)``; partial dates say what is unknown."""
        if self.year is None:
            return "unknown" + (f" ({self.era.kanji})" if self.era.kanji else "")
        unknown = "" if self.month is not None and self.day is not None else "day" if self.month else "month and day"
        notes = [part for part in (self.era_year, f"{unknown} unknown" if unknown else "") if part]
        return f"{self.iso} ({'; '.join(notes)})" if notes else str(self.iso)


@dataclass(frozen=True)
class Basic4Info:
    """The basic 4 info (基本4情報) of a signature certificate, values stored verbatim."""

    name: str
    name_substitution: str
    sex: Sex
    date_of_birth: DateOfBirth
    address: str
    address_substitution: str

    @property
    def name_substituted_positions(self) -> tuple[int, ...]:
        """Zero-based positions of substitute characters (代替文字) in the name."""
        return tuple(i for i, flag in enumerate(self.name_substitution) if flag == "1")

    @property
    def address_substituted_positions(self) -> tuple[int, ...]:
        """Zero-based positions of substitute characters in the address."""
        return tuple(i for i, flag in enumerate(self.address_substitution) if flag == "1")


def load_certificate(cert: x509.Certificate | bytes) -> x509.Certificate:
    """Load a DER certificate (or pass a parsed one through), raising CertificateParseError."""
    if isinstance(cert, x509.Certificate):
        parsed = cert
    elif isinstance(cert, bytes | bytearray | memoryview):
        try:
            parsed = x509.load_der_x509_certificate(bytes(cert))
        except (ValueError, x509.InvalidVersion):
            raise CertificateParseError("the bytes are not a DER-encoded X.509 certificate") from None
    else:
        raise TypeError("certificate must be an x509.Certificate or DER bytes")
    # cryptography decodes names and extensions only when first read, and a malformed one can then raise
    # ValueError, TypeError or its own exceptions; decode them here so every later read is safe.
    try:
        _ = (parsed.subject, parsed.issuer, parsed.extensions)
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise CertificateParseError("the certificate's names or extensions are not valid DER") from None
    return parsed


def decode_utf8string(der: bytes) -> str:
    """Decode exactly one DER UTF8String TLV (minimal length, no trailing bytes), raising Basic4InfoEncodingError."""
    if len(der) < 2 or der[0] != _UTF8STRING_TAG:
        raise Basic4InfoEncodingError("value is not a UTF8String")
    first = der[1]
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            raise Basic4InfoEncodingError("value has an invalid DER length")
        length_bytes = der[2 : 2 + count]
        length, start = int.from_bytes(length_bytes, "big"), 2 + count
        if length_bytes[0] == 0 or length < 0x80:
            raise Basic4InfoEncodingError("value length is not in minimal DER form")
    if len(der) != start + length:
        raise Basic4InfoEncodingError("value length does not match its content")
    try:
        return der[start:].decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Basic4InfoEncodingError("value is not valid UTF-8") from None


def _general_names(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise MissingBasic4InfoError("the certificate has no subjectAltName, so no basic 4 info") from None
    return list(extension.value)


def _collect_entries(cert: x509.Certificate) -> dict[ObjectIdentifier, str]:
    entries: dict[ObjectIdentifier, str] = {}
    for general_name in _general_names(cert):
        if not isinstance(general_name, x509.OtherName):
            raise UnexpectedSubjectAltNameError(
                f"subjectAltName holds a {type(general_name).__name__}; only the six basic-4-info entries are allowed"
            )
        oid = general_name.type_id
        if oid not in _FIELD_NAMES:
            raise UnexpectedSubjectAltNameError(
                f"subjectAltName holds an otherName with unexpected OID {oid.dotted_string}"
            )
        if oid in entries:
            raise DuplicateBasic4InfoError(f"the {_FIELD_NAMES[oid]} entry appears more than once")
        try:
            entries[oid] = decode_utf8string(general_name.value)
        except Basic4InfoEncodingError as exc:
            raise type(exc)(f"the {_FIELD_NAMES[oid]} entry: {exc.message}") from None
    for oid in BASIC4_OIDS:
        if oid not in entries:
            raise MissingBasic4InfoError(f"the {_FIELD_NAMES[oid]} entry is missing")
    return entries


def _check_text(value: str, what: str, error: type[ProfileError]) -> None:
    if not value.strip():
        raise error(f"the {what} is empty")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn") or char == "\ufffd":
            raise error(f"the {what} contains a control, private-use or unassigned character")


def check_substitution(positions: str, value: str, what: str) -> None:
    """Check a substitution-position string: one 0/1 digit per character of value."""
    if not _SUBSTITUTION_RE.fullmatch(positions):
        raise InvalidSubstitutionError(f"the {what} substitution positions may contain only the digits 0 and 1")
    if len(positions) != len(value):
        raise InvalidSubstitutionError(
            f"the {what} substitution positions have {len(positions)} digits for {len(value)} characters"
        )


def check_name(name: str) -> None:
    """Check a basic-4-info name value, raising InvalidNameError."""
    _check_text(name, "name", InvalidNameError)


def check_address(address: str) -> None:
    """Check a basic-4-info address value, raising InvalidAddressError."""
    _check_text(address, "address", InvalidAddressError)
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidAddressError(f"the address is longer than {MAX_ADDRESS_LENGTH} characters")


def basic4_from_values(
    name: str, name_substitution: str, sex: str, date_of_birth: str, address: str, address_substitution: str
) -> Basic4Info:
    """Validate the six text values of the basic 4 info and build a Basic4Info."""
    check_name(name)
    check_substitution(name_substitution, name, "name")
    check_address(address)
    check_substitution(address_substitution, address, "address")
    return Basic4Info(
        name=name,
        name_substitution=name_substitution,
        sex=Sex.parse(sex),
        date_of_birth=DateOfBirth.parse(date_of_birth),
        address=address,
        address_substitution=address_substitution,
    )


def parse_signature_certificate(cert: x509.Certificate | bytes) -> Basic4Info:
    """Extract the basic 4 info from a signature certificate, raising a ProfileError subclass on any defect."""
    entries = _collect_entries(load_certificate(cert))
    return basic4_from_values(
        name=entries[OID_NAME],
        name_substitution=entries[OID_NAME_SUBSTITUTION],
        sex=entries[OID_SEX],
        date_of_birth=entries[OID_DATE_OF_BIRTH],
        address=entries[OID_ADDRESS],
        address_substitution=entries[OID_ADDRESS_SUBSTITUTION],
    )


def _policies(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return []
    return [info.policy_identifier.dotted_string for info in extension.value]


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _under(oid: str, arc: str) -> bool:
    return oid == arc or oid.startswith(arc + ".")


def is_signature_certificate(cert: x509.Certificate | bytes) -> bool:
    """True for a JPKI signature certificate: digitalSignature + nonRepudiation and a policy under the sign arc."""
    parsed = load_certificate(cert)
    usage = _key_usage(parsed)
    if usage is None or not (usage.digital_signature and usage.content_commitment):
        return False
    return any(_under(oid, SIGN_POLICY_ARC) for oid in _policies(parsed))


def is_auth_certificate(cert: x509.Certificate | bytes) -> bool:
    """True for a JPKI authentication certificate: digitalSignature only and a policy under the auth arc."""
    parsed = load_certificate(cert)
    usage = _key_usage(parsed)
    if usage is None or not usage.digital_signature or usage.content_commitment:
        return False
    return any(_under(oid, AUTH_POLICY_ARC) for oid in _policies(parsed))
