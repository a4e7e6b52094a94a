"""The W3C VC API issuing service: every instance issues what our verifier and digitalbazaar's verify; invalid
credentials, wrong issuers, bad options, missing or wrong tokens and oversized bodies are refused with nothing
recorded; status entries are added, recorded and flipped through ``/credentials/status``."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select
from starlette.applications import Starlette

from did import DidDocument, KeyType, PublicKey, Resolver, SoftwareSigner, did_key, parse_did_url, web_document
from did.multibase import decode
from did.resolver import PureMethodResolver
from foundation.b64 import b64url_decode, b64url_encode
from foundation.db import open_engine, transaction
from foundation.web import EXCEPTION_HANDLERS
from issuer.context import IssuerContext, IssuerSettings
from issuer.contracts import StatusEntry, StatusKind, StatusPurpose
from issuer.db import create_schema
from issuer.vc_api import (
    CREDENTIALS_V1,
    DATA_INTEGRITY_CONTEXT,
    Instance,
    VcApiError,
    VcApiService,
    check_token,
    instances,
    instances_json,
    vc_api_status,
)
from issuer.vc_api_routes import routes
from tests.helpers import AsgiClient, require_component, run_node
from tests.issuer.conftest import ServedCA
from vc.data_integrity import ProofSignatureError, verify_proof
from vc.jose import JwsSignatureError
from vc.model import CREDENTIALS_V2
from vc.status_list import BitstringStatusList
from vc.verify import CredentialRevokedError, CredentialSuspendedError, CredentialVerifier

TOKEN = "vc-api-test-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
NAMES = ("key-ed25519", "key-ed25519-jcs", "key-p256", "key-p384", "web", "web-jwt")
DI_NAMES = NAMES[:-1]
PEERS = Path(__file__).parent.parent / "interop" / "vc"
STATUS_BASE = "http://127.0.0.1:8000/status/bitstring"


# -- fixtures and fakes ---------------------------------------------------------------------------------------------


class MemoryStatus:
    """A StatusAllocator over real in-memory bitstrings (one list per issuer and purpose), publishing signed lists."""

    def __init__(self) -> None:
        self.lists: dict[str, tuple[str, str, BitstringStatusList]] = {}
        self.next_index: dict[str, int] = {}
        self.signers: dict[str, Instance] = {}

    def allocate(self, conn: Connection, kind: StatusKind, purpose: StatusPurpose, issuer: str) -> StatusEntry:
        """The next index of the issuer's list for the purpose (a 131,072-entry list, 16 KiB)."""
        assert kind == "bitstring"
        list_id = next((k for k, (o, p, _) in self.lists.items() if (o, p) == (issuer, purpose)), None)
        if list_id is None:
            list_id = str(len(self.lists) + 1)
            self.lists[list_id] = (issuer, purpose, BitstringStatusList())
        index = self.next_index.get(list_id, 7)
        self.next_index[list_id] = index + 1
        return StatusEntry("bitstring", purpose, list_id, index, f"{STATUS_BASE}/{list_id}")

    def set_status(self, conn: Connection, list_id: str, index: int, value: int) -> None:
        """Set a bit of a list."""
        self.lists[list_id][2].set(index, value)

    def bits_set(self) -> int:
        """How many entries of all lists are set."""
        return sum(sum(bits.get(i) for i in range(len(bits))) for _, _, bits in self.lists.values())

    def publish(self, url: str) -> dict[str, Any]:
        """The status list credential at a URL, secured by the issuer's first Data Integrity instance."""
        list_id = url.removeprefix(STATUS_BASE + "/")
        issuer, purpose, bits = self.lists[list_id]
        unsecured = bits.credential(url, issuer, purpose, "2026-01-01T00:00:00Z")
        signer = self.signers[issuer]
        from vc.data_integrity import add_proof

        return add_proof(
            unsecured, signer.signer, cryptosuite=signer.cryptosuite, verification_method=signer.verification_method
        )


def _vc_context(base: IssuerContext, token: str | None = TOKEN) -> IssuerContext:
    return dataclasses.replace(
        base,
        settings=dataclasses.replace(base.settings, vc_api_token=token, max_body_bytes=16 * 1024),
        vc_api_signers={
            "ed25519": SoftwareSigner.generate(KeyType.ED25519),
            "p256": SoftwareSigner.generate(KeyType.P256),
            "p384": SoftwareSigner.generate(KeyType.P384),
        },
    )


@dataclasses.dataclass
class Api:
    """A VC API app over a context, with its fake status lists and an HTTP client."""

    ctx: IssuerContext
    status: MemoryStatus
    client: AsgiClient

    def instance(self, name: str) -> Instance:
        return next(i for i in instances(self.ctx) if i.name == name)

    def issue(self, credential: Mapping[str, Any], name: str | None = None, **options: Any) -> Any:
        path = "/credentials/issue" if name is None else f"/instances/{name}/credentials/issue"
        body: dict[str, Any] = {"credential": credential}
        if options:
            body["options"] = options
        return self.client.post(path, json=body, headers=AUTH)

    def rows(self) -> int:
        with transaction(self.ctx.engine) as conn:
            return int(conn.execute(select(func.count()).select_from(vc_api_status)).scalar_one())

    def resolver(self) -> Resolver:
        """did:key, and the issuer's did:web document as the composition root will serve it."""
        ctx = self.ctx
        keys = [
            ("es256", PublicKey.from_jwk(ctx.es256.public_jwk)),
            ("ed25519", PublicKey.from_jwk(ctx.ed25519.public_jwk)),
        ]
        document = web_document(ctx.did, keys)
        web = PureMethodResolver("web", lambda did: DidDocument(document, expected_id=str(did)), cacheable=True)
        return Resolver.standard(web)

    def did_documents(self) -> dict[str, Any]:
        ctx = self.ctx
        keys = [
            ("es256", PublicKey.from_jwk(ctx.es256.public_jwk)),
            ("ed25519", PublicKey.from_jwk(ctx.ed25519.public_jwk)),
        ]
        return {ctx.did: web_document(ctx.did, keys)}

    def verifier(self) -> CredentialVerifier:
        return CredentialVerifier(self.resolver(), self.status.publish)


def _api(ctx: IssuerContext) -> Api:
    status = MemoryStatus()
    for instance in instances(ctx):
        if instance.cryptosuite != "vc+jwt":
            status.signers.setdefault(instance.id, instance)
    app = Starlette(routes=routes(ctx, status), exception_handlers=dict(EXCEPTION_HANDLERS))
    return Api(ctx, status, AsgiClient(app))


@pytest.fixture
def api(issuer_context: IssuerContext) -> Api:
    """The VC API on SQLite and PostgreSQL (for what touches the store)."""
    return _api(_vc_context(issuer_context))


@pytest.fixture
def lite(tmp_path: Path, served_ca: ServedCA, issuer_context_factory: Any) -> Api:
    """The VC API on SQLite only (for what never touches the store: issuing without status)."""
    return _api(_vc_context(issuer_context_factory(tmp_path)))


@pytest.fixture
def issuer_context_factory(served_ca: ServedCA) -> Any:
    """Builds an issuer context on a fresh SQLite file."""
    from issuer.context import OperatorSecrets
    from jpki_bridge.revocation import OcspProvider

    def make(tmp_path: Path) -> IssuerContext:
        engine: Engine = open_engine(f"sqlite:///{tmp_path / 'issuer.db'}")
        create_schema(engine)
        return IssuerContext(
            base_url="http://127.0.0.1:8000",
            did="did:web:127.0.0.1%3A8000",
            engine=engine,
            es256=SoftwareSigner.generate(KeyType.P256),
            ed25519=SoftwareSigner.generate(KeyType.ED25519),
            ca_signer=SoftwareSigner.generate(KeyType.P256),
            secrets=OperatorSecrets.generate(),
            trust=served_ca.ca.trust_anchors(),
            revocation=OcspProvider(),
            settings=IssuerSettings(),
        )

    return make


def alumni(issuer: Any = None, **extra: Any) -> dict[str, Any]:
    """A VC 2.0 example credential (issuer omitted when None)."""
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V2, EXAMPLES_V2],
        "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "validFrom": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:ebfeb1f712ebc6f1c276e12ec21", "alumniOf": "The School of Examples"},
        **extra,
    }
    if issuer is not None:
        credential["issuer"] = issuer
    return credential


def v11(issuer: Any = None) -> dict[str, Any]:
    """A VC 1.1 credential using only terms of the VC 1.1 context."""
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V1],
        "id": "urn:uuid:0b7a1c4e-1111-4a00-9a4f-2b7c3d9e8f01",
        "type": ["VerifiableCredential"],
        "issuanceDate": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:ebfeb1f712ebc6f1c276e12ec21"},
    }
    if issuer is not None:
        credential["issuer"] = issuer
    return credential


def unwrap(secured: Any) -> str | dict[str, Any]:
    """A vc+jwt token out of its EnvelopedVerifiableCredential; a Data Integrity credential as it is."""
    assert isinstance(secured, dict)
    if secured.get("type") == "EnvelopedVerifiableCredential":
        assert secured["@context"] == [CREDENTIALS_V2]
        prefix = "data:application/vc+jwt,"
        assert secured["id"].startswith(prefix)
        return str(secured["id"][len(prefix) :])
    return secured


def node_verify(credential: dict[str, Any], did_documents: dict[str, Any]) -> dict[str, Any]:
    """digitalbazaar's verifyCredential on a Data Integrity credential (di.mjs)."""
    return run_node(PEERS / "di.mjs", "verify", request={"credential": credential, "didDocuments": did_documents})


def node_jose_verify(token: str, jwk: dict[str, Any]) -> dict[str, Any]:
    """panva's jose on a vc+jwt (jose.mjs)."""
    done = subprocess.run(
        ["node", str(PEERS / "jose.mjs"), "verify"],
        input=json.dumps({"jwt": token, "jwk": jwk, "typ": "vc+jwt"}),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PEERS,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def require_node() -> None:
    require_component(shutil.which("node") is not None, "node")
    require_component((PEERS / "node_modules").exists(), "npm peers in tests/interop/vc (run make interop)")


# -- instances ------------------------------------------------------------------------------------------------------


def test_instances_json_lists_each_identifier_and_mechanism(lite: Api) -> None:
    listed = instances_json(lite.ctx)
    assert [(i["name"], i["cryptosuite"]) for i in listed] == [
        ("key-ed25519", "eddsa-rdfc-2022"),
        ("key-ed25519-jcs", "eddsa-jcs-2022"),
        ("key-p256", "ecdsa-rdfc-2019"),
        ("key-p384", "ecdsa-rdfc-2019"),
        ("web", "eddsa-rdfc-2022"),
        ("web-jwt", "vc+jwt"),
    ]
    signers = lite.ctx.vc_api_signers
    assert listed[0]["id"] == listed[1]["id"] == did_key.create(PublicKey.from_jwk(signers["ed25519"].public_jwk))
    assert listed[2]["id"] == did_key.create(PublicKey.from_jwk(signers["p256"].public_jwk))
    assert listed[3]["id"].startswith("did:key:z82L")
    assert listed[4]["id"] == listed[5]["id"] == lite.ctx.did
    for item in listed:
        assert set(item) == {"id", "name", "cryptosuite", "issue", "status"}
        assert item["issue"] == f"http://127.0.0.1:8000/instances/{item['name']}/credentials/issue"
        assert item["status"] == f"http://127.0.0.1:8000/instances/{item['name']}/credentials/status"


def test_instances_without_vc_api_signers_are_only_did_web(lite: Api) -> None:
    bare = dataclasses.replace(lite.ctx, vc_api_signers={})
    assert [i.name for i in instances(bare)] == ["web", "web-jwt"]


# -- issuing: every instance, verified by ours and by digitalbazaar/jose ------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_instance_issues_what_our_verifier_accepts(lite: Api, name: str) -> None:
    instance = lite.instance(name)
    answer = lite.issue(alumni(instance.id), name)
    assert answer.status_code == 201, answer.text
    secured = unwrap(answer.json()["verifiableCredential"])
    result = lite.verifier().verify(secured)
    assert result.issuer == instance.id
    assert result.verification_method == instance.verification_method
    assert result.claims["credentialSubject"]["alumniOf"] == "The School of Examples"
    if isinstance(secured, dict):
        proof = secured["proof"]
        assert (proof["type"], proof["cryptosuite"], proof["proofPurpose"]) == (
            "DataIntegrityProof",
            instance.cryptosuite,
            "assertionMethod",
        )
        assert proof["proofValue"].startswith("z")
        assert len(decode(proof["proofValue"])) == {"key-p384": 96}.get(name, 64)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", proof["created"])
        assert str(parse_did_url(proof["verificationMethod"]).did) == instance.id
        method = lite.resolver().dereference(proof["verificationMethod"], "assertionMethod")
        assert method.public_key == PublicKey.from_jwk(instance.signer.public_jwk)
        header = {"key-p256": "zDna", "key-p384": "z82L"}.get(name, "z6Mk")
        assert method.to_json()["publicKeyMultibase"].startswith(header)  # base58btc Multikey, per the suites
        assert ("@context" in proof) == (instance.cryptosuite == "eddsa-jcs-2022")
        forged = copy.deepcopy(secured)
        forged["credentialSubject"]["alumniOf"] = "The School of Forgeries"
        with pytest.raises(ProofSignatureError):
            lite.verifier().verify(forged)
    else:
        head, payload, signature = secured.split(".")
        claims = json.loads(b64url_decode(payload))
        claims["credentialSubject"]["alumniOf"] = "The School of Forgeries"
        forged_token = f"{head}.{b64url_encode(json.dumps(claims).encode())}.{signature}"
        with pytest.raises(JwsSignatureError):
            lite.verifier().verify(forged_token)


@pytest.mark.parametrize("name", NAMES)
def test_each_instance_issues_what_an_independent_verifier_accepts(lite: Api, name: str) -> None:
    require_node()
    instance = lite.instance(name)
    secured = unwrap(lite.issue(alumni(instance.id), name).json()["verifiableCredential"])
    if isinstance(secured, str):
        result = node_jose_verify(secured, lite.ctx.es256.public_jwk)
        assert result["verified"] is True, result
        assert result["payload"]["issuer"] == instance.id
        assert result["header"]["kid"] == lite.ctx.es256_kid
        other = node_jose_verify(secured, SoftwareSigner.generate(KeyType.P256).public_jwk)
        assert other["verified"] is False
        return
    assert node_verify(secured, lite.did_documents()) == {"verified": True}
    forged = copy.deepcopy(secured)
    forged["credentialSubject"]["alumniOf"] = "The School of Forgeries"
    assert node_verify(forged, lite.did_documents())["verified"] is False


@pytest.mark.parametrize("name", DI_NAMES)
def test_vc_1_1_credentials_are_issued_with_the_data_integrity_context(lite: Api, name: str) -> None:
    instance = lite.instance(name)
    answer = lite.issue(v11(instance.id), name)
    assert answer.status_code == 201, answer.text
    secured = answer.json()["verifiableCredential"]
    assert secured["@context"] == [CREDENTIALS_V1, DATA_INTEGRITY_CONTEXT]
    assert secured["issuanceDate"] == "2024-01-01T00:00:00Z"
    verified = verify_proof(secured, lite.resolver().dereference)
    assert verified.verification_method == instance.verification_method
    if shutil.which("node") and (PEERS / "node_modules").exists():
        assert node_verify(secured, lite.did_documents()) == {"verified": True}


def test_vc_1_1_without_issuance_date_gets_one(lite: Api) -> None:
    credential = v11()
    del credential["issuanceDate"]
    answer = lite.issue(credential, "key-p256")
    assert answer.status_code == 201, answer.text
    issued = answer.json()["verifiableCredential"]
    assert issued["issuanceDate"].endswith("Z")
    assert issued["issuer"] == lite.instance("key-p256").id


def test_vc_1_1_is_refused_by_the_vc_jwt_instance(lite: Api) -> None:
    answer = lite.issue(v11(lite.ctx.did), "web-jwt")
    assert answer.status_code == 400
    assert "VC 2.0" in answer.json()["detail"]


# -- which instance: issuer filled in, default per identifier, wrong issuers refused ----------------------------


def test_missing_issuer_is_filled_with_the_did_web_instance(lite: Api) -> None:
    answer = lite.issue(alumni())
    assert answer.status_code == 201, answer.text
    issued = answer.json()["verifiableCredential"]
    assert issued["issuer"] == lite.ctx.did
    assert issued["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert issued["proof"]["verificationMethod"] == lite.ctx.ed25519_kid
    lite.verifier().verify(issued)


@pytest.mark.parametrize("name", ["key-ed25519-jcs", "key-p384", "web-jwt"])
def test_missing_issuer_is_filled_with_the_addressed_instance(lite: Api, name: str) -> None:
    answer = lite.issue(alumni(), name)
    assert answer.status_code == 201, answer.text
    assert lite.verifier().verify(unwrap(answer.json()["verifiableCredential"])).issuer == lite.instance(name).id


@pytest.mark.parametrize(("name", "suite"), [("key-ed25519", "eddsa-rdfc-2022"), ("key-p384", "ecdsa-rdfc-2019")])
def test_plain_route_picks_the_default_instance_of_the_issuer(lite: Api, name: str, suite: str) -> None:
    instance = lite.instance(name)
    issued = lite.issue(alumni({"id": instance.id, "name": "Example University"})).json()["verifiableCredential"]
    assert issued["proof"]["cryptosuite"] == suite
    assert issued["proof"]["verificationMethod"] == instance.verification_method
    assert issued["issuer"] == {"id": instance.id, "name": "Example University"}
    lite.verifier().verify(issued)


@pytest.mark.parametrize(
    ("route", "issuer", "status"),
    [
        (None, "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", 400),  # a did:key that is not ours
        (None, "https://issuer.example", 400),
        ("key-ed25519", "did:web:127.0.0.1%3A8000", 400),  # another instance's identifier
        ("web", {"id": "did:example:other"}, 400),
        ("key-p256", {"id": None}, 400),
        ("key-p256", 42, 400),
        ("no-such-instance", None, 404),
    ],
)
def test_wrong_issuer_or_instance_is_refused(api: Api, route: str | None, issuer: Any, status: int) -> None:
    before = api.rows()
    credential = alumni(issuer) if issuer is not None else alumni()
    answer = api.issue(credential, route, credentialStatus={"type": "BitstringStatusListEntry"})
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert set(problem) == {"type", "title", "detail", "code"}
    assert "issuer" in problem["detail"] or "instance" in problem["detail"]
    assert api.rows() == before
    assert api.status.lists == {}


# -- invalid credentials --------------------------------------------------------------------------------------------


def _without(key: str) -> dict[str, Any]:
    credential = alumni()
    del credential[key]
    return credential


INVALID: list[tuple[str, Any, str]] = [
    ("no @context", _without("@context"), "@context"),
    ("wrong first context", alumni(**{"@context": [EXAMPLES_V2, CREDENTIALS_V2]}), "@context"),
    ("context not a list", alumni(**{"@context": CREDENTIALS_V2}), "@context"),
    ("unknown context", alumni(**{"@context": [CREDENTIALS_V2, "https://example.com/ctx/v1"]}), "not bundled"),
    ("no type", _without("type"), "type"),
    ("no VerifiableCredential type", alumni(type=["ExampleAlumniCredential"]), "VerifiableCredential"),
    (
        "undefined type",
        alumni(
            **{"@context": [CREDENTIALS_V2], "type": ["VerifiableCredential", "UndefinedCredentialType"]},
            credentialSubject={"id": "did:example:1"},
        ),
        "UndefinedCredentialType",
    ),
    ("no credentialSubject", _without("credentialSubject"), "credentialSubject"),
    ("empty credentialSubject list", alumni(credentialSubject=[]), "credentialSubject"),
    (
        "undefined term",
        alumni(**{"@context": [CREDENTIALS_V2], "credentialSubject": {"id": "did:example:1", "foo": "bar"}}),
        "foo",
    ),
    (
        "undefined property in a status entry",
        alumni(
            **{"@context": [CREDENTIALS_V2]},
            credentialSubject={"id": "did:example:1"},
            credentialStatus={
                "id": "https://example.com/status/1#3",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "3",
                "statusListCredential": "https://example.com/status/1",
                "undefinedStatusProperty": "x",
            },
        ),
        "undefinedStatusProperty",
    ),
    (
        "status entry with a numeric index",
        alumni(
            credentialStatus={
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": 3,
                "statusListCredential": "https://example.com/status/1",
            }
        ),
        "statusListIndex",
    ),
    ("bad validFrom", alumni(validFrom="2024-01-01"), "validFrom"),
    ("validUntil before validFrom", alumni(validUntil="2023-01-01T00:00:00Z"), "validUntil"),
    ("id not a URL", alumni(id="not a url"), "id"),
    ("already has a proof", alumni(proof={"type": "DataIntegrityProof"}), "proof"),
    ("VC 1.1 with a VC 2.0 date", {**v11(), "validFrom": "2024-01-01T00:00:00Z"}, "issuanceDate"),
    ("VC 1.1 with a bad issuanceDate", {**v11(), "issuanceDate": "yesterday"}, "issuanceDate"),
    ("credential not an object", ["VerifiableCredential"], "credential"),
    ("inline context in an RDFC credential", alumni(**{"@context": [CREDENTIALS_V2, {"a": "urn:a"}]}), "context"),
]


@pytest.mark.parametrize(("what", "credential", "named"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_credentials_are_refused_naming_the_problem(lite: Api, what: str, credential: Any, named: str) -> None:
    answer = lite.issue(credential, "key-ed25519")
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["type"] == "https://www.w3.org/TR/vc-data-model#MALFORMED_VALUE_ERROR"
    assert problem["code"] == "invalidCredentialInput"
    assert named.lower() in problem["detail"].lower(), problem


@pytest.mark.parametrize("name", ["key-ed25519-jcs", "web-jwt"])
def test_undefined_terms_are_refused_by_mechanisms_that_do_not_canonicalize(lite: Api, name: str) -> None:
    credential = alumni(**{"@context": [CREDENTIALS_V2], "credentialSubject": {"id": "did:example:1", "foo": "bar"}})
    answer = lite.issue(credential, name)
    assert answer.status_code == 400
    assert "foo" in answer.json()["detail"]


# -- status ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["key-ed25519", "key-p256"])
def test_status_entry_is_added_recorded_and_flipped(api: Api, name: str) -> None:
    instance = api.instance(name)
    answer = api.issue(alumni(instance.id), name, credentialStatus={"type": "BitstringStatusListEntry"})
    assert answer.status_code == 201, answer.text
    issued = answer.json()["verifiableCredential"]
    entry = issued["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry"
    assert entry["statusPurpose"] == "revocation"
    assert isinstance(entry["statusListIndex"], str)
    assert entry["statusListIndex"] == "7"
    assert entry["statusListCredential"] == f"{STATUS_BASE}/1"
    assert entry["id"] == f"{STATUS_BASE}/1#7"
    assert api.rows() == 1
    published = api.status.publish(entry["statusListCredential"])
    assert isinstance(published["issuer"], str)
    assert len(BitstringStatusList.decode(published["credentialSubject"]["encodedList"])) >= 131072
    result = api.verifier().verify(issued)
    assert [(s.purpose, s.index, s.value) for s in result.status] == [("revocation", 7, 0)]

    update = {
        "credentialId": issued["id"],
        "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
    }
    changed = api.client.post("/credentials/status", json={**update, "status": True}, headers=AUTH)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"credentialId": issued["id"], "credentialStatus": entry, "status": True}
    assert api.status.lists["1"][2].get(7) == 1
    with pytest.raises(CredentialRevokedError):
        api.verifier().verify(issued)

    cleared = api.client.post(f"/instances/{name}/credentials/status", json={**update, "status": False}, headers=AUTH)
    assert cleared.status_code == 200, cleared.text
    assert api.verifier().verify(issued).status[0].value == 0


def test_suspension_with_credential_id_option_and_vc_1_1(api: Api) -> None:
    answer = api.issue(
        v11(),
        "key-ed25519",
        credentialId="urn:example:suspendable",
        credentialStatus={"type": "BitstringStatusListEntry", "statusPurpose": "suspension"},
    )
    assert answer.status_code == 201, answer.text
    issued = answer.json()["verifiableCredential"]
    assert "https://www.w3.org/ns/credentials/status/v1" in issued["@context"]
    assert issued["credentialStatus"]["statusPurpose"] == "suspension"
    verify_proof(issued, api.resolver().dereference)
    update = {
        "credentialId": "urn:example:suspendable",
        "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "suspension"},
    }
    assert (
        api.client.post("/credentials/status", json=update, headers=AUTH).status_code == 200
    )  # status defaults to true
    assert api.status.bits_set() == 1
    # the VC 1.1 credential is checked like any: our verifier reads the entry against the published list
    listing = api.status.publish(issued["credentialStatus"]["statusListCredential"])
    assert BitstringStatusList.decode(listing["credentialSubject"]["encodedList"]).get(7) == 1


def test_revocation_and_suspension_entries_together(api: Api) -> None:
    both = [{"type": "BitstringStatusListEntry", "statusPurpose": p} for p in ("revocation", "suspension")]
    issued = api.issue(alumni(), "web", credentialStatus=both).json()["verifiableCredential"]
    assert [e["statusPurpose"] for e in issued["credentialStatus"]] == ["revocation", "suspension"]
    assert api.rows() == 2
    update = {
        "credentialId": issued["id"],
        "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "suspension"},
    }
    assert api.client.post("/credentials/status", json=update, headers=AUTH).status_code == 200
    with pytest.raises(CredentialSuspendedError):
        api.verifier().verify(issued)


def test_duplicate_credential_id_is_refused_and_changes_nothing(api: Api) -> None:
    options = {"credentialStatus": {"type": "BitstringStatusListEntry"}}
    first = api.issue(alumni(), "key-ed25519", **options)
    assert first.status_code == 201
    with transaction(api.ctx.engine) as conn:
        before = [tuple(r) for r in conn.execute(select(vc_api_status))]
    again = api.issue(alumni(), "key-p256", **options)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "duplicateCredentialId"
    with transaction(api.ctx.engine) as conn:
        assert [tuple(r) for r in conn.execute(select(vc_api_status))] == before


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"credentialStatus": {"type": "StatusList2021Entry"}}, "BitstringStatusListEntry"),
        ({"credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "refresh"}}, "statusPurpose"),
        ({"credentialStatus": {"type": "BitstringStatusListEntry", "statusListIndex": "1"}}, "statusListIndex"),
        ({"credentialStatus": [{"type": "BitstringStatusListEntry"}] * 2}, "twice"),
        ({"credentialStatus": {"type": "BitstringStatusListEntry"}, "credentialId": ""}, "credentialId"),
        ({"credentialStatus": {"type": "BitstringStatusListEntry"}, "credentialId": 5}, "credentialId"),
        ({"mandatoryPointers": ["/issuer"]}, "mandatoryPointers"),
        ({"unknownOption": True}, "unknownOption"),
    ],
)
def test_bad_options_are_refused_and_change_nothing(api: Api, options: dict[str, Any], named: str) -> None:
    answer = api.issue(alumni(), "key-ed25519", **options)
    assert answer.status_code == 400, answer.text
    assert named in answer.json()["detail"]
    assert api.rows() == 0
    assert api.status.lists == {}


def test_status_without_a_credential_id_is_refused(api: Api) -> None:
    credential = alumni()
    del credential["id"]
    answer = api.issue(credential, "key-ed25519", credentialStatus={"type": "BitstringStatusListEntry"})
    assert answer.status_code == 400
    assert "credentialId" in answer.json()["detail"]
    assert (api.rows(), api.status.lists) == (0, {})
    assert api.issue(credential, "key-ed25519").status_code == 201  # without status no id is needed


def test_invalid_credential_with_status_allocates_nothing(api: Api) -> None:
    credential = alumni(**{"@context": [CREDENTIALS_V2]}, credentialSubject={"id": "did:example:1", "undefinedTerm": 1})
    answer = api.issue(credential, "key-ed25519", credentialStatus={"type": "BitstringStatusListEntry"})
    assert answer.status_code == 400
    assert (api.rows(), api.status.lists) == (0, {})


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (
            {
                "credentialId": "urn:uuid:unknown",
                "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            },
            404,
            "no credential",
        ),
        (
            {"credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}},
            400,
            "credentialId",
        ),
        ({"credentialId": "x", "credentialStatus": {"type": "BitstringStatusListEntry"}}, 400, "statusPurpose"),
        (
            {"credentialId": "x", "credentialStatus": {"type": "Other", "statusPurpose": "revocation"}},
            400,
            "credentialStatus",
        ),
        (
            {
                "credentialId": "x",
                "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "extra": 1},
            },
            400,
            "extra",
        ),
        (
            {
                "credentialId": "x",
                "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
                "status": "revoked",
            },
            400,
            "status",
        ),
        (
            {
                "credentialId": "x",
                "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
                "more": 1,
            },
            400,
            "more",
        ),
    ],
)
def test_bad_status_updates_are_refused(api: Api, body: dict[str, Any], status: int, named: str) -> None:
    api.issue(alumni(), "key-ed25519", credentialStatus={"type": "BitstringStatusListEntry"})
    answer = api.client.post("/credentials/status", json=body, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"]
    assert api.status.bits_set() == 0


def test_status_update_checks_the_entry_and_the_instance(api: Api) -> None:
    issued = api.issue(alumni(), "key-ed25519", credentialStatus={"type": "BitstringStatusListEntry"}).json()
    entry = issued["verifiableCredential"]["credentialStatus"]
    wrong_index = {**entry, "statusListIndex": "8"}
    del wrong_index["id"]
    body = {"credentialId": issued["verifiableCredential"]["id"], "credentialStatus": wrong_index}
    assert api.client.post("/credentials/status", json=body, headers=AUTH).status_code == 400
    body["credentialStatus"] = entry  # the full entry as issued is accepted
    assert api.client.post("/instances/key-p256/credentials/status", json=body, headers=AUTH).status_code == 404
    assert api.status.bits_set() == 0
    assert api.client.post("/instances/key-ed25519-jcs/credentials/status", json=body, headers=AUTH).status_code == 200
    assert api.status.bits_set() == 1


# -- authentication and bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/credentials/issue", "/instances/web/credentials/issue", "/credentials/status"])
@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong-token"}, {"authorization": f"Basic {TOKEN}"}])
def test_missing_or_wrong_token_is_refused(api: Api, path: str, headers: dict[str, str]) -> None:
    status = {"credentialStatus": {"type": "BitstringStatusListEntry"}}
    body: dict[str, Any] = {"credential": alumni(), "options": status}
    if path.endswith("status"):
        body = {
            "credentialId": "x",
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
        }
    answer = api.client.post(path, json=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["code"] == "vcApiUnauthorized"
    assert (api.rows(), api.status.lists) == (0, {})


def test_without_a_configured_token_everything_is_refused(lite: Api) -> None:
    closed = _api(dataclasses.replace(lite.ctx, settings=dataclasses.replace(lite.ctx.settings, vc_api_token=None)))
    answer = closed.issue(alumni())
    assert answer.status_code == 401
    assert "XID_VC_API_TOKEN" in answer.json()["detail"]
    empty = closed.client.post(
        "/credentials/issue", json={"credential": alumni()}, headers={"authorization": "Bearer "}
    )
    assert empty.status_code == 401


def test_check_token_is_exact() -> None:
    check_token(TOKEN, TOKEN)
    for presented in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), None):
        with pytest.raises(Exception, match="vcApiUnauthorized"):
            check_token(presented, TOKEN)


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"credential": ' + b'{"a": "' + b"x" * 20_000 + b'"}}', {"content-type": "application/json"}, 413),
        (b"{", {"content-type": "application/json"}, 400),
        (b'{"credential": {}, "credential": {}}', {"content-type": "application/json"}, 400),
        (b"[]", {"content-type": "application/json"}, 400),
        (b'{"credential": {}}', {"content-type": "text/plain"}, 400),
        (b'{"credential": {}, "extra": 1}', {"content-type": "application/json"}, 400),
        (b'{"options": {}}', {"content-type": "application/json"}, 400),
        (b'{"credential": {}, "options": []}', {"content-type": "application/json"}, 400),
    ],
)
def test_oversized_and_malformed_bodies_are_refused(
    api: Api, content: bytes, headers: dict[str, str], status: int
) -> None:
    answer = api.client.post("/credentials/issue", content=content, headers={**headers, **AUTH})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"]
    assert api.rows() == 0


def test_service_core_issues_without_http(lite: Api) -> None:
    service = VcApiService(lite.ctx, lite.status)
    issued = service.issue({"credential": alumni()})["verifiableCredential"]
    assert issued["issuer"] == lite.ctx.did
    assert service.default_instance(None).name == "web"


# -- never a 500: arbitrary JSON in any member of the credential or the options ----------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from([CREDENTIALS_V2, CREDENTIALS_V1, EXAMPLES_V2, "did:example:1", "VerifiableCredential", "@id"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["@id", "@type", "id", "type", "@context"]), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    member=st.sampled_from(
        ["@context", "type", "issuer", "credentialSubject", "credentialStatus", "validFrom", "id", "name", "extra"]
    ),
    value=JSON_VALUES,
    name=st.sampled_from(NAMES),
    with_status=st.booleans(),
)
def test_arbitrary_members_give_a_vc_api_error_or_a_credential(
    lite: Api, member: str, value: Any, name: str, with_status: bool
) -> None:
    service = VcApiService(lite.ctx, lite.status)
    credential = alumni()
    credential[member] = value
    options = {"credentialStatus": {"type": "BitstringStatusListEntry"}} if with_status else {}
    try:
        issued = service.issue({"credential": credential, "options": options}, service.instance(name))
    except VcApiError:
        return
    # whatever is issued verifies (the validation refused everything the verifier would)
    lite.verifier().verify(unwrap(issued["verifiableCredential"]), check_status=False)


def test_database_outage_is_a_503_problem(lite: Api, tmp_path: Path) -> None:
    gone = open_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    down = _api(dataclasses.replace(lite.ctx, engine=gone))
    answer = down.issue(alumni(), "key-ed25519", credentialStatus={"type": "BitstringStatusListEntry"})
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "databaseUnavailable"
    assert down.issue(alumni(), "key-ed25519").status_code == 201  # issuing without status needs no database
