"""The shared HTTP helpers (foundation.web): body limits, strict JSON and forms, rate limits, error responses."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.web import (
    EXCEPTION_HANDLERS,
    RateLimitedError,
    RateLimiter,
    bearer_token,
    json_response,
    read_form,
    read_json,
)
from tests.helpers import AsgiClient


async def echo_json(request: Request) -> Response:
    return json_response(await read_json(request, 100))


async def echo_form(request: Request) -> Response:
    return json_response(await read_form(request, 100))


async def echo_bearer(request: Request) -> Response:
    return json_response({"token": bearer_token(request)})


APP = Starlette(
    routes=[
        Route("/json", echo_json, methods=["POST"]),
        Route("/form", echo_form, methods=["POST"]),
        Route("/bearer", echo_bearer),
    ],
    exception_handlers=dict(EXCEPTION_HANDLERS),
)


@pytest.fixture
def client() -> AsgiClient:
    return AsgiClient(APP)


def test_json_body_strict(client: AsgiClient) -> None:
    assert client.post("/json", json={"a": 1}).json() == {"a": 1}
    for body, headers in [
        (b'{"a":1,"a":2}', {"content-type": "application/json"}),
        (b"[1]", {"content-type": "application/json"}),
        (b"{", {"content-type": "application/json"}),
        (b'{"a":NaN}', {"content-type": "application/json"}),
        (b'{"a":1}', {"content-type": "text/plain"}),
    ]:
        answer = client.post("/json", content=body, headers=headers)
        assert answer.status_code == 400, body
        assert answer.json()["error"] == "invalid_request"
        assert answer.headers["cache-control"] == "no-store"


def test_body_limit(client: AsgiClient) -> None:
    answer = client.post("/json", content=b'{"a":"' + b"x" * 200 + b'"}', headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"] == "invalid_request"


def test_form_refuses_repeats_and_wrong_type(client: AsgiClient) -> None:
    assert client.post("/form", data={"a": "1", "b": ""}).json() == {"a": "1", "b": ""}
    assert (
        client.post(
            "/form", content=b"a=1&a=2", headers={"content-type": "application/x-www-form-urlencoded"}
        ).status_code
        == 400
    )
    assert client.post("/form", json={"a": 1}).status_code == 400


def test_bearer(client: AsgiClient) -> None:
    assert client.get("/bearer", headers={"authorization": "Bearer abc"}).json() == {"token": "abc"}
    assert client.get("/bearer", headers={"authorization": "Basic abc"}).json() == {"token": None}
    assert client.get("/bearer").json() == {"token": None}


def test_unknown_route_and_method_are_json_errors(client: AsgiClient) -> None:
    assert client.get("/nowhere").json()["error"] == "not_found"
    answer = client.get("/json")
    assert answer.status_code == 405
    assert answer.json()["error"] == "invalid_request"


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimitedError) as caught:
        limiter.check("a")
    assert caught.value.retry_after == 30
    limiter.check("b")
    now[0] = 30.0
    limiter.check("a")
