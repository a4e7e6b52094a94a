"""Pins the public surface of every package: a change here is an API change and must be deliberate."""

from __future__ import annotations

import importlib

import pytest

PUBLIC_API: dict[str, list[str]] = {
    "did": [
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
    ],
    # Packages later issues fill; until then they export nothing.
    "vc": [],
    "jpki_bridge": [],
    "ledger": [],
    "issuer": [],
    "wallet": [],
    "verifier": [],
    "oidc": [],
}


@pytest.mark.parametrize(("package", "names"), PUBLIC_API.items())
def test_public_api_is_pinned(package: str, names: list[str]) -> None:
    module = importlib.import_module(package)
    assert sorted(getattr(module, "__all__", [])) == sorted(names)
    for name in names:
        assert hasattr(module, name), f"{package}.{name} is listed in __all__ but missing"
    assert module.__doc__, f"{package} needs a docstring saying what lives there"
