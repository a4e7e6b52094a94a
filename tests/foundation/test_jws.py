"""foundation.jws: the one strict compact-JWS parser and encoder."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from foundation.b64 import b64url_encode
from foundation.errors import XidError
from foundation.jws import MAX_TOKEN_SIZE, InvalidJwsError, encode_compact, parse_compact

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


class _OwnError(XidError):
    """A caller's own error type."""

    code = "testOwnJwsError"


def _token(header: str, payload: bytes = b"{}", signature: bytes = b"sig") -> str:
    return f"{b64url_encode(header.encode())}.{b64url_encode(payload)}.{b64url_encode(signature)}"


def test_round_trip_and_signature_over_the_signing_input() -> None:
    token = encode_compact({"alg": "EdDSA", "typ": "x"}, b'{"n":1}', KEY.sign)
    parts = parse_compact(token)
    assert parts.header == {"alg": "EdDSA", "typ": "x"}
    assert parts.payload == b'{"n":1}'
    assert parts.signing_input == token.rsplit(".", 1)[0].encode()
    KEY.public_key().verify(parts.signature, parts.signing_input)  # raises if the encoder signed something else


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        (42, "must be a string"),
        ("a.b", "three dot-separated parts"),
        ("a.b.c.d", "three dot-separated parts"),
        (_token('{"alg":"EdDSA"}') + "=", "base64url"),
        (_token('{"alg":"EdDSA"}').replace(".", ".+", 1), "base64url"),
        (_token('{"alg":"EdDSA","alg":"none"}'), "duplicate JSON member 'alg'"),
        (_token("[1]"), "must be a JSON object"),
        (_token('{"typ":"x"}'), "has no alg"),
        (_token('{"alg":5}'), "has no alg"),
        (_token('{"alg":"EdDSA","crit":["b64"]}'), "not understood"),
        (_token('{"alg":"EdDSA"}', payload=b"x" * MAX_TOKEN_SIZE), "larger than"),
    ],
)
def test_malformed_tokens_are_refused(token: object, fragment: str) -> None:
    with pytest.raises(InvalidJwsError, match=fragment) as raised:
        parse_compact(token)
    assert raised.value.code == "invalidJwsSerialization"


def test_the_callers_error_type_and_name_are_used() -> None:
    with pytest.raises(_OwnError, match="the platform response header has no alg"):
        parse_compact(_token("{}"), what="the platform response", error=_OwnError)


def test_size_limit_is_the_callers() -> None:
    token = _token('{"alg":"EdDSA"}')
    assert parse_compact(token, max_size=len(token)).header["alg"] == "EdDSA"
    with pytest.raises(InvalidJwsError, match="larger than"):
        parse_compact(token, max_size=len(token) - 1)
