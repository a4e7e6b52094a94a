"""The verifier's status-list source: https only, public addresses only, bounded, cached for the list's lifetime."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from verifier.status_fetch import StatusFetcher, StatusFetchError

LIST = {"type": ["VerifiableCredential", "BitstringStatusListCredential"]}


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


def test_fetches_json_and_tokens_and_caches_by_max_age() -> None:
    calls: list[str] = []
    now = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url.path.endswith("token"):
            return httpx.Response(
                200, text="a.eyJ0dGwiOjEwfQ.c", headers={"content-type": "application/statuslist+jwt"}
            )
        return httpx.Response(200, json=LIST, headers={"cache-control": "public, max-age=60"})

    fetcher = StatusFetcher(client=client(answer), resolve_host=public, clock=lambda: now[0])
    assert fetcher("https://issuer.example.jp/status/1") == LIST
    assert fetcher("https://issuer.example.jp/status/1") == LIST
    assert len(calls) == 1
    now[0] = 61.0
    fetcher("https://issuer.example.jp/status/1")
    assert len(calls) == 2
    assert fetcher("https://issuer.example.jp/status/token") == "a.eyJ0dGwiOjEwfQ.c"
    now[0] = 65.0
    fetcher("https://issuer.example.jp/status/token")
    assert len(calls) == 3  # ttl 10 s: still cached
    now[0] = 72.0
    fetcher("https://issuer.example.jp/status/token")
    assert len(calls) == 4


@pytest.mark.parametrize(
    ("url", "addresses", "loopback", "message"),
    [
        ("http://issuer.example.jp/status/1", ["93.184.216.34"], False, "https only"),
        ("http://127.0.0.1:8000/status/1", ["127.0.0.1"], False, "https only"),
        ("ftp://issuer.example.jp/status/1", ["93.184.216.34"], False, "https only"),
        ("https://intranet.example.jp/status/1", ["10.0.0.5"], False, "non-public"),
        ("https://metadata.example.jp/status/1", ["169.254.169.254"], True, "non-public"),
        ("https://local.example.jp/status/1", ["127.0.0.1"], False, "loopback"),
        ("http://10.0.0.5/status/1", ["10.0.0.5"], True, "https only"),
    ],
)
def test_refuses_what_it_must_not_fetch(url: str, addresses: list[str], loopback: bool, message: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    fetcher = StatusFetcher(client=client(answer), resolve_host=lambda h, p: addresses, allow_loopback=loopback)
    with pytest.raises(StatusFetchError, match=message):
        fetcher(url)


def test_development_loopback_allowance() -> None:
    fetcher = StatusFetcher(
        client=client(lambda r: httpx.Response(200, json=LIST)), resolve_host=lambda h, p: ["127.0.0.1"],
        allow_loopback=True,
    )  # fmt: skip
    assert fetcher("http://127.0.0.1:8000/status/1") == LIST


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(404), "HTTP 404"),
        (httpx.Response(200, content=b"\xff", headers={"content-type": "text/plain"}), "UTF-8"),
        (httpx.Response(200, content=b"[1]", headers={"content-type": "application/json"}), "status list"),
        (httpx.Response(200, content=b"{", headers={"content-type": "application/json"}), "status list"),
        (httpx.Response(200, content=b"x" * 5000, headers={"content-type": "text/plain"}), "the limit is 4096"),
    ],
)
def test_bad_answers(response: httpx.Response, message: str) -> None:
    fetcher = StatusFetcher(client=client(lambda r: response), resolve_host=public, max_bytes=4096)
    with pytest.raises(StatusFetchError, match=message):
        fetcher("https://issuer.example.jp/status/1")


def test_local_answers_first() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise AssertionError("own lists are answered in-process")

    fetcher = StatusFetcher(
        client=client(answer), resolve_host=public, local=lambda url: LIST if url.startswith("http://own") else None
    )
    assert fetcher("http://own/status/1") == LIST
