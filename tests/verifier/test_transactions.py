"""Presentation requests: the request object of each client identifier prefix and response mode, expiry, purge."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from joserfc import jwe
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from did.signer import verify_with_jwk
from foundation.db import transaction
from foundation.jws import parse_compact
from vc.oid4vp import verification_code
from verifier import rps, transactions
from verifier.context import VerifierContext
from verifier.contracts import ValidatedResponse
from verifier.transactions import RequestSpec

DCQL = {"credentials": [{"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["https://x.example/vct"]}}]}


@pytest.fixture
def rp(verifier_context: VerifierContext) -> rps.RelyingParty:
    return rps.register(verifier_context.engine, "Shop", ["https://shop.example/cb"])[0]


def decode(token: str) -> tuple[dict[str, object], dict[str, object], bytes, bytes]:
    parts = parse_compact(token)
    return parts.header, json.loads(parts.payload), parts.signing_input, parts.signature


def test_x509_san_dns_request_object(verifier_context: VerifierContext, rp: rps.RelyingParty) -> None:
    ctx = verifier_context
    created = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    header, payload, signing_input, signature = decode(transactions.request_object(ctx, created.id))
    assert header["typ"] == "oauth-authz-req+jwt"
    assert header["alg"] == "ES256"
    assert "kid" not in header
    chain = header["x5c"]
    assert isinstance(chain, list)
    leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == [ctx.host]
    verify_with_jwk(ctx.signer.public_jwk, signature, signing_input, "ES256")
    tampered = signing_input[:-1] + (b"A" if signing_input[-1:] != b"A" else b"B")
    with pytest.raises(Exception, match="signature"):
        verify_with_jwk(ctx.signer.public_jwk, signature, tampered, "ES256")
    response_uri = f"{ctx.base_url}/verifier/v1/response/{created.id}"
    assert payload["aud"] == "https://self-issued.me/v2"
    assert payload["client_id"] == created.client_id == "x509_san_dns:127.0.0.1"
    assert payload["response_type"] == "vp_token"
    assert payload["response_mode"] == "direct_post.jwt"
    assert payload["response_uri"] == response_uri
    assert (
        urlsplit(response_uri).hostname
        == leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)[
            0
        ]
    )
    assert payload["dcql_query"] == DCQL
    assert isinstance(payload["nonce"], str)
    assert len(payload["nonce"]) >= 22
    assert isinstance(payload["state"], str)
    assert len(payload["state"]) >= 22
    assert payload["exp"] == int(created.expires_at.timestamp())
    assert isinstance(payload["iat"], int)
    assert payload["iat"] < payload["exp"]
    metadata = payload["client_metadata"]
    assert isinstance(metadata, dict)
    (key,) = metadata["jwks"]["keys"]
    assert key["use"] == "enc"
    assert key["alg"] == "ECDH-ES"
    assert key["kid"]
    assert key["crv"] == "P-256"
    assert "d" not in key
    assert metadata["encrypted_response_enc_values_supported"] == ["A128GCM", "A256GCM"]
    assert set(metadata["vp_formats_supported"]) == {"dc+sd-jwt", "jwt_vc_json", "ldp_vc"}
    facts = transactions.facts(ctx, created.id)
    assert facts.encryption_jwk is not None
    assert facts.encryption_jwk["kid"] == key["kid"]
    assert facts.encryption_jwk["x"] == key["x"]
    assert "d" in facts.encryption_jwk
    assert created.verification_code == verification_code(created.client_id, facts.nonce)
    sealed = jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A256GCM", "kid": key["kid"]}, b'{"vp_token":{}}', ECKey.import_key(key)
    )  # a wallet encrypts to the published key; the stored private key opens it
    assert jwe.decrypt_compact(sealed, ECKey.import_key(dict(facts.encryption_jwk))).plaintext == b'{"vp_token":{}}'
    second = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    assert transactions.facts(ctx, second.id).encryption_jwk["x"] != key["x"]  # type: ignore[index]


def test_decentralized_identifier_request_object(verifier_context: VerifierContext, rp: rps.RelyingParty) -> None:
    ctx = verifier_context
    spec = RequestSpec(preset="identity", client_id_prefix="decentralized_identifier", response_mode="direct_post")
    created = transactions.create(ctx, rp, spec)
    header, payload, signing_input, signature = decode(transactions.request_object(ctx, created.id))
    assert header["kid"] == f"{ctx.did}#verifier"
    assert "x5c" not in header
    verify_with_jwk(ctx.signer.public_jwk, signature, signing_input, "ES256")
    assert payload["client_id"] == f"decentralized_identifier:{ctx.did}"
    assert payload["response_mode"] == "direct_post"
    assert "jwks" not in payload["client_metadata"]  # type: ignore[operator]
    assert transactions.facts(ctx, created.id).encryption_jwk is None


def test_redirect_uri_requests_are_unsigned_and_by_value(
    verifier_context: VerifierContext, rp: rps.RelyingParty
) -> None:
    ctx = verifier_context
    created = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL, client_id_prefix="redirect_uri"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(created.request_url).query).items()}
    response_uri = f"{ctx.base_url}/verifier/v1/response/{created.id}"
    assert query["client_id"] == f"redirect_uri:{response_uri}" == created.client_id
    assert query["response_uri"] == response_uri
    assert query["response_type"] == "vp_token"
    assert query["response_mode"] == "direct_post.jwt"
    assert "request_uri" not in query
    assert "request" not in query
    assert json.loads(query["dcql_query"]) == DCQL
    assert json.loads(query["client_metadata"])["jwks"]["keys"][0]["use"] == "enc"
    facts = transactions.facts(ctx, created.id)
    assert (query["nonce"], query["state"]) == (facts.nonce, facts.state)
    with pytest.raises(transactions.TransactionClosedError):
        transactions.request_object(ctx, created.id)


def test_expiry_purge_and_the_encryption_key(verifier_context: VerifierContext, rp: rps.RelyingParty) -> None:
    ctx = verifier_context
    answered = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    idle = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    validated = ValidatedResponse(credentials=(), digest="ab" * 32)
    assert transactions.accept(ctx, answered.id, validated).redirect_uri is None

    def keys() -> dict[str, bool]:
        with transaction(ctx.engine) as conn:
            rows = conn.execute(select(transactions.transactions.c.id, transactions.transactions.c.encryption_jwk))
            return {row.id: row.encryption_jwk is not None for row in rows}

    assert keys() == {answered.id: False, idle.id: True}  # erased once answered
    ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=6)
    assert transactions.status(ctx, rp, idle.id) == {"status": "expired"}
    with pytest.raises(transactions.TransactionClosedError):
        transactions.facts(ctx, idle.id)
    transactions.purge(ctx)
    assert keys() == {answered.id: False, idle.id: False}  # expired: erased by the purge
    ctx.clock = lambda: datetime.now(UTC) + timedelta(days=2)
    assert transactions.purge(ctx) >= 3  # both transactions, the result and the replay entry
    with transaction(ctx.engine) as conn:
        for table in (transactions.transactions, transactions.results, transactions.replay):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_unexpired_results_are_kept_by_the_purge(verifier_context: VerifierContext, rp: rps.RelyingParty) -> None:
    ctx = verifier_context
    created = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    transactions.accept(ctx, created.id, ValidatedResponse(credentials=(), digest="cd" * 32))
    assert transactions.purge(ctx) == 0
    assert transactions.status(ctx, rp, created.id)["result"] == {"credentials": [], "ledger_receipt": "unavailable"}


def test_an_expired_result_is_not_returned(verifier_context: VerifierContext, rp: rps.RelyingParty) -> None:
    ctx = verifier_context
    created = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    transactions.accept(ctx, created.id, ValidatedResponse(credentials=(), digest="ef" * 32))
    ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=11)
    assert transactions.status(ctx, rp, created.id) == {"status": "verified"}


def test_removing_an_rp_removes_its_transactions(verifier_context: VerifierContext, rp: rps.RelyingParty) -> None:
    ctx = verifier_context
    created = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    rps.remove(ctx.engine, rp.client_id)
    with pytest.raises(transactions.UnknownTransactionError):
        transactions.facts(ctx, created.id)


def test_accept_is_single_use_even_after_facts_were_read(
    verifier_context: VerifierContext, rp: rps.RelyingParty
) -> None:
    """Two responses racing past ``facts``: the conditional UPDATE lets exactly one through."""
    ctx = verifier_context
    created = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    transactions.facts(ctx, created.id)
    transactions.accept(ctx, created.id, ValidatedResponse(credentials=(), digest="01" * 32))
    with pytest.raises(transactions.TransactionClosedError):
        transactions.accept(ctx, created.id, ValidatedResponse(credentials=(), digest="02" * 32))
    assert not transactions.reject(ctx, created.id, "access_denied", "too late")
    assert transactions.status(ctx, rp, created.id)["status"] == "verified"
    with transaction(ctx.engine) as conn:
        assert conn.execute(select(transactions.replay.c.digest)).scalars().all() == ["01" * 32]


def test_accept_refuses_an_expired_transaction(verifier_context: VerifierContext, rp: rps.RelyingParty) -> None:
    """A response validated just before expiry is not recorded after it."""
    ctx = verifier_context
    created = transactions.create(ctx, rp, RequestSpec(dcql_query=DCQL))
    transactions.facts(ctx, created.id)
    ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=6)
    with pytest.raises(transactions.TransactionClosedError):
        transactions.accept(ctx, created.id, ValidatedResponse(credentials=(), digest="03" * 32))
    assert transactions.status(ctx, rp, created.id) == {"status": "expired"}
