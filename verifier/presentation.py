"""Validating the presentations of an OpenID4VP 1.0 response, in the specification's order.

``make_validator(ctx)`` returns the ``ResponseValidator`` the response endpoint calls: it reads the response
(``verifier.response``), then checks each presentation for the format its DCQL credential query names:

- ``dc+sd-jwt``: the issuer's signature and key (``vc.verify.CredentialVerifier`` over the context's resolver; an
  https ``iss`` is resolved through its same-origin did:web), the Key Binding JWT (``typ`` ``kb+jwt``, signed by
  ``cnf.jwk``, ``nonce`` = the transaction's, ``aud`` = the full client_id with its prefix, ``sd_hash``), ``iat``
  within ``settings.iat_leeway`` in the past (and at most the credential verifier's clock skew ahead), every
  disclosure referenced by a digest;
- ``jwt_vc_json``: a JWT VP (``nonce``, ``aud`` = client_id, fresh ``iat``, signed by a key of the holder's DID
  through its ``authentication`` relationship) holding exactly one ``jwt_vc_json`` credential whose subject is the
  holder;
- ``ldp_vc``: an ``ldp_vp`` with one Data Integrity proof (``proofPurpose`` ``authentication``, ``challenge`` =
  nonce, ``domain`` = client_id) by the holder, holding exactly one ``ldp_vc`` whose subject is the holder;

then, for each credential, the trusted-issuer policy (checked before any status list is fetched), its status
(Token Status List or Bitstring Status List; a credential without status is refused when
``settings.status_required``), its validity times, and that it answers its credential query (format, ``vct`` or
types, claims, claim sets) as ``vc.dcql`` reads what was actually disclosed. Last, the response as a whole must
answer the query: every credential query when there are no credential sets, else an option of every required set,
and no presentation outside a fully answered option. Nothing here writes to the database. Errors::

    ResponseRejectedError                                              (verifier.response)
    ├── PresentationError             invalidPresentation      (invalid_request: a presentation does not verify)
    │   └── HolderBindingError        holderBinding            (invalid_request: KB-JWT / VP proof, nonce, aud, iat)
    ├── UntrustedIssuerError          untrustedIssuer          (access_denied)
    ├── CredentialStatusRefusedError  credentialStatusRefused  (access_denied: revoked, suspended, unknown, none)
    └── QueryNotSatisfiedError        queryNotSatisfied        (invalid_request: the response does not answer)

Verified status list tokens (per token text, until their ``exp``) and dereferenced keys (a minute) are kept by the
validator, so ``make_validator`` is called once per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from did import DidError, Resolver, jwk_thumbprint, parse_did_url
from did.document import DidDocument, VerificationMethod
from foundation.b64 import b64url_decode
from foundation.errors import XidError
from vc.data_integrity import verify_proof
from vc.dcql import Candidate, CredentialQuery, DcqlError, DcqlQuery, match_credential
from vc.errors import VcError
from vc.jose import CompactJws, check_times, is_numeric_date, strict_json
from vc.model import Credential, validate_presentation
from vc.sd_jwt import KeyBindingError
from vc.verify import CredentialStatusError, CredentialVerifier, VerificationResult, issuer_did
from verifier.context import VerifierContext
from verifier.contracts import PresentedCredential, ResponseValidator, TransactionFacts, ValidatedResponse
from verifier.response import ParsedResponse, ResponseRejectedError, parse_response

__all__ = [
    "SD_JWT_TECHNICAL_CLAIMS",
    "CredentialStatusRefusedError",
    "HolderBindingError",
    "PresentationError",
    "PresentationValidator",
    "QueryNotSatisfiedError",
    "UntrustedIssuerError",
    "make_validator",
]

SD_JWT_TECHNICAL_CLAIMS: Final = frozenset({"iss", "iat", "nbf", "exp", "cnf", "status", "vct", "vct#integrity", "jti"})
"""SD-JWT VC claims that secure the credential rather than describe the person: not reported as disclosed claims."""
_VP_TYPES: Final = (None, "JWT")


class PresentationError(ResponseRejectedError):
    """A presentation or the credential in it does not verify (``invalid_request``)."""

    code = "invalidPresentation"


class HolderBindingError(PresentationError):
    """The holder binding fails: KB-JWT or VP proof missing or wrong, nonce, audience or iat (``invalid_request``)."""

    code = "holderBinding"


class UntrustedIssuerError(ResponseRejectedError):
    """The credential's issuer is not one the verifier trusts (``access_denied``)."""

    code = "untrustedIssuer"
    oauth_error = "access_denied"


class CredentialStatusRefusedError(ResponseRejectedError):
    """The credential is revoked or suspended, its status cannot be established, or it has none (``access_denied``)."""

    code = "credentialStatusRefused"
    oauth_error = "access_denied"


class QueryNotSatisfiedError(ResponseRejectedError):
    """The response does not answer the DCQL query it was asked (``invalid_request``)."""

    code = "queryNotSatisfied"


@dataclass(frozen=True)
class _Checked:
    result: VerificationResult
    claims: Mapping[str, Any]
    holder: str | None
    types: frozenset[str] = frozenset()


class PresentationValidator:
    """Checks every presentation of a parsed response against its transaction (pure; fetches status lists)."""

    def __init__(self, ctx: VerifierContext) -> None:
        self._ctx = ctx
        self._keys = _KeyCache(ctx.resolver)
        self._verifier = CredentialVerifier(self._keys, ctx.status_source)
        self._trusted = frozenset(_issuer_key(issuer) for issuer in ctx.trusted_issuers)
        self._queries: dict[str, DcqlQuery] = {}

    def __call__(self, transaction: TransactionFacts, form: Mapping[str, str]) -> ValidatedResponse:
        """The validated response, or a ResponseRejectedError naming the OpenID4VP error."""
        now = self._ctx.clock()
        return self.check(transaction, parse_response(transaction, form, now), now)

    def check(self, transaction: TransactionFacts, parsed: ParsedResponse, now: datetime) -> ValidatedResponse:
        """Validate the presentations of a parsed response and that together they answer the DCQL query."""
        query = self._query(transaction)
        by_id = {q.id: q for q in query.credentials}
        credentials: list[PresentedCredential] = []
        warnings: list[str] = []
        for query_id, presentations in parsed.vp_token.items():
            credential_query = by_id.get(query_id)
            if credential_query is None:
                raise QueryNotSatisfiedError(f"vp_token answers {query_id!r}, which the DCQL query does not ask for")
            if len(presentations) > 1 and not credential_query.multiple:
                raise QueryNotSatisfiedError(f"vp_token.{query_id} holds several presentations; the query allows one")
            for presentation in presentations:
                credentials.append(self._presentation(credential_query, presentation, transaction, now, warnings))
        _check_satisfied(query, set(parsed.vp_token))
        return ValidatedResponse(tuple(credentials), parsed.digest, tuple(warnings))

    def _query(self, transaction: TransactionFacts) -> DcqlQuery:
        """The transaction's DCQL query, parsed once per transaction (a wallet may post several times)."""
        cached = self._queries.get(transaction.id)
        if cached is None:
            try:
                cached = DcqlQuery.parse(transaction.dcql_query)
            except DcqlError as exc:  # stored by the request side, which validated it: a server fault
                raise QueryNotSatisfiedError(f"the request's DCQL query is invalid: {exc.message}") from exc
            if len(self._queries) >= _MAX_CACHED:
                self._queries.clear()
            self._queries[transaction.id] = cached
        return cached

    # -- one presentation ---------------------------------------------------------------------------------------

    def _presentation(
        self,
        query: CredentialQuery,
        presentation: str | Mapping[str, Any],
        transaction: TransactionFacts,
        now: datetime,
        warnings: list[str],
    ) -> PresentedCredential:
        try:
            if query.format == "dc+sd-jwt":
                checked = self._sd_jwt(query, presentation, transaction, now)
            elif query.format == "jwt_vc_json":
                checked = self._jwt_vp(query, presentation, transaction, now)
            elif query.format == "ldp_vc":
                checked = self._ldp_vp(query, presentation, transaction, now)
            else:
                raise PresentationError(f"credential format {query.format!r} is not supported by this verifier")
        except KeyBindingError as exc:
            raise HolderBindingError(f"{query.id}: {exc.message}") from exc
        except CredentialStatusError as exc:
            raise CredentialStatusRefusedError(f"{query.id}: {exc.message}") from exc
        except (VcError, DidError) as exc:
            raise PresentationError(f"{query.id}: {exc.code}: {exc.message}") from exc
        result = checked.result
        if not result.status:
            if self._ctx.settings.status_required:
                raise CredentialStatusRefusedError(
                    f"{query.id}: the credential has no status entry, and status is required"
                )
            warnings.append(f"{query.id}: the credential has no status entry; revocation cannot be checked")
        candidate = Candidate(
            query.id,
            query.format,
            result.claims,
            _vct(result),
            checked.types,
            holder_binding=checked.holder is not None,
        )
        if match_credential(query, candidate) is None:
            raise QueryNotSatisfiedError(
                f"the credential presented for {query.id!r} does not match its query (format, type or claims)"
            )
        return PresentedCredential(
            query.id,
            query.format,
            result.issuer,
            checked.claims,
            now if result.status else None,
            checked.holder,
        )

    def _require_trusted(self, issuer: Any) -> None:
        if not isinstance(issuer, str) or _issuer_key(issuer) not in self._trusted:
            raise UntrustedIssuerError("the credential's issuer is not a trusted issuer of this verifier")

    def _verify(self, credential: str | Mapping[str, Any], now: datetime, **options: Any) -> VerificationResult:
        """Verify a credential: trust is checked on what it claims first (no status fetched for an untrusted
        issuer), then the credential and its status, then trust again on the verified issuer."""
        self._require_trusted(_claimed_issuer(credential))
        result = self._verifier.verify(credential, now=now, **options)
        self._require_trusted(result.issuer)
        return result

    def _sd_jwt(
        self, query: CredentialQuery, presentation: Any, transaction: TransactionFacts, now: datetime
    ) -> _Checked:
        if not isinstance(presentation, str):
            raise PresentationError(f"{query.id}: a dc+sd-jwt presentation must be a string")
        binding = query.require_cryptographic_holder_binding
        result = self._verify(
            presentation,
            now,
            audience=transaction.client_id,
            nonce=transaction.nonce,
            require_key_binding=binding,
        )
        holder = None
        if result.key_bound:
            kb_payload = b64url_decode(presentation.rsplit("~", 1)[1].split(".")[1])  # verified by sd_jwt.verify
            self._fresh(strict_json(kb_payload, "the Key Binding JWT").get("iat"), now, query)
            cnf = result.claims.get("cnf")
            jwk = cnf.get("jwk") if isinstance(cnf, Mapping) else None
            holder = jwk_thumbprint(dict(jwk)) if isinstance(jwk, Mapping) else None
        if result.format != "dc+sd-jwt":
            raise PresentationError(f"{query.id}: the presentation is not an SD-JWT VC")
        claims = {k: v for k, v in result.claims.items() if k not in SD_JWT_TECHNICAL_CLAIMS}
        return _Checked(result, claims, holder)

    def _jwt_vp(
        self, query: CredentialQuery, presentation: Any, transaction: TransactionFacts, now: datetime
    ) -> _Checked:
        if not isinstance(presentation, str):
            raise PresentationError(f"{query.id}: a jwt_vc_json presentation must be a JWT VP string")
        jws = CompactJws.parse(presentation)
        if jws.header.get("typ") not in _VP_TYPES:
            raise PresentationError(f"{query.id}: the VP JWT's typ must be JWT (or absent)")
        payload = strict_json(jws.payload, "the VP JWT payload")
        holder = _holder_did(jws.header.get("kid"), query)
        vp = payload.get("vp")
        if not isinstance(vp, Mapping):
            raise PresentationError(f"{query.id}: the VP JWT has no vp object")
        for where, named in (("iss", payload.get("iss")), ("vp.holder", _id_of(vp.get("holder")))):
            if named is not None and named != holder:
                raise HolderBindingError(f"{query.id}: the VP's {where} is not the DID of its signing key")
        _audience(payload.get("aud"), transaction.client_id, query)
        if payload.get("nonce") != transaction.nonce:
            raise HolderBindingError(f"{query.id}: the VP JWT carries the wrong nonce")
        self._fresh(payload.get("iat"), now, query)
        check_times(payload, now, self._ctx.settings.iat_leeway, what="the VP JWT")
        self._holder_key(jws.header["kid"], query).verify_signature(jws)
        types = vp.get("type")
        if "VerifiablePresentation" not in (types if isinstance(types, list) else [types]):
            raise PresentationError(f"{query.id}: the VP JWT's vp must have the type VerifiablePresentation")
        token = _single(vp.get("verifiableCredential"), query)
        if not isinstance(token, str):
            raise PresentationError(f"{query.id}: the VP must hold its credential as a jwt_vc_json string")
        result = self._verify(token, now)
        if result.format != "jwt_vc_json":
            raise PresentationError(f"{query.id}: the credential in the VP is not jwt_vc_json")
        return self._w3c(query, result, holder)

    def _ldp_vp(
        self, query: CredentialQuery, presentation: Any, transaction: TransactionFacts, now: datetime
    ) -> _Checked:
        if not isinstance(presentation, Mapping):
            raise PresentationError(f"{query.id}: an ldp_vc presentation must be a JSON object (ldp_vp)")
        embedded = validate_presentation(presentation)
        try:
            proof = verify_proof(
                presentation,
                self._keys.dereference,
                expected_purpose="authentication",
                challenge=transaction.nonce,
                domain=transaction.client_id,
                now=now,
            )
        except VcError as exc:
            raise HolderBindingError(f"{query.id}: the presentation's proof: {exc.message}") from exc
        holder = str(parse_did_url(proof.verification_method).did)
        if _id_of(presentation.get("holder")) not in (None, holder):
            raise HolderBindingError(f"{query.id}: the presentation's holder is not the DID of its proof key")
        if proof.created is not None and proof.created < now - self._ctx.settings.iat_leeway:
            raise HolderBindingError(f"{query.id}: the presentation's proof was created too long ago")
        credential = _single(list(embedded), query)
        if not isinstance(credential, Credential):
            raise PresentationError(f"{query.id}: the presentation must embed its credential as an ldp_vc")
        result = self._verify(credential.data, now)
        if result.format != "ldp_vc":
            raise PresentationError(f"{query.id}: the credential in the presentation is not an ldp_vc")
        return self._w3c(query, result, holder)

    def _w3c(self, query: CredentialQuery, result: VerificationResult, holder: str) -> _Checked:
        subjects = result.claims.get("credentialSubject")
        listed = subjects if isinstance(subjects, list) else [subjects]
        ids = [s.get("id") for s in listed if isinstance(s, Mapping)]
        bound = holder in ids
        if query.require_cryptographic_holder_binding and not bound:
            raise HolderBindingError(f"{query.id}: the credential's subject is not the holder who signed the VP")
        claims = [{k: v for k, v in s.items() if k != "id"} for s in listed if isinstance(s, Mapping)]
        disclosed: Mapping[str, Any] = claims[0] if len(claims) == 1 else {"credentialSubject": claims}
        return _Checked(result, disclosed, holder if bound else None, _w3c_types(result.claims))

    # -- holder checks ------------------------------------------------------------------------------------------

    def _fresh(self, iat: Any, now: datetime, query: CredentialQuery) -> None:
        leeway = self._ctx.settings.iat_leeway
        if not is_numeric_date(iat):
            raise HolderBindingError(f"{query.id}: the holder's proof has no iat")
        if iat < (now - leeway).timestamp() or iat > (now + leeway).timestamp():
            raise HolderBindingError(f"{query.id}: the holder's proof was made too long ago or in the future (iat)")

    def _holder_key(self, kid: str, query: CredentialQuery) -> _HolderKey:
        try:
            method = self._keys.dereference(kid, "authentication")
        except DidError as exc:
            raise HolderBindingError(f"{query.id}: the VP's key {kid} is not usable: {exc.message}") from exc
        return _HolderKey(method.public_key.verify, query)


class _KeyCache(Resolver):
    """The context's resolver, with dereferenced verification methods kept for a minute: a DID document is already
    cached by the resolver, this spares decoding the same key again for every presentation."""

    def __init__(self, inner: Resolver, ttl: float = 60.0) -> None:
        super().__init__([])
        self._inner = inner
        self._ttl = ttl
        self._methods_seen: dict[tuple[str, str | None], tuple[float, VerificationMethod]] = {}

    def resolve_document(self, did: str) -> DidDocument:
        """Resolve through the context's resolver."""
        return self._inner.resolve_document(did)

    def dereference(self, did_url: str, relationship: str | None = None) -> VerificationMethod:
        """The verification method of a DID URL (from the cache while fresh)."""
        key = (did_url, relationship)
        now = time.monotonic()
        hit = self._methods_seen.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        method = self._inner.dereference(did_url, relationship)
        if len(self._methods_seen) >= _MAX_CACHED:
            self._methods_seen.clear()
        self._methods_seen[key] = (now + self._ttl, method)
        return method


_MAX_CACHED: Final = 1024


@dataclass(frozen=True)
class _HolderKey:
    verify: Callable[[bytes, bytes, str], None]
    query: CredentialQuery

    def verify_signature(self, jws: CompactJws) -> None:
        try:
            self.verify(jws.signature, jws.signing_input, jws.header["alg"])
        except DidError as exc:
            raise HolderBindingError(f"{self.query.id}: the VP JWT's signature does not verify") from exc


def make_validator(ctx: VerifierContext) -> ResponseValidator:
    """The response validator of a verifier context (one per process: it keeps the status list cache)."""
    return PresentationValidator(ctx)


# -- helpers -----------------------------------------------------------------------------------------------------


def _issuer_key(issuer: str) -> str:
    """One spelling per issuer: an https issuer URL and its same-origin did:web are the same issuer."""
    return issuer_did(issuer) or issuer


def _id_of(value: Any) -> Any:
    return value.get("id") if isinstance(value, Mapping) else value


def _claimed_issuer(credential: str | Mapping[str, Any]) -> Any:
    """The issuer a credential names before it is verified (only to refuse untrusted issuers early)."""
    try:
        if isinstance(credential, Mapping):
            return _id_of(credential.get("issuer"))
        segments = credential.split("~", 1)[0].split(".")
        if len(segments) != 3:
            return None
        payload = strict_json(b64url_decode(segments[1]), "the credential")  # read only: verified afterwards
    except XidError:
        return None  # unreadable: the verification that follows says why
    vc = payload.get("vc")
    return payload.get("iss", _id_of(vc.get("issuer")) if isinstance(vc, Mapping) else None)


def _vct(result: VerificationResult) -> str | None:
    vct = result.claims.get("vct")
    return vct if isinstance(vct, str) else None


def _holder_did(kid: Any, query: CredentialQuery) -> str:
    if not isinstance(kid, str):
        raise HolderBindingError(f"{query.id}: the VP JWT header has no kid naming the holder's key")
    try:
        return str(parse_did_url(kid).did)
    except DidError as exc:
        raise HolderBindingError(f"{query.id}: the VP JWT's kid is not a DID URL") from exc


def _audience(aud: Any, client_id: str, query: CredentialQuery) -> None:
    if aud != client_id and aud != [client_id]:
        raise HolderBindingError(f"{query.id}: the VP is for another audience than this verifier's client_id")


def _single(items: Any, query: CredentialQuery) -> Any:
    listed = items if isinstance(items, list) else [items] if items is not None else []
    if len(listed) != 1:
        raise PresentationError(f"{query.id}: a presentation must hold exactly one credential")
    return listed[0]


_TYPE_CACHE: dict[tuple[str, ...], frozenset[str]] = {}


def _w3c_types(credential: Mapping[str, Any]) -> frozenset[str]:
    """A W3C credential's types as written and as fully expanded IRIs (DCQL ``type_values`` name the latter)."""
    raw = credential.get("type")
    terms = tuple(t for t in (raw if isinstance(raw, list) else [raw]) if isinstance(t, str))
    context = credential.get("@context")
    contexts = tuple(c for c in (context if isinstance(context, list) else [context]) if isinstance(c, str))
    key = (*contexts, "", *terms)
    cached = _TYPE_CACHE.get(key)
    if cached is None:
        cached = frozenset(terms) | _expanded(list(contexts), list(terms))
        if len(_TYPE_CACHE) < 256:
            _TYPE_CACHE[key] = cached
    return cached


def _expanded(contexts: Sequence[str], terms: Sequence[str]) -> frozenset[str]:
    import pyld.jsonld  # imported when a W3C credential is checked

    from vc.jsonld import document_loader

    try:
        expanded = pyld.jsonld.expand(
            {"@context": list(contexts), "@type": list(terms)}, {"documentLoader": document_loader}
        )
    except Exception:  # pyld's errors and an unknown context: the types as written still match
        return frozenset()
    found = expanded[0].get("@type", []) if expanded and isinstance(expanded[0], dict) else []
    return frozenset(t for t in found if isinstance(t, str))


def _check_satisfied(query: DcqlQuery, answered: set[str]) -> None:
    if query.credential_sets is None:
        missing = sorted(q.id for q in query.credentials if q.id not in answered)
        if missing:
            raise QueryNotSatisfiedError(f"the response does not answer the credential queries {', '.join(missing)}")
        return
    covered: set[str] = set()
    for position, credential_set in enumerate(query.credential_sets):
        complete = [option for option in credential_set.options if set(option) <= answered]
        if credential_set.required and not complete:
            raise QueryNotSatisfiedError(
                f"the response answers no option of the required credential_sets[{position}] completely"
            )
        for option in complete:
            covered |= set(option)
    stray = sorted(answered - covered)
    if stray:
        raise QueryNotSatisfiedError(
            f"the response answers {', '.join(stray)} outside any completely answered credential set option"
        )
