"""The xid CA's HTTP routes: bearer-gated certificate requests, root, CRL and OCSP; bad input changes nothing."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp as x509_ocsp
from starlette.applications import Starlette

from foundation.b64 import b64url_encode
from foundation.db import open_engine, transaction
from foundation.web import EXCEPTION_HANDLERS
from issuer.ca import XidCA, ca_certificates, revoke
from issuer.ca_routes import routes
from issuer.context import IssuerContext, IssuerSettings
from issuer.contracts import AuthorizedHolder
from tests.helpers import AsgiClient
from tests.issuer.test_ca import count, holder_for, make_csr, ocsp_request, pairwise


class FakeTokens:
    """A fake ``authorize``: access tokens with an expiry, as the OpenID4VCI part will check them."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
        self.tokens: dict[str, tuple[AuthorizedHolder, dt.datetime]] = {}

    def grant(self, holder: AuthorizedHolder, token: str, ttl: dt.timedelta = dt.timedelta(minutes=10)) -> str:
        self.tokens[token] = (holder, self.now + ttl)
        return token

    def __call__(self, token: str) -> AuthorizedHolder | None:
        entry = self.tokens.get(token)
        if entry is None or self.now >= entry[1]:
            return None
        return entry[0]


@dataclasses.dataclass
class Served:
    client: AsgiClient
    ca: XidCA
    ctx: IssuerContext
    tokens: FakeTokens
    key: ec.EllipticCurvePrivateKey
    token: str


def app_for(ctx: IssuerContext, ca: XidCA, tokens: FakeTokens) -> Starlette:
    return Starlette(routes=routes(ctx, ca, tokens), exception_handlers=dict(EXCEPTION_HANDLERS))


@pytest.fixture
def served(issuer_context: IssuerContext) -> Served:
    tokens = FakeTokens()
    ca = XidCA(issuer_context, pairwise=pairwise)
    key = ec.generate_private_key(ec.SECP256R1())
    token = tokens.grant(holder_for(key), "token-1")
    return Served(AsgiClient(app_for(issuer_context, ca, tokens)), ca, issuer_context, tokens, key, token)


def body(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, usage: str = "signing") -> dict[str, str]:
    return {"csr": b64url_encode(make_csr(key)), "usage": usage}


def test_certificate_request(served: Served) -> None:
    answer = served.client.post(
        "/ca/certificates", json=body(served.key), headers={"authorization": f"Bearer {served.token}"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    data = answer.json()
    cert = x509.load_pem_x509_certificate(data["certificate"].encode())
    root = x509.load_pem_x509_certificate(data["chain"][0].encode())
    assert len(data["chain"]) == 1
    assert root.public_bytes(serialization.Encoding.DER) == served.ca.root().der
    cert.verify_directly_issued_by(root)
    again = served.client.post(
        "/ca/certificates", json=body(served.key), headers={"authorization": f"Bearer {served.token}"}
    )
    assert again.status_code == 200
    assert again.json()["certificate"] == data["certificate"]
    other_usage = served.client.post(
        "/ca/certificates", json=body(served.key, "authentication"), headers={"authorization": f"Bearer {served.token}"}
    )
    assert other_usage.status_code == 201
    assert count(served.ctx.engine) == 2


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, "Bearer"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
        ({"authorization": "Bearer unknown-token"}, 'Bearer error="invalid_token"'),
    ],
    ids=["missing", "other-scheme", "unknown"],
)
def test_bearer_required(served: Served, headers: dict[str, str], challenge: str) -> None:
    answer = served.client.post("/ca/certificates", json=body(served.key), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["www-authenticate"] == challenge
    assert count(served.ctx.engine) == 0


def test_expired_bearer(served: Served) -> None:
    served.tokens.now += dt.timedelta(minutes=10)
    answer = served.client.post(
        "/ca/certificates", json=body(served.key), headers={"authorization": f"Bearer {served.token}"}
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert count(served.ctx.engine) == 0


def _bad_bodies(served: Served) -> list[tuple[object, str]]:
    good = make_csr(served.key)
    parsed = x509.load_der_x509_csr(good)
    at = good.index(parsed.signature[-8:])
    tampered = good[:at] + bytes([good[at] ^ 1]) + good[at + 1 :]
    other = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [
        ({"csr": b64url_encode(good), "usage": "encryption"}, "usage"),
        ({"csr": b64url_encode(good)}, "usage"),
        ({"usage": "signing"}, "csr"),
        ({"csr": 12, "usage": "signing"}, "csr"),
        ({"csr": base64.b64encode(good).decode(), "usage": "signing"}, "base64url"),
        ({"csr": b64url_encode(b"garbage"), "usage": "signing"}, "not a DER PKCS#10"),
        ({"csr": b64url_encode(tampered), "usage": "signing"}, "does not verify"),
        ({"csr": b64url_encode(make_csr(other)), "usage": "signing"}, "not the holder key"),
        ({"csr": b64url_encode(make_csr(rsa_key)), "usage": "signing"}, "only P-256, P-384 and Ed25519"),
        ([], "JSON object"),
    ]


def test_bad_requests_get_invalid_request_and_change_nothing(served: Served) -> None:
    for request_body, description in _bad_bodies(served):
        answer = served.client.post(
            "/ca/certificates", json=request_body, headers={"authorization": f"Bearer {served.token}"}
        )
        assert answer.status_code == 400, request_body
        assert answer.json()["error"] == "invalid_request"
        assert description in answer.json()["error_description"], answer.json()
    for content, content_type in [(b"{", "application/json"), (b"csr=x", "application/x-www-form-urlencoded")]:
        answer = served.client.post(
            "/ca/certificates",
            content=content,
            headers={"authorization": f"Bearer {served.token}", "content-type": content_type},
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"
    assert count(served.ctx.engine) == 0


def test_oversized_body(served: Served) -> None:
    answer = served.client.post(
        "/ca/certificates",
        json={"csr": "A" * 20_000, "usage": "signing"},
        headers={"authorization": f"Bearer {served.token}"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "invalid_request"
    assert count(served.ctx.engine) == 0


def test_revoked_certificate_is_not_issued_again(served: Served) -> None:
    headers = {"authorization": f"Bearer {served.token}"}
    first = served.client.post("/ca/certificates", json=body(served.key), headers=headers)
    serial = x509.load_pem_x509_certificate(first.json()["certificate"].encode()).serial_number
    with transaction(served.ctx.engine, write=True) as conn:
        revoke(served.ctx, conn, serial, "keyCompromise")
    answer = served.client.post("/ca/certificates", json=body(served.key), headers=headers)
    assert answer.status_code == 409
    assert "revoked" in answer.json()["error_description"]
    assert count(served.ctx.engine) == 1


def test_root_certificate(served: Served) -> None:
    pem = served.client.get("/ca/root.pem")
    assert pem.status_code == 200
    assert pem.headers["content-type"].startswith("application/x-pem-file")
    assert x509.load_pem_x509_certificate(pem.content).public_bytes(serialization.Encoding.DER) == served.ca.root().der
    cer = served.client.get("/ca/root.cer")
    assert cer.headers["content-type"] == "application/pkix-cert"
    assert cer.content == served.ca.root().der
    assert "max-age" in cer.headers["cache-control"]


def test_crl(served: Served) -> None:
    answer = served.client.get("/ca/crl")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(answer.content)
    root_key = x509.load_der_x509_certificate(served.ca.root().der).public_key()
    assert crl.is_signature_valid(root_key)  # type: ignore[arg-type]
    etag = answer.headers["etag"]
    assert served.client.get("/ca/crl", headers={"if-none-match": etag}).status_code == 304
    issued, _ = served.ca.issue(holder_for(served.key), make_csr(served.key), "signing")
    with transaction(served.ctx.engine, write=True) as conn:
        revoke(served.ctx, conn, issued.serial, "superseded")
    changed = served.client.get("/ca/crl", headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert x509.load_der_x509_crl(changed.content).get_revoked_certificate_by_serial_number(issued.serial) is not None


def _issued(served: Served) -> tuple[x509.Certificate, x509.Certificate]:
    issued, _ = served.ca.issue(holder_for(served.key), make_csr(served.key), "signing")
    return x509.load_der_x509_certificate(issued.der), x509.load_der_x509_certificate(served.ca.root().der)


def test_ocsp_post_and_get(served: Served) -> None:
    cert, root = _issued(served)
    request = ocsp_request(cert, root, algorithm=hashes.SHA256(), nonce=b"nonce-1234567890")
    post = served.client.post("/ca/ocsp", content=request, headers={"content-type": "application/ocsp-request"})
    assert post.status_code == 200
    assert post.headers["content-type"] == "application/ocsp-response"
    response = x509_ocsp.load_der_ocsp_response(post.content)
    assert response.certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"nonce-1234567890"
    # RFC 6960 A.1.1: GET {url}/{url-encoding of base64 encoding of the DER request}
    encoded = urllib.parse.quote(base64.b64encode(ocsp_request(cert, root)).decode(), safe="")
    get = served.client.get(f"/ca/ocsp/{encoded}")
    assert get.status_code == 200
    assert x509_ocsp.load_der_ocsp_response(get.content).certificate_status == x509_ocsp.OCSPCertStatus.GOOD


def test_ocsp_bad_requests(served: Served) -> None:
    cert, root = _issued(served)
    malformed = x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST

    def post(content: bytes, content_type: str = "application/ocsp-request") -> tuple[int, x509_ocsp.OCSPResponse]:
        answer = served.client.post("/ca/ocsp", content=content, headers={"content-type": content_type})
        assert answer.headers["content-type"] == "application/ocsp-response"
        return answer.status_code, x509_ocsp.load_der_ocsp_response(answer.content)

    for content, content_type, status in [
        (b"garbage", "application/ocsp-request", 400),
        (ocsp_request(cert, root, nonce=bytes(33)), "application/ocsp-request", 400),
        (ocsp_request(cert, root), "application/json", 415),
        (bytes(20_000), "application/ocsp-request", 413),
    ]:
        code, response = post(content, content_type)
        assert code == status
        assert response.response_status == malformed
    for path in ["/ca/ocsp/not-base64!", "/ca/ocsp/" + base64.b64encode(b"garbage").decode(), "/ca/ocsp/"]:
        answer = served.client.get(path)
        assert answer.status_code == 400, path
        assert x509_ocsp.load_der_ocsp_response(answer.content).response_status == malformed


def test_ocsp_database_outage_says_try_later(issuer_context: IssuerContext, tmp_path: Path) -> None:
    broken = dataclasses.replace(issuer_context, engine=open_engine(f"sqlite:///{tmp_path / 'missing' / 'db'}"))
    tokens = FakeTokens()
    client = AsgiClient(app_for(broken, XidCA(broken, pairwise=pairwise), tokens))
    answer = client.post("/ca/ocsp", content=b"0", headers={"content-type": "application/ocsp-request"})
    assert answer.status_code == 400  # a malformed request is refused before the database is needed
    key = ec.generate_private_key(ec.SECP256R1())
    stand_in = XidCA(issuer_context, pairwise=pairwise)
    cert = x509.load_der_x509_certificate(stand_in.issue(holder_for(key), make_csr(key), "signing")[0].der)
    request = ocsp_request(cert, x509.load_der_x509_certificate(stand_in.root().der))
    answer = client.post("/ca/ocsp", content=request, headers={"content-type": "application/ocsp-request"})
    assert answer.status_code == 503
    assert x509_ocsp.load_der_ocsp_response(answer.content).response_status == x509_ocsp.OCSPResponseStatus.TRY_LATER
    assert client.get("/ca/root.pem").status_code == 503


def test_body_limit_follows_the_setting(issuer_context: IssuerContext) -> None:
    small = dataclasses.replace(issuer_context, settings=IssuerSettings(max_body_bytes=100))
    tokens = FakeTokens()
    key = ec.generate_private_key(ec.SECP256R1())
    tokens.grant(holder_for(key), "t")
    client = AsgiClient(app_for(small, XidCA(small, pairwise=pairwise), tokens))
    answer = client.post("/ca/certificates", json=body(key), headers={"authorization": "Bearer t"})
    assert answer.status_code == 413
    with transaction(small.engine) as conn:
        assert conn.execute(ca_certificates.select()).first() is None


def test_ocsp_transport_limits(served: Served) -> None:
    malformed = x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    long_get = served.client.get("/ca/ocsp/" + "A" * 20_000)
    assert long_get.status_code == 414
    assert x509_ocsp.load_der_ocsp_response(long_get.content).response_status == malformed
    bad_length = served.client.post(
        "/ca/ocsp", content=b"0", headers={"content-type": "application/ocsp-request", "content-length": "x"}
    )
    assert bad_length.status_code == 400
    assert x509_ocsp.load_der_ocsp_response(bad_length.content).response_status == malformed
