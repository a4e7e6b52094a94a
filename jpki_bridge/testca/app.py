"""The TEST CA over HTTP: a Starlette app serving its OCSP responder and its CRLs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, cast

from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jpki_bridge.testca.common import TREES, Clock, TestCAError, Tree

if TYPE_CHECKING:
    from jpki_bridge.testca.ca import TestCA

__all__ = [
    "MAX_OCSP_REQUEST",
    "http_app",
]

MAX_OCSP_REQUEST: Final = 16 * 1024
"""The largest OCSP request body the app reads, in bytes."""


def http_app(ca: TestCA, clock: Clock | None = None) -> Starlette:
    """``POST /ocsp`` (application/ocsp-request) and ``GET /crl/<tree>[-<generation>].crl`` for ``ca``."""
    now = clock or ca.clock

    async def ocsp_endpoint(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/ocsp-request":
            return Response("expected application/ocsp-request\n", status_code=415, media_type="text/plain")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_OCSP_REQUEST:
                return Response("OCSP request too large\n", status_code=413, media_type="text/plain")
        return Response(ca.ocsp_response(body, now()), media_type="application/ocsp-response")

    async def crl_endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        tree, _, generation = name.partition("-")
        if tree not in TREES:
            return Response("unknown CRL\n", status_code=404, media_type="text/plain")
        try:
            crl = ca.crl(cast(Tree, tree), now(), generation=generation or None)
        except TestCAError:
            return Response("unknown CRL\n", status_code=404, media_type="text/plain")
        return Response(crl.public_bytes(serialization.Encoding.DER), media_type="application/pkix-crl")

    return Starlette(
        routes=[
            Route("/ocsp", ocsp_endpoint, methods=["POST"]),
            Route("/crl/{name}.crl", crl_endpoint, methods=["GET"]),
        ]
    )
