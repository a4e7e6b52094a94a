"""Errors raised by the did package.

Every error carries a stable machine ``code`` and a human ``message``. Where the DID Resolution specification
defines an error code, the code is that one, so a resolver can put it straight into resolution metadata::

    DidError
    ├── InvalidDidError              invalidDid
    ├── InvalidDidUrlError           invalidDidUrl
    ├── MethodNotSupportedError      methodNotSupported
    ├── NotFoundError                notFound
    ├── InvalidDidDocumentError      invalidDidDocument
    ├── DidDocumentTooLargeError     invalidDidDocumentLength
    ├── ForbiddenHostError           forbiddenHost        (did:web SSRF guard; not a spec code)
    ├── ResolutionTimeoutError       resolutionTimeout    (not a spec code)
    ├── ResolutionFailedError        internalError
    ├── InvalidPublicKeyError        invalidPublicKey
    │   ├── InvalidPublicKeyLengthError  invalidPublicKeyLength
    │   └── UnsupportedPublicKeyTypeError unsupportedPublicKeyType
    ├── InvalidMultibaseError        invalidMultibase     (not a spec code)
    ├── InvalidJwkError              invalidJwk           (not a spec code)
    ├── UnsupportedAlgorithmError    unsupportedAlgorithm
    ├── InvalidSignatureError        invalidSignature
    └── SignerError                  signerError          (a key store or token failed)

Signature verification raises ``InvalidSignatureError``; nothing in this package returns a boolean for it.
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = [
    "DidDocumentTooLargeError",
    "DidError",
    "ForbiddenHostError",
    "InvalidDidDocumentError",
    "InvalidDidError",
    "InvalidDidUrlError",
    "InvalidJwkError",
    "InvalidMultibaseError",
    "InvalidPublicKeyError",
    "InvalidPublicKeyLengthError",
    "InvalidSignatureError",
    "MethodNotSupportedError",
    "NotFoundError",
    "ResolutionFailedError",
    "ResolutionTimeoutError",
    "SignerError",
    "UnsupportedAlgorithmError",
    "UnsupportedPublicKeyTypeError",
]


class DidError(XidError):
    """Base of every did package error (code and message come from ``XidError``)."""

    code = "didError"


class InvalidDidError(DidError):
    """The string is not a conformant DID."""

    code = "invalidDid"


class InvalidDidUrlError(DidError):
    """The string is not a conformant DID URL."""

    code = "invalidDidUrl"


class MethodNotSupportedError(DidError):
    """The DID method (or a key type inside a method) is not supported by this resolver."""

    code = "methodNotSupported"


class NotFoundError(DidError):
    """The DID or the DID URL's resource does not exist."""

    code = "notFound"


class InvalidDidDocumentError(DidError):
    """A DID document is malformed or does not belong to the DID that was resolved."""

    code = "invalidDidDocument"


class DidDocumentTooLargeError(InvalidDidDocumentError):
    """A DID document exceeds the configured size limit."""

    code = "invalidDidDocumentLength"


class ForbiddenHostError(DidError):
    """A did:web host resolves to an address the resolver is not allowed to contact."""

    code = "forbiddenHost"


class ResolutionTimeoutError(DidError):
    """Resolution did not finish within the configured time limit."""

    code = "resolutionTimeout"


class ResolutionFailedError(DidError):
    """Resolution failed for a reason outside the DID itself (network, server error)."""

    code = "internalError"


class InvalidPublicKeyError(DidError):
    """Key bytes do not encode a valid public key of the stated type."""

    code = "invalidPublicKey"


class InvalidPublicKeyLengthError(InvalidPublicKeyError):
    """Key bytes have the wrong length for the stated key type."""

    code = "invalidPublicKeyLength"


class UnsupportedPublicKeyTypeError(InvalidPublicKeyError):
    """The multicodec or JWK names a key type this package does not support."""

    code = "unsupportedPublicKeyType"


class InvalidMultibaseError(DidError):
    """A multibase string is malformed or uses an unsupported base."""

    code = "invalidMultibase"


class InvalidJwkError(DidError):
    """A JSON Web Key is malformed."""

    code = "invalidJwk"


class UnsupportedAlgorithmError(DidError):
    """The signature algorithm is not allowed or does not match the key."""

    code = "unsupportedAlgorithm"


class InvalidSignatureError(DidError):
    """A signature did not verify."""

    code = "invalidSignature"


class SignerError(DidError):
    """A signer's key store or token failed (missing key, locked token, device error)."""

    code = "signerError"
