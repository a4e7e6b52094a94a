"""Relying parties: the clients of the verifier's RP API (and of the OIDC facade), registered by the operator.

A relying party has a random ``client_id``, a name, a secret (32 random bytes, base64url, shown once at registration;
only its SHA-256 is stored), the redirect URIs it may continue same-device flows at (https, or http on a loopback
host) and a sector (a host; by default the first redirect URI's). It authenticates with HTTP Basic (RFC 7617), the
client_id and secret form-urlencoded first as RFC 6749 §2.3.1 says. As a client of the OIDC facade it may also
register its token endpoint authentication (a client secret by default, or ``private_key_jwt`` with its public JWK
Set) and its ID token signing algorithm (RS256 by default, or ES256). Errors::

    VerifierError
    ├── InvalidClientError           rpInvalidClient        (401 invalid_client: no, malformed or wrong credentials)
    ├── InvalidRegistrationError     rpInvalidRegistration  (a name, redirect URI or sector that cannot be registered)
    └── UnknownRelyingPartyError     rpUnknown              (no relying party with that client_id)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from secrets import token_bytes
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from sqlalchemy import Column, Engine, String, Table, Text, delete, insert, select

from foundation.b64 import b64url_encode
from foundation.db import transaction
from verifier.db import Millis, metadata
from verifier.errors import VerifierError

__all__ = [
    "AUTH_METHODS",
    "ID_TOKEN_ALGS",
    "InvalidClientError",
    "InvalidRegistrationError",
    "RelyingParty",
    "UnknownRelyingPartyError",
    "authenticate",
    "check_redirect_uri",
    "get",
    "list_all",
    "register",
    "remove",
    "rps",
    "secret_matches",
]

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
"""Token endpoint authentication methods a relying party may register (RFC 7591 names)."""
ID_TOKEN_ALGS = ("RS256", "ES256")
_MAX_JWKS = 16 * 1024

MAX_NAME = 200
MAX_REDIRECT_URIS = 10
MAX_URI = 2000
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_AUTHORIZATION = 1024

rps = Table(
    "verifier_rps",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(MAX_NAME), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("redirect_uris", Text, nullable=False),
    Column("sector", String(255), nullable=False),
    Column("created", Millis, nullable=False),
    Column("auth_method", String(32), nullable=True),
    Column("jwks", Text, nullable=True),
    Column("id_token_alg", String(16), nullable=True),
)


class InvalidClientError(VerifierError):
    """The relying party did not authenticate: no, malformed, unknown or wrong HTTP Basic credentials (401
    ``invalid_client``)."""

    code = "rpInvalidClient"
    oauth_error = "invalid_client"
    status = 401


class InvalidRegistrationError(VerifierError):
    """A relying party cannot be registered as given: an empty name, a redirect URI that is not https (or http on a
    loopback host), or a bad sector (``invalid_request``)."""

    code = "rpInvalidRegistration"
    oauth_error = "invalid_request"
    status = 400


class UnknownRelyingPartyError(VerifierError):
    """No relying party has that client_id."""

    code = "rpUnknown"
    oauth_error = "invalid_client"
    status = 404


@dataclass(frozen=True)
class RelyingParty:
    """A registered relying party (never its secret)."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    sector: str
    created: datetime
    auth_method: str | None = None
    """``private_key_jwt`` when registered; None: a client secret (``client_secret_basic`` or ``_post``)."""
    jwks: dict[str, Any] | None = None
    """The public JWK Set its client assertions are verified with (``private_key_jwt``)."""
    id_token_alg: str | None = None
    """The ID token signing algorithm it registered (None: RS256)."""

    @property
    def ledger_rp(self) -> str | None:
        """The relying party as the ledger names it: the origin of its first https redirect URI, else None."""
        for uri in self.redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme == "https" and parts.hostname:
                port = f":{parts.port}" if parts.port else ""
                return f"https://{parts.hostname}{port}"
        return None

    def to_json(self) -> dict[str, object]:
        """The registration as JSON (what ``xid rp list --json`` prints)."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "sector": self.sector,
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **({"token_endpoint_auth_method": self.auth_method} if self.auth_method else {}),
            **({"id_token_signed_response_alg": self.id_token_alg} if self.id_token_alg else {}),
        }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str) -> str:
    """A redirect URI fit for registration: absolute https (or http on a loopback host), no fragment, no userinfo."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI or not uri.isascii() or any(c <= " " for c in uri):
        raise InvalidRegistrationError(f"a redirect URI must be an ASCII URL of at most {MAX_URI} characters")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise InvalidRegistrationError("a redirect URI must not have a fragment (RFC 6749 section 3.1.2)")
    if parts.username is not None or parts.password is not None:
        raise InvalidRegistrationError("a redirect URI must not carry user information")
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return uri
    if parts.scheme == "http" and host and _is_loopback(host):
        return uri
    raise InvalidRegistrationError("a redirect URI must be https, or http on a loopback host (127.0.0.1, ::1)")


def _row(row: object) -> RelyingParty:
    data = row._mapping  # type: ignore[attr-defined]
    return RelyingParty(
        client_id=data["client_id"],
        name=data["name"],
        redirect_uris=tuple(json.loads(data["redirect_uris"])),
        sector=data["sector"],
        created=datetime.fromtimestamp(data["created"] / 1000, UTC),
        auth_method=data["auth_method"],
        jwks=json.loads(data["jwks"]) if data["jwks"] else None,
        id_token_alg=data["id_token_alg"],
    )


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def register(
    engine: Engine,
    name: str,
    redirect_uris: Sequence[str] = (),
    sector: str | None = None,
    *,
    auth_method: str | None = None,
    jwks: Mapping[str, Any] | None = None,
    id_token_alg: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    random: Callable[[int], bytes] = token_bytes,
) -> tuple[RelyingParty, str]:
    """Register a relying party; returns it and its client secret (shown this once, stored only as a hash).

    ``auth_method``/``jwks``/``id_token_alg``: its OIDC client metadata (``private_key_jwt`` needs ``jwks``)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidRegistrationError(f"the name must be 1 to {MAX_NAME} printable characters")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise InvalidRegistrationError(f"at most {MAX_REDIRECT_URIS} redirect URIs")
    uris = tuple(dict.fromkeys(check_redirect_uri(uri) for uri in redirect_uris))
    if sector is None:
        sector = (urlsplit(uris[0]).hostname or "") if uris else ""
        if not sector:
            raise InvalidRegistrationError("give a sector (a host name) when no redirect URI is registered")
    sector = sector.strip().lower()
    if len(sector) > 253 or not _HOST.fullmatch(sector):
        raise InvalidRegistrationError("the sector must be a host name (letters, digits, '-' and '.')")
    auth_method, jwks_text, id_token_alg = _client_metadata(auth_method, jwks, id_token_alg)
    client_id = b64url_encode(random(16))
    secret = b64url_encode(random(32))
    created = clock().astimezone(UTC)
    with transaction(engine, write=True) as conn:
        conn.execute(
            insert(rps).values(
                client_id=client_id,
                name=name,
                secret_sha256=_secret_hash(secret),
                redirect_uris=json.dumps(list(uris)),
                sector=sector,
                created=int(created.timestamp() * 1000),
                auth_method=auth_method,
                jwks=jwks_text,
                id_token_alg=id_token_alg,
            )
        )
    created = datetime.fromtimestamp(int(created.timestamp() * 1000) / 1000, UTC)
    registered_jwks = json.loads(jwks_text) if jwks_text else None
    return RelyingParty(client_id, name, uris, sector, created, auth_method, registered_jwks, id_token_alg), secret


def _client_metadata(
    auth_method: str | None, jwks: Mapping[str, Any] | None, id_token_alg: str | None
) -> tuple[str | None, str | None, str | None]:
    """Checked OIDC client metadata: (auth method or None, JWK Set JSON or None, ID token alg or None)."""
    if auth_method is not None and auth_method not in AUTH_METHODS:
        raise InvalidRegistrationError(f"the token endpoint auth method must be one of {', '.join(AUTH_METHODS)}")
    if id_token_alg is not None and id_token_alg not in ID_TOKEN_ALGS:
        raise InvalidRegistrationError(f"the ID token signing algorithm must be one of {', '.join(ID_TOKEN_ALGS)}")
    if auth_method == "private_key_jwt":
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) and k.get("kty") for k in keys):
            raise InvalidRegistrationError("private_key_jwt needs a JWK Set with at least one public key")
        if any(k.get("kty") == "oct" or "d" in k for k in keys):
            raise InvalidRegistrationError("the JWK Set must hold public keys only (no symmetric or private keys)")
        text = json.dumps({"keys": keys}, separators=(",", ":"))
        if len(text) > _MAX_JWKS:
            raise InvalidRegistrationError(f"the JWK Set is larger than {_MAX_JWKS} bytes")
        return auth_method, text, id_token_alg
    if jwks is not None:
        raise InvalidRegistrationError("a JWK Set is only registered with the private_key_jwt auth method")
    return (
        (None if auth_method in (None, "client_secret_basic", "client_secret_post") else auth_method),
        None,
        id_token_alg,
    )


def _basic_credentials(header: str | None) -> tuple[str, str]:
    if header is None:
        raise InvalidClientError("the relying party must authenticate with HTTP Basic")
    if len(header) > _MAX_AUTHORIZATION:
        raise InvalidClientError("the Authorization header is too long")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise InvalidClientError("the relying party must authenticate with HTTP Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClientError("the HTTP Basic credentials are not base64 of UTF-8 text") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidClientError("the HTTP Basic credentials have no ':'")
    return unquote_plus(user), unquote_plus(password)


def authenticate(engine: Engine, authorization_header: str | None) -> RelyingParty:
    """The relying party an ``Authorization: Basic`` header authenticates, or InvalidClientError."""
    client_id, secret = _basic_credentials(authorization_header)
    with transaction(engine) as conn:
        row = conn.execute(select(rps).where(rps.c.client_id == client_id[:64])).first()
    expected = row._mapping["secret_sha256"] if row is not None else "0" * 64
    matches = hmac.compare_digest(_secret_hash(secret), expected)
    if row is None or not matches:
        raise InvalidClientError("unknown relying party or wrong client secret")
    return _row(row)


def secret_matches(engine: Engine, client_id: str, secret: str) -> bool:
    """Whether ``secret`` is the client secret of ``client_id`` (its SHA-256 compared in constant time)."""
    with transaction(engine) as conn:
        row = conn.execute(select(rps.c.secret_sha256).where(rps.c.client_id == client_id[:64])).first()
    expected = row.secret_sha256 if row is not None else "0" * 64
    return hmac.compare_digest(_secret_hash(secret), expected) and row is not None


def get(engine: Engine, client_id: str) -> RelyingParty:
    """The relying party with that client_id, or UnknownRelyingPartyError."""
    with transaction(engine) as conn:
        row = conn.execute(select(rps).where(rps.c.client_id == client_id)).first()
    if row is None:
        raise UnknownRelyingPartyError(f"no relying party has the client_id {client_id[:64]!r}")
    return _row(row)


def list_all(engine: Engine) -> list[RelyingParty]:
    """Every registered relying party, oldest first."""
    with transaction(engine) as conn:
        rows = conn.execute(select(rps).order_by(rps.c.created, rps.c.client_id)).all()
    return [_row(row) for row in rows]


def remove(engine: Engine, client_id: str) -> None:
    """Remove a relying party (its pending requests can no longer be read), or UnknownRelyingPartyError."""
    with transaction(engine, write=True) as conn:
        removed = conn.execute(delete(rps).where(rps.c.client_id == client_id)).rowcount
    if removed != 1:
        raise UnknownRelyingPartyError(f"no relying party has the client_id {client_id[:64]!r}")
