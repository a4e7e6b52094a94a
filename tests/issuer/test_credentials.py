"""The identity credential in its three formats: content, selective disclosure, holder binding, status entries,
verification with vc.verify (issuer did:web resolved locally, status lists fetched from the issuer's routes), the
configurations and type metadata, and the record each issuance leaves (never the claims)."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from did import KeyType, PublicKey, SoftwareSigner
from did.did_jwk import create as did_jwk
from foundation.db import transaction
from foundation.jws import parse_compact
from issuer.credentials import (
    CLAIMS,
    CONFIGURATION_IDS,
    JWT_VC,
    LDP_VC,
    SD_JWT,
    XID_CONTEXT,
    InvalidHolderKeyError,
    UnknownConfigurationError,
    age_flags,
    age_on,
    configurations,
    credential_digest,
    identity_claims,
)
from issuer.status import credentials_table, entries_table, lists_table
from jpki_bridge.profile import DateOfBirth
from tests.issuer.conftest import ServedCA
from tests.issuer.credentials_support import BASE, DID, Issuer, facts, make_issuer
from vc.data_integrity import DataIntegrityError
from vc.jose import JoseError
from vc.jsonld import UndefinedTermError, to_quads
from vc.sd_jwt import KeyBindingError, present
from vc.verify import CredentialVerifier

AUD, NONCE = "https://verifier.example.jp", "nonce-4Tq"
ALLOWED_PLAIN = {"iss", "iat", "exp", "vct", "status", "cnf", "_sd", "_sd_alg"}


@pytest.fixture
def issuer(engine: Engine, served_ca: ServedCA) -> Issuer:
    """An https issuer on SQLite and PostgreSQL."""
    return make_issuer(engine, served_ca.ca.trust_anchors())


@pytest.fixture
def holder() -> SoftwareSigner:
    """The wallet's holder key."""
    return SoftwareSigner.generate(KeyType.P256)


def issue(issuer: Issuer, configuration: str, holder: SoftwareSigner, stem: str = "yamada") -> Any:
    """Issue one credential in a write transaction, as the credential endpoint does."""
    with transaction(issuer.ctx.engine, write=True) as conn:
        return issuer.issue(conn, configuration, facts(stem), holder.public_jwk)


def expected_claims() -> dict[str, Any]:
    """Yamada's claims (born 1990-01-02, so over 18 and 20 at any time these tests run)."""
    return {
        "name": "山田\u3000太郎",
        "address": {"formatted": "東京都千代田区千代田\uff11\uff0d\uff11"},
        "sex": "1",
        "jpki_date_of_birth": "419900102",
        "birthdate": "1990-01-02",
        "age_over_18": True,
        "age_over_20": True,
        "verification": {
            "trust_framework": "jp_aml",
            "time": "2026-01-02T03:04:05Z",
            "evidence": [
                {
                    "type": "electronic_record",
                    "check_details": [{"check_method": "vcrypt"}],
                    "record": {"type": "jp_jpki_signature_certificate"},
                }
            ],
        },
    }


def counts(issuer: Issuer) -> tuple[int, int, int]:
    """Rows in the credential record, allocated entries and lists."""
    with transaction(issuer.ctx.engine) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (credentials_table, entries_table, lists_table)
        )


# -- dc+sd-jwt ---------------------------------------------------------------------------------------------------


def test_sd_jwt_vc_content_disclosure_binding_and_status(issuer: Issuer, holder: SoftwareSigner) -> None:
    credential = issue(issuer, SD_JWT, holder)
    jwt, *disclosures = credential.split("~")
    parts = parse_compact(jwt)
    assert parts.header == {"alg": "ES256", "kid": issuer.ctx.es256_kid, "typ": "dc+sd-jwt"}
    payload = json.loads(parts.payload)
    # every attribute is behind a disclosure: nothing but the never-disclosable claims is in the clear
    assert set(payload) <= ALLOWED_PLAIN
    assert payload["iss"] == BASE
    assert payload["vct"] == f"{BASE}/vct/identity"
    assert payload["cnf"] == {"jwk": PublicKey.from_jwk(holder.public_jwk).to_jwk()}
    assert payload["exp"] - payload["iat"] == int(issuer.ctx.settings.credential_validity.total_seconds())
    reference = payload["status"]["status_list"]
    assert set(reference) == {"idx", "uri"}
    assert reference["uri"].startswith(f"{BASE}/status/token/")
    assert isinstance(reference["idx"], int)
    assert len([d for d in disclosures if d]) == len(expected_claims())

    everything = [(name,) for name in expected_claims()]
    presentation = present(credential, everything, holder, audience=AUD, nonce=NONCE)
    result = issuer.verifier().verify(presentation, audience=AUD, nonce=NONCE)
    assert result.key_bound
    assert result.verification_method == issuer.ctx.es256_kid
    assert {k: v for k, v in result.claims.items() if k not in ALLOWED_PLAIN} == expected_claims()
    assert [check.value for check in result.status] == [0]
    assert result.status[0].index == reference["idx"]

    only_age = present(credential, [("age_over_18",)], holder, audience=AUD, nonce=NONCE)
    partial = issuer.verifier().verify(only_age, audience=AUD, nonce=NONCE)
    assert partial.claims["age_over_18"] is True
    assert not {"name", "address", "birthdate", "jpki_date_of_birth", "sex"} & set(partial.claims)


def test_sd_jwt_vc_is_bound_to_the_holder_key(issuer: Issuer, holder: SoftwareSigner) -> None:
    credential = issue(issuer, SD_JWT, holder)
    thief = SoftwareSigner.generate(KeyType.P256)
    stolen = present(credential, [("name",)], thief, audience=AUD, nonce=NONCE)
    with pytest.raises(KeyBindingError):
        issuer.verifier().verify(stolen, audience=AUD, nonce=NONCE)


def test_sd_jwt_vc_issuer_signature_is_checked(issuer: Issuer, holder: SoftwareSigner) -> None:
    credential = issue(issuer, SD_JWT, holder)
    jwt, rest = credential.split("~", 1)
    header, _payload, signature = jwt.split(".")
    claims = json.loads(parse_compact(jwt).payload)
    claims["exp"] += 1
    from foundation.b64 import b64url_encode

    forged = f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}~{rest}"
    with pytest.raises(Exception, match="signature"):
        issuer.verifier().verify(
            present(forged, [("name",)], holder, audience=AUD, nonce=NONCE), audience=AUD, nonce=NONCE
        )
    # signed by a key the issuer's did:web does not publish
    other = make_issuer(issuer.ctx.engine, issuer.ctx.trust)
    alien = issue(other, SD_JWT, holder)
    with pytest.raises(Exception, match="signature"):
        issuer.verifier().verify(
            present(alien, [("name",)], holder, audience=AUD, nonce=NONCE), audience=AUD, nonce=NONCE
        )


# -- jwt_vc_json -------------------------------------------------------------------------------------------------


def test_jwt_vc_json_content_binding_and_status(issuer: Issuer, holder: SoftwareSigner) -> None:
    token = issue(issuer, JWT_VC, holder)
    parts = parse_compact(token)
    assert parts.header["kid"] == issuer.ctx.es256_kid
    assert parts.header["alg"] == "ES256"
    claims = json.loads(parts.payload)
    subject_did = did_jwk(PublicKey.from_jwk(holder.public_jwk))
    assert claims["iss"] == DID
    assert claims["sub"] == subject_did
    credential = claims["vc"]
    assert credential["issuer"] == DID
    assert credential["type"] == ["VerifiableCredential", "XidIdentityCredential"]
    assert credential["credentialSubject"] == {"id": subject_did, **expected_claims()}
    assert claims["jti"] == credential["id"]
    assert credential["id"].startswith("urn:uuid:")
    check_bitstring_entries(credential)

    result = issuer.verifier().verify(token)
    assert result.issuer == DID
    assert result.verification_method == issuer.ctx.es256_kid
    assert [(c.purpose, c.value) for c in result.status] == [("revocation", 0), ("suspension", 0)]

    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(JoseError):
        issuer.verifier().verify(f"{header}.{payload}.{flipped}")


def check_bitstring_entries(credential: dict[str, Any]) -> None:
    """Two BitstringStatusListEntry entries (revocation, suspension) pointing at the issuer's lists."""
    entries = credential["credentialStatus"]
    assert [e["statusPurpose"] for e in entries] == ["revocation", "suspension"]
    for entry in entries:
        assert set(entry) == {"id", "type", "statusPurpose", "statusListIndex", "statusListCredential"}
        assert entry["type"] == "BitstringStatusListEntry"
        assert entry["statusListIndex"].isdigit()
        assert str(int(entry["statusListIndex"])) == entry["statusListIndex"]
        assert entry["statusListCredential"].startswith(f"{BASE}/status/bitstring/")
        assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"
    assert entries[0]["statusListCredential"] != entries[1]["statusListCredential"]  # one list per purpose


# -- ldp_vc ------------------------------------------------------------------------------------------------------


def test_ldp_vc_content_proof_context_and_status(issuer: Issuer, holder: SoftwareSigner) -> None:
    credential = issue(issuer, LDP_VC, holder)
    assert credential["@context"] == ["https://www.w3.org/ns/credentials/v2", XID_CONTEXT]
    assert credential["issuer"] == DID
    subject_did = did_jwk(PublicKey.from_jwk(holder.public_jwk))
    assert credential["credentialSubject"] == {"id": subject_did, **expected_claims()}
    proof = credential["proof"]
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["verificationMethod"] == issuer.ctx.ed25519_kid
    assert proof["proofPurpose"] == "assertionMethod"
    check_bitstring_entries(credential)
    # JSON-LD safe mode: every term is defined by the contexts (an undefined one is refused, as this shows)
    unsecured = {k: v for k, v in credential.items() if k != "proof"}
    assert to_quads(unsecured)
    undefined = copy.deepcopy(unsecured)
    undefined["credentialSubject"]["nickname"] = "taro"
    with pytest.raises(UndefinedTermError):
        to_quads(undefined)

    result = issuer.verifier().verify(credential)
    assert result.verification_method == issuer.ctx.ed25519_kid
    assert [(c.purpose, c.value) for c in result.status] == [("revocation", 0), ("suspension", 0)]

    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["age_over_20"] = False
    with pytest.raises(DataIntegrityError):
        issuer.verifier().verify(tampered)


# -- errors and records ------------------------------------------------------------------------------------------


def test_unknown_configuration_and_bad_holder_key_change_nothing(issuer: Issuer, holder: SoftwareSigner) -> None:
    before = counts(issuer)
    with pytest.raises(UnknownConfigurationError):
        issue(issuer, "xid_identity_mdoc", holder)
    bad_keys = [
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},  # not a point
        {**holder.to_private_jwk()},  # private key material
        {"kty": "oct", "k": "c2VjcmV0"},
    ]
    for bad in bad_keys:
        with pytest.raises(InvalidHolderKeyError), transaction(issuer.ctx.engine, write=True) as conn:
            issuer.issue(conn, SD_JWT, facts(), bad)
    assert counts(issuer) == before


def test_each_issuance_is_recorded_without_claims(issuer: Issuer, holder: SoftwareSigner) -> None:
    issued = {configuration: issue(issuer, configuration, holder) for configuration in CONFIGURATION_IDS}
    with transaction(issuer.ctx.engine) as conn:
        rows = conn.execute(select(credentials_table)).all()
    assert sorted(row.configuration_id for row in rows) == sorted(CONFIGURATION_IDS)
    for row in rows:
        assert row.digest == credential_digest(issued[row.configuration_id])
        assert row.person_id == "person-1"
        assert row.state == "valid"
        assert row.card_key != "ab" * 32
        assert len(row.card_key) == 64
        text = json.dumps([str(value) for value in row], ensure_ascii=False)
        # the birth date as the credential carries it (ISO or the card's form): "1990" alone also occurs by chance
        # in random hex ids and hashes
        for secret in ("山田", "太郎", "千代田", "1990-01-02", "419900102"):
            assert secret not in text
    assert hashlib.sha256(issued[SD_JWT].encode()).hexdigest() == credential_digest(issued[SD_JWT])


def test_issuance_inside_a_failed_transaction_leaves_nothing(issuer: Issuer, holder: SoftwareSigner) -> None:
    before = counts(issuer)

    def issue_then_fail() -> None:
        with transaction(issuer.ctx.engine, write=True) as conn:
            issuer.issue(conn, JWT_VC, facts(), holder.public_jwk)
            raise RuntimeError("the credential response could not be sent")

    with pytest.raises(RuntimeError):
        issue_then_fail()
    assert counts(issuer) == before


# -- claims: ages and partial dates ------------------------------------------------------------------------------


def test_age_turns_on_the_birthday() -> None:
    born = date(2008, 4, 2)
    assert age_on(born, date(2026, 4, 1)) == 17
    assert age_on(born, date(2026, 4, 2)) == 18
    dob = DateOfBirth.parse("420080402")
    assert age_flags(dob, date(2026, 4, 1)) == {"age_over_18": False, "age_over_20": False}
    assert age_flags(dob, date(2026, 4, 2)) == {"age_over_18": True, "age_over_20": False}
    assert age_flags(dob, date(2028, 4, 1)) == {"age_over_18": True, "age_over_20": False}
    assert age_flags(dob, date(2028, 4, 2)) == {"age_over_18": True, "age_over_20": True}


def test_leap_day_births_count_from_1_march_in_common_years() -> None:
    dob = DateOfBirth.parse("420080229")
    assert age_flags(dob, date(2026, 2, 28))["age_over_18"] is False
    assert age_flags(dob, date(2026, 3, 1))["age_over_18"] is True
    assert age_on(date(2008, 2, 29), date(2028, 2, 28)) == 19
    assert age_on(date(2008, 2, 29), date(2028, 2, 29)) == 20  # a leap year has the day itself


def test_unknown_date_parts_decide_only_what_they_can() -> None:
    month_known = DateOfBirth.parse("420080400")  # April 2008, day unknown
    assert age_flags(month_known, date(2026, 3, 31)) == {"age_over_18": False, "age_over_20": False}
    assert age_flags(month_known, date(2026, 4, 15)) == {"age_over_20": False}  # 18 depends on the day
    assert age_flags(month_known, date(2026, 5, 1)) == {"age_over_18": True, "age_over_20": False}
    year_known = DateOfBirth.parse("420080000")
    assert age_flags(year_known, date(2026, 6, 1)) == {"age_over_20": False}
    assert age_flags(year_known, date(2027, 1, 1)) == {"age_over_18": True, "age_over_20": False}
    assert age_flags(DateOfBirth.parse("000000000"), date(2026, 6, 1)) == {}


def test_partial_date_of_birth_has_no_iso_birthdate() -> None:
    claims = identity_claims(facts("year_month"), datetime(2026, 6, 1, tzinfo=UTC))
    assert "birthdate" not in claims
    assert claims["jpki_date_of_birth"].endswith("00")
    unknown = identity_claims(facts("unknown_dob"), datetime(2026, 6, 1, tzinfo=UTC))
    assert "birthdate" not in unknown
    assert "age_over_18" not in unknown
    assert "age_over_20" not in unknown


def test_ages_are_reckoned_on_the_date_in_japan() -> None:
    base = facts()
    born = base.basic4.date_of_birth
    eighteenth = date(born.year + 18, born.month, born.day)  # type: ignore[operator,arg-type]
    # 15:00 UTC the day before is already the birthday in Japan (UTC+9)
    evening = datetime(eighteenth.year, eighteenth.month, eighteenth.day - 1, 15, 0, tzinfo=UTC)
    morning = datetime(eighteenth.year, eighteenth.month, eighteenth.day - 1, 14, 59, tzinfo=UTC)
    assert identity_claims(base, evening)["age_over_18"] is True
    assert identity_claims(base, morning)["age_over_18"] is False


# -- metadata ----------------------------------------------------------------------------------------------------


def test_configurations_have_the_openid4vci_1_0_shapes(issuer: Issuer) -> None:
    configs = configurations(issuer.ctx)
    assert set(configs) == set(CONFIGURATION_IDS)
    assert configs[SD_JWT]["format"] == "dc+sd-jwt"
    assert configs[SD_JWT]["vct"] == f"{BASE}/vct/identity"
    assert configs[SD_JWT]["cryptographic_binding_methods_supported"] == ["jwk"]
    assert configs[JWT_VC]["format"] == "jwt_vc_json"
    assert configs[JWT_VC]["credential_definition"] == {"type": ["VerifiableCredential", "XidIdentityCredential"]}
    assert configs[LDP_VC]["format"] == "ldp_vc"
    assert configs[LDP_VC]["credential_definition"]["@context"][1] == XID_CONTEXT
    assert configs[LDP_VC]["credential_signing_alg_values_supported"] == ["eddsa-rdfc-2022"]
    for name, config in configs.items():
        if name != SD_JWT:
            assert config["cryptographic_binding_methods_supported"] == ["did:key", "did:jwk", "jwk"]
            assert "vct" not in config
        algs = config["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"]
        assert {"ES256", "EdDSA", "Ed25519"} <= set(algs)
        metadata = config["credential_metadata"]
        assert {d["locale"] for d in metadata["display"]} == {"ja-JP", "en-US"}
        for display in metadata["display"]:
            assert {"name", "locale", "description", "background_color", "text_color"} <= set(display)
        prefix = [] if name == SD_JWT else ["credentialSubject"]
        assert [c["path"] for c in metadata["claims"]] == [[*prefix, claim] for claim, _, _ in CLAIMS]
        for claim in metadata["claims"]:
            assert {d["locale"] for d in claim["display"]} == {"ja-JP", "en-US"}


def test_type_metadata_jwt_vc_issuer_metadata_and_context_routes(issuer: Issuer, holder: SoftwareSigner) -> None:
    response = issuer.client.get("/vct/identity")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    metadata = response.json()
    assert metadata["vct"] == f"{BASE}/vct/identity"
    assert {d["locale"] for d in metadata["display"]} == {"ja-JP", "en-US"}
    assert all({"locale", "name", "description"} <= set(d) for d in metadata["display"])
    assert [c["path"] for c in metadata["claims"]] == [[claim] for claim, _, _ in CLAIMS]
    assert all(
        c["sd"] == "always" and {d["locale"] for d in c["display"]} == {"ja-JP", "en-US"} for c in metadata["claims"]
    )
    assert all("label" in d for c in metadata["claims"] for d in c["display"])

    issuer_metadata = issuer.client.get("/.well-known/jwt-vc-issuer").json()
    assert issuer_metadata["issuer"] == BASE
    [key] = issuer_metadata["jwks"]["keys"]
    assert key["kid"] == issuer.ctx.es256_kid
    assert PublicKey.from_jwk({k: key[k] for k in ("kty", "crv", "x", "y")}) == PublicKey.from_jwk(
        issuer.ctx.es256.public_jwk
    )
    # the key the metadata names verifies the SD-JWT VC's issuer signature (metadata-based key discovery)
    jwt = issue(issuer, SD_JWT, holder).split("~")[0]
    parts = parse_compact(jwt)
    assert parts.header["kid"] == key["kid"]
    PublicKey.from_jwk({k: key[k] for k in ("kty", "crv", "x", "y")}).verify(
        parts.signature, parts.signing_input, "ES256"
    )

    context = issuer.client.get("/contexts/identity/v1")
    assert context.status_code == 200
    assert context.headers["content-type"] == "application/ld+json"
    from vc.jsonld import bundled_context

    assert context.json() == bundled_context(XID_CONTEXT)


def test_verifier_refuses_an_issuer_url_whose_did_web_is_another_host(issuer: Issuer, holder: SoftwareSigner) -> None:
    from vc.verify import issuer_did

    assert issuer_did(BASE) == DID
    assert issuer_did("http://127.0.0.1:8000") == "did:web:127.0.0.1%3A8000"
    assert issuer_did("https://issuer.example.jp/tenant/a") == "did:web:issuer.example.jp:tenant:a"
    assert issuer_did("http://issuer.example.jp") is None  # plain http only on loopback
    assert issuer_did("https://issuer.example.jp?x=1") is None
    assert issuer_did(42) is None
    verifier: CredentialVerifier = issuer.verifier()
    # an SD-JWT VC whose iss is another origin than the kid's did:web is refused
    from did.signer import KeyIdSigner
    from vc import sd_jwt

    foreign = sd_jwt.issue(
        {"iss": "https://other.example.jp", "vct": "x", "iat": 0, "name": sd_jwt.SD("x")},
        KeyIdSigner(issuer.ctx.es256, issuer.ctx.es256_kid),
        holder_jwk=holder.public_jwk,
    )
    with pytest.raises(Exception, match="does not belong to the issuer"):
        verifier.verify(present(foreign, [("name",)], holder, audience=AUD, nonce=NONCE), audience=AUD, nonce=NONCE)
