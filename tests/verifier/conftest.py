"""Fixtures for the verifier tests: a VerifierContext on SQLite or PostgreSQL with a certificate for its key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from did import Resolver
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import open_engine
from tests.database import KINDS, database_url
from verifier.context import VerifierContext
from verifier.db import create_schema

VERIFIER_URL = "http://127.0.0.1:8000"
VERIFIER_DID = "did:web:127.0.0.1%3A8000"


def certificate_chain(signer: SoftwareSigner, dns_name: str) -> tuple[tuple[bytes, ...], bytes]:
    """A leaf for the signer's key with the dNSName, issued by a fresh test root: (x5c without the root, root DER)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xid TEST verifier root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key = signer._key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    return (leaf.public_bytes(der),), root.public_bytes(der)


@pytest.fixture(params=KINDS)
def verifier_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with the verifier's tables, on SQLite and on PostgreSQL."""
    with database_url(request.param, tmp_path) as url:
        engine = open_engine(url)
        try:
            create_schema(engine)
            yield engine
        finally:
            engine.dispose()


def unreachable_status(url: str) -> Any:
    raise AssertionError(f"this test fetches no status list ({url})")


@pytest.fixture
def verifier_context(verifier_engine: Engine) -> VerifierContext:
    """A verifier on 127.0.0.1:8000 with a P-256 request key, its x5c chain, and no trusted issuers yet."""
    signer = SoftwareSigner.generate(KeyType.P256)
    x5c, _ = certificate_chain(signer, "127.0.0.1")
    return VerifierContext(
        base_url=VERIFIER_URL,
        engine=verifier_engine,
        signer=signer,
        x5c=x5c,
        did=VERIFIER_DID,
        resolver=Resolver.standard(),
        status_source=unreachable_status,
        trusted_issuers=(),
        ledger_key=b"k" * 32,
    )
