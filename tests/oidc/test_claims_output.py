"""A verified presentation → ID token and userinfo claims: only what was asked, in the agency's claim names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from oidc.claims import released_claims
from oidc.contracts import AuthorizationRequest

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CREDENTIAL: dict[str, Any] = {
    "name": "山田 太郎",
    "address": {"formatted": "東京都千代田区1-1"},
    "sex": "2",
    "jpki_date_of_birth": "419900102",
    "birthdate": "1990-01-02",
    "verification": {"trust_framework": "jp_aml", "time": "2026-05-31T00:00:00Z", "evidence": [{"type": "x"}]},
}


def request(scopes: tuple[str, ...] = ("openid",), claims: dict[str, Any] | None = None) -> AuthorizationRequest:
    return AuthorizationRequest(
        id="a",
        client_id="c",
        client_name="Shop",
        sector="shop.example",
        redirect_uri="https://shop.example/cb",
        state="s",
        scopes=scopes,
        claims=claims or {},
        acr_values=(),
        prompt=(),
        max_age=None,
        ui_locales=(),
        linkage=(),
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )


def test_scopes_release_the_basic_four_to_the_userinfo_only() -> None:
    id_token, userinfo = released_claims(request(("openid", "name", "gender")), CREDENTIAL, NOW)
    assert id_token == {}
    assert userinfo == {"name": "山田 太郎", "gender": "female"}
    assert released_claims(request(("openid",)), CREDENTIAL, NOW) == ({}, {})


def test_sex_code_3_and_a_partly_unknown_birth_date_are_not_released() -> None:
    partial = {**CREDENTIAL, "sex": "3"}
    del partial["birthdate"]
    _, userinfo = released_claims(request(("openid", "gender", "birthdate", "address")), partial, NOW)
    assert userinfo == {"address": {"formatted": "東京都千代田区1-1"}}


def test_the_claims_parameter_places_claims_and_honours_value() -> None:
    claims = {"id_token": {"name": {"essential": True}, "gender": {"value": "male"}}, "userinfo": {"birthdate": None}}
    id_token, userinfo = released_claims(request(claims=claims), CREDENTIAL, NOW)
    assert id_token == {"name": "山田 太郎"}  # gender is female: a value that does not match is omitted
    assert userinfo == {"birthdate": "1990-01-02"}


def test_verified_claims_honour_trust_framework_and_max_age() -> None:
    def ask(verification: dict[str, Any]) -> dict[str, Any]:
        spec = {"verification": verification, "claims": {"name": None, "address": None}}
        return released_claims(request(claims={"userinfo": {"verified_claims": spec}}), CREDENTIAL, NOW)[1]

    answered = ask({"trust_framework": None})["verified_claims"]
    assert answered["verification"] == {
        "trust_framework": "jp_aml",
        "time": "2026-05-31T00:00:00Z",
        "evidence": [{"type": "x"}],
    }
    assert answered["claims"] == {"name": "山田 太郎", "address": {"formatted": "東京都千代田区1-1"}}
    assert ask({"trust_framework": {"value": "de_aml"}}) == {}
    assert ask({"trust_framework": {"values": ["jp_aml", "eidas"]}}) != {}
    assert ask({"time": {"max_age": 3600}}) == {}  # checked a day ago
    assert ask({"time": {"max_age": 2 * 86400}}) != {}
