"""OpenID4VCI 1.0 (final): credential offers, the token endpoint's grants, c_nonces and the credential endpoint.

The pre-authorized code flow (OpenID for Verifiable Credential Issuance 1.0 §3.5): a successful card check makes a
grant with a credential offer (``create_offer_factory``); the wallet redeems its pre-authorized code (with the
``tx_code`` when the offer asked for one) at the token endpoint for an opaque access token, takes a ``c_nonce`` from
the nonce endpoint, and sends ``{"credential_configuration_id" | "credential_identifier", "proofs": {"jwt": [...]}}``
to the credential endpoint, which issues one credential per proof through the injected ``CredentialIssuer``.

Storage (``issuer_oid4vci_*`` tables): codes, access tokens and nonces are stored only as SHA-256 hashes; a
``tx_code`` as a hash salted with its pre-authorized code (so the database alone cannot brute-force the short code);
an offer served by reference is encrypted with a key derived from its unguessable URI, which is not stored either.
Single use holds across processes: a code is redeemed by a conditional ``UPDATE`` under the writer lock, a nonce is
consumed by a conditional ``DELETE`` whose row count is checked.

No state change on a refused request: the credential endpoint checks everything (token, body, every proof) before
it touches the database, then consumes the proofs' nonces and issues in ONE transaction; if any step fails, the
transaction rolls back and the nonces stay usable. The only refusal that changes state on purpose is a wrong
``tx_code``, which counts one attempt and invalidates the code after ``settings.tx_code_attempts``.

The token endpoint dispatches on ``grant_type`` through a ``GrantTypeRegistry``, so another grant (the OIDC
facade's ``authorization_code``) joins the same endpoint of the one authorization server. Errors::

    IssuerError
    └── Oid4vciError                             oid4vciError                       (``error``, HTTP ``status``)
        ├── TokenRequestError                    vciInvalidTokenRequest             invalid_request (400)
        ├── InvalidGrantError                    vciInvalidGrant                    invalid_grant (400)
        ├── UnsupportedGrantTypeError            vciUnsupportedGrantType            unsupported_grant_type (400)
        ├── InvalidAuthorizationDetailsError     vciInvalidAuthorizationDetails     invalid_authorization_details (400)
        ├── InvalidAccessTokenError              vciInvalidAccessToken              invalid_token (401)
        ├── InvalidCredentialRequestError        vciInvalidCredentialRequest        invalid_credential_request (400)
        ├── UnknownCredentialConfigurationError  vciUnknownCredentialConfiguration  unknown_credential_configuration
        ├── UnknownCredentialIdentifierError     vciUnknownCredentialIdentifier     unknown_credential_identifier
        ├── InvalidProofError                    vciInvalidProof                    invalid_proof (400)
        ├── InvalidNonceError                    vciInvalidNonce                    invalid_nonce (400)
        ├── InvalidEncryptionParametersError     vciInvalidEncryptionParameters     invalid_encryption_parameters
        ├── CredentialRequestDeniedError         vciCredentialRequestDenied         credential_request_denied (400)
        ├── InvalidNotificationIdError           vciInvalidNotificationId           invalid_notification_id (400)
        ├── InvalidNotificationRequestError      vciInvalidNotificationRequest      invalid_notification_request (400)
        └── OfferNotFoundError                   vciOfferNotFound                   not_found (404)
"""

from __future__ import annotations

import hashlib
import hmac
import math
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from did.errors import DidError
from did.keys import PublicKey
from did.resolver import Resolver
from foundation.db import transaction
from foundation.errors import XidError
from foundation.jws import parse_compact
from foundation.strict_json import compact_json, strict_json, strict_json_value
from foundation.web import TokenRequest, TokenResponse
from issuer.context import IssuerContext
from issuer.contracts import (
    AuthorizedHolder,
    CredentialIssuer,
    CredentialOffer,
    GrantRequest,
    IdentityFactsReader,
    OfferFactory,
)
from issuer.db import Millis, metadata
from issuer.errors import IssuerError

__all__ = [
    "CREDENTIAL_OFFER_SCHEME",
    "NOTIFICATION_EVENTS",
    "PRE_AUTHORIZED_CODE_GRANT",
    "PROOF_ALGORITHMS",
    "PROOF_TYP",
    "AccessGrant",
    "CredentialEndpoint",
    "CredentialRequestDeniedError",
    "GrantHandler",
    "GrantTypeRegistry",
    "InvalidAccessTokenError",
    "InvalidAuthorizationDetailsError",
    "InvalidCredentialRequestError",
    "InvalidEncryptionParametersError",
    "InvalidGrantError",
    "InvalidNonceError",
    "InvalidNotificationIdError",
    "InvalidNotificationRequestError",
    "InvalidProofError",
    "OfferNotFoundError",
    "Oid4vciError",
    "TokenRequestError",
    "UnknownCredentialConfigurationError",
    "UnknownCredentialIdentifierError",
    "UnsupportedGrantTypeError",
    "authorization_server_metadata",
    "authorize_bearer",
    "configuration_problems",
    "create_offer_factory",
    "default_grant_types",
    "grants",
    "issue_nonce",
    "issuer_metadata",
    "load_offer",
    "nonces",
    "notifications",
    "notify",
    "pre_authorized_code_grant",
    "purge_expired",
    "tokens",
]

PRE_AUTHORIZED_CODE_GRANT: Final = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP: Final = "openid4vci-proof+jwt"
PROOF_ALGORITHMS: Final = frozenset({"ES256", "ES384", "EdDSA", "Ed25519"})
"""JWS algorithms a proof may use (asymmetric only: never ``none`` or an HMAC)."""
CREDENTIAL_OFFER_SCHEME: Final = "openid-credential-offer://"
NOTIFICATION_EVENTS: Final = frozenset({"credential_accepted", "credential_failure", "credential_deleted"})
_OPENID_CREDENTIAL: Final = "openid_credential"
_MAX_PROOF_SIZE: Final = 16 * 1024
_TX_CODE_DESCRIPTION: Final = "Enter the code shown after your card check"
_PROOF_KEY_RESOLVER: Final = Resolver()  # did:key and did:jwk only: resolving a proof's kid never does I/O

# -- errors -------------------------------------------------------------------------------------------------------


class Oid4vciError(IssuerError):
    """An OpenID4VCI / OAuth request was refused; ``error`` is the protocol's error code, ``status`` the HTTP one."""

    code = "oid4vciError"
    error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400


class TokenRequestError(Oid4vciError):
    """The token request is malformed or misses a required parameter (tx_code missing or not expected)."""

    code = "vciInvalidTokenRequest"
    error = "invalid_request"


class InvalidGrantError(Oid4vciError):
    """The pre-authorized code is unknown, used, expired or locked, or the tx_code is wrong."""

    code = "vciInvalidGrant"
    error = "invalid_grant"


class UnsupportedGrantTypeError(Oid4vciError):
    """The token request names a grant type this authorization server does not serve."""

    code = "vciUnsupportedGrantType"
    error = "unsupported_grant_type"


class InvalidAuthorizationDetailsError(Oid4vciError):
    """The token request's ``authorization_details`` (RFC 9396) are malformed or name an unoffered credential."""

    code = "vciInvalidAuthorizationDetails"
    error = "invalid_authorization_details"


class InvalidAccessTokenError(Oid4vciError):
    """The bearer access token is missing, unknown or expired (RFC 6750: 401 with WWW-Authenticate)."""

    code = "vciInvalidAccessToken"
    error = "invalid_token"
    status = 401


class InvalidCredentialRequestError(Oid4vciError):
    """The credential request is malformed, misses or repeats a parameter, or uses a pre-1.0 shape."""

    code = "vciInvalidCredentialRequest"
    error = "invalid_credential_request"


class UnknownCredentialConfigurationError(Oid4vciError):
    """The credential_configuration_id is unknown or was not offered to this access token."""

    code = "vciUnknownCredentialConfiguration"
    error = "unknown_credential_configuration"


class UnknownCredentialIdentifierError(Oid4vciError):
    """The credential_identifier was not granted to this access token."""

    code = "vciUnknownCredentialIdentifier"
    error = "unknown_credential_identifier"


class InvalidProofError(Oid4vciError):
    """Proofs are missing, or a proof is malformed, badly signed, for another audience, stale or without c_nonce."""

    code = "vciInvalidProof"
    error = "invalid_proof"


class InvalidNonceError(Oid4vciError):
    """A proof's c_nonce is unknown, already used or expired (the wallet fetches a fresh one)."""

    code = "vciInvalidNonce"
    error = "invalid_nonce"


class InvalidEncryptionParametersError(Oid4vciError):
    """The request asks for an encrypted credential response, which this issuer does not offer."""

    code = "vciInvalidEncryptionParameters"
    error = "invalid_encryption_parameters"


class CredentialRequestDeniedError(Oid4vciError):
    """The credential cannot be issued for this grant (its enrollment evidence is gone or unreadable)."""

    code = "vciCredentialRequestDenied"
    error = "credential_request_denied"


class InvalidNotificationIdError(Oid4vciError):
    """The notification_id is unknown or belongs to another access token's grant."""

    code = "vciInvalidNotificationId"
    error = "invalid_notification_id"


class InvalidNotificationRequestError(Oid4vciError):
    """The notification request is malformed (missing members, unknown event)."""

    code = "vciInvalidNotificationRequest"
    error = "invalid_notification_request"


class OfferNotFoundError(Oid4vciError):
    """No live credential offer has this reference (unknown, expired or already redeemed)."""

    code = "vciOfferNotFound"
    error = "not_found"
    status = 404


# -- tables -------------------------------------------------------------------------------------------------------

grants = Table(
    "issuer_oid4vci_grants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("offer_ref_hash", String(64), nullable=False, unique=True),
    Column("offer_sealed", LargeBinary, nullable=False),
    Column("tx_code_hash", String(64), nullable=True),
    Column("tx_attempts", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False),  # offered | redeemed | locked
    Column("configuration_ids", Text, nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("evidence_id", String(128), nullable=False),
    Column("holder_jwk", Text, nullable=False),
    Column("certificate_fingerprint", String(64), nullable=False),
    Column("verified_at", Millis, nullable=False),
    Column("created_at", Millis, nullable=False),
    Column("expires_at", Millis, nullable=False),
)
"""One row per credential offer (a card check's grant): hashed code, sealed offer, tx_code state."""

tokens = Table(
    "issuer_oid4vci_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("grant_id", String(64), nullable=False, index=True),
    Column("credential_identifiers", Text, nullable=False),  # {identifier: configuration id}
    Column("expires_at", Millis, nullable=False, index=True),
)
"""Access tokens (hashed) bound to their grant, with the credential identifiers granted (authorization_details)."""

nonces = Table(
    "issuer_oid4vci_nonces",
    metadata,
    Column("nonce_hash", String(64), primary_key=True),
    Column("expires_at", Millis, nullable=False),
    Index("ix_issuer_oid4vci_nonces_expires_at", "expires_at"),
)
"""Live c_nonces (hashed); a row is deleted when its nonce is used."""

notifications = Table(
    "issuer_oid4vci_notifications",
    metadata,
    Column("notification_id", String(64), primary_key=True),
    Column("grant_id", String(64), nullable=False, index=True),
    Column("configuration_id", String(200), nullable=False),
    Column("credentials", Integer, nullable=False),
    Column("issued_at", Millis, nullable=False),
    Column("event", String(32), nullable=True),
    Column("event_at", Millis, nullable=True),
)
"""One row per credential response; the wallet's notification sets its event."""


# -- helpers ------------------------------------------------------------------------------------------------------


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _tx_code_hash(pre_authorized_code: str, tx_code: str) -> str:
    data = b"xid-oid4vci-tx-code-v1\x00" + pre_authorized_code.encode() + b"\x00" + tx_code.encode()
    return hashlib.sha256(data).hexdigest()


def _offer_key(offer_ref: str) -> bytes:
    return hashlib.sha256(b"xid-oid4vci-offer-v1\x00" + offer_ref.encode()).digest()


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _tx_code(ctx: IssuerContext, length: int) -> str:
    """A uniformly random numeric code of ``length`` digits (rejection sampling over 8-byte draws)."""
    bound = 10**length
    limit = (2**64 // bound) * bound
    while True:
        value = int.from_bytes(ctx.random(8), "big")
        if value < limit:
            return str(value % bound).zfill(length)


# -- offers -------------------------------------------------------------------------------------------------------


def create_offer_factory(ctx: IssuerContext, configuration_ids: Sequence[str]) -> OfferFactory:
    """An OfferFactory storing a grant with a fresh pre-authorized code (and tx_code) for the given configurations."""
    ids = list(configuration_ids)
    if not ids or len(set(ids)) != len(ids) or not all(isinstance(i, str) and i for i in ids):
        raise ValueError("configuration_ids must be a non-empty list of distinct ids")

    def create(conn: Connection, request: GrantRequest) -> CredentialOffer:
        now = ctx.clock()
        expires_at = now + ctx.settings.offer_ttl
        code = ctx.token(32)
        offer_ref = ctx.token(32)
        tx_code = _tx_code(ctx, ctx.settings.tx_code_length) if ctx.settings.tx_code else None
        grant: dict[str, Any] = {"pre-authorized_code": code}
        if tx_code is not None:
            grant["tx_code"] = {
                "input_mode": "numeric",
                "length": ctx.settings.tx_code_length,
                "description": _TX_CODE_DESCRIPTION,
            }
        offer = {
            "credential_issuer": ctx.base_url,
            "credential_configuration_ids": ids,
            "grants": {PRE_AUTHORIZED_CODE_GRANT: grant},
        }
        offer_json = compact_json(offer)
        ref_hash = _hash(offer_ref)
        nonce = ctx.random(12)
        sealed = nonce + AESGCM(_offer_key(offer_ref)).encrypt(nonce, offer_json, ref_hash.encode())
        conn.execute(
            insert(grants).values(
                id=ctx.token(16),
                code_hash=_hash(code),
                offer_ref_hash=ref_hash,
                offer_sealed=sealed,
                tx_code_hash=_tx_code_hash(code, tx_code) if tx_code is not None else None,
                tx_attempts=0,
                state="offered",
                configuration_ids=_dumps(ids),
                person_id=request.person_id,
                evidence_id=request.evidence_id,
                holder_jwk=_dumps(request.holder_jwk),
                certificate_fingerprint=request.certificate_fingerprint,
                verified_at=_ms(request.verified_at),
                created_at=_ms(now),
                expires_at=_ms(expires_at),
            )
        )
        by_value = CREDENTIAL_OFFER_SCHEME + "?credential_offer=" + urllib.parse.quote(offer_json.decode(), safe="")
        offer_uri = ctx.url(f"/credential-offer/{offer_ref}")
        by_reference = CREDENTIAL_OFFER_SCHEME + "?credential_offer_uri=" + urllib.parse.quote(offer_uri, safe="")
        return CredentialOffer(offer, by_value, by_reference, tx_code, expires_at)

    return create


def load_offer(ctx: IssuerContext, offer_ref: str) -> dict[str, Any]:
    """The offer object a by-reference URI names, while its code is neither redeemed, locked nor expired."""
    if not 16 <= len(offer_ref) <= 128:
        raise OfferNotFoundError("no credential offer has this reference")
    ref_hash = _hash(offer_ref)
    with transaction(ctx.engine) as conn:
        row = conn.execute(
            select(grants.c.offer_sealed, grants.c.state, grants.c.expires_at).where(
                grants.c.offer_ref_hash == ref_hash
            )
        ).first()
    if row is None or row.state != "offered" or row.expires_at <= _ms(ctx.clock()):
        raise OfferNotFoundError("no live credential offer has this reference (unknown, used or expired)")
    sealed = bytes(row.offer_sealed)
    try:
        plain = AESGCM(_offer_key(offer_ref)).decrypt(sealed[:12], sealed[12:], ref_hash.encode())
    except InvalidTag:
        raise OfferNotFoundError("the stored credential offer cannot be opened") from None
    return strict_json(plain, "the stored credential offer")


# -- metadata -----------------------------------------------------------------------------------------------------

_DISPLAY: Final = [
    {"name": "xID 発行者", "locale": "ja-JP"},
    {"name": "xID Issuer", "locale": "en-US"},
]


def issuer_metadata(ctx: IssuerContext, configurations: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The Credential Issuer Metadata (OpenID4VCI 1.0 §12.2) served at ``/.well-known/openid-credential-issuer``."""
    return {
        "credential_issuer": ctx.base_url,
        "credential_endpoint": ctx.url("/credential"),
        "nonce_endpoint": ctx.url("/nonce"),
        "notification_endpoint": ctx.url("/notification"),
        "batch_credential_issuance": {"batch_size": ctx.settings.batch_size},
        "display": _DISPLAY,
        "credential_configurations_supported": {key: dict(value) for key, value in configurations.items()},
    }


def authorization_server_metadata(
    ctx: IssuerContext, grant_types: Iterable[str], extra: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The RFC 8414 authorization server metadata served at ``/.well-known/oauth-authorization-server``.

    ``extra`` are the members other grants of the same server add (the OIDC facade's endpoints and methods): a list
    member is merged with the issuer's (union, order kept), any other member is added when the issuer has none."""
    document: dict[str, Any] = {
        "issuer": ctx.base_url,
        "token_endpoint": ctx.url("/token"),
        "grant_types_supported": sorted(grant_types),
        "token_endpoint_auth_methods_supported": ["none"],
        "pre-authorized_grant_anonymous_access_supported": True,
        "authorization_details_types_supported": [_OPENID_CREDENTIAL],
    }
    for members in extra:
        for name, value in members.items():
            present = document.get(name)
            if isinstance(present, list) and isinstance(value, list):
                document[name] = present + [item for item in value if item not in present]
            elif present is None:
                document[name] = value
    return document


_FORMATS: Final = {"dc+sd-jwt", "jwt_vc_json", "jwt_vc_json-ld", "ldp_vc", "mso_mdoc"}


def configuration_problems(configuration_id: str, configuration: Mapping[str, Any]) -> list[str]:
    """What a credential configuration lacks or gets wrong against OpenID4VCI 1.0 §12.2.4 / Appendix A (empty: ok)."""
    where = f"configuration {configuration_id!r}"
    problems: list[str] = []
    fmt = configuration.get("format")
    if fmt not in _FORMATS:
        problems.append(f"{where}: format {fmt!r} is not a 1.0 format identifier")
    if fmt == "dc+sd-jwt" and not (isinstance(configuration.get("vct"), str) and configuration["vct"]):
        problems.append(f"{where}: a dc+sd-jwt configuration needs a vct string")
    if fmt in {"jwt_vc_json", "jwt_vc_json-ld", "ldp_vc"}:
        definition = configuration.get("credential_definition")
        types = definition.get("type") if isinstance(definition, dict) else None
        if not (isinstance(types, list) and types and all(isinstance(t, str) for t in types)):
            problems.append(f"{where}: credential_definition.type must be a non-empty array of strings")
        elif fmt != "jwt_vc_json" and not isinstance(definition.get("@context"), list):  # type: ignore[union-attr]
            problems.append(f"{where}: credential_definition.@context must be an array for {fmt}")
    for legacy in ("display", "claims", "order", "proof_types", "cryptographic_suites_supported"):
        if legacy in configuration:
            problems.append(
                f"{where}: {legacy!r} is a pre-1.0 member (1.0 puts display and claims under credential_metadata)"
            )
    binding = configuration.get("cryptographic_binding_methods_supported")
    proof_types = configuration.get("proof_types_supported")
    if binding is not None:
        if not (isinstance(binding, list) and binding and all(isinstance(b, str) for b in binding)):
            problems.append(f"{where}: cryptographic_binding_methods_supported must be a non-empty array of strings")
        jwt = proof_types.get("jwt") if isinstance(proof_types, dict) else None
        algs = jwt.get("proof_signing_alg_values_supported") if isinstance(jwt, dict) else None
        if not (isinstance(algs, list) and algs):
            problems.append(f"{where}: proof_types_supported.jwt.proof_signing_alg_values_supported is required")
        elif not set(algs) <= PROOF_ALGORITHMS or "ES256" not in algs:
            problems.append(f"{where}: proof algorithms must include ES256 and be among {sorted(PROOF_ALGORITHMS)}")
    elif proof_types is not None:
        problems.append(f"{where}: proof_types_supported without cryptographic_binding_methods_supported")
    signing = configuration.get("credential_signing_alg_values_supported")
    if signing is not None and not (isinstance(signing, list) and signing):
        problems.append(f"{where}: credential_signing_alg_values_supported must be a non-empty array")
    credential_metadata = configuration.get("credential_metadata")
    if not isinstance(credential_metadata, dict):
        problems.append(f"{where}: credential_metadata (display, claims) is required by xid (wallets detect 1.0 by it)")
    else:
        display = credential_metadata.get("display")
        if not (isinstance(display, list) and display and all(isinstance(d, dict) and d.get("name") for d in display)):
            problems.append(f"{where}: credential_metadata.display must be a non-empty array of objects with a name")
        claims = credential_metadata.get("claims", [])
        if not isinstance(claims, list) or not all(
            isinstance(c, dict) and isinstance(c.get("path"), list) and c["path"] for c in claims
        ):
            problems.append(f"{where}: every credential_metadata.claims entry needs a non-empty path array")
    return problems


# -- token endpoint -----------------------------------------------------------------------------------------------


class GrantHandler(Protocol):
    """Serves one grant type at the token endpoint: the whole token request in, the token response out."""

    def __call__(self, request: TokenRequest) -> TokenResponse:
        """Redeem the grant (a success or the grant's own protocol error response), or raise an Oid4vciError."""
        ...


class GrantTypeRegistry:
    """The token endpoint's dispatch on ``grant_type``: each grant type served by one handler."""

    def __init__(self) -> None:
        self._handlers: dict[str, GrantHandler] = {}
        self._metadata: list[Mapping[str, Any]] = []

    def register(self, grant_type: str, handler: GrantHandler, metadata: Mapping[str, Any] | None = None) -> None:
        """Serve ``grant_type`` with ``handler`` (once); ``metadata``: its authorization server metadata members."""
        if grant_type in self._handlers:
            raise ValueError(f"grant type {grant_type!r} is already registered")
        self._handlers[grant_type] = handler
        if metadata:
            self._metadata.append(metadata)

    @property
    def grant_types(self) -> list[str]:
        """The grant types served, sorted (``grant_types_supported``)."""
        return sorted(self._handlers)

    @property
    def metadata(self) -> list[Mapping[str, Any]]:
        """The metadata members the registered grants add to the authorization server metadata."""
        return list(self._metadata)

    def handle(self, request: TokenRequest) -> TokenResponse:
        """Dispatch a token request on its ``grant_type``."""
        grant_type = request.form.get("grant_type")
        if not grant_type:
            raise TokenRequestError("the grant_type parameter is missing")
        handler = self._handlers.get(grant_type)
        if handler is None:
            raise UnsupportedGrantTypeError(f"grant type {grant_type[:80]!r} is not supported")
        return handler(request)


def _authorization_details(raw: str, offered: Sequence[str]) -> dict[str, str]:
    """Parse RFC 9396 ``authorization_details`` of type openid_credential: {credential identifier: configuration}."""
    try:
        value = strict_json_value(raw, "authorization_details", error=InvalidAuthorizationDetailsError)
    except XidError as error:
        raise InvalidAuthorizationDetailsError(error.message) from None
    if not isinstance(value, list) or not value:
        raise InvalidAuthorizationDetailsError("authorization_details must be a non-empty JSON array")
    granted: dict[str, str] = {}
    for entry in value:
        if not isinstance(entry, dict) or entry.get("type") != _OPENID_CREDENTIAL:
            raise InvalidAuthorizationDetailsError("every authorization_details entry must have type openid_credential")
        configuration_id = entry.get("credential_configuration_id")
        if not isinstance(configuration_id, str) or configuration_id not in offered:
            raise InvalidAuthorizationDetailsError("an authorization_details entry names a credential not offered")
        granted[configuration_id] = configuration_id
    return granted


def pre_authorized_code_grant(ctx: IssuerContext) -> GrantHandler:
    """The pre-authorized code grant (OpenID4VCI 1.0 §6.1): code + tx_code for an access token bound to the grant."""
    settings = ctx.settings

    def handle(request: TokenRequest) -> TokenResponse:
        form = request.form
        code = form.get("pre-authorized_code")
        if not code:
            raise TokenRequestError("the pre-authorized_code parameter is missing")
        tx_code = form.get("tx_code")
        now = _ms(ctx.clock())
        refusal: Oid4vciError | None = None
        with transaction(ctx.engine, write=True) as conn:
            row = conn.execute(select(grants).where(grants.c.code_hash == _hash(code)).with_for_update()).first()
            if row is None or row.state != "offered":
                raise InvalidGrantError("the pre-authorized code is unknown, already used or invalidated")
            if row.expires_at <= now:
                raise InvalidGrantError("the pre-authorized code has expired")
            if row.tx_code_hash is None and tx_code is not None:
                raise TokenRequestError("a tx_code was sent but this offer does not require one")
            if row.tx_code_hash is not None and not tx_code:
                raise TokenRequestError("this offer requires a tx_code")
            offered: list[str] = orjson.loads(row.configuration_ids)
            details_raw = form.get("authorization_details")
            identifiers = _authorization_details(details_raw, offered) if details_raw is not None else {}
            if row.tx_code_hash is not None and not hmac.compare_digest(
                row.tx_code_hash, _tx_code_hash(code, tx_code or "")
            ):
                attempts = row.tx_attempts + 1
                locked = attempts >= settings.tx_code_attempts
                conn.execute(
                    update(grants)
                    .where(grants.c.id == row.id, grants.c.state == "offered")
                    .values(tx_attempts=attempts, state="locked" if locked else "offered")
                )
                refusal = InvalidGrantError(
                    "the tx_code is wrong; the pre-authorized code is now invalidated"
                    if locked
                    else f"the tx_code is wrong ({settings.tx_code_attempts - attempts} attempts left)"
                )
            else:
                done = conn.execute(
                    update(grants).where(grants.c.id == row.id, grants.c.state == "offered").values(state="redeemed")
                )
                if done.rowcount != 1:
                    raise InvalidGrantError("the pre-authorized code is already used")
                access_token = ctx.token(32)
                expires_in = int(settings.access_token_ttl.total_seconds())
                conn.execute(
                    insert(tokens).values(
                        token_hash=_hash(access_token),
                        grant_id=row.id,
                        credential_identifiers=_dumps(identifiers),
                        expires_at=now + expires_in * 1000,
                    )
                )
        if refusal is not None:
            raise refusal
        response: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
        if details_raw is not None:
            response["authorization_details"] = [
                {"type": _OPENID_CREDENTIAL, "credential_configuration_id": cid, "credential_identifiers": [ident]}
                for ident, cid in identifiers.items()
            ]
        return TokenResponse(200, response)

    return handle


def default_grant_types(ctx: IssuerContext) -> GrantTypeRegistry:
    """A registry serving the pre-authorized code grant (the OIDC facade registers authorization_code on it)."""
    registry = GrantTypeRegistry()
    registry.register(PRE_AUTHORIZED_CODE_GRANT, pre_authorized_code_grant(ctx))
    return registry


# -- nonces and access tokens -------------------------------------------------------------------------------------


def issue_nonce(ctx: IssuerContext) -> str:
    """A fresh single-use c_nonce (stored hashed with its expiry); expired nonces are swept on the way."""
    nonce = ctx.token(32)
    now = ctx.clock()
    with transaction(ctx.engine, write=True) as conn:
        conn.execute(delete(nonces).where(nonces.c.expires_at <= _ms(now)))
        conn.execute(insert(nonces).values(nonce_hash=_hash(nonce), expires_at=_ms(now + ctx.settings.c_nonce_ttl)))
    return nonce


def purge_expired(ctx: IssuerContext, *, keep_redeemed: timedelta = timedelta(days=1)) -> int:
    """Delete expired nonces, tokens and offers never redeemed, and redeemed grants older than ``keep_redeemed``."""
    now = _ms(ctx.clock())
    old = now - int(keep_redeemed.total_seconds() * 1000)
    with transaction(ctx.engine, write=True) as conn:
        removed = conn.execute(delete(nonces).where(nonces.c.expires_at <= now)).rowcount
        removed += conn.execute(delete(tokens).where(tokens.c.expires_at <= now)).rowcount
        stale = select(grants.c.id).where(
            ((grants.c.state != "redeemed") & (grants.c.expires_at <= now)) | (grants.c.expires_at <= old)
        )
        live = select(tokens.c.grant_id)
        removed += conn.execute(
            delete(notifications).where(notifications.c.grant_id.in_(stale), notifications.c.grant_id.not_in(live))
        ).rowcount
        removed += conn.execute(delete(grants).where(grants.c.id.in_(stale), grants.c.id.not_in(live))).rowcount
    return removed


@dataclass(frozen=True)
class AccessGrant:
    """What a valid access token allows: its holder, the offered configurations and the granted identifiers."""

    holder: AuthorizedHolder
    offered: list[str]
    identifiers: dict[str, str]


def _authorize(conn: Connection, ctx: IssuerContext, access_token: str) -> AccessGrant:
    row = conn.execute(
        select(tokens.c.credential_identifiers, tokens.c.expires_at.label("token_expires_at"), grants)
        .join(grants, grants.c.id == tokens.c.grant_id)
        .where(tokens.c.token_hash == _hash(access_token))
    ).first()
    if row is None:
        raise InvalidAccessTokenError("the access token is unknown")
    if row.token_expires_at <= _ms(ctx.clock()):
        raise InvalidAccessTokenError("the access token has expired")
    holder = AuthorizedHolder(
        grant_id=row.id,
        person_id=row.person_id,
        evidence_id=row.evidence_id,
        holder_jwk=orjson.loads(row.holder_jwk),
        certificate_fingerprint=row.certificate_fingerprint,
    )
    return AccessGrant(holder, orjson.loads(row.configuration_ids), orjson.loads(row.credential_identifiers))


def authorize_bearer(ctx: IssuerContext) -> Callable[[str], AuthorizedHolder | None]:
    """A check of an access token from this token endpoint: its holder, or None when unknown or expired."""

    def check(access_token: str) -> AuthorizedHolder | None:
        if not access_token or len(access_token) > 512:
            return None
        with transaction(ctx.engine) as conn:
            try:
                return _authorize(conn, ctx, access_token).holder
            except InvalidAccessTokenError:
                return None

    return check


# -- credential endpoint ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Proof:
    jwk: dict[str, Any]
    thumbprint: str
    nonce: str


class CredentialEndpoint:
    """The credential endpoint's core (OpenID4VCI 1.0 §8): check a request completely, then issue in one transaction."""

    def __init__(
        self,
        ctx: IssuerContext,
        configurations: Mapping[str, Mapping[str, Any]],
        issue: CredentialIssuer,
        facts: IdentityFactsReader,
    ) -> None:
        self.ctx = ctx
        self.configurations = configurations
        self.issue = issue
        self.facts = facts

    def authorize(self, access_token: str | None) -> AccessGrant:
        """The grant behind a bearer token, or InvalidAccessTokenError."""
        if not access_token or len(access_token) > 512:
            raise InvalidAccessTokenError("a bearer access token is required")
        with transaction(self.ctx.engine) as conn:
            return _authorize(conn, self.ctx, access_token)

    def __call__(self, access_token: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer a credential request: ``{"credentials": [{"credential": ...}], "notification_id"}``."""
        return self.respond(self.authorize(access_token), body)

    def respond(self, auth: AccessGrant, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer a credential request whose access token ``authorize`` already checked."""
        configuration_id = self._configuration(auth, body)
        proofs = self._proofs(configuration_id, body)
        wanted = {p.nonce for p in proofs}
        ctx = self.ctx
        notification_id = ctx.token(16)
        with transaction(ctx.engine, write=True) as conn:
            consumed = conn.execute(
                delete(nonces).where(
                    nonces.c.nonce_hash.in_([_hash(n) for n in wanted]), nonces.c.expires_at > _ms(ctx.clock())
                )
            ).rowcount
            if consumed != len(wanted):
                raise InvalidNonceError("a proof's c_nonce is unknown, already used or expired; fetch a new one")
            try:
                facts = self.facts(conn, auth.holder.evidence_id)
            except IssuerError as error:
                if isinstance(error, Oid4vciError):
                    raise
                raise CredentialRequestDeniedError("the enrollment behind this grant can no longer be used") from None
            credentials = [{"credential": self.issue(conn, configuration_id, facts, proof.jwk)} for proof in proofs]
            conn.execute(
                insert(notifications).values(
                    notification_id=notification_id,
                    grant_id=auth.holder.grant_id,
                    configuration_id=configuration_id,
                    credentials=len(credentials),
                    issued_at=_ms(ctx.clock()),
                )
            )
        return {"credentials": credentials, "notification_id": notification_id}

    def _configuration(self, auth: AccessGrant, body: Mapping[str, Any]) -> str:
        if "proof" in body:
            raise InvalidCredentialRequestError(
                "the singular proof member is a pre-1.0 shape; OpenID4VCI 1.0 sends proofs: {jwt: [...]}"
            )
        if "format" in body:
            raise InvalidCredentialRequestError(
                "the format member is a pre-1.0 shape; OpenID4VCI 1.0 names a credential_configuration_id"
            )
        if "credential_response_encryption" in body:
            raise InvalidEncryptionParametersError(
                "credential response encryption is not supported (the metadata advertises none); the response is"
                " protected by TLS"
            )
        has_id, has_ident = "credential_configuration_id" in body, "credential_identifier" in body
        if has_id == has_ident:
            raise InvalidCredentialRequestError(
                "send exactly one of credential_configuration_id and credential_identifier"
            )
        if has_ident:
            ident = body["credential_identifier"]
            if not isinstance(ident, str) or ident not in auth.identifiers:
                raise UnknownCredentialIdentifierError("the credential_identifier was not granted to this access token")
            configuration_id = auth.identifiers[ident]
        else:
            configuration_id = body["credential_configuration_id"]
            if not isinstance(configuration_id, str):
                raise InvalidCredentialRequestError("credential_configuration_id must be a string")
            if auth.identifiers:
                raise InvalidCredentialRequestError(
                    "the token response granted credential_identifiers; send credential_identifier instead"
                )
        if configuration_id not in self.configurations or configuration_id not in auth.offered:
            raise UnknownCredentialConfigurationError(
                "the credential configuration is unknown or was not offered to this access token"
            )
        return configuration_id

    def _proofs(self, configuration_id: str, body: Mapping[str, Any]) -> list[_Proof]:
        proofs = body.get("proofs")
        if proofs is None:
            raise InvalidProofError("the proofs member is missing")
        if not isinstance(proofs, dict) or len(proofs) != 1:
            raise InvalidCredentialRequestError("proofs must be an object with exactly one proof type")
        if "jwt" not in proofs:
            raise InvalidProofError(f"proof type {next(iter(proofs))[:40]!r} is not supported (jwt is)")
        items = proofs["jwt"]
        if not isinstance(items, list) or not items:
            raise InvalidCredentialRequestError("proofs.jwt must be a non-empty array")
        if len(items) > self.ctx.settings.batch_size:
            raise InvalidCredentialRequestError(f"at most {self.ctx.settings.batch_size} proofs per request")
        configuration = self.configurations[configuration_id]
        jwt_type = configuration.get("proof_types_supported", {}).get("jwt", {})
        allowed = PROOF_ALGORITHMS & set(jwt_type.get("proof_signing_alg_values_supported", PROOF_ALGORITHMS))
        checked = [self._proof(i, item, allowed) for i, item in enumerate(items)]
        if len({p.thumbprint for p in checked}) != len(checked):
            raise InvalidProofError("two proofs use the same key; each credential of a batch needs its own key")
        return checked

    def _proof(self, index: int, token: Any, allowed: frozenset[str] | set[str]) -> _Proof:
        what = f"proof {index}"
        parts = parse_compact(token, what=what, max_size=_MAX_PROOF_SIZE, error=InvalidProofError)
        header = parts.header
        if header.get("typ") != PROOF_TYP:
            raise InvalidProofError(f"{what}: the header typ must be {PROOF_TYP}")
        alg = header["alg"]
        if alg not in allowed:
            raise InvalidProofError(f"{what}: alg {alg[:20]!r} is not allowed (allowed: {', '.join(sorted(allowed))})")
        if "x5c" in header:
            raise InvalidProofError(f"{what}: x5c proof keys are not supported (use jwk or a did:key / did:jwk kid)")
        if ("jwk" in header) == ("kid" in header):
            raise InvalidProofError(f"{what}: the header must carry exactly one of jwk and kid")
        try:
            if "jwk" in header:
                key = PublicKey.from_jwk(header["jwk"])
            else:
                kid = header["kid"]
                if not isinstance(kid, str):
                    raise InvalidProofError(f"{what}: kid must be a DID URL string")
                key = _PROOF_KEY_RESOLVER.dereference(kid, "authentication").public_key
            key.verify(parts.signature, parts.signing_input, alg)
        except DidError as error:
            raise InvalidProofError(f"{what}: {error.message}") from None
        payload = strict_json(parts.payload, f"{what} payload", error=InvalidProofError)
        if payload.get("aud") != self.ctx.base_url:
            raise InvalidProofError(f"{what}: aud must be the credential issuer identifier {self.ctx.base_url}")
        if "iss" in payload:
            raise InvalidProofError(f"{what}: iss must be absent after an anonymous pre-authorized code grant")
        iat = payload.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
            raise InvalidProofError(f"{what}: iat is missing or not a number")
        now = self.ctx.clock().timestamp()
        window = self.ctx.settings.proof_max_age.total_seconds()
        if iat < now - window:
            raise InvalidProofError(f"{what}: iat is older than {int(window)} s")
        if iat > now + window:
            raise InvalidProofError(f"{what}: iat is in the future")
        nonce = payload.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise InvalidProofError(f"{what}: the c_nonce is missing (take one from the nonce endpoint)")
        if len(nonce) > 256:
            raise InvalidNonceError(f"{what}: the c_nonce is unknown")
        jwk = key.to_jwk()
        return _Proof(jwk, key.thumbprint(), nonce)


# -- notification endpoint ----------------------------------------------------------------------------------------


def notify(ctx: IssuerContext, access_token: str | None, body: Mapping[str, Any]) -> None:
    """Record a wallet's notification (OpenID4VCI 1.0 §11) on the credential response it names."""
    if not access_token or len(access_token) > 512:
        raise InvalidAccessTokenError("a bearer access token is required")
    notification_id, event = body.get("notification_id"), body.get("event")
    if not isinstance(notification_id, str) or not notification_id:
        raise InvalidNotificationRequestError("notification_id is missing or not a string")
    if event not in NOTIFICATION_EVENTS:
        raise InvalidNotificationRequestError(f"event must be one of {', '.join(sorted(NOTIFICATION_EVENTS))}")
    description = body.get("event_description")
    if description is not None and not (isinstance(description, str) and description.isascii()):
        raise InvalidNotificationRequestError("event_description must be an ASCII string")
    with transaction(ctx.engine, write=True) as conn:
        auth = _authorize(conn, ctx, access_token)
        done = conn.execute(
            update(notifications)
            .where(
                notifications.c.notification_id == notification_id,
                notifications.c.grant_id == auth.holder.grant_id,
            )
            .values(event=event, event_at=_ms(ctx.clock()))
        )
        if done.rowcount != 1:
            raise InvalidNotificationIdError("the notification_id is unknown for this access token")
