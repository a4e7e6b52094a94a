"""The wallet's consents client (wallet.consents) against a fake provider: the account session is opened only for a
request on the provider's origin, with the announced verification code, disclosing nothing; then list and revoke."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from vc.dcql import DcqlQuery
from wallet.consents import (
    AccountSession,
    AccountSessionError,
    ConsentsHttp,
    list_consents,
    open_session,
    revoke_consent,
)
from wallet.errors import IssuerProtocolError, IssuerRefusedError
from wallet.oid4vp import PresentationPlan, PresentationRequest, PresentationResult, Selection

OP = "https://op.example"
QUERY = {"credentials": [{"id": "identity", "format": "dc+sd-jwt", "meta": {"vct_values": [f"{OP}/vct/identity"]}}]}


def request_at(response_uri: str = f"{OP}/verifier/v1/response/tx1", nonce: str = "n-1") -> PresentationRequest:
    return PresentationRequest(
        client_id="x509_san_dns:op.example",
        prefix="x509_san_dns",
        response_uri=response_uri,
        response_mode="direct_post.jwt",
        nonce=nonce,
        state=None,
        query=DcqlQuery.parse(QUERY),
        dcql_query=QUERY,
        client_metadata={},
    )


@dataclass
class StubHolder:
    """The wallet's holder in small: resolves to a fixed request and plan, and records what it presented."""

    request: PresentationRequest = field(default_factory=request_at)
    paths: tuple[tuple[str | int | None, ...], ...] = ()
    presented: list[PresentationRequest] = field(default_factory=list)

    def resolve(self, url: str) -> PresentationRequest:
        assert url == "openid4vp://?request_uri=x"
        return self.request

    def plan(self, request: PresentationRequest) -> PresentationPlan:
        return PresentationPlan((Selection("identity", "record-1", "dc+sd-jwt", self.paths, False),))

    def present(self, request: PresentationRequest, plan: PresentationPlan) -> PresentationResult:
        self.presented.append(request)
        return PresentationResult(None, plan.disclosed())


@dataclass
class FakeOp:
    """A provider's session and account API: answers pending ``pending`` times, then ``final``."""

    pending: int = 1
    final: dict[str, Any] = field(default_factory=lambda: {"status": "verified", "session_token": "session-token"})
    started: dict[str, Any] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        code = request_at().verification_code
        self.started = {"session_id": "s-1", "request_url": "openid4vp://?request_uri=x", "verification_code": code,
                        "expires_in": 120, "secret": "poll-secret", **self.started}  # fmt: skip
        self.consents = [{"id": "c-1", "client_name": "Shop", "claims": ["name"], "linkage": []}]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path, auth = request.url.path, request.headers.get("authorization")
        if request.method == "POST" and path == "/oidc/session":
            return httpx.Response(200, json=self.started)
        if request.method == "GET" and path == "/oidc/session/s-1":
            assert auth == "Bearer poll-secret"
            if self.pending:
                self.pending -= 1
                return httpx.Response(200, json={"status": "pending"})
            return httpx.Response(200, json=self.final)
        if auth != "Bearer session-token":
            return httpx.Response(401, json={"error": "invalid_token", "error_description": "sign in first"})
        if request.method == "GET" and path == "/oidc/account/consents":
            return httpx.Response(200, json={"consents": self.consents})
        if request.method == "DELETE" and path.startswith("/oidc/account/consents/"):
            wanted = path.rsplit("/", 1)[1]
            for consent in self.consents:
                if consent["id"] == wanted:
                    self.consents.remove(consent)
                    return httpx.Response(200, json={**consent, "revoked_at": "2026-12-04T12:00:00Z"})
            return httpx.Response(404, json={"error": "not_found", "error_description": "no such consent"})
        return httpx.Response(404, json={"error": "not_found"})

    def http(self) -> ConsentsHttp:
        return ConsentsHttp(httpx.Client(transport=httpx.MockTransport(self.handle)))


class Clock:
    """A fake monotonic clock that sleeping advances."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def opened(op: FakeOp, holder: StubHolder, clock: Clock | None = None, url: str = OP) -> AccountSession:
    clock = clock or Clock()
    return open_session(url, holder, http=op.http(), sleep=clock.sleep, clock=clock)


def test_the_wallet_proves_its_key_then_lists_and_revokes() -> None:
    op, holder, clock = FakeOp(pending=2), StubHolder(), Clock()
    messages: list[str] = []
    session = open_session(f"{OP}/", holder, http=op.http(), sleep=clock.sleep, clock=clock, progress=messages.append)
    assert session == AccountSession(OP, "session-token")
    assert holder.presented == [holder.request]
    assert clock.slept == [1.0, 1.0]
    assert "no claim is disclosed" in messages[0]
    assert list_consents(session, http=op.http()) == [op.consents[0]]
    revoked = revoke_consent(session, "c-1", http=op.http())
    assert revoked["id"] == "c-1"
    assert op.consents == []
    with pytest.raises(IssuerRefusedError) as raised:
        revoke_consent(session, "c-1", http=op.http())
    assert raised.value.error == "not_found"
    # Ids go into the path escaped.
    with pytest.raises(IssuerRefusedError):
        revoke_consent(session, "../session/s-1", http=op.http())
    assert op.seen[-1].url.raw_path == b"/oidc/account/consents/..%2Fsession%2Fs-1"


def test_a_request_answered_elsewhere_is_not_presented() -> None:
    """A provider relaying another site's login request would make the wallet log the provider in there."""
    holder = StubHolder(request=request_at("https://shop.example/verifier/v1/response/tx1"))
    with pytest.raises(AccountSessionError, match="nothing was sent"):
        opened(FakeOp(), holder)
    for other in ("http://op.example/r", "https://op.example:8443/r", "https://op.example.evil/r"):
        holder = StubHolder(request=request_at(other))
        with pytest.raises(AccountSessionError):
            opened(FakeOp(), holder)
        assert holder.presented == []


def test_a_request_with_another_verification_code_is_not_presented() -> None:
    holder = StubHolder(request=request_at(nonce="another-nonce"))
    assert holder.request.verification_code != request_at().verification_code
    with pytest.raises(AccountSessionError, match="verification code"):
        opened(FakeOp(), holder)
    assert holder.presented == []


def test_a_session_that_asks_for_claims_is_not_presented() -> None:
    holder = StubHolder(paths=(("name",),))
    with pytest.raises(AccountSessionError, match="asks for claims"):
        opened(FakeOp(), holder)
    assert holder.presented == []


@pytest.mark.parametrize(
    "final",
    [
        {"status": "failed", "error": "expired"},
        {"status": "done"},
        {"status": "verified"},
        {"status": "verified", "session_token": ""},
    ],
)
def test_a_session_that_does_not_open_is_an_error(final: dict[str, Any]) -> None:
    with pytest.raises(AccountSessionError):
        opened(FakeOp(final=final), StubHolder())


def test_waiting_ends_when_the_session_would_have_expired() -> None:
    op, clock = FakeOp(pending=10_000), Clock()
    op.started["expires_in"] = 5
    with pytest.raises(AccountSessionError, match="in time"):
        opened(op, StubHolder(), clock)
    assert clock.now <= 6


@pytest.mark.parametrize(
    "change",
    [
        {"session_id": None},
        {"session_id": "bad id"},
        {"request_url": 7},
        {"verification_code": "12345"},
        {"verification_code": None},
    ],
)
def test_malformed_session_answers_are_refused(change: dict[str, Any]) -> None:
    op, holder = FakeOp(), StubHolder()
    op.started.update(change)
    with pytest.raises(AccountSessionError):
        opened(op, holder)
    assert holder.presented == []


def test_the_provider_url_must_be_https() -> None:
    with pytest.raises(AccountSessionError, match="https"):
        opened(FakeOp(), StubHolder(), url="http://op.example")


def test_a_refused_session_start_is_the_providers_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "temporarily_unavailable", "error_description": "slow down"})

    http = ConsentsHttp(httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(IssuerRefusedError, match="slow down"):
        open_session(OP, StubHolder(), http=http)


def test_a_list_that_is_not_a_list_of_consents_is_refused() -> None:
    op = FakeOp()
    op.consents = [{"no": "id"}]
    session = opened(op, StubHolder())
    with pytest.raises(IssuerProtocolError):
        list_consents(session, http=op.http())
