"""The xid CA over HTTP: certificate requests, the root certificate, the CRL and the OCSP responder.

- ``POST /ca/certificates`` (``Authorization: Bearer`` an enrollment's OpenID4VCI access token; JSON ``{"csr":
  base64url DER PKCS#10, "usage": "authentication" | "signing"}``) → 201 ``{"certificate": PEM, "chain": [root
  PEM]}``; the same request again for a grant and usage → 200 with the certificate already issued.
- ``GET /ca/root.pem`` (``application/x-pem-file``) and ``GET /ca/root.cer`` (DER, ``application/pkix-cert``, what
  the certificates' caIssuers names: RFC 5280 §4.2.2.1 wants DER there).
- ``GET /ca/crl`` (DER, ``application/pkix-crl``, ``ETag`` the CRL number).
- ``POST /ca/ocsp`` (``application/ocsp-request``) and ``GET /ca/ocsp/{base64 DER request}`` (RFC 6960 appendix A)
  → ``application/ocsp-response``. A malformed request gets an OCSP ``malformedRequest`` answer with status 400 (413
  when too large, 415 for another media type); an unknown issuer ``unauthorized`` (200, as RFC 6960 answers it); a
  database outage ``tryLater`` (503).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from email.utils import format_datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from foundation.b64 import b64url_decode
from foundation.db import DatabaseUnavailableError
from foundation.web import (
    BodyTooLargeError,
    RequestBodyError,
    bearer_token,
    error_response,
    json_response,
    parse_model,
    read_body,
    read_json,
)
from issuer.ca import CertificateRevokedError, CsrError, OcspAnswer, XidCA
from issuer.context import IssuerContext
from issuer.contracts import AuthorizedHolder

__all__ = ["Authorize", "CertificateRequest", "routes"]

Authorize = Callable[[str], AuthorizedHolder | None]
"""Checks an OpenID4VCI access token: the grant it was issued for, or None when it is unknown or expired."""

_CSR_LIMIT: Final = 8 * 1024
_OCSP_LIMIT: Final = 8 * 1024
_ROOT_MAX_AGE: Final = 3600
_CRL_MAX_AGE: Final = 300
_OCSP_MEDIA: Final = "application/ocsp-response"


class CertificateRequest(BaseModel):
    """The body of ``POST /ca/certificates``."""

    model_config = ConfigDict(extra="ignore")

    csr: str = Field(min_length=1, max_length=_CSR_LIMIT)
    """The PKCS#10 certification request, DER, unpadded base64url."""
    usage: Literal["authentication", "signing"]


def _unauthorized(description: str, *, error: bool) -> Response:
    challenge = 'Bearer error="invalid_token"' if error else "Bearer"
    return error_response(401, "invalid_token", description, headers={"WWW-Authenticate": challenge})


def _ocsp(answer: OcspAnswer, status: int = 200) -> Response:
    return Response(answer.der, status_code=status, media_type=_OCSP_MEDIA, headers={"Cache-Control": "no-store"})


def routes(ctx: IssuerContext, ca: XidCA, authorize: Authorize) -> list[BaseRoute]:
    """The CA's routes under ``/ca``."""
    body_limit = min(ctx.settings.max_body_bytes, 2 * _CSR_LIMIT)

    async def certificates(request: Request) -> Response:
        token = bearer_token(request)
        if token is None:
            return _unauthorized("a bearer access token from the credential issuance is required", error=False)
        holder = await run_in_threadpool(authorize, token)
        if holder is None:
            return _unauthorized("the access token is unknown or expired", error=True)
        body = parse_model(CertificateRequest, await read_json(request, body_limit))
        try:
            csr = b64url_decode(body.csr)
        except ValueError:
            return error_response(400, "invalid_request", "csr: not unpadded base64url of a DER PKCS#10 request")
        try:
            issued, created = await run_in_threadpool(ca.issue, holder, csr, body.usage)
        except CsrError as error:
            return error_response(400, "invalid_request", f"csr: {error.message}")
        except CertificateRevokedError as error:
            return error_response(409, "invalid_request", error.message)
        root = await run_in_threadpool(ca.root)
        return json_response({"certificate": issued.pem, "chain": [root.pem]}, 201 if created else 200)

    async def root_pem(request: Request) -> Response:
        root = await run_in_threadpool(ca.root)
        return Response(
            root.pem,
            media_type="application/x-pem-file",
            headers={"Cache-Control": f"public, max-age={_ROOT_MAX_AGE}"},
        )

    async def root_cer(request: Request) -> Response:
        root = await run_in_threadpool(ca.root)
        return Response(
            root.der, media_type="application/pkix-cert", headers={"Cache-Control": f"public, max-age={_ROOT_MAX_AGE}"}
        )

    async def crl(request: Request) -> Response:
        der, number, this_update = await run_in_threadpool(ca.crl)
        headers = {
            "Cache-Control": f"public, max-age={_CRL_MAX_AGE}",
            "ETag": f'"{number}"',
            "Last-Modified": format_datetime(this_update, usegmt=True),
        }
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(der, media_type="application/pkix-crl", headers=headers)

    async def answer(der: bytes) -> Response:
        try:
            result = await run_in_threadpool(ca.ocsp, der)
        except DatabaseUnavailableError:
            return _ocsp(OcspAnswer(_TRY_LATER, "try_later"), 503)
        return _ocsp(result, 400 if result.status == "malformed_request" else 200)

    async def ocsp_post(request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/ocsp-request":
            return _ocsp(OcspAnswer(_MALFORMED, "malformed_request"), 415)
        try:
            der = await read_body(request, _OCSP_LIMIT)
        except BodyTooLargeError:
            return _ocsp(OcspAnswer(_MALFORMED, "malformed_request"), 413)
        except RequestBodyError:
            return _ocsp(OcspAnswer(_MALFORMED, "malformed_request"), 400)
        return await answer(der)

    async def ocsp_get(request: Request) -> Response:
        encoded: str = request.path_params["request"]
        if len(encoded) > 2 * _OCSP_LIMIT:
            return _ocsp(OcspAnswer(_MALFORMED, "malformed_request"), 414)
        try:
            # RFC 6960 A.1: base64 then URL-encoded (the router already undid the URL encoding); tolerate base64url
            der = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return _ocsp(OcspAnswer(_MALFORMED, "malformed_request"), 400)
        return await answer(der)

    return [
        Route("/ca/certificates", certificates, methods=["POST"]),
        Route("/ca/root.pem", root_pem, methods=["GET"]),
        Route("/ca/root.cer", root_cer, methods=["GET"]),
        Route("/ca/crl", crl, methods=["GET"]),
        Route("/ca/ocsp", ocsp_post, methods=["POST"]),
        Route("/ca/ocsp/{request:path}", ocsp_get, methods=["GET"]),
    ]


_MALFORMED: Final = bytes.fromhex("30030a0101")  # OCSPResponse { responseStatus malformedRequest (1) }
_TRY_LATER: Final = bytes.fromhex("30030a0103")  # OCSPResponse { responseStatus tryLater (3) }
