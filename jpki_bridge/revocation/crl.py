"""Revocation by CRL (RFC 5280): complete, direct CRLs of the certificate's root from files or HTTP URLs."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jpki_bridge.revocation.common import (
    DEFAULT_SKEW,
    Clock,
    RevocationMode,
    RevocationOutcome,
    aware_utc,
    check_dates,
    decoding,
    fetch_answer,
    raise_if_revoked,
    utc_now,
)
from jpki_bridge.revocation.errors import (
    CrlSignatureError,
    RevocationResponseError,
    RevocationUnavailableError,
    StaleCrlError,
)

__all__ = [
    "MAX_CRL_BYTES",
    "CrlProvider",
]

MAX_CRL_BYTES = 16 * 1024 * 1024
"""The largest CRL read by default, in bytes."""


class CrlProvider:
    """Checks a certificate against CRLs from files or HTTP URLs (default: the certificate's HTTP CRL DPs)."""

    def __init__(
        self,
        sources: Sequence[str | Path] | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Clock = utc_now,
        clock_skew: dt.timedelta = DEFAULT_SKEW,
        max_bytes: int = MAX_CRL_BYTES,
    ) -> None:
        self.sources = tuple(sources) if sources is not None else None
        self.client = client
        self.timeout = timeout
        self.clock = clock
        self.clock_skew = clock_skew
        self.max_bytes = max_bytes

    @property
    def mode(self) -> RevocationMode:
        """Always ``crl``."""
        return "crl"

    def _sources(self, cert: x509.Certificate) -> list[str | Path]:
        if self.sources is not None:
            return list(self.sources)
        try:
            points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except x509.ExtensionNotFound:
            return []
        return [
            name.value
            for point in points
            for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://"))
        ]

    def _load(self, source: str | Path) -> x509.CertificateRevocationList:
        if isinstance(source, str) and source.startswith(("http://", "https://")):
            response = fetch_answer(self.client, self.timeout, "GET", source, self.max_bytes)
            if response.status_code != 200:
                raise RevocationUnavailableError(f"{source} answered HTTP {response.status_code}")
            data = response.content
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise RevocationUnavailableError(f"cannot read the CRL file {source} ({type(exc).__name__})") from None
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                return x509.load_pem_x509_crl(data)
            return x509.load_der_x509_crl(data)
        except (ValueError, x509.InvalidVersion):
            raise RevocationResponseError(f"{source} is not a DER or PEM CRL") from None

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Find the CRL of the certificate's root, verify it, and look the serial up."""
        at = aware_utc(at)
        sources = self._sources(cert)
        if not sources:
            raise RevocationUnavailableError(
                "no CRL source: none is configured and the certificate names no HTTP distribution point"
            )
        issuer_key_id = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
        for source in sources:
            crl = self._load(source)
            with decoding(f"the CRL from {source}"):
                if crl.issuer != issuer.subject:
                    continue
                try:
                    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
                except x509.ExtensionNotFound:
                    aki = None
                if aki is not None and aki != issuer_key_id:
                    continue  # another root generation with the same name
                return self._check_crl(crl, str(source), cert, issuer, at)
        raise RevocationUnavailableError("none of the configured CRLs was issued by the certificate's root")

    def _check_crl(
        self,
        crl: x509.CertificateRevocationList,
        source: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: dt.datetime,
    ) -> RevocationOutcome:
        public_key = issuer.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) or not crl.is_signature_valid(
            public_key
        ):
            raise CrlSignatureError(f"the CRL from {source} is not signed by the certificate's root")
        for extension in crl.extensions:
            if isinstance(extension.value, x509.IssuingDistributionPoint):
                idp = extension.value
                if idp.only_contains_ca_certs or idp.only_contains_attribute_certs or idp.only_some_reasons:
                    raise RevocationResponseError(
                        f"the CRL from {source} is partial and does not cover user certificates"
                    )
                if idp.indirect_crl:
                    raise RevocationResponseError(f"the CRL from {source} is an indirect CRL, which is not supported")
            elif extension.critical and not isinstance(extension.value, x509.CRLNumber | x509.DeltaCRLIndicator):
                raise RevocationResponseError(f"the CRL from {source} has an unsupported critical extension")
            if isinstance(extension.value, x509.DeltaCRLIndicator):
                raise RevocationResponseError(f"{source} is a delta CRL; a complete CRL is required")
        check_dates(
            crl.last_update_utc, crl.next_update_utc, at, self.clock(), self.clock_skew, None, StaleCrlError, "CRL"
        )
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            reason: x509.ReasonFlags | None = None
            with contextlib.suppress(x509.ExtensionNotFound):
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            if reason is not x509.ReasonFlags.remove_from_crl:
                raise_if_revoked(at, entry.revocation_date_utc, reason, f"the CRL from {source}")
        return RevocationOutcome("crl", True, source, at, crl.last_update_utc, crl.next_update_utc)
