"""Verifiable Credentials against JavaScript implementations we did not write (pinned in tests/interop/vc/):
digitalbazaar's Data Integrity suites, @sd-jwt/sd-jwt-vc and panva's jose, each run with node in both directions
where the format allows (ours verified by theirs, theirs verified by ours), and each shown to reject tampering."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from did import KeyType, PublicKey, Resolver, SoftwareSigner, did_key
from did.multibase import encode_multicodec
from foundation.b64 import b64url_decode, b64url_encode
from tests.helpers import require_component
from vc.data_integrity import ProofSignatureError, add_proof, verify_proof
from vc.jose import JwsAlgorithmError, issue_vc_jwt, verify_vc_jwt
from vc.sd_jwt import SD, DisclosureError, issue, present, verify

PEERS = Path(__file__).parent / "vc"
NODE_TIMEOUT = 60.0
RESOLVER = Resolver()
AUD, NONCE = "https://verifier.example.jp", "n-0S6_WzA2Mj"
SUITES = [("eddsa-rdfc-2022", KeyType.ED25519), ("ecdsa-rdfc-2019", KeyType.P256)]


@pytest.fixture(autouse=True, scope="module")
def node_peers() -> None:
    """Require node and the npm peers installed by ``make interop`` (skip locally, fail in CI)."""
    require_component(shutil.which("node") is not None, "node")
    installed = (PEERS / "node_modules" / ".installed").exists() or (PEERS / "node_modules").exists()
    require_component(installed, "npm peers in tests/interop/vc (run make interop)")


def node(script: str, command: str | None, request: dict[str, Any]) -> dict[str, Any]:
    """Run a peer script with one JSON object on stdin and return the JSON object it prints; fail on exit != 0."""
    argv = ["node", str(PEERS / script), *([command] if command else [])]
    done = subprocess.run(
        argv, input=json.dumps(request), capture_output=True, text=True, timeout=NODE_TIMEOUT, cwd=PEERS, check=False
    )
    assert done.returncode == 0, f"{script} {command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


def did_key_signer(key_type: KeyType) -> tuple[SoftwareSigner, str]:
    """A fresh key whose key id is its did:key verification method (``did:key:<mb>#<mb>``)."""
    signer = did_key.generate(key_type)
    return signer, did_key.create(signer.public_key)


def secret_multibase(signer: SoftwareSigner) -> str:
    """The inverse of ``SoftwareSigner.from_secret_multibase``: the raw secret with its multicodec, base58btc."""
    codec = signer.key_type.spec.private_multicodec
    assert codec is not None
    value = encode_multicodec(codec, b64url_decode(signer.to_private_jwk()["d"]))
    assert SoftwareSigner.from_secret_multibase(value).public_key == signer.public_key
    return value


def alumni_credential(issuer: str, claims: int = 1) -> dict[str, Any]:
    """A VC 2.0 ExampleAlumniCredential; ``claims`` > 1 adds numbered claims next to ``alumniOf``."""
    subject: dict[str, Any] = {"id": "did:example:ebfeb1f712ebc6f1c276e12ec21", "alumniOf": "The School of Examples"}
    subject.update({f"claim{i:02d}": f"value {i} — 値" if i % 2 else i for i in range(2, claims + 1)})
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "issuer": issuer,
        "validFrom": "2023-01-01T00:00:00Z",
        "credentialSubject": subject,
    }


def tampered(credential: dict[str, Any]) -> dict[str, Any]:
    """A copy with one claim changed and the proof left as it was."""
    changed = copy.deepcopy(credential)
    changed["credentialSubject"]["alumniOf"] = "The School of Forgeries"
    return changed


def flip_bit(segment: str) -> str:
    """Flip one bit in the middle of a base64url segment."""
    raw = bytearray(b64url_decode(segment))
    raw[len(raw) // 2] ^= 0x01
    return b64url_encode(bytes(raw))


# -- Data Integrity: digitalbazaar @digitalbazaar/vc with the eddsa-rdfc-2022 and ecdsa-rdfc-2019 cryptosuites ---------


@pytest.mark.parametrize("claims", [1, 15])
@pytest.mark.parametrize(("suite", "key_type"), SUITES)
def test_our_data_integrity_proof_verifies_in_digitalbazaar(suite: str, key_type: KeyType, claims: int) -> None:
    """Our eddsa-rdfc-2022 / ecdsa-rdfc-2019 credential verifies in digitalbazaar; a changed claim does not."""
    signer, did = did_key_signer(key_type)
    signed = add_proof(alumni_credential(did, claims), signer, cryptosuite=suite)
    assert node("di.mjs", "verify", {"credential": signed}) == {"verified": True}
    rejected = node("di.mjs", "verify", {"credential": tampered(signed)})
    assert rejected["verified"] is False
    assert "signature" in rejected["error"].lower()


@pytest.mark.parametrize("claims", [1, 15])
@pytest.mark.parametrize(("suite", "key_type"), SUITES)
def test_digitalbazaar_data_integrity_proof_verifies_with_ours(suite: str, key_type: KeyType, claims: int) -> None:
    """A credential digitalbazaar signs verifies with verify_proof; a changed claim raises ProofSignatureError."""
    signer, did = did_key_signer(key_type)
    key_pair = {"publicKeyMultibase": signer.public_key.to_multikey(), "secretKeyMultibase": secret_multibase(signer)}
    request = {"credential": alumni_credential(did, claims), "suite": suite, "keyPair": key_pair}
    signed = node("di.mjs", "issue", request)["credential"]
    assert signed["proof"]["cryptosuite"] == suite
    result = verify_proof(signed, RESOLVER.dereference)
    assert result.verification_method == signer.key_id
    assert result.controller == did
    assert result.cryptosuite == suite
    with pytest.raises(ProofSignatureError):
        verify_proof(tampered(signed), RESOLVER.dereference)


def test_digitalbazaar_loader_is_offline() -> None:
    """The peer's document loader refuses a context that is not bundled instead of fetching it."""
    signer, did = did_key_signer(KeyType.ED25519)
    signed = add_proof(alumni_credential(did), signer, cryptosuite="eddsa-rdfc-2022")
    signed["@context"] = [*signed["@context"], "https://example.com/not-bundled/v1"]
    result = node("di.mjs", "verify", {"credential": signed})
    assert result["verified"] is False
    assert "offline document loader" in result["error"]


def test_bench_script_reports_a_mean() -> None:
    """bench-di.mjs (used by the benchmarks) verifies a 15-claim credential and reports a mean time."""
    signer, did = did_key_signer(KeyType.ED25519)
    signed = add_proof(alumni_credential(did, 15), signer, cryptosuite="eddsa-rdfc-2022")
    result = node("bench-di.mjs", None, {"credential": signed, "iterations": 3})
    assert result["iterations"] == 3
    assert result["mean_us"] > 0


# -- SD-JWT VC: @sd-jwt/sd-jwt-vc --------------------------------------------------------------------------------------


def sd_claims() -> dict[str, Any]:
    """Claims with object, nested and array-element disclosures."""
    return {
        "iss": "did:web:issuer.example.jp",
        "vct": "https://xid.example/credentials/basic4",
        "given_name": SD("花子"),
        "family_name": SD("山田"),
        "birthdate": SD("1990-01-02"),
        "address": SD({"region": SD("東京都"), "locality": SD("千代田区"), "country": "JP"}),
        "nationalities": [SD("JP"), SD("FR"), "US"],
    }


DISCLOSED = {
    "iss": "did:web:issuer.example.jp",
    "vct": "https://xid.example/credentials/basic4",
    "given_name": "花子",
    "address": {"region": "東京都", "country": "JP"},
    "nationalities": ["FR", "US"],
}


@pytest.mark.parametrize(
    ("issuer_type", "holder_type"), [(KeyType.P256, KeyType.ED25519), (KeyType.ED25519, KeyType.P256)]
)
def test_our_sd_jwt_vc_presentation_verifies_in_sd_jwt_js(issuer_type: KeyType, holder_type: KeyType) -> None:
    """Our presentation (some disclosures + KB-JWT) verifies in @sd-jwt/sd-jwt-vc; a wrong nonce or aud fails."""
    issuer = SoftwareSigner.generate(issuer_type).with_key_id("did:web:issuer.example.jp#key-1")
    holder = SoftwareSigner.generate(holder_type)
    sd_jwt = issue(sd_claims(), issuer, holder_jwk=holder.public_jwk)
    disclose = [("given_name",), ("address", "region"), ("nationalities", 1)]
    presentation = present(sd_jwt, disclose, holder, audience=AUD, nonce=NONCE)
    request = {"presentation": presentation, "issuerJwk": issuer.public_jwk, "nonce": NONCE, "aud": AUD}
    result = node("sdjwt.mjs", "verify", request)
    assert result["verified"] is True, result.get("error")
    claims = result["claims"]
    assert claims.pop("cnf") == {"jwk": holder.public_jwk}
    assert claims == DISCLOSED
    ours = verify(presentation, lambda header, payload: issuer.public_key, audience=AUD, nonce=NONCE)
    assert {k: v for k, v in ours.claims.items() if k != "cnf"} == DISCLOSED
    assert result["kb"]["payload"]["aud"] == AUD
    wrong_nonce = node("sdjwt.mjs", "verify", {**request, "nonce": "another-nonce"})
    assert wrong_nonce["verified"] is False
    assert "nonce" in wrong_nonce["error"].lower()
    assert node("sdjwt.mjs", "verify", {**request, "aud": "https://other.example"})["verified"] is False


def js_sd_jwt_presentation(issuer: SoftwareSigner, holder: SoftwareSigner, alg: str | None = None) -> str:
    """An SD-JWT VC issued and then presented (with a KB-JWT) by @sd-jwt/sd-jwt-vc."""
    issued = node(
        "sdjwt.mjs",
        "issue",
        {
            "claims": {
                "given_name": "花子",
                "family_name": "山田",
                "birthdate": "1990-01-02",
                "address": {"region": "東京都", "locality": "千代田区", "country": "JP"},
                "nationalities": ["JP", "FR", "US"],
            },
            "disclosureFrame": {
                "_sd": ["given_name", "family_name", "birthdate", "address"],
                "address": {"_sd": ["region", "locality"]},
                "nationalities": {"_sd": [0, 1]},
            },
            "issuerPrivateJwk": issuer.to_private_jwk(),
            "holderPublicJwk": holder.public_jwk,
            "vct": "https://xid.example/credentials/basic4",
            "iss": "did:web:issuer.example.jp",
            **({"alg": alg} if alg else {}),
        },
    )
    frame = {"given_name": True, "address": {"region": True}, "nationalities": {"1": True}}
    request = {"sdJwt": issued["sdJwt"], "presentationFrame": frame, "holderPrivateJwk": holder.to_private_jwk()}
    presented = node("sdjwt.mjs", "present", {**request, "nonce": NONCE, "aud": AUD, **({"alg": alg} if alg else {})})
    assert isinstance(presented["presentation"], str)
    return presented["presentation"]


def test_sd_jwt_js_presentation_verifies_with_ours() -> None:
    """An SD-JWT VC issued and presented by @sd-jwt/sd-jwt-vc verifies with ours; a changed disclosure is refused."""
    issuer = SoftwareSigner.generate(KeyType.P256).with_key_id("did:web:issuer.example.jp#key-1")
    holder = SoftwareSigner.generate(KeyType.ED25519)
    presentation = js_sd_jwt_presentation(issuer, holder)

    def issuer_key(header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
        assert header["kid"] == issuer.key_id
        return issuer.public_key

    result = verify(presentation, issuer_key, audience=AUD, nonce=NONCE)
    assert result.key_bound
    assert result.holder_jwk == holder.public_jwk
    assert {k: v for k, v in result.claims.items() if k not in ("cnf", "iat")} == DISCLOSED
    assert set(result.disclosed) == {("given_name",), ("address",), ("address", "region"), ("nationalities", 0)}

    jwt, *disclosures, kb_jwt = presentation.split("~")
    salt, name, value = json.loads(b64url_decode(disclosures[0]))
    forged = b64url_encode(json.dumps([salt, name, "Mallory" if isinstance(value, str) else value]).encode())
    assert forged != disclosures[0]
    with pytest.raises(DisclosureError):
        verify("~".join([jwt, forged, *disclosures[1:], kb_jwt]), issuer_key, audience=AUD, nonce=NONCE)


def test_fully_specified_ed25519_sd_jwt_vc_both_ways() -> None:
    """Issuer JWT and KB-JWT under RFC 9864's alg name Ed25519: ours verify in @sd-jwt/sd-jwt-vc, theirs with ours."""
    issuer = SoftwareSigner.generate(KeyType.ED25519).with_key_id("did:web:issuer.example.jp#key-1")
    holder = SoftwareSigner.generate(KeyType.ED25519)
    sd_jwt = issue(sd_claims(), issuer, holder_jwk=holder.public_jwk, alg="Ed25519")
    disclose = [("given_name",), ("address", "region"), ("nationalities", 1)]
    presentation = present(sd_jwt, disclose, holder, audience=AUD, nonce=NONCE, alg="Ed25519")
    request = {"presentation": presentation, "issuerJwk": issuer.public_jwk, "nonce": NONCE, "aud": AUD}
    result = node("sdjwt.mjs", "verify", request)
    assert result["verified"] is True, result.get("error")
    assert (result["header"]["alg"], result["kb"]["header"]["alg"]) == ("Ed25519", "Ed25519")
    assert {k: v for k, v in result["claims"].items() if k != "cnf"} == DISCLOSED

    theirs = js_sd_jwt_presentation(issuer, holder, alg="Ed25519")
    jwt, *_, kb_jwt = theirs.split("~")
    assert json.loads(b64url_decode(jwt.split(".")[0]))["alg"] == "Ed25519"
    assert json.loads(b64url_decode(kb_jwt.split(".")[0]))["alg"] == "Ed25519"
    ours = verify(theirs, lambda header, payload: issuer.public_key, audience=AUD, nonce=NONCE)
    assert (ours.issuer_header["alg"], ours.key_bound) == ("Ed25519", True)
    p256 = SoftwareSigner.generate(KeyType.P256)  # the same token checked against a key of another type
    with pytest.raises(JwsAlgorithmError, match="'Ed25519' does not match P-256"):
        verify(theirs, lambda header, payload: p256.public_key, audience=AUD, nonce=NONCE)


# -- VC-JOSE: panva jose -----------------------------------------------------------------------------------------------


# Each JWS alg name the pinned jose (6.2.18) verifies, for the key types xid signs VC-JOSE with: EdDSA and its
# RFC 9864 fully-specified name Ed25519 (jose lists both), ES256. jose has no ESP256 (a COSE-only name).
JOSE_ALGS = [(KeyType.ED25519, "EdDSA"), (KeyType.ED25519, "Ed25519"), (KeyType.P256, "ES256")]


@pytest.mark.parametrize(("key_type", "alg"), JOSE_ALGS)
def test_our_vc_jwt_verifies_in_jose(key_type: KeyType, alg: str) -> None:
    """Our vc+jwt verifies with jose (payload = the credential); a flipped signature bit or another typ fails."""
    signer, did = did_key_signer(key_type)
    credential = alumni_credential(did)
    token = issue_vc_jwt(credential, signer, alg=None if alg == key_type.algorithm else alg)
    request = {"jwt": token, "jwk": signer.public_jwk, "typ": "vc+jwt", "alg": alg}
    result = node("jose.mjs", "verify", request)
    assert result["verified"] is True, result.get("error")
    assert result["payload"] == credential
    assert result["header"] == {"alg": alg, "kid": signer.key_id, "typ": "vc+jwt", "cty": "vc"}
    header, payload, signature = token.split(".")
    flipped = node("jose.mjs", "verify", {**request, "jwt": f"{header}.{payload}.{flip_bit(signature)}"})
    assert flipped["verified"] is False
    assert "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" in flipped["error"]
    assert node("jose.mjs", "verify", {**request, "typ": "dc+sd-jwt"})["verified"] is False


@pytest.mark.parametrize(("key_type", "alg"), JOSE_ALGS)
def test_jose_vc_jwt_verifies_with_ours(key_type: KeyType, alg: str) -> None:
    """A vc+jwt signed by jose under either Ed25519 alg name (or ES256) verifies with ours; relabelled, it fails."""
    signer, did = did_key_signer(key_type)
    credential = alumni_credential(did)
    private = {**signer.to_private_jwk(), "kid": signer.key_id}
    signed = node("jose.mjs", "sign", {"payload": credential, "privateJwk": private, "alg": alg, "typ": "vc+jwt"})
    token = signed["jwt"]
    assert json.loads(b64url_decode(token.split(".")[0]))["alg"] == alg
    result = verify_vc_jwt(token, lambda kid: RESOLVER.dereference(kid, "assertionMethod").public_key)
    assert (result.issuer, result.algorithm, result.credential.data) == (did, alg, credential)
    other = "ES256" if key_type is KeyType.ED25519 else "Ed25519"
    header, payload, signature = token.split(".")
    relabelled = b64url_encode(json.dumps({**json.loads(b64url_decode(header)), "alg": other}).encode())
    with pytest.raises(JwsAlgorithmError, match="does not match"):
        verify_vc_jwt(f"{relabelled}.{payload}.{signature}", lambda kid: signer.public_key)
