"""Document-signature events in the xid Ledger: ``POST /ledger/v1/signatures`` and the log's verifier key.

- ``POST /ledger/v1/signatures`` (JSON ``{"proof": compact JWS}``): the proof is signed by a holder key, ``typ``
  ``xid-signature-record+jwt``, its ``x5c`` leaf an xid CA **signing** certificate of this CA (issued by its root,
  recorded in ``issuer_ca_certificate`` with usage ``signing``, not revoked, within its validity), the leaf's key the
  one that signed the JWS; the payload ``{"sha256": <64 lowercase hex>, "iat": <seconds>}`` with ``iat`` within
  ``proof_max_age`` of now. Then one ``signature`` record is appended to the ledger: ``object`` = the document hash,
  ``subject`` = ``commitment(ledger_key, "xid-ca:" + the certificate's pseudonym)`` (no personal data, no serial that
  could be looked up), and the answer waits for a checkpoint covering it: ``200 {"receipt": <tlog-proof text>,
  "index": n}``. The receipt's ``extra`` line carries the entry bytes, so a verifier holding only the receipt checks
  the entry (type, document hash) and its inclusion offline with the log's key.
- ``GET /ledger/v1/key``: the log's note verifier key (``text/plain``, ``<origin>+<key id>+<key>``).

Refusals are ``{"error", "error_description"}``: 400 ``invalid_request`` (malformed body or proof, stale ``iat``),
401 ``invalid_client`` (certificate not of this CA, not a signing certificate, revoked, or the signature does not
verify), 413 (too large), 429 (rate), 503 (no ledger, or no checkpoint in time). Nothing is appended on a refusal.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from did import PublicKey
from did.errors import DidError
from foundation.db import transaction
from foundation.errors import XidError
from foundation.jws import parse_compact
from foundation.strict_json import strict_json
from foundation.web import RateLimiter, client_key, error_response, json_response, parse_model, read_json
from issuer.ca import XidCA, ca_certificates
from issuer.context import IssuerContext
from ledger.errors import LedgerError
from ledger.receipt import Receipt
from ledger.records import EventType, Record, commitment

__all__ = ["MAX_PROOF", "PROOF_TYP", "SignatureRecordRequest", "routes"]

PROOF_TYP: Final = "xid-signature-record+jwt"
"""The JOSE ``typ`` of the proof (``wallet.signing.RECORD_PROOF_TYP``; the issuer does not import the wallet)."""
MAX_PROOF: Final = 16 * 1024
"""The largest proof JWS taken (a P-256 leaf and root in ``x5c`` take about 2 KiB)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ALGORITHMS: Final = ("ES256", "EdDSA")
_INCLUSION_TIMEOUT: Final = 10.0
_RATE_PER_MINUTE: Final = 60


class SignatureRecordRequest(BaseModel):
    """The body of ``POST /ledger/v1/signatures``."""

    model_config = ConfigDict(extra="forbid")

    proof: str = Field(min_length=1, max_length=MAX_PROOF)


class _RefusedError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _bad(description: str) -> _RefusedError:
    return _RefusedError(400, "invalid_request", description)


def _untrusted(description: str) -> _RefusedError:
    return _RefusedError(401, "invalid_client", description)


def _certificates(header: dict[str, Any]) -> list[x509.Certificate]:
    chain = header.get("x5c")
    if not isinstance(chain, list) or not 1 <= len(chain) <= 4:
        raise _bad("the proof header needs x5c: the signing certificate and its chain")
    certificates = []
    for item in chain:
        if not isinstance(item, str):
            raise _bad("x5c entries are base64 DER certificates")
        try:
            certificates.append(x509.load_der_x509_certificate(base64.b64decode(item, validate=True)))
        except (ValueError, binascii.Error):
            raise _bad("an x5c entry is not a base64 DER certificate") from None
    return certificates


def _check_proof(ctx: IssuerContext, ca: XidCA, token: str) -> tuple[str, str]:
    """The document hash and the signer's pseudonym of a valid proof, else _RefusedError."""
    try:
        parts = parse_compact(token, what="the proof", max_size=MAX_PROOF)
        payload = strict_json(parts.payload, "the proof payload")
    except XidError as exc:
        raise _bad(exc.message) from None
    header = parts.header
    if header.get("typ") != PROOF_TYP:
        raise _bad(f"the proof's typ must be {PROOF_TYP}")
    if header.get("alg") not in _ALGORITHMS:
        raise _bad("the proof's alg must be ES256 or EdDSA")
    sha256, iat = payload.get("sha256"), payload.get("iat")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise _bad("the proof's sha256 must be 64 lowercase hex characters")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _bad("the proof's iat must be an integer (seconds since the epoch)")
    now = ctx.clock()
    if abs(now.timestamp() - iat) > ctx.settings.proof_max_age / timedelta(seconds=1):
        raise _bad("the proof's iat is not recent (check the clock)")
    leaf = _certificates(header)[0]
    root = ca.root()
    root_certificate = x509.load_der_x509_certificate(root.der)
    try:
        leaf.verify_directly_issued_by(root_certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise _untrusted("the certificate was not issued by this xid CA") from None
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise _untrusted("the certificate is not within its validity period")
    with transaction(ctx.engine, write=False) as conn:
        row = conn.execute(
            select(ca_certificates.c.usage, ca_certificates.c.revoked_at).where(
                ca_certificates.c.serial == format(leaf.serial_number, "x"),
                ca_certificates.c.root_key_id == root.key_id,
            )
        ).first()
    if row is None:
        raise _untrusted("the certificate is not one this xid CA issued")
    if row.usage != "signing":
        raise _untrusted("the certificate is not a signing certificate (an authentication certificate?)")
    if row.revoked_at is not None:
        raise _untrusted("the signing certificate was revoked")
    try:
        PublicKey.from_cryptography(leaf.public_key()).verify(parts.signature, parts.signing_input, header["alg"])  # type: ignore[arg-type]
    except DidError:
        raise _untrusted("the proof's signature does not verify with the certificate's key") from None
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    pseudonym = str(names[0].value) if names else format(leaf.serial_number, "x")
    return sha256, pseudonym


def routes(ctx: IssuerContext, ca: XidCA) -> list[BaseRoute]:
    """The signature-event routes under ``/ledger/v1`` (mount them before the ledger's own ``/ledger`` app)."""
    limiter = RateLimiter(_RATE_PER_MINUTE)
    limit = min(ctx.settings.max_body_bytes, 2 * MAX_PROOF)

    def record(token: str) -> tuple[str, int]:
        sha256, pseudonym = _check_proof(ctx, ca, token)
        if ctx.ledger is None:
            raise _RefusedError(503, "temporarily_unavailable", "this issuer runs without a ledger")
        entry = Record(
            type=EventType.SIGNATURE,
            time=ctx.clock(),
            subject=commitment(ctx.secrets.ledger_key, f"xid-ca:{pseudonym}"),
            object=sha256,
        )
        try:
            receipt = ctx.ledger.append(entry).wait_included(_INCLUSION_TIMEOUT)
        except (LedgerError, TimeoutError):
            raise _RefusedError(503, "temporarily_unavailable", "the ledger did not record the event in time") from None
        with_entry = Receipt(receipt.index, receipt.proof, receipt.checkpoint, extra=entry.to_bytes())
        return with_entry.format(), receipt.index

    async def signatures(request: Request) -> Response:
        limiter.check(client_key(request))
        body = parse_model(SignatureRecordRequest, await read_json(request, limit))
        try:
            text, index = await run_in_threadpool(record, body.proof)
        except _RefusedError as refused:
            return error_response(refused.status, refused.error, refused.description)
        return json_response({"receipt": text, "index": index})

    async def key(request: Request) -> Response:
        if ctx.ledger is None:
            return error_response(404, "not_found", "this issuer runs without a ledger")
        return PlainTextResponse(ctx.ledger.vkey + "\n", headers={"Cache-Control": "public, max-age=3600"})

    return [
        Route("/ledger/v1/signatures", signatures, methods=["POST"]),
        Route("/ledger/v1/key", key, methods=["GET"]),
    ]
