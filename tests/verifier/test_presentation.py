"""Presentation validation: the three formats end to end with real xid credentials, and each negative case of the
OpenID Foundation's OpenID4VP 1.0 verifier test plan (KB-JWT signature, credential signature, sd_hash, nonce, aud,
iat past and future, revoked, no status) plus unreferenced disclosures, untrusted issuers, DCQL and credential sets."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from did import KeyType, PublicKey, SoftwareSigner, jwk_thumbprint
from foundation.b64 import b64url_encode
from issuer.credentials import JWT_VC, LDP_VC, SD_JWT
from tests.issuer.credentials_support import BASE, Issuer
from tests.verifier.presentation_kit import (
    ISSUER_DID,
    Holder,
    Wallet,
    direct_post,
    direct_post_jwt,
    make_transaction,
    query,
    resolver_for,
    sd_query,
    start_issuer,
    trusting,
    w3c_query,
)
from vc import sd_jwt
from vc.jose import compact_json, sign_compact
from verifier.context import VerifierContext
from verifier.contracts import TransactionFacts, ValidatedResponse
from verifier.presentation import (
    CredentialStatusRefusedError,
    HolderBindingError,
    PresentationError,
    QueryNotSatisfiedError,
    UntrustedIssuerError,
    make_validator,
)
from verifier.response import ResponseRejectedError


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    """One real xid issuer for the module (its own SQLite database and status lists)."""
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


def validate(ctx: VerifierContext, tx: TransactionFacts, form: dict[str, str]) -> ValidatedResponse:
    """Run the validator the response endpoint uses."""
    return make_validator(ctx)(tx, form)


def refused(ctx: VerifierContext, tx: TransactionFacts, form: dict[str, str], error: type[Exception]) -> Any:
    """Assert the response is refused with the error (and an OAuth error code); return the exception."""
    with pytest.raises(ResponseRejectedError) as caught:
        validate(ctx, tx, form)
    assert isinstance(caught.value, error), f"{type(caught.value).__name__}: {caught.value}"
    assert caught.value.oauth_error in ("invalid_request", "access_denied")
    assert caught.value.message.isascii()
    return caught.value


# -- the three formats, accepted -----------------------------------------------------------------------------------


def test_sd_jwt_vc_direct_post(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    vp_token = {"pid": [wallet.sd_jwt(tx)]}
    result = validate(ctx, tx, direct_post(tx, vp_token))
    [credential] = result.credentials
    assert credential.query_id == "pid"
    assert credential.format == "dc+sd-jwt"
    assert credential.issuer == BASE
    assert dict(credential.claims) == {"age_over_20": True}  # only what was disclosed, no technical claims
    assert credential.status_checked_at is not None
    assert credential.holder == jwk_thumbprint(wallet.holder.signer.public_jwk)
    assert result.digest == hashlib.sha256(rfc8785.dumps(vp_token)).hexdigest()
    assert result.warnings == ()


@pytest.mark.parametrize("enc", ["A128GCM", "A256GCM"])
def test_sd_jwt_vc_direct_post_jwt(ctx: VerifierContext, wallet: Wallet, enc: str) -> None:
    tx = make_transaction(ctx, query(sd_query(claims=("name", "age_over_20"))), "direct_post.jwt")
    vp_token = {"pid": [wallet.sd_jwt(tx, claims=("name", "age_over_20"))]}
    result = validate(ctx, tx, direct_post_jwt(tx, vp_token, enc=enc))
    assert dict(result.credentials[0].claims) == {"name": "山田\u3000太郎", "age_over_20": True}
    assert result.digest == hashlib.sha256(rfc8785.dumps(vp_token)).hexdigest()  # same key as direct_post


def test_jwt_vc_json_in_a_jwt_vp(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(w3c_query("jwt", "jwt_vc_json")))
    result = validate(ctx, tx, direct_post(tx, {"jwt": [wallet.jwt_vp(tx)]}))
    [credential] = result.credentials
    assert (credential.format, credential.issuer, credential.holder) == ("jwt_vc_json", ISSUER_DID, wallet.holder.did)
    assert credential.claims["age_over_20"] is True
    assert "id" not in credential.claims
    assert credential.status_checked_at is not None


def test_ldp_vc_in_an_ldp_vp(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(w3c_query("ldp", "ldp_vc")), "direct_post.jwt")
    result = validate(ctx, tx, direct_post_jwt(tx, {"ldp": [wallet.ldp_vp(tx)]}))
    [credential] = result.credentials
    assert (credential.format, credential.issuer, credential.holder) == ("ldp_vc", ISSUER_DID, wallet.holder.did)
    assert credential.claims["birthdate"] == "1990-01-02"
    assert "id" not in credential.claims


def test_all_three_formats_in_one_response(ctx: VerifierContext, wallet: Wallet) -> None:
    dcql = query(sd_query(), w3c_query("jwt", "jwt_vc_json"), w3c_query("ldp", "ldp_vc"))
    tx = make_transaction(ctx, dcql)
    vp_token = {"pid": [wallet.sd_jwt(tx)], "jwt": [wallet.jwt_vp(tx)], "ldp": [wallet.ldp_vp(tx)]}
    result = validate(ctx, tx, direct_post(tx, vp_token))
    assert [c.query_id for c in result.credentials] == ["pid", "jwt", "ldp"]


# -- dc+sd-jwt negatives (the OIDF verifier plan) ----------------------------------------------------------------


def test_invalid_kb_jwt_signature(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    thief = SoftwareSigner.generate(KeyType.P256)
    refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, signer=thief)]}), HolderBindingError)
    presentation = wallet.sd_jwt(tx)
    head, signature = presentation.rsplit(".", 1)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    refused(ctx, tx, direct_post(tx, {"pid": [f"{head}.{flipped}"]}), HolderBindingError)


def test_invalid_credential_signature(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    credential = wallet.issue(SD_JWT)
    jwt, rest = credential.split("~", 1)
    header, payload, signature = jwt.split(".")
    claims = json.loads(_b64decode(payload))
    claims["exp"] += 1
    forged = f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}~{rest}"
    error = refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, forged)]}), PresentationError)
    assert not isinstance(error, HolderBindingError)
    assert "signature" in error.message


def test_invalid_sd_hash(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query(claims=("age_over_20",))))
    presentation = wallet.sd_jwt(tx, claims=("name", "age_over_20"))
    parts = presentation.split("~")
    dropped = "~".join([parts[0], *parts[2:]])  # one disclosure removed after the KB-JWT was made
    error = refused(ctx, tx, direct_post(tx, {"pid": [dropped]}), HolderBindingError)
    assert "sd_hash" in error.message


def test_wrong_kb_jwt_nonce(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    error = refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, nonce="another")]}), HolderBindingError)
    assert "nonce" in error.message


def test_wrong_kb_jwt_audience(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    for audience in (ctx.host, ctx.base_url, "x509_san_dns:attacker.example"):  # without the prefix, or another
        error = refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, audience=audience)]}), HolderBindingError)
        assert "audience" in error.message


def test_kb_jwt_iat_in_the_past_and_in_the_future(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    now = datetime.now(UTC)
    credential = wallet.issue(SD_JWT)
    for moment in (now - timedelta(minutes=5, seconds=30), now - timedelta(hours=1), now + timedelta(minutes=10)):
        form = direct_post(tx, {"pid": [wallet.sd_jwt(tx, credential, now=moment)]})
        error = refused(ctx, tx, form, HolderBindingError)
        assert "iat" in error.message
    # the leeway is the verifier's setting
    strict = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, iat_leeway=timedelta(minutes=1)))
    form = direct_post(tx, {"pid": [wallet.sd_jwt(tx, credential, now=now - timedelta(minutes=2))]})
    refused(strict, tx, form, HolderBindingError)
    assert validate(ctx, tx, form).credentials


def test_revoked_credential(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    revoked = wallet.issue_revoked(SD_JWT)
    error = refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, revoked)]}), CredentialStatusRefusedError)
    assert error.oauth_error == "access_denied"
    assert "revoked" in error.message
    tx = make_transaction(ctx, query(w3c_query("ldp", "ldp_vc")))
    vp = wallet.ldp_vp(tx, wallet.issue_revoked(LDP_VC))
    refused(ctx, tx, direct_post(tx, {"ldp": [vp]}), CredentialStatusRefusedError)


def test_a_validator_sees_revocation_after_it_cached_the_status_list(ctx: VerifierContext, wallet: Wallet) -> None:
    validator = make_validator(ctx)  # one per process: it keeps verified status list tokens and keys
    credential_id, credential = wallet.issue_with_id(SD_JWT)
    tx = make_transaction(ctx, query(sd_query()))
    assert validator(tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, credential)]})).credentials
    wallet.revoke(credential_id)  # the issuer publishes a new token
    tx = make_transaction(ctx, query(sd_query()))
    with pytest.raises(CredentialStatusRefusedError, match="revoked"):
        validator(tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, credential)]}))


def statusless(issuer: Issuer, holder: Holder, **times: int) -> str:
    """An SD-JWT VC from the issuer's key without a status entry."""
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {"iss": BASE, "vct": f"{BASE}/vct/identity", "iat": now, "exp": now + 3600}
    claims.update(times, age_over_20=sd_jwt.SD(True))
    from did.signer import KeyIdSigner

    signer = KeyIdSigner(issuer.ctx.es256, issuer.ctx.es256_kid)
    return sd_jwt.issue(claims, signer, holder_jwk=holder.signer.public_jwk)


def test_credential_without_status(ctx: VerifierContext, wallet: Wallet, issuer: Issuer) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    form = direct_post(tx, {"pid": [wallet.sd_jwt(tx, statusless(issuer, wallet.holder))]})
    error = refused(ctx, tx, form, CredentialStatusRefusedError)
    assert "no status" in error.message
    lenient = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, status_required=False))
    result = validate(lenient, tx, form)
    assert result.credentials[0].status_checked_at is None
    assert len(result.warnings) == 1
    assert "no status" in result.warnings[0]


def test_unreferenced_disclosure(ctx: VerifierContext, wallet: Wallet, issuer: Issuer) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    presentation = wallet.sd_jwt(tx)
    body = presentation[: presentation.rindex("~") + 1]
    extra = b64url_encode(json.dumps(["c2FsdHNhbHRzYWx0", "age_over_65", True]).encode())
    smuggled = body + extra + "~"
    kb = {"iat": int(datetime.now(UTC).timestamp()), "aud": tx.client_id, "nonce": tx.nonce}
    kb["sd_hash"] = sd_jwt.sd_hash(smuggled)
    forged = smuggled + sign_compact({"typ": "kb+jwt"}, compact_json(kb), wallet.holder.signer)
    # the library refuses it by itself...
    resolver = resolver_for(issuer)
    with pytest.raises(sd_jwt.DisclosureError, match="not referenced"):
        sd_jwt.verify(
            forged,
            lambda header, payload: resolver.dereference(header["kid"]).public_key,
            audience=tx.client_id,
            nonce=tx.nonce,
        )
    # ...and so the verifier
    error = refused(ctx, tx, direct_post(tx, {"pid": [forged]}), PresentationError)
    assert "not referenced" in error.message


def test_sd_jwt_typ_must_be_dc_sd_jwt(ctx: VerifierContext, wallet: Wallet, issuer: Issuer) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    from did.signer import KeyIdSigner

    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": BASE, "vct": f"{BASE}/vct/identity", "iat": now, "age_over_20": sd_jwt.SD(True)}
    signer = KeyIdSigner(issuer.ctx.es256, issuer.ctx.es256_kid)
    old = sd_jwt.issue(claims, signer, holder_jwk=wallet.holder.signer.public_jwk, typ="vc+sd-jwt")
    error = refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, old)]}), PresentationError)
    assert "typ" in error.message


def test_kb_jwt_typ_must_be_kb_jwt(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    presentation = wallet.sd_jwt(tx)
    body = presentation[: presentation.rindex("~") + 1]
    kb = {"iat": int(datetime.now(UTC).timestamp()), "aud": tx.client_id, "nonce": tx.nonce}
    kb["sd_hash"] = sd_jwt.sd_hash(body)
    for typ in ("JWT", "dc+sd-jwt"):
        forged = body + sign_compact({"typ": typ}, compact_json(kb), wallet.holder.signer)
        error = refused(ctx, tx, direct_post(tx, {"pid": [forged]}), HolderBindingError)
        assert "typ" in error.message
    assert validate(
        ctx,
        tx,
        direct_post(tx, {"pid": [body + sign_compact({"typ": "kb+jwt"}, compact_json(kb), wallet.holder.signer)]}),
    )


def test_expired_and_not_yet_valid_credentials(ctx: VerifierContext, wallet: Wallet, issuer: Issuer) -> None:
    lenient = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, status_required=False))
    tx = make_transaction(lenient, query(sd_query()))
    now = int(datetime.now(UTC).timestamp())
    for times, word in (({"exp": now - 3600}, "expired"), ({"nbf": now + 3600}, "not valid yet")):
        credential = statusless(issuer, wallet.holder, **times)
        error = refused(lenient, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx, credential)]}), PresentationError)
        assert word in error.message


# -- trust ---------------------------------------------------------------------------------------------------------


def test_untrusted_issuer_is_refused_before_any_status_fetch(ctx: VerifierContext, wallet: Wallet) -> None:
    def no_fetch(url: str) -> Any:
        raise AssertionError("a status list of an untrusted issuer was fetched")

    for trusted in ((), ("did:web:other.example.jp",), ("https://other.example.jp",)):
        distrusting = dataclasses.replace(ctx, trusted_issuers=trusted, status_source=no_fetch)
        tx = make_transaction(distrusting, query(sd_query(), w3c_query("jwt", "jwt_vc_json")))
        form = direct_post(tx, {"pid": [wallet.sd_jwt(tx)], "jwt": [wallet.jwt_vp(tx)]})
        error = refused(distrusting, tx, form, UntrustedIssuerError)
        assert error.oauth_error == "access_denied"
    # the issuer's https URL and its did:web name the same issuer
    by_url = dataclasses.replace(ctx, trusted_issuers=(BASE,))
    tx = make_transaction(by_url, query(sd_query(), w3c_query("jwt", "jwt_vc_json")))
    assert validate(by_url, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx)], "jwt": [wallet.jwt_vp(tx)]}))


# -- jwt_vc_json and ldp_vp negatives ------------------------------------------------------------------------------


def test_jwt_vp_binding(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(w3c_query("jwt", "jwt_vc_json")))
    credential = wallet.issue(JWT_VC)
    now = datetime.now(UTC)
    cases: list[dict[str, Any]] = [
        {"nonce": "another"},
        {"aud": ctx.host},
        {"aud": "x509_san_dns:attacker.example"},
        {"now": now - timedelta(minutes=6)},
        {"now": now + timedelta(minutes=6)},
        {"iss": "did:web:someone.example"},
        {"signer": SoftwareSigner.generate(KeyType.P256)},  # not the key of the holder's did:jwk
    ]
    for changes in cases:
        form = direct_post(tx, {"jwt": [wallet.jwt_vp(tx, credential, **changes)]})
        refused(ctx, tx, form, HolderBindingError)
    # a VP by another holder presenting this holder's credential
    other = Wallet(wallet.issuer, Holder.generate())
    error = refused(ctx, tx, direct_post(tx, {"jwt": [other.jwt_vp(tx, credential)]}), HolderBindingError)
    assert "subject" in error.message
    # a tampered credential inside a valid VP
    header, payload, signature = credential.split(".")
    claims = json.loads(_b64decode(payload))
    claims["vc"]["credentialSubject"]["age_over_20"] = False
    forged = f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}"
    error = refused(ctx, tx, direct_post(tx, {"jwt": [wallet.jwt_vp(tx, forged)]}), PresentationError)
    assert "signature" in error.message.lower()


def test_ldp_vp_binding(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(w3c_query("ldp", "ldp_vc")))
    credential = wallet.issue(LDP_VC)
    cases: list[dict[str, Any]] = [
        {"challenge": "another"},
        {"domain": ctx.host},
        {"purpose": "assertionMethod"},
        {"created": datetime.now(UTC) - timedelta(hours=1)},
    ]
    for changes in cases:
        refused(ctx, tx, direct_post(tx, {"ldp": [wallet.ldp_vp(tx, credential, **changes)]}), HolderBindingError)
    vp = wallet.ldp_vp(tx, credential)
    vp["verifiableCredential"][0]["credentialSubject"]["age_over_20"] = False  # after the holder signed
    refused(ctx, tx, direct_post(tx, {"ldp": [vp]}), HolderBindingError)
    other = Wallet(wallet.issuer, Holder.generate())
    error = refused(ctx, tx, direct_post(tx, {"ldp": [other.ldp_vp(tx, credential)]}), HolderBindingError)
    assert "subject" in error.message
    unsigned = {k: v for k, v in wallet.ldp_vp(tx, credential).items() if k != "proof"}
    refused(ctx, tx, direct_post(tx, {"ldp": [unsigned]}), HolderBindingError)


def test_presentation_of_the_wrong_shape_for_its_format(ctx: VerifierContext, wallet: Wallet) -> None:
    dcql = query(sd_query(), w3c_query("ldp", "ldp_vc"))
    tx = make_transaction(ctx, dcql)
    ldp = wallet.ldp_vp(tx)
    refused(ctx, tx, direct_post(tx, {"pid": [ldp], "ldp": [ldp]}), PresentationError)
    sd = wallet.sd_jwt(tx)
    refused(ctx, tx, direct_post(tx, {"pid": [sd], "ldp": [sd]}), PresentationError)
    jwt_query = query(w3c_query("jwt", "jwt_vc_json"))
    tx = make_transaction(ctx, jwt_query)
    refused(ctx, tx, direct_post(tx, {"jwt": [wallet.sd_jwt(tx)]}), PresentationError)


# -- DCQL: never trusting the wallet's claim that it matched --------------------------------------------------------


def test_required_claims_and_type_must_be_disclosed(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query(claims=("name", "age_over_20"))))
    form = direct_post(tx, {"pid": [wallet.sd_jwt(tx, claims=("age_over_20",))]})
    refused(ctx, tx, form, QueryNotSatisfiedError)
    other_vct = query({"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:other"]}})
    tx = make_transaction(ctx, other_vct)
    refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx)]}), QueryNotSatisfiedError)
    other_type = query({**w3c_query("jwt", "jwt_vc_json"), "meta": {"type_values": [["urn:other:Type"]]}})
    tx = make_transaction(ctx, other_type)
    refused(ctx, tx, direct_post(tx, {"jwt": [wallet.jwt_vp(tx)]}), QueryNotSatisfiedError)
    values = query(sd_query(claims=()) | {"claims": [{"path": ["age_over_20"], "values": [False]}]})
    tx = make_transaction(ctx, values)
    refused(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx)]}), QueryNotSatisfiedError)


def test_unknown_and_missing_queries_and_multiple(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query(), sd_query("pid2")))
    one = wallet.sd_jwt(tx)
    refused(ctx, tx, direct_post(tx, {"pid": [one]}), QueryNotSatisfiedError)  # pid2 unanswered
    refused(ctx, tx, direct_post(tx, {"pid": [one], "pid2": [one], "other": [one]}), QueryNotSatisfiedError)
    refused(ctx, tx, direct_post(tx, {"pid": [one, wallet.sd_jwt(tx)], "pid2": [one]}), QueryNotSatisfiedError)
    tx = make_transaction(ctx, query(sd_query(multiple=True)))
    result = validate(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx), wallet.sd_jwt(tx)]}))
    assert len(result.credentials) == 2


def test_credential_sets(ctx: VerifierContext, wallet: Wallet) -> None:
    credentials = (sd_query(), w3c_query("jwt", "jwt_vc_json"), w3c_query("ldp", "ldp_vc"))
    both = query(*credentials, sets=[{"options": [["pid", "jwt"], ["ldp"]]}])
    tx = make_transaction(ctx, both)
    sd, jwt, ldp = wallet.sd_jwt(tx), wallet.jwt_vp(tx), wallet.ldp_vp(tx)
    error = refused(ctx, tx, direct_post(tx, {"pid": [sd]}), QueryNotSatisfiedError)  # only part of an option
    assert "credential_sets[0]" in error.message
    assert validate(ctx, tx, direct_post(tx, {"pid": [sd], "jwt": [jwt]}))
    assert validate(ctx, tx, direct_post(tx, {"ldp": [ldp]}))
    refused(ctx, tx, direct_post(tx, {"ldp": [ldp], "pid": [sd]}), QueryNotSatisfiedError)  # a stray partial option
    optional = query(*credentials, sets=[{"options": [["pid"]]}, {"options": [["jwt", "ldp"]], "required": False}])
    tx = make_transaction(ctx, optional)
    sd, jwt, ldp = wallet.sd_jwt(tx), wallet.jwt_vp(tx), wallet.ldp_vp(tx)
    assert len(validate(ctx, tx, direct_post(tx, {"pid": [sd]})).credentials) == 1
    assert len(validate(ctx, tx, direct_post(tx, {"pid": [sd], "jwt": [jwt], "ldp": [ldp]})).credentials) == 3
    refused(ctx, tx, direct_post(tx, {"pid": [sd], "jwt": [jwt]}), QueryNotSatisfiedError)
    refused(ctx, tx, direct_post(tx, {"jwt": [jwt], "ldp": [ldp]}), QueryNotSatisfiedError)  # required set missing


def test_no_personal_data_in_refusals(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query(claims=("name", "birthdate"))))
    cases = [
        wallet.sd_jwt(tx, claims=("name",)),  # birthdate missing
        wallet.sd_jwt(tx, claims=("name", "birthdate"), nonce="x"),
        wallet.sd_jwt(tx, wallet.issue_revoked(SD_JWT), claims=("name", "birthdate")),
    ]
    for presentation in cases:
        with pytest.raises(ResponseRejectedError) as caught:
            validate(ctx, tx, direct_post(tx, {"pid": [presentation]}))
        for secret in ("山田", "太郎", "1990-01-02"):
            assert secret not in str(caught.value)


def test_the_holder_thumbprint_is_of_the_cnf_key(ctx: VerifierContext, wallet: Wallet) -> None:
    tx = make_transaction(ctx, query(sd_query()))
    result = validate(ctx, tx, direct_post(tx, {"pid": [wallet.sd_jwt(tx)]}))
    expected = jwk_thumbprint(PublicKey.from_jwk(wallet.holder.signer.public_jwk).to_jwk())
    assert result.credentials[0].holder == expected


def _b64decode(text: str) -> bytes:
    from foundation.b64 import b64url_decode

    return b64url_decode(text)
