"""The business's My Number receiver: what it accepts, keeps and refuses, through the library and its two routes.

Handovers here are sealed with joserfc directly (not with the wallet's code), so every claim and header can be
set wrong on purpose; tests/wallet/test_mynumber.py runs the wallet against the receiver.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

import pytest
from joserfc import jwe
from joserfc.jwk import ECKey, OKPKey
from starlette.applications import Starlette

from foundation.b64 import b64url_decode, b64url_encode
from jpki_bridge.mynumber import MyNumberError, check_my_number, my_number_check_digit
from tests.helpers import AsgiClient
from verifier.mynumber import (
    HANDOVER_TYPE,
    Handover,
    HandoverError,
    JtiCache,
    Receiver,
    ReceiverBusyError,
    generate_key,
    my_number_is_valid,
    routes,
)

NUMBER = "123456789018"  # the TEST person's (tests/jpki/persons/yamada.toml)
AUDIENCE = "https://shop.example.jp"
PURPOSE = "employment"
NOW = 1_800_000_000


def claims(**changes: Any) -> dict[str, Any]:
    """A valid handover's claims, with changes (a value of None removes the claim)."""
    base: dict[str, Any] = {
        "my_number": NUMBER,
        "purpose": PURPOSE,
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": f"jti-{random.random()}",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def seal(public: dict[str, Any], body: dict[str, Any] | bytes, **header: Any) -> str:
    """A compact JWE to the key, with the handover's header unless changed."""
    protected = {"alg": "ECDH-ES", "enc": "A256GCM", "kid": public["kid"], "typ": HANDOVER_TYPE, **header}
    protected = {k: v for k, v in protected.items() if v is not None}
    members = {k: v for k, v in public.items() if k in ("kty", "crv", "x", "y")}
    key = ECKey.import_key(members) if members["kty"] == "EC" else OKPKey.import_key(members)
    plaintext = body if isinstance(body, bytes) else json.dumps(body).encode()
    return jwe.encrypt_compact(protected, plaintext, key, algorithms=[protected["alg"], protected["enc"]])


class Store:
    """The business's store: records what the receiver hands it."""

    def __init__(self) -> None:
        self.kept: list[Handover] = []

    def __call__(self, handover: Handover) -> None:
        self.kept.append(handover)


def receiver(keep: str = "number", curve: str = "P-256", **kwargs: Any) -> tuple[Receiver, Store]:
    store = Store()
    return Receiver(generate_key(curve), AUDIENCE, {PURPOSE, "tax"}, keep, store, clock=lambda: NOW, **kwargs), store  # type: ignore[arg-type]


# -- the check digit ---------------------------------------------------------------------------------------------


def test_the_check_digit_agrees_with_the_card_bridge() -> None:
    rng = random.Random(12)
    for _ in range(3000):
        first = "".join(rng.choice("0123456789") for _ in range(11))
        good = first + my_number_check_digit(first)
        assert my_number_is_valid(good)
        check_my_number(good)
        for digit in "0123456789":
            candidate = first + digit
            try:
                check_my_number(candidate)
                expected = True
            except MyNumberError:
                expected = False
            assert my_number_is_valid(candidate) is expected
    for bad in ("", "12345678901", "1234567890180", "12345678901a", "\uff11" * 12):
        assert not my_number_is_valid(bad)


# -- accepted handovers, and what is kept --------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["P-256", "P-384", "X25519"])
def test_a_handover_is_accepted_once_and_the_number_kept(curve: str) -> None:
    r, store = receiver("number", curve)
    token = seal(r.public_jwk, claims())
    handover = r.receive(token)
    assert store.kept == [handover]
    assert (handover.my_number, handover.my_number_hash, handover.purpose, handover.kept) == (
        NUMBER, None, PURPOSE, "number"
    )  # fmt: skip
    assert NUMBER not in repr(handover)
    with pytest.raises(HandoverError) as info:
        r.receive(token)
    assert info.value.code == "handoverReplayed"
    assert len(store.kept) == 1


def test_keep_hash_keeps_a_keyed_hash_and_none_keeps_nothing() -> None:
    r, _ = receiver("hash")
    first = r.receive(seal(r.public_jwk, claims()))
    second = r.receive(seal(r.public_jwk, claims()))
    assert first.my_number is None
    assert first.my_number_hash is not None
    assert first.my_number_hash == second.my_number_hash  # the same number, the same hash: records can be matched
    assert NUMBER not in first.my_number_hash
    other, _ = receiver("hash")
    assert other.receive(seal(other.public_jwk, claims())).my_number_hash != first.my_number_hash  # keyed
    nothing, kept = receiver("none")
    handover = nothing.receive(seal(nothing.public_jwk, claims()))
    assert (handover.my_number, handover.my_number_hash) == (None, None)
    assert kept.kept == [handover]


def test_a_store_failure_lets_the_same_handover_be_sent_again() -> None:
    calls: list[Handover] = []

    def flaky(handover: Handover) -> None:
        calls.append(handover)
        if len(calls) == 1:
            raise OSError("disk full")

    r = Receiver(generate_key(), AUDIENCE, {PURPOSE}, "number", flaky, clock=lambda: NOW)
    token = seal(r.public_jwk, claims())
    with pytest.raises(OSError, match="disk full"):
        r.receive(token)
    assert r.receive(token).my_number == NUMBER
    assert len(calls) == 2


def test_the_replay_cache_is_bounded_and_forgets_expired_ids() -> None:
    cache = JtiCache(limit=2)
    assert cache.claim("a", 100, 50)
    assert cache.claim("b", 200, 50)
    with pytest.raises(ReceiverBusyError):
        cache.claim("c", 300, 60)
    assert not cache.claim("b", 200, 150)  # still valid: a replay
    assert cache.claim("c", 300, 150)  # "a" expired at 100 and was forgotten


# -- refusals: each check, with the number never in a message ------------------------------------------------------


def _other_key() -> dict[str, Any]:
    return generate_key()


REFUSALS: dict[str, tuple[str, Any]] = {
    "wrong audience": ("handoverAudience", lambda pub: seal(pub, claims(aud="https://other.example.jp"))),
    "expired": ("handoverExpired", lambda pub: seal(pub, claims(iat=NOW - 1000, exp=NOW - 700))),
    "issued in the future": ("handoverExpired", lambda pub: seal(pub, claims(iat=NOW + 120, exp=NOW + 300))),
    "lives too long": ("handoverExpired", lambda pub: seal(pub, claims(exp=NOW + 3600))),
    "exp before iat": ("handoverExpired", lambda pub: seal(pub, claims(exp=NOW - 1))),
    "unknown purpose": ("handoverPurpose", lambda pub: seal(pub, claims(purpose="marketing"))),
    "bad check digit": ("handoverNumber", lambda pub: seal(pub, claims(my_number=NUMBER[:11] + "9"))),
    "not digits": ("handoverNumber", lambda pub: seal(pub, claims(my_number="12345678901x"))),
    "missing jti": ("handoverClaims", lambda pub: seal(pub, claims(jti=None))),
    "extra claim": ("handoverClaims", lambda pub: seal(pub, claims(name="山田"))),
    "iat as text": ("handoverClaims", lambda pub: seal(pub, claims(iat=str(NOW)))),
    "not JSON": ("handoverClaims", lambda pub: seal(pub, NUMBER.encode())),
    "another key, our kid": ("handoverUndecryptable", lambda pub: seal({**_other_key(), "kid": pub["kid"]}, claims())),
    "another key": ("handoverUndecryptable", lambda pub: seal(_other_key(), claims())),
    "A128GCM": ("handoverUndecryptable", lambda pub: seal(pub, claims(), enc="A128GCM")),
    "ECDH-ES+A256KW": ("handoverUndecryptable", lambda pub: seal(pub, claims(), alg="ECDH-ES+A256KW")),
    "no typ": ("handoverUndecryptable", lambda pub: seal(pub, claims(), typ=None)),
    "another typ": ("handoverUndecryptable", lambda pub: seal(pub, claims(), typ="oauth-authz-resp+jwt")),
    "not a JWE": ("handoverUndecryptable", lambda pub: "a.b.c"),
}


def _tamper(token: str, part: int) -> str:
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[part]))
    raw[len(raw) // 2] ^= 0x01
    parts[part] = b64url_encode(bytes(raw))
    return ".".join(parts)


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refused_handover_keeps_nothing_and_never_shows_the_number(name: str) -> None:
    code, make = REFUSALS[name]
    r, store = receiver("number")
    with pytest.raises(HandoverError) as info:
        r.receive(make(r.public_jwk))
    assert info.value.code == code
    assert NUMBER not in str(info.value)
    assert store.kept == []


def test_the_header_is_checked_before_decryption() -> None:
    r, store = receiver("number")
    with pytest.raises(HandoverError, match=r"another key \(kid\)"):  # our key, but not the kid we publish
        r.receive(seal({**r.public_jwk, "kid": "old-key"}, claims()))
    with pytest.raises(HandoverError, match="alg ECDH-ES and enc A256GCM"):
        r.receive(seal(r.public_jwk, claims(), enc="A128GCM"))
    with pytest.raises(HandoverError, match="alg ECDH-ES and enc A256GCM"):
        r.receive(seal(r.public_jwk, claims(), alg="ECDH-ES+A128KW"))
    assert store.kept == []


@pytest.mark.parametrize(("part", "what"), [(0, "header"), (2, "iv"), (3, "ciphertext"), (4, "tag")])
def test_a_tampered_handover_is_refused(part: int, what: str) -> None:
    r, store = receiver("number")
    token = seal(r.public_jwk, claims())
    with pytest.raises(HandoverError) as info:
        r.receive(_tamper(token, part))
    assert info.value.code == "handoverUndecryptable", what
    assert store.kept == []
    assert r.receive(token).my_number == NUMBER  # the untampered one still goes through


def test_the_clock_leeway_is_bounded() -> None:
    r, _ = receiver("none")
    r.receive(seal(r.public_jwk, claims(iat=NOW - 330, exp=NOW - 30)))  # 30 s late: within the 60 s leeway
    with pytest.raises(HandoverError, match="expired"):
        r.receive(seal(r.public_jwk, claims(iat=NOW - 400, exp=NOW - 61)))


def test_a_receiver_needs_a_private_key_a_kid_and_a_purpose() -> None:
    key = generate_key()
    with pytest.raises(ValueError, match="private"):
        Receiver({k: v for k, v in key.items() if k != "d"}, AUDIENCE, {PURPOSE})
    with pytest.raises(ValueError, match="kid"):
        Receiver({k: v for k, v in key.items() if k != "kid"}, AUDIENCE, {PURPOSE})
    with pytest.raises(ValueError, match="purpose"):
        Receiver(key, AUDIENCE, set())
    with pytest.raises(ValueError, match="keep"):
        Receiver(key, AUDIENCE, {PURPOSE}, "all")  # type: ignore[arg-type]


# -- the routes ------------------------------------------------------------------------------------------------------


def _client(r: Receiver) -> AsgiClient:
    return AsgiClient(Starlette(routes=routes(r)))


def test_the_key_route_publishes_only_the_public_key() -> None:
    r, _ = receiver("number", "P-256")
    answer = _client(r).get("/mynumber/key")
    assert answer.status_code == 200
    jwk = answer.json()
    assert set(jwk) == {"kty", "crv", "x", "y", "use", "alg", "kid"}
    assert (jwk["use"], jwk["alg"], jwk["kid"]) == ("enc", "ECDH-ES", r.kid)


def test_the_handover_route_answers_201_and_400(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r, store = receiver("number")
    client = _client(r)
    headers = {"Content-Type": "application/jose"}
    token = seal(r.public_jwk, claims())
    answer = client.post("/mynumber", content=token, headers=headers)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body == {"received": True, "kept": "number", "id": store.kept[0].id}
    again = client.post("/mynumber", content=token, headers=headers)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"
    assert "received before" in again.json()["error_description"]
    for name, (_, make) in REFUSALS.items():
        refused = client.post("/mynumber", content=make(r.public_jwk), headers=headers)
        assert refused.status_code == 400, name
        assert set(refused.json()) == {"error", "error_description"}
        assert NUMBER not in refused.text
    assert len(store.kept) == 1
    assert NUMBER not in caplog.text
    assert "accepted" in caplog.text  # the log does record the handover, by id


def test_the_handover_route_refuses_bad_bodies() -> None:
    r, store = receiver("number")
    client = _client(r)
    token = seal(r.public_jwk, claims())
    wrong_type = client.post("/mynumber", content=token, headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 400
    assert "application/jose" in wrong_type.json()["error_description"]
    too_big = client.post("/mynumber", content="a" * 20000, headers={"Content-Type": "application/jose"})
    assert too_big.status_code == 413
    not_ascii = client.post("/mynumber", content="ü".encode(), headers={"Content-Type": "application/jose"})
    assert not_ascii.status_code == 400
    assert client.get("/mynumber").status_code == 405
    assert store.kept == []


def test_a_failing_store_is_a_503_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    def broken(handover: Handover) -> None:
        raise RuntimeError(f"could not insert {handover.my_number}")

    r = Receiver(generate_key(), AUDIENCE, {PURPOSE}, "number", broken, clock=time.time)
    token = seal(r.public_jwk, claims(iat=int(time.time()), exp=int(time.time()) + 300))
    answer = _client(r).post("/mynumber", content=token, headers={"Content-Type": "application/jose"})
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert NUMBER not in answer.text
    assert NUMBER not in caplog.text


def test_the_handover_route_is_rate_limited() -> None:
    r, _ = receiver("none", rate_per_minute=2)
    client = _client(r)
    statuses = [
        client.post("/mynumber", content="x", headers={"Content-Type": "application/jose"}).status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 429]
