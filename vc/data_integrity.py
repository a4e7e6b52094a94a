"""W3C Data Integrity proofs: ``eddsa-rdfc-2022``, ``eddsa-jcs-2022``, ``ecdsa-rdfc-2019`` and ``ecdsa-jcs-2019``
(P-256, P-384), plus verification of the legacy ``Ed25519Signature2020`` proof type.

Creating a proof canonicalizes the document (RDFC-1.0 over its JSON-LD quads, or JCS) and the proof configuration,
hashes both, and signs ``hash(proof config) || hash(document)``. Verification repeats that and checks the proof's
type, cryptosuite, purpose, creation and expiry times, challenge and domain, and that the verification method is
authorized for the purpose in its controller's DID document. Proof sets (several independent proofs) and proof
chains (``previousProof``) are supported: every proof must verify. Errors::

    VcError
    └── DataIntegrityError           invalidProof
        ├── ProofSignatureError      invalidProofSignature
        └── JcsError                 jcsError         (JSON that JCS cannot canonicalize: NaN, integers ≥ 2**53)

Every document (any suite) must pass ``vc.jsonld.check_document`` for depth and UTF-8 first (``documentLimitExceeded``,
``invalidUnicode``); RDFC suites also get its size limits.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import rfc8785

from did import DidError, KeyType, PublicKey, Signer, VerificationMethod
from did.multibase import decode, encode_base58btc
from vc.errors import VcError
from vc.jsonld import check_document, to_quads
from vc.model import parse_datetime
from vc.rdfc import canonicalize_quads

__all__ = [
    "MAX_PROOFS",
    "PROOF_KEYS",
    "SUITES",
    "DataIntegrityError",
    "DataIntegrityVerification",
    "JcsError",
    "MethodResolver",
    "ProofSignatureError",
    "add_proof",
    "check_plain_json",
    "hash_data",
    "verify_proof",
    "verify_proofs",
]


@dataclass(frozen=True)
class _Suite:
    key_types: tuple[KeyType, ...]
    jcs: bool
    proof_type: str = "DataIntegrityProof"
    context: str | None = None
    """A context the document must carry for the proof's terms (legacy suites only)."""


_ECDSA: Final = (KeyType.P256, KeyType.P384)
_SUITES: Final = {
    "eddsa-rdfc-2022": _Suite((KeyType.ED25519,), jcs=False),
    "eddsa-jcs-2022": _Suite((KeyType.ED25519,), jcs=True),
    "ecdsa-rdfc-2019": _Suite(_ECDSA, jcs=False),
    "ecdsa-jcs-2019": _Suite(_ECDSA, jcs=True),
    "Ed25519Signature2020": _Suite(
        (KeyType.ED25519,),
        jcs=False,
        proof_type="Ed25519Signature2020",
        context="https://w3id.org/security/suites/ed25519-2020/v1",
    ),
}
SUITES: Final = tuple(_SUITES)
"""Cryptosuites (and the legacy proof type ``Ed25519Signature2020``) this module creates and verifies."""


class DataIntegrityError(VcError):
    """A Data Integrity proof is malformed or does not apply to this document."""

    code = "invalidProof"


class ProofSignatureError(DataIntegrityError):
    """The proof's signature does not verify."""

    code = "invalidProofSignature"


class JcsError(DataIntegrityError):
    """The JSON cannot be canonicalized with JCS (RFC 8785): NaN, infinities, integers beyond ±2**53 or bad text."""

    code = "jcsError"


MethodResolver = Callable[[str, str], VerificationMethod]
"""Dereferences a verification method id for a purpose, e.g. ``did.Resolver().dereference``."""


def _suite(name: Any) -> _Suite:
    suite = _SUITES.get(name) if isinstance(name, str) else None
    if suite is None:
        raise DataIntegrityError(f"unsupported cryptosuite {name!r} (supported: {', '.join(SUITES)})")
    return suite


def _hash_name(key_type: KeyType) -> str:
    return "sha384" if key_type is KeyType.P384 else "sha256"


def _canonical(suite: _Suite, value: dict[str, Any], hash_name: str) -> bytes:
    if suite.jcs:
        check_document(value, sizes=False)  # hash_data is public: depth and UTF-8 before rfc8785 recurses
        try:
            return bytes(rfc8785.dumps(value))
        except rfc8785.CanonicalizationError as exc:
            raise JcsError(f"the JSON cannot be canonicalized with JCS: {exc}") from exc
    return canonicalize_quads(to_quads(value), hash_algorithm=hash_name).nquads.encode("utf-8")


def hash_data(cryptosuite: str, document: dict[str, Any], proof_config: dict[str, Any], key_type: KeyType) -> bytes:
    """The bytes a proof signs: hash(canonical proof config) || hash(canonical document)."""
    suite, name = _suite(cryptosuite), _hash_name(key_type)
    proof_hash = hashlib.new(name, _canonical(suite, proof_config, name)).digest()
    document_hash = hashlib.new(name, _canonical(suite, document, name)).digest()
    return proof_hash + document_hash


PROOF_KEYS: Final = frozenset(
    {
        "@context",
        "challenge",
        "created",
        "cryptosuite",
        "domain",
        "expires",
        "id",
        "nonce",
        "previousProof",
        "proofPurpose",
        "proofValue",
        "type",
        "verificationMethod",
    }
)


def check_plain_json(document: Mapping[str, Any]) -> None:
    """Refuse JSON whose reading could differ from the RDF an RDFC proof signs (see docs/decisions.md §12).

    Only the RDF is signed, so JSON that expands to the same RDF in another shape (a claim under its full IRI,
    a keyword key, an inline context that re-maps terms) would verify while a JSON reader sees something else.
    Accepted: ``@context`` as bundled context URLs (at the top, and at the top of each credential a presentation
    embeds and of its proofs), and otherwise only keys that are terms (no ``@``, no ``:``).
    """

    def urls_only(contexts: Any) -> None:
        for context in contexts if isinstance(contexts, list) else [contexts]:
            if context is not None and not isinstance(context, str):
                raise DataIntegrityError("an inline @context is not accepted with an RDF-canonicalized proof")

    urls_only(document.get("@context"))
    embedded = re.compile(r"verifiableCredential(\[\d+\])?(\.proof(\[\d+\])?)?")

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key == "@context" and (path == "" or embedded.fullmatch(path)):
                    urls_only(item)
                    continue
                if not isinstance(key, str) or key.startswith("@") or ":" in key:
                    raise DataIntegrityError(
                        f"{path or 'the document'} has the key {key!r}; with an RDF-canonicalized proof only "
                        "terms (no keywords, no IRIs) are accepted, so the JSON says what was signed"
                    )
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(document, "")


def _check_proof_keys(proof: Mapping[str, Any]) -> None:
    unknown = sorted(set(proof) - PROOF_KEYS)
    if unknown:
        raise DataIntegrityError(f"the proof has unknown members {', '.join(map(repr, unknown))}")


def _checked(document: Any) -> Mapping[str, Any]:
    """The document, once it is a JSON object within the depth limit and all its text encodes as UTF-8."""
    if not isinstance(document, Mapping):
        raise DataIntegrityError(f"the document must be a JSON object, not {type(document).__name__}")
    check_document(document if isinstance(document, dict) else dict(document), sizes=False)
    return document


MAX_PROOFS: Final = 8


def _proofs(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    proof = document.get("proof")
    proofs = [proof] if isinstance(proof, Mapping) else proof
    if not isinstance(proofs, list) or not proofs or not all(isinstance(p, Mapping) for p in proofs):
        raise DataIntegrityError("the document has no proof object or array of proof objects")
    if len(proofs) > MAX_PROOFS:  # each proof canonicalizes the document again, so their number bounds the work
        raise DataIntegrityError(f"the document has {len(proofs)} proofs; at most {MAX_PROOFS} are verified")
    return proofs


def _with_previous(unsecured: dict[str, Any], proofs: Sequence[Mapping[str, Any]], previous: Any) -> dict[str, Any]:
    """The document a chained proof signs: the unsecured document plus the proofs it names in previousProof."""
    if previous is None:
        return unsecured
    ids = [previous] if isinstance(previous, str) else previous
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise DataIntegrityError("previousProof must be a proof id or an array of proof ids")
    by_id = {p.get("id"): p for p in proofs if isinstance(p.get("id"), str)}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataIntegrityError(f"previousProof names {', '.join(missing)}, which is not in the proof set")
    return {**unsecured, "proof": [copy.deepcopy(dict(by_id[i])) for i in ids]}


def add_proof(
    document: Mapping[str, Any],
    signer: Signer,
    *,
    cryptosuite: str,
    verification_method: str | None = None,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
    proof_id: str | None = None,
    previous_proof: str | list[str] | None = None,
    challenge: str | None = None,
    domain: str | None = None,
    expires: datetime | None = None,
) -> dict[str, Any]:
    """Return a copy of ``document`` with one more proof (a proof set, or a chain with ``previous_proof``)."""
    suite = _suite(cryptosuite)
    document = _checked(document)
    key = PublicKey.from_jwk(signer.public_jwk)
    if key.key_type not in suite.key_types:
        raise DataIntegrityError(f"{cryptosuite} cannot sign with a {key.key_type.value} key")
    existing = _proofs(document) if "proof" in document else []
    unsecured = {k: copy.deepcopy(v) for k, v in document.items() if k != "proof"}
    if suite.context is not None:
        contexts = unsecured.get("@context", [])
        contexts = contexts if isinstance(contexts, list) else [contexts]
        if suite.context not in contexts:
            unsecured["@context"] = [*contexts, suite.context]
    if not suite.jcs:
        check_plain_json(unsecured)
    config: dict[str, Any] = {"type": suite.proof_type}
    if proof_id is not None:
        config["id"] = proof_id
    if suite.proof_type == "DataIntegrityProof":
        config["cryptosuite"] = cryptosuite
    config["created"] = _stamp(created or datetime.now(UTC))
    if expires is not None:
        config["expires"] = _stamp(expires)
    config["verificationMethod"] = verification_method or signer.key_id
    config["proofPurpose"] = proof_purpose
    for name, value in (("challenge", challenge), ("domain", domain), ("previousProof", previous_proof)):
        if value is not None:
            config[name] = value
    if "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    signed = _with_previous(unsecured, existing, previous_proof)
    signature = signer.sign(hash_data(cryptosuite, signed, config, key.key_type))
    proof = {k: v for k, v in config.items() if k != "@context" or suite.jcs}
    proof["proofValue"] = encode_base58btc(signature)
    proofs = [*map(copy.deepcopy, existing), proof]
    return {**unsecured, "proof": proofs[0] if len(proofs) == 1 else proofs}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DataIntegrityVerification:
    """A verified proof: which method, suite, purpose and time secured the document.

    ``controller`` is what the DID document says of the method; any document can name anyone, so it is not
    evidence of who authorized the key. To bind a proof to an issuer, compare the DID of ``verification_method``
    (the document that lists the key) with the issuer, as ``vc.verify.CredentialVerifier`` does.
    """

    verification_method: str
    controller: str
    cryptosuite: str
    proof_purpose: str
    created: datetime | None
    proof_id: str | None = None


def verify_proofs(
    document: Mapping[str, Any],
    methods: MethodResolver,
    *,
    expected_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    now: datetime | None = None,
    leeway: timedelta = timedelta(seconds=60),
) -> list[DataIntegrityVerification]:
    """Verify every proof of the document (a single proof, a set or a chain); raise on the first failure."""
    return _verify_all(_checked(document), methods, expected_purpose, challenge, domain, now, leeway)


def _verify_all(
    document: Mapping[str, Any],
    methods: MethodResolver,
    expected_purpose: str,
    challenge: str | None,
    domain: str | None,
    now: datetime | None,
    leeway: timedelta,
) -> list[DataIntegrityVerification]:
    proofs = _proofs(document)
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    moment = now or datetime.now(UTC)
    return [
        _verify_one(unsecured, proofs, proof, methods, expected_purpose, challenge, domain, moment, leeway)
        for proof in proofs
    ]


def verify_proof(
    document: Mapping[str, Any],
    methods: MethodResolver,
    *,
    expected_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    now: datetime | None = None,
    leeway: timedelta = timedelta(seconds=60),
) -> DataIntegrityVerification:
    """Verify a document secured by exactly one proof; raise a specific error on any failure."""
    document = _checked(document)
    if len(_proofs(document)) != 1:
        raise DataIntegrityError("the document carries a proof set; verify it with verify_proofs")
    (result,) = _verify_all(document, methods, expected_purpose, challenge, domain, now, leeway)
    return result


def _time(proof: Mapping[str, Any], name: str) -> datetime | None:
    if name not in proof:
        return None
    try:
        return parse_datetime(proof[name], f"proof.{name}")
    except VcError as exc:
        raise DataIntegrityError(exc.message) from exc


def _verify_one(
    unsecured: dict[str, Any],
    proofs: Sequence[Mapping[str, Any]],
    proof: Mapping[str, Any],
    methods: MethodResolver,
    expected_purpose: str,
    challenge: str | None,
    domain: str | None,
    moment: datetime,
    leeway: timedelta,
) -> DataIntegrityVerification:
    proof_type = proof.get("type")
    if proof_type == "DataIntegrityProof":
        name = proof.get("cryptosuite")
        if name == "Ed25519Signature2020":
            raise DataIntegrityError("Ed25519Signature2020 is a proof type, not a cryptosuite")
    elif proof_type == "Ed25519Signature2020":
        name = proof_type
    else:
        raise DataIntegrityError(f"proof type {proof_type!r} is not DataIntegrityProof")
    suite = _suite(name)
    _check_proof_keys(proof)
    if not suite.jcs:
        check_plain_json(unsecured)
    purpose = proof.get("proofPurpose")
    if purpose != expected_purpose:
        raise DataIntegrityError(f"proofPurpose {purpose!r} is not the expected {expected_purpose!r}")
    for field, expected in (("challenge", challenge), ("domain", domain)):
        if expected is not None and proof.get(field) != expected:
            raise DataIntegrityError(f"the proof's {field} does not match the expected {field}")
    vm_id, value = proof.get("verificationMethod"), proof.get("proofValue")
    if not isinstance(vm_id, str) or not isinstance(value, str) or not value.startswith("z"):
        raise DataIntegrityError("the proof needs a verificationMethod and a base58btc proofValue")
    created, expires = _time(proof, "created"), _time(proof, "expires")
    if created is not None and created > moment + leeway:
        raise DataIntegrityError("the proof was created in the future")
    if expires is not None and expires < moment - leeway:
        raise DataIntegrityError("the proof has expired")
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in proof:
        if not suite.jcs:
            raise DataIntegrityError(f"a {name} proof does not carry its own @context")
        document_context = unsecured.get("@context")
        if not _starts_with(document_context, proof["@context"]):
            raise DataIntegrityError("the proof's @context is not a prefix of the document's @context")
    elif "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    try:
        method = methods(vm_id, str(purpose))
    except DidError as exc:
        raise DataIntegrityError(f"verification method {vm_id} is not usable: {exc.message}") from exc
    key_type = method.public_key.key_type
    if key_type not in suite.key_types:
        raise DataIntegrityError(f"{name} cannot use a {key_type.value} key")
    try:
        signature = decode(value)
    except DidError as exc:
        raise DataIntegrityError("proofValue is not valid multibase") from exc
    signed = _with_previous(unsecured, proofs, proof.get("previousProof"))
    try:
        method.public_key.verify(signature, hash_data(str(name), signed, config, key_type))
    except DidError as exc:
        raise ProofSignatureError(f"the {name} signature does not verify") from exc
    proof_id = proof.get("id")
    return DataIntegrityVerification(
        vm_id, method.controller, str(name), str(purpose), created, proof_id if isinstance(proof_id, str) else None
    )


def _starts_with(document_context: Any, proof_context: Any) -> bool:
    doc = document_context if isinstance(document_context, list) else [document_context]
    head = proof_context if isinstance(proof_context, list) else [proof_context]
    return doc[: len(head)] == head
