"""HTTP routes of the W3C VC API verification service (VCALM): ``POST /credentials/verify`` and
``POST /presentations/verify`` (see ``verifier.vc_api`` for what is checked).

The routes are public: verifying reveals nothing that the caller did not send, and they write nothing. They are
rate-limited per client address (``presentation_rate_per_minute``) and size-limited (``max_body_bytes``), and work
that may fetch (DID documents, status lists) runs in the thread pool.

Success: 200 ``{"verified": true, "checks", "warnings", "errors": []}``. Anything else is a ProblemDetails object
(``application/problem+json``: ``{"type", "title", "detail", "code"}``, VCALM §ProblemDetails with VC Data Model 2.0
§7.1 / Data Integrity types), which for a credential or presentation that does not verify also carries
``"verified": false``, the ``checks`` passed before the failure and ``errors`` (one ProblemDetails): 400 for a
malformed request or anything that does not verify, 413 for an oversized body, 429 when rate-limited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from foundation.web import (
    BodyTooLargeError,
    RateLimitedError,
    RateLimiter,
    RequestBodyError,
    client_key,
    json_response,
    read_json,
    safe_description,
)
from verifier.context import VerifierContext
from verifier.vc_api import PROBLEM_TYPES, InvalidVerifyRequestError, NotVerifiedError, VcApiVerifier

__all__ = ["problem", "routes"]

_PROBLEM_JSON: Final = "application/problem+json"


def problem(status: int, kind: str, code: str, detail: str, **extra: Any) -> Response:
    """A ProblemDetails response (``application/problem+json``, no-store)."""
    body = {"type": kind, "title": code, "detail": safe_description(detail, 500), "code": code, **extra}
    response = json_response(body, status)
    response.headers["content-type"] = _PROBLEM_JSON
    return response


def _not_verified(error: NotVerifiedError) -> Response:
    cause = {"type": error.problem_type, "title": error.cause or error.code, "detail": safe_description(error.message)}
    return problem(
        400,
        error.problem_type,
        error.code,
        error.message,
        verified=False,
        checks=list(error.checks),
        warnings=[],
        errors=[cause],
    )


def routes(ctx: VerifierContext) -> list[BaseRoute]:
    """``POST /credentials/verify`` and ``POST /presentations/verify`` over the context."""
    service = VcApiVerifier(ctx)
    limiter = RateLimiter(ctx.settings.presentation_rate_per_minute)
    limit = ctx.settings.max_body_bytes

    async def _call(request: Request, operation: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Response:
        try:
            limiter.check(client_key(request))
            body = await read_json(request, limit)
            result = await run_in_threadpool(operation, body)
        except RateLimitedError as exc:
            return _rate(exc)
        except BodyTooLargeError as exc:
            return problem(413, PROBLEM_TYPES["parsing"], exc.code, exc.message)
        except RequestBodyError as exc:
            return problem(400, PROBLEM_TYPES["parsing"], exc.code, exc.message)
        except InvalidVerifyRequestError as exc:
            return problem(400, exc.problem_type, exc.code, exc.message)
        except NotVerifiedError as exc:
            return _not_verified(exc)
        return json_response(result, 200)

    async def verify_credential(request: Request) -> Response:
        return await _call(request, service.verify_credential)

    async def verify_presentation(request: Request) -> Response:
        return await _call(request, service.verify_presentation)

    return [
        Route("/credentials/verify", verify_credential, methods=["POST"]),
        Route("/presentations/verify", verify_presentation, methods=["POST"]),
    ]


def _rate(error: RateLimitedError) -> Response:
    response = problem(429, "about:blank", error.code, error.message)
    response.headers["retry-after"] = str(error.retry_after)
    return response
