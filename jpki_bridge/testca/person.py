"""The test card holder (``Person``: basic 4 info and My Number, read from and written to TOML) and what a test
card holds (``CardIdentity``: keys and certificates, written to JSON as PEM)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, cast, get_args

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jpki_bridge import mynumber, profile
from jpki_bridge.testca.common import PersonError, TestCAStoreError

__all__ = [
    "IDENTITY_FIELDS",
    "CardIdentity",
    "Person",
    "SexCode",
    "check_my_number",
    "load_pem",
    "pem",
]

SexCode = Literal["1", "2", "3"]


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
        return json.dumps({name: pem(getattr(self, name)) for name in IDENTITY_FIELDS}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CardIdentity:
        """Read an identity written by to_json."""
        try:
            data = json.loads(text)
            values = {name: load_pem(name, data[name]) for name in IDENTITY_FIELDS}
        except (ValueError, KeyError, TypeError):
            raise TestCAStoreError("the card identity file is not a valid identity") from None
        return cls(**values)  # type: ignore[arg-type]


IDENTITY_FIELDS: Final = ("sign_key", "sign_cert", "sign_ca", "auth_key", "auth_cert", "auth_ca")


def pem(value: object) -> str:
    """PEM text of an RSA private key (unencrypted: TEST keys only) or a certificate."""
    if isinstance(value, rsa.RSAPrivateKey):
        return value.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
    if isinstance(value, x509.Certificate):
        return value.public_bytes(serialization.Encoding.PEM).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def load_pem(name: str, text: str) -> rsa.RSAPrivateKey | x509.Certificate:
    """Read what ``pem`` wrote: an RSA key when ``name`` ends in ``_key``, else a certificate."""
    if name.endswith("_key"):
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("not an RSA key")
        return key
    return x509.load_pem_x509_certificate(text.encode("ascii"))
