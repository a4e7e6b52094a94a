"""DID resolution: dispatch by method, a TTL cache, resolution metadata with the spec's error codes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from did import did_jwk, did_key
from did.document import DidDocument, VerificationMethod, split_did_url
from did.errors import DidError, InvalidDidUrlError, MethodNotSupportedError
from did.syntax import Did, parse_did

__all__ = [
    "DID_JSON",
    "MethodResolver",
    "PureMethodResolver",
    "ResolutionResult",
    "Resolver",
    "pure_methods",
]

DID_JSON = "application/did+json"


class MethodResolver(Protocol):
    """Resolves the DIDs of one method."""

    @property
    def method(self) -> str:
        """The DID method name this resolver handles (e.g. 'web')."""
        ...

    @property
    def cacheable(self) -> bool:
        """Whether results may be cached (true for methods that do I/O)."""
        ...

    def resolve(self, did: Did) -> DidDocument:
        """Resolve a parsed DID, raising a DidError on failure."""
        ...


@dataclass(frozen=True)
class PureMethodResolver:
    """A method whose DIDs resolve by computation alone (did:key, did:jwk): no I/O, never cached."""

    method: str
    document: Callable[[Did], DidDocument]
    cacheable: bool = False

    def resolve(self, did: Did) -> DidDocument:
        """Resolve a parsed DID."""
        return self.document(did)


def pure_methods() -> list[MethodResolver]:
    """Resolvers for did:key and did:jwk (their documents follow from the DID alone, so they are cached)."""
    return [
        PureMethodResolver("key", did_key.document, cacheable=True),
        PureMethodResolver("jwk", did_jwk.document, cacheable=True),
    ]


@dataclass(frozen=True)
class ResolutionResult:
    """The DID Resolution result: document plus resolution and document metadata."""

    did_document: DidDocument | None
    did_resolution_metadata: dict[str, Any]
    did_document_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        """The spec error code, or None when resolution succeeded."""
        err = self.did_resolution_metadata.get("error")
        return err if isinstance(err, str) else None

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (the DID Resolution HTTP binding's body)."""
        return {
            "didDocument": self.did_document.to_json() if self.did_document is not None else None,
            "didResolutionMetadata": dict(self.did_resolution_metadata),
            "didDocumentMetadata": dict(self.did_document_metadata),
        }


class Resolver:
    """Resolves DIDs by method; caches results of I/O methods for ``cache_ttl`` seconds.

    Without ``methods`` it resolves did:key and did:jwk; ``Resolver.standard(web)`` adds others to those.
    """

    def __init__(
        self,
        methods: Iterable[MethodResolver] | None = None,
        *,
        cache_ttl: float = 300.0,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._methods: dict[str, MethodResolver] = {
            m.method: m for m in (pure_methods() if methods is None else methods)
        }
        self._ttl = cache_ttl
        self._size = cache_size
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, DidDocument]] = OrderedDict()

    @classmethod
    def standard(cls, *extra: MethodResolver, **options: Any) -> Resolver:
        """A resolver for did:key, did:jwk and the given extra methods (e.g. a DidWebResolver)."""
        return cls([*pure_methods(), *extra], **options)

    @property
    def methods(self) -> list[str]:
        """Names of the supported DID methods."""
        return sorted(self._methods)

    def resolve_document(self, did: str) -> DidDocument:
        """Resolve a DID to its document, raising a DidError on failure."""
        parsed = parse_did(did)
        method = self._methods.get(parsed.method)
        if method is None:
            raise MethodNotSupportedError(
                f"DID method {parsed.method!r} is not supported (supported: {', '.join(self.methods)})"
            )
        key = str(parsed)
        if method.cacheable and self._ttl > 0:
            hit = self._cache.get(key)
            now = self._clock()
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(key)
                return hit[1]
            doc = method.resolve(parsed)
            self._cache[key] = (now + self._ttl, doc)
            self._cache.move_to_end(key)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return doc
        return method.resolve(parsed)

    def resolve(self, did: str) -> ResolutionResult:
        """Resolve a DID; failures are reported in the resolution metadata, never raised."""
        try:
            doc = self.resolve_document(did)
        except DidError as exc:
            return ResolutionResult(None, {"error": exc.code, "errorMessage": exc.message})
        return ResolutionResult(doc, {"contentType": DID_JSON})

    def dereference(self, did_url: str, relationship: str | None = None) -> VerificationMethod:
        """Dereference a DID URL with a fragment to a verification method, optionally checking a relationship."""
        did, fragment = split_did_url(did_url)
        if fragment is None:
            raise InvalidDidUrlError("DID URL has no fragment naming a verification method")
        return self.resolve_document(did).verification_method(f"#{fragment}", relationship)

    def clear_cache(self) -> None:
        """Forget every cached document."""
        self._cache.clear()
