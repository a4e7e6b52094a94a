"""Transitional: the module moved to ``jpki_bridge.testca.ca`` whole; the next commit splits it by idea."""

from __future__ import annotations

from jpki_bridge.testca.ca import (
    TEST_ORGANIZATION,
    TREES,
    CardIdentity,
    CertificateStatus,
    Clock,
    Person,
    PersonError,
    RootGeneration,
    SexCode,
    TestCA,
    TestCAError,
    TestCAStoreError,
    Tree,
    check_my_number,
    fifth_birthday_after,
    root_name,
    utc_now,
)

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
