"""The xid CA's server work per request, as multiples of one raw P-256 signature (the CA key's floor).

Issuing a certificate (CSR parse and proof-of-possession check, building the TBSCertificate, signing, storing the
row in SQLite with full durability), answering an OCSP request (parse, status lookup, signing) and serving the
cached CRL. Each signs once through ``did.Signer``, so the ratio shows what the rest costs.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp

from bench.harness import bench
from did import KeyType, PublicKey, SoftwareSigner
from foundation.db import open_engine
from issuer.ca import XidCA
from issuer.context import IssuerContext, OperatorSecrets
from issuer.contracts import AuthorizedHolder
from issuer.db import create_schema

FLOOR = "raw ES256 signature of 600 bytes (did.SoftwareSigner)"
_CA_KEY = SoftwareSigner.generate(KeyType.P256)


def _ca() -> XidCA:
    directory = Path(tempfile.mkdtemp(prefix="xid-bench-ca-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    engine = open_engine(f"sqlite:///{directory / 'issuer.sqlite3'}")
    create_schema(engine)
    ctx = IssuerContext(
        base_url="https://issuer.example.jp",
        did="did:web:issuer.example.jp",
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=_CA_KEY,
        secrets=OperatorSecrets.generate(),
        trust=None,  # type: ignore[arg-type]  # the CA never validates card chains
        revocation=None,  # type: ignore[arg-type]
    )
    ca = XidCA(ctx, pairwise=lambda person, sector: f"pseudonym-{person}")
    ca.root()
    return ca


def _holder(grant: str) -> tuple[AuthorizedHolder, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    jwk = PublicKey.from_cryptography(key.public_key()).to_jwk()
    return AuthorizedHolder(grant, "person", "evidence", jwk, "ab" * 32), csr.public_bytes(serialization.Encoding.DER)


@bench("ca", FLOOR)
def _floor() -> Callable[[], object]:
    data = bytes(600)
    return lambda: _CA_KEY.sign(data)


@bench("ca", "certificate issuance: CSR check, build, sign, store (SQLite FULL)", floor=FLOOR)
def _issue() -> Callable[[], object]:
    ca = _ca()
    holder, csr = _holder("grant")
    grants = itertools.count()
    return lambda: ca.issue(dataclasses.replace(holder, grant_id=f"grant-{next(grants)}"), csr, "signing")


@bench("ca", "OCSP answer with nonce: parse, look up, sign", floor=FLOOR)
def _ocsp() -> Callable[[], object]:
    ca = _ca()
    holder, csr = _holder("grant")
    issued, _ = ca.issue(holder, csr, "signing")
    cert = x509.load_der_x509_certificate(issued.der)
    root = x509.load_der_x509_certificate(ca.root().der)
    request = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(cert, root, hashes.SHA256())
        .add_extension(x509.OCSPNonce(bytes(16)), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    return lambda: ca.ocsp(request)


@bench("ca", "CRL, cached (one indexed read)", floor=FLOOR)
def _crl() -> Callable[[], object]:
    ca = _ca()
    ca.crl()
    return ca.crl
