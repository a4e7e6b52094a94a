"""Fixtures of the OIDC facade's tests (each part adds what it needs below its own marker comment)."""

# -- consent (tests/oidc/test_consent*.py) ------------------------------------------------------------------------

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from did import Resolver
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.b64 import b64url_encode
from foundation.db import open_engine
from ledger.log import Log
from ledger.store import Store
from oidc.context import OidcContext
from oidc.db import create_schema as create_oidc_schema
from tests.database import KINDS, database_url
from tests.oidc.login_support import login_world  # noqa: F401 - the login part's fixture
from verifier.context import VerifierContext
from verifier.db import create_schema as create_verifier_schema

OP_URL = "https://op.example"


class FakeSubjects:
    """The issuer's pairwise derivation in small: holder thumbprints map to person ids (two keys = a renewal)."""

    def __init__(self) -> None:
        self.persons: dict[str, str] = {}
        self.key = b"p" * 32

    def pairwise(self, holder: str, sector: str) -> str | None:
        """HMAC of the sector and the holder's person id, or None for an unknown holder."""
        person = self.persons.get(holder)
        if person is None:
            return None
        return b64url_encode(hmac.new(self.key, f"{sector}\x00{person}".encode(), hashlib.sha256).digest())


def _no_status(url: str) -> str:
    raise AssertionError(f"the consent tests fetch no status list ({url})")


@pytest.fixture(params=KINDS)
def oidc_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with the verifier's and the facade's tables, on SQLite and on PostgreSQL."""
    with database_url(request.param, tmp_path) as url:
        engine = open_engine(url)
        try:
            create_verifier_schema(engine)
            create_oidc_schema(engine)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def consent_ledger(tmp_path: Path) -> Iterator[Log]:
    """A real ledger on SQLite."""
    from foundation.db import sqlite_engine

    signer = SoftwareSigner.generate(KeyType.ED25519)
    with Log(Store(sqlite_engine(tmp_path / "ledger.sqlite3")), signer, origin="op.example/log") as log:
        yield log


@pytest.fixture
def consent_context(oidc_engine: Engine, consent_ledger: Log, tmp_path: Path) -> OidcContext:
    """An OidcContext on the test database with fake subjects and a real ledger."""
    verifier = VerifierContext(
        base_url=OP_URL,
        engine=oidc_engine,
        signer=SoftwareSigner.generate(KeyType.P256),
        x5c=(),
        did="did:web:op.example",
        resolver=Resolver.standard(),
        status_source=_no_status,
        trusted_issuers=(),
        ledger_key=b"l" * 32,
    )
    return OidcContext(
        base_url=OP_URL,
        engine=oidc_engine,
        verifier=verifier,
        subjects=FakeSubjects(),
        identity_vct=f"{OP_URL}/vct/identity",
        keys_dir=tmp_path / "keys",
        ledger_key=b"l" * 32,
        ledger=consent_ledger,
    )
