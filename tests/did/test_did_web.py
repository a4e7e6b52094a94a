"""did:web: the spec's DID -> URL pairs, documents, and the guarded resolver (mock transport and a real TLS server)."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import example, given
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
    PublicKey,
    ResolutionFailedError,
    ResolutionTimeoutError,
    Resolver,
    SoftwareSigner,
    did_to_url,
    parse_did,
    web_did,
    web_document,
)
from tests.helpers import load_vector

VECTORS = load_vector("did-web/did-web-examples.json")
PAIRS = [(p["did"], p["url"]) for p in VECTORS["did_to_url"] + VECTORS["derived_by_collector_from_spec_rules"]]
PUBLIC_IP = "93.184.215.14"  # any global address: the mock transport never connects
ISSUER = "did:web:issuer.example.jp"


def _key(key_type: KeyType = KeyType.ED25519) -> PublicKey:
    return SoftwareSigner.generate(key_type).public_key


# -- DID <-> URL -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("did", "url"), PAIRS)
def test_spec_did_to_url_pairs(did: str, url: str) -> None:
    assert did_to_url(did) == url
    assert did_to_url(parse_did(did)) == url
    parsed = httpx.URL(url)
    segments = [s for s in parsed.path.removesuffix("/did.json").split("/") if s and s != ".well-known"]
    assert web_did(parsed.host, parsed.port, segments) == did


@pytest.mark.parametrize("did", VECTORS["valid_dids_from_syntax_examples"])
def test_spec_syntax_examples_map_to_https(did: str) -> None:
    assert did_to_url(did).startswith("https://")


def test_spec_example_document_is_accepted() -> None:
    parsed = DidDocument(VECTORS["example_did_document_jwk"], expected_id="did:web:example.com")
    assert parsed.verification_method("#key-0", "authentication").public_key.key_type is KeyType.ED25519


def test_host_normalization_idna_and_ip_literals() -> None:
    assert did_to_url("did:web:Example.COM:Users") == "https://example.com/Users/did.json"
    a_label = "例.jp".encode("idna").decode()
    assert did_to_url("did:web:%E4%BE%8B.jp") == f"https://{a_label}/.well-known/did.json"
    assert web_did("例.jp", 8443) == f"did:web:{a_label}%3A8443"
    assert did_to_url("did:web:192.0.2.7%3A8443") == "https://192.0.2.7:8443/.well-known/did.json"
    assert did_to_url("did:web:localhost%3A8080:a", scheme="http") == "http://localhost:8080/a/did.json"


@pytest.mark.parametrize(
    ("did", "reason"),
    [
        ("did:web:", "empty or contains"),
        ("did:web:%3A443", "empty host"),
        ("did:web:example.com%3A0", "port"),
        ("did:web:example.com%3A70000", "port"),
        ("did:web:example.com%3Ahttp", "port"),
        ("did:web:example.com%3A", "port"),
        ("did:web:example.com%3A%C2%B2", "port"),  # a Unicode digit is not a port
        ("did:web:example.com%3A1%3A2", "port"),
        ("did:web:example.com:..:x", "dot segment"),
        ("did:web:example.com:%2E%2E", "dot segment"),
        ("did:web:example.com::x", "empty"),
        ("did:web:example.com:a%2Fb", "reserved character"),
        ("did:web:example.com:a%5Cb", "reserved character"),
        ("did:web:example.com:a%00b", "reserved character"),
        ("did:web:user%40example.com", "user information"),
        ("did:web:-bad-.example", "not a valid domain"),
        ("did:web:exa_mple.com", "not a valid domain"),
        ("did:web:example.com.", "not a valid domain"),
        ("did:web:a%20b.example", "not a valid domain"),
        ("did:web:%FF.example", "internationalized"),
        ("did:web:127.1", "dotted-quad"),
        ("did:web:" + "a" * 64 + ".example", "not a valid domain"),
        ("did:key:z6Mk", "not a did:web"),
    ],
)
def test_bad_web_dids(did: str, reason: str) -> None:
    with pytest.raises(InvalidDidError, match=reason):
        did_to_url(did)


def test_url_scheme_rules() -> None:
    with pytest.raises(ValueError, match="scheme"):
        did_to_url(ISSUER, scheme="ftp")
    with pytest.raises(ForbiddenHostError, match="loopback"):
        did_to_url(ISSUER, scheme="http")


@pytest.mark.parametrize(
    ("host", "port", "path"),
    [("", None, ()), ("a:b", None, ()), ("example.com", 0, ()), ("example.com", 65536, ()), ("x.jp", None, ("",))],
)
def test_web_did_refuses_bad_parts(host: str, port: int | None, path: tuple[str, ...]) -> None:
    with pytest.raises(InvalidDidError):
        web_did(host, port, path)


@given(st.text(max_size=60))
@example("example.com:user:alice")  # the branch that checks the URL runs on every run, not only by luck
def test_did_to_url_only_raises_invalid_did(tail: str) -> None:
    try:
        url = did_to_url("did:web:" + tail)
    except InvalidDidError:
        return
    assert url.startswith("https://")


_DID_PIECES = st.sampled_from(
    ["a", "Z", "9", "-", ".", "_", ":", "%3A", "%3a", "%2E", "%2F", "%40", "%00", "%C2%B2", "%E4%BE%8B", "%FF", "%25"]
)


@given(st.lists(_DID_PIECES, max_size=30).map("".join))
@example("a.Z9%3A8443:a%E4%BE%8B")
def test_did_to_url_only_raises_invalid_did_for_did_like_text(tail: str) -> None:
    try:
        url = did_to_url("did:web:" + tail)
    except InvalidDidError:
        return
    parsed = httpx.URL(url)
    assert parsed.scheme == "https"
    assert parsed.path.endswith("/did.json")


# -- web_document ------------------------------------------------------------------------------------------------


def test_web_document_shape_and_round_trip() -> None:
    signing, p256, agreement = _key(), _key(KeyType.P256), _key().to_x25519()
    data = web_document(ISSUER, [("key-1", signing), ("key-2", p256), ("enc", agreement)])
    assert data["id"] == ISSUER
    assert data["assertionMethod"] == [f"{ISSUER}#key-1", f"{ISSUER}#key-2"]
    assert data["keyAgreement"] == [f"{ISSUER}#enc"]
    doc = DidDocument.from_json(json.dumps(data), expected_id=ISSUER)
    assert doc.verification_method("#key-1", "assertionMethod").public_key == signing
    assert doc.verification_method("#key-2", "capabilityDelegation").public_key == p256
    assert doc.verification_method("#enc", "keyAgreement").public_key == agreement
    with pytest.raises(NotFoundError, match="not authorized"):
        doc.verification_method("#enc", "assertionMethod")


def test_web_document_errors() -> None:
    signing = _key()
    with pytest.raises(ValueError, match="twice"):
        web_document(ISSUER, [("k", signing), ("k", signing)])
    with pytest.raises(ValueError, match="at least one"):
        web_document(ISSUER, [])
    with pytest.raises(ValueError, match="fragment"):
        web_document(ISSUER, [("a b", signing)])
    with pytest.raises(InvalidDidError):
        web_document("did:key:z6Mk", [("k", signing)])


# -- the resolver against httpx.MockTransport --------------------------------------------------------------------


def _public(host: str, port: int) -> list[str]:
    return [PUBLIC_IP]


def _never(host: str, port: int) -> list[str]:
    raise AssertionError("the host must not be looked up")


@dataclass
class _Server:
    """A scripted did:web server for httpx.MockTransport, recording requests."""

    documents: dict[str, httpx.Response] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.documents.get(f"{request.headers['host']}{request.url.path}", httpx.Response(404))

    def resolver(self, **options: Any) -> DidWebResolver:
        options.setdefault("resolve_host", _public)
        return DidWebResolver(transport=httpx.MockTransport(self), **options)


def _doc_response(did: str = ISSUER, **extra: object) -> httpx.Response:
    body = json.dumps({**web_document(did, [("key-1", _key())]), **extra}).encode()
    return httpx.Response(200, content=body, headers={"content-type": "application/did+json"})


def test_resolve_with_mock_transport() -> None:
    did = f"{ISSUER}:tenants:a"
    server = _Server({"issuer.example.jp/tenants/a/did.json": _doc_response(did)})
    with server.resolver() as web:
        doc = web.resolve(parse_did(did))
    assert doc.id == did
    assert doc.verification_method("#key-1", "assertionMethod").public_key.key_type is KeyType.ED25519
    (request,) = server.requests
    assert request.url.host == PUBLIC_IP  # connected to the checked address ...
    assert request.headers["host"] == "issuer.example.jp"  # ... while HTTP and TLS carry the name
    assert request.extensions["sni_hostname"] == "issuer.example.jp"
    assert request.headers["accept"] == "application/did+json, application/json"
    assert request.headers["accept-encoding"] == "identity"


def _stream(*chunks: bytes, delay: float = 0.0) -> Iterator[bytes]:
    for chunk in chunks:
        time.sleep(delay)
        yield chunk


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (httpx.Response(404), NotFoundError, "404"),
        (httpx.Response(410), NotFoundError, "410"),
        (httpx.Response(500), ResolutionFailedError, "HTTP 500"),
        (httpx.Response(204), ResolutionFailedError, "HTTP 204"),
        (httpx.Response(302, headers={"location": "https://evil.example/"}), ResolutionFailedError, "redirect"),
        (httpx.Response(308, headers={"location": "/elsewhere"}), ResolutionFailedError, "not followed"),
        (httpx.Response(200, content=b"{not json"), InvalidDidDocumentError, "valid JSON"),
        (httpx.Response(200, json=[1, 2]), InvalidDidDocumentError, "JSON object"),
        (httpx.Response(200, json={"id": "did:web:other.example"}), InvalidDidDocumentError, "does not match"),
        (httpx.Response(200, content=b" " * 70_000), DidDocumentTooLargeError, "70000 bytes"),
        (httpx.Response(200, content=_stream(b" " * 40_000, b" " * 40_000)), DidDocumentTooLargeError, "larger"),
        (
            httpx.Response(200, content=b"\x1f\x8b", headers={"content-encoding": "gzip"}),
            ResolutionFailedError,
            "compressed",
        ),
    ],
)
def test_resolve_failures(response: httpx.Response, error: type[Exception], message: str) -> None:
    server = _Server({"issuer.example.jp/.well-known/did.json": response})
    with server.resolver() as web, pytest.raises(error, match=message):
        web.resolve(ISSUER)
    assert len(server.requests) == 1


def test_size_limit_without_content_length() -> None:
    response = httpx.Response(200, content=_stream(b"{" * 600, b" " * 600))
    assert "content-length" not in response.headers
    server = _Server({"issuer.example.jp/.well-known/did.json": response})
    with server.resolver(max_bytes=1000) as web, pytest.raises(DidDocumentTooLargeError) as info:
        web.resolve(ISSUER)
    assert info.value.code == "invalidDidDocumentLength"


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_httpx_timeouts(exc_type: type[httpx.TimeoutException]) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise exc_type("timed out", request=request)

    with DidWebResolver(transport=httpx.MockTransport(slow), resolve_host=_public) as web:
        with pytest.raises(ResolutionTimeoutError, match="longer than 5 s") as info:
            web.resolve(ISSUER)
        assert info.value.code == "resolutionTimeout"


def test_total_time_limit_covers_a_slow_body() -> None:
    response = httpx.Response(200, content=_stream(b"{", b" ", b" ", b"}", delay=0.1))
    server = _Server({"issuer.example.jp/.well-known/did.json": response})
    with server.resolver(timeout=0.25) as web, pytest.raises(ResolutionTimeoutError):
        web.resolve(ISSUER)


def test_connection_failures_try_the_next_address() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "93.184.215.99":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return _doc_response()

    def two(host: str, port: int) -> list[str]:
        return ["93.184.215.99", PUBLIC_IP]

    with DidWebResolver(transport=httpx.MockTransport(handler), resolve_host=two) as web:
        assert web.resolve(ISSUER).id == ISSUER
    with (
        DidWebResolver(transport=httpx.MockTransport(handler), resolve_host=lambda h, p: ["93.184.215.99"]) as web,
        pytest.raises(ResolutionFailedError, match=r"cannot connect to issuer\.example\.jp at 93\.184\.215\.99"),
    ):
        web.resolve(ISSUER)


def test_other_transport_errors() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("server disconnected without sending a response", request=request)

    with (
        DidWebResolver(transport=httpx.MockTransport(broken), resolve_host=_public) as web,
        pytest.raises(ResolutionFailedError, match="server disconnected"),
    ):
        web.resolve(ISSUER)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",  # NAT64 form of 10.0.0.1
        "2002:a00:1::1",  # 6to4 form of 10.0.0.1
    ],
)
def test_ssrf_guard_refuses_before_any_request(address: str) -> None:
    server = _Server()
    with server.resolver(resolve_host=lambda h, p: [PUBLIC_IP, address]) as web:
        with pytest.raises(ForbiddenHostError) as info:
            web.resolve(parse_did("did:web:rebind.example"))
        assert info.value.code == "forbiddenHost"
        assert str(ipaddress.ip_address(address)) in info.value.message  # the canonical form of the address
    assert server.requests == []


@pytest.mark.parametrize("address", ["2606:4700::1111", "::ffff:93.184.215.14", "64:ff9b::5db8:d70e"])
def test_public_ipv6_forms_are_allowed(address: str) -> None:
    server = _Server({"issuer.example.jp/.well-known/did.json": _doc_response()})
    with server.resolver(resolve_host=lambda h, p: [address]) as web:
        assert web.resolve(ISSUER).id == ISSUER
    assert server.requests[0].url.host == address


def test_ip_literals_and_allowances() -> None:
    server = _Server({"10.0.0.1/.well-known/did.json": _doc_response("did:web:10.0.0.1")})
    for did in ("did:web:10.0.0.1", "did:web:127.0.0.1", "did:web:localhost", "did:web:api.localhost"):
        with server.resolver(resolve_host=_never) as web, pytest.raises(ForbiddenHostError):
            web.resolve(did)
    assert server.requests == []
    with server.resolver(resolve_host=_never, allow_private=True) as web:
        assert web.resolve("did:web:10.0.0.1").id == "did:web:10.0.0.1"
        with pytest.raises(ForbiddenHostError, match="allow_loopback"):
            web.resolve("did:web:localhost")  # private is not loopback
    with (
        server.resolver(resolve_host=lambda h, p: ["10.1.2.3"], allow_private=True) as web,
        pytest.raises(NotFoundError),  # allowed through, and the mock has no document for that host
    ):
        web.resolve("did:web:intranet.example")
    assert server.requests[-1].url.host == "10.1.2.3"


def test_host_lookup_failures() -> None:
    def failing(errno: int) -> Any:
        def lookup(host: str, port: int) -> list[str]:
            raise socket.gaierror(errno, "lookup failed")

        return lookup

    cases = [
        (failing(socket.EAI_NONAME), NotFoundError, "does not exist"),
        (failing(socket.EAI_AGAIN), ResolutionFailedError, "cannot look up"),
        (lambda h, p: [], NotFoundError, "any address"),
        (lambda h, p: ["not-an-ip"], ResolutionFailedError, "invalid address"),
    ]
    server = _Server()
    for lookup, error, message in cases:
        with server.resolver(resolve_host=lookup) as web, pytest.raises(error, match=message):
            web.resolve(ISSUER)
    assert server.requests == []


def test_plain_http_needs_the_loopback_allowance() -> None:
    with pytest.raises(ValueError, match="allow_loopback"):
        DidWebResolver(scheme="http")
    with pytest.raises(ValueError, match="scheme"):
        DidWebResolver(scheme="ftp", allow_loopback=True)
    server = _Server(
        {
            "issuer.example.jp/.well-known/did.json": _doc_response(),
            "localhost:8080/.well-known/did.json": _doc_response("did:web:localhost%3A8080"),
        }
    )
    with server.resolver(scheme="http", allow_loopback=True, resolve_host=lambda h, p: ["127.0.0.1"]) as web:
        assert web.resolve("did:web:localhost%3A8080").id == "did:web:localhost%3A8080"
    with server.resolver(scheme="http", allow_loopback=True) as web:
        assert web.resolve(ISSUER).id == ISSUER
    assert [r.url.scheme for r in server.requests] == ["http", "https"]  # HTTP never leaves the machine


def test_constructor_checks() -> None:
    with httpx.Client() as client, pytest.raises(ValueError, match="not both"):
        DidWebResolver(client=client, transport=httpx.MockTransport(_Server()))
    with pytest.raises(ValueError, match="positive"):
        DidWebResolver(timeout=0)
    with pytest.raises(ValueError, match="positive"):
        DidWebResolver(max_bytes=0)


def test_injected_client_is_used_and_left_open() -> None:
    server = _Server({"issuer.example.jp/.well-known/did.json": httpx.Response(301, headers={"location": "/x"})})
    with httpx.Client(transport=httpx.MockTransport(server), follow_redirects=True) as client:
        with DidWebResolver(client=client, resolve_host=_public) as web, pytest.raises(ResolutionFailedError):
            web.resolve(ISSUER)  # the client's follow_redirects=True does not apply
        assert not client.is_closed
    assert len(server.requests) == 1


def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    server = _Server({"issuer.example.jp/.well-known/did.json": _doc_response()})
    with server.resolver() as web:
        assert web.resolve(ISSUER).id == ISSUER
    assert len(server.requests) == 1


def test_resolver_reports_spec_error_codes() -> None:
    with DidWebResolver(resolve_host=_never) as web:
        result = Resolver.standard(web).resolve("did:web:10.0.0.1")
    assert result.did_document is None
    assert result.error == "forbiddenHost"


# -- a real TLS server on 127.0.0.1 ------------------------------------------------------------------------------


@dataclass
class _TlsSite:
    port: int
    root: Path
    client_context: ssl.SSLContext

    def publish(self, did: str, key: PublicKey, *path: str) -> None:
        directory = self.root.joinpath(*path) if path else self.root / ".well-known"
        directory.mkdir(parents=True)
        (directory / "did.json").write_text(json.dumps(web_document(did, [("key-1", key)])))


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
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
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
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

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
    did = f"did:web:localhost%3A{tls_site.port}"
    assert did == web_did("localhost", tls_site.port)
    key = _key()
    tls_site.publish(did, key)
    with DidWebResolver(allow_loopback=True, verify=tls_site.client_context) as web:
        doc = web.resolve(parse_did(did))
        assert doc.verification_method("#key-1", "assertionMethod").public_key == key
        with pytest.raises(NotFoundError, match="404"):
            web.resolve(web_did("localhost", tls_site.port, ["nobody"]))


def test_real_tls_server_with_path_ip_literal_and_cache(tls_site: _TlsSite) -> None:
    by_name = web_did("localhost", tls_site.port, ["issuer"])
    by_ip = web_did("127.0.0.1", tls_site.port, ["ip"])
    key = _key(KeyType.P256)
    tls_site.publish(by_name, key, "issuer")
    tls_site.publish(by_ip, key, "ip")
    with DidWebResolver(allow_loopback=True, verify=tls_site.client_context) as web:
        resolver = Resolver.standard(web)
        assert resolver.dereference(f"{by_name}#key-1", "assertionMethod").public_key == key
        assert resolver.dereference(f"{by_ip}#key-1", "authentication").public_key == key
        cached = resolver.resolve_document(by_name)
        (tls_site.root / "issuer" / "did.json").unlink()  # the cache answers without asking the server again
        assert resolver.resolve_document(by_name) is cached


def test_real_tls_server_refusals(tls_site: _TlsSite) -> None:
    did = web_did("localhost", tls_site.port)
    tls_site.publish(did, _key())
    # Without the development allowance the same DID is refused before connecting.
    with DidWebResolver(verify=tls_site.client_context) as web, pytest.raises(ForbiddenHostError):
        web.resolve(parse_did(did))
    # A certificate the client does not trust is an error, never a silent fallback.
    with (
        DidWebResolver(allow_loopback=True) as web,
        pytest.raises(ResolutionFailedError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        web.resolve(parse_did(did))
