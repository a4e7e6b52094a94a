"""An OpenID for Verifiable Presentations 1.0 (final) holder: resolve a request, match it, present, answer.

``parse_request_url`` reads ``openid4vp://?...`` (or an https URL with the same query). ``Oid4vpHolder.resolve``
turns it into a checked ``PresentationRequest``:

- ``client_id`` carries one of three client identifier prefixes; any other (and none) is refused:

  - ``x509_san_dns:<host>``: a signed request object whose ``x5c`` chain validates to a root the wallet trusts
    (``wallet.trust``: the xid CA roots from enrollment and roots the person added), whose leaf has ``<host>`` as a
    dNSName subjectAltName (and, if it has a keyUsage, digitalSignature) and signed the request object; the
    ``response_uri`` host must be ``<host>``. The chain is checked by ``cryptography.x509.verification``
    (signatures, validity times, issuers that are CAs, path length) without the Web PKI's extension profile
    (which would demand authority key identifiers and serverAuth usages that verifier certificates need not have);
  - ``decentralized_identifier:<did>``: a signed request object whose ``kid`` is a DID URL of ``<did>``, verified
    with that key of the resolved DID document (did:web over https; http only for a loopback host);
  - ``redirect_uri:<uri>``: an unsigned request, parameters by value in the URL (JSON-valued ones as JSON text); a
    ``request`` or ``request_uri`` is refused; ``response_uri`` must equal ``<uri>``.

- the request object comes by value (``request``) or from ``request_uri``: GET, or POST (``request_uri_method=post``)
  with ``wallet_metadata`` and a fresh ``wallet_nonce`` that the request object must echo. The answer must be
  ``application/oauth-authz-req+jwt``; the JWS ``typ`` ``oauth-authz-req+jwt``; ``alg`` from the allow-list of
  ``vc.jose`` (never ``none``); ``client_id`` equal to the URL's; ``aud`` exactly ``https://self-issued.me/v2`` (the
  static-discovery audience: this wallet publishes no metadata of its own, so no other audience is accepted); ``exp``
  present and not passed, ``iat``/``nbf`` not in the future (a leeway of ``leeway`` seconds each way).
- ``response_type`` ``vp_token``; ``response_mode`` ``direct_post`` or ``direct_post.jwt`` (no ``redirect_uri``
  then); ``response_uri`` https (http only on loopback); ``nonce``; ``dcql_query`` (``scope`` is not supported);
  ``transaction_data`` is refused (the wallet supports no transaction data type, as the spec then requires); for
  ``direct_post.jwt`` an encryption key in ``client_metadata.jwks`` (EC P-256, on the curve, ``use`` ``enc`` or
  absent, ``alg`` ``ECDH-ES`` or absent, with a ``kid``) and an ``enc`` of ``encrypted_response_enc_values_supported``
  (A128GCM by default; A128GCM and A256GCM supported).

``Oid4vpHolder.plan`` matches the DCQL query (``vc.dcql``; W3C ``type_values`` as fully expanded IRIs, or leniently
the types as written) against the wallet's unexpired credentials and names
what would be disclosed: for SD-JWT VCs only the claims asked for (and their parents); a ``jwt_vc_json`` or
``ldp_vc`` credential cannot disclose selectively, so all of it goes (the plan says so). A query the wallet cannot
satisfy raises ``CannotSatisfyQueryError`` and nothing is sent. ``Oid4vpHolder.present`` then builds the
presentations (SD-JWT with a KB-JWT: ``aud`` = the full client_id, ``nonce``, ``iat``, ``sd_hash``; a JWT VP with
``vp``, ``aud``, ``nonce``, ``iat`` signed by the holder's did:jwk key; an ``ldp_vp`` with a Data Integrity proof,
``proofPurpose`` ``authentication``, ``challenge`` = nonce, ``domain`` = client_id) and answers: a form with
``vp_token`` (a JSON object keyed by credential query id, values arrays) and ``state``, or ``response`` = a JWE
(ECDH-ES, compact, ``kid`` of the verifier's key) of ``{"vp_token", "state"}``. The verifier's ``redirect_uri``, if
any, is returned. Errors are those of ``wallet.errors``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from did import KeyType, PublicKey, Resolver, Signer, did_jwk
from did.document import DidDocument
from did.errors import DidError
from did.signer import KeyIdSigner
from foundation.b64 import b64url_decode, b64url_encode
from foundation.http import Fetched, FetchError, fetch
from foundation.jws import parse_compact
from foundation.strict_json import InvalidJsonError, compact_json, strict_json
from vc.dcql import Candidate, ClaimPath, DcqlError, DcqlQuery, match, select
from vc.errors import VcError
from vc.jose import CompactJws, sign_compact
from vc.oid4vp import verification_code
from wallet.errors import (
    CannotSatisfyQueryError,
    PresentationRequestError,
    UntrustedVerifierError,
    VerifierRefusedError,
    VerifierUnreachableError,
    WalletCorruptError,
)
from wallet.http import check_url, error_detail, one_line
from wallet.store import CredentialStore
from wallet.vault import list_records

__all__ = [
    "ENC_VALUES",
    "MAX_REQUEST_OBJECT",
    "PREFIXES",
    "REQUEST_MEDIA_TYPE",
    "REQUEST_TYP",
    "RESPONSE_MODES",
    "SELF_ISSUED_AUDIENCE",
    "Oid4vpHolder",
    "PresentationPlan",
    "PresentationRequest",
    "PresentationResult",
    "RequestReference",
    "Selection",
    "VerifierHttp",
    "expanded_types",
    "parse_request_url",
    "sd_jwt_claims",
    "wallet_metadata",
]

SELF_ISSUED_AUDIENCE: Final = "https://self-issued.me/v2"
"""The ``aud`` of a request object for a wallet with static metadata (OpenID4VP 1.0 §5.8)."""

REQUEST_TYP: Final = "oauth-authz-req+jwt"
"""The JOSE ``typ`` of a request object (RFC 9101)."""

REQUEST_MEDIA_TYPE: Final = "application/oauth-authz-req+jwt"
"""The media type a request_uri answers with."""

PREFIXES: Final = ("x509_san_dns", "decentralized_identifier", "redirect_uri")
"""The client identifier prefixes this wallet accepts."""

RESPONSE_MODES: Final = ("direct_post", "direct_post.jwt")
"""The response modes this wallet answers with."""

ENC_VALUES: Final = ("A128GCM", "A256GCM")
"""The JWE content encryptions this wallet can use for ``direct_post.jwt``."""

MAX_REQUEST_OBJECT: Final = 256 * 1024
"""The largest answer the wallet reads from a verifier, in bytes."""

MAX_URL: Final = 32 * 1024
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
_SIGNING_ALGS: Final = ("ES256", "EdDSA", "Ed25519")
_SUITES: Final = {
    KeyType.P256: ("ecdsa-jcs-2019", "ecdsa-rdfc-2019"),
    KeyType.ED25519: ("eddsa-jcs-2022", "eddsa-rdfc-2022"),
}
_FORMATS: Final = ("dc+sd-jwt", "jwt_vc_json", "ldp_vc")


def wallet_metadata() -> dict[str, Any]:
    """What this wallet supports, as sent in ``wallet_metadata`` to a request_uri (OpenID4VP 1.0 §10)."""
    return {
        "vp_formats_supported": {
            "dc+sd-jwt": {"sd-jwt_alg_values": list(_SIGNING_ALGS), "kb-jwt_alg_values": list(_SIGNING_ALGS)},
            "jwt_vc_json": {"alg_values": list(_SIGNING_ALGS)},
            "ldp_vc": {
                "proof_type_values": ["DataIntegrityProof"],
                "cryptosuite_values": sorted(s for p in _SUITES.values() for s in p),
            },
        },
        "client_id_prefixes_supported": list(PREFIXES),
        "request_object_signing_alg_values_supported": list(_SIGNING_ALGS),
        "response_types_supported": ["vp_token"],
        "response_modes_supported": list(RESPONSE_MODES),
        "authorization_encryption_alg_values_supported": ["ECDH-ES"],
        "authorization_encryption_enc_values_supported": list(ENC_VALUES),
    }


# -- the request URL --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestReference:
    """What an ``openid4vp://`` URL carries: the client_id and the request (by reference or by value)."""

    client_id: str
    request_uri: str | None = None
    request_uri_method: str = "get"
    request: str | None = None
    params: Mapping[str, str] | None = None
    """All parameters of the URL (each once), for a request by value."""


def parse_request_url(text: str) -> RequestReference:
    """Read an OpenID4VP request URL (``openid4vp://?...`` or an https URL with the same query)."""
    text = text.strip()
    if len(text) > MAX_URL:
        raise PresentationRequestError(f"the request URL is longer than {MAX_URL} characters")
    parts = urlsplit(text)
    if parts.scheme not in ("openid4vp", "https", "http"):
        raise PresentationRequestError("a presentation request is an openid4vp:// URL or an https URL carrying one")
    query = parse_qs(parts.query, keep_blank_values=True)
    repeated = sorted(name for name, values in query.items() if len(values) != 1)
    if repeated:
        raise PresentationRequestError(f"the request URL repeats {', '.join(repeated)}")
    params = {name: values[0] for name, values in query.items()}
    client_id = params.get("client_id")
    if not client_id:
        raise PresentationRequestError("the request URL has no client_id")
    method = params.get("request_uri_method", "get")
    if "request_uri_method" in params and "request_uri" not in params:
        raise PresentationRequestError("request_uri_method without request_uri")
    if method not in ("get", "post"):
        raise PresentationRequestError(f"invalid_request_uri_method: {one_line(method, 40)!r} is not get or post")
    if "request" in params and "request_uri" in params:
        raise PresentationRequestError("the request URL carries both request and request_uri")
    return RequestReference(client_id, params.get("request_uri"), method, params.get("request"), params)


# -- the checked request ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresentationRequest:
    """A verified OpenID4VP request, ready to be matched against the wallet's credentials."""

    client_id: str
    prefix: str
    response_uri: str
    response_mode: str
    nonce: str
    state: str | None
    query: DcqlQuery
    dcql_query: Mapping[str, Any]
    client_metadata: Mapping[str, Any]
    encryption_key: Mapping[str, Any] | None = None
    """The verifier's public encryption JWK for ``direct_post.jwt``."""
    enc: str = "A128GCM"

    @property
    def verifier(self) -> str:
        """The client identifier without its prefix (a host name, a DID or a URI)."""
        return self.client_id.split(":", 1)[1]

    @property
    def verification_code(self) -> str:
        """The four digits the relying party's page shows for this request."""
        return verification_code(self.client_id, self.nonce)


@dataclass(frozen=True)
class Selection:
    """One credential to present for one credential query, and what of it is disclosed."""

    query_id: str
    record_id: str
    format: str
    paths: tuple[ClaimPath, ...]
    """The claims disclosed (concrete claims paths); for W3C formats every claim of the credential subject."""
    whole: bool
    """The format cannot disclose selectively: the whole credential is presented."""


@dataclass(frozen=True)
class PresentationPlan:
    """What the wallet would present: one or more credentials per credential query it answers."""

    selections: tuple[Selection, ...]

    def disclosed(self) -> dict[str, list[list[str | int | None]]]:
        """The disclosed claims paths per credential query id."""
        out: dict[str, list[list[str | int | None]]] = {}
        for s in self.selections:
            out.setdefault(s.query_id, []).extend(list(p) for p in s.paths)
        return out


@dataclass(frozen=True)
class PresentationResult:
    """The verifier's answer to the presentation."""

    redirect_uri: str | None
    disclosed: dict[str, list[list[str | int | None]]]


# -- HTTP to the verifier ---------------------------------------------------------------------------------------


class VerifierHttp:
    """The wallet's exchanges with a verifier, bounded in size and time; ``client`` may be injected."""

    def __init__(
        self, client: httpx.Client | None = None, *, timeout: float = 10.0, max_bytes: int = MAX_REQUEST_OBJECT
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.max_bytes = max_bytes

    def _send(self, method: str, url: str, what: str, form: Mapping[str, str] | None, accept: str) -> Fetched:
        check_url(url, f"the URL for {what}", PresentationRequestError)
        headers = {"Accept": accept}
        content = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = urlencode(dict(form)).encode()
        try:
            answer = fetch(
                method, url, max_bytes=self.max_bytes, timeout=self.timeout, client=self.client,
                content=content, headers=headers,
            )  # fmt: skip
        except FetchError as exc:
            raise VerifierUnreachableError(f"{what}: {one_line(exc.message)}") from None
        if answer.status_code != 200:
            raise _refusal(answer, what)
        return answer

    def request_object(self, url: str, form: Mapping[str, str] | None) -> str:
        """GET (or POST ``form`` to) a request_uri; the request object's text."""
        what = "fetching the request object"
        answer = self._send("GET" if form is None else "POST", url, what, form, REQUEST_MEDIA_TYPE)
        if answer.media_type != REQUEST_MEDIA_TYPE:
            shown = answer.media_type or "no media type"
            raise PresentationRequestError(f"{what}: the verifier answered {shown}, not {REQUEST_MEDIA_TYPE}")
        try:
            return answer.content.decode("ascii").strip()
        except UnicodeDecodeError:
            raise PresentationRequestError(f"{what}: the request object is not ASCII") from None

    def post_response(self, url: str, form: Mapping[str, str]) -> dict[str, Any]:
        """POST the authorization response; the verifier's JSON answer (``{}`` when it sent no body)."""
        what = "sending the presentation"
        answer = self._send("POST", url, what, form, "application/json")
        if not answer.content.strip():
            return {}
        if answer.media_type != "application/json":
            raise VerifierRefusedError(f"{what}: the verifier answered {answer.media_type or 'no media type'}")
        try:
            return strict_json(answer.content, "the verifier's answer", error=VerifierRefusedError)
        except InvalidJsonError as exc:  # pragma: no cover - strict_json raises the given error type
            raise VerifierRefusedError(exc.message) from None


def _refusal(answer: Fetched, what: str) -> VerifierRefusedError:
    status = answer.status_code
    if 300 <= status < 400:
        message = f"{what}: the verifier answered a redirect ({status}); none is followed"
        return VerifierRefusedError(message, status=status)
    error, detail = error_detail(answer)
    return VerifierRefusedError(f"{what}: the verifier answered {status} {detail}", status=status, error=error)


# -- credentials as DCQL sees them ------------------------------------------------------------------------------


def sd_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a stored SD-JWT VC with every disclosure applied (it was verified when it was received)."""
    import hashlib

    jwt, *rest = token.split("~")
    payload = strict_json(parse_compact(jwt, error=WalletCorruptError).payload, "an SD-JWT", error=WalletCorruptError)
    by_digest: dict[str, list[Any]] = {}
    for disclosure in (d for d in rest if d):
        try:
            decoded = json.loads(b64url_decode(disclosure))
        except (ValueError, RecursionError):
            raise WalletCorruptError("a stored SD-JWT has a malformed disclosure") from None
        if isinstance(decoded, list) and len(decoded) in (2, 3):
            by_digest[b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())] = decoded

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: walk(v) for k, v in value.items() if k not in ("_sd", "_sd_alg")}
            for digest in value.get("_sd", []):
                found = by_digest.get(digest) if isinstance(digest, str) else None
                if found is not None and len(found) == 3 and isinstance(found[1], str):
                    out[found[1]] = walk(found[2])
            return out
        if isinstance(value, list):
            elements = []
            for element in value:
                if isinstance(element, dict) and set(element) == {"..."}:
                    found = by_digest.get(element["..."]) if isinstance(element["..."], str) else None
                    if found is not None and len(found) == 2:
                        elements.append(walk(found[1]))
                else:
                    elements.append(walk(element))
            return elements
        return value

    claims = walk(payload)
    assert isinstance(claims, dict)
    return claims


def expanded_types(credential: Mapping[str, Any]) -> frozenset[str]:
    """A W3C credential's types as fully expanded IRIs (JSON-LD, bundled contexts only); empty if it cannot be."""
    from pyld import jsonld as pyld

    from vc.jsonld import document_loader

    document = {"@context": credential.get("@context"), "type": credential.get("type")}
    try:
        expanded = pyld.expand(document, {"documentLoader": document_loader})
    except Exception:  # pyld raises its own and the loader's errors: an unexpandable type matches no query
        return frozenset()
    types = expanded[0].get("@type", []) if expanded and isinstance(expanded[0], dict) else []
    return frozenset(t for t in types if isinstance(t, str))


def _expired(until: Any, now: datetime) -> bool:
    """Whether a credential's listed validity end (ISO 8601, or None) has passed; a malformed one counts as passed."""
    if until is None:
        return False
    try:
        return datetime.fromisoformat(str(until)) <= now
    except ValueError:
        return True


def _types(credential: Mapping[str, Any]) -> frozenset[str]:
    """The types DCQL ``type_values`` are matched with: expanded IRIs (as the spec says) and, leniently, as written."""
    written = credential.get("type")
    terms = [t for t in (written if isinstance(written, list) else [written]) if isinstance(t, str)]
    return expanded_types(credential) | frozenset(terms)


def _leaf_paths(value: Any, prefix: ClaimPath) -> Iterator[ClaimPath]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaf_paths(item, (*prefix, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaf_paths(item, (*prefix, index))
    else:
        yield prefix


def _concrete(claims: Any, path: ClaimPath) -> list[ClaimPath]:
    """A claims path pointer's wildcards (null) replaced by the indexes they select."""
    current: list[tuple[ClaimPath, Any]] = [((), claims)]
    for element in path:
        following: list[tuple[ClaimPath, Any]] = []
        for where, node in current:
            if element is None and isinstance(node, list):
                following.extend(((*where, i), item) for i, item in enumerate(node))
            elif element is not None and select(node, (element,)):
                following.append(((*where, element), select(node, (element,))[0]))
        current = following
    return [where for where, _ in current]


# -- the holder -------------------------------------------------------------------------------------------------


class Oid4vpHolder:
    """Resolves OpenID4VP requests and answers them with the wallet's credentials and holder key."""

    def __init__(
        self,
        holder: Signer,
        store: CredentialStore,
        roots: Sequence[x509.Certificate],
        *,
        http: VerifierHttp | None = None,
        resolve_did: Callable[[str], DidDocument] | None = None,
        clock: Callable[[], float] = time.time,
        leeway: int = 30,
    ) -> None:
        self.holder = holder
        self.store = store
        self.roots = list(roots)
        self.http = http or VerifierHttp()
        self.resolve_did = resolve_did or _resolve_did
        self.clock = clock
        self.leeway = leeway
        self.did = did_jwk.create(holder.public_jwk)

    # -- resolving ----------------------------------------------------------------------------------------------

    def resolve(self, url: str) -> PresentationRequest:
        """Fetch and verify the request of an OpenID4VP URL (see the module docstring)."""
        reference = parse_request_url(url)
        client_id = reference.client_id
        prefix, _, value = client_id.partition(":")
        if prefix not in PREFIXES or not value:
            raise PresentationRequestError(
                f"client_id {one_line(client_id, 80)!r}: the client identifier prefix is not one this wallet accepts"
                f" ({', '.join(PREFIXES)})"
            )
        if prefix == "redirect_uri":
            if reference.request is not None or reference.request_uri is not None:
                raise PresentationRequestError(
                    "a redirect_uri: request cannot be signed; its parameters come in the URL, not a request object"
                )
            params = _by_value(reference.params or {})
            return self._checked(params, reference, prefix, value, wallet_nonce=None)
        wallet_nonce = None
        if reference.request is not None:
            token = reference.request
        elif reference.request_uri is not None:
            form = None
            if reference.request_uri_method == "post":
                wallet_nonce = secrets.token_urlsafe(24)
                form = {"wallet_metadata": json.dumps(wallet_metadata()), "wallet_nonce": wallet_nonce}
            token = self.http.request_object(reference.request_uri, form)
        else:
            raise PresentationRequestError(f"the {prefix}: prefix needs a signed request object (request_uri)")
        params = self._verified(token, prefix, value)
        return self._checked(params, reference, prefix, value, wallet_nonce=wallet_nonce)

    def _verified(self, token: str, prefix: str, value: str) -> dict[str, Any]:
        """The request object's claims, once its signature checks out for the client identifier prefix."""
        try:
            jws = CompactJws.parse(token)
        except VcError as exc:
            raise UntrustedVerifierError(f"the request object is not a signed JWT: {exc.message}") from None
        if jws.header.get("typ") != REQUEST_TYP:
            raise PresentationRequestError(f"the request object's typ is {jws.header.get('typ')!r}, not {REQUEST_TYP}")
        key = self._x509_key(jws.header, value) if prefix == "x509_san_dns" else self._did_key(jws.header, value)
        try:
            jws.verify(key)
        except VcError as exc:
            raise UntrustedVerifierError(f"the request object's signature does not verify: {exc.message}") from None
        return strict_json(jws.payload, "the request object", error=PresentationRequestError)

    def _x509_key(self, header: Mapping[str, Any], host: str) -> PublicKey:
        chain = header.get("x5c")
        if not isinstance(chain, list) or not chain or len(chain) > 8 or not all(isinstance(c, str) for c in chain):
            raise UntrustedVerifierError("an x509_san_dns: request object needs an x5c header (1 to 8 certificates)")
        try:
            certificates = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain]
        except (ValueError, binascii.Error):
            raise UntrustedVerifierError("an x5c certificate is not base64 DER") from None
        if not self.roots:
            raise UntrustedVerifierError("the wallet trusts no root yet ('xid wallet trust add CERT.pem')")
        leaf = certificates[0]
        verifier = (
            PolicyBuilder()
            .store(Store(self.roots))
            .time(datetime.fromtimestamp(self.clock(), UTC))
            .max_chain_depth(6)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, certificates[1:])
        except VerificationError as exc:
            raise UntrustedVerifierError(
                f"the verifier's certificate does not chain to a trusted root: {one_line(str(exc), 160)}"
            ) from None
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns_names = names.get_values_for_type(x509.DNSName)
        except (x509.ExtensionNotFound, ValueError):
            dns_names = []
        if host.lower() not in [name.lower() for name in dns_names]:
            shown = one_line(host, 80)
            raise UntrustedVerifierError(f"the verifier's certificate is not for {shown!r} (no such dNSName)")
        try:
            usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
            if not usage.digital_signature:
                raise UntrustedVerifierError("the verifier's certificate may not sign (keyUsage)")
        except x509.ExtensionNotFound:
            pass
        try:
            return PublicKey.from_cryptography(leaf.public_key())  # type: ignore[arg-type]
        except DidError as exc:
            raise UntrustedVerifierError(f"the verifier's certificate key is not usable: {exc.message}") from None

    def _did_key(self, header: Mapping[str, Any], did: str) -> PublicKey:
        kid = header.get("kid")
        if not did.startswith("did:"):
            raise PresentationRequestError(f"decentralized_identifier:{one_line(did, 80)} does not name a DID")
        if not isinstance(kid, str) or not kid.startswith(did + "#"):
            raise UntrustedVerifierError("the request object's kid is not a DID URL of the client identifier's DID")
        try:
            return self.resolve_did(did).verification_method(kid[len(did) :]).public_key
        except DidError as exc:
            shown = one_line(kid, 120)
            raise UntrustedVerifierError(f"cannot find the verifier's key {shown}: {exc.message}") from None

    def _checked(
        self,
        params: Mapping[str, Any],
        reference: RequestReference,
        prefix: str,
        value: str,
        *,
        wallet_nonce: str | None,
    ) -> PresentationRequest:
        """Check the request's parameters (signed or by value) against the protocol and the prefix's rules."""
        signed = prefix != "redirect_uri"
        if params.get("client_id") != reference.client_id:
            raise PresentationRequestError("the request's client_id is not the one in the URL")
        if signed:
            self._check_claims(params, wallet_nonce)
        if params.get("response_type") != "vp_token":
            raise PresentationRequestError(f"response_type {params.get('response_type')!r} is not vp_token")
        mode = params.get("response_mode")
        if mode not in RESPONSE_MODES:
            raise PresentationRequestError(f"response_mode {mode!r}: this wallet answers {' or '.join(RESPONSE_MODES)}")
        if "redirect_uri" in params:
            raise PresentationRequestError("a request with response_mode direct_post may not carry a redirect_uri")
        response_uri = params.get("response_uri", value if prefix == "redirect_uri" else None)
        if not isinstance(response_uri, str):
            raise PresentationRequestError("the request has no response_uri")
        check_url(response_uri, "the response_uri", PresentationRequestError)
        if prefix == "x509_san_dns" and urlsplit(response_uri).hostname != value.lower():
            raise UntrustedVerifierError(f"the response_uri's host is not {one_line(value, 80)!r}")
        if prefix == "redirect_uri" and response_uri != value:
            raise UntrustedVerifierError("the response_uri is not the client identifier's URI")
        nonce, state = params.get("nonce"), params.get("state")
        if not isinstance(nonce, str) or not nonce or len(nonce) > 512:
            raise PresentationRequestError("the request has no nonce (a string of at most 512 characters)")
        if state is not None and (not isinstance(state, str) or not state or len(state) > 512):
            raise PresentationRequestError("state must be a non-empty string of at most 512 characters")
        if "transaction_data" in params:
            raise PresentationRequestError("the request carries transaction_data, which this wallet does not support")
        raw_query = params.get("dcql_query")
        if raw_query is None:
            raise PresentationRequestError("the request has no dcql_query (a scope alone is not supported)")
        try:
            query = DcqlQuery.parse(raw_query)
        except DcqlError as exc:
            raise PresentationRequestError(f"the dcql_query is invalid: {exc.message}") from None
        metadata = params.get("client_metadata", {})
        if not isinstance(metadata, dict):
            raise PresentationRequestError("client_metadata must be a JSON object")
        key, enc = None, "A128GCM"
        if mode == "direct_post.jwt":
            key, enc = _encryption(metadata)
        return PresentationRequest(
            reference.client_id, prefix, response_uri, mode, nonce, state, query, raw_query, metadata, key, enc
        )

    def _check_claims(self, claims: Mapping[str, Any], wallet_nonce: str | None) -> None:
        aud = claims.get("aud")
        if aud != SELF_ISSUED_AUDIENCE and aud != [SELF_ISSUED_AUDIENCE]:
            raise PresentationRequestError(f"the request object's aud is not {SELF_ISSUED_AUDIENCE}")
        now = self.clock()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise PresentationRequestError("the request object has no exp")
        if now > exp + self.leeway:
            raise PresentationRequestError("the request object has expired")
        for name in ("iat", "nbf"):
            moment = claims.get(name)
            if moment is not None and (type(moment) not in (int, float) or moment > now + self.leeway):
                raise PresentationRequestError(f"the request object's {name} is not a time before now")
        if wallet_nonce is not None and claims.get("wallet_nonce") != wallet_nonce:
            raise PresentationRequestError("the request object does not echo the wallet_nonce the wallet sent")

    # -- matching -----------------------------------------------------------------------------------------------

    def _candidates(self, formats: set[str]) -> tuple[list[Candidate], dict[str, Any]]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        candidates, credentials = [], {}
        for record in list_records(self.store.vault.directory, "credential"):
            fmt = record.meta.get("format")
            until = record.meta.get("validUntil")
            if fmt not in formats or _expired(until, now):
                continue
            credential = self.store.credential(record.id)
            credentials[record.id] = credential
            if fmt == "dc+sd-jwt" and isinstance(credential, str):
                claims = sd_jwt_claims(credential)
                vct = claims.get("vct")
                candidates.append(
                    Candidate(record.id, fmt, claims, vct=vct if isinstance(vct, str) else None,
                              holder_binding="cnf" in claims)
                )  # fmt: skip
            elif fmt == "jwt_vc_json" and isinstance(credential, str):
                payload = strict_json(parse_compact(credential, error=WalletCorruptError).payload, "a JWT VC")
                vc = _vc_of(payload)
                candidates.append(Candidate(record.id, fmt, vc, types=_types(vc)))
            elif fmt == "ldp_vc" and isinstance(credential, dict):
                candidates.append(Candidate(record.id, fmt, credential, types=_types(credential)))
        return candidates, credentials

    def plan(self, request: PresentationRequest) -> PresentationPlan:
        """Which credentials answer the query and what of them is disclosed; CannotSatisfyQueryError if none can."""
        wanted = {q.format for q in request.query.credentials}
        candidates, _ = self._candidates(wanted & set(_FORMATS))
        result = match(request.query, candidates)
        if not result.satisfied or not result.selected_queries:
            missing = ", ".join(result.unsatisfied) or "every credential query"
            raise CannotSatisfyQueryError(
                f"the wallet holds no credentials with what {request.verifier} asks for ({missing}); nothing was sent"
            )
        by_id = {c.id: c for c in candidates}
        selections = []
        for query_id in result.selected_queries:
            for found in result.matches[query_id]:
                candidate = by_id[found.credential_id]
                if candidate.format == "dc+sd-jwt":
                    paths = [p for claim in found.claims for p in _concrete(candidate.claims, claim.path)]
                    selections.append(Selection(query_id, candidate.id, candidate.format, tuple(paths), False))
                else:
                    subject = candidate.claims.get("credentialSubject")
                    leaves = [p for p in _leaf_paths(subject, ("credentialSubject",)) if p[-1] != "id"]
                    selections.append(Selection(query_id, candidate.id, candidate.format, tuple(leaves), True))
        return PresentationPlan(tuple(selections))

    # -- presenting ---------------------------------------------------------------------------------------------

    def present(self, request: PresentationRequest, plan: PresentationPlan) -> PresentationResult:
        """Build the presentations of the plan and send them to the verifier; its redirect_uri if it gave one."""
        vp_token: dict[str, list[Any]] = {}
        for selection in plan.selections:
            credential = self.store.credential(selection.record_id)
            vp_token.setdefault(selection.query_id, []).append(self._presentation(request, selection, credential))
        body: dict[str, Any] = {"vp_token": vp_token}
        if request.state is not None:
            body["state"] = request.state
        if request.response_mode == "direct_post.jwt":
            form = {"response": _encrypt(body, request)}
        else:
            form = {"vp_token": json.dumps(vp_token, ensure_ascii=False, separators=(",", ":"))}
            if request.state is not None:
                form["state"] = request.state
        answer = self.http.post_response(request.response_uri, form)
        redirect = answer.get("redirect_uri")
        if redirect is not None:
            if not isinstance(redirect, str):
                raise VerifierRefusedError("the verifier's redirect_uri is not a string")
            parts = urlsplit(redirect)
            if not parts.hostname or not (
                parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
            ):
                raise VerifierRefusedError(
                    f"the verifier's redirect_uri is not an https URL: {one_line(redirect, 100)!r}"
                )
        return PresentationResult(redirect, plan.disclosed())

    def _presentation(self, request: PresentationRequest, selection: Selection, credential: Any) -> Any:
        from vc import sd_jwt

        now = self.clock()
        if selection.format == "dc+sd-jwt":
            paths = [cast(tuple[str | int, ...], p) for p in selection.paths]  # concrete: no null elements
            moment = datetime.fromtimestamp(now, UTC)
            return sd_jwt.present(
                credential, paths, self.holder, audience=request.client_id, nonce=request.nonce, now=moment
            )
        signer = KeyIdSigner(self.holder, f"{self.did}#0")
        if selection.format == "jwt_vc_json":
            payload = strict_json(parse_compact(credential, error=WalletCorruptError).payload, "a JWT VC")
            vc = _vc_of(payload)
            claims = {
                "iss": self.did,
                "aud": request.client_id,
                "nonce": request.nonce,
                "iat": int(now),
                "exp": int(now) + 300,
                "jti": f"urn:uuid:{_uuid()}",
                "vp": {
                    "@context": [_base_context(vc)],
                    "type": ["VerifiablePresentation"],
                    "holder": self.did,
                    "verifiableCredential": [credential],
                },
            }
            return sign_compact({"typ": "JWT"}, compact_json(claims), signer)
        from vc.data_integrity import DataIntegrityError, add_proof

        ours = _SUITES[PublicKey.from_jwk(self.holder.public_jwk).key_type]
        formats = request.client_metadata.get("vp_formats_supported")
        ldp = formats.get("ldp_vc") if isinstance(formats, dict) else None
        accepted = ldp.get("cryptosuite_values") if isinstance(ldp, dict) else None
        suites = [s for s in ours if s in accepted] if isinstance(accepted, list) else list(ours)
        presentation = {
            "@context": [_base_context(credential)],
            "type": ["VerifiablePresentation"],
            "holder": self.did,
            "verifiableCredential": [credential],
        }
        moment = datetime.fromtimestamp(now, UTC)
        for suite in suites:  # an RDFC proof refuses embedded credentials' own @context (vc.data_integrity)
            try:
                return add_proof(
                    presentation, signer, cryptosuite=suite, proof_purpose="authentication", challenge=request.nonce,
                    domain=request.client_id, created=moment, expires=moment + timedelta(minutes=5),
                )  # fmt: skip
            except DataIntegrityError:
                continue
        raise PresentationRequestError(
            f"vp_formats_not_supported: the verifier accepts no ldp_vp proof this wallet can make ({', '.join(ours)})"
        )


_CA_POLICY: Final = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
"""Issuers need basicConstraints (cryptography itself then requires cA true and checks the path length)."""


def _vc_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The credential of a JWT VC's claims: its ``vc`` claim (VCDM 1.1 JWT) or the claims themselves."""
    vc = payload.get("vc")
    return vc if isinstance(vc, dict) else payload


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _base_context(credential: Mapping[str, Any]) -> str:
    context = credential.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    return first if isinstance(first, str) else "https://www.w3.org/ns/credentials/v2"


def _resolve_did(did: str) -> DidDocument:
    """Resolve a did:key, did:jwk or did:web (over http only when the DID's host is a loopback address)."""
    from did.did_web import DidWebResolver

    host = unquote(did.split(":")[2]) if did.startswith("did:web:") and did.count(":") >= 2 else ""
    try:
        loopback = (urlsplit(f"//{host}").hostname or "") in _LOOPBACK
    except ValueError:
        loopback = False
    options: dict[str, Any] = {"scheme": "http", "allow_loopback": True} if loopback else {}
    with DidWebResolver(**options) as web:
        return Resolver.standard(web, cache_ttl=0).resolve_document(did)


def _by_value(params: Mapping[str, str]) -> dict[str, Any]:
    """A request's URL parameters, JSON-valued ones (dcql_query, client_metadata) decoded."""
    out: dict[str, Any] = dict(params)
    for name in ("dcql_query", "client_metadata"):
        if name in out:
            out[name] = strict_json(out[name], name, error=PresentationRequestError)
    return out


def _encryption(metadata: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The verifier's encryption key and content encryption for direct_post.jwt, checked."""
    jwks = metadata.get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise PresentationRequestError("direct_post.jwt needs client_metadata.jwks with an encryption key")
    usable = [k for k in keys if isinstance(k, dict) and k.get("use", "enc") == "enc" and k.get("kty") == "EC"]
    if not usable:
        raise PresentationRequestError("client_metadata.jwks has no EC encryption key (use: enc); only P-256 is used")
    key = usable[0]
    if key.get("crv") != "P-256" or key.get("alg", "ECDH-ES") != "ECDH-ES":
        raise PresentationRequestError("the verifier's encryption key must be P-256 for ECDH-ES")
    if not isinstance(key.get("kid"), str) or not key["kid"]:
        raise PresentationRequestError("the verifier's encryption key has no kid")
    if "d" in key:
        raise PresentationRequestError("the verifier's encryption key is a private key")
    try:
        x, y = (int.from_bytes(b64url_decode(key[c]), "big") for c in ("x", "y"))
        if len(b64url_decode(key["x"])) != 32 or len(b64url_decode(key["y"])) != 32:
            raise ValueError
        ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()  # refuses a point off the curve
    except (KeyError, TypeError, ValueError):
        raise PresentationRequestError("the verifier's encryption key is not a P-256 point") from None
    offered = metadata.get("encrypted_response_enc_values_supported", ["A128GCM"])
    if not isinstance(offered, list):
        raise PresentationRequestError("encrypted_response_enc_values_supported must be an array")
    enc = next((e for e in offered if e in ENC_VALUES), None)
    if enc is None:
        supported = ", ".join(ENC_VALUES)
        raise PresentationRequestError(f"the verifier offers no content encryption this wallet has ({supported})")
    public = {name: key[name] for name in ("kty", "crv", "x", "y")}
    return {**public, "kid": key["kid"]}, enc


def _encrypt(body: Mapping[str, Any], request: PresentationRequest) -> str:
    """The response as a compact JWE (ECDH-ES) to the verifier's key."""
    from joserfc import jwe
    from joserfc.jwk import ECKey

    assert request.encryption_key is not None
    jwk = dict(request.encryption_key)
    key = ECKey.import_key({k: v for k, v in jwk.items() if k != "kid"})
    protected = {"alg": "ECDH-ES", "enc": request.enc, "kid": jwk["kid"]}
    plaintext = json.dumps(dict(body), ensure_ascii=False, separators=(",", ":")).encode()
    return jwe.encrypt_compact(protected, plaintext, key, algorithms=["ECDH-ES", request.enc])
