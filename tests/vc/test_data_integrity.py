"""Data Integrity proofs against the W3C vc-di-eddsa and vc-di-ecdsa vectors, and every way a proof can be wrong."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from did import KeyType, PublicKey, Resolver, SoftwareSigner, VerificationMethod
from did.multibase import decode, encode_base58btc
from tests.helpers import VECTORS, load_vector
from vc.data_integrity import (
    SUITES,
    DataIntegrityError,
    ProofSignatureError,
    add_proof,
    hash_data,
    verify_proof,
    verify_proofs,
)
from vc.jsonld import ProtectedTermError, UndefinedTermError, UnknownContextError, to_quads
from vc.rdfc import canonicalize_quads

EDDSA = VECTORS / "di-eddsa" / "TestVectors"
ECDSA = VECTORS / "di-ecdsa" / "TestVectors"
RESOLVER = Resolver()


def _dict(value: Any) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


@dataclass(frozen=True)
class Case:
    """One W3C vector directory: where it is, how its files are named, which suite, key and input."""

    folder: Path
    suffix: str
    suite: str
    key_file: Path
    unsigned: Path

    @property
    def id(self) -> str:
        return str(self.folder.relative_to(VECTORS))

    def text(self, stem: str) -> str:
        return (self.folder / f"{stem}{self.suffix}.txt").read_text(encoding="utf-8").strip()

    def json(self, stem: str) -> dict[str, Any]:
        return _dict(load_vector(str((self.folder / f"{stem}{self.suffix}.json").relative_to(VECTORS))))

    def signer(self) -> SoftwareSigner:
        pair = load_vector(str(self.key_file.relative_to(VECTORS)))
        secret = pair.get("privateKeyMultibase") or pair["secretKeyMultibase"]
        return SoftwareSigner.from_secret_multibase(secret)

    def document(self) -> dict[str, Any]:
        return _dict(load_vector(str(self.unsigned.relative_to(VECTORS))))


def _cases() -> list[Case]:
    cases = []
    for folder, suffix, suite in (
        (EDDSA / "eddsa-rdfc-2022", "DataInt", "eddsa-rdfc-2022"),
        (EDDSA / "eddsa-jcs-2022", "JCS", "eddsa-jcs-2022"),
        (EDDSA / "Ed25519Signature2020", "EdSig", "Ed25519Signature2020"),
    ):
        cases.append(Case(folder, suffix, suite, EDDSA / "keyPair.json", EDDSA / "unsigned.json"))
    cases.append(
        Case(
            EDDSA / "eddsa-rdfc-2022/employ",
            "DataInt",
            "eddsa-rdfc-2022",
            EDDSA / "keyPair.json",
            EDDSA / "employmentAuth.json",
        )
    )
    for curve in ("p256", "p384"):
        key = ECDSA / f"{curve}KeyPair.json"
        upper = curve.upper()
        for folder, suffix, suite in (
            (ECDSA / f"ecdsa-rdfc-2019-{curve}", f"ECDSA{upper}", "ecdsa-rdfc-2019"),
            (ECDSA / f"ecdsa-jcs-2019-{curve}", f"JCSECDSA{upper}", "ecdsa-jcs-2019"),
        ):
            cases.append(Case(folder, suffix, suite, key, ECDSA / "unsigned.json"))
        cases.append(
            Case(
                ECDSA / f"ecdsa-rdfc-2019-{curve}/employ",
                f"ECDSA{upper}",
                "ecdsa-rdfc-2019",
                key,
                ECDSA / "employmentAuth.json",
            )
        )
    return cases


CASES = _cases()


def _canonical(case: Case, value: dict[str, Any], hash_name: str) -> str:
    if "jcs" in case.suite:
        return bytes(rfc8785.dumps(value)).decode("utf-8")
    return canonicalize_quads(to_quads(value), hash_algorithm=hash_name).nquads.strip()


def test_every_vector_folder_is_covered() -> None:
    folders = {p.parent for p in [*EDDSA.rglob("signed*.json"), *ECDSA.rglob("signed*.json")]}
    folders.discard(EDDSA / "proof-set-chain")
    assert folders == {c.folder for c in CASES}
    assert set(SUITES) == {c.suite for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_canonical_forms_and_hashes_reproduce(case: Case) -> None:
    signer = case.signer()
    key_type = PublicKey.from_jwk(signer.public_jwk).key_type
    hash_name = "sha384" if key_type is KeyType.P384 else "sha256"
    document, config = case.document(), case.json("proofConfig")
    canon_doc, canon_proof = _canonical(case, document, hash_name), _canonical(case, config, hash_name)
    assert canon_doc == case.text("canonDoc")
    assert canon_proof == case.text("proofCanon")
    assert hashlib.new(hash_name, canon_doc.encode() + (b"" if "jcs" in case.suite else b"\n")).hexdigest() == (
        case.text("docHash")
    )
    combined = hash_data(case.suite, document, config, key_type)
    assert combined.hex() == case.text("combinedHash")
    assert combined[: len(combined) // 2].hex() == case.text("proofHash")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_signature_reproduces_or_verifies(case: Case) -> None:
    signer = case.signer()
    key = PublicKey.from_jwk(signer.public_jwk)
    combined = bytes.fromhex(case.text("combinedHash"))
    signature = bytes.fromhex(case.text("sigHex"))
    assert encode_base58btc(signature) == case.text("sigBTC58")
    if key.key_type is KeyType.ED25519:
        assert signer.sign(combined) == signature  # Ed25519 is deterministic: byte for byte
    key.verify(signature, combined)  # ECDSA is randomized: the published signature verifies


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_signed_vector_verifies(case: Case) -> None:
    signed = case.json("signed")
    result = verify_proof(signed, RESOLVER.dereference)
    assert result.cryptosuite == case.suite
    assert result.verification_method == signed["proof"]["verificationMethod"]
    assert result.controller == signed["proof"]["verificationMethod"].split("#")[0]
    assert result.created == datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_add_proof_reproduces_the_signed_vector(case: Case) -> None:
    config = case.json("proofConfig")
    signed = add_proof(
        case.document(),
        case.signer(),
        cryptosuite=case.suite,
        verification_method=config["verificationMethod"],
        created=datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC),
    )
    expected = case.json("signed")
    if PublicKey.from_jwk(case.signer().public_jwk).key_type is KeyType.ED25519:
        assert signed == expected
    else:
        assert {k: v for k, v in signed["proof"].items() if k != "proofValue"} == {
            k: v for k, v in expected["proof"].items() if k != "proofValue"
        }
        assert verify_proof(signed, RESOLVER.dereference).cryptosuite == case.suite


# Proof sets and chains ------------------------------------------------------------------------------------------

CHAIN = EDDSA / "proof-set-chain"


@pytest.mark.parametrize(
    "name", ["signedProofSet1.json", "signedProofSet2.json", "signedProofChain1.json", "signedProofChain2.json"]
)
def test_proof_sets_and_chains_verify(name: str) -> None:
    signed = load_vector(f"di-eddsa/TestVectors/proof-set-chain/{name}")
    results = verify_proofs(signed, RESOLVER.dereference)
    proofs = signed["proof"] if isinstance(signed["proof"], list) else [signed["proof"]]
    assert [r.verification_method for r in results] == [p["verificationMethod"] for p in proofs]


def test_proof_chain_reproduces_byte_for_byte() -> None:
    keys = load_vector("di-eddsa/TestVectors/proof-set-chain/multiKeyPairs.json")

    def signer(n: int) -> SoftwareSigner:
        return SoftwareSigner.from_secret_multibase(keys[f"keyPair{n}"]["privateKeyMultibase"])

    document = load_vector("di-eddsa/TestVectors/proof-set-chain/unsigned.json")
    expected = load_vector("di-eddsa/TestVectors/proof-set-chain/signedProofChain2.json")
    for n, proof in enumerate(expected["proof"], start=1):
        document = add_proof(
            document,
            signer(n),
            cryptosuite="eddsa-rdfc-2022",
            verification_method=proof["verificationMethod"],
            created=datetime.fromisoformat(proof["created"]),
            proof_id=proof.get("id"),
            previous_proof=proof.get("previousProof"),
        )
    assert document == expected


def test_chain_with_a_missing_previous_proof_is_rejected() -> None:
    signed = load_vector("di-eddsa/TestVectors/proof-set-chain/signedProofChain2.json")
    signed["proof"] = [p for p in signed["proof"] if p.get("id") != "urn:uuid:d94f792a-c546-4d06-b38a-da070ab56c23"]
    with pytest.raises(DataIntegrityError, match="not in the proof set"):
        verify_proofs(signed, RESOLVER.dereference)


def test_a_set_is_not_accepted_where_one_proof_is_expected() -> None:
    signed = load_vector("di-eddsa/TestVectors/proof-set-chain/signedProofSet2.json")
    with pytest.raises(DataIntegrityError, match="proof set"):
        verify_proof(signed, RESOLVER.dereference)


# Tampering and misuse: every one fails closed --------------------------------------------------------------------

ED = Case(EDDSA / "eddsa-rdfc-2022", "DataInt", "eddsa-rdfc-2022", EDDSA / "keyPair.json", EDDSA / "unsigned.json")
JCS = Case(EDDSA / "eddsa-jcs-2022", "JCS", "eddsa-jcs-2022", EDDSA / "keyPair.json", EDDSA / "unsigned.json")
P256 = Case(
    ECDSA / "ecdsa-rdfc-2019-p256", "ECDSAP256", "ecdsa-rdfc-2019", ECDSA / "p256KeyPair.json", ECDSA / "unsigned.json"
)
SIGNED = [ED, JCS, P256]


def _flip(value: str) -> str:
    raw = bytearray(decode(value))
    raw[len(raw) // 2] ^= 0x01
    return encode_base58btc(bytes(raw))


@pytest.mark.parametrize("case", SIGNED, ids=lambda c: c.suite)
def test_changed_claim_fails(case: Case) -> None:
    signed = case.json("signed")
    signed["credentialSubject"]["alumniOf"] = "The School of Forgery"
    with pytest.raises(ProofSignatureError):
        verify_proof(signed, RESOLVER.dereference)


@pytest.mark.parametrize("case", SIGNED, ids=lambda c: c.suite)
def test_flipped_bit_in_proof_value_fails(case: Case) -> None:
    signed = case.json("signed")
    signed["proof"]["proofValue"] = _flip(signed["proof"]["proofValue"])
    with pytest.raises(ProofSignatureError):
        verify_proof(signed, RESOLVER.dereference)


@pytest.mark.parametrize("case", SIGNED, ids=lambda c: c.suite)
def test_changed_proof_option_fails(case: Case) -> None:
    signed = case.json("signed")
    signed["proof"]["created"] = "2023-02-24T23:36:39Z"
    with pytest.raises(ProofSignatureError):
        verify_proof(signed, RESOLVER.dereference)


def test_wrong_key_fails() -> None:
    other = SoftwareSigner.generate(KeyType.ED25519)
    signed = add_proof(
        ED.document(),
        other,
        cryptosuite="eddsa-rdfc-2022",
        verification_method=ED.json("signed")["proof"]["verificationMethod"],
    )
    with pytest.raises(ProofSignatureError):
        verify_proof(signed, RESOLVER.dereference)


def test_suite_and_key_type_must_match() -> None:
    with pytest.raises(DataIntegrityError, match="cannot sign with a P-256 key"):
        add_proof(ED.document(), P256.signer(), cryptosuite="eddsa-rdfc-2022")
    signed = P256.json("signed")
    signed["proof"]["cryptosuite"] = "eddsa-rdfc-2022"
    with pytest.raises(DataIntegrityError, match="cannot use a P-256 key"):
        verify_proof(signed, RESOLVER.dereference)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "Ed25519Signature2018"}, "not DataIntegrityProof"),
        ({"cryptosuite": "bbs-2023"}, "unsupported cryptosuite"),
        ({"cryptosuite": "Ed25519Signature2020"}, "proof type, not a cryptosuite"),
        ({"proofPurpose": "authentication"}, "proofPurpose"),
        ({"proofValue": "uAAAA"}, "base58btc proofValue"),
        ({"proofValue": "z0OIl"}, "not valid multibase"),
        ({"verificationMethod": 7}, "verificationMethod"),
        ({"created": "yesterday"}, "proof.created"),
        ({"created": "2999-01-01T00:00:00Z"}, "in the future"),
        ({"expires": "2024-01-01T00:00:00Z"}, "expired"),
        ({"@context": ["https://www.w3.org/ns/credentials/v2"]}, "does not carry its own @context"),
    ],
)
def test_malformed_proof_is_rejected(change: dict[str, Any], message: str) -> None:
    signed = ED.json("signed")
    signed["proof"].update(change)
    with pytest.raises(DataIntegrityError, match=message):
        verify_proof(signed, RESOLVER.dereference)


def test_jcs_proof_context_must_prefix_the_document_context() -> None:
    signed = JCS.json("signed")
    signed["proof"]["@context"] = ["https://www.w3.org/ns/credentials/examples/v2"]
    with pytest.raises(DataIntegrityError, match="prefix"):
        verify_proof(signed, RESOLVER.dereference)


def test_missing_proof_is_rejected() -> None:
    with pytest.raises(DataIntegrityError, match="no proof"):
        verify_proof(ED.document(), RESOLVER.dereference)


def test_unresolvable_method_is_rejected() -> None:
    signed = ED.json("signed")
    signed["proof"]["verificationMethod"] = "did:example:123#key-1"
    with pytest.raises(DataIntegrityError, match="not usable"):
        verify_proof(signed, RESOLVER.dereference)


def test_method_not_authorized_for_the_purpose_is_rejected() -> None:
    signer = SoftwareSigner.generate(KeyType.ED25519)
    signed = add_proof(ED.document(), signer, cryptosuite="eddsa-rdfc-2022", verification_method="did:key:x#k")

    def only_authentication(vm_id: str, purpose: str) -> VerificationMethod:
        raise __import__("did").NotFoundError(f"{vm_id} is not listed under {purpose}")

    with pytest.raises(DataIntegrityError, match="not usable"):
        verify_proof(signed, only_authentication)


def test_expired_proof_made_by_us_is_rejected_later() -> None:
    signer = ED.signer()
    vm = ED.json("signed")["proof"]["verificationMethod"]
    now = datetime.now(UTC)
    signed = add_proof(
        ED.document(), signer, cryptosuite="eddsa-rdfc-2022", verification_method=vm, expires=now + timedelta(hours=1)
    )
    verify_proof(signed, RESOLVER.dereference, now=now)
    with pytest.raises(DataIntegrityError, match="expired"):
        verify_proof(signed, RESOLVER.dereference, now=now + timedelta(hours=2))


def test_challenge_and_domain_bind_a_presentation_proof() -> None:
    signer = ED.signer()
    vm = ED.json("signed")["proof"]["verificationMethod"]
    signed = add_proof(
        ED.document(),
        signer,
        cryptosuite="eddsa-rdfc-2022",
        verification_method=vm,
        proof_purpose="authentication",
        challenge="n-0S6",
        domain="https://rp.example",
    )
    result = verify_proof(
        signed, RESOLVER.dereference, expected_purpose="authentication", challenge="n-0S6", domain="https://rp.example"
    )
    assert result.proof_purpose == "authentication"
    with pytest.raises(DataIntegrityError, match="challenge"):
        verify_proof(
            signed,
            RESOLVER.dereference,
            expected_purpose="authentication",
            challenge="replayed",
            domain="https://rp.example",
        )
    with pytest.raises(DataIntegrityError, match="domain"):
        verify_proof(
            signed,
            RESOLVER.dereference,
            expected_purpose="authentication",
            challenge="n-0S6",
            domain="https://evil.example",
        )


# JSON-LD: offline contexts and safe mode ----------------------------------------------------------------------------


def test_unknown_context_is_an_error_not_a_fetch() -> None:
    signed = ED.json("signed")
    signed["@context"] = [*signed["@context"], "https://evil.example/context.jsonld"]
    with pytest.raises(UnknownContextError, match="not bundled"):
        verify_proof(signed, RESOLVER.dereference)


def test_context_redefining_a_protected_term_is_rejected() -> None:
    document = ED.document()
    document["@context"] = [*document["@context"], {"VerifiableCredential": "https://evil.example/Credential"}]
    with pytest.raises(ProtectedTermError):
        to_quads(document)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "@context": [
                    "https://www.w3.org/ns/credentials/v2",
                    {"@vocab": "https://www.w3.org/ns/credentials/examples#"},
                ]
            },
            "inline @context",
        ),
        ({"https://www.w3.org/2018/credentials#validUntil": "2020-01-01T00:00:00Z"}, "only terms"),
        ({"credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": {"@value": "x"}}}, "'@value'"),
        ({"@included": []}, "'@included'"),
    ],
)
def test_json_that_could_read_differently_from_the_signed_rdf_is_refused(change: dict[str, Any], message: str) -> None:
    """Only the RDF is signed: a claim under its IRI, a keyword or an inline context could say something else."""
    document = {**ED.document(), **change}
    with pytest.raises(DataIntegrityError, match=message):
        add_proof(document, ED.signer(), cryptosuite="eddsa-rdfc-2022")
    signed = ED.json("signed")
    signed.update(change)
    with pytest.raises(DataIntegrityError, match=message):
        verify_proof(signed, RESOLVER.dereference)
    add_proof(document, ED.signer(), cryptosuite="eddsa-jcs-2022")  # JCS signs the JSON itself


def test_unknown_proof_members_are_refused() -> None:
    signed = ED.json("signed")
    signed["proof"]["https://w3id.org/security#expiration"] = "2020-01-01T00:00:00Z"
    with pytest.raises(DataIntegrityError, match="unknown members"):
        verify_proof(signed, RESOLVER.dereference)


def test_undefined_property_would_be_unsigned_so_it_is_rejected() -> None:
    document = copy.deepcopy(ED.document())
    document["@context"] = ["https://www.w3.org/2018/credentials/v1"]
    document["type"] = ["VerifiableCredential"]
    document["credentialSubject"] = {"id": "did:example:abc", "undefinedClaim": "not in any context"}
    with pytest.raises(UndefinedTermError, match="undefinedClaim"):
        to_quads(document)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"type": ["VerifiableCredential", "Relative"]}, "@type 'Relative'"),
        ({"id": "relative/id"}, "@id 'relative/id'"),
    ],
)
def test_relative_iris_are_rejected_not_resolved_against_a_made_up_base(change: dict[str, Any], what: str) -> None:
    document = {"@context": ["https://www.w3.org/2018/credentials/v1"], "type": ["VerifiableCredential"], **change}
    with pytest.raises(UndefinedTermError, match=what):
        to_quads(document)
