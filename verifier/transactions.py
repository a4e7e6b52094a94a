"""Presentation requests: transactions, request objects (JAR), presets, results and the replay store.

A relying party creates a transaction (a DCQL query or a preset, a response mode, a client identifier prefix and an
optional same-device ``redirect_uri``); the wallet fetches the signed request object at its ``request_uri`` (or gets
the unsigned request by value for ``redirect_uri:``) and posts its response to the ``response_uri``; the response
endpoint marks the transaction answered and records the response's digest in the replay store in ONE database
transaction (conditional UPDATE and a unique key: single use holds across processes), stores the disclosed claims
until the relying party reads them once (or ``result_ttl`` passes) and appends a hash-only ledger record.

Transaction states: ``pending`` (``expired`` once its time is up), ``verified``, ``rejected``. The ephemeral private
key a ``direct_post.jwt`` response is encrypted to is stored with the transaction and erased when it is answered
(purged with it otherwise). Errors::

    VerifierError
    ├── InvalidPresentationRequestError  invalidPresentationRequest  (400 invalid_request: bad DCQL, preset, ...)
    ├── UnknownTransactionError          unknownTransaction          (404: no such transaction for this caller)
    ├── TransactionClosedError           transactionClosed           (400 invalid_request: expired or answered)
    ├── ReplayedPresentationError        replayedPresentation        (400 invalid_request: vp_token used before)
    └── UnknownResponseCodeError         unknownResponseCode         (404: no result for that response_code)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import is_unique_violation, transaction
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from ledger.errors import LedgerError
from ledger.records import EventType, Record, commitment
from vc.dcql import DcqlError, DcqlQuery
from vc.oid4vp import verification_code
from verifier import rps
from verifier.context import ClientIdPrefix, ResponseMode, VerifierContext
from verifier.contracts import TransactionFacts, ValidatedResponse
from verifier.db import Millis, metadata
from verifier.errors import VerifierError
from verifier.rps import RelyingParty

__all__ = [
    "PRESETS",
    "SELF_ISSUED_AUDIENCE",
    "Accepted",
    "Created",
    "InvalidPresentationRequestError",
    "ReplayedPresentationError",
    "RequestSpec",
    "TransactionClosedError",
    "UnknownResponseCodeError",
    "UnknownTransactionError",
    "accept",
    "client_metadata",
    "create",
    "facts",
    "ledger_receipt",
    "peek",
    "preset_query",
    "purge",
    "record_ledger",
    "reject",
    "replay",
    "request_object",
    "request_url",
    "result_by_response_code",
    "results",
    "rp_of",
    "status",
    "transactions",
    "wallet_error",
]

log = logging.getLogger(__name__)

SELF_ISSUED_AUDIENCE: Final = "https://self-issued.me/v2"
"""The request object's ``aud`` for wallets with static metadata (OpenID4VP 1.0 §5.8)."""
REQUEST_OBJECT_TYPE: Final = "oauth-authz-req+jwt"
PRESETS: Final = ("identity", "age_over_20", "address")
ENC_VALUES: Final = ["A128GCM", "A256GCM"]
_JOSE_ALGS: Final = ["ES256", "ES384", "EdDSA", "ES256K"]
_MAX_WALLET_NONCE = 256
_MAX_ERROR_DESCRIPTION = 300

transactions = Table(
    "verifier_transactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("rp", String(64), ForeignKey("verifier_rps.client_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("client_id", String(2100), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("response_mode", String(32), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("state", String(64), nullable=False),
    Column("dcql_query", Text, nullable=False),
    Column("redirect_uri", Text, nullable=True),
    Column("encryption_jwk", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", String(64), nullable=True),
    Column("error_description", String(_MAX_ERROR_DESCRIPTION), nullable=True),
    Column("response_code_sha256", String(64), nullable=True, unique=True),
    Column("ledger_index", BigInteger, nullable=True),
    Column("created", Millis, nullable=False),
    Column("expires", Millis, nullable=False, index=True),
    Column("answered", Millis, nullable=True),
)

results = Table(
    "verifier_results",
    metadata,
    Column(
        "transaction_id",
        String(64),
        ForeignKey("verifier_transactions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("result", Text, nullable=False),
    Column("expires", Millis, nullable=False, index=True),
)

replay = Table(
    "verifier_replay",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("transaction_id", String(64), nullable=False),
    Column("expires", Millis, nullable=False, index=True),
)


class InvalidPresentationRequestError(VerifierError):
    """A relying party asked for a presentation request that cannot be made: a malformed DCQL query, an unknown
    preset, both or neither, an unregistered redirect_uri (400 ``invalid_request``)."""

    code = "invalidPresentationRequest"
    oauth_error = "invalid_request"
    status = 400


class UnknownTransactionError(VerifierError):
    """No such transaction (or it belongs to another relying party): 404."""

    code = "unknownTransaction"
    oauth_error = "invalid_request"
    status = 404


class TransactionClosedError(VerifierError):
    """The transaction can no longer be fetched or answered: it expired or was answered (400 ``invalid_request``)."""

    code = "transactionClosed"
    oauth_error = "invalid_request"
    status = 400


class ReplayedPresentationError(VerifierError):
    """The vp_token was presented before (to this or another transaction): 400 ``invalid_request``."""

    code = "replayedPresentation"
    oauth_error = "invalid_request"
    status = 400


class UnknownResponseCodeError(VerifierError):
    """No result waits under that response_code (unknown, another relying party's, already used or expired): 404."""

    code = "unknownResponseCode"
    oauth_error = "invalid_grant"
    status = 404


class RequestSpec(BaseModel):
    """The body of ``POST /verifier/v1/requests``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dcql_query: dict[str, Any] | None = None
    preset: str | None = None
    response_mode: Literal["direct_post", "direct_post.jwt"] | None = None
    client_id_prefix: Literal["x509_san_dns", "decentralized_identifier", "redirect_uri"] | None = None
    redirect_uri: str | None = None


@dataclass(frozen=True)
class Created:
    """A new presentation request, as the relying party gets it."""

    id: str
    client_id: str
    request_url: str
    verification_code: str
    expires_at: datetime


@dataclass(frozen=True)
class Accepted:
    """A response recorded as verified: where the wallet sends the user next (same-device), if anywhere."""

    redirect_uri: str | None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def preset_query(ctx: VerifierContext, name: str) -> dict[str, Any]:
    """The DCQL query of a preset: the xid identity credential (SD-JWT VC) with the preset's claims."""
    claims: dict[str, list[dict[str, Any]]] = {
        "identity": [
            {"id": "name", "path": ["name"]},
            {"id": "address", "path": ["address"]},
            {"id": "birthdate", "path": ["birthdate"]},
            {"id": "jpki_date_of_birth", "path": ["jpki_date_of_birth"]},
            {"id": "sex", "path": ["sex"]},
        ],
        "age_over_20": [{"path": ["age_over_20"]}],
        "address": [{"path": ["address"]}],
    }
    if name not in claims:
        raise InvalidPresentationRequestError(f"unknown preset; the presets are: {', '.join(PRESETS)}")
    query: dict[str, Any] = {
        "id": name,
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [ctx.url("/vct/identity")]},
        "claims": claims[name],
    }
    if name == "identity":  # the full date of birth when the card knows it, else the card's own notation
        query["claim_sets"] = [
            ["name", "address", "birthdate", "sex"],
            ["name", "address", "jpki_date_of_birth", "sex"],
        ]
    return {"credentials": [query]}


def client_metadata(public_jwk: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request's ``client_metadata``: the formats and algorithms verified, and the encryption key if any."""
    metadata_: dict[str, Any] = {
        "vp_formats_supported": {
            "dc+sd-jwt": {"sd-jwt_alg_values": _JOSE_ALGS, "kb-jwt_alg_values": _JOSE_ALGS},
            "jwt_vc_json": {"alg_values": _JOSE_ALGS},
            "ldp_vc": {
                "proof_type_values": ["DataIntegrityProof", "Ed25519Signature2020"],
                "cryptosuite_values": ["eddsa-rdfc-2022", "eddsa-jcs-2022", "ecdsa-rdfc-2019", "ecdsa-jcs-2019"],
            },
        }
    }
    if public_jwk is not None:
        metadata_["jwks"] = {"keys": [dict(public_jwk)]}
        metadata_["encrypted_response_enc_values_supported"] = ENC_VALUES
    return metadata_


def _public(jwk: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k != "d"}


def _full_client_id(ctx: VerifierContext, prefix: ClientIdPrefix, response_uri: str) -> str:
    if prefix == "x509_san_dns":
        return f"x509_san_dns:{ctx.host}"
    if prefix == "decentralized_identifier":
        return f"decentralized_identifier:{ctx.did}"
    return f"redirect_uri:{response_uri}"


def _parameters(ctx: VerifierContext, row: Mapping[str, Any]) -> dict[str, Any]:
    """The authorization request parameters of a transaction (what the request object or the URL carries)."""
    jwk = json.loads(row["encryption_jwk"]) if row["encryption_jwk"] else None
    return {
        "client_id": row["client_id"],
        "response_type": "vp_token",
        "response_mode": row["response_mode"],
        "response_uri": ctx.url(f"/verifier/v1/response/{row['id']}"),
        "nonce": row["nonce"],
        "state": row["state"],
        "dcql_query": json.loads(row["dcql_query"]),
        "client_metadata": client_metadata(_public(jwk) if jwk else None),
    }


def create(ctx: VerifierContext, rp: RelyingParty, spec: RequestSpec) -> Created:
    """Create a presentation request for a relying party (validated; nothing is stored when it is refused)."""
    if (spec.dcql_query is None) == (spec.preset is None):
        raise InvalidPresentationRequestError("give exactly one of dcql_query and preset")
    if spec.preset is not None:
        query = preset_query(ctx, spec.preset)
    else:
        assert spec.dcql_query is not None
        try:
            DcqlQuery.parse(spec.dcql_query)
        except DcqlError as error:
            raise InvalidPresentationRequestError(f"dcql_query: {error.message}") from None
        query = spec.dcql_query
    if spec.redirect_uri is not None and spec.redirect_uri not in rp.redirect_uris:
        raise InvalidPresentationRequestError("redirect_uri is not one of the relying party's registered ones")
    mode: ResponseMode = spec.response_mode or ctx.settings.default_response_mode
    prefix: ClientIdPrefix = spec.client_id_prefix or ctx.settings.default_client_id_prefix
    dcql_text = compact_json(query).decode("utf-8")
    if len(dcql_text) > 16 * 1024:
        raise InvalidPresentationRequestError("dcql_query is larger than 16 KiB")
    now = ctx.clock()
    expires = now + ctx.settings.request_ttl
    transaction_id = ctx.token(16)
    response_uri = ctx.url(f"/verifier/v1/response/{transaction_id}")
    jwk: dict[str, Any] | None = None
    if mode == "direct_post.jwt":
        key = SoftwareSigner.generate(KeyType.P256)
        jwk = {**key.to_private_jwk(), "use": "enc", "alg": "ECDH-ES", "kid": ctx.token(8)}
    row: dict[str, Any] = {
        "id": transaction_id,
        "rp": rp.client_id,
        "client_id": _full_client_id(ctx, prefix, response_uri),
        "prefix": prefix,
        "response_mode": mode,
        "nonce": ctx.token(24),
        "state": ctx.token(16),
        "dcql_query": dcql_text,
        "redirect_uri": spec.redirect_uri,
        "encryption_jwk": json.dumps(jwk) if jwk else None,
        "status": "pending",
        "created": _ms(now),
        "expires": _ms(expires),
    }
    with transaction(ctx.engine, write=True) as conn:
        conn.execute(insert(transactions).values(**row))
    request_url = _request_url(ctx, row)
    return Created(
        id=transaction_id,
        client_id=row["client_id"],
        request_url=request_url,
        verification_code=verification_code(row["client_id"], row["nonce"]),
        expires_at=_time(row["expires"]),
    )


def _request_url(ctx: VerifierContext, row: Mapping[str, Any]) -> str:
    """The ``openid4vp://`` URL of a transaction: by reference for signed prefixes, by value for redirect_uri."""
    if row["prefix"] == "redirect_uri":
        params = _parameters(ctx, row)
        encoded = {k: v if isinstance(v, str) else compact_json(v).decode("utf-8") for k, v in params.items()}
        return "openid4vp://?" + urlencode(encoded)
    return "openid4vp://?" + urlencode(
        {
            "client_id": row["client_id"],
            "request_uri": ctx.url(f"/verifier/v1/request/{row['id']}"),
            "request_uri_method": "post",
        }
    )


def request_url(ctx: VerifierContext, transaction_id: str) -> str:
    """The ``openid4vp://`` URL of a pending transaction (what its QR code shows)."""
    return _request_url(ctx, _open_row(ctx, transaction_id))


def _open_row(ctx: VerifierContext, transaction_id: str) -> Mapping[str, Any]:
    """The transaction's row if it is pending and not expired."""
    with transaction(ctx.engine) as conn:
        row = conn.execute(select(transactions).where(transactions.c.id == transaction_id[:64])).first()
    if row is None:
        raise UnknownTransactionError("no such presentation request")
    data = dict(row._mapping)
    if data["status"] != "pending":
        raise TransactionClosedError("the presentation request was already answered")
    if data["expires"] <= _ms(ctx.clock()):
        raise TransactionClosedError("the presentation request expired")
    return data


def request_object(ctx: VerifierContext, transaction_id: str, *, wallet_nonce: str | None = None) -> str:
    """The signed request object (JAR) of a pending transaction, echoing the wallet's nonce when it sent one."""
    row = _open_row(ctx, transaction_id)
    if row["prefix"] == "redirect_uri":
        raise TransactionClosedError("a redirect_uri request is passed by value; it has no request object")
    if wallet_nonce is not None and (
        not wallet_nonce or len(wallet_nonce) > _MAX_WALLET_NONCE or not wallet_nonce.isascii()
    ):
        raise InvalidPresentationRequestError(f"wallet_nonce must be 1 to {_MAX_WALLET_NONCE} ASCII characters")
    header: dict[str, Any] = {"alg": ctx.signer.algorithm, "typ": REQUEST_OBJECT_TYPE}
    if row["prefix"] == "x509_san_dns":
        header["x5c"] = [base64.b64encode(der).decode("ascii") for der in ctx.x5c]
    else:
        header["kid"] = ctx.kid
    payload: dict[str, Any] = {
        "aud": SELF_ISSUED_AUDIENCE,
        **_parameters(ctx, row),
        "iat": int(ctx.clock().timestamp()),
        "exp": row["expires"] // 1000,
    }
    if wallet_nonce is not None:
        payload["wallet_nonce"] = wallet_nonce
    return encode_compact(header, compact_json(payload), ctx.signer.sign)


def facts(ctx: VerifierContext, transaction_id: str) -> TransactionFacts:
    """What the validation needs of a pending transaction (UnknownTransactionError / TransactionClosedError)."""
    row = _open_row(ctx, transaction_id)
    return TransactionFacts(
        id=row["id"],
        client_id=row["client_id"],
        nonce=row["nonce"],
        state=row["state"],
        dcql_query=json.loads(row["dcql_query"]),
        response_mode=row["response_mode"],
        response_uri=ctx.url(f"/verifier/v1/response/{row['id']}"),
        encryption_jwk=json.loads(row["encryption_jwk"]) if row["encryption_jwk"] else None,
        created_at=_time(row["created"]),
        expires_at=_time(row["expires"]),
    )


def _close(conn: Any, ctx: VerifierContext, transaction_id: str, values: Mapping[str, Any]) -> bool:
    """Move a pending, unexpired transaction to a final state (conditional UPDATE): whether this call did it."""
    now = _ms(ctx.clock())
    changed = conn.execute(
        update(transactions)
        .where(
            transactions.c.id == transaction_id,
            transactions.c.status == "pending",
            transactions.c.expires > now,
        )
        .values(answered=now, encryption_jwk=None, **values)
    ).rowcount
    return bool(changed == 1)


def reject(ctx: VerifierContext, transaction_id: str, error: str, description: str) -> bool:
    """Mark a pending transaction rejected with an OpenID4VP error (what the RP sees); whether it was pending."""
    safe = "".join(c for c in error if c.isascii() and (c.isalnum() or c == "_"))[:64] or "invalid_request"
    text = "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in description)[:_MAX_ERROR_DESCRIPTION]
    with transaction(ctx.engine, write=True) as conn:
        return _close(conn, ctx, transaction_id, {"status": "rejected", "error": safe, "error_description": text})


def wallet_error(ctx: VerifierContext, transaction: TransactionFacts, form: Mapping[str, str]) -> bool:
    """Record a wallet's error response (``error`` and the transaction's ``state``); whether it was accepted."""
    state = form.get("state", "")
    if not hmac.compare_digest(state.encode("utf-8"), transaction.state.encode("utf-8")):
        return False
    description = form.get("error_description", "the wallet answered with an error")
    return reject(ctx, transaction.id, form.get("error", ""), description)


def _result_document(validated: ValidatedResponse) -> dict[str, Any]:
    return {
        "credentials": [
            {
                "query_id": c.query_id,
                "format": c.format,
                "issuer": c.issuer,
                "claims": dict(c.claims),
                "status_checked_at": _iso(c.status_checked_at) if c.status_checked_at else None,
                "holder": c.holder,
            }
            for c in validated.credentials
        ],
        "digest": validated.digest,
    }


def _external(result: dict[str, Any]) -> dict[str, Any]:
    """A result as relying parties see it: without the holder key and the response digest (a holder key thumbprint
    would be one identifier across every relying party; the OIDC facade derives pairwise subjects from it)."""
    credentials = [{k: v for k, v in c.items() if k != "holder"} for c in result.get("credentials", [])]
    return {**{k: v for k, v in result.items() if k != "digest"}, "credentials": credentials}


def accept(ctx: VerifierContext, transaction_id: str, validated: ValidatedResponse) -> Accepted:
    """Record a validated response in one transaction: pending → verified, its digest in the replay store, the
    result stored until read or ``result_ttl``. A second answer is TransactionClosedError, a replay
    ReplayedPresentationError (and the transaction is then rejected)."""
    now = ctx.clock()
    response_code = ctx.token(16)
    code_hash = hashlib.sha256(response_code.encode("ascii")).hexdigest()
    try:
        with transaction(ctx.engine, write=True) as conn:
            row = conn.execute(
                select(transactions.c.redirect_uri, transactions.c.expires).where(transactions.c.id == transaction_id)
            ).first()
            if row is None:
                raise UnknownTransactionError("no such presentation request")
            redirect_uri = row.redirect_uri
            values: dict[str, Any] = {"status": "verified"}
            if redirect_uri is not None:
                values["response_code_sha256"] = code_hash
            if not _close(conn, ctx, transaction_id, values):
                raise TransactionClosedError("the presentation request was already answered or expired")
            conn.execute(
                insert(replay).values(digest=validated.digest, transaction_id=transaction_id, expires=row.expires)
            )
            conn.execute(
                insert(results).values(
                    transaction_id=transaction_id,
                    result=json.dumps(_result_document(validated)),
                    expires=_ms(now + ctx.settings.result_ttl),
                )
            )
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise
        reject(ctx, transaction_id, "invalid_request", "the presentation was replayed")
        raise ReplayedPresentationError("the presentation was replayed (its vp_token was used before)") from None
    if redirect_uri is None:
        return Accepted(None)
    return Accepted(f"{redirect_uri}#response_code={response_code}")


def record_ledger(ctx: VerifierContext, transaction_id: str, validated: ValidatedResponse) -> int | None:
    """Append the presentation's hash-only ledger record and keep its index; None without a ledger or on failure."""
    if ctx.ledger is None:
        return None
    owner = rp_of(ctx, transaction_id)
    try:
        rp = rps.get(ctx.engine, owner) if owner is not None else None
    except rps.UnknownRelyingPartyError:
        rp = None
    holder = next((c.holder for c in validated.credentials if c.holder), None)
    record = Record(
        type=EventType.PRESENTATION,
        time=ctx.clock(),
        object=validated.digest,
        subject=commitment(ctx.ledger_key, holder or validated.digest),
        rp=rp.ledger_rp if rp is not None else None,
    )
    try:
        index = ctx.ledger.append(record).index
    except (LedgerError, TimeoutError) as error:  # the result stands; its receipt is then "unavailable"
        log.warning("the presentation's ledger record was not appended: %s", type(error).__name__)
        return None
    with transaction(ctx.engine, write=True) as conn:
        conn.execute(update(transactions).where(transactions.c.id == transaction_id).values(ledger_index=index))
    return index


def rp_of(ctx: VerifierContext, transaction_id: str) -> str | None:
    """The client_id of the relying party that owns a transaction (None when there is no such transaction)."""
    with transaction(ctx.engine) as conn:
        return conn.execute(select(transactions.c.rp).where(transactions.c.id == transaction_id[:64])).scalar()


def ledger_receipt(ctx: VerifierContext, index: int | None) -> str:
    """The presentation's ledger receipt (tlog-proof text), ``pending`` until a checkpoint covers it."""
    if ctx.ledger is None or index is None:
        return "unavailable"
    try:
        return ctx.ledger.prove(index).format()
    except LedgerError:
        return "pending"


def _take_result(conn: Any, ctx: VerifierContext, transaction_id: str) -> dict[str, Any] | None:
    """Delete and return the transaction's unexpired result (single use across processes: DELETE … RETURNING)."""
    taken = conn.execute(
        delete(results).where(results.c.transaction_id == transaction_id).returning(results.c.result, results.c.expires)
    ).first()
    if taken is None or taken.expires <= _ms(ctx.clock()):
        return None
    document: dict[str, Any] = json.loads(taken.result)
    return document


def _report(
    ctx: VerifierContext, row: Mapping[str, Any], result: dict[str, Any] | None, *, internal: bool = False
) -> dict[str, Any]:
    state = row["status"]
    if state == "pending" and row["expires"] <= _ms(ctx.clock()):
        state = "expired"
    report: dict[str, Any] = {"status": state}
    if state == "rejected":
        report["error"] = row["error"]
        report["error_description"] = row["error_description"]
    if result is not None:
        shown = result if internal else _external(result)
        report["result"] = {**shown, "ledger_receipt": ledger_receipt(ctx, row["ledger_index"])}
    return report


@contextmanager
def _within(ctx: VerifierContext, conn: Connection | None) -> Iterator[Connection]:
    """The caller's open write transaction, or a new one."""
    if conn is not None:
        yield conn
        return
    with transaction(ctx.engine, write=True) as own:
        yield own


def status(
    ctx: VerifierContext,
    rp: RelyingParty,
    transaction_id: str,
    *,
    internal: bool = False,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """A transaction's status for its relying party; a verified result is returned once and then deleted (same-
    device transactions return it only for the response_code). ``internal`` (the OIDC facade) keeps each
    credential's ``holder`` and the response's ``digest`` in the result; ``conn``, the caller's open write
    transaction on this database, makes the taking of the result commit (or roll back) with the caller's writes."""
    with _within(ctx, conn) as conn:
        row = conn.execute(
            select(transactions).where(transactions.c.id == transaction_id[:64], transactions.c.rp == rp.client_id)
        ).first()
        if row is None:
            raise UnknownTransactionError("no such presentation request for this relying party")
        data = dict(row._mapping)
        result = None
        if data["status"] == "verified" and data["redirect_uri"] is None:
            result = _take_result(conn, ctx, data["id"])
    return _report(ctx, data, result, internal=internal)


def peek(ctx: VerifierContext, rp: RelyingParty, transaction_id: str) -> dict[str, Any]:
    """A transaction's status without its result (what the event stream sends)."""
    with transaction(ctx.engine) as conn:
        row = conn.execute(
            select(transactions).where(transactions.c.id == transaction_id[:64], transactions.c.rp == rp.client_id)
        ).first()
    if row is None:
        raise UnknownTransactionError("no such presentation request for this relying party")
    return _report(ctx, dict(row._mapping), None)


def result_by_response_code(
    ctx: VerifierContext,
    rp: RelyingParty,
    response_code: str,
    *,
    internal: bool = False,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """The result of a same-device transaction for its response_code, once (the code is then spent); ``internal``
    and ``conn`` as for ``status``."""
    code_hash = hashlib.sha256(response_code.encode("utf-8")).hexdigest()
    with _within(ctx, conn) as conn:
        row = conn.execute(
            update(transactions)
            .where(transactions.c.response_code_sha256 == code_hash, transactions.c.rp == rp.client_id)
            .values(response_code_sha256=None)
            .returning(*transactions.c)
        ).first()
        if row is None:
            raise UnknownResponseCodeError("no result for that response_code (unknown, used or expired)")
        data = dict(row._mapping)
        result = _take_result(conn, ctx, data["id"])
    if result is None:
        raise UnknownResponseCodeError("no result for that response_code (unknown, used or expired)")
    return {**_report(ctx, data, result, internal=internal), "id": data["id"]}


def purge(ctx: VerifierContext, keep: timedelta = timedelta(days=1)) -> int:
    """Delete expired results and replay entries, and transactions that ended more than ``keep`` ago; returns the
    number of rows deleted."""
    now = _ms(ctx.clock())
    with transaction(ctx.engine, write=True) as conn:
        deleted = conn.execute(delete(results).where(results.c.expires <= now)).rowcount
        deleted += conn.execute(delete(replay).where(replay.c.expires <= now)).rowcount
        cutoff = now - int(keep.total_seconds() * 1000)
        deleted += conn.execute(delete(transactions).where(transactions.c.expires <= cutoff)).rowcount
        conn.execute(
            update(transactions)
            .where(transactions.c.expires <= now, transactions.c.encryption_jwk.is_not(None))
            .values(encryption_jwk=None)
        )
    return int(deleted)
