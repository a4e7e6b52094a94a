"""HTTP read API of the log (Starlette): C2SP tlog-tiles paths plus proof and receipt endpoints.

    GET /checkpoint                         the latest signed checkpoint (text/plain)
    GET /tile/<L>/<N>[.p/<W>]               hash tiles (application/octet-stream)
    GET /tile/entries/<N>[.p/<W>]           entry bundles
    GET /proof/inclusion?index=I[&size=S]   {"index", "size", "leafHash", "rootHash", "proof": [base64, ...]}
    GET /proof/consistency?old=M&new=N      {"old", "new", "oldRoot", "newRoot", "proof": [base64, ...]}
    GET /receipt/<index>                    c2sp.org/tlog-proof@v1 text against the latest checkpoint

Everything is served as of the latest checkpoint, so what a client fetches matches what it can verify. Full tiles and
bundles never change and are served ``immutable`` for a year; partial tiles, proofs and the checkpoint get a short
max-age. Client mistakes get 400 (malformed) or 404 (beyond the log) with a JSON body ``{"error", "message"}``;
a database outage gets 503.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ledger.errors import LedgerError, TileError
from ledger.log import NotIncludedError, prove
from ledger.rfc9162 import consistency_proof_from, inclusion_proof_from, root_from
from ledger.store import (
    IndexOutOfRangeError,
    NotInitializedError,
    Store,
    StoredCheckpoint,
    StoreUnavailableError,
    Txn,
)
from ledger.tiles import MAX_INDEX, MAX_LEVEL, TILE_WIDTH, parse_tile_path

__all__ = [
    "IMMUTABLE",
    "MAX_INDEX",
    "MAX_LEVEL",
    "PARTIAL",
    "SHORT",
    "BadRequestError",
    "create_app",
    "parse_tile_request",
]

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=5"
PARTIAL = "public, max-age=60"
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")  # [0-9], not \d: only ASCII digits


class BadRequestError(LedgerError):
    """The request is malformed (path or query parameter)."""

    code = "badRequest"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers={"Cache-Control": "no-store"})


def _number(name: str, text: str | None, *, minimum: int = 0) -> int:
    if text is None:
        raise BadRequestError(f"query parameter {name!r} is required")
    if not _NUMBER.fullmatch(text) or int(text) > MAX_INDEX:
        raise BadRequestError(f"{name} must be a decimal number without sign or leading zeros, got {text[:40]!r}")
    value = int(text)
    if value < minimum:
        raise BadRequestError(f"{name} must be at least {minimum}, got {value}")
    return value


def parse_tile_request(path: str) -> tuple[int | None, int, int]:
    """Parse the part after ``tile/``: returns (level or None for entry bundles, index, width)."""
    try:
        level, index, width = parse_tile_path(f"tile/{path}")
    except TileError as exc:
        raise BadRequestError(exc.message) from None
    return (None if level == -1 else level), index, width


def create_app(store: Store, *, debug: bool = False) -> Starlette:
    """The read API over store, as an ASGI application."""

    def latest(txn: Txn) -> StoredCheckpoint:
        checkpoint = txn.latest_checkpoint()
        if checkpoint is None:
            raise IndexOutOfRangeError("the log has no checkpoint yet")
        return checkpoint

    def checkpoint(request: Request) -> Response:
        with store.transaction() as txn:
            note = latest(txn).note
        return PlainTextResponse(note, headers={"Cache-Control": SHORT})

    def tile(request: Request) -> Response:
        level, index, width = parse_tile_request(request.path_params["path"])
        with store.transaction() as txn:
            size = latest(txn).size
            if level is None:
                data = txn.entry_bundle(size, index, width)
            else:
                data = txn.published_tile(size, level, index, width)
        cache = IMMUTABLE if width == TILE_WIDTH else PARTIAL
        return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})

    def root_at(txn: Txn, size: int) -> bytes:
        try:
            return txn.checkpoint(size).root_hash
        except IndexOutOfRangeError:
            return root_from(size, txn.node)

    def inclusion(request: Request) -> Response:
        index = _number("index", request.query_params.get("index"))
        with store.transaction() as txn:
            published = latest(txn).size
            size_text = request.query_params.get("size")
            size = published if size_text is None else _number("size", size_text, minimum=1)
            if size > published:
                raise IndexOutOfRangeError(f"size {size} is beyond the latest checkpoint ({published})")
            if index >= size:
                raise IndexOutOfRangeError(f"index {index} is not in a tree of size {size}")
            _, leaf = txn.entry(index)
            proof = inclusion_proof_from(index, size, txn.node)
            root = root_at(txn, size)
        body = {"index": index, "size": size, "leafHash": _b64(leaf), "rootHash": _b64(root)}
        return JSONResponse({**body, "proof": [_b64(p) for p in proof]}, headers={"Cache-Control": SHORT})

    def consistency(request: Request) -> Response:
        old = _number("old", request.query_params.get("old"), minimum=1)
        new = _number("new", request.query_params.get("new"), minimum=1)
        if old > new:
            raise BadRequestError(f"old ({old}) must not exceed new ({new})")
        with store.transaction() as txn:
            published = latest(txn).size
            if new > published:
                raise IndexOutOfRangeError(f"new size {new} is beyond the latest checkpoint ({published})")
            proof = consistency_proof_from(old, new, txn.node)
            roots = {"oldRoot": _b64(root_at(txn, old)), "newRoot": _b64(root_at(txn, new))}
        body = {"old": old, "new": new, **roots, "proof": [_b64(p) for p in proof]}
        return JSONResponse(body, headers={"Cache-Control": SHORT})

    def receipt(request: Request) -> Response:
        index = _number("index", request.path_params["index"])
        with store.transaction() as txn:
            text = prove(txn, index).format()
        return PlainTextResponse(text, headers={"Cache-Control": SHORT})

    def handled(endpoint: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapper(request: Request) -> Response:
            try:
                return endpoint(request)
            except BadRequestError as error:
                return _error(400, error.code, error.message)
            except (IndexOutOfRangeError, NotIncludedError, NotInitializedError) as error:
                return _error(404, error.code, error.message)
            except StoreUnavailableError as error:
                return _error(503, error.code, "the ledger database is unavailable; try again later")
            except LedgerError as error:
                return _error(500, error.code, error.message)

        return wrapper

    routes: list[Any] = [
        Route("/checkpoint", handled(checkpoint)),
        Route("/tile/{path:path}", handled(tile)),
        Route("/proof/inclusion", handled(inclusion)),
        Route("/proof/consistency", handled(consistency)),
        Route("/receipt/{index}", handled(receipt)),
    ]

    async def unrouted(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return _error(405, "methodNotAllowed", f"{request.method} is not allowed on {request.url.path[:80]}")
        return _error(404, "notFound", f"no such resource: {request.url.path[:80]}")

    handlers: dict[Any, Any] = {404: unrouted, 405: unrouted}
    return Starlette(debug=debug, routes=routes, exception_handlers=handlers)
