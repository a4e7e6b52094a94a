"""The revocation errors: why a certificate's revocation status could not be established as good.

Errors (all ``JpkiError``)::

    RevocationError                        revocationError
    ├── CertificateRevokedError            certificateRevoked          revoked at or before the validation time
    ├── RevocationStatusUnknownError       revocationStatusUnknown     the responder does not know the certificate
    ├── RevocationUnavailableError         revocationUnavailable       no source, network/HTTP failure, refusal
    ├── RevocationResponseError            revocationResponseInvalid   malformed, or not about this certificate
    ├── NonceMismatchError                 revocationNonceMismatch     response nonce absent or different
    ├── RevocationSignatureError           revocationSignatureInvalid
    │   ├── CrlSignatureError              crlSignatureInvalid
    │   ├── OcspSignatureError             ocspSignatureInvalid
    │   │   └── OcspSignerNotValidError    ocspSignerNotValid          signer or root expired (or not yet valid)
    │   └── PlatformSignatureError         platformSignatureInvalid
    └── StaleRevocationError               revocationStale
        ├── StaleCrlError                  crlStale
        ├── StaleOcspError                 ocspStale
        └── StalePlatformResponseError     platformResponseStale
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from jpki_bridge.errors import JpkiError

__all__ = [
    "CertificateRevokedError",
    "CrlSignatureError",
    "NonceMismatchError",
    "OcspSignatureError",
    "OcspSignerNotValidError",
    "PlatformSignatureError",
    "RevocationError",
    "RevocationResponseError",
    "RevocationSignatureError",
    "RevocationStatusUnknownError",
    "RevocationUnavailableError",
    "StaleCrlError",
    "StaleOcspError",
    "StalePlatformResponseError",
    "StaleRevocationError",
]


class RevocationError(JpkiError):
    """Revocation status could not be established as good."""

    code = "revocationError"


class CertificateRevokedError(RevocationError):
    """The certificate was revoked at or before the validation time."""

    code = "certificateRevoked"

    def __init__(self, message: str, revocation_time: dt.datetime, reason: x509.ReasonFlags | None) -> None:
        super().__init__(message)
        self.revocation_time = revocation_time
        self.reason = reason


class RevocationStatusUnknownError(RevocationError):
    """The responder does not know the certificate (OCSP "unknown")."""

    code = "revocationStatusUnknown"


class RevocationUnavailableError(RevocationError):
    """No revocation data could be obtained (no source, network failure, HTTP error, responder refusal)."""

    code = "revocationUnavailable"


class RevocationResponseError(RevocationError):
    """A CRL or response is malformed, or is not about the certificate asked about."""

    code = "revocationResponseInvalid"


class NonceMismatchError(RevocationError):
    """A response does not echo the nonce of its request (a replayed or misrouted response)."""

    code = "revocationNonceMismatch"


class RevocationSignatureError(RevocationError):
    """A CRL or response is not signed by the party entitled to sign it."""

    code = "revocationSignatureInvalid"


class CrlSignatureError(RevocationSignatureError):
    """The CRL's signature does not verify under the issuing root's key."""

    code = "crlSignatureInvalid"


class OcspSignatureError(RevocationSignatureError):
    """The OCSP response is not signed by the issuer or by a responder the issuer delegated."""

    code = "ocspSignatureInvalid"


class OcspSignerNotValidError(OcspSignatureError):
    """The OCSP signer (a delegated responder or the root) is expired or not yet valid at the validation time or
    at the provider's clock."""

    code = "ocspSignerNotValid"


class PlatformSignatureError(RevocationSignatureError):
    """The platform operator's response does not verify under its configured key."""

    code = "platformSignatureInvalid"


class StaleRevocationError(RevocationError):
    """Revocation data is too old (or dated in the future) for the validation time."""

    code = "revocationStale"


class StaleCrlError(StaleRevocationError):
    """The CRL's nextUpdate has passed (or it has none, or it is dated in the future)."""

    code = "crlStale"


class StaleOcspError(StaleRevocationError):
    """The OCSP response is out of date (or dated in the future)."""

    code = "ocspStale"


class StalePlatformResponseError(StaleRevocationError):
    """The platform operator's response is out of date (or dated in the future)."""

    code = "platformResponseStale"
