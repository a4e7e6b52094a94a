"""The issuer's ASGI app: every part of the issuer wired together on one base URL (``create_app``).

The credential issuer identifier is the base URL; the issuer's did:web names the same host and path, and its DID
document is served where did:web resolution looks for it (``/.well-known/did.json`` for a bare host, ``/did.json``
under a path).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from did.did_web import web_document
from did.keys import PublicKey
from issuer.context import IssuerContext
from issuer.http import EXCEPTION_HANDLERS, json_response

__all__ = ["create_app", "did_document", "did_document_path"]


def did_document(ctx: IssuerContext) -> dict[str, Any]:
    """The issuer's did:web document: its ES256 and Ed25519 keys as Multikey verification methods."""
    keys = [
        ("es256", PublicKey.from_jwk(ctx.es256.public_jwk)),
        ("ed25519", PublicKey.from_jwk(ctx.ed25519.public_jwk)),
    ]
    return web_document(ctx.did, keys)


def did_document_path(base_url: str) -> str:
    """Where the app serves the DID document (the app sees paths below the base URL)."""
    return "/did.json" if urlsplit(base_url).path.strip("/") else "/.well-known/did.json"


def create_app(ctx: IssuerContext) -> Starlette:
    """The issuer's app on ``ctx.base_url``."""
    document = did_document(ctx)

    async def did_json(request: Request) -> Response:
        return json_response(document, no_store=False, headers={"Cache-Control": "public, max-age=300"})

    routes: list[BaseRoute] = [Route(did_document_path(ctx.base_url), did_json, methods=["GET"])]
    return Starlette(routes=routes, exception_handlers=dict(EXCEPTION_HANDLERS))
