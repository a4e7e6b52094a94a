"""What every revocation provider shares: the provider protocol and its outcome, the unchecked provider, the
issuer hashes OCSP and the platform API use, the bounded fetch of revocation data and the freshness rule."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization

from foundation.http import Fetched, FetchError, FetchTooLargeError, fetch
from jpki_bridge.revocation.errors import (
    CertificateRevokedError,
    RevocationResponseError,
    RevocationUnavailableError,
    StaleRevocationError,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_AGE",
    "DEFAULT_SKEW",
    "MAX_RESPONSE_BYTES",
    "Clock",
    "RevocationMode",
    "RevocationOutcome",
    "RevocationProvider",
    "UncheckedProvider",
    "aware_utc",
    "check_dates",
    "decoding",
    "fetch_answer",
    "issuer_hashes",
    "public_key_bits",
    "raise_if_revoked",
    "utc_now",
]

RevocationMode = Literal["crl", "ocsp", "platform", "unchecked"]
Clock = Callable[[], dt.datetime]
DEFAULT_SKEW = dt.timedelta(minutes=5)
DEFAULT_MAX_RESPONSE_AGE = dt.timedelta(days=10)
"""How old an OCSP response's thisUpdate may be: the longest validity interval the CA/Browser Forum Baseline
Requirements (§4.9.10) allow a responder."""
MAX_RESPONSE_BYTES = 256 * 1024
"""The largest OCSP or platform-operator answer read, in bytes."""


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RevocationOutcome:
    """How revocation was handled for one certificate: the mode, whether it was checked, and what was seen."""

    mode: RevocationMode
    checked: bool
    source: str
    at: dt.datetime
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None

    @property
    def status(self) -> Literal["good", "not_checked"]:
        """``good`` when checked and not revoked at the validation time, else ``not_checked``."""
        return "good" if self.checked else "not_checked"

    @property
    def description(self) -> str:
        """A sentence for people and logs (no personal data)."""
        if not self.checked:
            return "revocation not checked"
        return f"not revoked at {self.at.isoformat()} ({self.mode.upper()} from {self.source})"


class RevocationProvider(Protocol):
    """Checks one certificate against its issuing root at a time; raises RevocationError unless it was good."""

    @property
    def mode(self) -> RevocationMode:
        """Which kind of revocation data this provider uses."""
        ...

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Return the outcome when ``cert`` was not revoked at ``at``; raise a RevocationError otherwise."""
        ...


class UncheckedProvider:
    """Explicitly skips revocation: the outcome says "revocation not checked", never good."""

    @property
    def mode(self) -> RevocationMode:
        """Always ``unchecked``."""
        return "unchecked"

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        """Return the not-checked outcome."""
        return RevocationOutcome(mode="unchecked", checked=False, source="none", at=at)


def public_key_bits(cert: x509.Certificate) -> bytes:
    """The contents of a certificate's subjectPublicKey BIT STRING (what OCSP key hashes cover)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _spki_bits(spki)


def _spki_bits(spki: bytes) -> bytes:
    # SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }: skip the outer header and the
    # algorithm, then return the BIT STRING contents after its unused-bits byte.
    def header(data: bytes, pos: int) -> tuple[int, int]:
        first = data[pos + 1]
        if first < 0x80:
            return pos + 2, first
        count = first & 0x7F
        return pos + 2 + count, int.from_bytes(data[pos + 2 : pos + 2 + count], "big")

    start, _ = header(spki, 0)
    alg_start, alg_len = header(spki, start)
    bits_start, bits_len = header(spki, alg_start + alg_len)
    return spki[bits_start + 1 : bits_start + bits_len]


def issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of an issuer certificate under a hash algorithm."""
    return _digest(algorithm, issuer.subject.public_bytes()), _digest(algorithm, public_key_bits(issuer))


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def aware_utc(when: dt.datetime) -> dt.datetime:
    """A timezone-aware validation time in UTC (a naive one is a programming error)."""
    if when.tzinfo is None:
        raise ValueError("the validation time must be timezone-aware")
    return when.astimezone(dt.UTC)


# cryptography decodes names, extensions and algorithm identifiers only when they are first read; a malformed one
# then raises one of these. A CRL or OCSP response comes from the network, so such a defect is the answer's fault.
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@contextlib.contextmanager
def decoding(what: str) -> Iterator[None]:
    """Turn a decoding failure inside the block into RevocationResponseError naming ``what``."""
    try:
        yield
    except _DECODE_ERRORS:
        raise RevocationResponseError(f"{what} has a field that cannot be decoded") from None


def fetch_answer(
    client: httpx.Client | None,
    timeout: float,
    method: str,
    url: str,
    max_bytes: int,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Fetched:
    """Send one request through the bounded fetch; any failure means revocation data is unavailable."""
    try:
        return fetch(method, url, max_bytes=max_bytes, timeout=timeout, client=client, content=content, headers=headers)
    except FetchTooLargeError:
        raise RevocationUnavailableError(f"the answer from {url} exceeds {max_bytes} bytes") from None
    except FetchError as exc:
        raise RevocationUnavailableError(f"cannot reach {url}: {exc.message}") from None


def check_dates(
    this_update: dt.datetime,
    next_update: dt.datetime | None,
    at: dt.datetime,
    now: dt.datetime,
    skew: dt.timedelta,
    max_age: dt.timedelta | None,
    error: type[StaleRevocationError],
    what: str,
    max_response_age: dt.timedelta | None = None,
) -> None:
    """Raise ``error`` unless thisUpdate/nextUpdate make the data fresh for ``at`` (see the package docstring)."""
    if this_update > now + skew:
        raise error(f"the {what} is dated in the future (thisUpdate {this_update.isoformat()})")
    if next_update is not None:
        if next_update < this_update:
            raise error(f"the {what} has a nextUpdate before its thisUpdate")
        if next_update + skew < at:
            raise error(f"the {what} expired at {next_update.isoformat()}, before the validation time {at.isoformat()}")
    elif max_age is None:
        raise error(f"the {what} has no nextUpdate, so its freshness cannot be established")
    elif this_update + max_age + skew < at:
        raise error(f"the {what} from {this_update.isoformat()} is older than {max_age} at the validation time")
    if max_response_age is not None and this_update + max_response_age + skew < at:
        raise error(
            f"the {what} from {this_update.isoformat()} is older than {max_response_age} at the validation time, "
            "whatever its nextUpdate"
        )


def raise_if_revoked(at: dt.datetime, time: dt.datetime, reason: x509.ReasonFlags | None, source: str) -> None:
    """Raise CertificateRevokedError when a revocation dated ``time`` had happened by ``at``."""
    if time <= at:
        why = f" ({reason.value})" if reason is not None else ""
        raise CertificateRevokedError(
            f"the certificate was revoked at {time.isoformat()}{why} per {source}", time, reason
        )
