"""Session-wide TEST JPKI CA and card identity (the card tests use these fixtures too).

The CA is created once per test session (RSA-2048 key generation is the slow part). It is shared and mutable:
tests that revoke or renew must issue their own identities (``test_ca.issue(person)``), never touch ``identity``.
"""

from __future__ import annotations

import pytest

from jpki_bridge.testca import CardIdentity, Person, TestCA
from tests.helpers import load_person


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    """The session's TEST CA: sign and auth trees, root generations 01 (expired), 02 and 03."""
    return TestCA.create(key_size=2048)


@pytest.fixture(scope="session")
def person() -> Person:
    """The default example person (tests/jpki/persons/yamada.toml)."""
    return load_person("yamada")


@pytest.fixture(scope="session")
def identity(test_ca: TestCA, person: Person) -> CardIdentity:
    """A card identity for the default person, issued now by the current root generation. Never revoke it."""
    return test_ca.issue(person)
