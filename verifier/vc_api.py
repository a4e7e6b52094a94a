"""The W3C VC API verification service (VCALM, https://w3c.github.io/vcalm/): ``POST /credentials/verify`` and
``POST /presentations/verify`` for relying parties that already hold a credential or presentation.

What is checked, in order, for a credential (VC 2.0, or VC 1.1 with ``issuanceDate``/``expirationDate``):

1. the request's shape (``verifiableCredential`` an object: a credential sent as a string is refused; ``options``
   with known members only);
2. its data model (VC Data Model 2.0 §4; VC 1.1 read with its dates mapped to ``validFrom``/``validUntil``);
3. its securing mechanism: every Data Integrity proof of a proof set or ``previousProof`` chain (``eddsa-rdfc-2022``,
   ``eddsa-jcs-2022``, ``ecdsa-rdfc-2019``/``ecdsa-jcs-2019`` on P-256 and P-384) with purpose
   ``assertionMethod``, or an ``EnvelopedVerifiableCredential`` whose id is ``data:application/vc+jwt,<JWT>``
   (VC-JOSE-COSE) or ``data:application/dc+sd-jwt,<SD-JWT>`` (no key binding required);
4. issuer binding: when the issuer is a DID, at least one proof's key must be listed in the issuer's own DID
   document; an https issuer is bound when a key is in the did:web of the same origin, else the answer carries the
   warning ``issuerNotBound`` (nothing proves who the issuer URL belongs to);
5. ``validFrom``/``validUntil`` at the verifier's clock (with the context's leeway);
6. every status entry (Bitstring Status List, Token Status List) through ``ctx.status_source``, fail closed;
7. ``credentialSchema`` entries of type ``JsonSchema`` whose id is a ``data:`` URL: the credential (without its
   proof) must validate against the schema (JSON Schema 2020-12 unless ``$schema`` names another draft; at most
   16 KiB); a schema with regular expressions (``pattern``: a request must not make the verifier run them) or
   references (``$ref``: nothing is fetched, and references can make evaluation exponential), and every other
   schema, yields the warning ``credentialSchemaNotChecked``;
8. ``relatedResource`` digests (``digestSRI``, ``digestMultibase``) of resources given as ``data:`` URLs, which are
   checked byte for byte; other resources are not fetched and yield ``relatedResourceNotChecked``.

A presentation's proofs (purpose ``authentication``) must carry the ``challenge`` and ``domain`` that the options
name and be made by the ``holder`` when one is named; a presentation without a proof is accepted only when the
options name neither (the answer then warns ``unsignedPresentation``). Every embedded credential is verified as
above. The service is pure: it writes nothing. Errors::

    XidError
    └── VerifierError
        └── VcApiVerifyError              vcApiVerifyError
            ├── InvalidVerifyRequestError invalidVerifyRequest (400: the request is malformed; names the problem)
            └── NotVerifiedError          notVerified          (400: the credential or presentation does not verify)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from jsonschema import validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import Draft202012Validator
from referencing.exceptions import Unresolvable

from did import DidError, parse_did_url
from did.multibase import decode as multibase_decode
from foundation.errors import XidError
from foundation.strict_json import strict_json_value
from vc.data_integrity import DataIntegrityError, DataIntegrityVerification, verify_proofs
from vc.jose import JoseError
from vc.jsonld import JsonLdError, to_quads
from vc.model import (
    CREDENTIALS_V2,
    Credential,
    CredentialExpiredError,
    CredentialModelError,
    CredentialNotYetValidError,
    check_validity_period,
    parse_datetime,
    validate_credential,
    validate_presentation,
)
from vc.sd_jwt import SdJwtError
from vc.verify import CredentialStatusError, CredentialVerifier, VerificationResult, issuer_did
from verifier.context import VerifierContext
from verifier.errors import VerifierError

__all__ = [
    "CREDENTIALS_V1",
    "PROBLEM_TYPES",
    "InvalidVerifyRequestError",
    "NotVerifiedError",
    "VcApiVerifier",
    "VcApiVerifyError",
    "Verified",
    "validate_any_credential",
]

CREDENTIALS_V1: Final = "https://www.w3.org/2018/credentials/v1"
_VCDM: Final = "https://www.w3.org/TR/vc-data-model#"
_SECURITY: Final = "https://w3id.org/security#"
_STATUS: Final = "https://www.w3.org/ns/credentials/status-list#"
PROBLEM_TYPES: Final = {
    "parsing": _VCDM + "PARSING_ERROR",
    "cryptographic": _VCDM + "CRYPTOGRAPHIC_SECURITY_ERROR",
    "malformed": _VCDM + "MALFORMED_VALUE_ERROR",
    "range": _VCDM + "RANGE_ERROR",
    "proof": _SECURITY + "PROOF_VERIFICATION_ERROR",
    "challenge": _SECURITY + "INVALID_CHALLENGE_ERROR",
    "domain": _SECURITY + "INVALID_DOMAIN_ERROR",
    "status": _STATUS + "STATUS_VERIFICATION_ERROR",
}
"""ProblemDetails ``type`` URLs (VC Data Model 2.0 §7.1, Data Integrity 1.0 §2.3, Bitstring Status List §3.7)."""

_CREDENTIAL_OPTIONS: Final = frozenset({"checks"})
_PRESENTATION_OPTIONS: Final = frozenset({"checks", "challenge", "domain"})
_CHECKS: Final = frozenset(
    {
        "proof",
        "issuer",
        "holder",
        "validity",
        "expiration",
        "credentialStatus",
        "status",
        "credentialSchema",
        "relatedResource",
    }
)
_ENVELOPED_VC: Final = {
    "application/vc+jwt": "jwt",
    "application/dc+sd-jwt": "sd-jwt",
    "application/vc+sd-jwt": "sd-jwt",
}
_MAX_CREDENTIALS: Final = 16
_MAX_RESOURCES: Final = 16
_MAX_STRING: Final = 512
_UNCHECKED_KEYWORDS: Final = frozenset({"pattern", "patternProperties", "$ref", "$dynamicRef", "$recursiveRef"})
"""Regular expressions (a request must not make the verifier run its expressions) and references (nothing is
fetched, and references can make evaluation exponential)."""
_MAX_SCHEMA_BYTES: Final = 16 * 1024
_SRI_HASHES: Final = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}
_MULTIHASH: Final = {0x12: ("sha256", 32), 0x13: ("sha512", 64), 0x20: ("sha384", 48)}


class VcApiVerifyError(VerifierError):
    """Base of the VC API verification errors."""

    code = "vcApiVerifyError"


class InvalidVerifyRequestError(VcApiVerifyError):
    """The verify request is malformed: not an object, a credential sent as a string, unknown or bad options."""

    code = "invalidVerifyRequest"
    problem_type = PROBLEM_TYPES["parsing"]


class NotVerifiedError(VcApiVerifyError):
    """The credential or presentation does not verify; ``problem_type`` and ``checks`` (passed so far) say more."""

    code = "notVerified"

    def __init__(self, message: str, problem_type: str, cause: str, checks: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problem_type = problem_type
        self.cause = cause
        self.checks = tuple(checks)


@dataclass
class Verified:
    """A successful verification: the checks made and the warnings (ProblemDetails-like objects)."""

    checks: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def check(self, name: str) -> None:
        """Record a passed check once."""
        if name not in self.checks:
            self.checks.append(name)

    def warn(self, code: str, detail: str) -> None:
        """Record a warning."""
        self.warnings.append({"type": _VCDM + "WARNING", "title": code, "detail": detail[:_MAX_STRING]})

    def to_json(self) -> dict[str, Any]:
        """The VCALM verification response ``{"verified": true, "checks", "warnings", "errors": []}``."""
        return {"verified": True, "checks": list(self.checks), "warnings": list(self.warnings), "errors": []}


def _problem_kind(error: XidError) -> str:
    if isinstance(error, CredentialExpiredError | CredentialNotYetValidError):
        return PROBLEM_TYPES["range"]
    if isinstance(error, CredentialModelError | JsonLdError):
        return PROBLEM_TYPES["malformed"]
    if isinstance(error, CredentialStatusError):
        return PROBLEM_TYPES["status"]
    if isinstance(error, DataIntegrityError | DidError):
        return PROBLEM_TYPES["proof"]
    if isinstance(error, JoseError | SdJwtError):
        return PROBLEM_TYPES["cryptographic"]
    return PROBLEM_TYPES["malformed"]


def _options(body: Mapping[str, Any], allowed: frozenset[str]) -> Mapping[str, Any]:
    options = body.get("options", {})
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise InvalidVerifyRequestError("options must be an object")
    unknown = sorted(str(k)[:64] for k in set(options) - allowed)
    if unknown:
        raise InvalidVerifyRequestError(
            f"options has members this endpoint does not take: {', '.join(unknown)} "
            f"(it takes {', '.join(sorted(allowed))})"
        )
    checks = options.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise InvalidVerifyRequestError("options.checks must be an array of check names")
    unknown_checks = sorted(c[:64] for c in set(checks) - _CHECKS)
    if unknown_checks:
        raise InvalidVerifyRequestError(
            f"options.checks names checks this verifier does not know: {', '.join(unknown_checks)} "
            f"(known: {', '.join(sorted(_CHECKS))}; every known check is always made)"
        )
    for name in ("challenge", "domain"):
        value = options.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > _MAX_STRING):
            raise InvalidVerifyRequestError(f"options.{name} must be a non-empty string")
    return options


def _body_members(body: Mapping[str, Any], name: str) -> Any:
    unknown = sorted(str(k)[:64] for k in set(body) - {name, "options"})
    if unknown:
        raise InvalidVerifyRequestError(f"the request has unknown members {', '.join(unknown)}")
    if name not in body:
        raise InvalidVerifyRequestError(f"the request needs {name}")
    value = body[name]
    if isinstance(value, str):
        raise InvalidVerifyRequestError(
            f"{name} is a string; send the JSON object (a JWT goes in an Enveloped object whose id is a data: URL)"
        )
    if not isinstance(value, Mapping):
        raise InvalidVerifyRequestError(f"{name} must be a JSON object")
    return value


def _types(value: Mapping[str, Any]) -> list[Any]:
    types = value.get("type")
    return types if isinstance(types, list) else [types]


def _did_of(verification_method: str) -> str | None:
    try:
        return str(parse_did_url(verification_method).did)
    except DidError:
        return None


def _v1_shadow(document: Mapping[str, Any], presentation: bool = False) -> dict[str, Any]:
    """A VC 1.1 credential (or presentation) as VC 2.0 validation reads it: dates renamed, first context v2."""
    contexts = document.get("@context")
    assert isinstance(contexts, list)
    shadow = {k: v for k, v in document.items() if k not in ("issuanceDate", "expirationDate")}
    shadow["@context"] = [CREDENTIALS_V2, *contexts[1:]]
    if presentation:
        return shadow
    if "validFrom" in document or "validUntil" in document:
        raise CredentialModelError("a VC 1.1 credential uses issuanceDate/expirationDate, not validFrom/validUntil")
    if "issuanceDate" not in document:
        raise CredentialModelError("a VC 1.1 credential needs issuanceDate")
    parse_datetime(document["issuanceDate"], "issuanceDate")
    shadow["validFrom"] = document["issuanceDate"]
    if "expirationDate" in document:
        parse_datetime(document["expirationDate"], "expirationDate")
        shadow["validUntil"] = document["expirationDate"]
    return shadow


def _version_1(document: Mapping[str, Any]) -> bool:
    contexts = document.get("@context")
    return isinstance(contexts, list) and contexts[:1] == [CREDENTIALS_V1]


def validate_any_credential(document: Mapping[str, Any]) -> Credential:
    """Validate a VC 2.0 or VC 1.1 credential's structure; a VC 1.1 one keeps its original data."""
    if not _version_1(document):
        return validate_credential(document)
    read = validate_credential(_v1_shadow(document))
    return Credential(document, read.types, read.issuer, read.valid_from, read.valid_until, read.status)


def _data_url(url: str) -> tuple[str, bytes]:
    """The media type and bytes of a ``data:`` URL (RFC 2397, base64 or percent-encoded)."""
    header, comma, data = url.removeprefix("data:").split("#", 1)[0].partition(",")
    if not comma:
        raise CredentialModelError("a data: URL needs a comma before its data")
    params = header.split(";")
    media_type = params[0].strip().lower()
    if "base64" in (p.strip().lower() for p in params[1:]):
        try:
            return media_type, base64.b64decode(urllib.parse.unquote(data), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CredentialModelError("a data: URL's base64 data is not valid") from exc
    return media_type, urllib.parse.unquote_to_bytes(data)


def _check_digest_sri(value: Any, data: bytes, where: str) -> None:
    if not isinstance(value, str):
        raise CredentialModelError(f"{where}.digestSRI must be a string")
    matched = False
    for item in value.split():
        name, dash, digest = item.partition("-")
        if not dash or name not in _SRI_HASHES:
            continue
        expected = base64.b64encode(hashlib.new(_SRI_HASHES[name], data).digest()).decode("ascii")
        if not hmac.compare_digest(digest.split("?")[0].encode(), expected.encode()):
            raise NotVerifiedError(f"{where}.digestSRI does not match the resource", PROBLEM_TYPES["malformed"], "")
        matched = True
    if not matched:
        raise CredentialModelError(f"{where}.digestSRI names no sha256, sha384 or sha512 digest")


def _check_digest_multibase(value: Any, data: bytes, where: str) -> None:
    if not isinstance(value, str):
        raise CredentialModelError(f"{where}.digestMultibase must be a string")
    try:
        raw = multibase_decode(value)
    except DidError as exc:
        raise CredentialModelError(f"{where}.digestMultibase is not multibase") from exc
    code = raw[0] if raw else -1
    known = _MULTIHASH.get(code)
    if known is not None and len(raw) == known[1] + 2 and raw[1] == known[1]:
        name, digest = known[0], raw[2:]
    elif len(raw) in (32, 48, 64):  # a bare digest (as the VC Data Model's examples publish them)
        name, digest = {32: "sha256", 48: "sha384", 64: "sha512"}[len(raw)], raw
    else:
        raise CredentialModelError(f"{where}.digestMultibase is neither a sha2 multihash nor a sha2 digest")
    if not hmac.compare_digest(hashlib.new(name, data).digest(), digest):
        raise NotVerifiedError(f"{where}.digestMultibase does not match the resource", PROBLEM_TYPES["malformed"], "")


def _related_resources(claims: Mapping[str, Any], outcome: Verified) -> None:
    """Check the digests of related resources given as data: URLs (their shape is vc.model's); warn of the rest."""
    raw = claims.get("relatedResource")
    if raw is None:
        return
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or len(items) > _MAX_RESOURCES:
        raise CredentialModelError(f"relatedResource must be at most {_MAX_RESOURCES} objects")
    for i, item in enumerate(items):
        where, resource_id = f"relatedResource[{i}]", str(item["id"])
        if not resource_id.startswith("data:"):
            outcome.warn(
                "relatedResourceNotChecked",
                f"{where} ({resource_id[:120]}) is not fetched by this verifier; its digest is not checked",
            )
            continue
        _, data = _data_url(resource_id)
        if "digestSRI" in item:
            _check_digest_sri(item["digestSRI"], data, where)
        if "digestMultibase" in item:
            _check_digest_multibase(item["digestMultibase"], data, where)
        outcome.check("relatedResource")


def _unchecked_keywords(schema: Any) -> list[str]:
    """The keywords of a schema this verifier does not evaluate (regular expressions, references), sorted."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            found.update(k for k in value if k in _UNCHECKED_KEYWORDS)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return sorted(found)


def _json_schema(schema_id: str, document: Mapping[str, Any], where: str, outcome: Verified) -> None:
    """Validate the credential (without its proof) against a JSON Schema given as a data: URL."""
    _, data = _data_url(schema_id)
    if len(data) > _MAX_SCHEMA_BYTES:
        raise CredentialModelError(f"{where} is larger than {_MAX_SCHEMA_BYTES} bytes")
    schema = strict_json_value(data, f"{where} (a data: URL)", error=CredentialModelError)
    if not isinstance(schema, Mapping | bool):
        raise CredentialModelError(f"{where} is not a JSON Schema (an object or a boolean)")
    if isinstance(schema, Mapping) and not isinstance(schema.get("$schema", ""), str):
        raise CredentialModelError(f"{where} has a $schema that is not a string")
    unchecked = _unchecked_keywords(schema)
    if unchecked:
        outcome.warn(
            "credentialSchemaNotChecked",
            f"{where} uses {', '.join(unchecked)}, which this verifier does not evaluate from requests",
        )
        return
    validator_class = validators.validator_for(schema, default=Draft202012Validator)
    try:
        validator_class.check_schema(schema)
        error = best_match(validator_class(schema).iter_errors({k: v for k, v in document.items() if k != "proof"}))
    except SchemaError as exc:
        raise CredentialModelError(f"{where} is not a valid JSON Schema ({exc.validator} at /{_path(exc)})") from exc
    except (Unresolvable, RecursionError) as exc:  # refs are refused above; a backstop for what a draft resolves
        raise CredentialModelError(f"{where} cannot be evaluated ({type(exc).__name__})") from exc
    if error is not None:  # names where and which keyword, never the claim's value
        raise NotVerifiedError(
            f"the credential does not match {where}: /{_path(error)} fails {error.validator!s:.40}",
            PROBLEM_TYPES["malformed"],
            "credentialSchemaMismatch",
        )
    outcome.check("credentialSchema")


def _path(error: ValidationError | SchemaError) -> str:
    return "/".join(str(part)[:40] for part in list(error.absolute_path)[:8])


def _schemas(claims: Mapping[str, Any], outcome: Verified) -> None:
    """JsonSchema entries given as data: URLs are checked; others (fetched from nowhere) yield a warning."""
    raw = claims.get("credentialSchema")
    if raw is None:
        return
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > _MAX_RESOURCES:
        raise CredentialModelError(f"credentialSchema must be at most {_MAX_RESOURCES} objects")
    for i, item in enumerate(items):
        where, schema_id = f"credentialSchema[{i}]", str(item["id"])
        if item.get("type") == "JsonSchema" and schema_id.startswith("data:"):
            _json_schema(schema_id, claims, where, outcome)
        else:
            outcome.warn(
                "credentialSchemaNotChecked",
                f"{where} ({schema_id[:120]}) is not fetched by this verifier; nothing is checked against it",
            )


class VcApiVerifier:
    """Verifies credentials and presentations for the VC API with the context's resolver and status source."""

    def __init__(self, ctx: VerifierContext) -> None:
        self.ctx = ctx
        self.leeway = ctx.settings.iat_leeway
        self.credentials = CredentialVerifier(ctx.resolver, ctx.status_source, leeway=self.leeway)

    # -- the two operations -----------------------------------------------------------------------------------------

    def verify_credential(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Verify ``{"verifiableCredential", "options"}``; the VCALM answer, or a VcApiVerifyError."""
        if not isinstance(body, Mapping):
            raise InvalidVerifyRequestError("the request body must be a JSON object")
        credential = _body_members(body, "verifiableCredential")
        _options(body, _CREDENTIAL_OPTIONS)
        outcome = Verified()
        self._credential(credential, self.ctx.clock(), outcome)
        return outcome.to_json()

    def verify_presentation(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Verify ``{"verifiablePresentation", "options": {"challenge", "domain"}}``; as ``verify_credential``."""
        if not isinstance(body, Mapping):
            raise InvalidVerifyRequestError("the request body must be a JSON object")
        presentation = _body_members(body, "verifiablePresentation")
        options = _options(body, _PRESENTATION_OPTIONS)
        outcome = Verified()
        moment = self.ctx.clock()
        self._guard(outcome, lambda: self._presentation(presentation, options, moment, outcome))
        return outcome.to_json()

    # -- credentials ------------------------------------------------------------------------------------------------

    def _guard(self, outcome: Verified, step: Callable[[], None]) -> None:
        try:
            step()
        except VcApiVerifyError:
            raise
        except XidError as exc:
            raise NotVerifiedError(exc.message, _problem_kind(exc), exc.code, outcome.checks) from exc

    def _credential(self, credential: Any, moment: datetime, outcome: Verified) -> None:
        if isinstance(credential, str):
            raise NotVerifiedError(
                "an embedded credential is a string; embed the object or an EnvelopedVerifiableCredential",
                PROBLEM_TYPES["parsing"],
                "invalidInput",
            )
        if not isinstance(credential, Mapping):
            raise NotVerifiedError("a credential must be a JSON object", PROBLEM_TYPES["parsing"], "invalidInput")
        if "EnvelopedVerifiableCredential" in _types(credential):
            self._guard(outcome, lambda: self._enveloped(credential, moment, outcome))
        else:
            self._guard(outcome, lambda: self._data_integrity(credential, moment, outcome))

    def _data_integrity(self, document: Mapping[str, Any], moment: datetime, outcome: Verified) -> None:
        credential = validate_any_credential(document)
        proofs = verify_proofs(document, self.ctx.resolver.dereference, now=moment, leeway=self.leeway)
        if all(p.cryptosuite.endswith(("-jcs-2022", "-jcs-2019")) for p in proofs):
            # RDFC already expanded every term; a JCS proof signs JSON, which must still be a conforming document
            to_quads({k: v for k, v in document.items() if k != "proof"})
        outcome.check("proof")
        bound = self._issuer_proof(credential.issuer, proofs, outcome)
        check_validity_period(credential, moment, self.leeway)
        if credential.valid_from is not None or credential.valid_until is not None:
            outcome.check("validity")
        result = VerificationResult("ldp_vc", credential.issuer, bound.verification_method, bound.cryptosuite, document)
        self._status(result, moment, outcome)
        _schemas(document, outcome)
        _related_resources(document, outcome)

    def _issuer_proof(
        self, issuer: str, proofs: Sequence[DataIntegrityVerification], outcome: Verified
    ) -> DataIntegrityVerification:
        owners = {issuer, issuer_did(issuer)}
        for proof in proofs:
            if _did_of(proof.verification_method) in owners:
                outcome.check("issuer")
                return proof
        if issuer.startswith("did:"):
            raise DataIntegrityError(f"no proof is made with a key of the issuer's DID document ({issuer[:120]})")
        outcome.warn(
            "issuerNotBound",
            f"the issuer {issuer[:120]} is not a DID and no proof is by its did:web; nothing binds it to the key",
        )
        return proofs[0]

    def _enveloped(self, envelope: Mapping[str, Any], moment: datetime, outcome: Verified) -> None:
        if envelope.get("@context") not in (CREDENTIALS_V2, [CREDENTIALS_V2]):
            raise CredentialModelError(f"an EnvelopedVerifiableCredential's @context is {CREDENTIALS_V2}")
        url = envelope.get("id")
        if not isinstance(url, str) or not url.startswith("data:"):
            raise CredentialModelError("an EnvelopedVerifiableCredential's id must be a data: URL")
        media_type, data = _data_url(url)
        kind = _ENVELOPED_VC.get(media_type)
        if kind is None:
            raise CredentialModelError(
                f"enveloped media type {media_type[:64]!r} is not verified here ({', '.join(_ENVELOPED_VC)})"
            )
        try:
            token = data.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise CredentialModelError("the enveloped credential is not ASCII text") from exc
        if kind == "jwt" and token.count(".") != 2:
            raise CredentialModelError(f"the {media_type} data is not a compact JWS")
        if kind == "sd-jwt" and "~" not in token:
            raise CredentialModelError(f"the {media_type} data is not an SD-JWT")
        result = self.credentials.verify(token, require_key_binding=False, check_status=False, now=moment)
        if kind == "jwt" and result.format != "vc+jwt":
            raise CredentialModelError(f"{media_type} carries a VC-JOSE-COSE token (typ vc+jwt), not {result.format}")
        outcome.check("proof")
        outcome.check("issuer")
        claims = result.claims
        if "validFrom" in claims or "validUntil" in claims or "exp" in claims or "nbf" in claims:
            outcome.check("validity")
        self._status(result, moment, outcome)
        _schemas(claims, outcome)
        _related_resources(claims, outcome)

    def _status(self, result: VerificationResult, moment: datetime, outcome: Verified) -> None:
        if self.credentials.check_status(result, moment):
            outcome.check("credentialStatus")

    # -- presentations ----------------------------------------------------------------------------------------------

    def _presentation(
        self, presentation: Mapping[str, Any], options: Mapping[str, Any], moment: datetime, outcome: Verified
    ) -> None:
        if "EnvelopedVerifiablePresentation" in _types(presentation):
            raise CredentialModelError("enveloped presentations are not verified here; send the JSON presentation")
        if _version_1(presentation):
            if "VerifiablePresentation" not in _types(presentation):
                raise CredentialModelError("presentation type must include VerifiablePresentation")
            validate_presentation({**_v1_shadow(presentation, True), "verifiableCredential": []})
        else:
            validate_presentation({**presentation, "verifiableCredential": []})
        embedded = presentation.get("verifiableCredential", [])
        credentials = embedded if isinstance(embedded, list) else [embedded]
        if len(credentials) > _MAX_CREDENTIALS:
            raise CredentialModelError(f"the presentation embeds more than {_MAX_CREDENTIALS} credentials")
        challenge, domain = options.get("challenge"), options.get("domain")
        if presentation.get("proof") is None:
            if "proof" in presentation or challenge is not None or domain is not None:
                raise DataIntegrityError(
                    "the presentation has no proof, so the holder and the challenge or domain cannot be checked"
                )
            outcome.warn("unsignedPresentation", "the presentation has no proof: its holder is not authenticated")
        else:
            self._presentation_proof(presentation, challenge, domain, moment, outcome)
        for credential in credentials:
            self._credential(credential, moment, outcome)

    def _presentation_proof(
        self,
        presentation: Mapping[str, Any],
        challenge: str | None,
        domain: str | None,
        moment: datetime,
        outcome: Verified,
    ) -> None:
        raw = presentation["proof"]
        for proof in raw if isinstance(raw, list) else [raw]:
            if not isinstance(proof, Mapping):
                continue  # verify_proofs names the malformed proof
            for name, expected, kind in (("challenge", challenge, "challenge"), ("domain", domain, "domain")):
                value = proof.get(name)
                if expected is not None and value != expected:
                    raise NotVerifiedError(
                        f"the presentation's proof does not carry the expected {name}",
                        PROBLEM_TYPES[kind],
                        "invalidProof",
                        outcome.checks,
                    )
        proofs = verify_proofs(
            presentation,
            self.ctx.resolver.dereference,
            expected_purpose="authentication",
            challenge=challenge,
            domain=domain,
            now=moment,
            leeway=self.leeway,
        )
        outcome.check("proof")
        holder = presentation.get("holder")
        holder_id = holder.get("id") if isinstance(holder, Mapping) else holder
        if isinstance(holder_id, str):
            if not any(_did_of(p.verification_method) == holder_id for p in proofs):
                raise DataIntegrityError("no proof of the presentation is made with a key of its holder")
            outcome.check("holder")
