"""Property tests for the xid CA's parsers of outside input: CSRs and OCSP requests never escape as a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from did.keys import KeyType, PublicKey
from did.signer import SoftwareSigner
from foundation.db import open_engine
from issuer.ca import CsrError, XidCA, _check_csr, _parse_ocsp_request
from issuer.context import IssuerContext, OperatorSecrets
from issuer.db import create_schema
from tests.helpers import CRYPTOGRAPHY_WARNINGS, mutations
from tests.issuer.test_ca import holder_for, make_csr, ocsp_request, pairwise

HOLDER = ec.generate_private_key(ec.SECP256R1())
HOLDER_JWK = PublicKey.from_cryptography(HOLDER.public_key()).to_jwk()
CSR = make_csr(HOLDER)


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_csrs_are_refused_or_still_the_holders(data: st.DataObject) -> None:
    mutated = data.draw(mutations(CSR))
    try:
        _, public = _check_csr(mutated, HOLDER_JWK)
    except CsrError:
        return
    assert public.to_jwk() == HOLDER_JWK  # whatever got through proved possession of the holder key


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_random_bytes_are_never_a_csr(raw: bytes) -> None:
    with pytest.raises(CsrError):
        _check_csr(raw, HOLDER_JWK)


@pytest.fixture(scope="module")
def ocsp_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[XidCA, bytes]:
    path: Path = tmp_path_factory.mktemp("ca-fuzz") / "db.sqlite3"
    engine = open_engine(f"sqlite:///{path}")
    create_schema(engine)
    ctx = IssuerContext(
        base_url="http://127.0.0.1:8000",
        did="did:web:127.0.0.1%3A8000",
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=None,  # type: ignore[arg-type]  # the CA never validates card chains
        revocation=None,  # type: ignore[arg-type]
    )
    ca = XidCA(ctx, pairwise=pairwise)
    issued, _ = ca.issue(holder_for(HOLDER), CSR, "signing")
    cert = x509.load_der_x509_certificate(issued.der)
    root = x509.load_der_x509_certificate(ca.root().der)
    return ca, ocsp_request(cert, root, algorithm=hashes.SHA256(), nonce=b"0123456789abcdef")


@CRYPTOGRAPHY_WARNINGS
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_ocsp_requests_get_an_ocsp_answer(ocsp_ca: tuple[XidCA, bytes], data: st.DataObject) -> None:
    ca, request = ocsp_ca
    mutated = data.draw(mutations(request))
    parsed = _parse_ocsp_request(mutated)
    answer = ca.ocsp(mutated)
    response = x509_ocsp.load_der_ocsp_response(answer.der)
    if parsed is None:
        assert response.response_status == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    else:
        assert response.response_status in (
            x509_ocsp.OCSPResponseStatus.SUCCESSFUL,
            x509_ocsp.OCSPResponseStatus.UNAUTHORIZED,
        )
