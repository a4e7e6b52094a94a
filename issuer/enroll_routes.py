"""The enrollment endpoints: ``POST /enroll/challenge`` and ``POST /enroll`` (the wallet's card check).

``POST /enroll/challenge`` ``{"holder_jwk": <public JWK>}`` → 201 ``{"nonce", "expires_in"}``.
``POST /enroll`` ``{"nonce", "certificate", "signature", "holder_proof"}`` (certificate and signature base64url)
→ 201 ``{"credential_offer", "credential_offer_uri", "credential_offer_reference", "tx_code", "expires_in",
"qr_svg"}``: the OpenID4VCI offer by value and by reference, and a QR code (SVG) of the by-reference URI for a phone
wallet. Never the basic 4 info, never the person ID. Both answers are ``Cache-Control: no-store``; both endpoints are
rate limited per client (``IssuerSettings.enroll_rate_per_minute``) and take at most ``max_body_bytes``.

Errors are ``{"error", "error_description"}``: 400 ``invalid_request`` / ``invalid_nonce`` / ``invalid_proof`` /
``invalid_signature``, 403 ``certificate_rejected``, 503 ``temporarily_unavailable`` (revocation status or the
database unavailable), 429 when rate limited, 413 for a body over the limit.
"""

from __future__ import annotations

import io
import math
from typing import Annotated

import segno
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from foundation.b64 import b64url_decode
from foundation.web import (
    RateLimiter,
    RequestBodyError,
    client_key,
    error_response,
    json_response,
    parse_model,
    read_json,
)
from issuer.context import IssuerContext
from issuer.enrollment import (
    CardSignatureRejectedError,
    CertificateRejectedError,
    Enrollment,
    EnrollmentError,
    EnrollmentNonceError,
    EnrollmentRequestError,
    HolderProofError,
    RevocationUnknownError,
)

__all__ = ["ChallengeRequest", "EnrollRequest", "qr_svg", "routes"]

_MAX_CERTIFICATE_CHARS = 16 * 1024
_MAX_SIGNATURE_CHARS = 1024
_MAX_PROOF_CHARS = 8 * 1024

_ERRORS: tuple[tuple[type[EnrollmentError], int, str], ...] = (
    (EnrollmentRequestError, 400, "invalid_request"),
    (EnrollmentNonceError, 400, "invalid_nonce"),
    (HolderProofError, 400, "invalid_proof"),
    (CardSignatureRejectedError, 400, "invalid_signature"),
    (CertificateRejectedError, 403, "certificate_rejected"),
    (RevocationUnknownError, 503, "temporarily_unavailable"),
)


class ChallengeRequest(BaseModel):
    """The body of ``POST /enroll/challenge``."""

    model_config = ConfigDict(extra="ignore")
    holder_jwk: dict[str, object]


class EnrollRequest(BaseModel):
    """The body of ``POST /enroll``."""

    model_config = ConfigDict(extra="ignore")
    nonce: Annotated[str, Field(min_length=1, max_length=128)]
    certificate: Annotated[str, Field(min_length=1, max_length=_MAX_CERTIFICATE_CHARS)]
    signature: Annotated[str, Field(min_length=1, max_length=_MAX_SIGNATURE_CHARS)]
    holder_proof: Annotated[str, Field(min_length=1, max_length=_MAX_PROOF_CHARS)]


def qr_svg(data: str) -> str:
    """An SVG QR code (error correction M) of ``data``, made with segno."""
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


def _decode(value: str, field: str) -> bytes:
    try:
        return b64url_decode(value)
    except ValueError:
        raise RequestBodyError(f"{field} must be unpadded base64url") from None


def _error(error: EnrollmentError) -> Response:
    for cls, status, code in _ERRORS:
        if isinstance(error, cls):
            return error_response(status, code, error.message)
    return error_response(400, "invalid_request", error.message)


def routes(ctx: IssuerContext, enrollment: Enrollment) -> list[BaseRoute]:
    """The two enrollment routes, sharing the context's settings (rate limit per endpoint and client)."""
    limit = ctx.settings.max_body_bytes
    challenge_limiter = RateLimiter(ctx.settings.enroll_rate_per_minute)
    enroll_limiter = RateLimiter(ctx.settings.enroll_rate_per_minute)

    async def challenge(request: Request) -> Response:
        challenge_limiter.check(client_key(request))
        body = parse_model(ChallengeRequest, await read_json(request, limit))
        try:
            issued = await run_in_threadpool(enrollment.challenge, body.holder_jwk)
        except EnrollmentError as error:
            return _error(error)
        expires_in = max(0, math.ceil((issued.expires_at - ctx.clock()).total_seconds()))
        return json_response({"nonce": issued.nonce, "expires_in": expires_in}, 201)

    async def enroll(request: Request) -> Response:
        enroll_limiter.check(client_key(request))
        body = parse_model(EnrollRequest, await read_json(request, limit))
        certificate = _decode(body.certificate, "certificate")
        signature = _decode(body.signature, "signature")
        try:
            result = await run_in_threadpool(
                lambda: enrollment.enroll(
                    nonce=body.nonce, certificate=certificate, signature=signature, holder_proof=body.holder_proof
                )
            )
        except EnrollmentError as error:
            return _error(error)
        offer = result.offer
        expires_in = max(0, math.floor((offer.expires_at - ctx.clock()).total_seconds()))
        return json_response(
            {
                "credential_offer": offer.offer,
                "credential_offer_uri": offer.by_value,
                "credential_offer_reference": offer.by_reference,
                "tx_code": offer.tx_code,
                "expires_in": expires_in,
                "qr_svg": qr_svg(offer.by_reference),
            },
            201,
        )

    return [
        Route("/enroll/challenge", challenge, methods=["POST"]),
        Route("/enroll", enroll, methods=["POST"]),
    ]
