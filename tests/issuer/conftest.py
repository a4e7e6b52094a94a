"""Fixtures for the issuer tests: a served TEST JPKI CA, cards, and an IssuerContext on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import open_engine
from issuer.context import IssuerContext, IssuerSettings, OperatorSecrets
from issuer.db import create_schema
from jpki_bridge.revocation import OcspProvider
from jpki_bridge.testca import CardIdentity, TestCA
from tests.database import KINDS, database_url
from tests.helpers import load_person, serve

ISSUER_URL = "http://127.0.0.1:8000"
ISSUER_DID = "did:web:127.0.0.1%3A8000"


@dataclass
class ServedCA:
    """A TEST JPKI CA behind a real local server (its OCSP responder and CRLs are what the certificates name)."""

    ca: TestCA
    url: str


@pytest.fixture(scope="session")
def served_ca() -> Iterator[ServedCA]:
    """One TEST JPKI CA for the session, served on 127.0.0.1 (OCSP at /ocsp, CRLs under /crl/)."""
    ca = TestCA.create()
    with serve(ca.http_app()) as url:
        ca.base_url = url
        yield ServedCA(ca, url)


@pytest.fixture(scope="session")
def yamada_card(served_ca: ServedCA) -> CardIdentity:
    """A card issued to the 'yamada' test person (shared: tests must not revoke it; issue their own for that)."""
    return served_ca.ca.issue(load_person("yamada"))


@pytest.fixture(params=KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with the issuer's tables, on SQLite and on PostgreSQL."""
    with database_url(request.param, tmp_path) as url:
        engine = open_engine(url)
        try:
            create_schema(engine)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def issuer_context(engine: Engine, served_ca: ServedCA) -> IssuerContext:
    """An issuer on the given database trusting the served TEST CA (revocation by its OCSP responder)."""
    return IssuerContext(
        base_url=ISSUER_URL,
        did=ISSUER_DID,
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=served_ca.ca.trust_anchors(),
        revocation=OcspProvider(),
        settings=IssuerSettings(),
    )
