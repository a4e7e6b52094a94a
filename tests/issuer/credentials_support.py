"""What the credentials and status tests share: an https issuer, its status lists and routes, a verifier that
resolves the issuer's did:web from a local document and fetches status lists from the routes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette

from did import KeyType, PublicKey, Resolver, SoftwareSigner, web_document
from did.document import DidDocument
from did.resolver import PureMethodResolver
from foundation.web import EXCEPTION_HANDLERS
from issuer.context import IssuerContext, IssuerSettings, OperatorSecrets
from issuer.contracts import IdentityFacts
from issuer.credentials import make_credential_issuer
from issuer.credentials_routes import routes
from issuer.status import StatusLists
from jpki_bridge.profile import Basic4Info, basic4_from_values
from jpki_bridge.trust import TrustAnchors
from tests.helpers import AsgiClient, load_person
from vc.verify import CredentialVerifier

BASE = "https://issuer.example.jp"
DID = "did:web:issuer.example.jp"
FINGERPRINT = "ab" * 32
ADMIN_TOKEN = "admin-token-for-tests-0123456789"


def basic4(stem: str = "yamada") -> Basic4Info:
    """The basic 4 info of a test person (tests/jpki/persons)."""
    p = load_person(stem)
    return basic4_from_values(p.name, p.name_substitution, p.sex, p.date_of_birth, p.address, p.address_substitution)


def facts(stem: str = "yamada", fingerprint: str = FINGERPRINT, person: str = "person-1") -> IdentityFacts:
    """Identity facts of a test person checked a minute ago."""
    return IdentityFacts(basic4(stem), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), fingerprint, person)


@dataclass
class Issuer:
    """An issuer with its status lists, credential issuer, app, HTTP client and a verifier for what it issues."""

    ctx: IssuerContext
    lists: StatusLists
    client: AsgiClient

    def __post_init__(self) -> None:
        self.issue = make_credential_issuer(self.ctx, self.lists)

    def did_document(self) -> dict[str, Any]:
        """The issuer's did:web document (what ``/.well-known/did.json`` would serve)."""
        keys = [
            ("es256", PublicKey.from_jwk(self.ctx.es256.public_jwk)),
            ("ed25519", PublicKey.from_jwk(self.ctx.ed25519.public_jwk)),
        ]
        return web_document(self.ctx.did, keys)

    def fetch(self, url: str) -> dict[str, Any] | str:
        """What the issuer serves at a status list URL (JSON for bitstring lists, the token text otherwise)."""
        assert url.startswith(BASE)
        response = self.client.get(url.removeprefix(BASE))
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("application/vc+ld+json"):
            data: dict[str, Any] = json.loads(response.content)
            return data
        return response.text

    def verifier(self) -> CredentialVerifier:
        """A verifier resolving the issuer's did:web locally and fetching status lists over the routes."""
        document = self.did_document()
        web = PureMethodResolver("web", lambda did: DidDocument(document))
        return CredentialVerifier(Resolver.standard(web), self.fetch)


def make_issuer(engine: Engine, trust: TrustAnchors, **settings: Any) -> Issuer:
    """An https issuer on the engine with fresh keys and the admin API enabled."""
    ctx = IssuerContext(
        base_url=BASE,
        did=DID,
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=trust,
        revocation=None,  # type: ignore[arg-type]  # never consulted by the credentials part
        settings=IssuerSettings(admin_token=ADMIN_TOKEN, **settings),
    )
    lists = StatusLists(ctx)
    app = Starlette(routes=routes(ctx, lists), exception_handlers=dict(EXCEPTION_HANDLERS))
    return Issuer(ctx, lists, AsgiClient(app, base_url=BASE))
