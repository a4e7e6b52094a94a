"""The verifier's HTTP endpoints under ``/verifier/v1/``: the relying parties' API and the wallet-facing endpoints.

Relying parties (HTTP Basic, ``verifier.rps``): ``POST requests`` creates a presentation request, ``GET
requests/{id}`` reads its status (and its result, once), ``GET requests/{id}/events`` streams the status as
server-sent events, ``GET results?response_code=`` returns a same-device result once. Public:
``GET requests/{id}/qr.svg`` (the request URL as a QR code, for the RP's page). Wallets: ``GET|POST request/{id}``
(the signed request object) and ``POST response/{id}`` (the authorization response, validated by the injected
``ResponseValidator``). Every error is ``{"error", "error_description"}`` with a 4xx status and changes nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import orjson
import segno
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from foundation.errors import XidError
from foundation.strict_json import strict_json
from foundation.web import (
    NO_STORE,
    RateLimiter,
    RequestBodyError,
    client_key,
    error_response,
    json_response,
    parse_model,
    read_form,
    read_json,
)
from verifier import rps, transactions
from verifier.context import VerifierContext
from verifier.contracts import ResponseValidator
from verifier.errors import VerifierError
from verifier.transactions import RequestSpec

__all__ = ["EVENT_POLL_S", "KEEP_ALIVE_S", "PREFIX", "REQUEST_OBJECT_MEDIA_TYPE", "routes"]

log = logging.getLogger(__name__)

PREFIX: Final = "/verifier/v1"
REQUEST_OBJECT_MEDIA_TYPE: Final = "application/oauth-authz-req+jwt"
EVENT_POLL_S: Final = 0.5
"""How often the event stream looks at the transaction's state (seconds)."""
KEEP_ALIVE_S: Final = 15.0
"""How long the event stream may stay silent before it sends a comment line (seconds)."""
_FINAL: Final = frozenset({"verified", "rejected", "expired"})
_MAX_WALLET_METADATA = 64 * 1024


def _error(error: XidError) -> Response:
    """The protocol error for an xid error: its ``status`` / ``oauth_error`` when it names them, else 400."""
    status = int(getattr(error, "status", 400))
    headers = {"WWW-Authenticate": 'Basic realm="xid verifier"'} if status == 401 else None
    return error_response(status, str(getattr(error, "oauth_error", "invalid_request")), error.message, headers=headers)


def _created_json(created: transactions.Created, ctx: VerifierContext) -> dict[str, Any]:
    return {
        "id": created.id,
        "client_id": created.client_id,
        "request_url": created.request_url,
        "qr_svg": ctx.url(f"{PREFIX}/requests/{created.id}/qr.svg"),
        "verification_code": created.verification_code,
        "expires_at": created.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _qr_svg(data: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
    return buffer.getvalue()


def routes(ctx: VerifierContext, validator: ResponseValidator) -> list[BaseRoute]:
    """The verifier's routes (all under ``/verifier/v1/``), validating responses with ``validator``."""
    limit = ctx.settings.max_body_bytes
    presentation_limiter = RateLimiter(ctx.settings.presentation_rate_per_minute)

    async def authenticated(request: Request) -> rps.RelyingParty:
        return await run_in_threadpool(rps.authenticate, ctx.engine, request.headers.get("authorization"))

    async def create_request(request: Request) -> Response:
        try:
            rp = await authenticated(request)
            spec = parse_model(RequestSpec, await read_json(request, limit))
            created = await run_in_threadpool(transactions.create, ctx, rp, spec)
        except RequestBodyError as error:
            return error_response(413 if error.code == "bodyTooLarge" else 400, "invalid_request", error.message)
        except VerifierError as error:
            return _error(error)
        return json_response(_created_json(created, ctx), 201)

    async def request_status(request: Request) -> Response:
        try:
            rp = await authenticated(request)
            report = await run_in_threadpool(transactions.status, ctx, rp, request.path_params["id"])
        except VerifierError as error:
            return _error(error)
        return json_response(report)

    async def request_events(request: Request) -> Response:
        transaction_id = request.path_params["id"]
        try:
            rp = await authenticated(request)
            first = await run_in_threadpool(transactions.peek, ctx, rp, transaction_id)
        except VerifierError as error:
            return _error(error)

        async def stream() -> AsyncIterator[bytes]:
            report = first
            last: dict[str, Any] | None = None
            quiet = 0.0
            while True:
                if report != last:
                    yield b"event: status\ndata: " + orjson.dumps(report) + b"\n\n"
                    last, quiet = report, 0.0
                elif quiet >= KEEP_ALIVE_S:  # a comment line keeps proxies from closing an idle stream
                    yield b": keep-alive\n\n"
                    quiet = 0.0
                if report["status"] in _FINAL:
                    return
                await asyncio.sleep(EVENT_POLL_S)
                quiet += EVENT_POLL_S
                try:
                    report = await run_in_threadpool(transactions.peek, ctx, rp, transaction_id)
                except VerifierError:  # the transaction was purged meanwhile
                    return

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={**NO_STORE, "X-Accel-Buffering": "no"}
        )

    async def request_qr(request: Request) -> Response:
        try:
            url = await run_in_threadpool(transactions.request_url, ctx, request.path_params["id"])
        except VerifierError as error:
            return _error(error)
        return Response(_qr_svg(url), media_type="image/svg+xml", headers=NO_STORE)

    async def request_object(request: Request) -> Response:
        wallet_nonce: str | None = None
        try:
            if request.method == "POST":
                form = await read_form(request, limit)
                wallet_nonce = form.get("wallet_nonce")
                metadata = form.get("wallet_metadata")
                if metadata is not None:  # read for well-formedness; the request object does not depend on it
                    if len(metadata) > _MAX_WALLET_METADATA:
                        raise RequestBodyError("wallet_metadata is too large")
                    parsed = strict_json(metadata.encode("utf-8"), "wallet_metadata", error=RequestBodyError)
                    if not isinstance(parsed, dict):
                        raise RequestBodyError("wallet_metadata must be a JSON object")
            token = await run_in_threadpool(
                transactions.request_object, ctx, request.path_params["id"], wallet_nonce=wallet_nonce
            )
        except RequestBodyError as error:
            return error_response(413 if error.code == "bodyTooLarge" else 400, "invalid_request", error.message)
        except VerifierError as error:
            return _error(error)
        return Response(token, media_type=REQUEST_OBJECT_MEDIA_TYPE, headers=NO_STORE)

    async def response(request: Request) -> Response:
        transaction_id = request.path_params["id"]
        try:
            presentation_limiter.check(client_key(request))
            form = await read_form(request, limit)
            facts = await run_in_threadpool(transactions.facts, ctx, transaction_id)
        except RequestBodyError as error:
            return error_response(413 if error.code == "bodyTooLarge" else 400, "invalid_request", error.message)
        except VerifierError as error:
            status = 400 if isinstance(error, transactions.UnknownTransactionError) else None
            return _error(error) if status is None else error_response(400, "invalid_request", error.message)
        if "error" in form and "vp_token" not in form and "response" not in form:
            recorded = await run_in_threadpool(transactions.wallet_error, ctx, facts, form)
            if not recorded:
                return error_response(400, "invalid_request", "the error response does not carry the request's state")
            return json_response({})
        try:
            validated = await run_in_threadpool(validator, facts, form)
        except VerifierError as error:
            await run_in_threadpool(transactions.reject, ctx, transaction_id, _oauth_error(error), error.message)
            return error_response(400, _oauth_error(error), error.message)
        try:
            accepted = await run_in_threadpool(transactions.accept, ctx, transaction_id, validated)
        except VerifierError as error:
            return error_response(400, "invalid_request", error.message)
        await run_in_threadpool(transactions.record_ledger, ctx, transaction_id, validated)
        if accepted.redirect_uri is None:
            return json_response({})
        return json_response({"redirect_uri": accepted.redirect_uri})

    async def result(request: Request) -> Response:
        code = request.query_params.get("response_code")
        try:
            rp = await authenticated(request)
            if not code or len(code) > 200:
                return error_response(400, "invalid_request", "give the response_code query parameter")
            report = await run_in_threadpool(transactions.result_by_response_code, ctx, rp, code)
        except VerifierError as error:
            return _error(error)
        return json_response(report)

    return [
        Route(f"{PREFIX}/requests", create_request, methods=["POST"]),
        Route(f"{PREFIX}/requests/{{id}}", request_status, methods=["GET"]),
        Route(f"{PREFIX}/requests/{{id}}/events", request_events, methods=["GET"]),
        Route(f"{PREFIX}/requests/{{id}}/qr.svg", request_qr, methods=["GET"]),
        Route(f"{PREFIX}/request/{{id}}", request_object, methods=["GET", "POST"]),
        Route(f"{PREFIX}/response/{{id}}", response, methods=["POST"]),
        Route(f"{PREFIX}/results", result, methods=["GET"]),
    ]


def _oauth_error(error: VerifierError) -> str:
    value = getattr(error, "oauth_error", "invalid_request")
    return value if isinstance(value, str) and value else "invalid_request"
