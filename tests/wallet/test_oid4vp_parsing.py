"""Hypothesis: whatever a request URL, a request object or its parameters hold, the wallet answers with its own
protocol errors (``WalletError``), never another exception, and accepts only well-formed shapes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from did import KeyType, SoftwareSigner
from foundation.strict_json import compact_json
from vc.jose import sign_compact
from wallet.errors import PresentationRequestError, WalletError
from wallet.oid4vp import Oid4vpHolder, RequestReference, parse_request_url

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
NAMES = [
    "client_id", "response_type", "response_mode", "response_uri", "redirect_uri", "nonce", "state", "dcql_query",
    "client_metadata", "aud", "exp", "iat", "nbf", "wallet_nonce", "transaction_data",
]  # fmt: skip
GOOD: dict[str, Any] = {
    "client_id": "x509_san_dns:rp.example",
    "response_type": "vp_token",
    "response_mode": "direct_post.jwt",
    "response_uri": "https://rp.example/response",
    "nonce": "n-0S6_WzA2Mj",
    "state": "s-1",
    "dcql_query": {"credentials": [{"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:x"]}}]},
    "client_metadata": {
        "jwks": {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "kid": "e",
                    "use": "enc",
                    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                }
            ]
        }
    },
    "aud": "https://self-issued.me/v2",
    "exp": 4_000_000_000,
}
REFERENCE = RequestReference("x509_san_dns:rp.example", request_uri="https://rp.example/r")


def holder() -> Oid4vpHolder:
    """A holder with no credentials (checking requests needs none)."""
    return Oid4vpHolder(SoftwareSigner.generate(KeyType.P256), None, [])  # type: ignore[arg-type]


def test_the_good_parameters_pass() -> None:
    request = holder()._checked(GOOD, REFERENCE, "x509_san_dns", "rp.example", wallet_nonce=None)
    assert request.encryption_key is not None
    assert request.encryption_key["kid"] == "e"
    assert request.enc == "A128GCM"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_url_text_is_a_reference_or_a_request_error(text: str) -> None:
    try:
        reference = parse_request_url(text)
    except PresentationRequestError:
        return
    assert reference.client_id
    assert reference.request_uri_method in ("get", "post")
    assert reference.request is None or reference.request_uri is None


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), st.text(max_size=30), max_size=8))
def test_any_url_query_is_a_reference_or_a_request_error(params: dict[str, str]) -> None:
    try:
        reference = parse_request_url("openid4vp://?" + urlencode(params))
    except PresentationRequestError:
        return
    assert reference.client_id == params["client_id"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), json_values, max_size=6))
def test_any_parameters_are_checked_without_crashing(changes: dict[str, Any]) -> None:
    params = {**GOOD, **changes}
    try:
        request = holder()._checked(params, REFERENCE, "x509_san_dns", "rp.example", wallet_nonce=None)
    except WalletError:
        return
    # what passes has the shapes the rest of the wallet relies on
    assert params["client_id"] == "x509_san_dns:rp.example"
    assert params["aud"] in ("https://self-issued.me/v2", ["https://self-issued.me/v2"])
    assert isinstance(request.nonce, str)
    assert request.response_mode in ("direct_post", "direct_post.jwt")


SIGNER = SoftwareSigner.generate(KeyType.P256)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), json_values)
def test_any_request_object_header_is_refused_cleanly(header: dict[str, Any], payload: Any) -> None:
    try:
        token = sign_compact(header, compact_json(payload) if payload is not None else b"{}", SIGNER)
    except Exception:  # the header cannot be encoded (not JSON-safe); nothing to test
        return
    for prefix, value in (("x509_san_dns", "rp.example"), ("decentralized_identifier", "did:jwk:e30")):
        try:
            holder()._verified(token, prefix, value)
        except WalletError:
            continue
        raise AssertionError(f"accepted {json.dumps(header)[:200]}")
