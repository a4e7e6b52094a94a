"""What the identity credential says, in the three formats xid issues, and how each is secured and recorded.

One card check yields one set of identity claims (``identity_claims``), issued as:

- ``xid_identity_sd_jwt`` — ``dc+sd-jwt`` (SD-JWT VC): every claim selectively disclosable, ``iss`` the credential
  issuer URL (JWT VC issuer metadata at ``/.well-known/jwt-vc-issuer``), header ``kid`` the issuer's did:web key
  ``#es256``, ``cnf.jwk`` the holder key, ``vct`` the type the issuer serves at ``/vct/identity``, and a Token Status
  List entry in ``status``;
- ``xid_identity_jwt_vc`` — ``jwt_vc_json`` (VC 2.0 JSON in a JWT signed with ES256 by ``#es256``);
- ``xid_identity_ldp_vc`` — ``ldp_vc`` (VC 2.0 with the xid context, an ``eddsa-rdfc-2022`` proof by ``#ed25519``).

The W3C forms name the issuer's did:web as ``issuer`` and the holder as ``credentialSubject.id`` (the did:jwk of the
holder key) and carry two ``BitstringStatusListEntry`` entries (revocation, suspension).

Claims (names from OpenID Connect and OIDC4IDA where one exists; docs/issuer.md lists them):
``name`` (the card's name, verbatim), ``address`` (``{"formatted": the card's address}``), ``sex`` (the card's code:
``"1"`` male, ``"2"`` female, ``"3"`` not applicable — kept as the card gives it, not mapped to OIDC ``gender``),
``jpki_date_of_birth`` (the card's ``EYYYYMMDD``: era digit, then the Gregorian date with zeros for unknown parts),
``birthdate`` (ISO 8601 date, only when the date is fully known), ``age_over_18`` / ``age_over_20`` (at issuance, in
Japan time; omitted when the date of birth cannot decide them), and ``verification`` (OIDC4IDA: trust framework
``jp_aml``, the time of the card check, evidence: an electronic record — the JPKI signature certificate — checked
cryptographically). Errors::

    XidError
    └── IssuerError
        └── CredentialError                 credentialError
            ├── UnknownConfigurationError   unknownCredentialConfiguration
            └── InvalidHolderKeyError       invalidHolderKey
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final

from sqlalchemy import Connection

from did import DidError, PublicKey
from did.signer import KeyIdSigner
from foundation.b64 import b64url_encode
from issuer.context import IssuerContext
from issuer.contracts import CredentialIssuer, IdentityFacts, StatusAllocator, StatusEntry
from issuer.errors import IssuerError
from issuer.status import record_credential
from jpki_bridge.profile import DateOfBirth
from vc import sd_jwt
from vc.data_integrity import add_proof
from vc.jose import issue_jwt_vc_json
from vc.model import CREDENTIALS_V2

__all__ = [
    "CLAIMS",
    "CONFIGURATION_IDS",
    "CREDENTIAL_TYPE",
    "JAPAN",
    "JWT_VC",
    "LDP_VC",
    "SD_JWT",
    "XID_CONTEXT",
    "CredentialError",
    "InvalidHolderKeyError",
    "UnknownConfigurationError",
    "age_flags",
    "age_on",
    "configurations",
    "credential_digest",
    "identity_claims",
    "make_credential_issuer",
    "secure_credential",
    "type_metadata",
]

SD_JWT: Final = "xid_identity_sd_jwt"
JWT_VC: Final = "xid_identity_jwt_vc"
LDP_VC: Final = "xid_identity_ldp_vc"
CONFIGURATION_IDS: Final = (SD_JWT, JWT_VC, LDP_VC)
XID_CONTEXT: Final = "https://w3id.org/xid/identity/v1"
"""The xid JSON-LD context (bundled in vc/contexts, served by the issuer at /contexts/identity/v1)."""
CREDENTIAL_TYPE: Final = "XidIdentityCredential"
JAPAN: Final = timezone(timedelta(hours=9), "JST")
"""Ages are reckoned on the calendar date in Japan, where the card's dates of birth are."""
_PROOF_ALGS: Final = ["ES256", "ES384", "EdDSA", "Ed25519"]

CLAIMS: Final[tuple[tuple[str, str, str], ...]] = (
    # (claim, Japanese label, English label)
    ("name", "氏名", "Name"),
    ("address", "住所", "Address"),
    ("sex", "性別", "Sex"),
    ("jpki_date_of_birth", "生年月日 (カードの表記)", "Date of birth (as on the card)"),
    ("birthdate", "生年月日", "Date of birth"),
    ("age_over_18", "18歳以上", "Age 18 or over"),
    ("age_over_20", "20歳以上", "Age 20 or over"),
    ("verification", "本人確認の方法", "How the identity was verified"),
)
"""The credential's claims with their display labels (ja-JP, en-US)."""

_DISPLAY: Final = (
    (
        "ja-JP",
        "xID 本人確認証明書",
        "マイナンバーカードの署名用電子証明書で確認した基本4情報: 氏名・住所・性別・生年月日",
    ),
    (
        "en-US",
        "xID identity credential",
        "The basic 4 information (name, address, sex, date of birth) checked with a My Number card's signature "
        "certificate",
    ),
)
_COLORS: Final = {"background_color": "#12355b", "text_color": "#ffffff"}


class CredentialError(IssuerError):
    """An identity credential cannot be issued as asked."""

    code = "credentialError"


class UnknownConfigurationError(CredentialError):
    """The credential configuration id is not one the issuer offers."""

    code = "unknownCredentialConfiguration"


class InvalidHolderKeyError(CredentialError):
    """The holder key is not a public JWK of a supported key type."""

    code = "invalidHolderKey"


# -- claims ------------------------------------------------------------------------------------------------------


def _birthday(born: date, year: int) -> date:
    """The birthday in a year; 29 February falls on 1 March in common years (Civil Code art. 143)."""
    try:
        return born.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def age_on(born: date, today: date) -> int:
    """Completed years of age on a calendar date (a year is completed when the birthday begins)."""
    years = today.year - born.year
    return years if today >= _birthday(born, today.year) else years - 1


def age_flags(dob: DateOfBirth, today: date) -> dict[str, bool]:
    """``age_over_18`` / ``age_over_20`` for the flags the known parts of the date of birth decide."""
    flags: dict[str, bool] = {}
    if dob.year is None:
        return flags
    # the earliest and latest birth dates the known parts allow; a flag is stated when both agree
    earliest = date(dob.year, dob.month or 1, dob.day or 1)
    if dob.month is None:
        latest = date(dob.year, 12, 31)
    elif dob.day is None:
        latest = (date(dob.year + dob.month // 12, dob.month % 12 + 1, 1)) - timedelta(days=1)
    else:
        latest = earliest
    for years in (18, 20):
        oldest, youngest = age_on(earliest, today) >= years, age_on(latest, today) >= years
        if oldest == youngest:
            flags[f"age_over_{years}"] = oldest
    return flags


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity_claims(facts: IdentityFacts, now: datetime) -> dict[str, Any]:
    """The identity claims of a card check, in the order of ``CLAIMS`` (absent ones left out)."""
    basic4 = facts.basic4
    dob = basic4.date_of_birth
    claims: dict[str, Any] = {
        "name": basic4.name,
        "address": {"formatted": basic4.address},
        "sex": basic4.sex.value,
        "jpki_date_of_birth": dob.text,
    }
    born = dob.as_date()
    if born is not None:
        claims["birthdate"] = born.isoformat()
    claims.update(age_flags(dob, now.astimezone(JAPAN).date()))
    claims["verification"] = {
        "trust_framework": "jp_aml",
        "time": _time(facts.verified_at),
        "evidence": [
            {
                "type": "electronic_record",
                "check_details": [{"check_method": "vcrypt"}],
                "record": {"type": "jp_jpki_signature_certificate"},
            }
        ],
    }
    return claims


# -- metadata ----------------------------------------------------------------------------------------------------


def _claims_metadata(prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "path": [*prefix, claim],
            "display": [{"name": ja, "locale": "ja-JP"}, {"name": en, "locale": "en-US"}],
        }
        for claim, ja, en in CLAIMS
    ]


def _credential_metadata(prefix: tuple[str, ...]) -> dict[str, Any]:
    display = [{"name": name, "locale": locale, "description": text, **_COLORS} for locale, name, text in _DISPLAY]
    return {"display": display, "claims": _claims_metadata(prefix)}


def configurations(ctx: IssuerContext) -> dict[str, dict[str, Any]]:
    """The ``credential_configurations_supported`` entries (OpenID4VCI 1.0) of the identity credential."""
    proof_types = {"jwt": {"proof_signing_alg_values_supported": list(_PROOF_ALGS)}}
    w3c_binding = ["did:key", "did:jwk", "jwk"]
    types = ["VerifiableCredential", CREDENTIAL_TYPE]
    return {
        SD_JWT: {
            "format": "dc+sd-jwt",
            "vct": ctx.url("/vct/identity"),
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": ["ES256"],
            "proof_types_supported": proof_types,
            "credential_metadata": _credential_metadata(()),
        },
        JWT_VC: {
            "format": "jwt_vc_json",
            "credential_definition": {"type": types},
            "cryptographic_binding_methods_supported": w3c_binding,
            "credential_signing_alg_values_supported": ["ES256"],
            "proof_types_supported": proof_types,
            "credential_metadata": _credential_metadata(("credentialSubject",)),
        },
        LDP_VC: {
            "format": "ldp_vc",
            "credential_definition": {"@context": [CREDENTIALS_V2, XID_CONTEXT], "type": types},
            "cryptographic_binding_methods_supported": w3c_binding,
            "credential_signing_alg_values_supported": ["eddsa-rdfc-2022"],
            "proof_types_supported": proof_types,
            "credential_metadata": _credential_metadata(("credentialSubject",)),
        },
    }


def type_metadata(ctx: IssuerContext) -> dict[str, Any]:
    """The SD-JWT VC type metadata of ``vct`` (draft-ietf-oauth-sd-jwt-vc: display and claim metadata)."""
    return {
        "vct": ctx.url("/vct/identity"),
        "name": _DISPLAY[1][1],
        "description": _DISPLAY[1][2],
        "display": [
            {"locale": locale, "name": name, "description": text, "rendering": {"simple": dict(_COLORS)}}
            for locale, name, text in _DISPLAY
        ],
        "claims": [
            {
                "path": [claim],
                "display": [{"locale": "ja-JP", "label": ja}, {"locale": "en-US", "label": en}],
                "sd": "always",
            }
            for claim, ja, en in CLAIMS
        ],
    }


# -- issuance ----------------------------------------------------------------------------------------------------


def _holder(holder_jwk: Mapping[str, Any]) -> PublicKey:
    try:
        return PublicKey.from_jwk(dict(holder_jwk))
    except (DidError, TypeError, ValueError) as exc:
        raise InvalidHolderKeyError("the holder key is not a supported public JWK") from exc


def _did_jwk(holder: PublicKey) -> str:
    """did:jwk of an already validated key (``did.did_jwk.create`` without validating the key a second time)."""
    encoded = json.dumps(holder.to_jwk(), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return "did:jwk:" + b64url_encode(encoded.encode("utf-8"))


def _credential_id(ctx: IssuerContext) -> str:
    return str(uuid.UUID(bytes=ctx.random(16), version=4))


def _w3c_credential(
    ctx: IssuerContext,
    credential_id: str,
    subject: str,
    claims: dict[str, Any],
    entries: list[StatusEntry],
    now: datetime,
    until: datetime,
) -> dict[str, Any]:
    return {
        "@context": [CREDENTIALS_V2, XID_CONTEXT],
        "id": f"urn:uuid:{credential_id}",
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "issuer": ctx.did,
        "validFrom": _time(now),
        "validUntil": _time(until),
        "credentialSubject": {"id": subject, **claims},
        "credentialStatus": [
            {
                "id": f"{entry.list_url}#{entry.index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": entry.purpose,
                "statusListIndex": str(entry.index),
                "statusListCredential": entry.list_url,
            }
            for entry in entries
        ],
    }


def secure_credential(
    ctx: IssuerContext,
    configuration_id: str,
    claims: Mapping[str, Any],
    holder: PublicKey,
    entries: list[StatusEntry],
    now: datetime,
    credential_id: str,
) -> tuple[str | dict[str, Any], bytes]:
    """Build and secure one credential from its claims and status entries (no storage); also its recorded bytes."""
    until = now + ctx.settings.credential_validity
    if configuration_id == SD_JWT:
        payload: dict[str, Any] = {
            "iss": ctx.base_url,
            "iat": int(now.timestamp()),
            "exp": int(until.timestamp()),
            "vct": ctx.url("/vct/identity"),
            "status": {"status_list": {"idx": entries[0].index, "uri": entries[0].list_url}},
            **{name: sd_jwt.SD(value) for name, value in claims.items()},
        }
        token = sd_jwt.issue(payload, KeyIdSigner(ctx.es256, ctx.es256_kid), holder_jwk=holder.to_jwk())
        return token, token.encode("ascii")
    subject = _did_jwk(holder)
    unsecured = _w3c_credential(ctx, credential_id, subject, dict(claims), entries, now, until)
    if configuration_id == JWT_VC:
        jwt = issue_jwt_vc_json(unsecured, KeyIdSigner(ctx.es256, ctx.es256_kid), subject=subject, now=now)
        return jwt, jwt.encode("ascii")
    if configuration_id == LDP_VC:
        secured = add_proof(
            unsecured, ctx.ed25519, cryptosuite="eddsa-rdfc-2022", verification_method=ctx.ed25519_kid, created=now
        )
        return secured, json.dumps(secured, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raise UnknownConfigurationError(f"unknown credential configuration {configuration_id[:80]!r}")


def make_credential_issuer(ctx: IssuerContext, status: StatusAllocator) -> CredentialIssuer:
    """The credential issuer the credential endpoint calls: builds, secures, records and returns one credential."""

    def issue(
        conn: Connection, configuration_id: str, facts: IdentityFacts, holder_jwk: dict[str, Any]
    ) -> str | dict[str, Any]:
        if configuration_id not in CONFIGURATION_IDS:
            raise UnknownConfigurationError(f"unknown credential configuration {configuration_id[:80]!r}")
        holder = _holder(holder_jwk)
        now = ctx.clock().astimezone(UTC).replace(microsecond=0)
        if configuration_id == SD_JWT:
            entries = [status.allocate(conn, "token", "revocation", ctx.base_url)]
        else:
            entries = [
                status.allocate(conn, "bitstring", "revocation", ctx.did),
                status.allocate(conn, "bitstring", "suspension", ctx.did),
            ]
        credential_id = _credential_id(ctx)
        claims = identity_claims(facts, now)
        credential, serialized = secure_credential(ctx, configuration_id, claims, holder, entries, now, credential_id)
        record_credential(
            ctx,
            conn,
            credential_id=credential_id,
            person_id=facts.person_id,
            configuration_id=configuration_id,
            certificate_fingerprint=facts.certificate_fingerprint,
            entries=entries,
            issued_at=now,
            expires_at=now + ctx.settings.credential_validity,
            credential=serialized,
            holder_jkt=holder.thumbprint(),
        )
        return credential

    return issue


def credential_digest(credential: str | Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a credential as recorded: the token's bytes, or compact UTF-8 JSON of an ldp_vc."""
    if isinstance(credential, str):
        return hashlib.sha256(credential.encode("ascii")).hexdigest()
    text = json.dumps(credential, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
