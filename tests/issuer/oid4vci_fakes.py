"""What the OpenID4VCI tests, the interop test and the bench share: realistic configurations, a fake credential issuer
that secures real SD-JWT VC / jwt_vc_json / Data Integrity credentials bound to the proof key, and proof builders."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from did import did_key
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.b64 import b64url_encode
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from issuer.context import IssuerContext
from issuer.contracts import IdentityFacts
from jpki_bridge.profile import Basic4Info, basic4_from_values
from vc.data_integrity import add_proof
from vc.jose import issue_jwt_vc_json
from vc.sd_jwt import SD, issue

__all__ = [
    "CONFIGURATIONS",
    "FakeFacts",
    "FakeIssuer",
    "did_key_signer",
    "make_proof",
    "unsigned_jwt",
]

_NAME, _ADDRESS = "山田 太郎", "東京都千代田区千代田一丁目1番1号"
_CLAIMS = [
    (["family_name"], "氏名 (姓)", "Family name"),
    (["given_name"], "氏名 (名)", "Given name"),
    (["birthdate"], "生年月日", "Date of birth"),
    (["age_over_18"], "18歳以上", "Over 18"),
]


def _metadata(ja: str, en: str) -> dict[str, Any]:
    claims = [
        {"path": path, "display": [{"name": j, "locale": "ja-JP"}, {"name": e, "locale": "en-US"}]}
        for path, j, e in _CLAIMS
    ]
    return {"display": [{"name": ja, "locale": "ja-JP"}, {"name": en, "locale": "en-US"}], "claims": claims}


_PROOFS = {"jwt": {"proof_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "Ed25519"]}}

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "xid_identity_sd_jwt": {
        "format": "dc+sd-jwt",
        "vct": "http://127.0.0.1:8000/vct/identity",
        "scope": "xid_identity",
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": ["ES256"],
        "proof_types_supported": _PROOFS,
        "credential_metadata": _metadata("本人確認 (SD-JWT)", "Identity (SD-JWT)"),
    },
    "xid_identity_jwt_vc": {
        "format": "jwt_vc_json",
        "credential_definition": {"type": ["VerifiableCredential", "XidIdentityCredential"]},
        "cryptographic_binding_methods_supported": ["did:key", "did:jwk", "jwk"],
        "credential_signing_alg_values_supported": ["ES256"],
        "proof_types_supported": _PROOFS,
        "credential_metadata": _metadata("本人確認 (JWT)", "Identity (JWT)"),
    },
    "xid_identity_ldp_vc": {
        "format": "ldp_vc",
        "credential_definition": {
            "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
            "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        },
        "cryptographic_binding_methods_supported": ["did:key", "did:jwk", "jwk"],
        "credential_signing_alg_values_supported": ["eddsa-rdfc-2022"],
        "proof_types_supported": _PROOFS,
        "credential_metadata": _metadata("本人確認 (Data Integrity)", "Identity (Data Integrity)"),
    },
}
"""A realistic set of 1.0 credential configurations, one per format."""


@dataclass
class FakeIssuer:
    """A CredentialIssuer securing small real credentials of each format, bound to the proof key; records its calls."""

    ctx: IssuerContext
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(
        self, conn: Connection, configuration_id: str, facts: IdentityFacts, holder_jwk: dict[str, Any]
    ) -> str | dict[str, Any]:
        """Issue one credential of the configuration to ``holder_jwk``."""
        self.calls.append((configuration_id, holder_jwk))
        fmt = CONFIGURATIONS[configuration_id]["format"]
        if fmt == "dc+sd-jwt":
            claims = {
                "iss": self.ctx.base_url,
                "vct": CONFIGURATIONS[configuration_id]["vct"],
                "iat": int(self.ctx.clock().timestamp()),
                "given_name": SD(facts.basic4.name.split()[-1]),
                "age_over_18": SD(True),
            }
            return issue(claims, self.ctx.es256, holder_jwk=holder_jwk)
        credential: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
            "type": ["VerifiableCredential", "ExampleAlumniCredential"],
            "issuer": self.ctx.did,
            "credentialSubject": {"alumniOf": "xid test"},
        }
        if fmt == "jwt_vc_json":
            return issue_jwt_vc_json(credential, self.ctx.es256, now=self.ctx.clock())
        return add_proof(
            credential, self.ctx.ed25519, cryptosuite="eddsa-rdfc-2022", verification_method=self.ctx.ed25519_kid
        )


@dataclass
class FakeFacts:
    """An IdentityFactsReader returning fixed facts (or raising ``fail`` when set); records the evidence ids asked."""

    basic4: Basic4Info = field(
        default_factory=lambda: basic4_from_values(
            _NAME, "0" * len(_NAME), "1", "319850401", _ADDRESS, "0" * len(_ADDRESS)
        )
    )
    asked: list[str] = field(default_factory=list)
    fail: Exception | None = None

    def __call__(self, conn: Connection, evidence_id: str) -> IdentityFacts:
        """The facts of the evidence."""
        self.asked.append(evidence_id)
        if self.fail is not None:
            raise self.fail
        return IdentityFacts(self.basic4, datetime(2026, 1, 1, tzinfo=UTC), "ab" * 32, "person-1")


def make_proof(
    signer: SoftwareSigner,
    *,
    aud: str,
    nonce: str | None,
    iat: float | None = None,
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    key: str = "jwk",
    sign_with: SoftwareSigner | None = None,
) -> str:
    """A proof JWT (typ openid4vci-proof+jwt) by ``signer``'s key; overrides for negative tests."""
    full_header: dict[str, Any] = {"typ": "openid4vci-proof+jwt", "alg": signer.algorithm}
    if key == "jwk":
        full_header["jwk"] = signer.public_key.to_jwk()
    else:
        full_header["kid"] = signer.key_id
    full_header.update(header or {})
    body: dict[str, Any] = {"aud": aud, "iat": int(time.time()) if iat is None else iat}
    if nonce is not None:
        body["nonce"] = nonce
    body.update(payload or {})
    full_header = {k: v for k, v in full_header.items() if v is not None}  # None removes a member
    body = {k: v for k, v in body.items() if v is not None}
    return encode_compact(full_header, compact_json(body), (sign_with or signer).sign)


def unsigned_jwt(header: dict[str, Any], payload: dict[str, Any], *, hmac_key: bytes | None = None) -> str:
    """A JWT with alg none (empty signature) or an HS256 MAC: what a proof must never be."""
    signing_input = b64url_encode(compact_json(header)) + "." + b64url_encode(compact_json(payload))
    if hmac_key is None:
        return signing_input + "."
    mac = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url_encode(mac)


def did_key_signer(key_type: KeyType = KeyType.P256) -> SoftwareSigner:
    """A key whose key_id is its did:key DID URL."""
    return did_key.generate(key_type)
