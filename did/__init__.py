"""Decentralized identifiers and keys: signers, JWK/Multikey conversion, did:key, did:jwk, did:web, resolution.

The did:web names (``DidWebResolver``, ``did_to_url``, ``web_did``, ``web_document``) load ``did.did_web`` and its
HTTP client on first use, so programs that never resolve did:web (the ``xid`` command line) start fast.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from did.document import DidDocument, VerificationMethod
from did.errors import (
    DidDocumentTooLargeError,
    DidError,
    ForbiddenHostError,
    InvalidDidDocumentError,
    InvalidDidError,
    InvalidDidUrlError,
    InvalidJwkError,
    InvalidMultibaseError,
    InvalidPublicKeyError,
    InvalidPublicKeyLengthError,
    InvalidSignatureError,
    MethodNotSupportedError,
    NotFoundError,
    ResolutionFailedError,
    ResolutionTimeoutError,
    SignerError,
    UnsupportedAlgorithmError,
    UnsupportedPublicKeyTypeError,
)
from did.keys import KeyType, PublicKey, jwk_thumbprint
from did.resolver import MethodResolver, ResolutionResult, Resolver
from did.signer import Signer, SoftwareSigner
from did.syntax import Did, DidUrl, parse_did, parse_did_url

if _TYPE_CHECKING:
    from did.did_web import DidWebResolver, did_to_url, web_did, web_document

_LAZY = frozenset({"DidWebResolver", "did_to_url", "web_did", "web_document"})


def __getattr__(name: str) -> _Any:
    """Load the did:web names on first use (importing httpx costs more than the rest of the package)."""
    if name in _LAZY:
        from did import did_web

        value = getattr(did_web, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'did' has no attribute {name!r}")


__all__ = [
    "Did",
    "DidDocument",
    "DidDocumentTooLargeError",
    "DidError",
    "DidUrl",
    "DidWebResolver",
    "ForbiddenHostError",
    "InvalidDidDocumentError",
    "InvalidDidError",
    "InvalidDidUrlError",
    "InvalidJwkError",
    "InvalidMultibaseError",
    "InvalidPublicKeyError",
    "InvalidPublicKeyLengthError",
    "InvalidSignatureError",
    "KeyType",
    "MethodNotSupportedError",
    "MethodResolver",
    "NotFoundError",
    "PublicKey",
    "ResolutionFailedError",
    "ResolutionResult",
    "ResolutionTimeoutError",
    "Resolver",
    "Signer",
    "SignerError",
    "SoftwareSigner",
    "UnsupportedAlgorithmError",
    "UnsupportedPublicKeyTypeError",
    "VerificationMethod",
    "did_to_url",
    "jwk_thumbprint",
    "parse_did",
    "parse_did_url",
    "web_did",
    "web_document",
]
