"""The identity credential checked by verifiers we did not write: the SD-JWT VC by @sd-jwt/sd-jwt-vc and the ldp_vc
by digitalbazaar's vc + eddsa-rdfc-2022 (the issuer's did:web document handed to its offline loader), each also
shown to reject a tampered copy."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from did import KeyType, SoftwareSigner
from foundation.db import transaction
from foundation.jws import parse_compact
from issuer.credentials import LDP_VC, SD_JWT
from issuer.status import revoke_person
from tests.helpers import require_component, run_node
from tests.issuer.conftest import ServedCA
from tests.issuer.credentials_support import Issuer, facts, make_issuer
from vc.sd_jwt import present

PEERS = Path(__file__).parents[1] / "interop" / "vc"
AUD, NONCE = "https://verifier.example.jp", "nonce-interop-1"


@pytest.fixture(autouse=True, scope="module")
def node_peers() -> None:
    """Require node and the npm peers installed by ``make interop`` (skip locally, fail in CI)."""
    require_component(shutil.which("node") is not None, "node")
    require_component((PEERS / "node_modules").exists(), "npm peers in tests/interop/vc (run make interop)")


def node(script: str, command: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run a peer script with one JSON request on stdin; return the JSON object it prints."""
    return run_node(PEERS / script, command, request=request)


@pytest.fixture(params=["sqlite"])
def issuer(request: pytest.FixtureRequest, tmp_path: Path, served_ca: ServedCA) -> Issuer:
    """An https issuer on SQLite (the store is covered elsewhere; here the peers are the point)."""
    from foundation.db import open_engine
    from issuer.db import create_schema

    engine: Engine = open_engine(f"sqlite:///{tmp_path / 'issuer.db'}")
    create_schema(engine)
    return make_issuer(engine, served_ca.ca.trust_anchors())


def test_sd_jwt_vc_verifies_in_sd_jwt_js(issuer: Issuer) -> None:
    holder = SoftwareSigner.generate(KeyType.P256)
    with transaction(issuer.ctx.engine, write=True) as conn:
        credential = issuer.issue(conn, SD_JWT, facts(), holder.public_jwk)
    assert isinstance(credential, str)
    presentation = present(credential, [("name",), ("age_over_20",)], holder, audience=AUD, nonce=NONCE)
    uri = json.loads(parse_compact(credential.split("~")[0]).payload)["status"]["status_list"]["uri"]
    request = {
        "presentation": presentation,
        "issuerJwk": issuer.ctx.es256.public_jwk,
        "nonce": NONCE,
        "aud": AUD,
        "statusLists": {uri: issuer.fetch(uri)},
    }
    result = node("sdjwt.mjs", "verify", request)
    assert result["verified"] is True, result
    assert result["claims"]["name"] == "山田\u3000太郎"
    assert result["claims"]["age_over_20"] is True
    assert "address" not in result["claims"]
    assert result["header"]["kid"] == issuer.ctx.es256_kid
    assert result["header"]["typ"] == "dc+sd-jwt"
    other = SoftwareSigner.generate(KeyType.P256)
    assert node("sdjwt.mjs", "verify", {**request, "issuerJwk": other.public_jwk})["verified"] is False
    assert node("sdjwt.mjs", "verify", {**request, "nonce": "another"})["verified"] is False
    assert node("sdjwt.mjs", "verify", {**request, "statusLists": {}})["verified"] is False  # status is checked

    revoke_all(issuer)
    revoked = node("sdjwt.mjs", "verify", {**request, "statusLists": {uri: issuer.fetch(uri)}})
    assert revoked["verified"] is False
    assert "status" in revoked["error"].lower()


def test_ldp_vc_verifies_in_digitalbazaar(issuer: Issuer) -> None:
    holder = SoftwareSigner.generate(KeyType.ED25519)
    with transaction(issuer.ctx.engine, write=True) as conn:
        credential = issuer.issue(conn, LDP_VC, facts(), holder.public_jwk)
    assert isinstance(credential, dict)
    documents = {issuer.ctx.did: issuer.did_document()}

    def request(doc: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        urls = [entry["statusListCredential"] for entry in credential["credentialStatus"]]
        return {
            "credential": credential if doc is None else doc,
            "didDocuments": documents,
            "statusLists": {u: issuer.fetch(u) for u in urls},
            **extra,
        }

    assert node("di.mjs", "verify", request()) == {"verified": True}
    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["address"]["formatted"] = "東京都港区"
    assert node("di.mjs", "verify", request(tampered))["verified"] is False
    # without the issuer's DID document the offline loader cannot find the key: no network fallback
    assert node("di.mjs", "verify", request(didDocuments={}))["verified"] is False

    revoke_all(issuer)
    revoked = node("di.mjs", "verify", request())
    assert revoked["verified"] is False
    assert "revocation status is set" in revoked["error"]


def revoke_all(issuer: Issuer) -> None:
    """Revoke every credential of the test person."""
    with transaction(issuer.ctx.engine, write=True) as conn:
        assert revoke_person(issuer.ctx, conn, "person-1") >= 1
