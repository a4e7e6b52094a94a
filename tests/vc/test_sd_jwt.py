"""SD-JWT VC (dc+sd-jwt): issue with nested and array disclosures and decoys, present a subset with key binding,
and fail closed on every tampering the issue lists."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from did import KeyType, PublicKey, SoftwareSigner
from foundation.b64 import b64url_decode, b64url_encode
from foundation.jws import encode_compact
from vc.errors import VcError
from vc.jose import JwsAlgorithmError, JwsSignatureError, sign_compact
from vc.sd_jwt import SD, DisclosureError, KeyBindingError, SdJwtError, issue, present, sd_hash, verify

NOW = datetime(2026, 6, 1, tzinfo=UTC)
AUD, NONCE = "https://verifier.example.jp", "n-0S6_WzA2Mj"
ISSUER = SoftwareSigner.generate(KeyType.P256).with_key_id("did:web:issuer.example.jp#key-1")
HOLDER = SoftwareSigner.generate(KeyType.ED25519)


def issuer_key(header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
    assert header["kid"] == ISSUER.key_id
    return ISSUER.public_key


def claims() -> dict[str, Any]:
    return {
        "iss": "did:web:issuer.example.jp",
        "vct": "https://xid.example/credentials/basic4",
        "iat": int(NOW.timestamp()) - 3600,
        "exp": int(NOW.timestamp()) + 86400,
        "given_name": SD("花子"),
        "family_name": SD("山田"),
        "birthdate": SD("1990-01-02"),
        "address": SD({"region": SD("東京都"), "locality": SD("千代田区"), "country": "JP"}),
        "nationalities": [SD("JP"), SD("FR"), "US"],
        "status": {"status_list": {"idx": 7, "uri": "https://issuer.example.jp/status/1"}},
    }


def issued() -> str:
    return issue(claims(), ISSUER, holder_jwk=HOLDER.public_jwk, decoys=3)


def presented(sd_jwt: str | None = None, **kw: Any) -> str:
    args = {"audience": AUD, "nonce": NONCE, "now": NOW, **kw}
    return present(sd_jwt or issued(), [("given_name",), ("address", "region"), ("nationalities", 1)], HOLDER, **args)


def check(presentation: str, **kw: Any) -> Any:
    return verify(presentation, issuer_key, **{"audience": AUD, "nonce": NONCE, "now": NOW, **kw})


def test_issue_present_verify() -> None:
    sd_jwt = issued()
    payload = json.loads(b64url_decode(sd_jwt.split("~")[0].split(".")[1]))
    assert "given_name" not in payload
    assert len(payload["_sd"]) == 4 + 3  # given_name, family_name, birthdate, address + three decoys
    assert payload["nationalities"][2] == "US"
    assert payload["_sd_alg"] == "sha-256"
    result = check(presented(sd_jwt))
    assert result.claims["given_name"] == "花子"
    assert result.claims["address"] == {"region": "東京都", "country": "JP"}
    assert result.claims["nationalities"] == ["FR", "US"]
    assert "family_name" not in result.claims
    assert "birthdate" not in result.claims
    assert result.key_bound
    assert result.vct == "https://xid.example/credentials/basic4"
    assert result.status == {"status_list": {"idx": 7, "uri": "https://issuer.example.jp/status/1"}}
    assert ("address", "region") in result.disclosed
    everything = present(sd_jwt, [()], HOLDER, audience=AUD, nonce=NONCE, now=NOW)
    assert check(everything).claims["birthdate"] == "1990-01-02"


def _flip(text: str) -> str:
    raw = bytearray(b64url_decode(text))
    raw[len(raw) // 2] ^= 0x01
    return b64url_encode(bytes(raw))


def test_tampering_is_rejected() -> None:
    presentation = presented()
    jwt, *rest = presentation.split("~")
    header, payload, signature = jwt.split(".")
    with pytest.raises(JwsSignatureError):
        check("~".join([f"{header}.{_flip(payload)}.{signature}", *rest]))
    with pytest.raises(JwsSignatureError):
        check("~".join([f"{header}.{payload}.{_flip(signature)}", *rest]))
    salt, *named = json.loads(b64url_decode(rest[0]))
    resalted = b64url_encode(json.dumps([salt[:-1] + ("A" if salt[-1] != "A" else "B"), *named]).encode())
    with pytest.raises(DisclosureError, match="not referenced by any digest"):  # well-formed, but never issued
        check("~".join([jwt, resalted, *rest[1:]]))
    with pytest.raises(DisclosureError, match="not base64url-encoded JSON"):
        check("~".join([jwt, b64url_encode(b'["salt", "name", '), *rest[1:]]))
    other = SoftwareSigner.generate(KeyType.P256).with_key_id(ISSUER.key_id)
    forged = issue(claims(), other, holder_jwk=HOLDER.public_jwk)
    with pytest.raises(JwsSignatureError):
        check(presented(forged))


def test_none_and_hmac_headers_are_refused() -> None:
    presentation = presented()
    jwt, *rest = presentation.split("~")
    _, payload, _ = jwt.split(".")
    for alg in ("none", "HS256"):
        header = b64url_encode(json.dumps({"alg": alg, "typ": "dc+sd-jwt", "kid": ISSUER.key_id}).encode())
        with pytest.raises(SdJwtError, match="not allowed"):
            check("~".join([f"{header}.{payload}.", *rest]))


def test_key_binding_checks() -> None:
    sd_jwt = issued()
    with pytest.raises(KeyBindingError, match="nonce"):
        check(presented(sd_jwt, nonce="other-nonce"))
    with pytest.raises(KeyBindingError, match="audience"):
        check(presented(sd_jwt, audience="https://evil.example"))
    with pytest.raises(KeyBindingError, match="iat"):
        check(presented(sd_jwt, now=NOW - timedelta(hours=1)))
    with pytest.raises(KeyBindingError, match="iat"):
        check(presented(sd_jwt, now=NOW + timedelta(hours=1)))
    stranger = SoftwareSigner.generate(KeyType.ED25519)
    stolen = present(sd_jwt, [("given_name",)], stranger, audience=AUD, nonce=NONCE, now=NOW)
    with pytest.raises(KeyBindingError, match="does not verify"):
        check(stolen)
    # A KB-JWT made for one set of disclosures, replayed with another: sd_hash no longer matches.
    one = presented(sd_jwt)
    body, kb = one.rsplit("~", 1)
    more = present(sd_jwt, [()], None)
    with pytest.raises(KeyBindingError, match="sd_hash"):
        check(more + kb)
    without = present(sd_jwt, [("given_name",)], None)
    with pytest.raises(KeyBindingError, match="no Key Binding JWT"):
        check(without)
    assert check(without, require_key_binding=False).claims["given_name"] == "花子"
    kb_claims = {"iat": int(NOW.timestamp()), "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(body + "~")}
    wrong_typ = body + "~" + sign_compact({"typ": "JWT"}, json.dumps(kb_claims).encode(), HOLDER)
    with pytest.raises(KeyBindingError, match="typ"):
        check(wrong_typ)


def test_disclosure_rules() -> None:
    sd_jwt = issued()
    jwt, *disclosures, _ = sd_jwt.split("~")
    with pytest.raises(DisclosureError, match="twice"):
        check("~".join([jwt, disclosures[0], disclosures[0]]) + "~", require_key_binding=False)
    unrelated = b64url_encode(json.dumps(["salt", "given_name", "Mallory"]).encode())
    with pytest.raises(DisclosureError, match="not referenced"):
        check("~".join([jwt, unrelated]) + "~", require_key_binding=False)
    with pytest.raises(DisclosureError, match="base64url"):
        check("~".join([jwt, "%%%"]) + "~", require_key_binding=False)
    bad_shape = b64url_encode(json.dumps(["salt", 1, 2, 3]).encode())
    with pytest.raises(DisclosureError, match="salt"):
        check("~".join([jwt, bad_shape]) + "~", require_key_binding=False)
    reserved = b64url_encode(json.dumps(["salt", "_sd", []]).encode())
    with pytest.raises(DisclosureError, match="reserved"):
        check("~".join([jwt, reserved]) + "~", require_key_binding=False)


def test_a_disclosure_cannot_overwrite_a_plain_claim() -> None:
    disclosure = b64url_encode(json.dumps(["c2FsdA", "iss", "did:web:evil.example"]).encode())
    from vc.sd_jwt import _digest

    payload = {"iss": "did:web:issuer.example.jp", "vct": "x", "_sd": [_digest(disclosure)], "_sd_alg": "sha-256"}
    jwt = sign_compact({"typ": "dc+sd-jwt"}, json.dumps(payload).encode(), ISSUER)
    with pytest.raises(DisclosureError, match="overwrite"):
        check(f"{jwt}~{disclosure}~", require_key_binding=False)


def test_typ_vct_and_time_checks() -> None:
    with pytest.raises(SdJwtError, match="typ"):
        check(present(issue(claims(), ISSUER, typ="example+sd-jwt"), [], None), require_key_binding=False)
    no_vct = claims()
    del no_vct["vct"]
    with pytest.raises(SdJwtError, match="vct"):
        check(present(issue(no_vct, ISSUER), [], None), require_key_binding=False)
    with pytest.raises(SdJwtError, match="expired"):
        check(present(issued(), [], None), require_key_binding=False, now=NOW + timedelta(days=2))
    jwt = sign_compact({"typ": "dc+sd-jwt"}, json.dumps({"_sd_alg": "sha-512", "vct": "x"}).encode(), ISSUER)
    with pytest.raises(SdJwtError, match="_sd_alg"):
        check(f"{jwt}~", require_key_binding=False)


def _relabel(jwt: str, alg: str, signer: SoftwareSigner) -> str:
    """The same JWT with another header alg, validly re-signed by ``signer`` (sign_compact would refuse)."""
    header, payload, _ = jwt.split(".")
    return encode_compact({**json.loads(b64url_decode(header)), "alg": alg}, b64url_decode(payload), signer.sign)


# Each header names an algorithm of another key type than the key that really signed (and verifies) the JWT:
# without the alg/key match the signature would verify, so only that check refuses these.
WRONG_KEY_FOR_ALG = [
    (KeyType.P256, "Ed25519"),
    (KeyType.P256, "EdDSA"),
    (KeyType.P256, "ES384"),
    (KeyType.P384, "ES256"),
    (KeyType.ED25519, "ES256"),
    (KeyType.SECP256K1, "ES256"),
]


@pytest.mark.parametrize(("key_type", "alg"), WRONG_KEY_FOR_ALG)
def test_issuer_jwt_alg_must_match_the_issuer_key(key_type: KeyType, alg: str) -> None:
    signer = SoftwareSigner.generate(key_type).with_key_id(ISSUER.key_id)
    jwt, *rest = issue(claims(), signer, holder_jwk=HOLDER.public_jwk).split("~")
    relabeled = "~".join([_relabel(jwt, alg, signer), *rest])
    with pytest.raises(JwsAlgorithmError, match=f"algorithm '{alg}' does not match"):
        verify(relabeled, lambda h, p: signer.public_key, audience=AUD, nonce=NONCE, now=NOW, require_key_binding=False)


@pytest.mark.parametrize(("key_type", "alg"), WRONG_KEY_FOR_ALG)
def test_kb_jwt_alg_must_match_the_holder_key(key_type: KeyType, alg: str) -> None:
    holder = SoftwareSigner.generate(key_type)
    sd_jwt = issue(claims(), ISSUER, holder_jwk=holder.public_jwk)
    presentation = present(sd_jwt, [("given_name",)], holder, audience=AUD, nonce=NONCE, now=NOW)
    body, kb_jwt = presentation.rsplit("~", 1)
    assert check(presentation).key_bound
    with pytest.raises(KeyBindingError, match=f"algorithm '{alg}' does not match"):
        check(f"{body}~{_relabel(kb_jwt, alg, holder)}")


def test_fully_specified_ed25519_alg_for_issuer_and_key_binding() -> None:
    issuer = SoftwareSigner.generate(KeyType.ED25519).with_key_id(ISSUER.key_id)
    sd_jwt = issue(claims(), issuer, holder_jwk=HOLDER.public_jwk, alg="Ed25519")
    presentation = present(sd_jwt, [("given_name",)], HOLDER, audience=AUD, nonce=NONCE, now=NOW, alg="Ed25519")
    result = verify(presentation, lambda h, p: issuer.public_key, audience=AUD, nonce=NONCE, now=NOW)
    assert (result.issuer_header["alg"], result.key_bound) == ("Ed25519", True)
    kb_header = json.loads(b64url_decode(presentation.rsplit("~", 1)[1].split(".")[0]))
    assert kb_header["alg"] == "Ed25519"
    with pytest.raises(JwsAlgorithmError, match="does not match the signer"):  # xid does not mislabel either
        issue(claims(), ISSUER, alg="Ed25519")


@given(st.text(max_size=200))
def test_verifier_raises_only_vc_errors(text: str) -> None:
    with contextlib.suppress(VcError):
        check(text, require_key_binding=False)


@given(st.lists(st.text(alphabet="abcXYZ019-_", max_size=30), max_size=5))
def test_random_disclosures_raise_only_vc_errors(parts: list[str]) -> None:
    jwt = issued().split("~")[0]
    with contextlib.suppress(VcError):
        check("~".join([jwt, *parts]) + "~", require_key_binding=False)
