"""foundation.http.fetch: every limit of the one bounded fetch, with mock transports and a real local server."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from foundation.errors import XidError
from foundation.http import (
    FetchConnectError,
    FetchEncodingError,
    FetchError,
    FetchTimeoutError,
    FetchTooLargeError,
    fetch,
)


def mock(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), **kwargs)  # type: ignore[arg-type]


class Recorder:
    """A body stream that records how much of it was read."""

    def __init__(self, *chunks: bytes, delay: float = 0.0) -> None:
        self.chunks = chunks
        self.delay = delay
        self.consumed = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            time.sleep(self.delay)
            self.consumed += 1
            yield chunk


def test_sends_the_callers_request_with_identity_encoding_and_returns_the_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=b"hello", headers={"content-type": "text/plain; charset=utf-8"})

    with mock(handler) as client:
        answer = fetch(
            "POST",
            "https://192.0.2.7/path",
            max_bytes=5,
            client=client,
            content=b"ping",
            headers={"Host": "example.test", "Accept-Encoding": "gzip", "X-Test": "1"},
            extensions={"sni_hostname": "example.test"},
        )
    assert (answer.status_code, answer.content, answer.media_type) == (201, b"hello", "text/plain")
    (request,) = seen
    assert request.method == "POST"
    assert request.content == b"ping"
    assert request.url.host == "192.0.2.7"
    assert request.headers["host"] == "example.test"
    assert request.headers["x-test"] == "1"
    assert request.headers["accept-encoding"] == "identity"  # the caller cannot turn compression back on
    assert request.extensions["sni_hostname"] == "example.test"


def test_redirects_are_returned_not_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": "https://elsewhere.test/"})

    with mock(handler, follow_redirects=True) as client:
        answer = fetch("GET", "https://origin.test/", max_bytes=100, client=client)
    assert answer.status_code == 302
    assert seen == ["https://origin.test/"]


def test_content_length_above_the_limit_is_refused_before_reading() -> None:
    body = Recorder(b"x" * 50, b"x" * 50)
    response = httpx.Response(200, content=body, headers={"content-length": "100"})
    with mock(lambda request: response) as client, pytest.raises(FetchTooLargeError, match="100 bytes") as caught:
        fetch("GET", "https://origin.test/", max_bytes=99, client=client)
    assert caught.value.code == "fetchTooLarge"
    assert body.consumed == 0


def test_the_limit_is_counted_while_streaming() -> None:
    body = Recorder(b"x" * 60, b"x" * 60, b"x" * 60)
    with (
        mock(lambda request: httpx.Response(200, content=body)) as client,
        pytest.raises(FetchTooLargeError, match="larger than the limit of 100"),
    ):
        fetch("GET", "https://origin.test/", max_bytes=100, client=client)
    assert body.consumed == 2  # stopped at the chunk that crossed the limit
    with mock(lambda request: httpx.Response(200, content=Recorder(b"x" * 60, b"x" * 40))) as client:
        assert len(fetch("GET", "https://origin.test/", max_bytes=100, client=client).content) == 100


@pytest.mark.parametrize("encoding", ["gzip", "br", " Deflate "])
def test_compressed_bodies_are_refused(encoding: str) -> None:
    body = Recorder(b"\x1f\x8b\x08" * 10)  # streamed: httpx would decode a bytes body in the mock already
    response = httpx.Response(200, content=body, headers={"content-encoding": encoding})
    with mock(lambda request: response) as client, pytest.raises(FetchEncodingError, match="compressed") as caught:
        fetch("GET", "https://origin.test/", max_bytes=100, client=client)
    assert caught.value.code == "fetchEncodingRefused"
    assert body.consumed == 0


def test_identity_encoding_is_accepted() -> None:
    response = httpx.Response(200, content=b"plain", headers={"content-encoding": "identity"})
    with mock(lambda request: response) as client:
        assert fetch("GET", "https://origin.test/", max_bytes=100, client=client).content == b"plain"


def test_body_statuses_leave_other_bodies_unread() -> None:
    body = Recorder(b"x" * 1000)
    with mock(lambda request: httpx.Response(404, content=body)) as client:
        answer = fetch("GET", "https://origin.test/", max_bytes=10, client=client, body_statuses={200})
    assert (answer.status_code, answer.content, body.consumed) == (404, b"", 0)
    with mock(lambda request: httpx.Response(404, content=b"x" * 1000)) as client, pytest.raises(FetchTooLargeError):
        fetch("GET", "https://origin.test/", max_bytes=10, client=client)


def test_the_deadline_covers_a_slow_body() -> None:
    body = Recorder(b"{", b" ", b" ", b" ", b"}", delay=0.1)
    with (
        mock(lambda request: httpx.Response(200, content=body)) as client,
        pytest.raises(FetchTimeoutError, match="longer than") as caught,
    ):
        fetch("GET", "https://origin.test/", max_bytes=100, timeout=0.25, client=client)
    assert caught.value.code == "fetchTimeout"
    assert body.consumed < 5


def test_a_shared_deadline_already_passed_sends_nothing() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with mock(handler) as client, pytest.raises(FetchTimeoutError):
        fetch("GET", "https://origin.test/", max_bytes=100, client=client, deadline=time.monotonic() - 1)
    assert seen == []


@pytest.mark.parametrize(
    ("raised", "error", "code"),
    [
        (httpx.ReadTimeout, FetchTimeoutError, "fetchTimeout"),
        (httpx.ConnectTimeout, FetchTimeoutError, "fetchTimeout"),
        (httpx.PoolTimeout, FetchTimeoutError, "fetchTimeout"),
        (httpx.ConnectError, FetchConnectError, "fetchConnectFailed"),
        (httpx.RemoteProtocolError, FetchError, "fetchFailed"),
    ],
)
def test_transport_failures_map_to_fetch_errors(
    raised: type[httpx.TransportError], error: type[FetchError], code: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised("boom", request=request)

    with mock(handler) as client, pytest.raises(error) as caught:
        fetch("GET", "https://origin.test/", max_bytes=100, client=client)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert isinstance(caught.value, XidError)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://origin.test/x", "origin.test/x"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(FetchError, match="not an http") as caught:
        fetch("GET", url, max_bytes=100)
    assert caught.value.code == "fetchFailed"


@pytest.mark.parametrize(("max_bytes", "timeout"), [(0, 1.0), (10, 0.0), (10, float("nan"))])
def test_limits_must_be_positive(max_bytes: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        fetch("GET", "https://origin.test/", max_bytes=max_bytes, timeout=timeout)


# -- a real local server --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def local_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/small":
            self.reply(b"small body", {"Content-Length": "10"})
        elif self.path == "/chunked":  # no Content-Length: the limit must be counted
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/drip":  # a byte at a time, each within any per-read timeout
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
        elif self.path == "/redirect":
            self.reply(b"", {"Location": "/small", "Content-Length": "0"}, status=302)
        else:
            self.reply(b"", {"Content-Length": "0"}, status=404)

    def reply(self, body: bytes, headers: dict[str, str], status: int = 200) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with local_server(Handler) as url:
        yield url


def test_real_server_small_body_and_redirect(server: str) -> None:
    assert fetch("GET", f"{server}/small", max_bytes=10).content == b"small body"
    redirect = fetch("GET", f"{server}/redirect", max_bytes=10)
    assert (redirect.status_code, redirect.headers["location"]) == (302, "/small")


def test_real_server_chunked_body_stops_at_the_limit(server: str) -> None:
    with pytest.raises(FetchTooLargeError, match="larger than the limit"):
        fetch("GET", f"{server}/chunked", max_bytes=16 * 1024)
    assert len(fetch("GET", f"{server}/chunked", max_bytes=64 * 1024).content) == 64 * 1024


def test_real_server_slow_drip_hits_the_overall_deadline(server: str) -> None:
    with pytest.raises(FetchTimeoutError):
        fetch("GET", f"{server}/drip", max_bytes=1000, timeout=0.5)


def test_real_server_refused_connection() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchConnectError, match="cannot connect") as caught:
        fetch("GET", f"http://127.0.0.1:{port}/", max_bytes=10, timeout=5)
    assert caught.value.code == "fetchConnectFailed"


def test_a_created_client_ignores_proxy_settings_from_the_environment(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: a proxied request would fail
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert fetch("GET", f"{server}/small", max_bytes=10).content == b"small body"
    with httpx.Client() as trusting, pytest.raises(httpx.HTTPError):  # the environment really names a dead proxy
        trusting.get(f"{server}/small")
