"""The issuer's ASGI app: every part of the issuer wired together on one base URL (``create_app``).

The credential issuer identifier is the base URL; the issuer's did:web names the same host and path, and its DID
document is served where did:web resolution looks for it (``/.well-known/did.json`` for a bare host, ``/did.json``
under a path). The parts and their paths (docs/issuer.md):

- enrollment (the card check): ``/enroll/challenge``, ``/enroll``;
- OpenID4VCI 1.0: ``/.well-known/openid-credential-issuer``, ``/.well-known/oauth-authorization-server``,
  ``/credential-offer/{ref}``, ``/token``, ``/nonce``, ``/credential``, ``/notification``;
- credentials and status: ``/vct/identity``, ``/.well-known/jwt-vc-issuer``, ``/contexts/identity/v1``,
  ``/status/bitstring/{id}``, ``/status/token/{id}``, ``/admin/credentials...``;
- the xid CA: ``/ca/root.pem``, ``/ca/certificates``, ``/ca/ocsp``, ``/ca/crl``;
- document-signature records for the ledger: ``/ledger/v1/signatures``, ``/ledger/v1/key`` (before the ledger's
  own tiles, which ``xid serve`` mounts at ``/ledger``);
- the W3C VC API: ``/credentials/issue``, ``/credentials/status``, ``/instances/{name}/credentials/...``.

Every part takes the others as parameters (``issuer.contracts``); this module is the only place that knows them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from did.did_web import web_document
from did.keys import PublicKey
from foundation.web import EXCEPTION_HANDLERS, json_response
from issuer import (
    ca,
    ca_routes,
    credentials,
    credentials_routes,
    enroll_routes,
    evidence,
    oid4vci,
    oid4vci_routes,
    persons,
    signature_records,
    status,
    vc_api,
    vc_api_routes,
)
from issuer.ca import XidCA
from issuer.context import IssuerContext
from issuer.enrollment import Enrollment
from issuer.evidence import RecheckReport
from issuer.oid4vci import GrantTypeRegistry
from issuer.status import IssuerSigner, StatusLists, default_signers

__all__ = ["IssuerParts", "create_app", "did_document", "did_document_path", "status_signers", "wire"]


def did_document(ctx: IssuerContext, extra_keys: Sequence[tuple[str, PublicKey]] = ()) -> dict[str, Any]:
    """The origin's did:web document: the issuer's ES256 and Ed25519 keys (and e.g. the verifier's) as Multikeys."""
    keys = [
        ("es256", PublicKey.from_jwk(ctx.es256.public_jwk)),
        ("ed25519", PublicKey.from_jwk(ctx.ed25519.public_jwk)),
        *extra_keys,
    ]
    return web_document(ctx.did, keys)


def did_document_path(base_url: str) -> str:
    """Where the app serves the DID document (the app sees paths below the base URL)."""
    return "/did.json" if urlsplit(base_url).path.strip("/") else "/.well-known/did.json"


def status_signers(ctx: IssuerContext) -> dict[str, IssuerSigner]:
    """Who signs each issuer's status lists: the did:web's key, and each VC API did:key with its default suite."""
    signers = default_signers(ctx)
    for instance in vc_api.instances(ctx):
        if instance.default and instance.id not in signers:
            signers[instance.id] = IssuerSigner(instance.signer, instance.verification_method, instance.cryptosuite)
    return signers


@dataclass
class IssuerParts:
    """The wired parts of the issuer (what ``create_app`` mounts; the CLI uses the same objects)."""

    ctx: IssuerContext
    status: StatusLists
    configurations: dict[str, dict[str, Any]]
    enrollment: Enrollment
    grant_types: GrantTypeRegistry
    ca: XidCA

    def revoke_from_card(self, conn: Connection, certificate_fingerprint: str) -> int:
        """Revoke everything issued from a card certificate: credentials and xid CA certificates (``recheck``)."""
        revoked = status.revoke_from_card(self.ctx, conn, certificate_fingerprint)
        return revoked + ca.revoke_from_card(self.ctx, conn, certificate_fingerprint)

    def recheck(self) -> RecheckReport:
        """Re-validate the stored card certificates; revoke what was issued from any found revoked."""
        return evidence.recheck(self.ctx, self.revoke_from_card)

    def merge(self, keep: str, absorb: str) -> None:
        """Merge two persons (operator command), moving every part's records of ``absorb`` to ``keep``."""
        persons.merge(self.ctx, keep, absorb, also=(ca.merge_person, status.merge_person))


def wire(ctx: IssuerContext) -> IssuerParts:
    """Build the issuer's parts over one context, checking the credential configurations against OpenID4VCI 1.0."""
    configurations = credentials.configurations(ctx)
    problems = [p for cid, conf in configurations.items() for p in oid4vci.configuration_problems(cid, conf)]
    if problems:
        raise ValueError("credential configurations are not OpenID4VCI 1.0: " + "; ".join(problems))
    lists = StatusLists(ctx, status_signers(ctx))
    offers = oid4vci.create_offer_factory(ctx, list(configurations))
    authority = XidCA(ctx, pairwise=lambda person_id, sector: persons.pairwise_subject(ctx, person_id, sector))
    return IssuerParts(ctx, lists, configurations, Enrollment(ctx, offers), oid4vci.default_grant_types(ctx), authority)


def create_app(
    ctx: IssuerContext,
    *,
    extra_keys: Sequence[tuple[str, PublicKey]] = (),
    extra_grants: Sequence[tuple[str, oid4vci.GrantHandler, Mapping[str, Any]]] = (),
) -> Starlette:
    """The issuer's app on ``ctx.base_url``: ``extra_keys`` are other services' keys in the origin's DID document,
    ``extra_grants`` other grant types (with their metadata) served at the origin's one token endpoint."""
    parts = wire(ctx)
    for grant_type, handler, metadata in extra_grants:
        parts.grant_types.register(grant_type, handler, metadata)
    document = did_document(ctx, extra_keys)

    async def did_json(request: Request) -> Response:
        return json_response(document, no_store=False, headers={"Cache-Control": "public, max-age=300"})

    routes: list[BaseRoute] = [
        Route(did_document_path(ctx.base_url), did_json, methods=["GET"]),
        *enroll_routes.routes(ctx, parts.enrollment),
        *oid4vci_routes.routes(
            ctx,
            configurations=parts.configurations,
            issue=credentials.make_credential_issuer(ctx, parts.status),
            facts=evidence.identity_facts(ctx),
            grant_types=parts.grant_types,
        ),
        *credentials_routes.routes(ctx, parts.status),
        *ca_routes.routes(ctx, parts.ca, oid4vci.authorize_bearer(ctx)),
        *signature_records.routes(ctx, parts.ca),
        *vc_api_routes.routes(ctx, parts.status),
    ]
    return Starlette(routes=routes, exception_handlers=dict(EXCEPTION_HANDLERS))
