"""The W3C VC API verification endpoints: what the issuer's VC API instances, digitalbazaar's libraries and the
public W3C vectors secure verifies (VC 2.0 and 1.1, proof sets and chains, envelopes, status, presentations), and
every way a credential or presentation can be wrong is a 400 ProblemDetails, never a 500, with nothing written."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from did import DidDocument, KeyType, PublicKey, Resolver, SoftwareSigner, did_key, web_document
from did.multibase import encode_base58btc
from did.resolver import PureMethodResolver
from foundation.b64 import b64url_decode, b64url_encode
from foundation.db import open_engine, transaction
from issuer.context import IssuerContext, IssuerSettings, OperatorSecrets
from issuer.credentials import JWT_VC, LDP_VC, SD_JWT
from issuer.db import create_schema as create_issuer_schema
from issuer.status import credentials_table, revoke
from issuer.vc_api import CREDENTIALS_V1, DATA_INTEGRITY_CONTEXT, Instance, VcApiService, instances
from tests.helpers import AsgiClient, load_vector, require_component
from tests.issuer.credentials_support import facts, make_issuer
from tests.issuer.test_vc_api import MemoryStatus, alumni, v11
from tests.verifier.conftest import VERIFIER_DID, VERIFIER_URL, certificate_chain
from vc.data_integrity import DataIntegrityError, add_proof, check_plain_json, hash_data
from vc.model import CREDENTIALS_V2, CredentialModelError, validate_credential
from verifier.context import VerifierContext, VerifierSettings
from verifier.vc_api import PROBLEM_TYPES, VcApiVerifier, VcApiVerifyError
from verifier.vc_api_routes import routes

NAMES = ("key-ed25519", "key-ed25519-jcs", "key-p256", "key-p384", "web", "web-jwt")
DI_NAMES = NAMES[:-1]
PEERS = Path(__file__).parent.parent / "interop" / "vc"
CHALLENGE, DOMAIN = "u3f8-challenge-0123", "rp.example.jp"
PROBLEM = "application/problem+json"


# -- fixtures -------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    """An issuer's VC API service (six instances, in-memory status lists) and our verification endpoints."""

    issuer: IssuerContext
    service: VcApiService
    status: MemoryStatus
    verifier: VerifierContext
    client: AsgiClient

    def instance(self, name: str) -> Instance:
        return next(i for i in instances(self.issuer) if i.name == name)

    def issue(self, credential: dict[str, Any], name: str, **options: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"credential": copy.deepcopy(credential)}
        if options:
            body["options"] = options
        secured: dict[str, Any] = self.service.issue(body, self.instance(name))["verifiableCredential"]
        return secured

    def verify(self, credential: Any, **options: Any) -> Any:
        return self.client.post("/credentials/verify", json={"verifiableCredential": credential, "options": options})

    def verify_vp(self, presentation: Any, **options: Any) -> Any:
        body = {"verifiablePresentation": presentation, "options": options}
        return self.client.post("/presentations/verify", json=body)


def _issuer_context(tmp_path: Path) -> IssuerContext:
    engine = open_engine(f"sqlite:///{tmp_path / 'issuer.db'}")
    create_issuer_schema(engine)
    return IssuerContext(
        base_url="http://127.0.0.1:8000",
        did="did:web:127.0.0.1%3A8000",
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=None,  # type: ignore[arg-type]  # the VC API never consults the enrollment trust
        revocation=None,  # type: ignore[arg-type]
        settings=IssuerSettings(vc_api_token="t" * 32),
        vc_api_signers={
            "ed25519": SoftwareSigner.generate(KeyType.ED25519),
            "p256": SoftwareSigner.generate(KeyType.P256),
            "p384": SoftwareSigner.generate(KeyType.P384),
        },
    )


def _verifier_context(issuer: IssuerContext, status: MemoryStatus, **settings: Any) -> VerifierContext:
    keys = [
        ("es256", PublicKey.from_jwk(issuer.es256.public_jwk)),
        ("ed25519", PublicKey.from_jwk(issuer.ed25519.public_jwk)),
    ]
    document = web_document(issuer.did, keys)
    web = PureMethodResolver("web", lambda did: DidDocument(document, expected_id=str(did)), cacheable=True)
    signer = SoftwareSigner.generate(KeyType.P256)
    return VerifierContext(
        base_url=VERIFIER_URL,
        engine=create_engine("sqlite://"),  # the verification service is pure: it never touches the database
        signer=signer,
        x5c=certificate_chain(signer, "127.0.0.1")[0],
        did=VERIFIER_DID,
        resolver=Resolver.standard(web),
        status_source=status.publish,
        trusted_issuers=(),
        ledger_key=b"k" * 32,
        settings=VerifierSettings(**settings),
    )


def _world(tmp_path: Path, **settings: Any) -> World:
    from starlette.applications import Starlette

    from foundation.web import EXCEPTION_HANDLERS

    issuer = _issuer_context(tmp_path)
    status = MemoryStatus()
    for instance in instances(issuer):
        if instance.cryptosuite != "vc+jwt":
            status.signers.setdefault(instance.id, instance)
    verifier = _verifier_context(issuer, status, **settings)
    app = Starlette(routes=routes(verifier), exception_handlers=dict(EXCEPTION_HANDLERS))
    return World(issuer, VcApiService(issuer, status), status, verifier, AsgiClient(app))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Issuer instances and the verification endpoints (SQLite only: verification writes nothing)."""
    made = _world(tmp_path)
    yield made
    made.issuer.engine.dispose()


def verified(response: Any) -> dict[str, Any]:
    """The body of a 200 verification, checked for the VCALM shape."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["verified"] is True
    assert body["errors"] == []
    assert isinstance(body["checks"], list)
    assert isinstance(body["warnings"], list)
    return body


def refused(response: Any, kind: str | None = None, detail: str | None = None) -> dict[str, Any]:
    """The body of a 400 ProblemDetails refusal; its type and detail checked when given."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert set(body) >= {"type", "title", "detail", "code"}
    if kind is not None:
        assert body["type"] == kind, body
    if detail is not None:
        assert detail in body["detail"], body
    if body["code"] == "notVerified":
        assert body["verified"] is False
        assert len(body["errors"]) == 1
    return body


def _did_key_signer(key_type: KeyType) -> tuple[SoftwareSigner, str]:
    signer = did_key.generate(key_type)
    return signer, did_key.create(signer.public_key)


def _tamper(credential: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(credential)
    changed["credentialSubject"]["alumniOf"] = "The School of Forgeries"
    return changed


# -- what must verify -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_issuer_instance_credential_verifies_and_a_tampered_one_does_not(world: World, name: str) -> None:
    """Each of the issuer's six instances (three cryptosuites, two curves, vc+jwt) issues what verifies."""
    secured = world.issue(alumni(), name)
    body = verified(world.verify(secured, checks=["proof"]))
    assert body["checks"][:2] == ["proof", "issuer"]
    assert "validity" in body["checks"]
    assert body["warnings"] == []
    if name == "web-jwt":
        token = secured["id"].removeprefix("data:application/vc+jwt,")
        header, payload, signature = token.split(".")
        claims = json.loads(b64url_decode(payload))
        claims["credentialSubject"]["alumniOf"] = "The School of Forgeries"
        forged = {
            **secured,
            "id": f"data:application/vc+jwt,{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}",
        }
        refused(world.verify(forged), PROBLEM_TYPES["cryptographic"])
    else:
        refused(world.verify(_tamper(secured)), PROBLEM_TYPES["proof"], "signature")


@pytest.mark.parametrize("name", DI_NAMES)
def test_vc_1_1_credentials_verify(world: World, name: str) -> None:
    """VC 1.1 (issuanceDate) credentials of every Data Integrity instance verify; an expired one does not."""
    secured = world.issue(v11(), name)
    assert secured["@context"][0] == CREDENTIALS_V1
    assert "validity" in verified(world.verify(secured))["checks"]
    expired = world.issue({**v11(), "expirationDate": "2025-01-01T00:00:00Z"}, name)
    refused(world.verify(expired), PROBLEM_TYPES["range"], "expired")


@pytest.mark.parametrize("name", ["key-ed25519", "key-p384", "web-jwt"])
def test_status_is_checked_through_the_status_source(world: World, name: str) -> None:
    """A credential with a revocation entry verifies until the issuer sets its bit; then it is refused."""
    credential = alumni(id="urn:uuid:11111111-2222-4333-8444-555555555555")
    secured = world.issue(credential, name, credentialStatus={"type": "BitstringStatusListEntry"})
    assert "credentialStatus" in verified(world.verify(secured))["checks"]
    world.service.update_status(
        {
            "credentialId": credential["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
        }
    )
    refused(world.verify(secured), PROBLEM_TYPES["status"], "revoked")


def test_unreachable_status_list_fails_closed(world: World) -> None:
    """A status list the source cannot return is a refusal, not a pass."""
    credential = alumni(id="urn:uuid:21111111-2222-4333-8444-555555555555")
    secured = world.issue(credential, "key-p256", credentialStatus={"type": "BitstringStatusListEntry"})
    world.status.lists.clear()
    refused(world.verify(secured), PROBLEM_TYPES["status"])


def test_proof_sets_and_chains_verify(world: World) -> None:
    """A second proof (a set) and a chained proof naming the first verify; a chain naming a missing proof does not."""
    signer, did = _did_key_signer(KeyType.ED25519)
    witness, _ = _did_key_signer(KeyType.P256)
    first = add_proof(alumni(did), signer, cryptosuite="eddsa-rdfc-2022", proof_id="urn:uuid:proof-1")
    proof_set = add_proof(first, witness, cryptosuite="ecdsa-rdfc-2019")
    assert len(proof_set["proof"]) == 2
    verified(world.verify(proof_set))
    chain = add_proof(first, witness, cryptosuite="ecdsa-jcs-2019", previous_proof="urn:uuid:proof-1")
    verified(world.verify(chain))
    broken = copy.deepcopy(chain)
    broken["proof"][1]["previousProof"] = "urn:uuid:proof-0"
    refused(world.verify(broken), PROBLEM_TYPES["proof"], "previousProof")
    dropped = {**chain, "proof": chain["proof"][1]}
    refused(world.verify(dropped), PROBLEM_TYPES["proof"])


def test_a_proof_set_without_an_issuer_proof_is_refused(world: World) -> None:
    """Proofs that all verify but none by a key of the DID issuer: the credential is not the issuer's."""
    _, did = _did_key_signer(KeyType.ED25519)
    other, _ = _did_key_signer(KeyType.ED25519)
    signed = add_proof(alumni(did), other, cryptosuite="eddsa-rdfc-2022")
    refused(world.verify(signed), PROBLEM_TYPES["proof"], "issuer's DID document")


@pytest.mark.parametrize(
    "vector",
    [
        "di-eddsa/TestVectors/eddsa-rdfc-2022/signedDataInt.json",
        "di-eddsa/TestVectors/eddsa-jcs-2022/signedJCS.json",
        "di-eddsa/TestVectors/Ed25519Signature2020/signedEdSig.json",
        "di-eddsa/TestVectors/proof-set-chain/signedProofSet1.json",
        "di-eddsa/TestVectors/proof-set-chain/signedProofSet2.json",
        "di-eddsa/TestVectors/proof-set-chain/signedProofChain1.json",
        "di-eddsa/TestVectors/proof-set-chain/signedProofChain2.json",
        "di-ecdsa/TestVectors/ecdsa-rdfc-2019-p256/signedECDSAP256.json",
        "di-ecdsa/TestVectors/ecdsa-rdfc-2019-p384/signedECDSAP384.json",
        "di-ecdsa/TestVectors/ecdsa-jcs-2019-p256/signedJCSECDSAP256.json",
        "di-ecdsa/TestVectors/ecdsa-jcs-2019-p384/signedJCSECDSAP384.json",
    ],
)
def test_public_w3c_vectors_verify(world: World, vector: str) -> None:
    """The W3C cryptosuite specifications' signed examples verify (their https issuer is reported as not bound)."""
    document = load_vector(vector)
    body = verified(world.verify(document))
    assert "proof" in body["checks"]
    assert [w["title"] for w in body["warnings"]] == ["issuerNotBound"]
    refused(world.verify({**document, "description": "changed"}))


@pytest.mark.parametrize(
    "vector",
    [
        "di-eddsa/TestVectors/eddsa-rdfc-2022/employ/signedDataInt.json",
        "di-ecdsa/TestVectors/ecdsa-rdfc-2019-p256/employ/signedECDSAP256.json",
        "di-ecdsa/TestVectors/ecdsa-rdfc-2019-p384/employ/signedECDSAP384.json",
    ],
)
def test_vectors_signed_by_a_key_of_another_did_than_their_issuer_are_refused(world: World, vector: str) -> None:
    """The "employ" vectors name a did:key issuer but are signed by another did:key: the proof verifies, the
    issuer binding does not (a key outside the issuer's DID document does not speak for the issuer)."""
    body = refused(world.verify(load_vector(vector)), PROBLEM_TYPES["proof"], "issuer's DID document")
    assert body["checks"] == ["proof"]


def _require_node() -> None:
    require_component(shutil.which("node") is not None, "node")
    require_component((PEERS / "node_modules").exists(), "npm peers in tests/interop/vc (run make interop)")


@pytest.mark.parametrize(
    ("suite", "key_type"), [("eddsa-rdfc-2022", KeyType.ED25519), ("ecdsa-rdfc-2019", KeyType.P256)]
)
def test_digitalbazaar_issued_credentials_verify(world: World, suite: str, key_type: KeyType) -> None:
    """A credential digitalbazaar's @digitalbazaar/vc secures (tests/interop/vc/di.mjs) verifies; tampered, not."""
    _require_node()
    signer, did = _did_key_signer(key_type)
    from tests.interop.test_vc_interop import secret_multibase

    key_pair = {"publicKeyMultibase": signer.public_key.to_multikey(), "secretKeyMultibase": secret_multibase(signer)}
    request = {"credential": alumni(did), "suite": suite, "keyPair": key_pair}
    done = subprocess.run(
        ["node", str(PEERS / "di.mjs"), "issue"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PEERS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    signed = json.loads(done.stdout)["credential"]
    assert verified(world.verify(signed))["checks"][:2] == ["proof", "issuer"]
    refused(world.verify(_tamper(signed)), PROBLEM_TYPES["proof"])


# -- what must not verify -------------------------------------------------------------------------------------------


def _signed(world: World, name: str = "key-ed25519") -> dict[str, Any]:
    return world.issue(alumni(), name)


def _with_proof(credential: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(credential)
    changed["proof"].update(changes)
    return {k: v for k, v in changed.items()}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda c: {**c, "proof": None}, "no proof"),
        (lambda c: {k: v for k, v in c.items() if k != "proof"}, "no proof"),
        (lambda c: {**c, "proof": []}, "no proof"),
        (lambda c: {**c, "proof": "z3abc"}, "no proof"),
        (lambda c: _with_proof(c, type="Ed25519Signature2018"), "not DataIntegrityProof"),
        (lambda c: _with_proof(c, cryptosuite="eddsa-2022"), "unsupported cryptosuite"),
        (lambda c: _with_proof(c, cryptosuite="eddsa-jcs-2022"), "signature"),
        (lambda c: _with_proof(c, proofPurpose="authentication"), "proofPurpose"),
        (lambda c: _with_proof(c, created="2024-13-01T00:00:00Z"), "created"),
        (lambda c: _with_proof(c, created="yesterday"), "created"),
        (
            lambda c: _with_proof(c, created=(datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")),
            "future",
        ),
        (lambda c: _with_proof(c, verificationMethod="did:key:z6Mknotakey#z6Mknotakey"), "verification method"),
        (lambda c: _with_proof(c, verificationMethod="did:example:123#key-1"), "verification method"),
        (
            lambda c: _with_proof(c, verificationMethod=c["proof"]["verificationMethod"].split("#")[0] + "#other"),
            "method",
        ),
        (lambda c: _with_proof(c, proofValue="u" + c["proof"]["proofValue"][1:]), "proofValue"),
        (lambda c: _with_proof(c, unknownMember=True), "unknown members"),
    ],
)
def test_bad_proofs_are_refused(world: World, change: Any, detail: str) -> None:
    """Null, missing, unknown type or suite, another canonicalization, wrong purpose, bad created, bad methods."""
    body = refused(world.verify(change(_signed(world))), detail=detail)
    assert body["code"] == "notVerified"


def _p256_hash_with(world: World, hash_name: str) -> dict[str, Any]:
    """An ecdsa-rdfc-2019 P-256 credential whose signature covers hashes of another algorithm than SHA-256."""
    signer, did = _did_key_signer(KeyType.P256)
    signed = add_proof(alumni(did), signer, cryptosuite="ecdsa-rdfc-2019")
    unsecured = {k: v for k, v in signed.items() if k != "proof"}
    config = {k: v for k, v in signed["proof"].items() if k != "proofValue"}
    config["@context"] = unsecured["@context"]
    data = hash_data("ecdsa-rdfc-2019", unsecured, config, KeyType.P384 if hash_name == "sha384" else KeyType.P256)
    signed["proof"]["proofValue"] = encode_base58btc(signer.sign(data))
    return signed


def test_another_digest_is_refused(world: World) -> None:
    """A P-256 proof over SHA-384 hashes does not verify; the same construction with SHA-256 does (control)."""
    verified(world.verify(_p256_hash_with(world, "sha256")))
    refused(world.verify(_p256_hash_with(world, "sha384")), PROBLEM_TYPES["proof"], "signature")


def test_jcs_signature_relabelled_as_rdfc_is_refused(world: World) -> None:
    """A proof made over the JCS form, relabelled eddsa-rdfc-2022, does not verify (non-RDFC canonicalization)."""
    jcs = _signed(world, "key-ed25519-jcs")
    proof = {k: v for k, v in jcs["proof"].items() if k != "@context"}
    refused(world.verify({**jcs, "proof": {**proof, "cryptosuite": "eddsa-rdfc-2022"}}), PROBLEM_TYPES["proof"])


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"verifiableCredential": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}, "is a string"),
        ({"verifiableCredential": ["x"]}, "JSON object"),
        ({}, "needs verifiableCredential"),
        ({"verifiableCredential": {}, "extra": 1}, "unknown members"),
        ({"verifiableCredential": {}, "options": []}, "options must be an object"),
        ({"verifiableCredential": {}, "options": {"challenge": "c"}}, "does not take"),
        ({"verifiableCredential": {}, "options": {"checks": "proof"}}, "array"),
        ({"verifiableCredential": {}, "options": {"checks": ["telepathy"]}}, "telepathy"),
    ],
)
def test_malformed_requests_are_refused(world: World, body: dict[str, Any], detail: str) -> None:
    """A credential sent as a string, missing or unknown members, bad options: 400 invalidVerifyRequest."""
    response = world.client.post("/credentials/verify", json=body)
    assert refused(response, PROBLEM_TYPES["parsing"], detail)["code"] == "invalidVerifyRequest"


def test_bodies_that_are_not_json_or_too_large_are_refused(tmp_path: Path) -> None:
    """Not JSON: 400; over max_body_bytes: 413; both ProblemDetails."""
    small = _world(tmp_path, max_body_bytes=2048)
    response = small.client.post(
        "/credentials/verify", content=b"{not json", headers={"content-type": "application/json"}
    )
    refused(response, PROBLEM_TYPES["parsing"])
    big = small.client.post("/credentials/verify", json={"verifiableCredential": {"x": "a" * 4096}})
    assert big.status_code == 413
    assert big.headers["content-type"] == PROBLEM


def test_verification_is_rate_limited(tmp_path: Path) -> None:
    """Past presentation_rate_per_minute requests from one address: 429 with Retry-After."""
    small = _world(tmp_path, presentation_rate_per_minute=2)
    signed = _signed(small)
    verified(small.verify(signed))
    verified(small.verify(signed))
    limited = small.verify(signed)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1


def test_model_errors_are_refused(world: World) -> None:
    """A signed credential that breaks the data model (no subject) or has undefined terms (JCS) is refused."""
    signer, did = _did_key_signer(KeyType.ED25519)
    no_subject = {k: v for k, v in alumni(did).items() if k != "credentialSubject"}
    refused(world.verify(add_proof(no_subject, signer, cryptosuite="eddsa-jcs-2022")), PROBLEM_TYPES["malformed"])
    undefined = alumni(did)
    undefined["@context"] = [CREDENTIALS_V2]
    undefined["credentialSubject"] = {"id": "did:example:1", "undefinedTerm": 1}
    refused(world.verify(add_proof(undefined, signer, cryptosuite="eddsa-jcs-2022")), PROBLEM_TYPES["malformed"])
    not_yet = add_proof(alumni(did, validFrom="2099-01-01T00:00:00Z"), signer, cryptosuite="eddsa-rdfc-2022")
    refused(world.verify(not_yet), PROBLEM_TYPES["range"], "valid from")


# -- envelopes, related resources, schemas ----------------------------------------------------------------------------


def test_envelopes_are_checked(world: World) -> None:
    """Only a v2 EnvelopedVerifiableCredential with a data: URL of a known media type is verified."""
    secured = world.issue(alumni(), "web-jwt")
    verified(world.verify(secured))
    token = secured["id"].removeprefix("data:application/vc+jwt,")
    for bad, detail in (
        ({**secured, "id": f"data:application/vp+jwt,{token}"}, "media type"),
        ({**secured, "id": token}, "data: URL"),
        ({**secured, "@context": [CREDENTIALS_V1]}, "@context"),
        ({**secured, "id": "data:application/vc+jwt,not-a-jwt"}, "compact JWS"),
    ):
        refused(world.verify(bad), detail=detail)


def _data_url(text: bytes) -> str:
    return "data:application/json;base64," + base64.b64encode(text).decode()


def test_related_resource_digests_of_data_urls_are_checked(world: World) -> None:
    """digestSRI and digestMultibase (multihash or bare) of a data: resource must match; others are warnings."""
    signer, did = _did_key_signer(KeyType.ED25519)
    content = b'{"hello": "world"}'
    sri = "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()
    multihash = "u" + b64url_encode(bytes([0x12, 0x20]) + hashlib.sha256(content).digest())
    bare = "u" + b64url_encode(hashlib.sha256(content).digest())
    resources = [
        {"id": _data_url(content), "digestSRI": sri},
        {"id": _data_url(content) + "#2", "digestMultibase": multihash},
        {"id": _data_url(content) + "#3", "digestMultibase": bare},
        {"id": "https://www.w3.org/ns/credentials/v2", "digestSRI": sri},
    ]
    good = add_proof(alumni(did, relatedResource=resources), signer, cryptosuite="eddsa-rdfc-2022")
    body = verified(world.verify(good))
    assert "relatedResource" in body["checks"]
    assert [w["title"] for w in body["warnings"]] == ["relatedResourceNotChecked"]
    wrong = [{"id": _data_url(b"other"), "digestSRI": sri}]
    refused(
        world.verify(add_proof(alumni(did, relatedResource=wrong), signer, cryptosuite="eddsa-rdfc-2022")),
        detail="digestSRI",
    )
    wrong = [{"id": _data_url(b"other"), "digestMultibase": multihash}]
    refused(
        world.verify(add_proof(alumni(did, relatedResource=wrong), signer, cryptosuite="eddsa-rdfc-2022")),
        detail="digestMultibase",
    )
    for bad in (
        [resources[0], resources[0]],
        [{"digestSRI": sri}],
        [{"id": "https://x.example/"}],
        ["https://x.example/"],
    ):
        refused(world.verify(add_proof(alumni(did, relatedResource=bad), signer, cryptosuite="eddsa-jcs-2022")))


def test_credential_schemas_are_reported_as_not_checked(world: World) -> None:
    """A credentialSchema is valid in shape but never fetched: the answer says so in a warning."""
    signer, did = _did_key_signer(KeyType.ED25519)
    schema = {"id": "https://schemas.example/alumni.json", "type": "JsonSchema"}
    body = verified(
        world.verify(add_proof(alumni(did, credentialSchema=schema), signer, cryptosuite="eddsa-rdfc-2022"))
    )
    assert [w["title"] for w in body["warnings"]] == ["credentialSchemaNotChecked"]
    no_type = add_proof(
        alumni(did, credentialSchema={"id": "https://s.example/"}), signer, cryptosuite="eddsa-jcs-2022"
    )
    refused(world.verify(no_type), PROBLEM_TYPES["malformed"], "credentialSchema")


# -- presentations ----------------------------------------------------------------------------------------------------


def _presentation(holder: str | None, credentials: list[Any], version: str = CREDENTIALS_V2) -> dict[str, Any]:
    presentation: dict[str, Any] = {
        "@context": [version] if version == CREDENTIALS_V2 else [version, DATA_INTEGRITY_CONTEXT],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": credentials,
    }
    if holder is not None:
        presentation["holder"] = holder
    return presentation


def _signed_vp(
    credentials: list[Any], challenge: str | None = CHALLENGE, domain: str | None = DOMAIN, **kw: Any
) -> dict[str, Any]:
    signer, did = _did_key_signer(KeyType.ED25519)
    return add_proof(
        _presentation(did, credentials, **kw),
        signer,
        cryptosuite="eddsa-rdfc-2022",
        proof_purpose="authentication",
        challenge=challenge,
        domain=domain,
    )


def test_signed_presentations_verify_with_their_challenge_and_domain(world: World) -> None:
    """A holder-signed VP with the options' challenge and domain verifies, with its embedded credentials."""
    credentials = [world.issue(alumni(), name) for name in NAMES]
    body = verified(world.verify_vp(_signed_vp(credentials), challenge=CHALLENGE, domain=DOMAIN))
    assert {"proof", "holder", "issuer"} <= set(body["checks"])
    v1 = _signed_vp([world.issue(v11(), "key-p256")], version=CREDENTIALS_V1)
    verified(world.verify_vp(v1, challenge=CHALLENGE, domain=DOMAIN))


def test_presentation_challenge_domain_and_holder_are_enforced(world: World) -> None:
    """A missing or other challenge or domain, a holder who did not sign, a tampered credential: refused."""
    credential = world.issue(alumni(), "key-ed25519")
    vp = _signed_vp([credential])
    refused(world.verify_vp(vp, challenge="other", domain=DOMAIN), PROBLEM_TYPES["challenge"])
    refused(world.verify_vp(vp, challenge=CHALLENGE, domain="other.example"), PROBLEM_TYPES["domain"])
    no_challenge = _signed_vp([credential], challenge=None)
    refused(world.verify_vp(no_challenge, challenge=CHALLENGE, domain=DOMAIN), PROBLEM_TYPES["challenge"])
    no_domain = _signed_vp([credential], domain=None)
    refused(world.verify_vp(no_domain, challenge=CHALLENGE, domain=DOMAIN), PROBLEM_TYPES["domain"])
    verified(world.verify_vp(no_domain, challenge=CHALLENGE))
    _, stranger = _did_key_signer(KeyType.ED25519)
    other_holder = {**vp, "holder": stranger}
    refused(world.verify_vp(other_holder, challenge=CHALLENGE, domain=DOMAIN), PROBLEM_TYPES["proof"])
    signer, did = _did_key_signer(KeyType.ED25519)
    impostor = add_proof(
        _presentation(stranger, [credential]),
        signer,
        cryptosuite="eddsa-rdfc-2022",
        proof_purpose="authentication",
        challenge=CHALLENGE,
        domain=DOMAIN,
    )
    refused(world.verify_vp(impostor, challenge=CHALLENGE, domain=DOMAIN), PROBLEM_TYPES["proof"], "holder")
    assertion = add_proof(
        _presentation(did, [credential]), signer, cryptosuite="eddsa-rdfc-2022", challenge=CHALLENGE, domain=DOMAIN
    )
    refused(world.verify_vp(assertion, challenge=CHALLENGE, domain=DOMAIN), PROBLEM_TYPES["proof"], "proofPurpose")
    with_forgery = _signed_vp([_tamper(credential)])
    refused(world.verify_vp(with_forgery, challenge=CHALLENGE, domain=DOMAIN), PROBLEM_TYPES["proof"], "signature")


def test_unsigned_presentations_only_without_challenge_or_domain(world: World) -> None:
    """An unsigned VP verifies (warning unsignedPresentation) only when the options name no challenge or domain."""
    credential = world.issue(alumni(), "key-p384")
    unsigned = _presentation(None, [credential])
    body = verified(world.verify_vp(unsigned))
    assert [w["title"] for w in body["warnings"]] == ["unsignedPresentation"]
    refused(world.verify_vp(unsigned, challenge=CHALLENGE), PROBLEM_TYPES["proof"], "no proof")
    refused(world.verify_vp(unsigned, domain=DOMAIN), PROBLEM_TYPES["proof"], "no proof")
    refused(world.verify_vp({**unsigned, "proof": None}), PROBLEM_TYPES["proof"], "no proof")
    refused(world.verify_vp(_presentation(None, [_tamper(credential)])), PROBLEM_TYPES["proof"])
    refused(world.verify_vp(_presentation(None, ["eyJ.e30.c2ln"])), PROBLEM_TYPES["parsing"], "string")
    refused(
        world.verify_vp(_presentation(None, [{k: v for k, v in credential.items() if k != "proof"}])), detail="no proof"
    )
    refused(world.verify_vp({**unsigned, "type": ["Presentation"]}), PROBLEM_TYPES["malformed"])
    refused(world.client.post("/presentations/verify", json={"verifiablePresentation": "x"}), PROBLEM_TYPES["parsing"])


# -- never a 500 ---------------------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/credentials/verify", "/presentations/verify"]),
    mutation=st.dictionaries(
        st.sampled_from(["@context", "type", "issuer", "proof", "credentialSubject", "validFrom", "holder", "id"]),
        _json,
        max_size=3,
    ),
    options=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["checks", "challenge", "domain"]), _json, max_size=2)
    ),
)
def test_arbitrary_inputs_give_a_verification_or_a_problem(
    world: World, path: str, mutation: dict[str, Any], options: Any
) -> None:
    """Mutated credentials and presentations never cause a 500: 200 verified or a 4xx ProblemDetails."""
    if not hasattr(world, "_signed"):
        world._signed = _signed(world)  # type: ignore[attr-defined]
    credential = {**world._signed, **mutation}  # type: ignore[attr-defined]
    name = "verifiableCredential" if path.startswith("/credentials") else "verifiablePresentation"
    document = credential if name == "verifiableCredential" else {**_presentation(None, [credential]), **mutation}
    response = world.client.post(path, json={name: document, "options": options})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.headers["content-type"] == PROBLEM


def test_the_core_is_usable_without_http(world: World) -> None:
    """VcApiVerifier answers the VCALM object directly (what a composition root or CLI could call)."""
    service = VcApiVerifier(world.verifier)
    answer = service.verify_credential({"verifiableCredential": _signed(world, "key-p256")})
    assert answer["verified"] is True
    assert answer["errors"] == []


def test_rdfc_presentations_accept_contexts_only_where_credentials_and_their_proofs_start() -> None:
    """check_plain_json lets an embedded credential (and its proofs) name context URLs, nothing deeper or inline."""
    embedded = {"@context": [CREDENTIALS_V2], "type": "VerifiableCredential", "proof": {"@context": [CREDENTIALS_V2]}}
    check_plain_json({"@context": [CREDENTIALS_V2], "verifiableCredential": [embedded, embedded]})
    check_plain_json({"@context": [CREDENTIALS_V2], "verifiableCredential": embedded})
    inline = {**embedded, "@context": [CREDENTIALS_V2, {"alumniOf": "https://evil.example/x"}]}
    with pytest.raises(DataIntegrityError, match="inline @context"):
        check_plain_json({"@context": [CREDENTIALS_V2], "verifiableCredential": [inline]})
    deeper = {**embedded, "credentialSubject": {"@context": [CREDENTIALS_V2]}}
    with pytest.raises(DataIntegrityError, match="credentialSubject"):
        check_plain_json({"@context": [CREDENTIALS_V2], "verifiableCredential": [deeper]})
    with pytest.raises(DataIntegrityError, match="evidence"):
        check_plain_json({"@context": [CREDENTIALS_V2], "evidence": {"@context": [CREDENTIALS_V2]}})


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"credentialSubject": {}}, "credentialSubject"),
        ({"evidence": {"id": "https://e.example/1"}}, "evidence type"),
        ({"refreshService": [{"id": "https://r.example/1", "type": []}]}, "refreshService type"),
        ({"termsOfUse": {"id": "https://t.example/1"}}, "termsOfUse type"),
        ({"relatedResource": {"id": "https://x.example/", "digestSRI": 5}}, "digestSRI or digestMultibase"),
        ({"relatedResource": [{"id": "not a url", "digestSRI": "sha256-x"}]}, "must be a URL"),
    ],
)
def test_data_model_shapes_a_verifier_checks(extra: dict[str, Any], named: str) -> None:
    """vc.model refuses an empty subject, evidence/refreshService/termsOfUse without a type, bad related resources."""
    with pytest.raises(CredentialModelError, match=named):
        validate_credential({**alumni("did:example:issuer"), **extra})
    fine = {"id": "https://e.example/1", "type": ["Evidence", "Other"]}
    validate_credential({**alumni("did:example:issuer"), "evidence": fine, "termsOfUse": fine, "refreshService": fine})


def _schema_url(schema: Any) -> str:
    return "data:application/schema+json;base64," + base64.b64encode(json.dumps(schema).encode()).decode()


ALUMNI_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["credentialSubject"],
    "properties": {
        "credentialSubject": {
            "type": "object",
            "required": ["alumniOf"],
            "properties": {"alumniOf": {"type": "string", "maxLength": 64}},
        }
    },
}


def _with_schema(schema: Any, schema_type: str = "JsonSchema") -> dict[str, Any]:
    signer, did = _did_key_signer(KeyType.ED25519)
    entry = {"id": _schema_url(schema), "type": schema_type}
    return add_proof(alumni(did, credentialSchema=entry), signer, cryptosuite="eddsa-rdfc-2022")


def test_json_schemas_given_as_data_urls_are_checked(world: World) -> None:
    """The credential must match a data: JsonSchema (2020-12 or the draft it names); a mismatch names no value."""
    body = verified(world.verify(_with_schema(ALUMNI_SCHEMA)))
    assert "credentialSchema" in body["checks"]
    assert body["warnings"] == []
    draft7 = {**ALUMNI_SCHEMA, "$schema": "http://json-schema.org/draft-07/schema#"}
    assert "credentialSchema" in verified(world.verify(_with_schema(draft7)))["checks"]
    integer = copy.deepcopy(ALUMNI_SCHEMA)
    integer["properties"]["credentialSubject"]["properties"]["alumniOf"] = {"type": "integer"}
    mismatch = refused(world.verify(_with_schema(integer)), PROBLEM_TYPES["malformed"], "credentialSubject/alumniOf")
    assert "School" not in json.dumps(mismatch)  # the claim's value is never echoed
    assert mismatch["errors"][0]["title"] == "credentialSchemaMismatch"
    refused(world.verify(_with_schema({"type": 5})), PROBLEM_TYPES["malformed"], "not a valid JSON Schema")
    refused(world.verify(_with_schema([1, 2])), PROBLEM_TYPES["malformed"], "not a JSON Schema")
    refused(world.verify(_with_schema(False)), PROBLEM_TYPES["malformed"], "does not match")
    hostile_schemas: list[dict[str, Any]] = [{"$schema": []}, {"$schema": 5}, {"enum": ["x" * 20_000]}]
    for hostile in hostile_schemas:
        refused(world.verify(_with_schema(hostile)), PROBLEM_TYPES["malformed"])


@pytest.mark.parametrize(
    ("schema", "schema_type"),
    [
        ({"properties": {"id": {"pattern": "^(a+)+$"}}}, "JsonSchema"),
        ({"$ref": "https://schemas.example/alumni.json"}, "JsonSchema"),
        ({"$ref": "#"}, "JsonSchema"),
        ({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}] * 2}}, "$ref": "#/$defs/a"}, "JsonSchema"),
        (ALUMNI_SCHEMA, "JsonSchemaCredential"),
    ],
)
def test_schemas_it_cannot_check_are_warnings(world: World, schema: Any, schema_type: str) -> None:
    """Regular expressions, remote references and other schema types are not evaluated: verified with a warning."""
    body = verified(world.verify(_with_schema(schema, schema_type)))
    assert [w["title"] for w in body["warnings"]] == ["credentialSchemaNotChecked"]
    assert "credentialSchema" not in body["checks"]


@pytest.mark.parametrize("configuration", [SD_JWT, LDP_VC, JWT_VC])
def test_xid_identity_credentials_verify_until_revoked(tmp_path: Path, configuration: str) -> None:
    """The issuer's own identity credentials (dc+sd-jwt with a Token Status List, ldp_vc with Bitstring Status
    Lists, both served by the issuer's routes) verify until revoked; jwt_vc_json is not a vc+jwt envelope."""
    engine = open_engine(f"sqlite:///{tmp_path / 'credentials.db'}")
    create_issuer_schema(engine)
    issuer = make_issuer(engine, None)  # type: ignore[arg-type]  # issuing credentials never consults the trust
    holder = SoftwareSigner.generate(KeyType.P256)
    with transaction(engine, write=True) as conn:
        credential = issuer.issue(conn, configuration, facts(), holder.public_jwk)
    with transaction(engine) as conn:
        credential_id = conn.execute(select(credentials_table.c.id)).scalar_one()
    document = issuer.did_document()
    ctx = dataclasses.replace(
        _verifier_context(_issuer_context(tmp_path), MemoryStatus()),
        resolver=Resolver.standard(PureMethodResolver("web", lambda did: DidDocument(document))),
        status_source=issuer.fetch,
    )
    from starlette.applications import Starlette

    client = AsgiClient(Starlette(routes=routes(ctx)))
    media = {SD_JWT: "dc+sd-jwt", JWT_VC: "vc+jwt"}.get(configuration)
    body = {"verifiableCredential": credential}
    if media is not None:
        envelope = {"@context": CREDENTIALS_V2, "type": "EnvelopedVerifiableCredential"}
        body = {"verifiableCredential": {**envelope, "id": f"data:application/{media},{credential}"}}
    if configuration == JWT_VC:
        refused(client.post("/credentials/verify", json=body), PROBLEM_TYPES["malformed"], "typ vc+jwt")
        return
    answer = verified(client.post("/credentials/verify", json=body))
    assert answer["checks"] == ["proof", "issuer", "validity", "credentialStatus"]
    with transaction(engine, write=True) as conn:
        assert revoke(issuer.ctx, conn, credential_id)
    refused(client.post("/credentials/verify", json=body), PROBLEM_TYPES["status"], "revoked")
    engine.dispose()


_SIGNER, _SIGNER_DID = _did_key_signer(KeyType.ED25519)
_texts = st.text(alphabet=st.characters(codec="ascii"), max_size=40)
_data_urls = st.builds(lambda head, data: f"data:{head},{data}", _texts, _texts)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    resource=st.fixed_dictionaries(
        {"id": _data_urls | _texts},
        optional={"digestSRI": _texts | st.builds(lambda t: "sha384-" + t, _texts), "digestMultibase": _texts},
    ),
    schema=st.fixed_dictionaries({"id": _data_urls, "type": st.sampled_from(["JsonSchema", "Other"])}),
    envelope=_data_urls,
)
def test_signed_credentials_with_arbitrary_resources_schemas_and_envelopes_never_raise_otherwise(
    world: World, resource: dict[str, Any], schema: dict[str, Any], envelope: str
) -> None:
    """Whatever a signed credential's related resources, schemas or an envelope's data: URL hold, the core answers
    or raises a VcApiVerifyError (the routes' 400), nothing else."""
    service = VcApiVerifier(world.verifier)
    signed = add_proof(
        alumni(_SIGNER_DID, relatedResource=resource, credentialSchema=schema), _SIGNER, cryptosuite="eddsa-jcs-2022"
    )
    enveloped = {"@context": CREDENTIALS_V2, "type": "EnvelopedVerifiableCredential", "id": envelope}
    for credential in (signed, enveloped):
        codes: list[str] = []
        try:
            answer = service.verify_credential({"verifiableCredential": credential})
        except VcApiVerifyError as exc:
            codes.append(exc.code)
        else:
            assert credential is signed  # no arbitrary data: URL is a verifiable envelope
            assert answer["verified"] is True
        assert set(codes) <= {"notVerified", "invalidVerifyRequest"}
