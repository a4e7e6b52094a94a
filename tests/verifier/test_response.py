"""Reading posted responses: the response mode requested, the JWE (algorithm, key, tampering), state, expiry, the
vp_token's shape and bounds, a wallet's error response, and (hypothesis) arbitrary input → a VerifierError only."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwe
from joserfc.jwk import ECKey

from tests.issuer.credentials_support import Issuer
from tests.verifier.presentation_kit import (
    Holder,
    Wallet,
    direct_post,
    direct_post_jwt,
    encryption_key,
    make_transaction,
    query,
    sd_query,
    start_issuer,
    trusting,
)
from verifier.context import VerifierContext
from verifier.contracts import TransactionFacts
from verifier.errors import VerifierError
from verifier.presentation import make_validator
from verifier.response import (
    MAX_PRESENTATION_CHARS,
    MAX_PRESENTATIONS,
    MalformedResponseError,
    ResponseDecryptionError,
    ResponseModeError,
    ResponseRejectedError,
    StateMismatchError,
    TransactionExpiredError,
    WalletResponseError,
    parse_response,
    vp_token_digest,
)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    """One real xid issuer for the module."""
    made, engine = start_issuer(Path(tmp_path_factory.mktemp("issuer")))
    yield made
    engine.dispose()


@pytest.fixture
def ctx(verifier_context: VerifierContext, issuer: Issuer) -> VerifierContext:
    """The verifier context trusting the issuer."""
    return trusting(verifier_context, issuer)


@pytest.fixture
def wallet(issuer: Issuer) -> Wallet:
    """A wallet with a fresh holder key."""
    return Wallet(issuer, Holder.generate())


def refused(ctx: VerifierContext, tx: TransactionFacts, form: dict[str, str], error: type[Exception]) -> Any:
    """Assert the validator refuses the form with the error; return it."""
    with pytest.raises(ResponseRejectedError) as caught:
        make_validator(ctx)(tx, form)
    assert isinstance(caught.value, error), f"{type(caught.value).__name__}: {caught.value}"
    assert caught.value.message.isascii()
    return caught.value


# -- response modes ------------------------------------------------------------------------------------------------


def test_plain_direct_post_when_jwt_was_requested(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")
    vp_token = {"pid": [wallet.sd_jwt(tx)]}
    error = refused(ctx, tx, direct_post(tx, vp_token), ResponseModeError)
    assert error.oauth_error == "invalid_request"
    both = {**direct_post_jwt(tx, vp_token), "vp_token": json.dumps(vp_token)}  # plain parameters beside the JWE
    refused(ctx, tx, both, ResponseModeError)
    assert make_validator(ctx)(tx, direct_post_jwt(tx, vp_token)).credentials


def test_encrypted_response_when_plain_was_requested(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    jwt_tx = dataclasses.replace(tx, encryption_jwk=encryption_key())
    refused(ctx, tx, direct_post_jwt(jwt_tx, {"pid": [wallet.sd_jwt(tx)]}), ResponseModeError)


def test_tampered_jwe(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")
    token = direct_post_jwt(tx, {"pid": [wallet.sd_jwt(tx)]})["response"]
    parts = token.split(".")
    for index in (2, 3, 4):  # iv, ciphertext, tag
        part = parts[index]
        flipped = part[:-2] + ("A" if part[-2] != "A" else "B") + part[-1]
        tampered = ".".join([*parts[:index], flipped, *parts[index + 1 :]])
        refused(ctx, tx, {"response": tampered}, ResponseDecryptionError)
    for bad in ("", "a.b.c", token + ".x", "...."):
        refused(ctx, tx, {"response": bad}, ResponseRejectedError)


def test_jwe_to_another_key(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")
    vp_token = {"pid": [wallet.sd_jwt(tx)]}
    other = encryption_key()  # the same kid, another key
    refused(ctx, tx, direct_post_jwt(tx, vp_token, key=other), ResponseDecryptionError)
    error = refused(ctx, tx, direct_post_jwt(tx, vp_token, kid="enc-2"), ResponseDecryptionError)
    assert "kid" in error.message


def test_jwe_algorithms_are_those_of_the_request(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")
    vp_token = {"pid": [wallet.sd_jwt(tx)]}
    for alg, enc in (("ECDH-ES+A128KW", "A128GCM"), ("ECDH-ES", "A128CBC-HS256"), ("ECDH-ES", "A192GCM")):
        error = refused(ctx, tx, direct_post_jwt(tx, vp_token, alg=alg, enc=enc), ResponseDecryptionError)
        assert "alg" in error.message or "enc" in error.message
    no_key = dataclasses.replace(tx, encryption_jwk=None)
    refused(ctx, no_key, direct_post_jwt(tx, vp_token), ResponseDecryptionError)


def test_state_must_be_the_transactions(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    vp_token = {"pid": [wallet.sd_jwt(tx)]}
    refused(ctx, tx, {**direct_post(tx, vp_token), "state": "another"}, StateMismatchError)
    refused(ctx, tx, {"vp_token": json.dumps(vp_token)}, StateMismatchError)
    jwt_tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")
    vp_token = {"pid": [wallet.sd_jwt(jwt_tx)]}
    refused(ctx, jwt_tx, direct_post_jwt(jwt_tx, vp_token, state="another"), StateMismatchError)


def test_expired_transaction(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    form = direct_post(tx, {"pid": [wallet.sd_jwt(tx)]})
    expired = dataclasses.replace(tx, expires_at=ctx.clock() - timedelta(seconds=1))
    refused(ctx, expired, form, TransactionExpiredError)
    later = dataclasses.replace(ctx, clock=lambda: tx.expires_at)
    refused(later, tx, form, TransactionExpiredError)


def test_wallet_error_response(ctx: VerifierContext) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    error = refused(ctx, tx, {"error": "access_denied", "state": tx.state}, WalletResponseError)
    assert error.oauth_error == "access_denied"
    refused(ctx, tx, {"error": "access_denied", "state": "another"}, StateMismatchError)
    refused(ctx, tx, {"error": 'bad"code', "state": tx.state}, MalformedResponseError)
    jwt_tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")  # may come unencrypted, or encrypted
    assert refused(ctx, jwt_tx, {"error": "access_denied", "state": jwt_tx.state}, WalletResponseError)
    key = ECKey.import_key({k: v for k, v in (jwt_tx.encryption_jwk or {}).items() if k != "d"})
    payload = json.dumps({"error": "access_denied", "state": jwt_tx.state}).encode()
    registry = jwe.JWERegistry(algorithms=["ECDH-ES", "A128GCM"])
    token = jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A128GCM", "kid": "enc-1"}, payload, key, registry=registry)
    assert refused(ctx, jwt_tx, {"response": token}, WalletResponseError).oauth_error == "access_denied"


# -- vp_token shape and bounds -------------------------------------------------------------------------------------


def test_vp_token_shapes(ctx: VerifierContext) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    bad = [
        "not json",
        "[]",
        "{}",
        '"pid"',
        '{"pid": "a~b~"}',  # a pre-1.0 string value instead of an array
        '{"pid": []}',
        '{"pid": [1]}',
        '{"pid": [""]}',
        '{"pid": [null]}',
        '{"p d": ["x"]}',
        '{"pid": ["x"], "pid": ["y"]}',  # duplicate member
        '{"pid": [NaN]}',
        json.dumps({"pid": ["x" * (MAX_PRESENTATION_CHARS + 1)]}),
        json.dumps({"pid": ["x"] * (MAX_PRESENTATIONS + 1)}),
        json.dumps({"pid": ["\u5c71"]}),
        "[" * 5000 + "]" * 5000,
    ]
    for text in bad:
        refused(ctx, tx, {"vp_token": text, "state": tx.state}, MalformedResponseError)
    refused(ctx, tx, {"state": tx.state}, MalformedResponseError)


def test_parse_response_digest_is_mode_independent(ctx: VerifierContext) -> None:
    vp_token = {"pid": ["a~b~"], "ldp": [{"z": 1, "a": [True, None]}]}
    tx = make_transaction(ctx, query(sd_query()))
    plain = parse_response(tx, direct_post(tx, vp_token), ctx.clock())
    jwt_tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")
    encrypted = parse_response(jwt_tx, direct_post_jwt(jwt_tx, vp_token), ctx.clock())
    reordered = parse_response(
        tx, {"vp_token": '{"ldp":[{"a":[true,null],"z":1}],"pid":["a~b~"]}', "state": tx.state}, ctx.clock()
    )
    assert plain.digest == encrypted.digest == reordered.digest
    assert (plain.encrypted, encrypted.encrypted) == (False, True)
    assert plain.vp_token == {"pid": ("a~b~",), "ldp": ({"z": 1, "a": [True, None]},)}
    other = parse_response(tx, direct_post(tx, {"pid": ["a~c~"]}), ctx.clock())
    assert other.digest != plain.digest


# -- hypothesis: arbitrary input is refused with a VerifierError, never another exception ---------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_presentation = st.text(alphabet="abcAB0123456789-_.~", max_size=300) | st.dictionaries(
    st.sampled_from(["@context", "type", "proof", "holder", "verifiableCredential"]), _json, max_size=5
)
_vp_token = st.dictionaries(st.sampled_from(["pid", "jwt", "ldp", "x"]), st.lists(_presentation, max_size=3) | _json)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vp_token=_vp_token | _json, mode=st.sampled_from(["direct_post", "direct_post.jwt"]))
def test_arbitrary_vp_tokens_are_refused_cleanly(ctx: VerifierContext, vp_token: Any, mode: str) -> None:
    dcql = query(
        sd_query(),
        {"id": "jwt", "format": "jwt_vc_json", "meta": {"type_values": [["x"]]}},
        {"id": "ldp", "format": "ldp_vc", "meta": {"type_values": [["x"]]}},
        sets=[{"options": [["pid"], ["jwt"], ["ldp"]]}],
    )
    tx = make_transaction(ctx, dcql, mode)
    form = direct_post_jwt(tx, vp_token) if mode == "direct_post.jwt" else direct_post(tx, vp_token)
    with pytest.raises(VerifierError):
        make_validator(ctx)(tx, form)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    form=st.dictionaries(
        st.sampled_from(["vp_token", "state", "response", "error", "other"]),
        st.text(max_size=200) | st.text(alphabet="abcdefABCDEF0123456789-_.", max_size=400),
        max_size=4,
    ),
    mode=st.sampled_from(["direct_post", "direct_post.jwt"]),
)
def test_arbitrary_forms_are_refused_cleanly(ctx: VerifierContext, form: dict[str, str], mode: str) -> None:
    tx = make_transaction(ctx, query(sd_query()), mode)
    with pytest.raises(VerifierError):
        make_validator(ctx)(tx, form)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.dictionaries(st.sampled_from(["alg", "enc", "kid", "zip", "epk", "crit"]), _json, max_size=5))
def test_arbitrary_jwe_headers_are_refused_cleanly(ctx: VerifierContext, header: dict[str, Any]) -> None:
    from foundation.b64 import b64url_encode

    tx = make_transaction(ctx, query(sd_query()), "direct_post.jwt")
    token = direct_post_jwt(tx, {"pid": ["x~"]})["response"]
    try:
        protected = b64url_encode(json.dumps(header).encode())
    except ValueError:
        return
    forged = ".".join([protected, *token.split(".")[1:]])
    with pytest.raises(VerifierError):
        make_validator(ctx)(tx, {"response": forged})


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=8),
        st.lists(st.text(max_size=30), min_size=1, max_size=3),
        min_size=1,
        max_size=3,
    )
)
def test_the_fast_replay_digest_is_jcs(vp_token: dict[str, list[str]]) -> None:
    """The shortcut for string presentations hashes exactly RFC 8785's serialization."""
    import hashlib

    import rfc8785

    assert vp_token_digest(vp_token) == hashlib.sha256(rfc8785.dumps(vp_token)).hexdigest()
