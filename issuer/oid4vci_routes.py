"""The OpenID4VCI 1.0 HTTP endpoints: metadata, offers by reference, token, nonce, credential and notification.

Thin handlers over ``issuer.oid4vci``: read the body with the bounded helpers of ``foundation.web``, run the
(synchronous, database-bound) core in the thread pool, and map an ``Oid4vciError`` to its protocol error:
RFC 6749 §5.2 at the token endpoint, RFC 6750 §3 (401 + ``WWW-Authenticate``) for access tokens, OpenID4VCI 1.0
§8.3.1 at the credential endpoint and §11 at the notification endpoint.

Paths (at the root of the credential issuer identifier): ``GET /.well-known/openid-credential-issuer``,
``GET /.well-known/oauth-authorization-server``, ``GET /credential-offer/{ref}``, ``POST /token``, ``POST /nonce``,
``POST /credential``, ``POST /notification``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from foundation.web import (
    BodyTooLargeError,
    RateLimiter,
    RequestBodyError,
    TokenRequest,
    bearer_token,
    client_key,
    error_response,
    json_response,
    read_body,
    read_form,
    read_json,
)
from issuer.context import IssuerContext
from issuer.contracts import CredentialIssuer, IdentityFactsReader
from issuer.oid4vci import (
    CredentialEndpoint,
    GrantTypeRegistry,
    InvalidCredentialRequestError,
    InvalidNotificationRequestError,
    Oid4vciError,
    authorization_server_metadata,
    default_grant_types,
    issue_nonce,
    issuer_metadata,
    load_offer,
    notify,
)

__all__ = ["routes"]

_NONCE_BODY_LIMIT = 1024
_METADATA_CACHE = {"Cache-Control": "public, max-age=300"}


def _error(error: Oid4vciError) -> Response:
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error.error}"'
    return error_response(error.status, error.error, error.message, headers=headers)


def _token_in_query(request: Request) -> Response | None:
    """RFC 6750 §2.3 is not offered: an access token in the URI is refused (it leaks into logs and history)."""
    if "access_token" in request.query_params:
        return error_response(
            400,
            "invalid_request",
            "send the access token in the Authorization header, never in the URI",
            headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )
    return None


def routes(
    ctx: IssuerContext,
    *,
    configurations: Mapping[str, Mapping[str, Any]],
    issue: CredentialIssuer,
    facts: IdentityFactsReader,
    grant_types: GrantTypeRegistry | None = None,
) -> list[BaseRoute]:
    """The OpenID4VCI routes of an issuer; ``grant_types`` defaults to the pre-authorized code grant alone."""
    registry = grant_types if grant_types is not None else default_grant_types(ctx)
    endpoint = CredentialEndpoint(ctx, configurations, issue, facts)
    limiter = RateLimiter(ctx.settings.token_rate_per_minute)
    limit = ctx.settings.max_body_bytes

    async def credential_issuer_metadata(request: Request) -> Response:
        return json_response(issuer_metadata(ctx, configurations), no_store=False, headers=_METADATA_CACHE)

    async def oauth_metadata(request: Request) -> Response:
        body = authorization_server_metadata(ctx, registry.grant_types, registry.metadata)
        return json_response(body, no_store=False, headers=_METADATA_CACHE)

    async def credential_offer(request: Request) -> Response:
        try:
            offer = await run_in_threadpool(load_offer, ctx, request.path_params["ref"])
        except Oid4vciError as error:
            return _error(error)
        return json_response(offer)

    async def token(request: Request) -> Response:
        limiter.check(client_key(request))
        form = await read_form(request, limit)
        headers = {name.lower(): value for name, value in request.headers.items()}
        token_request = TokenRequest(form=form, headers=headers, url=ctx.url("/token"))
        try:
            answer = await run_in_threadpool(registry.handle, token_request)
        except Oid4vciError as error:
            return _error(error)
        return json_response(dict(answer.body), answer.status, headers=answer.headers)

    async def nonce(request: Request) -> Response:
        await read_body(request, _NONCE_BODY_LIMIT)  # no body is expected; a large one is refused unread
        c_nonce = await run_in_threadpool(issue_nonce, ctx)
        return json_response({"c_nonce": c_nonce})

    async def credential(request: Request) -> Response:
        refused = _token_in_query(request)
        if refused is not None:
            return refused
        access_token = bearer_token(request)
        try:
            grant = await run_in_threadpool(endpoint.authorize, access_token)
            try:
                body = await read_json(request, limit)
            except RequestBodyError as error:
                status = 413 if isinstance(error, BodyTooLargeError) else 400
                return error_response(status, InvalidCredentialRequestError.error, error.message)
            answer = await run_in_threadpool(endpoint.respond, grant, body)
        except Oid4vciError as error:
            return _error(error)
        return json_response(answer)

    async def notification(request: Request) -> Response:
        refused = _token_in_query(request)
        if refused is not None:
            return refused
        access_token = bearer_token(request)
        try:
            await run_in_threadpool(endpoint.authorize, access_token)
            try:
                body = await read_json(request, limit)
            except RequestBodyError as error:
                status = 413 if isinstance(error, BodyTooLargeError) else 400
                return error_response(status, InvalidNotificationRequestError.error, error.message)
            await run_in_threadpool(notify, ctx, access_token, body)
        except Oid4vciError as error:
            return _error(error)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    return [
        Route("/.well-known/openid-credential-issuer", credential_issuer_metadata, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", oauth_metadata, methods=["GET"]),
        Route("/credential-offer/{ref}", credential_offer, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
        Route("/nonce", nonce, methods=["POST"]),
        Route("/credential", credential, methods=["POST"]),
        Route("/notification", notification, methods=["POST"]),
    ]
