"""What the response and presentation tests share: a real xid issuer minting credentials of all three formats, a
verifier context trusting it, transactions, and the wallet side of OpenID4VP 1.0 (SD-JWT + KB, JWT VP, ldp_vp,
direct_post forms and direct_post.jwt JWEs)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwe
from joserfc.jwk import ECKey
from sqlalchemy import Engine, select

from did import KeyType, PublicKey, Resolver, SoftwareSigner
from did.did_jwk import create as did_jwk
from did.document import DidDocument
from did.resolver import PureMethodResolver
from did.signer import KeyIdSigner
from foundation.db import open_engine, transaction
from issuer.credentials import JWT_VC, LDP_VC, SD_JWT
from issuer.db import create_schema as create_issuer_schema
from issuer.status import credentials_table, revoke
from jpki_bridge.trust import TrustAnchors
from tests.issuer.credentials_support import BASE, DID, Issuer, facts, make_issuer
from vc.data_integrity import add_proof
from vc.jose import compact_json, sign_compact
from vc.sd_jwt import present
from verifier.context import VerifierContext
from verifier.contracts import TransactionFacts

__all__ = [
    "ISSUER_DID",
    "VCT",
    "XID_TYPE",
    "Holder",
    "Wallet",
    "direct_post",
    "direct_post_jwt",
    "encryption_key",
    "make_transaction",
    "query",
    "start_issuer",
    "trusting",
]

ISSUER_DID = DID
VCT = f"{BASE}/vct/identity"
XID_TYPE = "https://w3id.org/xid/identity#XidIdentityCredential"
VC_TYPE = "https://www.w3.org/2018/credentials#VerifiableCredential"


def start_issuer(directory: Path) -> tuple[Issuer, Engine]:
    """A real xid issuer on its own SQLite database (status lists served through its routes)."""
    engine = open_engine(f"sqlite:///{directory / 'issuer.sqlite3'}")
    create_issuer_schema(engine)
    return make_issuer(engine, TrustAnchors([])), engine


def resolver_for(issuer: Issuer) -> Resolver:
    """The standard resolver, with the issuer's did:web answered from its document (no network)."""
    document = issuer.did_document()
    return Resolver.standard(PureMethodResolver("web", lambda did: DidDocument(document)))


def trusting(ctx: VerifierContext, issuer: Issuer, **settings: Any) -> VerifierContext:
    """The verifier context, trusting the issuer, resolving its DID and fetching its status lists."""
    return dataclasses.replace(
        ctx,
        resolver=resolver_for(issuer),
        status_source=issuer.fetch,
        trusted_issuers=(ISSUER_DID,),
        settings=dataclasses.replace(ctx.settings, **settings),
    )


def encryption_key() -> dict[str, Any]:
    """A fresh ephemeral P-256 response encryption key (private JWK with kid, use enc, alg ECDH-ES)."""
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "enc-1", "use": "enc", "alg": "ECDH-ES"})
    return dict(key.as_dict(private=True))


def query(*credentials: Mapping[str, Any], sets: list[Any] | None = None) -> dict[str, Any]:
    """A DCQL query of the credential queries (and credential sets)."""
    out: dict[str, Any] = {"credentials": list(credentials)}
    if sets is not None:
        out["credential_sets"] = sets
    return out


def sd_query(query_id: str = "pid", claims: tuple[str, ...] = ("age_over_20",), **extra: Any) -> dict[str, Any]:
    """A dc+sd-jwt credential query for the xid identity credential."""
    return {
        "id": query_id,
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [VCT]},
        "claims": [{"path": [c]} for c in claims],
        **extra,
    }


def w3c_query(query_id: str, fmt: str, claims: tuple[str, ...] = ("age_over_20",)) -> dict[str, Any]:
    """A jwt_vc_json or ldp_vc credential query for the xid identity credential (expanded type IRIs)."""
    return {
        "id": query_id,
        "format": fmt,
        "meta": {"type_values": [[VC_TYPE, XID_TYPE]]},
        "claims": [{"path": ["credentialSubject", c]} for c in claims],
    }


def make_transaction(
    ctx: VerifierContext, dcql: Mapping[str, Any], mode: str = "direct_post", **changes: Any
) -> TransactionFacts:
    """A fresh transaction as the request side stores it (client_id with the x509_san_dns prefix)."""
    now = ctx.clock()
    facts_ = TransactionFacts(
        id=ctx.token(16),
        client_id=f"x509_san_dns:{ctx.host}",
        nonce=ctx.token(),
        state=ctx.token(),
        dcql_query=dcql,
        response_mode=mode,  # type: ignore[arg-type]
        response_uri=ctx.url("/verifier/v1/response"),
        encryption_jwk=encryption_key() if mode == "direct_post.jwt" else None,
        created_at=now,
        expires_at=now + ctx.settings.request_ttl,
    )
    return dataclasses.replace(facts_, **changes)


def direct_post(tx: TransactionFacts, vp_token: Mapping[str, Any], **extra: str) -> dict[str, str]:
    """The direct_post form of a response."""
    return {"vp_token": json.dumps(vp_token), "state": tx.state, **extra}


def direct_post_jwt(
    tx: TransactionFacts,
    vp_token: Mapping[str, Any],
    *,
    key: Mapping[str, Any] | None = None,
    enc: str = "A128GCM",
    alg: str = "ECDH-ES",
    state: str | None = None,
    **header: Any,
) -> dict[str, str]:
    """The direct_post.jwt form: the response parameters encrypted to the transaction's key (or ``key``)."""
    jwk = dict(key or tx.encryption_jwk or {})
    public = ECKey.import_key({k: v for k, v in jwk.items() if k != "d"})
    protected = {"alg": alg, "enc": enc, "kid": jwk.get("kid"), **header}
    payload = compact_json({"vp_token": vp_token, "state": tx.state if state is None else state})
    registry = jwe.JWERegistry(algorithms=[alg, enc])
    return {"response": jwe.encrypt_compact(protected, payload, public, registry=registry)}


@dataclass
class Holder:
    """A wallet holder key and its did:jwk."""

    signer: SoftwareSigner

    @classmethod
    def generate(cls) -> Holder:
        """A fresh P-256 holder."""
        return cls(SoftwareSigner.generate(KeyType.P256))

    @property
    def did(self) -> str:
        """The holder's did:jwk (the subject of W3C credentials issued to this key)."""
        return did_jwk(PublicKey.from_jwk(self.signer.public_jwk))

    @property
    def kid(self) -> str:
        """The DID URL of the holder key."""
        return f"{self.did}#0"


@dataclass
class Wallet:
    """Credentials of one holder from the issuer, and presentations of them for a transaction."""

    issuer: Issuer
    holder: Holder

    def issue(self, configuration: str) -> Any:
        """Issue a credential of the configuration to the holder."""
        with transaction(self.issuer.ctx.engine, write=True) as conn:
            return self.issuer.issue(conn, configuration, facts(), self.holder.signer.public_jwk)

    def issue_with_id(self, configuration: str) -> tuple[str, Any]:
        """Issue a credential of the configuration to the holder; return its record id and the credential."""
        with transaction(self.issuer.ctx.engine) as conn:
            before = set(conn.execute(select(credentials_table.c.id)).scalars())
        credential = self.issue(configuration)
        with transaction(self.issuer.ctx.engine) as conn:
            (new,) = set(conn.execute(select(credentials_table.c.id)).scalars()) - before
        return new, credential

    def revoke(self, credential_id: str) -> None:
        """Revoke an issued credential."""
        with transaction(self.issuer.ctx.engine, write=True) as conn:
            assert revoke(self.issuer.ctx, conn, credential_id)

    def issue_revoked(self, configuration: str) -> Any:
        """Issue a credential of the configuration to the holder, then revoke it."""
        credential_id, credential = self.issue_with_id(configuration)
        self.revoke(credential_id)
        return credential

    def sd_jwt(
        self,
        tx: TransactionFacts,
        credential: str | None = None,
        claims: tuple[str, ...] = ("age_over_20",),
        *,
        audience: str | None = None,
        nonce: str | None = None,
        now: datetime | None = None,
        signer: SoftwareSigner | None = None,
    ) -> str:
        """An SD-JWT VC presentation with a KB-JWT for the transaction."""
        return present(
            credential or self.issue(SD_JWT),
            [(c,) for c in claims],
            signer or self.holder.signer,
            audience=tx.client_id if audience is None else audience,
            nonce=tx.nonce if nonce is None else nonce,
            now=now,
        )

    def jwt_vp(self, tx: TransactionFacts, credential: str | None = None, **changes: Any) -> str:
        """A JWT VP (holder-signed) of a jwt_vc_json credential for the transaction."""
        now = changes.pop("now", None) or datetime.now().astimezone()
        signer = changes.pop("signer", self.holder.signer)
        claims: dict[str, Any] = {
            "iss": self.holder.did,
            "aud": tx.client_id,
            "nonce": tx.nonce,
            "iat": int(now.timestamp()),
            "vp": {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiablePresentation"],
                "verifiableCredential": [credential or self.issue(JWT_VC)],
            },
        }
        claims.update(changes)
        return sign_compact({"typ": "JWT"}, compact_json(claims), KeyIdSigner(signer, self.holder.kid))

    def ldp_vp(
        self,
        tx: TransactionFacts,
        credential: Mapping[str, Any] | None = None,
        *,
        challenge: str | None = None,
        domain: str | None = None,
        purpose: str = "authentication",
        created: datetime | None = None,
    ) -> dict[str, Any]:
        """An ldp_vp with a Data Integrity proof by the holder for the transaction."""
        presentation = {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": self.holder.did,
            "verifiableCredential": [credential or self.issue(LDP_VC)],
        }
        return add_proof(
            presentation,
            self.holder.signer,
            cryptosuite="ecdsa-jcs-2019",
            verification_method=self.holder.kid,
            proof_purpose=purpose,
            challenge=tx.nonce if challenge is None else challenge,
            domain=tx.client_id if domain is None else domain,
            created=created,
        )


def minutes(n: float) -> timedelta:
    """n minutes."""
    return timedelta(minutes=n)
