"""did:web: the spec's DID -> URL pairs, documents, and the guarded resolver (mock transport and a real TLS server)."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from did import (
    DidDocument,
    DidDocumentTooLargeError,
    DidWebResolver,
    ForbiddenHostError,
    InvalidDidDocumentError,
    InvalidDidError,
    KeyType,
    NotFoundError,
    ResolutionFailedError,
    ResolutionTimeoutError,
    Resolver,
    SoftwareSigner,
    did_to_url,
    parse_did,
    web_did,
    web_document,
)
from tests.conftest import load_vector

VECTORS = load_vector("did-web/did-web-examples.json")
PAIRS = [(p["did"], p["url"]) for p in VECTORS["did_to_url"] + VECTORS["derived_by_collector_from_spec_rules"]]
PUBLIC_IP = "93.184.215.14"


@pytest.mark.parametrize(("did", "url"), PAIRS)
def test_spec_did_to_url_pairs(did: str, url: str) -> None:
    assert did_to_url(did) == url
    parsed = httpx.URL(url)
    segments = [s for s in parsed.path.removesuffix("/did.json").split("/") if s and s != ".well-known"]
    assert web_did(parsed.host, parsed.port, segments) == did


def test_spec_example_document_is_accepted() -> None:
    example = VECTORS["example_did_document_jwk"]
    parsed = DidDocument(example, expected_id="did:web:example.com")
    vm = parsed.verification_method("#key-0", "authentication")
    assert vm.public_key.key_type is KeyType.ED25519


@pytest.mark.parametrize(
    ("did", "reason"),
    [
        ("did:web:", "empty or contains"),
        ("did:web:example.com%3A0", "port"),
        ("did:web:example.com%3A70000", "port"),
        ("did:web:example.com%3Ahttp", "port"),
        ("did:web:example.com:..:x", "not allowed"),
        ("did:web:example.com::x", "empty"),
        ("did:web:user%40example.com", "not a valid domain"),
        ("did:web:-bad-.example", "not a valid domain"),
        ("did:web:example.com:a%2Fb", "not allowed"),
        ("did:key:z6Mk", "not a did:web"),
    ],
)
def test_bad_web_dids(did: str, reason: str) -> None:
    with pytest.raises(InvalidDidError, match=reason):
        did_to_url(did)


@given(st.text(max_size=60))
def test_did_to_url_only_raises_invalid_did(tail: str) -> None:
    try:
        url = did_to_url("did:web:" + tail)
    except InvalidDidError:
        return
    assert url.startswith("https://")


def _key() -> SoftwareSigner:
    return SoftwareSigner.generate(KeyType.ED25519)


def test_web_document_shape_and_errors() -> None:
    did = "did:web:issuer.example.jp"
    signing, agreement = _key().public_key, _key().public_key.to_x25519()
    doc = web_document(did, [("key-1", signing), ("enc", agreement)])
    assert doc["assertionMethod"] == [f"{did}#key-1"]
    assert doc["keyAgreement"] == [f"{did}#enc"]
    with pytest.raises(ValueError, match="twice"):
        web_document(did, [("k", signing), ("k", signing)])
    with pytest.raises(ValueError, match="at least one"):
        web_document(did, [])
    with pytest.raises(ValueError, match="fragment"):
        web_document(did, [("a b", signing)])
    with pytest.raises(InvalidDidError):
        web_document("did:key:z6Mk", [("k", signing)])


@dataclass
class _Server:
    """A scripted did:web server for httpx.MockTransport, recording requests."""

    documents: dict[str, httpx.Response]
    requests: list[httpx.Request]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = f"{request.headers['host']}{request.url.path}"
        return self.documents.get(key, httpx.Response(404))


def _resolver_for(documents: dict[str, httpx.Response], **options: object) -> DidWebResolver:
    server = _Server(documents, [])
    resolver = DidWebResolver(
        transport=httpx.MockTransport(server),
        resolve_host=lambda host, port: [PUBLIC_IP],
        **options,  # type: ignore[arg-type]
    )
    resolver.server = server  # type: ignore[attr-defined]
    return resolver


def _doc_response(did: str, **extra: object) -> httpx.Response:
    body = json.dumps({**web_document(did, [("key-1", _key().public_key)]), **extra}).encode()
    return httpx.Response(200, content=body, headers={"content-type": "application/did+json"})


def test_resolve_with_mock_transport() -> None:
    did = "did:web:issuer.example.jp:tenants:a"
    with _resolver_for({"issuer.example.jp/tenants/a/did.json": _doc_response(did)}) as web:
        doc = web.resolve(parse_did(did))
        assert doc.id == did
        request = web.server.requests[0]  # type: ignore[attr-defined]
        assert request.url.host == PUBLIC_IP  # connected to the checked address
        assert request.headers["host"] == "issuer.example.jp"
        assert request.extensions["sni_hostname"] == "issuer.example.jp"
        assert "application/did+json" in request.headers["accept"]


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (httpx.Response(404), NotFoundError, "404"),
        (httpx.Response(410), NotFoundError, "410"),
        (httpx.Response(500), ResolutionFailedError, "HTTP 500"),
        (httpx.Response(302, headers={"location": "https://evil.example/"}), ResolutionFailedError, "redirect"),
        (httpx.Response(200, content=b"{not json"), InvalidDidDocumentError, "valid JSON"),
        (httpx.Response(200, json={"id": "did:web:other.example"}), InvalidDidDocumentError, "does not match"),
        (httpx.Response(200, content=b" " * 70_000), DidDocumentTooLargeError, "limit"),
        (
            httpx.Response(200, content=iter([b" " * 40_000, b" " * 40_000])),  # streamed, no Content-Length
            DidDocumentTooLargeError,
            "larger than",
        ),
    ],
)
def test_resolve_failures(response: httpx.Response, error: type[Exception], message: str) -> None:
    with (
        _resolver_for({"issuer.example.jp/.well-known/did.json": response}) as web,
        pytest.raises(error, match=message),
    ):
        web.resolve(parse_did("did:web:issuer.example.jp"))


def test_resolve_timeout_and_network_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    did = parse_did("did:web:issuer.example.jp")
    for handler, error in [(slow, ResolutionTimeoutError), (refused, ResolutionFailedError)]:
        with (
            DidWebResolver(transport=httpx.MockTransport(handler), resolve_host=lambda h, p: [PUBLIC_IP]) as web,
            pytest.raises(error),
        ):
            web.resolve(did)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
    ],
)
def test_ssrf_guard_refuses_before_any_request(address: str) -> None:
    server = _Server({}, [])
    with DidWebResolver(transport=httpx.MockTransport(server), resolve_host=lambda h, p: [address]) as web:
        with pytest.raises(ForbiddenHostError) as info:
            web.resolve(parse_did("did:web:rebind.example"))
        assert info.value.code == "forbiddenHost"
    assert server.requests == []


def test_ip_literal_dids_and_allowances() -> None:
    server = _Server({"10.0.0.1/.well-known/did.json": _doc_response("did:web:10.0.0.1")}, [])
    with DidWebResolver(transport=httpx.MockTransport(server)) as web, pytest.raises(ForbiddenHostError):
        web.resolve(parse_did("did:web:10.0.0.1"))
    assert server.requests == []
    with DidWebResolver(transport=httpx.MockTransport(server), allow_private=True) as web:
        assert web.resolve(parse_did("did:web:10.0.0.1")).id == "did:web:10.0.0.1"
    with (
        DidWebResolver(transport=httpx.MockTransport(server), allow_private=True) as web,
        pytest.raises(ForbiddenHostError, match="loopback"),
    ):
        web.resolve(parse_did("did:web:localhost"))
    with DidWebResolver(resolve_host=lambda h, p: []) as web, pytest.raises(NotFoundError, match="does not resolve"):
        web.resolve(parse_did("did:web:nowhere.example"))


def test_http_needs_the_loopback_allowance() -> None:
    with pytest.raises(ValueError, match="allow_loopback"):
        DidWebResolver(scheme="http")
    with pytest.raises(ValueError, match="scheme"):
        DidWebResolver(scheme="ftp", allow_loopback=True)
    # With the allowance, plain HTTP is still used only for loopback hosts.
    server = _Server({"issuer.example.jp/.well-known/did.json": _doc_response("did:web:issuer.example.jp")}, [])
    transport = httpx.MockTransport(server)
    with DidWebResolver(
        transport=transport, scheme="http", allow_loopback=True, resolve_host=lambda h, p: [PUBLIC_IP]
    ) as w:
        w.resolve(parse_did("did:web:issuer.example.jp"))
    assert server.requests[0].url.scheme == "https"


# -- a real TLS server on 127.0.0.1 ------------------------------------------------------------------------------


@dataclass
class _TlsSite:
    port: int
    root: Path
    client_context: ssl.SSLContext


def _certificate_pair(tmp: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xid TEST did:web CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[_TlsSite]:
    ca, cert, key = _certificate_pair(tmp_path)
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _TlsSite(server.server_address[1], root, ssl.create_default_context(cafile=str(ca)))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_resolve_against_real_tls_server(tls_site: _TlsSite) -> None:
    did = web_did("localhost", tls_site.port, ["issuer"])
    key = _key().public_key
    (tls_site.root / "issuer").mkdir()
    (tls_site.root / "issuer" / "did.json").write_text(json.dumps(web_document(did, [("key-1", key)])))
    with DidWebResolver(allow_loopback=True, verify=tls_site.client_context) as web:
        resolver = Resolver.standard(web)
        vm = resolver.dereference(f"{did}#key-1", "assertionMethod")
        assert vm.public_key == key
        with pytest.raises(NotFoundError):
            web.resolve(parse_did(web_did("localhost", tls_site.port, ["nobody"])))
    # Without the development allowance the same DID is refused before connecting.
    with DidWebResolver(verify=tls_site.client_context) as web, pytest.raises(ForbiddenHostError):
        web.resolve(parse_did(did))
    # A server whose certificate the client does not trust is an error, not a silent fallback.
    with DidWebResolver(allow_loopback=True) as web, pytest.raises(ResolutionFailedError, match="cannot fetch"):
        web.resolve(parse_did(did))
