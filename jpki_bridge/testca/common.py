"""What every part of the TEST CA shares: the two trees, the clock, the names that say TEST, and the errors.

Errors (all ``JpkiError``)::

    TestCAError             testCaError       misuse: unknown tree/generation, no live root, unknown certificate
    ├── PersonError         invalidPerson     a person file or value is missing or invalid
    └── TestCAStoreError    testCaStore       a saved CA directory is missing or unreadable
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final, Literal, get_args

from cryptography import x509
from cryptography.x509.oid import NameOID

from jpki_bridge.errors import JpkiError

__all__ = [
    "TEST_ORGANIZATION",
    "TREES",
    "TREE_UNITS",
    "Clock",
    "PersonError",
    "TestCAError",
    "TestCAStoreError",
    "Tree",
    "alt_directory_name",
    "root_name",
    "second",
    "tree_of",
    "utc_now",
]

Tree = Literal["sign", "auth"]
TREES: tuple[Tree, ...] = get_args(Tree)
Clock = Callable[[], dt.datetime]

TEST_ORGANIZATION: Final = "xid TEST JPKI"
TREE_UNITS: Final[dict[Tree, str]] = {
    "sign": "TEST JPKI for digital signature",
    "auth": "TEST JPKI for user authentication",
}
"""The organisational unit naming each tree (J-LIS: ``JPKI for digital signature`` / ``... user authentication``)."""
_NOT_JLIS_OU: Final = "xid TEST CA - not Japan Agency for Local Authority Information Systems"
_ALT_ORGANIZATION: Final = "xid TEST 公的個人認証サービス (not J-LIS)"


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


def second(when: dt.datetime) -> dt.datetime:
    """An aware time in UTC truncated to the second (certificates, CRLs and OCSP carry whole seconds)."""
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return when.astimezone(dt.UTC).replace(microsecond=0)


def tree_of(value: object) -> Tree:
    """``value`` as a Tree, or TestCAError."""
    if value == "sign":
        return "sign"
    if value == "auth":
        return "auth"
    raise TestCAError(f"unknown tree {value!r}; expected 'sign' or 'auth'")


def root_name(tree: Tree) -> x509.Name:
    """The DN shared by every root generation of a TEST tree (mirrors the J-LIS layout, says TEST)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TREE_UNITS[tree]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _NOT_JLIS_OU),
        ]
    )


def alt_directory_name() -> x509.DirectoryName:
    """The issuer/subject alternative name every TEST certificate carries (J-LIS writes its Japanese name)."""
    return x509.DirectoryName(
        x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ALT_ORGANIZATION),
            ]
        )
    )
