"""The OpenID Connect provider protocol: authorization requests (and PAR), codes, the token grant, userinfo, discovery.

``/authorize`` (``Provider.authorize``) validates a code-flow request by hand (the login runs later, in other
requests, so the request is stored: table ``oidc_authorizations``) and hands it to the login flow; ``complete``
issues the single-use code bound to the request and the login's outcome, appends the hash-only authentication
ledger record and returns the RP redirect (``code``, ``state``, ``iss`` per RFC 9207). The token endpoint runs on
Authlib's grant framework (``AuthorizationCodeGrant`` + ``CodeChallenge`` (S256 only) + ``OpenIDCode``) with client
authentication ``client_secret_basic``, ``client_secret_post`` (SHA-256 of the secret compared with
``verifier.rps``) and ``private_key_jwt`` (RFC 7523: ``aud`` the token endpoint, PAR endpoint or issuer; asymmetric
algorithms only; ``exp`` required and at most ``client_assertion_max_age`` ahead; ``jti`` single use across
processes through a unique key). A small adapter turns the token endpoint's ``TokenRequest`` into Authlib's request.

Codes and access tokens are stored only as SHA-256 hashes. A code is redeemed by a conditional ``UPDATE`` (single
use across processes); a second redemption is refused with ``invalid_grant`` and revokes every token issued from
that code (RFC 6749 §4.1.2). Errors::

    OidcError
    ├── InvalidAuthorizationRequestError   oidcInvalidRequest         invalid_request (400)
    ├── UnknownClientError                 oidcUnknownClient          invalid_request (400, shown on a page)
    ├── InvalidRedirectUriError            oidcInvalidRedirectUri     invalid_request (400, shown on a page)
    ├── UnsupportedResponseTypeError       oidcUnsupportedResponseType  unsupported_response_type
    ├── InvalidScopeError                  oidcInvalidScope           invalid_scope
    ├── RequestNotSupportedError           oidcRequestNotSupported    request_not_supported
    ├── InvalidRequestUriError             oidcInvalidRequestUri      invalid_request_uri
    ├── LoginRequiredError                 oidcLoginRequired          login_required
    ├── UnmetAuthenticationRequirementsError  oidcUnmetAuthentication  unmet_authentication_requirements
    ├── AuthorizationNotFoundError         oidcAuthorizationNotFound  invalid_request (404)
    ├── InvalidClientAuthenticationError   oidcInvalidClient          invalid_client (401)
    └── InvalidTokenError                  oidcInvalidToken           invalid_token (401)
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Protocol

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidGrantError,
    JsonRequest,
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749 import InvalidClientError as AuthlibInvalidClientError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, delete, insert, select, update
from starlette.datastructures import Headers

from foundation.db import is_unique_violation, transaction
from foundation.strict_json import strict_json_value
from foundation.web import TokenRequest, TokenResponse, safe_description
from ledger.errors import LedgerError
from ledger.records import EventType, Record, commitment
from oidc import claims as claim_mapping
from oidc import keys
from oidc.consent import LINKAGE_CLAIM, linkage_targets
from oidc.context import OidcContext
from oidc.contracts import AuthorizationRequest, LoginFlow, LoginOutcome
from oidc.db import Millis, metadata
from oidc.errors import OidcError
from verifier import rps

__all__ = [
    "ACR_HOLDER_KEY",
    "AMR",
    "AUTH_METHODS",
    "CLAIMS_SUPPORTED",
    "SCOPES_SUPPORTED",
    "AuthorizationNotFoundError",
    "AuthorizeResult",
    "InvalidAuthorizationRequestError",
    "InvalidClientAuthenticationError",
    "InvalidRedirectUriError",
    "InvalidRequestUriError",
    "InvalidScopeError",
    "InvalidTokenError",
    "LinkageSource",
    "LoginRequiredError",
    "Provider",
    "RequestNotSupportedError",
    "UnknownClientError",
    "UnmetAuthenticationRequirementsError",
    "UnsupportedResponseTypeError",
    "authorizations",
    "client_assertions",
    "codes",
    "pushed_requests",
    "tokens",
]

log = logging.getLogger(__name__)

ACR_HOLDER_KEY: Final = "urn:xid:acr:jpki-enrolled-holder-key"
"""The one authentication context xid answers: identity proofed once with the card's JPKI signature certificate
(chip signature, PIN, certificate revocation checked at enrollment), login by possession of the wallet's holder key
bound to that credential, the credential's status checked at login."""

AMR: Final = ("pop", "swk")
"""RFC 8176 methods the OP observes at login: proof of possession of a software-secured key. ``mfa`` is not claimed:
the wallet's user verification (passphrase) happens inside the wallet and is not proven to the OP."""

AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SCOPES_SUPPORTED: Final = ("openid", "profile", "name", "address", "birthdate", "gender")
CLAIMS_SUPPORTED: Final = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "name",
    "address",
    "birthdate",
    "gender",
    "verified_claims",
)
_ASSERTION_ALGS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"})
_MAX_PARAM = 2048
_MAX_CLAIMS = 4096
_PAR_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
_PROMPTS: Final = frozenset({"none", "login", "consent", "select_account"})

authorizations = Table(
    "oidc_authorizations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("request", Text, nullable=False),
    Column("nonce", String(_MAX_PARAM), nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", Millis, nullable=False, index=True),
)
"""Validated authorization requests waiting for their login (``pending``), then ``done``."""

pushed_requests = Table(
    "oidc_pushed_requests",
    metadata,
    Column("uri_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("expires_at", Millis, nullable=False, index=True),
)
"""RFC 9126 pushed authorization requests by the SHA-256 of their ``request_uri`` (deleted when used)."""

codes = Table(
    "oidc_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("authorization_id", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("grant", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("expires_at", Millis, nullable=False, index=True),
    Column("ledger_index", Integer, nullable=True),
)
"""Authorization codes (``issued`` → ``redeemed``); ``grant`` holds what the tokens carry until the code expires."""

tokens = Table(
    "oidc_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("userinfo", Text, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("expires_at", Millis, nullable=False),
    Column("ledger_index", Integer, nullable=True),
    Index("ix_oidc_tokens_code", "code_hash"),
)
"""Access tokens (opaque, by SHA-256) with the userinfo they answer; revoked when their code is reused."""

client_assertions = Table(
    "oidc_client_assertions",
    metadata,
    Column("jti_hash", String(64), primary_key=True),
    Column("expires_at", Millis, nullable=False, index=True),
)
"""``jti`` values of accepted client assertions (SHA-256 of client_id and jti) until the assertion expires."""


class InvalidAuthorizationRequestError(OidcError):
    """The authorization request is malformed or misses a parameter xid requires (``invalid_request``)."""

    code = "oidcInvalidRequest"
    error = "invalid_request"


class UnknownClientError(OidcError):
    """The authorization request names no registered client (shown on an error page, never redirected)."""

    code = "oidcUnknownClient"
    error = "invalid_request"


class InvalidRedirectUriError(OidcError):
    """The redirect_uri is missing or not exactly one the client registered (shown on an error page)."""

    code = "oidcInvalidRedirectUri"
    error = "invalid_request"


class UnsupportedResponseTypeError(OidcError):
    """Only ``response_type=code`` is offered."""

    code = "oidcUnsupportedResponseType"
    error = "unsupported_response_type"


class InvalidScopeError(OidcError):
    """The scope lacks ``openid`` or asks for what xid refuses (``sign``)."""

    code = "oidcInvalidScope"
    error = "invalid_scope"


class RequestNotSupportedError(OidcError):
    """A ``request`` object (JAR by value) is not supported: push the request (PAR) instead."""

    code = "oidcRequestNotSupported"
    error = "request_not_supported"


class InvalidRequestUriError(OidcError):
    """The ``request_uri`` is not a pushed request of this client, or it was used or expired."""

    code = "oidcInvalidRequestUri"
    error = "invalid_request_uri"


class LoginRequiredError(OidcError):
    """``prompt=none``: xid has no OP session, every login is a wallet presentation."""

    code = "oidcLoginRequired"
    error = "login_required"


class UnmetAuthenticationRequirementsError(OidcError):
    """An essential ``acr`` the OP cannot satisfy (OpenID Connect Core Unmet Authentication Requirements 1.0)."""

    code = "oidcUnmetAuthentication"
    error = "unmet_authentication_requirements"


class AuthorizationNotFoundError(OidcError):
    """No pending authorization has that id (unknown, finished or expired)."""

    code = "oidcAuthorizationNotFound"
    error = "invalid_request"
    status = 404


class InvalidClientAuthenticationError(OidcError):
    """The client did not authenticate (PAR endpoint)."""

    code = "oidcInvalidClient"
    error = "invalid_client"
    status = 401


class InvalidTokenError(OidcError):
    """The access token is missing, unknown, expired or revoked (RFC 6750 ``invalid_token``)."""

    code = "oidcInvalidToken"
    error = "invalid_token"
    status = 401


@dataclass(frozen=True)
class AuthorizeResult:
    """What ``/authorize`` answers: ``redirect`` to a URL (login page or the RP), or an error ``page``."""

    location: str | None
    error: OidcError | None = None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _with_params(uri: str, params: Mapping[str, str | None]) -> str:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if urllib.parse.urlsplit(uri).query else '?'}{query}"


class LinkageSource(Protocol):
    """Linkage identifiers shared by two relying parties, only with the person's consent (``oidc.consent``)."""

    def linkage_id(self, person: str, client_id: str, other_client_id: str, *, holder: str) -> str:
        """The identifier both clients receive for the person, or an OidcError when the person did not consent."""
        ...


# -- Authlib adapter ----------------------------------------------------------------------------------------------


class _Request(OAuth2Request):  # type: ignore[misc]
    """Authlib's request over a ``TokenRequest`` (form + headers), so the grant runs without a web framework."""

    def __init__(self, request: TokenRequest) -> None:
        super().__init__("POST", request.url, headers=Headers(headers=dict(request.headers)))
        self._form = dict(request.form)
        self.payload = BasicOAuth2Payload(self._form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Client(ClientMixin):  # type: ignore[misc]
    """A registered relying party as Authlib's client."""

    def __init__(self, engine: Any, party: rps.RelyingParty) -> None:
        self.engine = engine
        self.party = party
        self.id_token_signed_response_alg = party.id_token_alg or "RS256"

    def get_client_id(self) -> str:
        return self.party.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.party.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.party.auth_method == "private_key_jwt":
            return False
        return rps.secret_matches(self.engine, self.party.client_id, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.party.auth_method == "private_key_jwt":
            return method == "private_key_jwt"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _Code:
    """A redeemable authorization code as Authlib's grant sees it (``AuthorizationCodeMixin``)."""

    code_hash: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    auth_time: int
    acr: str
    amr: list[str]
    sub: str
    id_token_claims: dict[str, Any]
    userinfo: dict[str, Any]
    ledger_index: int | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


class _Server(AuthorizationServer):  # type: ignore[misc]
    """Authlib's authorization server with a plain (form, headers) adapter; responses become ``TokenResponse``."""

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def query_client(self, client_id: str) -> _Client | None:
        return self.provider._client(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.provider._save_token(token, request)

    def create_oauth2_request(self, request: TokenRequest) -> OAuth2Request:
        return _Request(request)

    def create_json_request(self, request: Any) -> JsonRequest:
        raise NotImplementedError("the facade's endpoints take forms")

    def handle_response(self, status: int, body: Any, headers: Any) -> TokenResponse:
        document = dict(body) if isinstance(body, Mapping) else {}
        if "error_description" in document:
            document["error_description"] = safe_description(str(document["error_description"]))
        return TokenResponse(status, document, {str(k): str(v) for k, v in headers})

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class _S256(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only (``plain`` is refused at /authorize and never verified)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {"S256": compare_s256_code_challenge}


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """The authorization code grant over the facade's code table."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        provider: Provider = self.server.provider
        return provider._query_code(code, client)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        return None  # the code was marked redeemed in save_token, atomically with the token it gave

    def authenticate_user(self, authorization_code: _Code) -> _Code:
        return authorization_code


class _IdToken(OpenIDCode):  # type: ignore[misc]
    """Signs the ID token with the OP's current key for the client's algorithm."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # nonces are the RP's replay defence; they are bound to the code, not kept

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        code: _Code = request.authorization_code
        client: _Client = request.client
        return self.provider._id_token(client, code, token.get("access_token"))


class _PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9): asymmetric algorithms, bounded lifetime, single-use jti."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, provider: Provider) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.provider = provider

    def get_audiences(self) -> list[str]:
        ctx = self.provider.ctx
        return [ctx.url("/token"), ctx.base_url, ctx.url("/par")]

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if len(assertion) > 8192:
            raise AuthlibInvalidClientError(description="the client assertion is too long")
        headers, claims = super().extract_assertion(assertion)
        if headers.get("alg") not in _ASSERTION_ALGS:
            raise AuthlibInvalidClientError(
                description="the client assertion must be signed with an asymmetric algorithm (not none or HMAC)"
            )
        return dict(headers), dict(claims)

    def resolve_client_public_key(self, client: _Client) -> KeySet:
        if not client.party.jwks:
            raise AuthlibInvalidClientError(description="the client registered no JWK Set")
        return KeySet.import_key_set(client.party.jwks)  # type: ignore[arg-type]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=sorted(_ASSERTION_ALGS))
        except JoseError as error:
            raise AuthlibInvalidClientError(description=f"the client assertion is not valid: {error.error}") from None
        except (ValueError, TypeError):
            raise AuthlibInvalidClientError(description="the client assertion is not valid") from None
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        now = self.provider.ctx.clock().timestamp()
        max_age = self.provider.ctx.settings.client_assertion_max_age.total_seconds()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp > now + max_age:
            raise AuthlibInvalidClientError(
                description=f"the client assertion needs an exp at most {int(max_age)} seconds ahead"
            )
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, int | float) or iat < now - max_age):
            raise AuthlibInvalidClientError(description="the client assertion is too old")
        super().verify_claims(claims)

    def validate_jti(self, claims: Mapping[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        return self.provider._use_jti(str(claims["sub"]), jti, int(claims["exp"]))


# -- the provider -------------------------------------------------------------------------------------------------


class Provider:
    """The OP: authorization requests in, codes out (``Completion``), the token grant, userinfo and metadata."""

    def __init__(self, ctx: OidcContext, login: LoginFlow, linkage: LinkageSource | None = None) -> None:
        self.ctx = ctx
        self.login = login
        self.linkage = linkage
        self.server = _Server(self)
        self.server.register_grant(_CodeGrant, [_S256(required=True), _IdToken(self)])
        self.server.register_token_generator("default", self._generate_token)
        self.server.register_client_auth_method("private_key_jwt", _PrivateKeyJwt(self))

    # -- clients ---------------------------------------------------------------------------------------------

    def _client(self, client_id: str) -> _Client | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
            return None
        try:
            return _Client(self.ctx.engine, rps.get(self.ctx.engine, client_id))
        except rps.UnknownRelyingPartyError:
            return None

    def authenticate_client(self, form: Mapping[str, str], headers: Mapping[str, str], url: str) -> rps.RelyingParty:
        """The client a request authenticates (any registered method), or InvalidClientAuthenticationError."""
        try:
            request = _Request(TokenRequest(form=form, headers=headers, url=url))
            client: _Client = self.server.authenticate_client(request, list(AUTH_METHODS), "token")
        except OAuth2Error as error:
            raise InvalidClientAuthenticationError(safe_description(error.description or "invalid client")) from None
        return client.party

    def _use_jti(self, client_id: str, jti: str, exp: int) -> bool:
        now = _ms(self.ctx.clock())
        try:
            with transaction(self.ctx.engine, write=True) as conn:
                conn.execute(delete(client_assertions).where(client_assertions.c.expires_at <= now))
                conn.execute(
                    insert(client_assertions).values(
                        jti_hash=_hash(f"{client_id}\0{jti}"), expires_at=max(exp * 1000, now) + 60_000
                    )
                )
        except Exception as error:
            if is_unique_violation(error):
                return False
            raise
        return True

    # -- /authorize and PAR ----------------------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> AuthorizeResult:
        """Handle an authorization request: the login page URL, an error redirect to the RP, or an error page."""
        try:
            if "request_uri" in params:  # RFC 9126 §4: the pushed parameters replace the query's
                pusher = self._client(params.get("client_id", ""))
                if pusher is None:
                    raise UnknownClientError("no client is registered with this client_id")
                params = self._take_pushed(pusher, params["request_uri"])
            client, redirect_uri = self._client_and_redirect(params)
        except OidcError as error:
            return AuthorizeResult(None, error)
        state = params.get("state")
        try:
            request, nonce, challenge = self._validate(client, redirect_uri, params)
        except OidcError as error:
            return AuthorizeResult(self._error_redirect(redirect_uri, error, state))
        self._store(request, nonce, challenge)
        return AuthorizeResult(self.login.start(request))

    def push(self, form: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, Any]:
        """RFC 9126: authenticate the client, validate its request, store it; ``request_uri`` and ``expires_in``."""
        party = self.authenticate_client(form, headers, self.ctx.url("/par"))
        params = {k: v for k, v in form.items() if not k.startswith("client_assertion") and k != "client_secret"}
        if params.get("client_id", party.client_id) != party.client_id:
            raise InvalidAuthorizationRequestError("client_id is not the authenticated client")
        params["client_id"] = party.client_id
        if "request_uri" in params:
            raise InvalidAuthorizationRequestError("a pushed request must not itself carry a request_uri")
        client, redirect_uri = self._client_and_redirect(params)
        self._validate(client, redirect_uri, params)
        request_uri = _PAR_PREFIX + self.ctx.token(32)
        ttl = self.ctx.settings.par_ttl
        now = self.ctx.clock()
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(delete(pushed_requests).where(pushed_requests.c.expires_at <= _ms(now)))
            conn.execute(
                insert(pushed_requests).values(
                    uri_hash=_hash(request_uri),
                    client_id=party.client_id,
                    params=json.dumps(params),
                    expires_at=_ms(now + ttl),
                )
            )
        return {"request_uri": request_uri, "expires_in": int(ttl.total_seconds())}

    def _take_pushed(self, client: _Client, request_uri: str) -> dict[str, str]:
        if not request_uri.startswith(_PAR_PREFIX) or len(request_uri) > 200:
            raise InvalidRequestUriError("request_uri must be one the pushed authorization request endpoint returned")
        now = _ms(self.ctx.clock())
        with transaction(self.ctx.engine, write=True) as conn:
            row = conn.execute(
                delete(pushed_requests)
                .where(pushed_requests.c.uri_hash == _hash(request_uri))
                .returning(pushed_requests.c.client_id, pushed_requests.c.params, pushed_requests.c.expires_at)
            ).first()
        if row is None or row.expires_at <= now:
            raise InvalidRequestUriError("the request_uri is unknown, already used or expired")
        if row.client_id != client.party.client_id:
            raise InvalidRequestUriError("the request_uri was pushed by another client")
        params: dict[str, str] = json.loads(row.params)
        return params

    def _client_and_redirect(self, params: Mapping[str, str]) -> tuple[_Client, str]:
        """Phase 1: the client and its exact redirect_uri; errors here are shown on a page, never redirected."""
        client_id = params.get("client_id")
        if not client_id:
            raise UnknownClientError("the client_id parameter is missing")
        client = self._client(client_id)
        if client is None:
            raise UnknownClientError("no client is registered with this client_id")
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri:
            raise InvalidRedirectUriError("the redirect_uri parameter is missing (xid requires it)")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRedirectUriError("the redirect_uri is not one this client registered (exact match)")
        return client, redirect_uri

    def _validate(
        self, client: _Client, redirect_uri: str, params: Mapping[str, str]
    ) -> tuple[AuthorizationRequest, str, str]:
        """Phase 2: everything else of the request; errors here go back to the RP's redirect_uri."""
        for name, value in params.items():
            if len(value) > (_MAX_CLAIMS if name == "claims" else _MAX_PARAM):
                raise InvalidAuthorizationRequestError(f"the {name[:40]} parameter is too long")
        if "request" in params:
            raise RequestNotSupportedError("request objects are not supported; push the request to /par instead")
        if params.get("response_type") != "code":
            raise UnsupportedResponseTypeError("only response_type=code (the authorization code flow) is offered")
        if params.get("response_mode") not in (None, "query"):
            raise InvalidAuthorizationRequestError("only response_mode=query is offered")
        scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
        if "openid" not in scopes:
            raise InvalidScopeError("the scope must contain openid")
        if "sign" in scopes:
            raise InvalidScopeError(
                "the sign scope is not offered: document signing goes through the xid wallet "
                "(xid wallet sign), not through this login"
            )
        scopes = tuple(s for s in scopes if s in SCOPES_SUPPORTED)
        state = params.get("state")
        if not state:
            raise InvalidAuthorizationRequestError("the state parameter is required")
        nonce = params.get("nonce")
        if not nonce:
            raise InvalidAuthorizationRequestError("the nonce parameter is required")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if not challenge:
            raise InvalidAuthorizationRequestError("code_challenge (PKCE, RFC 7636) is required")
        if method != "S256":
            raise InvalidAuthorizationRequestError("code_challenge_method must be S256 (plain is refused)")
        if len(challenge) != 43 or not all(c.isalnum() or c in "-_" for c in challenge):
            raise InvalidAuthorizationRequestError("code_challenge must be the base64url SHA-256 of the verifier")
        prompt = tuple(params.get("prompt", "").split())
        if any(p not in _PROMPTS for p in prompt):
            raise InvalidAuthorizationRequestError("prompt may only hold none, login, consent and select_account")
        if "none" in prompt:
            if len(prompt) > 1:
                raise InvalidAuthorizationRequestError("prompt=none cannot be combined with other values")
            raise LoginRequiredError("xid keeps no login session: every login is a presentation from the wallet")
        max_age: int | None = None
        if "max_age" in params:
            raw = params["max_age"]
            if not raw.isdigit() or len(raw) > 10:
                raise InvalidAuthorizationRequestError("max_age must be a non-negative integer")
            max_age = int(raw)
        claims_param = self._claims_parameter(params.get("claims"))
        acr_values = tuple(params.get("acr_values", "").split())
        self._check_essential_acr(claims_param)
        ui_locales = tuple(params.get("ui_locales", "").split())[:10]
        linkage = linkage_targets(tuple(params.get("scope", "").split()))
        if linkage and self.linkage is None:
            raise InvalidScopeError("linkage scopes are not offered by this provider")
        for partner in linkage:
            if partner == client.party.client_id or self._client(partner) is None:
                raise InvalidAuthorizationRequestError("linkage names a client that is not another registered client")
        now = self.ctx.clock().astimezone(UTC)
        request = AuthorizationRequest(
            id=self.ctx.token(32),
            client_id=client.party.client_id,
            client_name=client.party.name,
            sector=client.party.sector,
            redirect_uri=redirect_uri,
            state=state,
            scopes=scopes,
            claims=claims_param,
            acr_values=acr_values,
            prompt=prompt,
            max_age=max_age,
            ui_locales=ui_locales,
            linkage=linkage,
            created_at=now,
            expires_at=now + self.ctx.settings.authorization_ttl,
        )
        return request, nonce, challenge

    @staticmethod
    def _claims_parameter(raw: str | None) -> dict[str, Any]:
        if raw is None:
            return {}
        try:
            value = strict_json_value(raw, "the claims parameter", error=InvalidAuthorizationRequestError)
        except OidcError as error:
            raise InvalidAuthorizationRequestError(error.message) from None
        if not isinstance(value, dict) or not set(value) <= {"id_token", "userinfo"}:
            raise InvalidAuthorizationRequestError("claims must be a JSON object with id_token and/or userinfo members")
        for target, members in value.items():
            if not isinstance(members, dict):
                raise InvalidAuthorizationRequestError(f"claims.{target} must be a JSON object")
            for name, spec in members.items():
                if name == "verified_claims":
                    entries = spec if isinstance(spec, list) else [spec]
                    if not entries or not all(
                        isinstance(e, dict) and isinstance(e.get("claims", {}), dict) for e in entries
                    ):
                        raise InvalidAuthorizationRequestError("claims.verified_claims must be an object or array")
                elif spec is not None and not isinstance(spec, dict):
                    raise InvalidAuthorizationRequestError(f"claims.{target}.{name[:40]} must be null or an object")
        return value

    @staticmethod
    def _check_essential_acr(claims_param: Mapping[str, Any]) -> None:
        """An essential ``acr`` request xid cannot satisfy is refused (OIDC Core §5.5.1.1)."""
        spec = claims_param.get("id_token", {}).get("acr")
        if not isinstance(spec, dict) or spec.get("essential") is not True:
            return
        wanted = spec.get("values", [spec["value"]] if "value" in spec else None)
        if wanted is not None and ACR_HOLDER_KEY not in (wanted if isinstance(wanted, list) else [wanted]):
            raise UnmetAuthenticationRequirementsError(
                f"the essential acr cannot be met: xid authenticates with {ACR_HOLDER_KEY} only "
                "(card checked at enrollment, holder key possession at login)"
            )

    def _store(self, request: AuthorizationRequest, nonce: str, challenge: str) -> None:
        document = asdict(request)
        document["created_at"] = _ms(request.created_at)
        document["expires_at"] = _ms(request.expires_at)
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(delete(authorizations).where(authorizations.c.expires_at <= _ms(self.ctx.clock())))
            conn.execute(
                insert(authorizations).values(
                    id=request.id,
                    client_id=request.client_id,
                    request=json.dumps(document),
                    nonce=nonce,
                    code_challenge=challenge,
                    status="pending",
                    expires_at=document["expires_at"],
                )
            )

    def _error_redirect(self, redirect_uri: str, error: OidcError, state: str | None) -> str:
        return _with_params(
            redirect_uri,
            {
                "error": error.error,
                "error_description": safe_description(error.message),
                "state": state,
                "iss": self.ctx.base_url,
            },
        )

    # -- Completion ------------------------------------------------------------------------------------------

    def _row(self, authorization_id: str) -> Any:
        with transaction(self.ctx.engine) as conn:
            row = conn.execute(select(authorizations).where(authorizations.c.id == authorization_id[:64])).first()
        if row is None or row.status != "pending" or row.expires_at <= _ms(self.ctx.clock()):
            raise AuthorizationNotFoundError("this login request is unknown, finished or expired; start again")
        return row

    @staticmethod
    def _request(row: Any) -> AuthorizationRequest:
        data = json.loads(row.request)
        for name in ("scopes", "acr_values", "prompt", "ui_locales", "linkage"):
            data[name] = tuple(data[name])
        data["created_at"] = datetime.fromtimestamp(data["created_at"] / 1000, UTC)
        data["expires_at"] = datetime.fromtimestamp(data["expires_at"] / 1000, UTC)
        return AuthorizationRequest(**data)

    def pending(self, authorization_id: str) -> AuthorizationRequest:
        """The pending authorization request, or AuthorizationNotFoundError when unknown, finished or expired."""
        return self._request(self._row(authorization_id))

    def _finish(self, conn: Any, authorization_id: str) -> None:
        done = conn.execute(
            update(authorizations)
            .where(
                authorizations.c.id == authorization_id,
                authorizations.c.status == "pending",
                authorizations.c.expires_at > _ms(self.ctx.clock()),
            )
            .values(status="done")
        )
        if done.rowcount != 1:
            raise AuthorizationNotFoundError("this login request is unknown, finished or expired; start again")

    def complete(self, authorization_id: str, outcome: LoginOutcome) -> str:
        """Issue the code for a successful login and return the RP redirect URL (``code``, ``state``, ``iss``)."""
        row = self._row(authorization_id)
        request = self._request(row)
        sub = self.ctx.subjects.pairwise(outcome.holder, request.sector)
        if sub is None:
            return self.fail(authorization_id, "access_denied", "no person is known for the presented credential")
        id_token_claims, userinfo = claim_mapping.released_claims(request, outcome.claims)
        if request.linkage:
            assert self.linkage is not None  # linkage scopes are refused at /authorize without a source
            try:
                shared = {
                    other: self.linkage.linkage_id(outcome.person, request.client_id, other, holder=outcome.holder)
                    for other in request.linkage
                }
            except OidcError as refused:
                return self.fail(authorization_id, refused.error, refused.message)
            id_token_claims[LINKAGE_CLAIM] = shared
            userinfo[LINKAGE_CLAIM] = shared
        code = self.ctx.token(32)
        grant = {
            "redirect_uri": request.redirect_uri,
            "scope": " ".join(request.scopes),
            "nonce": row.nonce,
            "code_challenge": row.code_challenge,
            "auth_time": int(outcome.auth_time.timestamp()),
            "acr": ACR_HOLDER_KEY,
            "amr": list(AMR),
            "sub": sub,
            "id_token_claims": id_token_claims,
            "userinfo": userinfo,
        }
        now = self.ctx.clock()
        with transaction(self.ctx.engine, write=True) as conn:
            self._finish(conn, authorization_id)
            conn.execute(delete(codes).where(codes.c.expires_at <= _ms(now - self.ctx.settings.access_token_ttl)))
            conn.execute(
                insert(codes).values(
                    code_hash=_hash(code),
                    authorization_id=authorization_id,
                    client_id=request.client_id,
                    grant=json.dumps(grant),
                    state="issued",
                    expires_at=_ms(now + self.ctx.settings.code_ttl),
                )
            )
        index = self._record_login(request, sub, outcome)
        if index is not None:
            with transaction(self.ctx.engine, write=True) as conn:
                conn.execute(update(codes).where(codes.c.code_hash == _hash(code)).values(ledger_index=index))
        self.ctx.on_login("success")
        return _with_params(request.redirect_uri, {"code": code, "state": request.state, "iss": self.ctx.base_url})

    def fail(self, authorization_id: str, error: str, description: str) -> str:
        """End the authorization with an OAuth error; the RP redirect URL (``error``, ``state``, ``iss``)."""
        request = self.pending(authorization_id)
        with transaction(self.ctx.engine, write=True) as conn:
            self._finish(conn, authorization_id)
        code = error if error.isascii() and error.replace("_", "").isalpha() else "server_error"
        self.ctx.on_login("failure")
        return _with_params(
            request.redirect_uri,
            {
                "error": code,
                "error_description": safe_description(description),
                "state": request.state,
                "iss": self.ctx.base_url,
            },
        )

    def _record_login(self, request: AuthorizationRequest, sub: str, outcome: LoginOutcome) -> int | None:
        """Append the hash-only authentication record (subject = commitment of the pairwise sub); its index."""
        if self.ctx.ledger is None:
            return None
        try:
            party = rps.get(self.ctx.engine, request.client_id)
        except rps.UnknownRelyingPartyError:
            party = None
        try:
            record = Record(
                type=EventType.AUTHENTICATION,
                time=self.ctx.clock(),
                subject=commitment(self.ctx.ledger_key, sub),
                rp=party.ledger_rp if party is not None else None,
                object=outcome.presentation_digest,
            )
            return self.ctx.ledger.append(record).index
        except (LedgerError, TimeoutError) as error:
            log.warning("the login's ledger record was not appended: %s", type(error).__name__)
            return None

    # -- token endpoint --------------------------------------------------------------------------------------

    def token_grant(self, request: TokenRequest) -> TokenResponse:
        """The ``authorization_code`` grant handler for the token endpoint's registry."""
        try:
            response: TokenResponse = self.server.create_token_response(request)
        except OAuth2Error as error:  # raised before Authlib's own handling: a plain-http, non-loopback origin
            description = safe_description(error.description or "the token request cannot be served")
            return TokenResponse(400, {"error": error.error or "invalid_request", "error_description": description})
        return response

    def _generate_token(
        self,
        grant_type: str,
        client: _Client,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return {
            "access_token": self.ctx.token(32),
            "token_type": "Bearer",
            "expires_in": int(self.ctx.settings.access_token_ttl.total_seconds()),
            "scope": scope or "openid",
        }

    def _query_code(self, code: str, client: _Client) -> _Code | None:
        code_hash = _hash(code)
        now = _ms(self.ctx.clock())
        with transaction(self.ctx.engine) as conn:
            row = conn.execute(select(codes).where(codes.c.code_hash == code_hash)).first()
        if row is None or row.client_id != client.party.client_id:
            return None
        if row.state != "issued":
            self._revoke_code_tokens(code_hash)
            return None
        if row.expires_at <= now:
            return None
        grant = json.loads(row.grant)
        return _Code(
            code_hash=code_hash,
            client_id=row.client_id,
            redirect_uri=grant["redirect_uri"],
            scope=grant["scope"],
            nonce=grant["nonce"],
            code_challenge=grant["code_challenge"],
            code_challenge_method="S256",
            auth_time=grant["auth_time"],
            acr=grant["acr"],
            amr=grant["amr"],
            sub=grant["sub"],
            id_token_claims=grant["id_token_claims"],
            userinfo=grant["userinfo"],
            ledger_index=row.ledger_index,
        )

    def _revoke_code_tokens(self, code_hash: str) -> None:
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(update(tokens).where(tokens.c.code_hash == code_hash).values(revoked=True))
        log.warning("an authorization code was presented again; the tokens issued from it are revoked")

    def _save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        code: _Code = request.authorization_code
        now = self.ctx.clock()
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(delete(tokens).where(tokens.c.expires_at <= _ms(now - timedelta(days=1))))
            redeemed = conn.execute(
                update(codes)
                .where(codes.c.code_hash == code.code_hash, codes.c.state == "issued")
                .values(state="redeemed")
            ).rowcount
            if redeemed == 1:
                conn.execute(
                    insert(tokens).values(
                        token_hash=_hash(token["access_token"]),
                        code_hash=code.code_hash,
                        client_id=code.client_id,
                        userinfo=json.dumps({"sub": code.sub, **code.userinfo}),
                        revoked=False,
                        expires_at=_ms(now) + int(token["expires_in"]) * 1000,
                        ledger_index=code.ledger_index,
                    )
                )
        if redeemed != 1:
            self._revoke_code_tokens(code.code_hash)
            raise InvalidGrantError(description="the authorization code was already used")

    def _id_token(self, client: _Client, code: _Code, access_token: str | None) -> str:
        alg = client.id_token_signed_response_alg
        key = keys.signing_key(self.ctx, alg)
        now = int(self.ctx.clock().timestamp())
        claims: dict[str, Any] = {
            **code.id_token_claims,
            "iss": self.ctx.base_url,
            "sub": code.sub,
            "aud": client.party.client_id,
            "azp": client.party.client_id,
            "iat": now,
            "exp": now + int(self.ctx.settings.id_token_ttl.total_seconds()),
            "auth_time": code.auth_time,
            "nonce": code.nonce,
            "acr": code.acr,
            "amr": code.amr,
        }
        if access_token:
            claims["at_hash"] = create_half_hash(access_token, alg).decode("ascii")
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key.private_key(), algorithms=[alg])

    # -- userinfo and receipts -------------------------------------------------------------------------------

    def _token_row(self, access_token: str | None) -> Any:
        if not access_token or len(access_token) > 512:
            raise InvalidTokenError("send the access token as an Authorization: Bearer header")
        with transaction(self.ctx.engine) as conn:
            row = conn.execute(select(tokens).where(tokens.c.token_hash == _hash(access_token))).first()
        if row is None or row.revoked or row.expires_at <= _ms(self.ctx.clock()):
            raise InvalidTokenError("the access token is unknown, expired or revoked")
        return row

    def userinfo(self, access_token: str | None) -> dict[str, Any]:
        """The userinfo of an access token: ``sub`` (the ID token's) and the claims released to the userinfo."""
        document: dict[str, Any] = json.loads(self._token_row(access_token).userinfo)
        return document

    def purge(self) -> int:
        """Delete what has expired: tokens (and the claims they answer with), codes whose tokens are gone,
        authorization requests, pushed requests and client assertion ``jti``s; the number of rows deleted."""
        now = _ms(self.ctx.clock())
        # A code is kept while tokens issued from it may live, so a late replay still revokes them (§4.1.2).
        code_horizon = now - int(self.ctx.settings.access_token_ttl.total_seconds() * 1000)
        with transaction(self.ctx.engine, write=True) as conn:
            return sum(
                conn.execute(statement).rowcount
                for statement in (
                    delete(tokens).where(tokens.c.expires_at <= now),
                    delete(codes).where(codes.c.expires_at <= code_horizon),
                    delete(authorizations).where(authorizations.c.expires_at <= now),
                    delete(pushed_requests).where(pushed_requests.c.expires_at <= now),
                    delete(client_assertions).where(client_assertions.c.expires_at <= now),
                )
            )

    def receipt(self, access_token: str | None) -> dict[str, Any]:
        """The ledger receipt of the login an access token came from (``pending`` until a checkpoint covers it)."""
        row = self._token_row(access_token)
        if self.ctx.ledger is None or row.ledger_index is None:
            text = "unavailable"
        else:
            try:
                text = self.ctx.ledger.prove(row.ledger_index).format()
            except LedgerError:
                text = "pending"
        return {"ledger_receipt": text}

    # -- end session -----------------------------------------------------------------------------------------

    def end_session(self, params: Mapping[str, str]) -> str | None:
        """RP-initiated logout: the ``post_logout_redirect_uri`` (with ``state``) to send the browser to, or None.

        xid keeps no OP login session, so there is nothing to end here; the redirect is only followed when the
        ``id_token_hint`` is an ID token this OP signed and the URI is exactly one its client registered."""
        target = params.get("post_logout_redirect_uri")
        hint = params.get("id_token_hint")
        if not target:
            return None
        if not hint or len(hint) > 8192:
            raise InvalidAuthorizationRequestError("post_logout_redirect_uri needs an id_token_hint")
        published = KeySet.import_key_set(keys.jwks(self.ctx))  # type: ignore[arg-type]
        try:
            token = jwt.decode(hint, published, algorithms=list(keys.ALGORITHMS))
        except (JoseError, ValueError, TypeError):
            raise InvalidAuthorizationRequestError("the id_token_hint is not an ID token of this provider") from None
        audience = token.claims.get("aud")
        if token.claims.get("iss") != self.ctx.base_url or not isinstance(audience, str):
            raise InvalidAuthorizationRequestError("the id_token_hint is not an ID token of this provider")
        if params.get("client_id", audience) != audience:
            raise InvalidAuthorizationRequestError("client_id does not match the id_token_hint")
        client = self._client(audience)
        if client is None or target not in client.party.redirect_uris:
            raise InvalidRedirectUriError("post_logout_redirect_uri is not one the client registered (exact match)")
        return _with_params(target, {"state": params.get("state")})

    # -- metadata --------------------------------------------------------------------------------------------

    def oauth_metadata(self) -> dict[str, Any]:
        """The members the OP adds to the one server's RFC 8414 metadata (merged with the credential issuer's)."""
        ctx = self.ctx
        return {
            "authorization_endpoint": ctx.url("/authorize"),
            "pushed_authorization_request_endpoint": ctx.url("/par"),
            "jwks_uri": ctx.url("/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": sorted(_ASSERTION_ALGS),
            "scopes_supported": list(SCOPES_SUPPORTED),
            "authorization_response_iss_parameter_supported": True,
        }

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider Metadata served at ``/.well-known/openid-configuration`` (OIDC Discovery 1.0 §3)."""
        ctx = self.ctx
        return {
            "issuer": ctx.base_url,
            "token_endpoint": ctx.url("/token"),
            **self.oauth_metadata(),
            "userinfo_endpoint": ctx.url("/userinfo"),
            "end_session_endpoint": ctx.url("/end_session"),
            "xid_receipt_endpoint": ctx.url("/oidc/receipt"),
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
            "claims_supported": list(CLAIMS_SUPPORTED),
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": True,
            "require_pushed_authorization_requests": False,
            "acr_values_supported": [ACR_HOLDER_KEY],
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "ui_locales_supported": ["ja", "en"],
            "claims_locales_supported": ["ja"],
            "verified_claims_supported": True,
            "trust_frameworks_supported": ["jp_aml"],
            "evidence_supported": ["electronic_record"],
            "electronic_records_supported": ["jp_jpki_signature_certificate"],
            "documents_check_methods_supported": ["vcrypt"],
            "claims_in_verified_claims_supported": list(claim_mapping.VERIFIED_CLAIMS),
        }
