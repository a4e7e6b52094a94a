"""A TEST certification authority that mirrors the J-LIS JPKI profile, for the software card and for tests.

It mirrors docs/jpki.md §2: separate sign and auth trees, three self-signed root generations per tree that share
one DN and differ by key (the oldest already expired), RSA keys, end-entity certificates valid until the holder's
5th birthday after issuance, the six basic-4-info ``otherName`` entries on signature certificates only, the J-LIS
key usages and certificate policies, directoryName CRL distribution points (plus HTTP ones when ``base_url`` is
set). Every name it writes says TEST (``O=xid TEST JPKI``, ``CN=TEST…``), so a certificate from it can never be
taken for a J-LIS one; production trust anchors are pinned by fingerprint in ``jpki_bridge.trust`` in any case.

It also revokes (signed CRLs, an OCSP responder built with ``cryptography``'s OCSP builders, a Starlette app that
serves both over HTTP) and renews (new key and serial for the same person).

One idea per module: ``common`` (trees, clock, TEST names, errors), ``person`` (the holder and the card identity),
``certificates`` (the certificate profile), ``ca`` (the CA and its records), ``responder`` (CRL and OCSP
building), ``app`` (the HTTP server), ``store`` (saving and loading). Import the names from here.

Errors (all ``JpkiError``)::

    TestCAError             testCaError       misuse: unknown tree/generation, no live root, unknown certificate
    ├── PersonError         invalidPerson     a person file or value is missing or invalid
    └── TestCAStoreError    testCaStore       a saved CA directory is missing or unreadable
"""

from __future__ import annotations

from jpki_bridge.testca.ca import TestCA
from jpki_bridge.testca.certificates import RootGeneration, fifth_birthday_after
from jpki_bridge.testca.common import (
    TEST_ORGANIZATION,
    TREES,
    Clock,
    PersonError,
    TestCAError,
    TestCAStoreError,
    Tree,
    root_name,
    utc_now,
)
from jpki_bridge.testca.person import CardIdentity, Person, SexCode, check_my_number
from jpki_bridge.testca.responder import CertificateStatus

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
