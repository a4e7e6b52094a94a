"""VC-JOSE issue and verify of a ~1.5 KB credential, as ratios to the raw Ed25519 floor (targets: 2.5x / 2x)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.harness import bench
from did import KeyType, PublicKey, Resolver, SoftwareSigner, did_key
from vc.jose import issue_vc_jwt, verify_vc_jwt


def _setup() -> tuple[SoftwareSigner, dict[str, Any], Callable[[str], PublicKey]]:
    signer = did_key.generate(KeyType.ED25519)
    did = did_key.create(signer.public_key)
    claims = {f"claim{i:02d}": f"value number {i} of the basic four credential" for i in range(24)}
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:5b1b0c9e-6b39-4a0f-8a1f-1d2c3e4f5a6b",
        "type": ["VerifiableCredential", "BasicFourCredential"],
        "issuer": did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", **claims},
    }
    resolver = Resolver()
    document = resolver.resolve_document(did)
    vm = document.verification_method(signer.key_id, "assertionMethod")
    return signer, credential, lambda kid: vm.public_key


@bench("vc", "VC-JOSE vc+jwt issue, 1.5 KB, Ed25519", floor="raw Ed25519 sign (cryptography)")
def _issue() -> Callable[[], object]:
    signer, credential, _ = _setup()
    return lambda: issue_vc_jwt(credential, signer)


@bench("vc", "VC-JOSE vc+jwt verify, 1.5 KB, Ed25519", floor="raw Ed25519 verify (cryptography)")
def _verify() -> Callable[[], object]:
    signer, credential, keys = _setup()
    token = issue_vc_jwt(credential, signer)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    return lambda: verify_vc_jwt(token, keys, now=now)


@bench("vc", "joserfc JWS verify only (no VC checks), 1.5 KB, Ed25519", floor="raw Ed25519 verify (cryptography)")
def _verify_joserfc() -> Callable[[], object]:
    """The same token through an independent JOSE library, signature and JSON only: the reference for the row above."""
    from joserfc import jws
    from joserfc.jwk import OKPKey

    signer, credential, _ = _setup()
    token = issue_vc_jwt(credential, signer, alg="Ed25519")  # joserfc warns on the deprecated "EdDSA" (RFC 9864)
    key = OKPKey.import_key(dict(signer.public_jwk))
    return lambda: jws.deserialize_compact(token, key, algorithms=["Ed25519"])


def _sd_setup() -> tuple[SoftwareSigner, dict[str, Any]]:
    from vc.sd_jwt import SD

    signer = SoftwareSigner.generate(KeyType.ED25519).with_key_id("did:web:issuer.example.jp#key-1")
    claims: dict[str, Any] = {f"claim{i:02d}": SD(f"value number {i} of the basic four credential") for i in range(8)}
    claims.update({f"plain{i:02d}": f"non-disclosable value number {i} of the credential" for i in range(16)})
    claims.update({"iss": "did:web:issuer.example.jp", "vct": "https://xid.example/credentials/basic4"})
    return signer, claims


@bench("vc", "SD-JWT VC issue, 1.5 KB, 8 disclosable claims, Ed25519", floor="raw Ed25519 sign (cryptography)")
def _sd_issue() -> Callable[[], object]:
    from vc.sd_jwt import issue

    signer, claims = _sd_setup()
    return lambda: issue(claims, signer, decoys=0)


@bench("vc", "SD-JWT VC verify, 1.5 KB, 8 disclosed, no KB, Ed25519", floor="raw Ed25519 verify (cryptography)")
def _sd_verify() -> Callable[[], object]:
    from vc.sd_jwt import issue, verify

    signer, claims = _sd_setup()
    token = issue(claims, signer, decoys=0)
    key = signer.public_key
    return lambda: verify(token, lambda h, p: key, audience=None, nonce=None, require_key_binding=False)
