"""The W3C VC API issuing service (VCALM, https://w3c.github.io/vcalm/): ``POST /credentials/issue`` and
``POST /credentials/status`` over configured issuer instances.

An issuer instance is an issuer identifier, a key and a securing mechanism. The embedded default has six:

=================== ==================== ================== ===========================================
name                identifier           mechanism          key
=================== ==================== ================== ===========================================
``key-ed25519``     did:key (Ed25519)    eddsa-rdfc-2022    ``ctx.vc_api_signers["ed25519"]``
``key-ed25519-jcs`` the same did:key     eddsa-jcs-2022     the same key
``key-p256``        did:key (P-256)      ecdsa-rdfc-2019    ``ctx.vc_api_signers["p256"]``
``key-p384``        did:key (P-384)      ecdsa-rdfc-2019    ``ctx.vc_api_signers["p384"]``
``web``             the issuer's did:web eddsa-rdfc-2022    ``ctx.ed25519`` (``{did}#ed25519``)
``web-jwt``         the issuer's did:web vc+jwt (ES256)     ``ctx.es256`` (``{did}#es256``)
=================== ==================== ================== ===========================================

Each instance has its own URLs, ``/instances/{name}/credentials/issue`` and ``.../status``. The plain
``/credentials/issue`` picks the *default* instance of the identifier that ``credential.issuer`` names (the first of
each identifier in the table, i.e. the RDFC one), and the did:web instance when the credential has no issuer (which
is then filled in). Issuing validates the credential (VC 2.0 or VC 1.1, every term and type defined by a bundled
context, valid dates), adds a ``BitstringStatusListEntry`` when ``options.credentialStatus`` asks for one and records
it by credential id, so that ``/credentials/status`` can later set the entry's bit. Errors::

    XidError
    └── IssuerError
        └── VcApiError                    vcApiError
            ├── VcApiUnauthorizedError    vcApiUnauthorized     (401: no or wrong bearer token, or API disabled)
            ├── InvalidCredentialInputError invalidCredentialInput (400: not a valid credential; names the problem)
            ├── InvalidIssueOptionsError  invalidIssueOptions   (400: options the service does not take)
            ├── UnknownInstanceError      unknownIssuerInstance (400: issuer is no instance here; 404 by name)
            ├── DuplicateCredentialIdError duplicateCredentialId (409: credential id already has that status)
            └── CredentialNotFoundError   credentialNotFound    (404: no status recorded for the credential id)
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table, Text, insert, select

from did import PublicKey, did_key
from did.signer import KeyIdSigner, Signer
from foundation.db import is_unique_violation, transaction
from foundation.errors import XidError
from issuer.context import IssuerContext
from issuer.contracts import StatusAllocator, StatusEntry, StatusPurpose
from issuer.db import Millis, metadata
from issuer.errors import IssuerError
from vc.data_integrity import add_proof
from vc.jose import issue_vc_jwt
from vc.jsonld import to_quads
from vc.model import CREDENTIALS_V2, CredentialModelError, parse_datetime, validate_credential
from vc.status_list import BitstringStatusEntry

__all__ = [
    "CREDENTIALS_V1",
    "DATA_INTEGRITY_CONTEXT",
    "STATUS_CONTEXT",
    "CredentialNotFoundError",
    "DuplicateCredentialIdError",
    "Instance",
    "InvalidCredentialInputError",
    "InvalidIssueOptionsError",
    "UnknownInstanceError",
    "VcApiError",
    "VcApiService",
    "VcApiUnauthorizedError",
    "check_token",
    "instances",
    "instances_json",
    "vc_api_status",
]

CREDENTIALS_V1: Final = "https://www.w3.org/2018/credentials/v1"
STATUS_CONTEXT: Final = "https://www.w3.org/ns/credentials/status/v1"
"""Defines ``BitstringStatusListEntry`` for VC 1.1 credentials (the VC 2.0 context defines it itself)."""
DATA_INTEGRITY_CONTEXT: Final = "https://w3id.org/security/data-integrity/v2"
"""Defines ``DataIntegrityProof`` for VC 1.1 credentials (added to their ``@context`` when a proof is made)."""
_PURPOSES: Final = ("revocation", "suspension")
_MAX_ID: Final = 2048


class VcApiError(IssuerError):
    """Base of the VC API's errors."""

    code = "vcApiError"


class VcApiUnauthorizedError(VcApiError):
    """The request has no valid bearer token for the VC API, or the API has no token configured."""

    code = "vcApiUnauthorized"


class InvalidCredentialInputError(VcApiError):
    """The ``credential`` to issue is not a valid VC 2.0 or VC 1.1 credential; the message names the problem."""

    code = "invalidCredentialInput"


class InvalidIssueOptionsError(VcApiError):
    """The request body or its ``options`` ask for something the service does not do or cannot read."""

    code = "invalidIssueOptions"


class UnknownInstanceError(VcApiError):
    """No issuer instance here has that name or issuer identifier."""

    code = "unknownIssuerInstance"


class DuplicateCredentialIdError(VcApiError):
    """A credential with this id was already issued with a status entry of this purpose."""

    code = "duplicateCredentialId"


class CredentialNotFoundError(VcApiError):
    """No credential with this id (and status purpose) was issued with a status entry."""

    code = "credentialNotFound"


vc_api_status = Table(
    "issuer_vc_api_status",
    metadata,
    Column("credential_hash", String(64), nullable=False),  # SHA-256 (hex) of the credential id
    Column("purpose", String(16), nullable=False),
    Column("issuer", Text, nullable=False),
    Column("list_id", String(255), nullable=False),
    Column("list_index", BigInteger, nullable=False),
    Column("list_url", Text, nullable=False),
    Column("issued_at", Millis, nullable=False),
    PrimaryKeyConstraint("credential_hash", "purpose"),
)
"""Status entries of credentials the VC API issued, by credential id and purpose (no credential content)."""


@dataclass(frozen=True)
class Instance:
    """One issuer instance: an issuer identifier, its key (as a verification method) and a securing mechanism."""

    name: str
    id: str
    """The issuer identifier (a DID) that credentials issued here carry as ``issuer``."""
    cryptosuite: str
    """``eddsa-rdfc-2022``, ``eddsa-jcs-2022``, ``ecdsa-rdfc-2019`` or ``vc+jwt``."""
    signer: Signer
    """Signs with the instance's key; its ``key_id`` is the verification method (the JWS ``kid``)."""
    default: bool
    """Whether the plain ``/credentials/issue`` uses this instance for its identifier."""

    @property
    def verification_method(self) -> str:
        """The DID URL of the key."""
        return self.signer.key_id

    def to_json(self, ctx: IssuerContext) -> dict[str, Any]:
        """``{"id", "name", "cryptosuite", "issue", "status"}`` with absolute URLs."""
        return {
            "id": self.id,
            "name": self.name,
            "cryptosuite": self.cryptosuite,
            "issue": ctx.url(f"/instances/{self.name}/credentials/issue"),
            "status": ctx.url(f"/instances/{self.name}/credentials/status"),
        }


def _did_key_instances(ctx: IssuerContext) -> list[Instance]:
    found: list[Instance] = []
    plan = (
        ("ed25519", (("key-ed25519", "eddsa-rdfc-2022"), ("key-ed25519-jcs", "eddsa-jcs-2022"))),
        ("p256", (("key-p256", "ecdsa-rdfc-2019"),)),
        ("p384", (("key-p384", "ecdsa-rdfc-2019"),)),
    )
    for key_name, suites in plan:
        signer = ctx.vc_api_signers.get(key_name)
        if signer is None:
            continue
        public_key = PublicKey.from_jwk(signer.public_jwk)
        identifier = did_key.create(public_key)
        keyed = KeyIdSigner(signer, did_key.verification_method_id(public_key))
        for i, (name, suite) in enumerate(suites):
            found.append(Instance(name, identifier, suite, keyed, default=i == 0))
    return found


def instances(ctx: IssuerContext) -> list[Instance]:
    """The issuer instances of a context: the did:key ones whose keys ``ctx.vc_api_signers`` has, and did:web."""
    return [
        *_did_key_instances(ctx),
        Instance("web", ctx.did, "eddsa-rdfc-2022", KeyIdSigner(ctx.ed25519, ctx.ed25519_kid), default=True),
        Instance("web-jwt", ctx.did, "vc+jwt", KeyIdSigner(ctx.es256, ctx.es256_kid), default=False),
    ]


def instances_json(ctx: IssuerContext) -> list[dict[str, Any]]:
    """What ``xid issuer instances --json`` prints: one ``{"id", "name", "cryptosuite", "issue", "status"}`` each."""
    return [instance.to_json(ctx) for instance in instances(ctx)]


def check_token(presented: str | None, configured: str | None) -> None:
    """Accept a bearer token equal to the configured one (constant time); raise VcApiUnauthorizedError otherwise."""
    if configured is None:
        raise VcApiUnauthorizedError(
            "the VC API is disabled: set XID_VC_API_TOKEN to a secret and send it as Authorization: Bearer"
        )
    if presented is None:
        raise VcApiUnauthorizedError("the VC API needs an Authorization: Bearer token")
    if not hmac.compare_digest(presented.encode("utf-8"), configured.encode("utf-8")):
        raise VcApiUnauthorizedError("the bearer token is not valid for the VC API")


def _credential_hash(credential_id: str) -> str:
    return hashlib.sha256(credential_id.encode("utf-8")).hexdigest()


def _issuer_id(credential: Mapping[str, Any]) -> str | None:
    """The issuer the credential names (None when absent); a malformed issuer is refused."""
    if "issuer" not in credential:
        return None
    issuer = credential["issuer"]
    value = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    if not isinstance(value, str) or not value:
        raise InvalidCredentialInputError("issuer must be a URL or an object with an id URL")
    return value


@dataclass(frozen=True)
class _StatusRequest:
    purpose: StatusPurpose


def _status_requests(options: Mapping[str, Any]) -> list[_StatusRequest]:
    raw = options.get("credentialStatus")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    requests: list[_StatusRequest] = []
    for item in items:
        if not isinstance(item, Mapping) or item.get("type") != "BitstringStatusListEntry":
            raise InvalidIssueOptionsError(
                'options.credentialStatus must be {"type": "BitstringStatusListEntry", "statusPurpose": ...}'
            )
        unknown = sorted(set(item) - {"type", "statusPurpose"})
        if unknown:
            raise InvalidIssueOptionsError(f"options.credentialStatus has unknown members {', '.join(unknown)}")
        purpose = item.get("statusPurpose", "revocation")
        if purpose not in _PURPOSES:
            raise InvalidIssueOptionsError(f"options.credentialStatus.statusPurpose must be one of {_PURPOSES}")
        if any(r.purpose == purpose for r in requests):
            raise InvalidIssueOptionsError(f"options.credentialStatus asks twice for a {purpose} entry")
        requests.append(_StatusRequest(purpose))
    return requests


def _validate(credential: dict[str, Any]) -> None:
    """Refuse what is not a valid VC 2.0 or VC 1.1 credential (structure, dates, every term and type defined)."""
    contexts = credential.get("@context")
    contexts = contexts if isinstance(contexts, list) else []
    first = contexts[0] if contexts else None
    try:
        if first == CREDENTIALS_V1:
            if "validFrom" in credential or "validUntil" in credential:
                raise InvalidCredentialInputError("a VC 1.1 credential uses issuanceDate/expirationDate")
            # The VC 2.0 structural rules apply to 1.1 too once the dates carry their 2.0 names.
            shadow = {k: v for k, v in credential.items() if k not in ("issuanceDate", "expirationDate")}
            shadow["@context"] = [CREDENTIALS_V2, *contexts[1:]]
            if "issuanceDate" not in credential:
                raise InvalidCredentialInputError("a VC 1.1 credential needs issuanceDate")
            shadow["validFrom"] = credential["issuanceDate"]
            parse_datetime(credential["issuanceDate"], "issuanceDate")
            if "expirationDate" in credential:
                parse_datetime(credential["expirationDate"], "expirationDate")
                shadow["validUntil"] = credential["expirationDate"]
            validate_credential(shadow)
        else:
            if first != CREDENTIALS_V2:
                raise InvalidCredentialInputError(
                    f"@context must be an array starting with {CREDENTIALS_V2} (VC 2.0) or {CREDENTIALS_V1} (VC 1.1)"
                )
            validate_credential(credential)
        if "proof" in credential:
            raise InvalidCredentialInputError("the credential to issue must not carry a proof")
        for entry in _status_list(credential):
            if isinstance(entry, Mapping) and entry.get("type") == "BitstringStatusListEntry":
                BitstringStatusEntry.parse(entry)
        to_quads(credential)  # safe mode: an undefined term, type or unknown context is an error
    except InvalidCredentialInputError:
        raise
    except CredentialModelError as exc:
        raise InvalidCredentialInputError(exc.message) from exc
    except XidError as exc:  # JSON-LD (undefined term, unknown context, limits) or a malformed status entry
        raise InvalidCredentialInputError(f"{exc.code}: {exc.message}") from exc


def _status_list(credential: dict[str, Any]) -> list[Any]:
    existing = credential.get("credentialStatus")
    if existing is None:
        return []
    return list(existing) if isinstance(existing, list) else [existing]


def _entry_json(entry: StatusEntry) -> dict[str, Any]:
    return {
        "id": f"{entry.list_url}#{entry.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": entry.purpose,
        "statusListIndex": str(entry.index),
        "statusListCredential": entry.list_url,
    }


class VcApiService:
    """Issues credentials with the instances of a context and updates the status entries it added."""

    def __init__(self, ctx: IssuerContext, status: StatusAllocator) -> None:
        self.ctx = ctx
        self.status = status
        self.instances = instances(ctx)
        self._by_name = {instance.name: instance for instance in self.instances}

    def instance(self, name: str) -> Instance:
        """The instance of a name; UnknownInstanceError otherwise."""
        found = self._by_name.get(name)
        if found is None:
            raise UnknownInstanceError(f"there is no issuer instance named {name[:64]!r}")
        return found

    def default_instance(self, issuer: str | None) -> Instance:
        """The instance the plain ``/credentials/issue`` uses for an issuer identifier (did:web when None)."""
        wanted = self.ctx.did if issuer is None else issuer
        for instance in self.instances:
            if instance.default and instance.id == wanted:
                return instance
        raise UnknownInstanceError(
            f"the issuer {wanted[:120]!r} is not an issuer instance of this service "
            f"(instances: {', '.join(sorted({i.id for i in self.instances}))})"
        )

    def issue(self, body: Mapping[str, Any], instance: Instance | None = None) -> dict[str, Any]:
        """Validate, add status if asked, secure and record; return ``{"verifiableCredential": ...}``."""
        credential, options = self._read_issue_body(body)
        named = _issuer_id(credential)
        instance = instance or self.default_instance(named)
        if named is None:
            credential["issuer"] = instance.id
        elif named != instance.id:
            raise UnknownInstanceError(
                f"the credential's issuer {named[:120]!r} is not this instance's identifier {instance.id!r}"
            )
        version_1 = isinstance(credential.get("@context"), list) and credential["@context"][:1] == [CREDENTIALS_V1]
        if version_1 and "issuanceDate" not in credential:
            credential["issuanceDate"] = self._now_stamp()
        if version_1 and instance.cryptosuite == "vc+jwt":
            raise InvalidCredentialInputError("vc+jwt (VC-JOSE-COSE) secures VC 2.0 credentials only")
        requests = _status_requests(options)
        credential_id = self._credential_id(credential, options, bool(requests))
        if requests and version_1 and STATUS_CONTEXT not in credential["@context"]:
            credential["@context"] = [*credential["@context"], STATUS_CONTEXT]
        if version_1 and DATA_INTEGRITY_CONTEXT not in credential["@context"]:
            credential["@context"] = [*credential["@context"], DATA_INTEGRITY_CONTEXT]
        _validate(credential)
        if not requests:
            return {"verifiableCredential": self._secure(credential, instance)}
        assert credential_id is not None
        with transaction(self.ctx.engine, write=True) as conn:
            entries = [self.status.allocate(conn, "bitstring", r.purpose, instance.id) for r in requests]
            credential["credentialStatus"] = [*_status_list(credential), *map(_entry_json, entries)]
            if len(credential["credentialStatus"]) == 1:
                credential["credentialStatus"] = credential["credentialStatus"][0]
            _validate(credential)
            secured = self._secure(credential, instance)
            now = int(self.ctx.clock().timestamp() * 1000)
            rows = [
                {
                    "credential_hash": _credential_hash(credential_id),
                    "purpose": entry.purpose,
                    "issuer": instance.id,
                    "list_id": entry.list_id,
                    "list_index": entry.index,
                    "list_url": entry.list_url,
                    "issued_at": now,
                }
                for entry in entries
            ]
            try:
                conn.execute(insert(vc_api_status), rows)
            except Exception as exc:
                if is_unique_violation(exc):
                    raise DuplicateCredentialIdError(
                        "a credential with this id was already issued with a status entry; use another id"
                    ) from None
                raise
        return {"verifiableCredential": secured}

    def update_status(self, body: Mapping[str, Any], instance: Instance | None = None) -> dict[str, Any]:
        """Set (``status: true``, the default) or clear the status bit of an entry the service added."""
        unknown = sorted(set(body) - {"credentialId", "credentialStatus", "status", "indexAllocator"})
        if unknown:
            raise InvalidIssueOptionsError(f"the request has unknown members {', '.join(unknown)}")
        credential_id = body.get("credentialId")
        if not isinstance(credential_id, str) or not credential_id or len(credential_id) > _MAX_ID:
            raise InvalidIssueOptionsError("credentialId must be a non-empty string (the issued credential's id)")
        status = body.get("status", True)
        if not isinstance(status, bool):
            raise InvalidIssueOptionsError("status must be true (set) or false (clear)")
        wanted = body.get("credentialStatus")
        if isinstance(wanted, list) and len(wanted) == 1:
            wanted = wanted[0]
        if not isinstance(wanted, Mapping) or wanted.get("type") not in (
            "BitstringStatusListEntry",
            "BitstringStatusList",
        ):
            raise InvalidIssueOptionsError(
                'credentialStatus must be {"type": "BitstringStatusListEntry", "statusPurpose": ...}'
            )
        unknown = sorted(set(wanted) - {"id", "type", "statusPurpose", "statusListIndex", "statusListCredential"})
        if unknown:
            raise InvalidIssueOptionsError(f"credentialStatus has unknown members {', '.join(unknown)}")
        purpose = wanted.get("statusPurpose")
        if purpose not in _PURPOSES:
            raise InvalidIssueOptionsError(f"credentialStatus.statusPurpose must be one of {_PURPOSES}")
        with transaction(self.ctx.engine, write=True) as conn:
            row = conn.execute(
                select(vc_api_status).where(
                    vc_api_status.c.credential_hash == _credential_hash(credential_id),
                    vc_api_status.c.purpose == purpose,
                )
            ).first()
            if row is None or (instance is not None and row.issuer != instance.id):
                raise CredentialNotFoundError(f"no credential with this id has a {purpose} status entry here")
            entry = {
                "id": f"{row.list_url}#{row.list_index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": str(row.list_index),
                "statusListCredential": row.list_url,
            }
            for name in ("id", "statusListIndex", "statusListCredential"):
                if name in wanted and wanted[name] != entry[name]:
                    raise InvalidIssueOptionsError(f"credentialStatus.{name} is not the credential's entry")
            self.status.set_status(conn, row.list_id, int(row.list_index), 1 if status else 0)
        return {"credentialId": credential_id, "credentialStatus": entry, "status": status}

    # -- helpers --------------------------------------------------------------------------------------------------

    def _now_stamp(self) -> str:
        return self.ctx.clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _read_issue_body(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], Mapping[str, Any]]:
        unknown = sorted(set(body) - {"credential", "options"})
        if unknown:
            raise InvalidIssueOptionsError(f"the request has unknown members {', '.join(unknown)}")
        credential = body.get("credential")
        if not isinstance(credential, Mapping):
            raise InvalidCredentialInputError("the request needs a credential object")
        options = body.get("options", {})
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise InvalidIssueOptionsError("options must be an object")
        unknown = sorted(set(options) - {"credentialId", "credentialStatus", "mandatoryPointers"})
        if unknown:
            raise InvalidIssueOptionsError(f"options has unknown members {', '.join(unknown)}")
        if options.get("mandatoryPointers"):
            raise InvalidIssueOptionsError(
                "mandatoryPointers is for selective disclosure suites; no instance here uses one"
            )
        return copy.deepcopy(dict(credential)), options

    def _credential_id(self, credential: Mapping[str, Any], options: Mapping[str, Any], needed: bool) -> str | None:
        given = options.get("credentialId")
        if given is not None and (not isinstance(given, str) or not given or len(given) > _MAX_ID):
            raise InvalidIssueOptionsError(f"options.credentialId must be a non-empty string of at most {_MAX_ID}")
        own = credential.get("id")
        credential_id = given if given is not None else own if isinstance(own, str) else None
        if needed and credential_id is None:
            raise InvalidIssueOptionsError(
                "a credential with status needs credential.id or options.credentialId, "
                "so that its status can be updated later"
            )
        if credential_id is not None and len(credential_id) > _MAX_ID:
            raise InvalidCredentialInputError(f"the credential id is longer than {_MAX_ID} characters")
        return credential_id

    def _secure(self, credential: dict[str, Any], instance: Instance) -> dict[str, Any]:
        try:
            if instance.cryptosuite == "vc+jwt":
                token = issue_vc_jwt(credential, instance.signer)
                return {
                    "@context": [CREDENTIALS_V2],
                    "id": f"data:application/vc+jwt,{token}",
                    "type": "EnvelopedVerifiableCredential",
                }
            return add_proof(
                credential,
                instance.signer,
                cryptosuite=instance.cryptosuite,
                verification_method=instance.verification_method,
                created=self.ctx.clock(),
            )
        except XidError as exc:
            if isinstance(exc, IssuerError):
                raise
            raise InvalidCredentialInputError(f"{exc.code}: {exc.message}") from exc
