"""The unified verifier: every format, issuer binding, validity, and status (revoked, suspended, fail closed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from did import KeyType, Resolver, SoftwareSigner, did_key
from vc.data_integrity import DataIntegrityError, add_proof
from vc.jose import issue_vc_jwt
from vc.jsonld import UndefinedTermError
from vc.model import CredentialExpiredError, CredentialNotYetValidError
from vc.sd_jwt import SD, KeyBindingError, SdJwtError, issue, present
from vc.status_list import BitstringStatusList, StatusListCache, TokenStatusList, issue_status_list_token
from vc.verify import (
    CredentialInputError,
    CredentialRevokedError,
    CredentialStatusError,
    CredentialSuspendedError,
    CredentialVerifier,
    detect_format,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIST_URL = "https://issuer.example.jp/status/1"
TOKEN_URL = "https://issuer.example.jp/status/token/1"


ISSUER = did_key.generate(KeyType.ED25519)
ISSUER_DID = did_key.create(ISSUER.public_key)
OTHER = did_key.generate(KeyType.ED25519)
HOLDER = did_key.generate(KeyType.ED25519)


def credential(**extra: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "id": "urn:uuid:0b4c3a4e-6a5c-4d1e-9c1a-2f3e4d5c6b7a",
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "issuer": ISSUER_DID,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", "alumniOf": "Example University"},
        **extra,
    }


def di(document: Mapping[str, Any], signer: SoftwareSigner = ISSUER) -> dict[str, Any]:
    return add_proof(document, signer, cryptosuite="eddsa-rdfc-2022", created=NOW - timedelta(days=1))


def status_entry(purpose: str, index: int) -> dict[str, Any]:
    return {
        "id": f"{LIST_URL}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": LIST_URL,
    }


def published_list(purpose: str, set_index: int | None = None, signer: SoftwareSigner = ISSUER) -> dict[str, Any]:
    bits = BitstringStatusList()
    if set_index is not None:
        bits.set(set_index)
    issuer = signer.key_id.split("#")[0]
    return di(bits.credential(LIST_URL, issuer, purpose, "2026-01-01T00:00:00Z"), signer)


def verifier(published: Mapping[str, Any] | str | None) -> CredentialVerifier:
    def source(url: str) -> Mapping[str, Any] | str:
        if published is None or url not in (LIST_URL, TOKEN_URL):
            raise FileNotFoundError(url)
        return published

    return CredentialVerifier(Resolver(), source, cache=StatusListCache())


# Formats --------------------------------------------------------------------------------------------------------


def test_data_integrity_credential_verifies_and_names_key_issuer_and_suite() -> None:
    result = verifier(None).verify(di(credential()), now=NOW)
    assert (result.format, result.issuer, result.verification_method, result.algorithm) == (
        "ldp_vc",
        ISSUER_DID,
        ISSUER.key_id,
        "eddsa-rdfc-2022",
    )
    assert result.to_json()["status"] == []
    assert result.status_checked


def test_data_integrity_signed_by_someone_else_than_the_issuer_is_rejected() -> None:
    with pytest.raises(DataIntegrityError, match="not in the issuer's DID document"):
        verifier(None).verify(di(credential(), OTHER), now=NOW)


def test_expired_and_not_yet_valid_credentials_are_rejected() -> None:
    with pytest.raises(CredentialExpiredError):
        verifier(None).verify(di(credential(validUntil="2026-02-01T00:00:00Z")), now=NOW)
    with pytest.raises(CredentialNotYetValidError):
        verifier(None).verify(di(credential(validFrom="2026-07-01T00:00:00Z")), now=NOW)


def test_vc_jwt_and_json_text_input_verify() -> None:
    token = issue_vc_jwt(credential(), ISSUER)
    result = verifier(None).verify(token, now=NOW)
    assert (result.format, result.verification_method, result.algorithm) == ("vc+jwt", ISSUER.key_id, "EdDSA")
    assert verifier(None).verify(json.dumps(di(credential())), now=NOW).format == "ldp_vc"


def sd_jwt(status: Any = None) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER_DID,
        "vct": "https://xid.example/credentials/basic4",
        "iat": int(NOW.timestamp()) - 60,
        "family_name": SD("山田"),
        "given_name": SD("花子"),
    }
    if status is not None:
        claims["status"] = status
    token = issue(claims, ISSUER, holder_jwk=HOLDER.public_jwk)
    return present(token, [("family_name",)], HOLDER, audience="https://rp.example", nonce="n-1", now=NOW)


def test_sd_jwt_presentation_verifies_with_key_binding() -> None:
    result = verifier(None).verify(sd_jwt(), audience="https://rp.example", nonce="n-1", now=NOW)
    assert result.format == "dc+sd-jwt"
    assert result.key_bound
    assert result.disclosed == (("family_name",),)
    assert result.claims["family_name"] == "山田"
    assert "given_name" not in result.claims
    with pytest.raises(KeyBindingError, match="wrong nonce"):
        verifier(None).verify(sd_jwt(), audience="https://rp.example", nonce="replayed", now=NOW)


def test_sd_jwt_whose_kid_is_not_the_issuers_is_rejected() -> None:
    token = issue({"iss": "did:web:someone.example", "vct": "x"}, ISSUER)
    with pytest.raises(SdJwtError, match="does not belong"):
        verifier(None).verify(token, require_key_binding=False, now=NOW)


@pytest.mark.parametrize("bad", ["", "not a credential", "[1, 2]", "{broken"])
def test_unrecognised_input_is_a_clear_error(bad: str) -> None:
    with pytest.raises(CredentialInputError, match=r"JSON"):
        verifier(None).verify(bad, now=NOW)


def test_detect_format() -> None:
    assert detect_format({"proof": {}}) == "di"
    assert detect_format("a.b.c") == "jwt"
    assert detect_format("a.b.c~d~") == "sd-jwt"


# Bitstring Status List -------------------------------------------------------------------------------------------


def test_unset_status_is_reported() -> None:
    secured = di(credential(credentialStatus=status_entry("revocation", 42)))
    result = verifier(published_list("revocation")).verify(secured, now=NOW)
    assert [(s.purpose, s.list_url, s.index, s.value) for s in result.status] == [("revocation", LIST_URL, 42, 0)]


def test_revoked_credential_is_rejected() -> None:
    secured = di(credential(credentialStatus=status_entry("revocation", 42)))
    with pytest.raises(CredentialRevokedError, match="revoked"):
        verifier(published_list("revocation", 42)).verify(secured, now=NOW)


def test_suspended_credential_is_rejected_in_the_jwt_format_too() -> None:
    token = issue_vc_jwt(credential(credentialStatus=[status_entry("suspension", 7)]), ISSUER)
    with pytest.raises(CredentialSuspendedError, match="suspended"):
        verifier(published_list("suspension", 7)).verify(token, now=NOW)


def test_status_without_a_source_fails_closed_unless_explicitly_unchecked() -> None:
    secured = di(credential(credentialStatus=status_entry("revocation", 42)))
    with pytest.raises(CredentialStatusError, match="cannot obtain"):
        verifier(None).verify(secured, now=NOW)
    with pytest.raises(CredentialStatusError, match="no status source"):
        CredentialVerifier(Resolver()).verify(secured, now=NOW)
    result = CredentialVerifier(Resolver()).verify(secured, check_status=False, now=NOW)
    assert not result.status_checked
    assert result.to_json()["status"] == "unchecked"


def test_status_list_from_another_issuer_is_rejected() -> None:
    secured = di(credential(credentialStatus=status_entry("revocation", 42)))
    with pytest.raises(CredentialStatusError, match="not issued by"):
        verifier(published_list("revocation", signer=OTHER)).verify(secured, now=NOW)


def test_tampered_status_list_is_rejected() -> None:
    secured = di(credential(credentialStatus=status_entry("revocation", 42)))
    forged = published_list("revocation", 42)
    forged["credentialSubject"]["encodedList"] = BitstringStatusList().encode()
    with pytest.raises(CredentialStatusError, match="does not verify"):
        verifier(forged).verify(secured, now=NOW)


def test_status_list_for_another_purpose_is_rejected() -> None:
    secured = di(credential(credentialStatus=status_entry("revocation", 42)))
    with pytest.raises(CredentialStatusError, match="suspension"):
        verifier(published_list("suspension")).verify(secured, now=NOW)


def test_malformed_status_entry_is_rejected() -> None:
    entry = status_entry("revocation", 42)
    entry["statusListIndex"] = 42
    with pytest.raises(CredentialStatusError, match="decimal string"):
        verifier(published_list("revocation")).verify(di(credential(credentialStatus=entry)), now=NOW)


# Token Status List (SD-JWT VC) -----------------------------------------------------------------------------------


def token_list(index: int | None = None, value: int = 1, **options: Any) -> str:
    lst = TokenStatusList(bits=2)
    if index is not None:
        lst.set(index, value)
    return issue_status_list_token(
        lst, options.pop("uri", TOKEN_URL), options.pop("signer", ISSUER), now=NOW, **options
    )


STATUS = {"status_list": {"idx": 9, "uri": TOKEN_URL}}


def verify_token_status(published: str) -> Any:
    return verifier(published).verify(sd_jwt(STATUS), audience="https://rp.example", nonce="n-1", now=NOW)


def test_token_status_valid_is_reported() -> None:
    result = verify_token_status(token_list())
    assert [(s.list_url, s.index, s.value) for s in result.status] == [(TOKEN_URL, 9, 0)]


@pytest.mark.parametrize(
    ("value", "error", "reason"),
    [(1, CredentialRevokedError, "revoked"), (2, CredentialSuspendedError, "suspended"),
     (3, CredentialStatusError, "0x3 .* is not understood")],
)  # fmt: skip
def test_token_status_values(value: int, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason) as caught:
        verify_token_status(token_list(9, value))
    assert type(caught.value) is error  # a subclass (revoked, suspended) would be another verdict


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"signer": OTHER}, "not signed by a key of"),
        ({"uri": "https://issuer.example.jp/status/other"}, "not https://"),
        ({"ttl": timedelta(seconds=-10)}, "expired"),
    ],
)
def test_bad_status_list_tokens_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CredentialStatusError, match=message):
        verify_token_status(token_list(**options))


def test_status_list_token_with_a_flipped_signature_bit_is_rejected() -> None:
    token = token_list()
    head, payload, signature = token.split(".")
    flipped = ("B" if signature[5] == "A" else "A").join([signature[:5], signature[6:]])
    with pytest.raises(CredentialStatusError, match="does not verify"):
        verify_token_status(f"{head}.{payload}.{flipped}")


def test_status_list_token_must_be_a_token() -> None:
    with pytest.raises(CredentialStatusError, match="not return a status list token"):
        verify_token_status(copy.deepcopy(published_list("revocation")))  # type: ignore[arg-type]


# Findings of the adversarial review -----------------------------------------------------------------------------


def test_a_key_whose_document_merely_claims_the_issuer_as_controller_is_rejected() -> None:
    """did:web:evil.example lists its own key with "controller": <victim>; that proves nothing about the victim."""
    import httpx

    from did import DidWebResolver
    from did.document import multikey_method

    attacker = did_key.generate(KeyType.ED25519)
    method_id = "did:web:evil.example#k1"
    document = {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": "did:web:evil.example",
        "verificationMethod": [multikey_method(ISSUER_DID, method_id, attacker.public_key)],
        "assertionMethod": [method_id],
    }
    web = DidWebResolver(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=document)),
        resolve_host=lambda host, port: ["93.184.216.34"],
    )
    forged = add_proof(
        credential(), attacker, cryptosuite="eddsa-rdfc-2022", verification_method=method_id, created=NOW
    )
    with web, pytest.raises(DataIntegrityError, match="not in the issuer's DID document"):
        CredentialVerifier(Resolver.standard(web)).verify(forged, now=NOW)


@pytest.mark.parametrize("space", ["\u00a0", "\u1680", "\u2028", "\u3000"])
def test_a_subject_swapped_for_one_with_a_unicode_space_in_its_id_is_rejected(space: str) -> None:
    """pyld drops triples whose IRIs contain Unicode whitespace, so such a subject would ride along unsigned.

    Two checks stand in the way, each tested alone: JSON keys of an RDFC-secured credential are terms (so the signed
    subject cannot hide under its full IRI), and every IRI must be one N-Quads can carry (no Unicode space).
    """
    secured = di(credential())
    secured["https://www.w3.org/2018/credentials#credentialSubject"] = secured.pop("credentialSubject")
    secured["credentialSubject"] = {"id": "did:example:mallory", "alumniOf": "Forged University"}
    with pytest.raises(DataIntegrityError, match="only terms"):
        verifier(None).verify(secured, now=NOW)
    nested = di(credential())
    nested["credentialSubject"] = {"id": "did:example:holder", "alumniOf": {"id": f"did:example:m{space}"}}
    with pytest.raises(UndefinedTermError, match="not an absolute IRI"):
        verifier(None).verify(nested, now=NOW)


@pytest.mark.parametrize(
    "move",
    [
        ("credentialStatus", "https://www.w3.org/2018/credentials#credentialStatus"),
        ("validUntil", "https://www.w3.org/2018/credentials#validUntil"),
    ],
)
def test_a_signed_fact_moved_out_of_the_json_readers_view_is_rejected(move: tuple[str, str]) -> None:
    """Same RDF, different JSON: a revoked or expired credential must not pass by hiding its status or end date."""
    extra = {"credentialStatus": status_entry("revocation", 42), "validUntil": "2026-02-01T00:00:00Z"}
    secured = di(credential(**extra))
    term, iri = move
    secured[iri] = secured.pop(term)
    with pytest.raises(DataIntegrityError, match="only terms"):
        verifier(published_list("revocation", 42)).verify(secured, now=NOW)


def test_entry_and_list_must_agree_on_the_status_size() -> None:
    entry = {**status_entry("revocation", 42), "statusSize": 2}
    with pytest.raises(CredentialStatusError, match="statusSize"):
        verifier(published_list("revocation")).verify(di(credential(credentialStatus=entry)), now=NOW)
