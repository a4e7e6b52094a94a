"""One verifier for all three securing mechanisms, including credential status.

``CredentialVerifier.verify`` takes a secured credential in any format xid speaks — a Data Integrity JSON object,
a ``vc+jwt`` / ``jwt_vc_json`` token, or an SD-JWT VC presentation — checks its securing mechanism, its issuer
binding (the signing key must belong to the issuer), its validity period, and every status entry, and returns a
``VerificationResult`` that says which key, issuer, algorithm and status lists were used.

Status lists are obtained through a ``StatusSource`` (URL → the published status list credential or status list
token) and are verified like any credential: they must be secured by the same issuer. A credential that carries
status while no source is configured fails closed, unless the caller explicitly asks for ``check_status=False``, in
which case the result says ``status_checked=False``. A verifier keeps each status list token it verified (by its
exact text, until its ``exp``), so credentials pointing into the same published token cost one verification; a
changed list is a new token. Errors::

    VcError
    ├── CredentialInputError          invalidInput         (not a JSON object, JWT or SD-JWT; JSON text malformed)
    └── CredentialStatusError         statusError          (status could not be established: fail closed)
        ├── CredentialRevokedError    credentialRevoked
        └── CredentialSuspendedError  credentialSuspended
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from did import DidError, PublicKey, Resolver, parse_did_url
from vc.data_integrity import DataIntegrityError, verify_proof
from vc.errors import VcError
from vc.jose import (
    CompactJws,
    JoseError,
    is_numeric_date,
    strict_json,
    verify_vc_jwt,
)
from vc.model import check_validity_period, validate_credential
from vc.sd_jwt import SdJwtError
from vc.sd_jwt import verify as verify_sd_jwt
from vc.status_list import (
    INVALID,
    SUSPENDED,
    BitstringStatusEntry,
    StatusListCache,
    StatusListError,
    TokenStatusList,
    TokenStatusReference,
    check_bitstring_status,
    verify_status_list_token,
)

__all__ = [
    "CredentialInputError",
    "CredentialRevokedError",
    "CredentialStatusError",
    "CredentialSuspendedError",
    "CredentialVerifier",
    "StatusCheck",
    "StatusSource",
    "VerificationResult",
    "detect_format",
    "issuer_did",
]

StatusSource = Callable[[str], "Mapping[str, Any] | str"]
"""Returns what is published at a status list URL: a secured status list credential or a status list token."""


class CredentialInputError(VcError):
    """The input is not a secured credential in a form the verifier reads (JSON object, JWT or SD-JWT string)."""

    code = "invalidInput"


class CredentialStatusError(VcError):
    """The credential's status could not be established (no source, bad list, unknown value): fail closed."""

    code = "statusError"


class CredentialRevokedError(CredentialStatusError):
    """A revocation status is set."""

    code = "credentialRevoked"


class CredentialSuspendedError(CredentialStatusError):
    """A suspension status is set."""

    code = "credentialSuspended"


@dataclass(frozen=True)
class StatusCheck:
    """One checked status entry: which list, which index, for what, and the value found."""

    purpose: str
    list_url: str
    index: int
    value: int


@dataclass(frozen=True)
class VerificationResult:
    """A verified credential: format, issuer, key, algorithm, claims, and the status checks made."""

    format: str
    issuer: str
    verification_method: str
    algorithm: str
    claims: Mapping[str, Any]
    status: tuple[StatusCheck, ...] = ()
    status_checked: bool = True
    key_bound: bool = False
    disclosed: tuple[tuple[str | int, ...], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (what ``xid vc verify`` prints)."""
        return {
            "valid": True,
            "format": self.format,
            "issuer": self.issuer,
            "verificationMethod": self.verification_method,
            "algorithm": self.algorithm,
            "status": [vars(s) for s in self.status] if self.status_checked else "unchecked",
            "keyBound": self.key_bound,
            "claims": dict(self.claims),
        }


def detect_format(secured: str | Mapping[str, Any]) -> str:
    """Which mechanism secures the input: ``di``, ``sd-jwt`` or ``jwt``."""
    if isinstance(secured, Mapping):
        return "di"
    if not isinstance(secured, str):
        kind = type(secured).__name__
        raise CredentialInputError(f"a secured credential is a JSON object (Mapping) or a string, not a {kind}")
    text = secured.strip()
    if text.startswith("{"):
        return "di"
    if "~" in text:
        return "sd-jwt"
    if text.count(".") == 2:
        return "jwt"
    raise CredentialInputError("the input is neither a JSON credential, a JWT nor an SD-JWT")


class CredentialVerifier:
    """Verifies credentials in any of the three formats against DIDs and published status lists."""

    def __init__(
        self,
        resolver: Resolver,
        status_source: StatusSource | None = None,
        *,
        cache: StatusListCache | None = None,
        leeway: timedelta = timedelta(seconds=60),
    ) -> None:
        self._resolver = resolver
        self._status_source = status_source
        self._cache = cache or StatusListCache()
        self._leeway = leeway
        self._tokens: dict[tuple[str, str, str], tuple[TokenStatusList, float | None]] = {}

    def _key(self, kid: str) -> PublicKey:
        return self._resolver.dereference(kid, "assertionMethod").public_key

    def verify(
        self,
        secured: str | Mapping[str, Any],
        *,
        audience: str | None = None,
        nonce: str | None = None,
        require_key_binding: bool = True,
        check_status: bool = True,
        now: datetime | None = None,
    ) -> VerificationResult:
        """Verify a secured credential completely; raise a specific VcError on any failure."""
        moment = now or datetime.now(UTC)
        kind = detect_format(secured)
        if kind == "di":
            result = self._verify_di(_json_object(secured), moment)
        elif kind == "jwt":
            result = self._verify_jwt(str(secured).strip(), moment)
        else:
            result = self._verify_sd_jwt(str(secured).strip(), audience, nonce, require_key_binding, moment)
        if not check_status:
            return replace(result, status_checked=False)
        return replace(result, status=self._status(result, moment))

    def _verify_di(self, document: Mapping[str, Any], moment: datetime) -> VerificationResult:
        credential = validate_credential(document)
        proof = verify_proof(document, self._resolver.dereference, now=moment, leeway=self._leeway)
        # The key must be published in the issuer's own DID document: a method's "controller" is only a claim of
        # whichever document lists it, so it is not evidence that the issuer authorized the key.
        if str(parse_did_url(proof.verification_method).did) != credential.issuer:
            raise DataIntegrityError(
                f"the proof's key {proof.verification_method} is not in the issuer's DID document ({credential.issuer})"
            )
        check_validity_period(credential, moment, self._leeway)
        return VerificationResult("ldp_vc", credential.issuer, proof.verification_method, proof.cryptosuite, document)

    def _verify_jwt(self, token: str, moment: datetime) -> VerificationResult:
        result = verify_vc_jwt(token, self._key, now=moment, leeway=self._leeway)
        return VerificationResult(result.format, result.issuer, result.kid, result.algorithm, result.credential.data)

    def _verify_sd_jwt(
        self, token: str, audience: str | None, nonce: str | None, key_binding: bool, moment: datetime
    ) -> VerificationResult:
        kid_used: list[str] = []

        def issuer_key(header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise SdJwtError("the SD-JWT header has no kid naming the issuer key")
            if str(parse_did_url(kid).did) != issuer_did(payload.get("iss")):
                raise SdJwtError(f"kid {kid!r} does not belong to the issuer {payload.get('iss')!r}")
            kid_used.append(kid)
            return self._key(kid)

        result = verify_sd_jwt(
            token,
            issuer_key,
            audience=audience,
            nonce=nonce,
            now=moment,
            require_key_binding=key_binding,
            leeway=self._leeway,
        )
        return VerificationResult(
            "dc+sd-jwt",
            str(result.claims.get("iss")),
            kid_used[0],
            str(result.issuer_header.get("alg")),
            result.claims,
            key_bound=result.key_bound,
            disclosed=result.disclosed,
        )

    def check_status(self, result: VerificationResult, now: datetime | None = None) -> tuple[StatusCheck, ...]:
        """Check every status entry of an already verified credential; raise as ``verify`` does."""
        return self._status(result, now or datetime.now(UTC))

    # -- status ---------------------------------------------------------------------------------------------------

    def _fetch(self, url: str) -> Mapping[str, Any] | str:
        if self._status_source is None:
            raise CredentialStatusError(f"the credential has status at {url} but no status source is configured")
        try:
            return self._status_source(url)
        except VcError:
            raise
        except Exception as exc:  # a source's own failure (network, file) must not pass as "not revoked"
            raise CredentialStatusError(f"cannot obtain the status list {url}: {exc}") from exc

    def _status(self, result: VerificationResult, moment: datetime) -> tuple[StatusCheck, ...]:
        if result.format == "dc+sd-jwt":
            status = result.claims.get("status")
            return () if status is None else (self._token_status(result, status, moment),)
        entries = result.claims.get("credentialStatus")
        if entries is None:
            return ()
        checks = []
        for raw in entries if isinstance(entries, list) else [entries]:
            try:
                entry = BitstringStatusEntry.parse(raw)
            except StatusListError as exc:
                raise CredentialStatusError(exc.message) from exc
            checks.append(self._bitstring_status(result, entry, moment))
        return tuple(checks)

    def _bitstring_status(
        self, result: VerificationResult, entry: BitstringStatusEntry, moment: datetime
    ) -> StatusCheck:
        published = self._fetch(entry.list_credential)
        try:
            listing = self.verify(published, check_status=False, now=moment)
        except VcError as exc:
            raise CredentialStatusError(f"the status list {entry.list_credential} does not verify: {exc}") from exc
        if listing.issuer != result.issuer:
            raise CredentialStatusError(f"the status list {entry.list_credential} is not issued by {result.issuer}")
        try:
            value = check_bitstring_status(entry, listing.claims, self._cache)
        except StatusListError as exc:
            raise CredentialStatusError(exc.message) from exc
        check = StatusCheck(entry.purpose, entry.list_credential, entry.index, value)
        if value and entry.purpose == "revocation":
            raise CredentialRevokedError(f"the credential is revoked (list {entry.list_credential}, {entry.index})")
        if value and entry.purpose == "suspension":
            raise CredentialSuspendedError(f"the credential is suspended (list {entry.list_credential}, {entry.index})")
        return check

    def _token_status(self, result: VerificationResult, status: Any, moment: datetime) -> StatusCheck:
        try:
            reference = TokenStatusReference.parse(status)
        except StatusListError as exc:
            raise CredentialStatusError(exc.message) from exc
        published = self._fetch(reference.uri)
        if not isinstance(published, str):
            raise CredentialStatusError(f"{reference.uri} did not return a status list token")
        try:
            issuer = issuer_did(result.issuer) or result.issuer
            token_list = self._verified_token(published, reference.uri, issuer, moment)
            value = token_list.get(reference.index)
        except StatusListError as exc:  # the token does not verify, or its list is malformed or too short
            raise CredentialStatusError(exc.message) from exc
        if value == INVALID:
            raise CredentialRevokedError(f"the credential is revoked (list {reference.uri}, {reference.index})")
        if value == SUSPENDED:
            raise CredentialSuspendedError(f"the credential is suspended (list {reference.uri}, {reference.index})")
        if value != 0:
            raise CredentialStatusError(f"status value {value:#x} at {reference.uri} is not understood")
        return StatusCheck("status_list", reference.uri, reference.index, value)

    def _verified_token(self, token: str, uri: str, issuer: str, moment: datetime) -> TokenStatusList:
        """A status list token verified once per token text (until its ``exp``): the same published token is not
        verified and inflated again for every credential that points into it."""
        key = (token, uri, issuer)
        hit = self._tokens.get(key)
        if hit is not None and (hit[1] is None or moment.timestamp() <= hit[1]):
            return hit[0]
        token_list = verify_status_list_token(token, self._key, uri, issuer, moment)
        expires = strict_json(CompactJws.parse(token).payload, "the status list token").get("exp")
        if len(self._tokens) >= _MAX_CACHED_TOKENS:
            self._tokens.clear()
        self._tokens[key] = (token_list, float(expires) if is_numeric_date(expires) else None)
        return token_list


_MAX_CACHED_TOKENS = 64


def issuer_did(iss: Any) -> str | None:
    """The DID whose keys may sign for an SD-JWT VC ``iss``: the DID itself, or for an https URL its did:web.

    An https issuer URL and the did:web of the same host, port and path are published by the same origin, so a
    ``kid`` in that did:web speaks for the URL (SD-JWT VC issuers whose JWT VC issuer metadata names DID URL keys).
    ``http`` is accepted for loopback hosts only (development); anything else maps to None.
    """
    if not isinstance(iss, str):
        return None
    if iss.startswith("did:"):
        return iss
    url = urllib.parse.urlsplit(iss)
    host = url.hostname
    loopback = host in ("localhost", "127.0.0.1", "::1")
    if url.scheme != "https" and not (url.scheme == "http" and loopback):
        return None
    if host is None or url.query or url.fragment or url.username or url.password:
        return None
    from did import web_did  # loads the did:web module (and httpx) only when an issuer URL is checked

    try:
        path = [urllib.parse.quote(part, safe="") for part in url.path.strip("/").split("/") if part]
        return web_did(host, url.port, path)
    except (DidError, ValueError):
        return None


def _json_object(secured: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(secured, Mapping):
        return secured
    try:  # the JWS parser's rules: no duplicate members (a first-wins reader would see other claims), no NaN
        return strict_json(secured, "the credential")
    except JoseError as exc:
        raise CredentialInputError(exc.message) from exc
