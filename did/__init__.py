"""Decentralized identifiers and keys: signers, JWK/Multikey conversion, did:key, did:jwk, did:web, resolution."""

from did.did_web import DidWebResolver, did_to_url, web_did, web_document
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
