"""Revocation checking for JPKI certificates as pluggable providers: CRL, OCSP, a platform operator, or unchecked.

J-LIS gives revocation data only to registered verifiers and to businesses that use a certified platform operator
(docs/jpki.md §2.5), so the check is a provider the deployment chooses. Every provider answers for one certificate and
its issuing root at a validation time: it returns a ``RevocationOutcome`` when the certificate was not revoked at
that time, and raises a ``RevocationError`` otherwise. ``UncheckedProvider`` returns an outcome that says
"revocation not checked" — it is never reported as good.

Freshness: a CRL or response must have a nextUpdate not before the validation time (less ``clock_skew``); an OCSP
or platform response without nextUpdate must have a thisUpdate within ``max_age`` of it; an OCSP response's
thisUpdate must also be within ``max_response_age`` of it however far away its nextUpdate is; none may claim a
thisUpdate later than the provider's clock (plus skew). A revocation dated after the validation time does not
count: the certificate was good then.

OCSP signers: the issuing root itself, or a responder certificate it issued with the OCSPSigning EKU (RFC 6960
§4.2.2.2). The signer and the root must be valid at the validation time *and* at the provider's clock (within
``clock_skew``), as RFC 6960 and OpenSSL require, not merely at the response's own ``producedAt``: whoever holds an
expired responder key could otherwise backdate ``producedAt`` and answer "good" for ever.

One idea per module: ``common`` (the provider protocol, its outcome, the unchecked provider, the shared checks),
``crl``, ``ocsp``, ``platform`` (one provider each, with its protocol), ``errors`` (the error tree). Import the
names from here.

The errors (all ``JpkiError``) and their codes are drawn in ``jpki_bridge.revocation.errors``.
"""

from __future__ import annotations

from jpki_bridge.revocation.common import (
    DEFAULT_MAX_RESPONSE_AGE,
    DEFAULT_SKEW,
    Clock,
    RevocationMode,
    RevocationOutcome,
    RevocationProvider,
    UncheckedProvider,
    issuer_hashes,
    public_key_bits,
    utc_now,
)
from jpki_bridge.revocation.crl import (
    CrlProvider,
)
from jpki_bridge.revocation.errors import (
    CertificateRevokedError,
    CrlSignatureError,
    NonceMismatchError,
    OcspSignatureError,
    OcspSignerNotValidError,
    PlatformSignatureError,
    RevocationError,
    RevocationResponseError,
    RevocationSignatureError,
    RevocationStatusUnknownError,
    RevocationUnavailableError,
    StaleCrlError,
    StaleOcspError,
    StalePlatformResponseError,
    StaleRevocationError,
)
from jpki_bridge.revocation.ocsp import (
    OcspProvider,
)
from jpki_bridge.revocation.platform import (
    PLATFORM_JWS_TYPE,
    PLATFORM_STATUS_PATH,
    PlatformKey,
    PlatformOperatorProvider,
    PlatformSigningKey,
    decode_platform_response,
    encode_platform_response,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_AGE",
    "DEFAULT_SKEW",
    "PLATFORM_JWS_TYPE",
    "PLATFORM_STATUS_PATH",
    "CertificateRevokedError",
    "Clock",
    "CrlProvider",
    "CrlSignatureError",
    "NonceMismatchError",
    "OcspProvider",
    "OcspSignatureError",
    "OcspSignerNotValidError",
    "PlatformKey",
    "PlatformOperatorProvider",
    "PlatformSignatureError",
    "PlatformSigningKey",
    "RevocationError",
    "RevocationMode",
    "RevocationOutcome",
    "RevocationProvider",
    "RevocationResponseError",
    "RevocationSignatureError",
    "RevocationStatusUnknownError",
    "RevocationUnavailableError",
    "StaleCrlError",
    "StaleOcspError",
    "StalePlatformResponseError",
    "StaleRevocationError",
    "UncheckedProvider",
    "decode_platform_response",
    "encode_platform_response",
    "issuer_hashes",
    "public_key_bits",
    "utc_now",
]
