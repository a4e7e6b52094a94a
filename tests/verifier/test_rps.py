"""Relying-party registrations and HTTP Basic authentication, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest
from sqlalchemy import Engine, select

from foundation.db import transaction
from verifier import rps


def header(client_id: str, secret: str, *, encode: bool = True) -> str:
    user, password = (quote_plus(client_id), quote_plus(secret)) if encode else (client_id, secret)
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_register_authenticate_list_remove(verifier_engine: Engine) -> None:
    rp, secret = rps.register(verifier_engine, "Shop", ["https://shop.example/cb", "https://shop.example/cb"])
    assert rp.redirect_uris == ("https://shop.example/cb",)
    assert rp.sector == "shop.example"
    assert rp.ledger_rp == "https://shop.example"
    assert len(secret) == 43  # 32 bytes, base64url
    with transaction(verifier_engine) as conn:
        stored = conn.execute(select(rps.rps.c.secret_sha256)).scalar_one()
    assert secret not in stored
    assert rps.authenticate(verifier_engine, header(rp.client_id, secret)) == rp
    assert rps.get(verifier_engine, rp.client_id) == rp
    other, _ = rps.register(verifier_engine, "Local", ["http://127.0.0.1:5000/cb"], sector="local.example")
    assert other.ledger_rp is None
    assert [r.client_id for r in rps.list_all(verifier_engine)] == [rp.client_id, other.client_id]
    rps.remove(verifier_engine, rp.client_id)
    with pytest.raises(rps.InvalidClientError):
        rps.authenticate(verifier_engine, header(rp.client_id, secret))
    with pytest.raises(rps.UnknownRelyingPartyError):
        rps.remove(verifier_engine, rp.client_id)
    with pytest.raises(rps.UnknownRelyingPartyError):
        rps.get(verifier_engine, rp.client_id)


def test_basic_credentials_are_form_urlencoded_first(verifier_engine: Engine) -> None:
    rp, secret = rps.register(verifier_engine, "Shop", ["https://shop.example/cb"])
    encoded = "".join(f"%{b:02X}" for b in rp.client_id.encode())  # RFC 6749 section 2.3.1: decode before comparing
    assert rps.authenticate(verifier_engine, header(encoded, secret, encode=False)).client_id == rp.client_id


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Basic " + "A" * 2000,
    ],
)
def test_malformed_credentials_are_invalid_client(verifier_engine: Engine, authorization: str | None) -> None:
    with pytest.raises(rps.InvalidClientError) as caught:
        rps.authenticate(verifier_engine, authorization)
    assert caught.value.oauth_error == "invalid_client"
    assert caught.value.status == 401


def test_wrong_secret_and_unknown_client_are_refused(verifier_engine: Engine) -> None:
    rp, secret = rps.register(verifier_engine, "Shop", ["https://shop.example/cb"])
    for client_id, attempt in [(rp.client_id, secret[:-1] + "A"), (rp.client_id, ""), ("unknown", secret)]:
        if attempt == secret[:-1] + "A" and secret.endswith("A"):
            attempt = secret[:-1] + "B"
        with pytest.raises(rps.InvalidClientError):
            rps.authenticate(verifier_engine, header(client_id, attempt))


@pytest.mark.parametrize(
    ("name", "uris", "sector", "named"),
    [
        ("", ["https://a.example/cb"], None, "name"),
        ("Shop", ["http://shop.example/cb"], None, "https"),
        ("Shop", ["https://shop.example/cb#frag"], None, "fragment"),
        ("Shop", ["https://user:pw@shop.example/cb"], None, "user"),
        ("Shop", ["ftp://shop.example/cb"], None, "https"),
        ("Shop", ["https:///cb"], None, "https"),
        ("Shop", [], None, "sector"),
        ("Shop", ["https://shop.example/cb"], "not a host", "sector"),
        ("Shop", [f"https://shop.example/{i}" for i in range(11)], None, "at most"),
    ],
)
def test_bad_registrations_are_refused(
    verifier_engine: Engine, name: str, uris: list[str], sector: str | None, named: str
) -> None:
    with pytest.raises(rps.InvalidRegistrationError, match=named):
        rps.register(verifier_engine, name, uris, sector)
    assert rps.list_all(verifier_engine) == []
