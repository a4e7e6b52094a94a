"""JPKI trust: pinned root anchors, chain validation with pyhanko-certvalidator, revocation, card signatures.

JPKI has no intermediates: each user certificate is signed directly by one of several self-signed root generations
of its tree, and the generations of one tree share a DN (docs/jpki.md §2.1). Anchors are therefore matched by key, never
by name alone. Production anchors are the J-LIS roots, loaded from operator-supplied files and accepted only when
their SHA-256 fingerprint is one of ``PINNED_JLIS_ROOTS`` (never trust the CA certificate read from the card).
Path building and validation — the issuer's signature, validity at the given time, key usage, certificate policy,
critical extensions — are pyhanko-certvalidator's; revocation is then checked by the chosen ``RevocationProvider``
(``jpki_bridge.revocation``), whose outcome the ``ValidationResult`` reports: "chain verified, revocation not
checked" is said so, never implied good.

Errors (all ``JpkiError``; revocation errors are in ``jpki_bridge.revocation``)::

    TrustError                          trustError
    ├── CertificateExpiredError         certificateExpired        the certificate's notAfter has passed
    │   └── RootExpiredError            rootExpired               the root it chains to had expired
    ├── CertificateNotYetValidError     certificateNotYetValid    the certificate's notBefore is in the future
    │   └── RootNotYetValidError        rootNotYetValid
    ├── UntrustedRootError              untrustedRoot             no anchor of the purpose's tree has the issuer's name
    ├── RootKeyMismatchError            rootKeyMismatch           an anchor has the name, but its key did not sign
    ├── WrongKeyUsageError              wrongKeyUsage             key usage (or tree) does not fit the purpose
    ├── WrongPolicyError                wrongPolicy               no acceptable certificate policy
    ├── ChainValidationError            chainInvalid              any other path-validation failure
    ├── TrustAnchorError                trustAnchorError          a trust-anchor file is unusable
    │   └── UnpinnedAnchorError         unpinnedAnchor            its fingerprint is not a pinned J-LIS root
    └── CardSignatureError              cardSignatureInvalid      the card's signature does not verify
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko_certvalidator import CertificateValidator, PKIXValidationParams, ValidationContext
from pyhanko_certvalidator.authority import AuthorityWithCert, CertTrustAnchor, TrustQualifiers
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathError,
    PathValidationError,
    ValidationError,
)
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.validate import validate_usage

from jpki_bridge import profile
from jpki_bridge.errors import JpkiError
from jpki_bridge.revocation import RevocationOutcome, RevocationProvider

__all__ = [
    "PINNED_JLIS_ROOTS",
    "Anchor",
    "CardSignatureError",
    "CertificateExpiredError",
    "CertificateNotYetValidError",
    "ChainValidationError",
    "PinnedRoot",
    "Purpose",
    "RootExpiredError",
    "RootKeyMismatchError",
    "RootNotYetValidError",
    "TrustAnchorError",
    "TrustAnchors",
    "TrustError",
    "UnpinnedAnchorError",
    "UntrustedRootError",
    "ValidationResult",
    "WrongKeyUsageError",
    "WrongPolicyError",
    "digest_info_sha256",
    "fingerprint",
    "validate_chain",
    "verify_card_signature",
]

Purpose = Literal["sign", "auth"]
_T = TypeVar("_T")


class TrustError(JpkiError):
    """A certificate does not chain, for the purpose asked, to a configured trust anchor."""

    code = "trustError"


class CertificateExpiredError(TrustError):
    """The certificate had expired at the validation time."""

    code = "certificateExpired"


class RootExpiredError(CertificateExpiredError):
    """The root the certificate chains to had expired at the validation time."""

    code = "rootExpired"


class CertificateNotYetValidError(TrustError):
    """The certificate was not yet valid at the validation time."""

    code = "certificateNotYetValid"


class RootNotYetValidError(CertificateNotYetValidError):
    """The root the certificate chains to was not yet valid at the validation time."""

    code = "rootNotYetValid"


class UntrustedRootError(TrustError):
    """The certificate's issuer is not among the trust anchors for the purpose."""

    code = "untrustedRoot"


class RootKeyMismatchError(TrustError):
    """A trust anchor has the issuer's name, but the certificate was not signed with that anchor's key."""

    code = "rootKeyMismatch"


class WrongKeyUsageError(TrustError):
    """The certificate's key usage (or tree) does not fit the requested purpose."""

    code = "wrongKeyUsage"


class WrongPolicyError(TrustError):
    """The certificate carries none of the certificate policies acceptable for the purpose."""

    code = "wrongPolicy"


class ChainValidationError(TrustError):
    """Path validation failed for another reason (e.g. a disallowed algorithm, an unknown critical extension)."""

    code = "chainInvalid"


class TrustAnchorError(TrustError):
    """A trust-anchor certificate is unusable (unreadable, not a self-signed CA certificate)."""

    code = "trustAnchorError"


class UnpinnedAnchorError(TrustAnchorError):
    """A supplied root certificate's fingerprint is not one of the pinned J-LIS roots."""

    code = "unpinnedAnchor"


class CardSignatureError(TrustError):
    """A signature made by the card does not verify under the certificate's key."""

    code = "cardSignatureInvalid"


@dataclass(frozen=True)
class PinnedRoot:
    """A J-LIS root generation known by its SHA-256 fingerprint (docs/jpki.md §2.1)."""

    tree: Purpose
    label: str
    fingerprint: str
    not_after: dt.date


PINNED_JLIS_ROOTS: tuple[PinnedRoot, ...] = (
    PinnedRoot(
        "sign", "signca01", "19645405A1FE14377434BD55957628AC4038557C542403A2243F21C706FC9355", dt.date(2025, 10, 19)
    ),
    PinnedRoot(
        "sign", "signca02", "79679C33E4CC9319440F1AD120A597FF1844E2EF217063ADB176966FD5E6FBEB", dt.date(2029, 9, 14)
    ),
    PinnedRoot(
        "sign", "signca03", "D227F6CDE11D35C5252178F106F843D24651944975413B539FA2FB68DBFA365F", dt.date(2033, 7, 15)
    ),
    PinnedRoot(
        "auth", "authca01", "4DCFC4CA0AAF9FB2A3081B3F0C991C320B3ACC008667A341EEAEC5AF1D58CA7D", dt.date(2025, 10, 19)
    ),
    PinnedRoot(
        "auth", "authca03", "64114F29620C24ED2631D46476A040E7EE740D956089C00B036A6A8118C322B5", dt.date(2033, 7, 15)
    ),
)
"""The J-LIS root fingerprints (docs/jpki.md §2.1). authca02 (2019-09-14 → 2029-09-14) is live but its
fingerprint was not recorded: an operator who checked it against J-LIS's published fingerprint list passes it to
``TrustAnchors.from_jlis_files(extra_pins=...)``."""


def fingerprint(cert: x509.Certificate) -> str:
    """Upper-case hex SHA-256 of the certificate's DER encoding."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


@dataclass(frozen=True)
class Anchor:
    """One trusted root: which tree it anchors, a label, the certificate and its SHA-256 fingerprint."""

    tree: Purpose
    label: str
    certificate: x509.Certificate

    @property
    def fingerprint(self) -> str:
        """Upper-case hex SHA-256 of the root's DER."""
        return fingerprint(self.certificate)


def _check_anchor_certificate(cert: x509.Certificate, where: str) -> None:
    try:
        cert = profile.load_certificate(cert)  # decodes names and extensions, which cryptography defers
    except profile.CertificateParseError as exc:
        raise TrustAnchorError(f"{where}: {exc.message}") from None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise TrustAnchorError(f"{where}: a trust anchor must have basicConstraints CA:TRUE") from None
    if not constraints.ca:
        raise TrustAnchorError(f"{where}: a trust anchor must have basicConstraints CA:TRUE")
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        raise TrustAnchorError(f"{where}: a trust anchor must be a correctly self-signed certificate") from None


def _read_certificates(path: Path) -> list[x509.Certificate]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TrustAnchorError(f"{path}: cannot read the root certificate file ({type(exc).__name__})") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, x509.InvalidVersion):
        raise TrustAnchorError(f"{path}: not a DER or PEM certificate") from None


class TrustAnchors:
    """The roots trusted for sign and auth certificates, and the certificate policies acceptable for each."""

    def __init__(
        self,
        anchors: Iterable[Anchor],
        *,
        sign_policies: Iterable[str] = (profile.SIGN_POLICY_OID,),
        auth_policies: Iterable[str] = (profile.AUTH_POLICY_OID,),
    ) -> None:
        self._anchors = tuple(anchors)
        self._managers: dict[Purpose, SimpleTrustManager] = {}
        self.policies: dict[Purpose, frozenset[str]] = {
            "sign": frozenset(sign_policies),
            "auth": frozenset(auth_policies),
        }
        for purpose, policies in self.policies.items():
            if not policies:
                raise ValueError(f"at least one acceptable {purpose} policy OID is required")
        for anchor in self._anchors:
            _check_anchor_certificate(anchor.certificate, anchor.label)

    def _trust_manager(self, purpose: Purpose) -> SimpleTrustManager:
        """pyhanko's trust manager over the anchors of a purpose, built once (the anchors never change)."""
        cached = self._managers.get(purpose)
        if cached is None:
            roots = [
                CertTrustAnchor(
                    asn1_x509.Certificate.load(anchor.certificate.public_bytes(serialization.Encoding.DER)),
                    quals=TrustQualifiers(
                        valid_from=anchor.certificate.not_valid_before_utc,
                        valid_until=anchor.certificate.not_valid_after_utc,
                    ),
                )
                for anchor in self.anchors(purpose)
            ]
            cached = self._managers[purpose] = SimpleTrustManager.build(trust_roots=roots)
        return cached

    @classmethod
    def from_jlis_files(
        cls,
        paths: Iterable[Path],
        *,
        extra_pins: Mapping[str, tuple[Purpose, str]] | None = None,
        sign_policies: Iterable[str] = (profile.SIGN_POLICY_OID,),
        auth_policies: Iterable[str] = (profile.AUTH_POLICY_OID,),
    ) -> TrustAnchors:
        """Production anchors: J-LIS root files (DER or PEM), each accepted only if its fingerprint is pinned.

        ``extra_pins`` maps further SHA-256 fingerprints (hex, any case, colons allowed) to (tree, label), for a
        root whose fingerprint the reference lacks (authca02) or a future generation, after the operator has
        compared it with J-LIS's published fingerprint list.
        """
        pins = {pin.fingerprint: (pin.tree, pin.label) for pin in PINNED_JLIS_ROOTS}
        for raw, (tree, label) in (extra_pins or {}).items():
            normalised = raw.replace(":", "").upper()
            if len(normalised) != 64 or any(c not in "0123456789ABCDEF" for c in normalised):
                raise ValueError(f"extra pin for {label} is not a SHA-256 fingerprint")
            if tree not in ("sign", "auth"):
                raise ValueError(f"extra pin for {label}: tree must be 'sign' or 'auth'")
            pins[normalised] = (tree, label)
        anchors: list[Anchor] = []
        for path in paths:
            for cert in _read_certificates(path):
                digest = fingerprint(cert)
                if digest not in pins:
                    raise UnpinnedAnchorError(f"{path}: SHA-256 {digest} is not a pinned J-LIS root")
                tree, label = pins[digest]
                anchors.append(Anchor(tree, label, cert))
        if not anchors:
            raise TrustAnchorError("no J-LIS root certificate was supplied")
        return cls(anchors, sign_policies=sign_policies, auth_policies=auth_policies)

    @classmethod
    def for_testing(
        cls,
        *,
        sign: Iterable[x509.Certificate],
        auth: Iterable[x509.Certificate],
        sign_policies: Iterable[str] = (profile.SIGN_POLICY_OID,),
        auth_policies: Iterable[str] = (profile.AUTH_POLICY_OID,),
    ) -> TrustAnchors:
        """Anchors from given root certificates without pinning (the test CA's roots)."""
        anchors = [Anchor("sign", f"sign-{i + 1:02d}", cert) for i, cert in enumerate(sign)]
        anchors += [Anchor("auth", f"auth-{i + 1:02d}", cert) for i, cert in enumerate(auth)]
        return cls(anchors, sign_policies=sign_policies, auth_policies=auth_policies)

    def anchors(self, purpose: Purpose) -> tuple[Anchor, ...]:
        """The anchors of one tree."""
        return tuple(anchor for anchor in self._anchors if anchor.tree == purpose)

    def _by_der(self, der: bytes) -> Anchor | None:
        for anchor in self._anchors:
            if anchor.certificate.public_bytes(serialization.Encoding.DER) == der:
                return anchor
        return None


@dataclass(frozen=True)
class ValidationResult:
    """A validated chain: the certificate, its purpose, the root it chains to, and the revocation outcome."""

    certificate: x509.Certificate
    purpose: Purpose
    root: Anchor
    at: dt.datetime
    policies: frozenset[str]
    revocation: RevocationOutcome

    @property
    def revocation_checked(self) -> bool:
        """True only when a provider actually established that the certificate was not revoked."""
        return self.revocation.checked

    @property
    def summary(self) -> str:
        """One line for people and logs (no personal data)."""
        head = f"chain verified to {self.root.label} ({self.root.fingerprint[:16]}…) at {self.at.isoformat()}"
        if not self.revocation.checked:
            return f"{head}, revocation not checked"
        return f"{head}, {self.revocation.description}"


_TREE_NAMES: dict[Purpose, str] = {"sign": "signature", "auth": "user authentication"}
_KEY_USAGE: dict[Purpose, set[str]] = {
    "sign": {"digital_signature", "non_repudiation"},
    "auth": {"digital_signature"},
}
_NO_REVOCATION_BY_PYHANKO = CertRevTrustPolicy(
    RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.NO_CHECK,
        intermediate_ca_cert_rule=RevocationCheckingRule.NO_CHECK,
    )
)


def _run(coroutine: Coroutine[object, object, _T]) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside an event loop: run the (CPU-only) validation on a private loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _policies_of(cert: x509.Certificate) -> frozenset[str]:
    try:
        value = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(info.policy_identifier.dotted_string for info in value)


def validate_chain(
    cert: x509.Certificate | bytes,
    anchors: TrustAnchors,
    at: dt.datetime,
    purpose: Purpose,
    revocation: RevocationProvider,
    *,
    time_tolerance: dt.timedelta = dt.timedelta(seconds=1),
) -> ValidationResult:
    """Validate a card certificate for a purpose at a time against the anchors, then check revocation.

    Raises a ``TrustError`` subclass for chain problems and a ``RevocationError`` subclass when the provider cannot
    establish that the certificate was not revoked (``UncheckedProvider`` makes that explicit instead).
    """
    if purpose not in ("sign", "auth"):
        raise ValueError("purpose must be 'sign' or 'auth'")
    if at.tzinfo is None:
        raise ValueError("the validation time must be timezone-aware")
    parsed = profile.load_certificate(cert)
    policies = anchors.policies[purpose]
    try:
        end_entity = asn1_x509.Certificate.load(parsed.public_bytes(serialization.Encoding.DER))
        context = ValidationContext(
            trust_manager=anchors._trust_manager(purpose),
            moment=at,
            revinfo_policy=_NO_REVOCATION_BY_PYHANKO,
            time_tolerance=time_tolerance,
        )
        validator = CertificateValidator(
            end_entity,
            validation_context=context,
            pkix_params=PKIXValidationParams(user_initial_policy_set=policies, initial_explicit_policy=True),
        )
        path = _run(validator.async_validate_path())
        validate_usage(end_entity, _KEY_USAGE[purpose], set(), True)
    except (PathError, ValidationError) as exc:
        raise _classify(exc, parsed, anchors, purpose) from None
    except ValueError:
        raise profile.CertificateParseError("the certificate could not be decoded for path validation") from None
    authority = path.trust_anchor.authority
    root = anchors._by_der(authority.certificate.dump()) if isinstance(authority, AuthorityWithCert) else None
    if root is None:  # pragma: no cover - pyhanko only returns anchors we gave it
        raise UntrustedRootError("the validated path ends at a root that is not a configured anchor")
    outcome = revocation.check(parsed, root.certificate, at)
    return ValidationResult(parsed, purpose, root, at, _policies_of(parsed) & policies, outcome)


def _classify(
    exc: PathError | ValidationError, cert: x509.Certificate, anchors: TrustAnchors, purpose: Purpose
) -> TrustError:
    """Turn a pyhanko-certvalidator failure into the specific TrustError a caller can act on."""
    own = [a for a in anchors.anchors(purpose) if a.certificate.subject == cert.issuer]
    other: Purpose = "auth" if purpose == "sign" else "sign"
    if isinstance(exc, ExpiredError):
        if getattr(exc, "is_ee_cert", True):
            return CertificateExpiredError(f"the certificate expired at {cert.not_valid_after_utc.isoformat()}")
        return RootExpiredError(f"the root it chains to expired at {exc.expired_dt.isoformat()}")
    if isinstance(exc, NotYetValidError):
        if getattr(exc, "is_ee_cert", True):
            return CertificateNotYetValidError(
                f"the certificate is valid only from {cert.not_valid_before_utc.isoformat()}"
            )
        return RootNotYetValidError(f"the root it chains to is valid only from {exc.valid_from.isoformat()}")
    if isinstance(exc, DisallowedAlgorithmError):
        return ChainValidationError(f"the chain uses a disallowed algorithm: {exc.failure_msg}")
    if isinstance(exc, PathBuildingError | InvalidCertificateError) and not isinstance(exc, PathValidationError):
        if isinstance(exc, InvalidCertificateError) and "purpose" in str(exc):
            return WrongKeyUsageError(f"the certificate's key usage does not allow {purpose}: {exc}")
        if own:
            return RootKeyMismatchError(
                "a trusted root has the issuer's name, but none of the trusted roots' keys issued the certificate "
                "(a forged root with the same name?)"
            )
        if any(a.certificate.subject == cert.issuer for a in anchors.anchors(other)):
            return WrongKeyUsageError(
                f"this certificate is from the {_TREE_NAMES[other]} tree; "
                f"a {_TREE_NAMES[purpose]} certificate is required"
            )
        return UntrustedRootError("the certificate's issuer is not a trusted JPKI root for this purpose")
    if isinstance(exc, PathValidationError):
        message = str(exc)
        if "signature" in message and "could not be verified" in message:
            return RootKeyMismatchError(
                "the certificate names a trusted root as issuer, but its signature does not verify under that root's "
                "key (a forged root with the same name, or a tampered certificate)"
            )
        if "policies" in message or not (_policies_of(cert) & anchors.policies[purpose]):
            return WrongPolicyError(
                f"the certificate carries none of the acceptable {purpose} policies "
                f"({', '.join(sorted(anchors.policies[purpose]))})"
            )
        return ChainValidationError(f"the chain is not valid: {message}")
    return ChainValidationError(f"the chain is not valid: {exc}")


def verify_card_signature(cert: x509.Certificate | bytes, data: bytes, signature: bytes) -> None:
    """Verify an RSA PKCS#1 v1.5 SHA-256 signature the card made over ``data``; raise CardSignatureError if bad."""
    parsed = profile.load_certificate(cert)
    key = parsed.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CardSignatureError("the certificate's key is not RSA, so it is not a JPKI card key")
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise CardSignatureError("the card signature does not verify under the certificate's key") from None


def digest_info_sha256(data: bytes) -> bytes:
    """The 51-byte SHA-256 DigestInfo the card is asked to sign for ``data`` (docs/jpki.md §1.5)."""
    prefix = bytes.fromhex("3031300d060960864801650304020105000420")
    return prefix + hashlib.sha256(data).digest()
