"""Status lists: the W3C Bitstring Status List (spec example decoded as published) and the IETF Token Status List."""

from __future__ import annotations

import contextlib
import gzip
import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from did import KeyType, PublicKey, Resolver, SoftwareSigner, did_key
from foundation.b64 import b64url_decode, b64url_encode
from foundation.jws import encode_compact
from tests.helpers import load_vector
from vc.jose import compact_json, sign_compact
from vc.status_list import (
    MIN_ENTRIES,
    STATUS_LIST_JWT_TYP,
    SUSPENDED,
    BitstringStatusEntry,
    BitstringStatusList,
    StatusListCache,
    StatusListError,
    StatusListTokenError,
    StatusListTooLargeError,
    StatusRangeError,
    TokenStatusList,
    TokenStatusReference,
    check_bitstring_status,
    issue_status_list_token,
    verify_status_list_token,
)

SPEC = load_vector("bitstring-status-list/spec-examples.json")


def test_spec_status_list_credential_decodes_as_published() -> None:
    facts = SPEC["decoded"]
    subject = SPEC["status_list_credential"]["credentialSubject"]
    assert subject["encodedList"] == facts["encodedList"]
    status_list = BitstringStatusList.decode(subject["encodedList"])
    assert len(status_list) == facts["decoded_length_bits"]
    assert sum(status_list.get(i) for i in range(len(status_list))) == facts["set_bits"]
    assert status_list.get(94567) == facts["status_at_index_94567"]


def test_spec_entries_parse() -> None:
    entries = [BitstringStatusEntry.parse(e) for e in SPEC["credential_with_status_entries"]["credentialStatus"]]
    assert [(e.purpose, e.index) for e in entries] == [("revocation", 94567), ("suspension", 23452)]


def test_bit_order_is_most_significant_first() -> None:
    status_list = BitstringStatusList()
    status_list.set(0)
    status_list.set(9)
    raw = gzip.decompress(b64url_decode(status_list.encode()[1:]))
    assert raw[0] == 0b1000_0000
    assert raw[1] == 0b0100_0000


def test_revoke_suspend_and_check_through_a_credential() -> None:
    revocations, suspensions = BitstringStatusList(), BitstringStatusList()
    revocations.set(94567)
    suspensions.set(23452)
    lists = {
        "https://issuer.example.jp/status/1": revocations.credential(
            "https://issuer.example.jp/status/1", "did:web:issuer.example.jp", "revocation", "2026-01-01T00:00:00Z"
        ),
        "https://issuer.example.jp/status/2": suspensions.credential(
            "https://issuer.example.jp/status/2", "did:web:issuer.example.jp", "suspension", "2026-01-01T00:00:00Z"
        ),
    }
    cache = StatusListCache()

    def status(purpose: str, index: int, url: str) -> int:
        entry = BitstringStatusEntry.parse(
            {
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": str(index),
                "statusListCredential": url,
            }
        )
        return check_bitstring_status(entry, lists[url], cache)

    assert status("revocation", 94567, "https://issuer.example.jp/status/1") == 1
    assert status("revocation", 94566, "https://issuer.example.jp/status/1") == 0
    assert status("suspension", 23452, "https://issuer.example.jp/status/2") == 1
    suspensions.clear(23452)
    lists["https://issuer.example.jp/status/2"]["credentialSubject"]["encodedList"] = suspensions.encode()
    assert status("suspension", 23452, "https://issuer.example.jp/status/2") == 0  # suspension lifted
    with pytest.raises(StatusListError, match="for 'revocation', the entry for 'suspension'"):
        status("suspension", 1, "https://issuer.example.jp/status/1")
    with pytest.raises(StatusRangeError):
        status("revocation", MIN_ENTRIES, "https://issuer.example.jp/status/1")


def test_multi_bit_statuses() -> None:
    messages = BitstringStatusList(MIN_ENTRIES, status_size=2)
    messages.set(5, 3)
    messages.set(6, 2)
    decoded = BitstringStatusList.decode(messages.encode(), status_size=2)
    assert [decoded.get(i) for i in range(4, 8)] == [0, 3, 2, 0]
    with pytest.raises(StatusListError, match="does not fit"):
        messages.set(1, 4)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"type": "StatusList2021Entry"}, "not a BitstringStatusListEntry"),
        ({"type": "BitstringStatusListEntry", "statusPurpose": "fun"}, "statusPurpose"),
        ({"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": 5}, "decimal string"),
        ({"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "05"}, "decimal"),
        ({"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "5"}, "URL"),
    ],
)
def test_bad_entries(entry: dict[str, Any], reason: str) -> None:
    with pytest.raises(StatusListError, match=reason):
        BitstringStatusEntry.parse(entry)


def test_bad_encoded_lists() -> None:
    with pytest.raises(StatusListError, match="start with 'u'"):
        BitstringStatusList.decode("zABC")
    with pytest.raises(StatusListError, match="base64url"):
        BitstringStatusList.decode("u$$$")
    with pytest.raises(StatusListError, match="GZIP"):
        BitstringStatusList.decode("u" + b64url_encode(b"not gzip"))
    small = "u" + b64url_encode(gzip.compress(bytes(100)))
    with pytest.raises(StatusListError, match="at least"):
        BitstringStatusList.decode(small)
    bomb = "u" + b64url_encode(gzip.compress(bytes(20 * 1024 * 1024)))
    with pytest.raises(StatusListTooLargeError):
        BitstringStatusList.decode(bomb)
    truncated = "u" + b64url_encode(gzip.compress(bytes(MIN_ENTRIES // 8))[:-12])
    with pytest.raises(StatusListError, match="truncated"):  # minimum=1: the short list itself would be accepted
        BitstringStatusList.decode(truncated, minimum=1)
    with pytest.raises(StatusListError, match="hides its holder"):
        BitstringStatusList(1000)


# -- IETF Token Status List -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_token_status_list_round_trip_and_bit_order(bits: int) -> None:
    status_list = TokenStatusList(MIN_ENTRIES, bits)
    values = {0: 1, 1: 0, 3: 1, 7: 1, 1000: (1 << bits) - 1}
    for index, value in values.items():
        status_list.set(index, value)
    claim = status_list.to_json()
    raw = zlib.decompress(b64url_decode(claim["lst"]))
    # Independent reading per the draft: entry i is at bit offset i*bits, counted from the least significant bit.
    for index, value in values.items():
        bit = index * bits
        assert (raw[bit // 8] >> (bit % 8)) & ((1 << bits) - 1) == value
    decoded = TokenStatusList.from_json(claim)
    assert all(decoded.get(i) == v for i, v in values.items())
    assert decoded.get(2) == 0


@pytest.mark.parametrize("bits", [True, 1.0, 2.0, "1", None, 3, 16, 0])
def test_token_status_bits_must_be_a_json_integer_of_a_supported_width(bits: object) -> None:
    lst = TokenStatusList(MIN_ENTRIES, 1).to_json()["lst"]
    assert TokenStatusList.from_json({"bits": 1, "lst": lst}).bits == 1  # the same list with an integer width reads
    with pytest.raises(StatusListError, match="bits must be the integer 1, 2, 4 or 8"):
        TokenStatusList.from_json({"bits": bits, "lst": lst})


def test_token_status_errors() -> None:
    with pytest.raises(StatusListError, match="ZLIB"):
        TokenStatusList.from_json({"bits": 1, "lst": b64url_encode(b"xx")})
    with pytest.raises(StatusListTooLargeError):
        TokenStatusList.from_json({"bits": 1, "lst": b64url_encode(zlib.compress(bytes(20 * 1024 * 1024)))})
    reference = TokenStatusReference.parse({"status_list": {"idx": 7, "uri": "https://issuer.example.jp/sl/1"}})
    assert reference.to_json() == {"status_list": {"idx": 7, "uri": "https://issuer.example.jp/sl/1"}}
    assert TokenStatusReference.parse({"status_list": {"idx": 1, "uri": "http://127.0.0.1:8000/sl"}}).index == 1
    for bad, reason in [({}, "lacks status_list"), ({"status_list": {"idx": -1, "uri": "https://x"}}, "idx"),
                        ({"status_list": {"idx": 1, "uri": "http://x"}}, "https URL"),
                        ({"status_list": {"idx": 1, "uri": "http://127.0.0.2.example/sl"}}, "https URL"),
                        ({"status_list": {"idx": True, "uri": "https://x"}}, "idx")]:  # fmt: skip
        with pytest.raises(StatusListError, match=reason):
            TokenStatusReference.parse(bad)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_decoders_raise_only_status_list_errors(data: bytes) -> None:
    for attempt in (lambda: BitstringStatusList.decode("u" + b64url_encode(data), minimum=1),
                    lambda: TokenStatusList.from_json({"bits": 1, "lst": b64url_encode(data)}, minimum=1)):  # fmt: skip
        with contextlib.suppress(StatusListError):
            attempt()


# -- status list tokens (statuslist+jwt) --------------------------------------------------------------------------

TOKEN_URL = "https://issuer.example.jp/status/token/1"
TOKEN_NOW = datetime(2026, 6, 1, tzinfo=UTC)
RESOLVER = Resolver()


def _key(kid: str) -> PublicKey:
    return RESOLVER.dereference(kid, "assertionMethod").public_key


def _token_issuer(key_type: KeyType) -> tuple[SoftwareSigner, str]:
    signer = did_key.generate(key_type)
    return signer, did_key.create(signer.public_key)


@pytest.mark.parametrize("alg", [None, "Ed25519"])
def test_status_list_token_round_trip_with_either_ed25519_alg_name(alg: str | None) -> None:
    signer, did = _token_issuer(KeyType.ED25519)
    status_list = TokenStatusList(MIN_ENTRIES, 2)
    status_list.set(5, SUSPENDED)
    token = issue_status_list_token(status_list, TOKEN_URL, signer, now=TOKEN_NOW, alg=alg)
    assert json.loads(b64url_decode(token.split(".")[0]))["alg"] == (alg or "EdDSA")
    assert verify_status_list_token(token, _key, TOKEN_URL, did, TOKEN_NOW).get(5) == SUSPENDED
    head, body, signature = token.split(".")
    flipped = bytearray(b64url_decode(signature))
    flipped[7] ^= 0x01
    with pytest.raises(StatusListTokenError, match="does not verify"):
        verify_status_list_token(f"{head}.{body}.{b64url_encode(bytes(flipped))}", _key, TOKEN_URL, did, TOKEN_NOW)
    with pytest.raises(StatusListTokenError, match="has expired"):
        verify_status_list_token(token, _key, TOKEN_URL, did, TOKEN_NOW + timedelta(hours=2))
    with pytest.raises(StatusListTokenError, match="is for"):
        verify_status_list_token(token, _key, TOKEN_URL + "x", did, TOKEN_NOW)


@pytest.mark.parametrize(
    ("key_type", "alg"),
    [(KeyType.P256, "Ed25519"), (KeyType.P256, "EdDSA"), (KeyType.ED25519, "ES256"), (KeyType.P384, "ES256")],
)
def test_status_list_token_alg_of_another_key_type_is_refused(key_type: KeyType, alg: str) -> None:
    """The token is validly signed by the key its kid names: only the alg/key match refuses the relabeled header."""
    signer, did = _token_issuer(key_type)
    claims = {"sub": TOKEN_URL, "iat": int(TOKEN_NOW.timestamp()), "status_list": TokenStatusList().to_json()}
    header = {"alg": alg, "kid": signer.key_id, "typ": STATUS_LIST_JWT_TYP}
    token = encode_compact(header, compact_json(claims), signer.sign)
    with pytest.raises(StatusListTokenError, match=f"algorithm '{alg}' does not match"):
        verify_status_list_token(token, _key, TOKEN_URL, did, TOKEN_NOW)


def test_a_malformed_list_in_a_valid_token_is_a_status_list_error_not_a_token_error() -> None:
    signer, did = _token_issuer(KeyType.ED25519)
    claims = {"sub": TOKEN_URL, "iat": int(TOKEN_NOW.timestamp()), "status_list": {"bits": True, "lst": "eJw"}}
    token = sign_compact({"typ": STATUS_LIST_JWT_TYP}, compact_json(claims), signer)
    with pytest.raises(StatusListError, match="bits must be the integer") as caught:
        verify_status_list_token(token, _key, TOKEN_URL, did, TOKEN_NOW)
    assert type(caught.value) is StatusListError
