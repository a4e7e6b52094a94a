"""An OpenID for Verifiable Credential Issuance 1.0 (final) client: the pre-authorized code flow, strictly.

``parse_offer`` reads a credential offer by value (``openid-credential-offer://?credential_offer=<JSON>``) or by
reference (``credential_offer_uri``, fetched with GET), also on an https URL carrying one of the two parameters.
``Oid4vciClient.redeem`` then takes the credentials:

1. issuer metadata from ``/.well-known/openid-credential-issuer`` (inserted before the issuer's path), whose
   ``credential_issuer`` must equal the offer's exactly, else it is discarded (OpenID4VCI 1.0 §12.2.2);
2. the authorization server's metadata (RFC 8414; the issuer itself unless ``authorization_servers`` names one);
3. the token request with the pre-authorized code (and ``tx_code`` when the offer has a ``tx_code`` object);
4. per offered configuration: a fresh ``c_nonce`` from the nonce endpoint, a ``proofs.jwt`` key proof
   (``typ: openid4vci-proof+jwt``, the holder key in ``jwk`` or as ``did:jwk`` in ``kid``, ``aud`` = the issuer,
   ``iat``, ``nonce``; no ``iss`` after the anonymous pre-authorized grant) and the credential request; on
   ``invalid_nonce`` one new nonce and one retry;
5. a check of what came back (format shape, bound to the holder key), then ``credential_accepted`` to the
   notification endpoint once the caller has stored it.

Pre-1.0 shapes are refused with ``PreFinalShapeError`` rather than guessed at: ``credentials_supported``, an offer's
``credentials`` or ``user_pin_required``, ``vc+sd-jwt``, a singular ``credential`` in the credential response.
A ``c_nonce`` in the token response (a draft leftover) is ignored: nonces come from the nonce endpoint only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx

from did import PublicKey, Signer, jwk_thumbprint
from did.errors import DidError
from foundation.jws import encode_compact, parse_compact
from foundation.strict_json import compact_json, strict_json
from wallet.errors import (
    InvalidOfferError,
    IssuerMismatchError,
    IssuerProtocolError,
    IssuerRefusedError,
    PreFinalShapeError,
    TxCodeFormatError,
    TxCodeMissingError,
)
from wallet.http import WalletHttp, check_url, one_line

if TYPE_CHECKING:
    from wallet.store import CredentialStore

__all__ = [
    "PRE_AUTHORIZED_GRANT",
    "PROOF_TYP",
    "CredentialOffer",
    "IssuerMetadata",
    "Oid4vciClient",
    "ReceivedCredential",
    "Redemption",
    "keep_in",
    "offer_from_json",
    "parse_offer",
    "well_known_url",
]

PRE_AUTHORIZED_GRANT: Final = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
"""The grant type of the pre-authorized code flow."""

PROOF_TYP: Final = "openid4vci-proof+jwt"
"""The JOSE ``typ`` of a key proof JWT."""

OFFER_SCHEME: Final = "openid-credential-offer"
KNOWN_FORMATS: Final = frozenset({"dc+sd-jwt", "jwt_vc_json", "ldp_vc"})
MAX_OFFER: Final = 16 * 1024

Progress = Callable[[str], None]
TxCodeSource = str | Callable[[Mapping[str, Any]], str] | None


def _quiet(_: str) -> None:
    """Progress sink that drops messages."""


@dataclass(frozen=True)
class CredentialOffer:
    """A credential offer with a pre-authorized code grant."""

    credential_issuer: str
    configuration_ids: tuple[str, ...]
    pre_authorized_code: str
    tx_code: dict[str, Any] | None
    """The offer's ``tx_code`` object (input_mode, length, description) when a transaction code is required."""


def offer_from_json(value: Any) -> CredentialOffer:
    """Check a credential offer object (OpenID4VCI 1.0 §4.1.1); InvalidOfferError or PreFinalShapeError."""
    if not isinstance(value, dict):
        raise InvalidOfferError("the credential offer is not a JSON object")
    if "credentials" in value and "credential_configuration_ids" not in value:
        raise PreFinalShapeError("the offer lists 'credentials' (a draft shape); 1.0 uses credential_configuration_ids")
    issuer = value.get("credential_issuer")
    if not isinstance(issuer, str):
        raise InvalidOfferError("the credential offer has no credential_issuer string")
    check_url(issuer, "the offer's credential_issuer", InvalidOfferError)
    if urlsplit(issuer).query:
        raise InvalidOfferError("the offer's credential_issuer has a query part")
    ids = value.get("credential_configuration_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise InvalidOfferError("credential_configuration_ids must be a non-empty array of strings")
    if len(set(ids)) != len(ids):
        raise InvalidOfferError("credential_configuration_ids repeats an id")
    grants = value.get("grants")
    grant = grants.get(PRE_AUTHORIZED_GRANT) if isinstance(grants, dict) else None
    if not isinstance(grant, dict):
        raise InvalidOfferError("the offer has no pre-authorized code grant (the only grant this wallet redeems)")
    if "user_pin_required" in grant:
        raise PreFinalShapeError("the offer uses user_pin_required (a draft shape); 1.0 uses a tx_code object")
    code = grant.get("pre-authorized_code")
    if not isinstance(code, str) or not code:
        raise InvalidOfferError("the pre-authorized code grant has no pre-authorized_code string")
    tx_code = grant.get("tx_code")
    if tx_code is not None and not isinstance(tx_code, dict):
        raise InvalidOfferError("the offer's tx_code must be an object")
    return CredentialOffer(issuer, tuple(ids), code, tx_code)


def parse_offer(text: str, http: WalletHttp) -> CredentialOffer:
    """Read an offer URI (by value or by reference, any scheme carrying the parameters); fetch it if by reference."""
    text = text.strip()
    if len(text) > MAX_OFFER:
        raise InvalidOfferError(f"the offer is longer than {MAX_OFFER} characters")
    parts = urlsplit(text)
    if parts.scheme not in (OFFER_SCHEME, "https", "http"):
        raise InvalidOfferError("an offer is an openid-credential-offer:// URI or an https URL carrying one")
    query = parse_qs(parts.query, keep_blank_values=True)
    by_value, by_reference = query.get("credential_offer"), query.get("credential_offer_uri")
    if (by_value is None) == (by_reference is None):
        raise InvalidOfferError("an offer carries exactly one of credential_offer and credential_offer_uri")
    if by_value is not None:
        if len(by_value) != 1:
            raise InvalidOfferError("credential_offer appears more than once")
        return offer_from_json(strict_json(by_value[0], "the credential offer", error=InvalidOfferError))
    assert by_reference is not None
    if len(by_reference) != 1:
        raise InvalidOfferError("credential_offer_uri appears more than once")
    uri = check_url(by_reference[0], "credential_offer_uri", InvalidOfferError)
    return offer_from_json(http.get_json(uri, "fetching the credential offer"))


def well_known_url(identifier: str, suffix: str) -> str:
    """The well-known URL of an issuer identifier: ``/.well-known/<suffix>`` inserted before its path."""
    url = httpx.URL(identifier)
    path = url.path.rstrip("/")
    return str(url.copy_with(path=f"/.well-known/{suffix}{path}", query=None, fragment=None))


@dataclass(frozen=True)
class IssuerMetadata:
    """What the wallet uses of the issuer's metadata and its authorization server's."""

    credential_issuer: str
    credential_endpoint: str
    nonce_endpoint: str | None
    notification_endpoint: str | None
    token_endpoint: str
    configurations: dict[str, dict[str, Any]]
    display_name: str | None


@dataclass(frozen=True)
class ReceivedCredential:
    """One credential as issued, with what the wallet checked about it."""

    configuration_id: str
    format: str
    credential: str | dict[str, Any]
    valid_until: datetime | None
    notification_id: str | None


@dataclass
class Redemption:
    """The result of redeeming an offer: the metadata, the access token, the credentials."""

    metadata: IssuerMetadata
    access_token: str
    credentials: list[ReceivedCredential] = field(default_factory=list)


def _string(value: Mapping[str, Any], name: str, what: str) -> str:
    item = value.get(name)
    if not isinstance(item, str) or not item:
        raise IssuerProtocolError(f"{what} has no {name} string")
    return item


def _endpoint(value: Mapping[str, Any], name: str, what: str, *, required: bool) -> str | None:
    if name not in value and not required:
        return None
    return check_url(_string(value, name, what), f"{what}'s {name}")


class Oid4vciClient:
    """Redeems credential offers for one holder key (see the module docstring for the steps)."""

    def __init__(self, http: WalletHttp, holder: Signer, *, clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.holder = holder
        self.clock = clock
        self.thumbprint = jwk_thumbprint(holder.public_jwk)
        self._jwt_vc_issuers: dict[str, dict[str, Any]] = {}

    # -- metadata ---------------------------------------------------------------------------------------------

    def metadata(self, credential_issuer: str) -> IssuerMetadata:
        """The issuer's and its authorization server's metadata, checked."""
        what = "the credential issuer metadata"
        data = self.http.get_json(well_known_url(credential_issuer, "openid-credential-issuer"), f"fetching {what}")
        if data.get("credential_issuer") != credential_issuer:
            raise IssuerMismatchError(
                f"the metadata names the credential issuer {one_line(str(data.get('credential_issuer')), 120)!r}, "
                f"not {credential_issuer!r} as the offer does; it is discarded"
            )
        if "credentials_supported" in data or "credential_configurations_supported" not in data:
            raise PreFinalShapeError(
                f"{what} has no credential_configurations_supported (credentials_supported is a draft shape)"
            )
        configurations = data["credential_configurations_supported"]
        if not isinstance(configurations, dict) or not all(isinstance(c, dict) for c in configurations.values()):
            raise IssuerProtocolError(f"{what}: credential_configurations_supported is not a map of objects")
        for config_id, config in configurations.items():
            if config.get("format") == "vc+sd-jwt":
                raise PreFinalShapeError(f"configuration {config_id!r} uses vc+sd-jwt (pre-1.0); 1.0 says dc+sd-jwt")
        servers = data.get("authorization_servers")
        if servers is None:
            authorization_server = credential_issuer
        elif isinstance(servers, list) and servers and all(isinstance(s, str) for s in servers):
            authorization_server = servers[0]
        else:
            raise IssuerProtocolError(f"{what}: authorization_servers is not a non-empty array of strings")
        check_url(authorization_server, "the authorization server")
        as_what = "the authorization server metadata"
        as_data = self.http.get_json(
            well_known_url(authorization_server, "oauth-authorization-server"), f"fetching {as_what}"
        )
        if as_data.get("issuer") != authorization_server:
            raise IssuerMismatchError(f"{as_what} names the issuer {one_line(str(as_data.get('issuer')), 120)!r}")
        display = data.get("display")
        name = None
        if isinstance(display, list):
            names = [d.get("name") for d in display if isinstance(d, dict) and isinstance(d.get("name"), str)]
            english = [d["name"] for d in display if isinstance(d, dict) and str(d.get("locale", "")).startswith("en")]
            name = (english or names or [None])[0]
        return IssuerMetadata(
            credential_issuer=credential_issuer,
            credential_endpoint=str(_endpoint(data, "credential_endpoint", what, required=True)),
            nonce_endpoint=_endpoint(data, "nonce_endpoint", what, required=False),
            notification_endpoint=_endpoint(data, "notification_endpoint", what, required=False),
            token_endpoint=str(_endpoint(as_data, "token_endpoint", as_what, required=True)),
            configurations=configurations,
            display_name=name,
        )

    # -- token, nonce, proof ----------------------------------------------------------------------------------

    def token(self, metadata: IssuerMetadata, offer: CredentialOffer, tx_code: TxCodeSource) -> str:
        """Exchange the pre-authorized code (and the transaction code when required) for an access token."""
        form = {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": offer.pre_authorized_code}
        if offer.tx_code is not None:
            code = tx_code(offer.tx_code) if callable(tx_code) else tx_code
            if not code:
                raise TxCodeMissingError("the offer needs a transaction code (--tx-code CODE, or answer the prompt)")
            _check_tx_code(code, offer.tx_code)
            form["tx_code"] = code
        answer = self.http.post_form(metadata.token_endpoint, form, "the token request")
        token = _string(answer, "access_token", "the token response")
        if str(answer.get("token_type", "")).lower() not in ("bearer", "dpop"):
            raise IssuerProtocolError("the token response's token_type is not Bearer")
        return token

    def nonce(self, metadata: IssuerMetadata) -> str | None:
        """A fresh c_nonce from the nonce endpoint (None when the issuer has none)."""
        if metadata.nonce_endpoint is None:
            return None
        return _string(self.http.post_empty(metadata.nonce_endpoint, "the nonce request"), "c_nonce", "the nonce")

    def proof(self, metadata: IssuerMetadata, config: Mapping[str, Any], nonce: str | None) -> str:
        """A key proof JWT for one credential request."""
        header: dict[str, Any] = {"typ": PROOF_TYP, "alg": self.holder.algorithm}
        methods = config.get("cryptographic_binding_methods_supported", ["jwk"])
        if "jwk" in methods or not isinstance(methods, list):
            header["jwk"] = self.holder.public_jwk
        elif "did:jwk" in methods:
            from did import did_jwk

            header["kid"] = did_jwk.create(self.holder.public_jwk) + "#0"
        else:
            raise IssuerProtocolError(f"the issuer binds only to {methods!r}; this wallet binds with jwk or did:jwk")
        payload: dict[str, Any] = {"aud": metadata.credential_issuer, "iat": int(self.clock())}
        if nonce is not None:
            payload["nonce"] = nonce
        return encode_compact(header, compact_json(payload), self.holder.sign)

    # -- the credential request -------------------------------------------------------------------------------

    def request_credential(
        self, metadata: IssuerMetadata, access_token: str, configuration_id: str
    ) -> ReceivedCredential:
        """One credential request (a fresh nonce; one retry on invalid_nonce), its answer checked."""
        config = metadata.configurations.get(configuration_id)
        if config is None:
            raise IssuerProtocolError(f"the offer names {configuration_id!r}, which the issuer's metadata lacks")
        credential_format = config.get("format")
        if not isinstance(credential_format, str):
            raise IssuerProtocolError(f"configuration {configuration_id!r} has no format")
        bound = "proof_types_supported" in config
        if bound:
            self._check_proof_alg(configuration_id, config)
        for attempt in (1, 2):
            body: dict[str, Any] = {"credential_configuration_id": configuration_id}
            if bound:
                body["proofs"] = {"jwt": [self.proof(metadata, config, self.nonce(metadata))]}
            try:
                answer = self.http.post_json(
                    metadata.credential_endpoint,
                    body,
                    f"the {configuration_id} credential request",
                    bearer=access_token,
                )
            except IssuerRefusedError as exc:
                if exc.error == "invalid_nonce" and attempt == 1 and metadata.nonce_endpoint is not None:
                    continue
                raise
            return self._received(answer, configuration_id, credential_format, config, bound)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_proof_alg(self, configuration_id: str, config: Mapping[str, Any]) -> None:
        types = config.get("proof_types_supported")
        jwt = types.get("jwt") if isinstance(types, dict) else None
        algs = jwt.get("proof_signing_alg_values_supported") if isinstance(jwt, dict) else None
        if not isinstance(algs, list):
            raise IssuerProtocolError(f"configuration {configuration_id!r} accepts no jwt proof type")
        accepted = {self.holder.algorithm, "Ed25519"} if self.holder.algorithm == "EdDSA" else {self.holder.algorithm}
        if not accepted & set(algs):
            raise IssuerProtocolError(
                f"configuration {configuration_id!r} accepts proofs signed with {algs!r}, not {self.holder.algorithm}"
            )

    def _received(
        self,
        answer: Mapping[str, Any],
        configuration_id: str,
        credential_format: str,
        config: Mapping[str, Any],
        bound: bool,
    ) -> ReceivedCredential:
        what = f"the {configuration_id} credential response"
        if "credentials" not in answer:
            if "credential" in answer:
                raise PreFinalShapeError(f"{what} has a singular 'credential' (a draft shape); 1.0 sends credentials")
            if "transaction_id" in answer:
                raise IssuerProtocolError(f"{what} defers issuance, which this wallet does not support yet")
            raise IssuerProtocolError(f"{what} has no credentials")
        items = answer["credentials"]
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise IssuerProtocolError(f"{what}: credentials must be an array of one object (one proof was sent)")
        credential = items[0].get("credential")
        if not isinstance(credential, str | dict) or not credential:
            raise IssuerProtocolError(f"{what}: the credential is neither a string nor an object")
        notification_id = answer.get("notification_id")
        if notification_id is not None and not isinstance(notification_id, str):
            raise IssuerProtocolError(f"{what}: notification_id is not a string")
        valid_until = self._check_credential(credential, credential_format, config, bound, what)
        return ReceivedCredential(configuration_id, credential_format, credential, valid_until, notification_id)

    def _check_credential(
        self,
        credential: str | dict[str, Any],
        credential_format: str,
        config: Mapping[str, Any],
        bound: bool,
        what: str,
    ) -> datetime | None:
        """The format's shape and the binding to the holder key; returns the validity end when stated."""
        if credential_format not in KNOWN_FORMATS:
            return None  # stored as issued; this wallet reads only the formats above
        if credential_format == "ldp_vc":
            if not isinstance(credential, dict) or "proof" not in credential:
                raise IssuerProtocolError(f"{what}: an ldp_vc credential is a JSON object with a proof")
            claims: dict[str, Any] = credential
        else:
            if not isinstance(credential, str):
                raise IssuerProtocolError(f"{what}: a {credential_format} credential is a string")
            jwt = credential.split("~", 1)[0]
            if credential_format == "dc+sd-jwt" and not credential.endswith("~"):
                raise IssuerProtocolError(f"{what}: an SD-JWT VC ends with '~'")
            parts = parse_compact(jwt, what=what, error=IssuerProtocolError)
            typ = parts.header.get("typ")
            if credential_format == "dc+sd-jwt":
                if typ == "vc+sd-jwt":
                    raise PreFinalShapeError(f"{what}: typ vc+sd-jwt is pre-1.0; an SD-JWT VC has typ dc+sd-jwt")
                claims = self._verify_sd_jwt(credential, what)
                if config.get("vct") is not None and claims.get("vct") != config.get("vct"):
                    raise IssuerProtocolError(f"{what}: the SD-JWT's vct is not the configuration's")
            else:
                claims = strict_json(parts.payload, what, error=IssuerProtocolError)
        if bound:
            self._check_binding(claims, what)
        return _valid_until(claims)

    def _verify_sd_jwt(self, credential: str, what: str) -> dict[str, Any]:
        """Verify an SD-JWT VC's issuer signature and disclosures; return its claims (all disclosed)."""
        from vc.errors import VcError
        from vc.sd_jwt import verify

        try:
            verified = verify(credential, self._sd_jwt_issuer_key, audience=None, nonce=None, require_key_binding=False)
        except VcError as exc:
            raise IssuerProtocolError(f"{what}: the SD-JWT VC does not verify: {exc.message}") from None
        return dict(verified.claims)

    def _sd_jwt_issuer_key(self, header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
        """The SD-JWT VC issuer's key: JWT VC Issuer Metadata for an https ``iss``, a did:key/did:jwk ``iss``."""
        from did import Resolver
        from did.errors import InvalidDidDocumentError

        iss, kid = payload.get("iss"), header.get("kid")
        if not isinstance(iss, str):
            raise InvalidDidDocumentError("the SD-JWT VC has no iss")
        if iss.startswith("did:"):
            if not isinstance(kid, str) or not kid.startswith(iss + "#"):
                raise InvalidDidDocumentError("a DID issuer's SD-JWT VC needs a kid under that DID")
            return Resolver().resolve_document(iss).verification_method(kid, "assertionMethod").public_key
        check_url(iss, "the SD-JWT VC's iss", InvalidDidDocumentError)
        metadata = self._jwt_vc_issuers.get(iss)
        if metadata is None:
            metadata = self.http.get_json(well_known_url(iss, "jwt-vc-issuer"), "fetching the JWT VC issuer metadata")
            self._jwt_vc_issuers[iss] = metadata
        jwks = metadata.get("jwks")
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if metadata.get("issuer") != iss or not isinstance(keys, list):
            raise InvalidDidDocumentError("the JWT VC issuer metadata is not for this iss, or has no jwks")
        matching = [k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
        if len(matching) != 1:
            raise InvalidDidDocumentError(f"the JWT VC issuer metadata has no single key for kid {kid!r}")
        return PublicKey.from_jwk({k: v for k, v in matching[0].items() if k not in ("kid", "use", "alg", "key_ops")})

    def _check_binding(self, claims: Mapping[str, Any], what: str) -> None:
        keys: list[str] = []
        cnf = claims.get("cnf")
        if isinstance(cnf, dict) and isinstance(cnf.get("jwk"), dict):
            keys.append(_thumbprint(cnf["jwk"], what))
        vc = claims.get("vc") if isinstance(claims.get("vc"), dict) else claims
        subjects = vc.get("credentialSubject") if isinstance(vc, dict) else None
        for subject in subjects if isinstance(subjects, list) else [subjects]:
            if isinstance(subject, dict) and isinstance(subject.get("id"), str):
                keys.append(_did_thumbprint(subject["id"]))
        if isinstance(claims.get("sub"), str):
            keys.append(_did_thumbprint(claims["sub"]))
        known = [k for k in keys if k]
        if not known:
            raise IssuerProtocolError(f"{what}: the credential is not bound to any key (cnf.jwk or a subject DID)")
        if any(k != self.thumbprint for k in known):
            raise IssuerProtocolError(f"{what}: the credential is bound to another key than this wallet's")

    # -- the whole flow ---------------------------------------------------------------------------------------

    def redeem(
        self,
        offer: CredentialOffer,
        tx_code: TxCodeSource,
        *,
        progress: Progress = _quiet,
        on_credential: Callable[[ReceivedCredential], None] | None = None,
    ) -> Redemption:
        """Take every offered credential; ``on_credential`` (e.g. storing it) runs before it is acknowledged."""
        progress(f"fetching the metadata of {offer.credential_issuer}")
        metadata = self.metadata(offer.credential_issuer)
        missing = [c for c in offer.configuration_ids if c not in metadata.configurations]
        if missing:
            raise IssuerProtocolError(f"the offer names {missing!r}, which the issuer's metadata lacks")
        progress("redeeming the pre-authorized code")
        redemption = Redemption(metadata, self.token(metadata, offer, tx_code))
        for configuration_id in offer.configuration_ids:
            progress(f"requesting {configuration_id}")
            received = self.request_credential(metadata, redemption.access_token, configuration_id)
            if on_credential is not None:
                try:
                    on_credential(received)
                except Exception:
                    if received.notification_id is not None and metadata.notification_endpoint is not None:
                        self.notify(
                            metadata, redemption.access_token, received.notification_id, progress, "credential_failure"
                        )
                    raise
            redemption.credentials.append(received)
            progress(f"received {configuration_id} ({received.format})")
            if received.notification_id is not None and metadata.notification_endpoint is not None:
                self.notify(metadata, redemption.access_token, received.notification_id, progress)
        return redemption

    def notify(
        self,
        metadata: IssuerMetadata,
        access_token: str,
        notification_id: str,
        progress: Progress,
        event: str = "credential_accepted",
    ) -> None:
        """Tell the issuer a credential was stored (or could not be); a failure is reported, not raised."""
        assert metadata.notification_endpoint is not None
        body = {"notification_id": notification_id, "event": event}
        try:
            self.http.post_json_no_content(
                metadata.notification_endpoint, body, "the notification", bearer=access_token
            )
        except (IssuerRefusedError, IssuerProtocolError) as exc:
            progress(f"warning: {exc.message} (the credential is stored)")


def _check_tx_code(code: str, spec: Mapping[str, Any]) -> None:
    """Refuse a code of the wrong length or kind before sending it: the issuer counts failed attempts."""
    length = spec.get("length")
    if isinstance(length, int) and len(code) != length:
        raise TxCodeFormatError(f"the transaction code has {len(code)} characters; the offer says {length}")
    if spec.get("input_mode", "numeric") == "numeric" and not (code.isascii() and code.isdigit()):
        raise TxCodeFormatError("the transaction code must be digits only (the offer's input_mode is numeric)")


def _thumbprint(jwk: Mapping[str, Any], what: str) -> str:
    try:
        return PublicKey.from_jwk(dict(jwk)).thumbprint()
    except DidError:
        raise IssuerProtocolError(f"{what}: cnf.jwk is not a public key") from None


def _did_thumbprint(value: str) -> str:
    """The thumbprint of the key a did:jwk or did:key names ("" for anything else)."""
    from did import did_jwk, did_key

    try:
        if value.startswith("did:jwk:"):
            return PublicKey.from_jwk(did_jwk.jwk_from_did(value.split("#", 1)[0])).thumbprint()
        if value.startswith("did:key:"):
            return did_key.public_key_from_did(value.split("#", 1)[0]).thumbprint()
    except DidError:
        return ""
    return ""


def _valid_until(claims: Mapping[str, Any]) -> datetime | None:
    exp = claims.get("exp")
    if isinstance(exp, int) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, UTC)
    for name in ("validUntil", "expirationDate"):
        text = claims.get(name)
        if isinstance(text, str):
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
    vc = claims.get("vc")
    return _valid_until(vc) if isinstance(vc, dict) else None


def keep_in(store: CredentialStore, issuer: str) -> Callable[[ReceivedCredential], None]:
    """An ``on_credential`` callback that stores each received credential in the wallet (as issued)."""

    def on_credential(received: ReceivedCredential) -> None:
        store.add_credential(
            credential_format=received.format,
            configuration_id=received.configuration_id,
            issuer=issuer,
            credential=received.credential,
            valid_until=received.valid_until,
        )

    return on_credential
