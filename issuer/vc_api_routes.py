"""HTTP routes of the W3C VC API issuing service (VCALM): issue and status update, per instance and by issuer.

``POST /credentials/issue`` and ``POST /credentials/status`` choose the instance from ``credential.issuer`` (the
did:web one when absent); ``POST /instances/{name}/credentials/issue`` and ``.../status`` address one instance
(see ``issuer.vc_api`` for the instances). Every route needs ``Authorization: Bearer <XID_VC_API_TOKEN>``.

Success: issue answers 201 ``{"verifiableCredential": ...}`` (a Data Integrity credential, or for vc+jwt an
``EnvelopedVerifiableCredential`` whose id is ``data:application/vc+jwt,<token>``); status answers 200. Errors are
ProblemDetails objects (``{"type", "title", "detail", "code"}``, VCALM §ProblemDetails, with VC Data Model 2.0 §7.1
types where one fits): 400 for a body or credential that is not valid, 401, 404, 409, 413, and 503 when the database
is down. Nothing is written unless the whole request succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from foundation.db import DatabaseUnavailableError
from foundation.web import BodyTooLargeError, RequestBodyError, bearer_token, json_response, read_json, safe_description
from issuer.context import IssuerContext
from issuer.contracts import StatusAllocator
from issuer.vc_api import (
    CredentialNotFoundError,
    DuplicateCredentialIdError,
    Instance,
    InvalidCredentialInputError,
    UnknownInstanceError,
    VcApiError,
    VcApiService,
    VcApiUnauthorizedError,
    check_token,
)

__all__ = ["problem", "routes"]

_VCDM: Final = "https://www.w3.org/TR/vc-data-model#"


def problem(
    status: int, error: Exception, *, kind: str = "about:blank", headers: dict[str, str] | None = None
) -> Response:
    """A ProblemDetails response (``application/problem+json``, no-store) for an XidError or a body error."""
    code = getattr(error, "code", "error")
    message = getattr(error, "message", str(error))
    body = {"type": kind, "title": code, "detail": safe_description(message, 500), "code": code}
    response = json_response(body, status, headers=headers)
    response.headers["content-type"] = "application/problem+json"
    return response


def _error_response(error: Exception) -> Response:
    if isinstance(error, VcApiUnauthorizedError):
        return problem(401, error, headers={"WWW-Authenticate": 'Bearer realm="vc-api"'})
    if isinstance(error, BodyTooLargeError):
        return problem(413, error, kind=_VCDM + "PARSING_ERROR")
    if isinstance(error, RequestBodyError):
        return problem(400, error, kind=_VCDM + "PARSING_ERROR")
    if isinstance(error, InvalidCredentialInputError):
        return problem(400, error, kind=_VCDM + "MALFORMED_VALUE_ERROR")
    if isinstance(error, DuplicateCredentialIdError):
        return problem(409, error)
    if isinstance(error, CredentialNotFoundError):
        return problem(404, error)
    if isinstance(error, DatabaseUnavailableError):
        return problem(503, error)
    return problem(400, error)


def routes(ctx: IssuerContext, status: StatusAllocator) -> list[BaseRoute]:
    """The VC API issuing routes over the context's instances, adding status entries through ``status``."""
    service = VcApiService(ctx, status)
    limit = ctx.settings.max_body_bytes

    async def _body(request: Request) -> dict[str, Any]:
        check_token(bearer_token(request), ctx.settings.vc_api_token)
        return await read_json(request, limit)

    def _instance(request: Request) -> Instance | None:
        name = request.path_params.get("name")
        return None if name is None else service.instance(str(name))

    async def _call(request: Request, operation: Callable[[dict[str, Any], Any], Any], success: int) -> Response:
        try:
            body = await _body(request)
            try:
                instance = _instance(request)
            except UnknownInstanceError as exc:
                return problem(404, exc)
            result = await run_in_threadpool(operation, body, instance)
        except (VcApiError, RequestBodyError, DatabaseUnavailableError) as exc:
            return _error_response(exc)
        return json_response(result, success)

    async def issue(request: Request) -> Response:
        return await _call(request, service.issue, 201)

    async def update_status(request: Request) -> Response:
        return await _call(request, service.update_status, 200)

    return [
        Route("/credentials/issue", issue, methods=["POST"]),
        Route("/credentials/status", update_status, methods=["POST"]),
        Route("/instances/{name}/credentials/issue", issue, methods=["POST"]),
        Route("/instances/{name}/credentials/status", update_status, methods=["POST"]),
    ]
