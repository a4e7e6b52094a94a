"""The xid CA: X.509 authentication and signing certificates for an enrollment's holder key, with CRL and OCSP.

After a card check the wallet asks for two certificates for its holder key (``usage`` ``authentication`` or
``signing``), proving possession with a PKCS#10 CSR; the CA decides everything in them (RFC 5280 profile, see
``docs/issuer.md``): subject ``O=xid, CN=<pseudonym>`` (a pairwise identifier of the person for the sector
``xid-ca``, never the person ID or any basic 4 info), the holder's did:jwk as subjectAltName URI, AIA (OCSP and
the root at ``/ca/root.cer``) and a CRL distribution point. The CA key is ``IssuerContext.ca_signer`` (a
``did.Signer``: software or PKCS#11; P-256, P-384 or Ed25519): every structure is built with asn1crypto and its DER
signed through the signer, ECDSA's JOSE r||s turned into the X.509 ``ECDSA-Sig-Value``.

The root certificate is self-signed and created on first use, one row per CA key in ``issuer_ca_root`` (a primary
key on the key's RFC 7638 thumbprint: processes starting together end with one root). Every issued certificate is
recorded in ``issuer_ca_certificate`` (serial, grant, person, usage, card certificate fingerprint, holder key
thumbprint, validity, revocation); one certificate per usage per grant (a unique constraint), and asking again with
the same grant returns the certificate already issued (a lost response can be retried). The CRL (RFC 5280 §5) is
cached in the root row, signed again when a revocation clears it or half its validity has passed; its number only
grows. OCSP (RFC 6960) answers are signed by the root itself (responder ID by key hash) with the request's nonce
echoed (RFC 8954: at most 32 bytes).

Errors::

    IssuerError
    └── CaError                         caError               (base of the CA's errors)
        ├── CsrError                    invalidCsr            not DER PKCS#10, bad signature, key or algorithm refused
        │   └── CsrKeyMismatchError     csrKeyMismatch        the CSR's key is not the enrollment's holder key
        ├── CertificateRevokedError     caCertificateRevoked  the grant's certificate for that usage was revoked
        ├── UnknownCertificateError     caUnknownCertificate  no certificate has that serial
        ├── RevocationReasonError       invalidRevocationReason  not a reason an end-entity certificate may have
        └── CaKeyError                  caKeyUnsupported      the CA signer is not ES256, ES384 or EdDSA, or misbehaves
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, get_args

from asn1crypto import algos, core, keys, ocsp
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import (
    Column,
    Connection,
    Index,
    LargeBinary,
    Row,
    String,
    Table,
    UniqueConstraint,
    exc,
    select,
    update,
)

from did import did_jwk
from did.errors import DidError
from did.keys import PublicKey, jwk_thumbprint
from did.signer import Signer
from foundation.db import is_unique_violation, transaction
from issuer.context import IssuerContext
from issuer.contracts import AuthorizedHolder
from issuer.db import Millis, metadata
from issuer.errors import IssuerError

__all__ = [
    "CA_SECTOR",
    "DOCUMENT_SIGNING",
    "REVOCATION_REASONS",
    "USAGES",
    "CaError",
    "CaKeyError",
    "CertificateRevokedError",
    "CsrError",
    "CsrKeyMismatchError",
    "IssuedCertificate",
    "OcspAnswer",
    "Pairwise",
    "RevocationReason",
    "RevocationReasonError",
    "Root",
    "UnknownCertificateError",
    "Usage",
    "XidCA",
    "ca_certificates",
    "ca_roots",
    "certificates_of",
    "merge_person",
    "revoke",
    "revoke_from_card",
]

Usage = Literal["authentication", "signing"]
USAGES: Final[tuple[Usage, ...]] = get_args(Usage)
RevocationReason = Literal[
    "unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"
]
"""RFC 5280 §5.3.1 reasons an end-entity certificate of this CA can be revoked for (revocation is final: no hold)."""
REVOCATION_REASONS: Final[tuple[RevocationReason, ...]] = get_args(RevocationReason)
Pairwise = Callable[[str, str], str]
"""(person ID, sector) -> the person's stable pseudonym for that sector."""

CA_SECTOR: Final = "xid-ca"
"""The pairwise sector of the certificates' subject pseudonym."""
DOCUMENT_SIGNING: Final = "1.3.6.1.5.5.7.3.36"
"""id-kp-documentSigning (RFC 9336)."""

_ROOT_LIFETIME: Final = timedelta(days=3652)
_BACKDATE: Final = timedelta(minutes=5)
"""notBefore precedes the issuance by this much, so a relying party whose clock is a little behind accepts it."""
_MAX_CN: Final = 64  # ub-common-name (RFC 5280 appendix A)
_MAX_OCSP_REQUESTS: Final = 16
_MAX_NONCE: Final = 32  # RFC 8954 §2.1
_ASN1_REASONS: Final[dict[RevocationReason, str]] = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "privilegeWithdrawn": "privilege_withdrawn",
}
_CA_ALGORITHMS: Final = {"ES256": ("sha256_ecdsa", 32), "ES384": ("sha384_ecdsa", 48), "EdDSA": ("ed25519", 32)}
_CSR_HASHES: Final = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_CERTID_HASHES: Final = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}


# -- errors -------------------------------------------------------------------------------------------------------


class CaError(IssuerError):
    """Base of the xid CA's errors."""

    code = "caError"


class CsrError(CaError):
    """The CSR is not DER PKCS#10, its signature does not verify, or its key type or algorithm is not accepted."""

    code = "invalidCsr"


class CsrKeyMismatchError(CsrError):
    """The CSR's key is not the holder key the enrollment bound."""

    code = "csrKeyMismatch"


class CertificateRevokedError(CaError):
    """The enrollment's certificate for that usage was revoked; a new enrollment gets a new one."""

    code = "caCertificateRevoked"


class UnknownCertificateError(CaError):
    """No certificate of the xid CA has that serial number."""

    code = "caUnknownCertificate"


class RevocationReasonError(CaError):
    """The revocation reason is not one an end-entity certificate of the xid CA may have."""

    code = "invalidRevocationReason"


class CaKeyError(CaError):
    """The CA signer's algorithm is not ES256, ES384 or EdDSA, or it returned a malformed signature."""

    code = "caKeyUnsupported"


# -- tables -------------------------------------------------------------------------------------------------------

ca_roots = Table(
    "issuer_ca_root",
    metadata,
    Column("key_id", String(64), primary_key=True, comment="RFC 7638 thumbprint of the CA key"),
    Column("certificate", LargeBinary, nullable=False, comment="the self-signed root, DER"),
    Column("created_at", Millis, nullable=False),
    Column("crl_number", Millis, nullable=False, comment="number of the last CRL signed (0: none yet)"),
    Column("crl", LargeBinary, nullable=True, comment="the current CRL, DER; NULL after a revocation"),
    Column("crl_this_update", Millis, nullable=True),
    Column("crl_next_update", Millis, nullable=True),
)
"""One self-signed root per CA key, with its current CRL."""

ca_certificates = Table(
    "issuer_ca_certificate",
    metadata,
    Column("serial", String(40), primary_key=True, comment="lowercase hex"),
    Column("root_key_id", String(64), nullable=False),
    Column("grant_id", String(128), nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("usage", String(16), nullable=False),
    Column("card_fingerprint", String(64), nullable=False, comment="SHA-256 of the card's signature certificate"),
    Column("holder_jkt", String(64), nullable=False),
    Column("not_before", Millis, nullable=False),
    Column("not_after", Millis, nullable=False),
    Column("issued_at", Millis, nullable=False),
    Column("revoked_at", Millis, nullable=True),
    Column("revocation_reason", String(32), nullable=True),
    Column("certificate", LargeBinary, nullable=False, comment="DER"),
    UniqueConstraint("grant_id", "usage", name="uq_issuer_ca_certificate_grant_usage"),
    Index("ix_issuer_ca_certificate_person", "person_id"),
    Index("ix_issuer_ca_certificate_card", "card_fingerprint"),
)
"""Every certificate the xid CA issued, and its revocation."""


# -- data ---------------------------------------------------------------------------------------------------------


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the xid CA issued, as recorded."""

    serial: int
    grant_id: str
    person_id: str
    usage: Usage
    card_fingerprint: str
    holder_jkt: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    revoked_at: datetime | None
    revocation_reason: RevocationReason | None
    der: bytes

    @property
    def pem(self) -> str:
        """The certificate in PEM."""
        return _pem(self.der)

    @classmethod
    def from_row(cls, row: Row[Any]) -> IssuedCertificate:
        """Rebuild from an ``issuer_ca_certificate`` row."""
        return cls(
            serial=int(row.serial, 16),
            grant_id=row.grant_id,
            person_id=row.person_id,
            usage=row.usage,
            card_fingerprint=row.card_fingerprint,
            holder_jkt=row.holder_jkt,
            not_before=_from_millis(row.not_before),
            not_after=_from_millis(row.not_after),
            issued_at=_from_millis(row.issued_at),
            revoked_at=None if row.revoked_at is None else _from_millis(row.revoked_at),
            revocation_reason=row.revocation_reason,
            der=bytes(row.certificate),
        )


@dataclass(frozen=True)
class Root:
    """The xid CA's self-signed root: certificate and the identifiers OCSP and path building match on."""

    key_id: str
    der: bytes
    certificate: asn1_x509.Certificate
    key_identifier: bytes
    """SHA-1 of the root's subjectPublicKey (its SKI, the OCSP responder ID's key hash)."""
    issuer_hashes: dict[str, tuple[bytes, bytes]]
    """(issuerNameHash, issuerKeyHash) of OCSP CertIDs naming this root, by digest (sha1, sha256, sha384, sha512)."""

    @property
    def pem(self) -> str:
        """The root certificate in PEM."""
        return _pem(self.der)

    @property
    def not_after(self) -> datetime:
        """End of the root's validity."""
        value: datetime = self.certificate["tbs_certificate"]["validity"]["not_after"].native
        return value

    @classmethod
    def load(cls, key_id: str, der: bytes) -> Root:
        """A stored root certificate with its identifiers computed once."""
        certificate = asn1_x509.Certificate.load(der)
        tbs = certificate["tbs_certificate"]
        subject, key = tbs["subject"].dump(), _public_key_bits(tbs["subject_public_key_info"])
        hashes_by_name = {
            name: (digest(subject).digest(), digest(key).digest()) for name, digest in _CERTID_HASHES.items()
        }
        return cls(key_id, der, certificate, hashes_by_name["sha1"][1], hashes_by_name)

    def matches(self, algorithm: str, name_hash: bytes, key_hash: bytes) -> bool:
        """Whether an OCSP CertID's issuer hashes (under the named digest) are this root's."""
        return self.issuer_hashes.get(algorithm) == (name_hash, key_hash)


@dataclass(frozen=True)
class OcspAnswer:
    """A DER OCSPResponse and its status (``successful``, ``malformed_request``, ``unauthorized``, ...)."""

    der: bytes
    status: str


# -- DER building blocks ------------------------------------------------------------------------------------------


def _public_key_bits(spki: keys.PublicKeyInfo) -> bytes:
    """The subjectPublicKey BIT STRING's value without its unused-bits octet (what SKI and OCSP key hashes hash)."""
    contents: bytes = spki["public_key"].contents
    return contents[1:]


def _time(when: datetime) -> asn1_x509.Time:
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050
    return asn1_x509.Time({"utc_time" if when.year < 2050 else "general_time": when})


def _sign(signer: Signer, tbs: bytes) -> tuple[algos.SignedDigestAlgorithm, bytes]:
    """Sign DER through the CA signer; returns the X.509 AlgorithmIdentifier and the X.509 signature value."""
    spec = _CA_ALGORITHMS.get(signer.algorithm)
    if spec is None:
        raise CaKeyError(f"the CA key must sign with ES256, ES384 or EdDSA, not {signer.algorithm}")
    name, size = spec
    raw = signer.sign(tbs)
    if len(raw) != 2 * size:
        raise CaKeyError(f"the CA signer returned a {len(raw)}-byte {signer.algorithm} signature")
    if name == "ed25519":
        signature = raw
    else:
        signature = encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))
    return algos.SignedDigestAlgorithm({"algorithm": name}), signature


def _signer_spki(signer: Signer) -> keys.PublicKeyInfo:
    try:
        public = PublicKey.from_jwk(signer.public_jwk)
    except DidError as error:
        raise CaKeyError(f"the CA signer's public key is unusable: {error.message}") from None
    der = public.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return keys.PublicKeyInfo.load(der)


def _uri(value: str) -> asn1_x509.GeneralName:
    return asn1_x509.GeneralName(name="uniform_resource_identifier", value=value)


def _extension(name: str, value: Any, *, critical: bool = False) -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def _certificate(
    signer: Signer, tbs_fields: dict[str, Any], extensions: Sequence[asn1_x509.Extension]
) -> asn1_x509.Certificate:
    algorithm = algos.SignedDigestAlgorithm({"algorithm": _CA_ALGORITHMS[signer.algorithm][0]})
    tbs = asn1_x509.TbsCertificate(
        {"version": "v3", "signature": algorithm, **tbs_fields, "extensions": asn1_x509.Extensions(list(extensions))}
    )
    algorithm, signature = _sign(signer, tbs.dump())
    return asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
    )


def _serial(random: Callable[[int], bytes]) -> int:
    """A positive serial from 128 random bits (RFC 5280 §4.1.2.2: at most 20 octets)."""
    while True:
        value = int.from_bytes(random(16), "big")
        if value:
            return value


# -- CSR ----------------------------------------------------------------------------------------------------------


def _check_csr(der: bytes, holder_jwk: dict[str, Any]) -> tuple[keys.PublicKeyInfo, PublicKey]:
    """The CSR's verified public key (proof of possession); only the holder's own P-256, P-384 or Ed25519 key."""
    try:
        csr = x509.load_der_x509_csr(der)
    except (ValueError, x509.InvalidVersion):
        raise CsrError("the csr is not a DER PKCS#10 certification request") from None
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CsrError("the csr's public key cannot be read") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1):
            raise CsrError(f"the csr's key is on {key.curve.name}; only P-256, P-384 and Ed25519 keys are certified")
        try:
            algorithm = csr.signature_hash_algorithm
        except UnsupportedAlgorithm:
            raise CsrError("the csr's signature algorithm is not supported") from None
        if not isinstance(algorithm, _CSR_HASHES):
            raise CsrError("the csr must be signed with ECDSA and SHA-256, SHA-384 or SHA-512")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise CsrError(f"the csr's key is {type(key).__name__.removeprefix('_')}; only P-256, P-384 and Ed25519")
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        valid = False
    if not valid:
        raise CsrError("the csr's signature does not verify with its own key (no proof of possession)")
    public = PublicKey.from_cryptography(key)
    try:
        expected = jwk_thumbprint(holder_jwk)
    except DidError:
        raise CsrKeyMismatchError("the enrollment's holder key is not a usable JWK") from None
    if public.thumbprint() != expected:
        raise CsrKeyMismatchError("the csr's key is not the holder key this enrollment bound")
    spki_der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return keys.PublicKeyInfo.load(spki_der), public


# -- the CA -------------------------------------------------------------------------------------------------------


class XidCA:
    """The xid certification authority of one issuer: root, certificate issuance, CRL and OCSP."""

    def __init__(self, ctx: IssuerContext, *, pairwise: Pairwise) -> None:
        if ctx.ca_signer.algorithm not in _CA_ALGORITHMS:
            raise CaKeyError(f"the CA key must sign with ES256, ES384 or EdDSA, not {ctx.ca_signer.algorithm}")
        self.ctx = ctx
        self.pairwise = pairwise
        self._spki = _signer_spki(ctx.ca_signer)
        self._key_id = jwk_thumbprint(ctx.ca_signer.public_jwk)
        self._root: Root | None = None
        self._lock = threading.Lock()

    # -- root ----------------------------------------------------------------------------------------------------

    def root_name(self) -> str:
        """The root's common name (the ``ca_name`` setting, or the development/production default)."""
        settings = self.ctx.settings
        return settings.ca_name or ("xid TEST Root CA" if settings.development else "xid Root CA")

    def root(self) -> Root:
        """The root certificate of the CA key, created and stored on first use (one per key across processes)."""
        with self._lock:
            if self._root is None:
                self._root = self._load_or_create_root()
            return self._root

    def _load_root(self, conn: Connection) -> Root | None:
        der = conn.execute(select(ca_roots.c.certificate).where(ca_roots.c.key_id == self._key_id)).scalar()
        if der is None:
            return None
        return Root.load(self._key_id, bytes(der))

    def _load_or_create_root(self) -> Root:
        with transaction(self.ctx.engine) as conn:
            root = self._load_root(conn)
        if root is not None:
            return root
        der = self._build_root()
        try:
            with transaction(self.ctx.engine, write=True) as conn:
                root = self._load_root(conn)
                if root is None:
                    conn.execute(
                        ca_roots.insert().values(
                            key_id=self._key_id, certificate=der, created_at=_millis(self.ctx.clock()), crl_number=0
                        )
                    )
        except exc.IntegrityError as error:
            if not is_unique_violation(error):
                raise
        # whichever process inserted first, everyone now uses the stored root
        with transaction(self.ctx.engine) as conn:
            root = self._load_root(conn)
        if root is None:  # pragma: no cover - the insert above committed or another process's did
            raise CaError("the CA root could not be stored")
        return root

    def _build_root(self) -> bytes:
        now = self.ctx.clock().astimezone(UTC).replace(microsecond=0)
        name = asn1_x509.Name.build({"organization_name": "xid", "common_name": self.root_name()})
        key_identifier = hashlib.sha1(_public_key_bits(self._spki)).digest()  # noqa: S324 - RFC 5280 method (1)
        certificate = _certificate(
            self.ctx.ca_signer,
            {
                "serial_number": _serial(self.ctx.random),
                "issuer": name,
                "validity": {"not_before": _time(now - _BACKDATE), "not_after": _time(now + _ROOT_LIFETIME)},
                "subject": name,
                "subject_public_key_info": self._spki,
            },
            [
                _extension("basic_constraints", {"ca": True, "path_len_constraint": 0}, critical=True),
                _extension("key_usage", {"key_cert_sign", "crl_sign"}, critical=True),
                _extension("key_identifier", key_identifier),
            ],
        )
        der: bytes = certificate.dump()
        return der

    # -- issuance ------------------------------------------------------------------------------------------------

    def issue(self, holder: AuthorizedHolder, csr_der: bytes, usage: Usage) -> tuple[IssuedCertificate, bool]:
        """Certify the enrollment's holder key for a usage; returns the certificate and whether it is new.

        A grant gets one certificate per usage: asking again (with a valid CSR for the same key) returns the one
        already issued, unless it was revoked (CertificateRevokedError).
        """
        if usage not in USAGES:
            raise CsrError(f"usage must be one of {', '.join(USAGES)}")
        spki, public = _check_csr(csr_der, holder.holder_jwk)
        root = self.root()
        with transaction(self.ctx.engine) as conn:
            existing = _by_grant(conn, holder.grant_id, usage)
        if existing is not None:
            return _unless_revoked(existing), False
        pseudonym = self.pairwise(holder.person_id, CA_SECTOR)
        if not pseudonym or len(pseudonym) > _MAX_CN or not pseudonym.isprintable():
            raise CaError("the pairwise pseudonym does not fit a certificate's common name")
        for _ in range(2):  # a second try only if the random serial collided
            now = self.ctx.clock().astimezone(UTC).replace(microsecond=0)
            serial = _serial(self.ctx.random)
            if root.not_after <= now + _BACKDATE:
                raise CaKeyError("the CA root has expired; configure a new CA key (a new root is made for it)")
            not_after = min(now + self.ctx.settings.ca_certificate_validity, root.not_after)
            der = self._build_certificate(root, spki, public, pseudonym, usage, serial, now, not_after)
            values = {
                "serial": format(serial, "x"),
                "root_key_id": root.key_id,
                "grant_id": holder.grant_id,
                "person_id": holder.person_id,
                "usage": usage,
                "card_fingerprint": holder.certificate_fingerprint,
                "holder_jkt": public.thumbprint(),
                "not_before": _millis(now - _BACKDATE),
                "not_after": _millis(not_after),
                "issued_at": _millis(now),
                "certificate": der,
            }
            try:
                with transaction(self.ctx.engine, write=True) as conn:
                    existing = _by_grant(conn, holder.grant_id, usage)
                    if existing is not None:
                        return _unless_revoked(existing), False
                    conn.execute(ca_certificates.insert().values(**values))
                    return IssuedCertificate.from_row(_row_by_serial(conn, serial)), True
            except exc.IntegrityError as error:
                if not is_unique_violation(error):
                    raise
                with transaction(self.ctx.engine) as conn:
                    existing = _by_grant(conn, holder.grant_id, usage)
                if existing is not None:  # a concurrent request for the same grant and usage won
                    return _unless_revoked(existing), False
        raise CaError("could not allocate a unique certificate serial")  # pragma: no cover - 2^-128 twice

    def _build_certificate(
        self,
        root: Root,
        spki: keys.PublicKeyInfo,
        public: PublicKey,
        pseudonym: str,
        usage: Usage,
        serial: int,
        now: datetime,
        not_after: datetime,
    ) -> bytes:
        ctx = self.ctx
        if usage == "authentication":
            key_usage: set[str] = {"digital_signature"}
            purposes = ["client_auth"]
        else:
            key_usage = {"digital_signature", "non_repudiation"}
            purposes = [DOCUMENT_SIGNING, "email_protection"]
        subject_key = hashlib.sha1(_public_key_bits(spki)).digest()  # noqa: S324 - RFC 5280 §4.2.1.2 method (1)
        certificate = _certificate(
            ctx.ca_signer,
            {
                "serial_number": serial,
                "issuer": root.certificate["tbs_certificate"]["subject"],
                "validity": {"not_before": _time(now - _BACKDATE), "not_after": _time(not_after)},
                "subject": asn1_x509.Name.build({"organization_name": "xid", "common_name": pseudonym}),
                "subject_public_key_info": spki,
            },
            [
                _extension("basic_constraints", {"ca": False}, critical=True),
                _extension("key_usage", key_usage, critical=True),
                _extension("extended_key_usage", purposes),
                _extension("key_identifier", subject_key),
                _extension("authority_key_identifier", {"key_identifier": root.key_identifier}),
                _extension("subject_alt_name", [_uri(did_jwk.create(public))]),
                _extension(
                    "authority_information_access",
                    [
                        {"access_method": "ocsp", "access_location": _uri(ctx.url("/ca/ocsp"))},
                        {"access_method": "ca_issuers", "access_location": _uri(ctx.url("/ca/root.cer"))},
                    ],
                ),
                _extension(
                    "crl_distribution_points",
                    [{"distribution_point": {"full_name": [_uri(ctx.url("/ca/crl"))]}}],
                ),
            ],
        )
        der: bytes = certificate.dump()
        return der

    def service_certificate(self, public_jwk: dict[str, Any], dns_name: str, validity: timedelta) -> bytes:
        """A certificate (DER) for one of this deployment's own service keys, e.g. the verifier's request-signing key.

        Subject ``O=xid, CN=<dns_name>``, a dNSName SAN (what OpenID4VP's ``x509_san_dns`` client identifiers name),
        keyUsage digitalSignature, no EKU restriction beyond it; not recorded per person (it belongs to no grant),
        so it is short-lived and re-issued at each start instead of being revoked.
        """
        public = PublicKey.from_jwk(public_jwk)
        spki_der = public.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        spki = keys.PublicKeyInfo.load(spki_der)
        root = self.root()
        now = self.ctx.clock()
        not_after = min(now + validity, root.not_after)
        subject_key = hashlib.sha1(_public_key_bits(spki)).digest()  # noqa: S324 - RFC 5280 §4.2.1.2 method (1)
        certificate = _certificate(
            self.ctx.ca_signer,
            {
                "serial_number": _serial(self.ctx.random),
                "issuer": root.certificate["tbs_certificate"]["subject"],
                "validity": {"not_before": _time(now - _BACKDATE), "not_after": _time(not_after)},
                "subject": asn1_x509.Name.build({"organization_name": "xid", "common_name": dns_name}),
                "subject_public_key_info": spki,
            },
            [
                _extension("basic_constraints", {"ca": False}, critical=True),
                _extension("key_usage", {"digital_signature"}, critical=True),
                _extension("key_identifier", subject_key),
                _extension("authority_key_identifier", {"key_identifier": root.key_identifier}),
                _extension("subject_alt_name", [asn1_x509.GeneralName(name="dns_name", value=dns_name)]),
            ],
        )
        der: bytes = certificate.dump()
        return der

    # -- CRL -----------------------------------------------------------------------------------------------------

    def crl(self) -> tuple[bytes, int, datetime]:
        """The current CRL (DER), its number and thisUpdate; signed anew after a revocation or half its validity."""
        root = self.root()
        now = self.ctx.clock().astimezone(UTC).replace(microsecond=0)
        refresh_after = self.ctx.settings.ca_crl_validity / 2
        with transaction(self.ctx.engine) as conn:
            row = _crl_row(conn, root.key_id)
        if _fresh(row, now, refresh_after):
            return bytes(row.crl), int(row.crl_number), _from_millis(row.crl_this_update)
        with transaction(self.ctx.engine, write=True) as conn:
            row = _crl_row(conn, root.key_id, for_update=True)
            if _fresh(row, now, refresh_after):  # another process signed one meanwhile
                return bytes(row.crl), int(row.crl_number), _from_millis(row.crl_this_update)
            number = int(row.crl_number) + 1
            der = self._build_crl(conn, root, number, now)
            conn.execute(
                update(ca_roots)
                .where(ca_roots.c.key_id == root.key_id)
                .values(
                    crl=der,
                    crl_number=number,
                    crl_this_update=_millis(now),
                    crl_next_update=_millis(now + self.ctx.settings.ca_crl_validity),
                )
            )
        return der, number, now

    def _build_crl(self, conn: Connection, root: Root, number: int, now: datetime) -> bytes:
        rows = conn.execute(
            select(ca_certificates.c.serial, ca_certificates.c.revoked_at, ca_certificates.c.revocation_reason)
            .where(
                ca_certificates.c.root_key_id == root.key_id,
                ca_certificates.c.revoked_at.is_not(None),
                ca_certificates.c.not_after > _millis(now),  # RFC 5280 §5: expired entries may be dropped
            )
            .order_by(ca_certificates.c.revoked_at, ca_certificates.c.serial)
        ).all()
        entries = []
        for row in rows:
            entry: dict[str, Any] = {
                "user_certificate": int(row.serial, 16),
                "revocation_date": _time(_from_millis(row.revoked_at).replace(microsecond=0)),
            }
            if row.revocation_reason not in (None, "unspecified"):  # §5.3.1: omit rather than say unspecified
                entry["crl_entry_extensions"] = [
                    {"extn_id": "crl_reason", "extn_value": _ASN1_REASONS[row.revocation_reason]}
                ]
            entries.append(entry)
        algorithm = algos.SignedDigestAlgorithm({"algorithm": _CA_ALGORITHMS[self.ctx.ca_signer.algorithm][0]})
        fields: dict[str, Any] = {
            "version": "v2",
            "signature": algorithm,
            "issuer": root.certificate["tbs_certificate"]["subject"],
            "this_update": _time(now),
            "next_update": _time(now + self.ctx.settings.ca_crl_validity),
            "crl_extensions": [
                {"extn_id": "authority_key_identifier", "extn_value": {"key_identifier": root.key_identifier}},
                {"extn_id": "crl_number", "extn_value": number},
            ],
        }
        if entries:  # §5.1.2.6: absent when nothing is revoked
            fields["revoked_certificates"] = entries
        tbs = asn1_crl.TbsCertList(fields)
        algorithm, signature = _sign(self.ctx.ca_signer, tbs.dump())
        der: bytes = asn1_crl.CertificateList(
            {"tbs_cert_list": tbs, "signature_algorithm": algorithm, "signature": signature}
        ).dump()
        return der

    # -- OCSP ----------------------------------------------------------------------------------------------------

    def ocsp(self, request_der: bytes) -> OcspAnswer:
        """Answer a DER OCSP request (RFC 6960): signed good/revoked/unknown, or an unsuccessful status."""
        parsed = _parse_ocsp_request(request_der)
        if parsed is None:
            return _unsuccessful("malformed_request")
        cert_ids, nonce = parsed
        root = self.root()
        for cert_id in cert_ids:
            if not root.matches(
                cert_id["hash_algorithm"]["algorithm"].native,
                cert_id["issuer_name_hash"].native,
                cert_id["issuer_key_hash"].native,
            ):
                return _unsuccessful("unauthorized")
        now = self.ctx.clock().astimezone(UTC).replace(microsecond=0)
        serials = [format(cert_id["serial_number"].native, "x") for cert_id in cert_ids]
        with transaction(self.ctx.engine) as conn:
            rows = {
                row.serial: row
                for row in conn.execute(
                    select(
                        ca_certificates.c.serial, ca_certificates.c.revoked_at, ca_certificates.c.revocation_reason
                    ).where(ca_certificates.c.root_key_id == root.key_id, ca_certificates.c.serial.in_(serials))
                ).all()
            }
        responses = []
        for cert_id, serial in zip(cert_ids, serials, strict=True):
            row = rows.get(serial)
            if row is None:
                status = ocsp.CertStatus(name="unknown", value=core.Null())
            elif row.revoked_at is None:
                status = ocsp.CertStatus(name="good", value=core.Null())
            else:
                info: dict[str, Any] = {"revocation_time": _from_millis(row.revoked_at).replace(microsecond=0)}
                if row.revocation_reason != "unspecified":
                    info["revocation_reason"] = _ASN1_REASONS[row.revocation_reason]
                status = ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(info))
            responses.append(
                {
                    "cert_id": ocsp.CertId(  # the request's CertID, re-encoded: nothing it smuggled in is echoed
                        {
                            "hash_algorithm": {"algorithm": cert_id["hash_algorithm"]["algorithm"].native},
                            "issuer_name_hash": cert_id["issuer_name_hash"].native,
                            "issuer_key_hash": cert_id["issuer_key_hash"].native,
                            "serial_number": cert_id["serial_number"].native,
                        }
                    ),
                    "cert_status": status,
                    "this_update": now,
                    "next_update": now + self.ctx.settings.ca_ocsp_validity,
                }
            )
        data: dict[str, Any] = {
            "responder_id": ocsp.ResponderId(name="by_key", value=root.key_identifier),
            "produced_at": now,
            "responses": responses,
        }
        if nonce is not None:
            data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
        tbs = ocsp.ResponseData(data)
        algorithm, signature = _sign(self.ctx.ca_signer, tbs.dump())
        basic = ocsp.BasicOCSPResponse(
            {"tbs_response_data": tbs, "signature_algorithm": algorithm, "signature": signature}
        )
        response = ocsp.OCSPResponse(
            {
                "response_status": "successful",
                "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
            }
        )
        return OcspAnswer(response.dump(), "successful")

    # -- operations ----------------------------------------------------------------------------------------------

    def revoke(self, conn: Connection, serial: int, reason: str = "unspecified") -> bool:
        """Revoke a certificate (see the module function ``revoke``)."""
        return revoke(self.ctx, conn, serial, reason)

    def revoke_from_card(
        self, conn: Connection, certificate_fingerprint: str, reason: str = "privilegeWithdrawn"
    ) -> int:
        """Revoke what was issued on a card certificate (see the module function ``revoke_from_card``)."""
        return revoke_from_card(self.ctx, conn, certificate_fingerprint, reason)

    def certificates_of(self, conn: Connection, person_id: str) -> list[IssuedCertificate]:
        """Every certificate issued to a person (see the module function ``certificates_of``)."""
        return certificates_of(self.ctx, conn, person_id)


# -- helpers of the CA --------------------------------------------------------------------------------------------


def _row_by_serial(conn: Connection, serial: int) -> Row[Any]:
    return conn.execute(select(ca_certificates).where(ca_certificates.c.serial == format(serial, "x"))).one()


def _by_grant(conn: Connection, grant_id: str, usage: str) -> IssuedCertificate | None:
    row = conn.execute(
        select(ca_certificates).where(ca_certificates.c.grant_id == grant_id, ca_certificates.c.usage == usage)
    ).first()
    return None if row is None else IssuedCertificate.from_row(row)


def _unless_revoked(certificate: IssuedCertificate) -> IssuedCertificate:
    if certificate.revoked_at is not None:
        raise CertificateRevokedError(
            f"this enrollment's {certificate.usage} certificate was revoked; enroll again for a new one"
        )
    return certificate


def _crl_row(conn: Connection, key_id: str, *, for_update: bool = False) -> Row[Any, Any, Any, Any]:
    query = select(ca_roots.c.crl, ca_roots.c.crl_number, ca_roots.c.crl_this_update, ca_roots.c.crl_next_update).where(
        ca_roots.c.key_id == key_id
    )
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).one()


def _fresh(row: Row[Any, Any, Any, Any], now: datetime, refresh_after: timedelta) -> bool:
    return row.crl is not None and now < _from_millis(row.crl_this_update) + refresh_after


def _parse_ocsp_request(der: bytes) -> tuple[list[ocsp.CertId], bytes | None] | None:
    """The CertIDs and nonce of a DER OCSPRequest, or None when it is malformed (or its nonce is not 1-32 bytes)."""
    try:
        request = ocsp.OCSPRequest.load(der, strict=True)
        tbs = request["tbs_request"]
        cert_ids = [item["req_cert"] for item in tbs["request_list"]]
        if not 1 <= len(cert_ids) <= _MAX_OCSP_REQUESTS:
            return None
        for cert_id in cert_ids:
            algorithm = cert_id["hash_algorithm"]["algorithm"].native
            name_hash, key_hash = cert_id["issuer_name_hash"].native, cert_id["issuer_key_hash"].native
            serial = cert_id["serial_number"].native
            digest = _CERTID_HASHES.get(algorithm)
            if digest is None or not isinstance(serial, int) or serial < 0:
                return None
            if len(name_hash) != digest().digest_size or len(key_hash) != digest().digest_size:
                return None
        nonce: bytes | None = None
        for extension in tbs["request_extensions"] or []:
            if extension["extn_id"].native == "nonce":
                if nonce is not None:
                    return None
                value = extension["extn_value"].parsed.native
                if not isinstance(value, bytes) or not 1 <= len(value) <= _MAX_NONCE:
                    return None
                nonce = value
    except Exception:  # asn1crypto raises ValueError, TypeError, KeyError, ... on malformed DER
        return None
    return cert_ids, nonce


def _unsuccessful(status: str) -> OcspAnswer:
    return OcspAnswer(ocsp.OCSPResponse({"response_status": status}).dump(), status)


# -- operations ---------------------------------------------------------------------------------------------------


def _reason(reason: str) -> RevocationReason:
    for known in REVOCATION_REASONS:
        if reason == known:
            return known
    raise RevocationReasonError(f"the revocation reason must be one of {', '.join(REVOCATION_REASONS)}")


def _invalidate_crl(conn: Connection, root_key_ids: set[str]) -> None:
    if root_key_ids:
        conn.execute(update(ca_roots).where(ca_roots.c.key_id.in_(root_key_ids)).values(crl=None))


def revoke(ctx: IssuerContext, conn: Connection, serial: int, reason: str = "unspecified") -> bool:
    """Revoke a certificate by serial in the caller's transaction; False when it was already revoked.

    The first revocation's time and reason stay. Raises UnknownCertificateError or RevocationReasonError.
    """
    checked = _reason(reason)
    key = format(serial, "x")
    root_key_id = conn.execute(select(ca_certificates.c.root_key_id).where(ca_certificates.c.serial == key)).scalar()
    if root_key_id is None:
        raise UnknownCertificateError(f"no xid CA certificate has the serial {key}")
    changed = conn.execute(
        update(ca_certificates)
        .where(ca_certificates.c.serial == key, ca_certificates.c.revoked_at.is_(None))
        .values(revoked_at=_millis(ctx.clock()), revocation_reason=checked)
    ).rowcount
    if changed:
        _invalidate_crl(conn, {root_key_id})
    return bool(changed)


def revoke_from_card(
    ctx: IssuerContext, conn: Connection, certificate_fingerprint: str, reason: str = "privilegeWithdrawn"
) -> int:
    """Revoke every unrevoked certificate issued on a card certificate (by its SHA-256); returns how many."""
    checked = _reason(reason)
    where = (
        ca_certificates.c.card_fingerprint == certificate_fingerprint.lower(),
        ca_certificates.c.revoked_at.is_(None),
    )
    roots = set(conn.execute(select(ca_certificates.c.root_key_id).where(*where).distinct()).scalars())
    changed = conn.execute(
        update(ca_certificates).where(*where).values(revoked_at=_millis(ctx.clock()), revocation_reason=checked)
    ).rowcount
    if changed:
        _invalidate_crl(conn, roots)
    return int(changed)


def certificates_of(ctx: IssuerContext, conn: Connection, person_id: str) -> list[IssuedCertificate]:
    """Every certificate issued to a person, oldest first."""
    rows = conn.execute(
        select(ca_certificates)
        .where(ca_certificates.c.person_id == person_id)
        .order_by(ca_certificates.c.issued_at, ca_certificates.c.serial)
    ).all()
    return [IssuedCertificate.from_row(row) for row in rows]


def merge_person(conn: Connection, merged: str, into: str) -> int:
    """Record the certificates of a merged person under the person it was merged into; returns how many moved."""
    return int(
        conn.execute(
            update(ca_certificates).where(ca_certificates.c.person_id == merged).values(person_id=into)
        ).rowcount
    )
