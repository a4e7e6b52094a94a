"""HTTP routes of the credentials part: type metadata, issuer key discovery, the xid context, status lists, admin API.

- ``GET /vct/identity`` — SD-JWT VC type metadata of the identity credential's ``vct``.
- ``GET /.well-known/jwt-vc-issuer`` — JWT VC issuer metadata (``issuer``, ``jwks`` with the ES256 key whose ``kid``
  is its DID URL). Only the root case: an issuer URL with a path would need the well-known segment inserted between
  host and path, which the composition root does not mount.
- ``GET /contexts/identity/v1`` — the xid JSON-LD context (the same bytes as the bundled copy).
- ``GET /status/bitstring/{list_id}`` and ``GET /status/token/{list_id}`` — signed status lists with
  ``Cache-Control: public, max-age``, ``ETag`` and ``304 Not Modified`` on a matching ``If-None-Match``.
- ``GET /admin/credentials?person=<id>`` and ``POST /admin/credentials/{id}/status`` ``{"status": "revoked" |
  "suspended" | "valid"}`` — Bearer ``settings.admin_token``; 404 when no token is configured, 401 for a missing or
  wrong token, 409 when a revoked credential would change (revocation is final).
"""

from __future__ import annotations

import hmac
import re
from importlib import resources
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from foundation.db import transaction
from foundation.web import bearer_token, error_response, json_response, parse_model, read_json
from issuer.context import IssuerContext
from issuer.credentials import type_metadata
from issuer.status import (
    CredentialRecord,
    RevokedIsFinalError,
    StatusLists,
    UnknownCredentialError,
    UnknownStatusListError,
    get_credential,
    list_credentials,
    reinstate,
    revoke,
    suspend,
)

__all__ = ["CONTEXT_MEDIA_TYPE", "StatusChange", "routes"]

CONTEXT_MEDIA_TYPE = "application/ld+json"
_LIST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PERSON_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_METADATA_MAX_AGE = 3600


class StatusChange(BaseModel):
    """The admin API's status change request."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["revoked", "suspended", "valid"]


def _context_bytes() -> bytes:
    return resources.files("vc").joinpath("contexts/xid-identity-v1.jsonld").read_bytes()


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates


def routes(ctx: IssuerContext, status: StatusLists) -> list[BaseRoute]:
    """The credentials part's routes, bound to an issuer context and its status lists."""
    public = {"Cache-Control": f"public, max-age={_METADATA_MAX_AGE}"}
    metadata_body = orjson.dumps(type_metadata(ctx))
    jwk = {**ctx.es256.public_jwk, "kid": ctx.es256_kid, "use": "sig", "alg": "ES256"}
    issuer_metadata = orjson.dumps({"issuer": ctx.base_url, "jwks": {"keys": [jwk]}})
    context_body = _context_bytes()

    async def vct(request: Request) -> Response:
        return Response(metadata_body, media_type="application/json", headers=public)

    async def jwt_vc_issuer(request: Request) -> Response:
        return Response(issuer_metadata, media_type="application/json", headers=public)

    async def context(request: Request) -> Response:
        return Response(context_body, media_type=CONTEXT_MEDIA_TYPE, headers=public)

    def status_list(kind: Literal["bitstring", "token"]) -> Route:
        async def endpoint(request: Request) -> Response:
            list_id = request.path_params["list_id"]
            if not _LIST_ID.fullmatch(list_id):
                return error_response(404, "not_found", "there is no such status list")
            try:
                publication = await run_in_threadpool(status.publication, kind, list_id)
            except UnknownStatusListError:
                return error_response(404, "not_found", "there is no such status list")
            headers = {"Cache-Control": f"public, max-age={publication.max_age}", "ETag": publication.etag}
            if _etag_matches(request.headers.get("if-none-match"), publication.etag):
                return Response(status_code=304, headers=headers)
            return Response(publication.body, media_type=publication.media_type, headers=headers)

        return Route(f"/status/{kind}/{{list_id}}", endpoint, methods=["GET"])

    def authorized(request: Request) -> Response | None:
        """None when the request carries the admin token; otherwise the response refusing it."""
        expected = ctx.settings.admin_token
        if expected is None:
            return error_response(404, "not_found", "the admin API is not enabled")
        token = bearer_token(request)
        if token is None or not hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
            return error_response(
                401, "invalid_token", "a valid admin bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return None

    async def admin_list(request: Request) -> Response:
        refused = authorized(request)
        if refused is not None:
            return refused
        person = request.query_params.get("person")
        if person is None or not _PERSON_ID.fullmatch(person):
            return error_response(400, "invalid_request", "the query parameter person (a person id) is required")

        def read() -> list[CredentialRecord]:
            with transaction(ctx.engine) as conn:
                return list_credentials(conn, person)

        records = await run_in_threadpool(read)
        return json_response({"person": person, "credentials": [record.to_json() for record in records]})

    async def admin_status(request: Request) -> Response:
        refused = authorized(request)
        if refused is not None:
            return refused
        credential_id = request.path_params["credential_id"]
        change = parse_model(StatusChange, await read_json(request, 1024))
        operation = {"revoked": revoke, "suspended": suspend, "valid": reinstate}[change.status]

        def apply() -> tuple[bool, CredentialRecord]:
            with transaction(ctx.engine, write=True) as conn:
                changed = operation(ctx, conn, credential_id)
                return changed, get_credential(conn, credential_id)

        try:
            changed, record = await run_in_threadpool(apply)
        except UnknownCredentialError:
            return error_response(404, "not_found", "there is no issued credential with that id")
        except RevokedIsFinalError:
            return error_response(409, "invalid_request", "the credential is revoked; revocation is final")
        return json_response({**record.to_json(), "changed": changed})

    return [
        Route("/vct/identity", vct, methods=["GET"]),
        Route("/.well-known/jwt-vc-issuer", jwt_vc_issuer, methods=["GET"]),
        Route("/contexts/identity/v1", context, methods=["GET"]),
        status_list("bitstring"),
        status_list("token"),
        Route("/admin/credentials", admin_list, methods=["GET"]),
        Route("/admin/credentials/{credential_id}/status", admin_status, methods=["POST"]),
    ]
