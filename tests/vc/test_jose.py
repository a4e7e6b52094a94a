"""VC-JOSE (vc+jwt, jwt_vc_json) and the compact JWS layer, cross-checked with joserfc (an independent JOSE library)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws as joserfc_jws
from joserfc.jwk import ECKey, OKPKey

from did import DidError, KeyType, PublicKey, Resolver, SoftwareSigner, did_key
from foundation.b64 import b64url_decode, b64url_encode
from foundation.jws import encode_compact
from vc.errors import VcError
from vc.jose import (
    CompactJws,
    JoseError,
    JwsAlgorithmError,
    JwsSignatureError,
    JwtClaimsError,
    compact_json,
    issue_jwt_vc_json,
    issue_vc_jwt,
    sign_compact,
    verify_vc_jwt,
)
from vc.model import CredentialExpiredError, CredentialModelError, CredentialNotYetValidError

RESOLVER = Resolver()
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def keys(kid: str) -> PublicKey:
    return RESOLVER.dereference(kid, "assertionMethod").public_key


def issuer(key_type: KeyType = KeyType.ED25519) -> tuple[SoftwareSigner, str]:
    signer = did_key.generate(key_type)
    return signer, did_key.create(signer.public_key)


def credential(issuer_did: str, **extra: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:5b1b0c9e-6b39-4a0f-8a1f-1d2c3e4f5a6b",
        "type": ["VerifiableCredential", "BasicFourCredential"],
        "issuer": issuer_did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2031-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", "name": "山田花子", "sex": 2},
        **extra,
    }


@pytest.mark.parametrize("key_type", [KeyType.ED25519, KeyType.P256, KeyType.SECP256K1])
def test_vc_jwt_round_trip(key_type: KeyType) -> None:
    signer, did = issuer(key_type)
    token = issue_vc_jwt(credential(did), signer)
    result = verify_vc_jwt(token, keys, now=NOW)
    assert result.issuer == did
    assert result.kid == signer.key_id
    assert result.algorithm == key_type.algorithm
    assert result.format == "vc+jwt"
    assert result.credential.data["credentialSubject"]["name"] == "山田花子"
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header["typ"] == "vc+jwt"


def test_jwt_vc_json_round_trip_and_times() -> None:
    signer, did = issuer()
    token = issue_jwt_vc_json(credential(did), signer, subject="did:example:holder", now=NOW)
    claims = json.loads(b64url_decode(token.split(".")[1]))
    assert claims["iss"] == did
    assert claims["sub"] == "did:example:holder"
    assert claims["vc"]["type"][1] == "BasicFourCredential"
    assert verify_vc_jwt(token, keys, now=NOW).format == "jwt_vc_json"
    with pytest.raises(JwtClaimsError, match="expired"):
        verify_vc_jwt(token, keys, now=datetime(2032, 1, 1, tzinfo=UTC))
    with pytest.raises(JwtClaimsError, match="not valid yet"):
        verify_vc_jwt(token, keys, now=datetime(2025, 1, 1, tzinfo=UTC))


def _vc_jwt(payload: dict[str, Any], signer: SoftwareSigner, **header: Any) -> str:
    return sign_compact({"typ": "vc+jwt", **header}, compact_json(payload), signer)


def test_vc_jwt_iss_naming_another_party_is_refused() -> None:
    signer, did = issuer()
    _other_signer, other = issuer()
    assert verify_vc_jwt(_vc_jwt({**credential(did), "iss": did}, signer), keys, now=NOW).issuer == did
    with pytest.raises(JwtClaimsError, match=r"iss in the JWT claims names .*did:key.*not the issuer"):
        verify_vc_jwt(_vc_jwt({**credential(did), "iss": other}, signer), keys, now=NOW)
    with pytest.raises(JwtClaimsError, match="iss in the JWT claims"):  # not a string: it cannot match
        verify_vc_jwt(_vc_jwt({**credential(did), "iss": [did]}, signer), keys, now=NOW)
    with pytest.raises(JwtClaimsError, match="iss in the JOSE header"):  # replicated as a header (RFC 7519 §5.3)
        verify_vc_jwt(_vc_jwt(credential(did), signer, iss=other), keys, now=NOW)
    # An issuer object: iss must match issuer.id.
    named = credential(did, issuer={"id": did, "name": "Example University"})
    assert verify_vc_jwt(_vc_jwt({**named, "iss": did}, signer), keys, now=NOW).issuer == did
    with pytest.raises(JwtClaimsError, match="iss in the JWT claims"):
        verify_vc_jwt(_vc_jwt({**named, "iss": other}, signer), keys, now=NOW)


def test_vc_jwt_sub_must_name_a_credential_subject() -> None:
    signer, did = issuer()
    holder = "did:example:holder"
    assert verify_vc_jwt(_vc_jwt({**credential(did), "sub": holder}, signer), keys, now=NOW).issuer == did
    for wrong in ("did:example:someone-else", None, 7, [holder]):
        with pytest.raises(JwtClaimsError, match="sub in the JWT claims names"):
            verify_vc_jwt(_vc_jwt({**credential(did), "sub": wrong}, signer), keys, now=NOW)
    with pytest.raises(JwtClaimsError, match="sub in the JOSE header"):
        verify_vc_jwt(_vc_jwt(credential(did), signer, sub="did:example:someone-else"), keys, now=NOW)
    # Several subjects: sub must be the id of one of them.
    pair = credential(did, credentialSubject=[{"id": holder, "name": "a"}, {"id": "did:example:spouse", "name": "b"}])
    assert verify_vc_jwt(_vc_jwt({**pair, "sub": "did:example:spouse"}, signer), keys, now=NOW).issuer == did
    with pytest.raises(JwtClaimsError, match="not a credential subject"):
        verify_vc_jwt(_vc_jwt({**pair, "sub": "did:example:someone-else"}, signer), keys, now=NOW)
    # A subject without id: no sub can match it (a bearer credential has no sub), null included.
    bearer = credential(did, credentialSubject={"name": "a"})
    assert verify_vc_jwt(_vc_jwt(bearer, signer), keys, now=NOW).issuer == did
    for wrong in (holder, None):
        with pytest.raises(JwtClaimsError, match="no subject id"):
            verify_vc_jwt(_vc_jwt({**bearer, "sub": wrong}, signer), keys, now=NOW)


def test_jwt_vc_json_iss_and_sub_must_match_the_credential() -> None:
    signer, did = issuer()
    _other_signer, other = issuer()
    vc = credential(did)
    base = {"iss": did, "nbf": int(NOW.timestamp()) - 10, "vc": vc}
    assert verify_vc_jwt(sign_compact({"typ": "JWT"}, compact_json(base), signer), keys, now=NOW).issuer == did
    no_iss = {k: v for k, v in base.items() if k != "iss"}
    for claims, reason in [
        ({**base, "iss": other}, "iss in the JWT claims"),
        (no_iss, "needs an iss claim"),
        ({**base, "sub": "did:example:someone-else"}, "sub in the JWT claims"),
    ]:
        with pytest.raises(JwtClaimsError, match=reason):
            verify_vc_jwt(sign_compact({"typ": "JWT"}, compact_json(claims), signer), keys, now=NOW)
    with pytest.raises(JwtClaimsError, match="sub in the JWT claims"):  # and xid does not issue such a token
        issue_jwt_vc_json(vc, signer, subject="did:example:someone-else", now=NOW)
    with pytest.raises(JwtClaimsError, match="iss in the JWT claims"):
        issue_vc_jwt({**vc, "iss": other}, signer)


def _joserfc_key(signer: SoftwareSigner) -> OKPKey | ECKey:
    jwk: dict[str, str | list[str]] = dict(signer.to_private_jwk())
    return OKPKey.import_key(jwk) if jwk["kty"] == "OKP" else ECKey.import_key(jwk)


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")  # joserfc flags "EdDSA" (RFC 9864)
@pytest.mark.parametrize(("key_type", "algorithm"), [(KeyType.ED25519, "EdDSA"), (KeyType.ED25519, "Ed25519"),
                                                     (KeyType.P256, "ES256")])  # fmt: skip
def test_independent_cross_check_with_joserfc(key_type: KeyType, algorithm: str) -> None:
    signer, did = issuer(key_type)
    ours = issue_vc_jwt(credential(did), signer, alg=algorithm)
    theirs_view = joserfc_jws.deserialize_compact(ours, _joserfc_key(signer), algorithms=[algorithm])
    assert theirs_view.headers()["alg"] == algorithm
    assert json.loads(theirs_view.payload)["issuer"] == did
    header = {"alg": algorithm, "kid": signer.key_id, "typ": "vc+jwt"}
    theirs = joserfc_jws.serialize_compact(
        header, json.dumps(credential(did)), _joserfc_key(signer), algorithms=[algorithm]
    )
    assert verify_vc_jwt(theirs, keys, now=NOW).issuer == did


def _tamper(token: str, part: int) -> str:
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[part]))
    raw[len(raw) // 2] ^= 0x01
    parts[part] = b64url_encode(bytes(raw))
    return ".".join(parts)


def test_tampering_and_wrong_keys_fail_closed() -> None:
    signer, did = issuer()
    token = issue_vc_jwt(credential(did), signer)
    header, _, signature = token.split(".")
    changed = b64url_encode(compact_json(credential(did, credentialSubject={"id": "did:example:holder", "sex": 1})))
    with pytest.raises(JwsSignatureError):  # a changed claim in a payload that still parses
        verify_vc_jwt(f"{header}.{changed}.{signature}", keys, now=NOW)
    with pytest.raises(JwsSignatureError):
        verify_vc_jwt(_tamper(token, 2), keys, now=NOW)  # flipped bit in the signature
    other, _other_did = issuer()
    forged = issue_vc_jwt(credential(did), other.with_key_id(signer.key_id))  # signed by another key, claims kid
    with pytest.raises(JwsSignatureError):
        verify_vc_jwt(forged, keys, now=NOW)
    mismatched = issue_vc_jwt(credential(did), other)  # kid of another DID than the issuer
    with pytest.raises(JwtClaimsError, match="does not belong to the issuer"):
        verify_vc_jwt(mismatched, keys, now=NOW)
    p256, _ = issuer(KeyType.P256)
    header = b64url_encode(json.dumps({"alg": "ES256", "kid": signer.key_id, "typ": "vc+jwt"}).encode())
    body = token.split(".")[1]
    with pytest.raises(JwsAlgorithmError):  # an ES256 header over an Ed25519 key
        verify_vc_jwt(f"{header}.{body}.{b64url_encode(p256.sign(f'{header}.{body}'.encode()))}", keys, now=NOW)


# A header alg of another key type than the key that really signed the token (which also verifies it): only the
# alg/key match refuses these (RFC 9864 §2.2: Ed25519 names the curve; RFC 7518 §3.4: ES256 is P-256 only).
WRONG_KEY_FOR_ALG = [
    (KeyType.P256, "Ed25519"),
    (KeyType.P256, "EdDSA"),
    (KeyType.P256, "ES384"),
    (KeyType.P384, "ES256"),
    (KeyType.ED25519, "ES256"),
    (KeyType.SECP256K1, "ES256"),
]


@pytest.mark.parametrize(("key_type", "alg"), WRONG_KEY_FOR_ALG)
def test_alg_of_another_key_type_is_refused(key_type: KeyType, alg: str) -> None:
    signer, did = issuer(key_type)
    header = {"alg": alg, "kid": signer.key_id, "typ": "vc+jwt"}
    relabeled = encode_compact(header, compact_json(credential(did)), signer.sign)
    with pytest.raises(JwsAlgorithmError, match=f"algorithm '{alg}' does not match"):
        verify_vc_jwt(relabeled, keys, now=NOW)
    with pytest.raises(JwsAlgorithmError, match="does not match the signer"):
        issue_vc_jwt(credential(did), signer, alg=alg)


@pytest.mark.parametrize("alg", ["ESP256", "ESP384", "ESP512", "Ed448", "ES512", "ed25519"])
def test_cose_only_and_unsupported_alg_names_are_refused(alg: str) -> None:
    """RFC 9864 defines ESP256/ESP384/ESP512 for COSE only: in JOSE, ES256/ES384/ES512 already name the curve."""
    signer, did = issuer(KeyType.P256)
    header = {"alg": alg, "kid": signer.key_id, "typ": "vc+jwt"}
    token = encode_compact(header, compact_json(credential(did)), signer.sign)
    with pytest.raises(JwsAlgorithmError, match=f"algorithm '{alg}' is not allowed"):
        verify_vc_jwt(token, keys, now=NOW)


@pytest.mark.parametrize("typ", ["vc+jwt", "JWT"])
def test_fully_specified_ed25519_is_issued_on_request_and_verified(typ: str) -> None:
    signer, did = issuer()
    token = (issue_vc_jwt(credential(did), signer, alg="Ed25519") if typ == "vc+jwt"
             else issue_jwt_vc_json(credential(did), signer, now=NOW, alg="Ed25519"))  # fmt: skip
    assert json.loads(b64url_decode(token.split(".")[0]))["alg"] == "Ed25519"
    assert verify_vc_jwt(token, keys, now=NOW).algorithm == "Ed25519"
    assert json.loads(b64url_decode(issue_vc_jwt(credential(did), signer).split(".")[0]))["alg"] == "EdDSA"
    with pytest.raises(JwsSignatureError):
        verify_vc_jwt(_tamper(token, 2), keys, now=NOW)


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64url_encode(json.dumps(header).encode()), b64url_encode(json.dumps(payload).encode()),
                     b64url_encode(signature)])  # fmt: skip


def test_none_and_hmac_are_refused() -> None:
    signer, did = issuer()
    with pytest.raises(JwsAlgorithmError, match="'none' is not allowed"):
        verify_vc_jwt(_unsigned({"alg": "none", "typ": "vc+jwt", "kid": signer.key_id}, credential(did)), keys, now=NOW)
    import hashlib
    import hmac

    header = b64url_encode(json.dumps({"alg": "HS256", "kid": signer.key_id, "typ": "vc+jwt"}).encode())
    body = b64url_encode(json.dumps(credential(did)).encode())
    secret = json.dumps(signer.public_jwk).encode()  # the classic attack: the public key as HMAC secret
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(JwsAlgorithmError, match="HS256"):
        verify_vc_jwt(f"{header}.{body}.{b64url_encode(mac)}", keys, now=NOW)


def test_validity_period_and_typ() -> None:
    signer, did = issuer()
    expired = issue_vc_jwt(credential(did, validUntil="2026-02-01T00:00:00Z"), signer)
    with pytest.raises(CredentialExpiredError):
        verify_vc_jwt(expired, keys, now=NOW)
    future = issue_vc_jwt(credential(did, validFrom="2027-01-01T00:00:00Z"), signer)
    with pytest.raises(CredentialNotYetValidError):
        verify_vc_jwt(future, keys, now=NOW)
    assert verify_vc_jwt(future, keys, now=datetime(2027, 1, 1, tzinfo=UTC) - timedelta(seconds=30)).issuer == did
    wrong_typ = issue_vc_jwt(credential(did), signer, typ="kb+jwt")
    with pytest.raises(JwtClaimsError, match="typ"):
        verify_vc_jwt(wrong_typ, keys, now=NOW)


@pytest.mark.parametrize(
    ("token", "error", "reason"),
    [
        ("a.b", JoseError, "three"),
        ("a.b.c.d", JoseError, "three"),
        ("eyJhbGciOiJFZERTQSJ9=.e30.AA", JoseError, "base64url"),
        (b64url_encode(b"[1]") + ".e30.AA", JoseError, "JSON object"),
        (b64url_encode(b'{"alg":"EdDSA","alg":"none"}') + ".e30.AA", JoseError, "duplicate"),
        (b64url_encode(b'{"typ":"vc+jwt"}') + ".e30.AA", JoseError, "no alg"),
        (b64url_encode(b'{"alg":"EdDSA","crit":["b64"]}') + ".e30.AA", JoseError, "critical"),
    ],
)
def test_malformed_tokens(token: str, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        CompactJws.parse(token)


def test_credential_model_errors_name_the_property() -> None:
    signer, did = issuer()
    for bad, prop in [
        ({**credential(did), "@context": ["https://www.w3.org/2018/credentials/v1"]}, "@context"),
        ({**credential(did), "type": ["BasicFourCredential"]}, "type"),
        ({**credential(did), "issuer": "not a url"}, "issuer"),
        ({**credential(did), "credentialSubject": []}, "credentialSubject"),
        ({**credential(did), "validFrom": "2026-01-01"}, "validFrom"),
        ({**credential(did), "validUntil": "2025-01-01T00:00:00Z"}, "validUntil"),
        ({**credential(did), "credentialStatus": {"id": "x"}}, "credentialStatus"),
        ({**credential(did), "credentialSchema": [{"type": "JsonSchema"}]}, "credentialSchema"),
    ]:
        with pytest.raises(CredentialModelError, match=prop):
            issue_vc_jwt(bad, signer)


@given(st.text(max_size=300))
def test_parser_raises_only_vc_errors(token: str) -> None:
    with contextlib.suppress(VcError):
        CompactJws.parse(token)


def test_compact_json_matches_the_standard_library_and_refuses_what_json_cannot_carry() -> None:
    value = {"name": "山田 花子", "n": [1, 2.5, True, None], "big": 2**70, "nested": {"é": "\u2028"}}
    assert compact_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    for bad in (float("nan"), float("inf"), {1, 2}):
        with pytest.raises(JoseError, match="cannot be written as JSON"):
            compact_json({"x": bad})


def test_each_key_type_has_its_jose_names_and_x25519_none() -> None:
    assert KeyType.ED25519.algorithms == ("EdDSA", "Ed25519")
    assert [KeyType.P256.algorithms, KeyType.P384.algorithms, KeyType.SECP256K1.algorithms] == [
        ("ES256",), ("ES384",), ("ES256K",)
    ]  # fmt: skip
    with pytest.raises(DidError, match="key agreement"):
        KeyType.X25519.algorithms  # noqa: B018
