"""JSON-LD for Data Integrity: an offline-only document loader over the contexts bundled in ``vc/contexts``, and
JSON-LD → RDF quads (via pyld) for canonicalization.

No context is ever fetched from the network: an unknown context URL is an error, and so is a context that tries
to redefine a protected term (JSON-LD 1.1 ``@protected``). Errors::

    VcError
    └── JsonLdError                 jsonLdError      (the document cannot be turned into RDF)
        ├── UnknownContextError     unknownContext   (not bundled; never fetched)
        ├── ProtectedTermError      protectedTermRedefinition
        ├── UndefinedTermError      undefinedTerm    (safe mode: a property or type no context defines)
        ├── DocumentLimitError      documentLimitExceeded (too deep, too many values: see ``check_document``)
        └── InvalidUnicodeError     invalidUnicode   (a string UTF-8 cannot encode, e.g. a lone surrogate)

Conversion runs in "safe mode" (as Data Integrity requires): a property that does not expand to an absolute IRI,
or a relative ``@type`` or ``@id``, would silently vanish from the RDF and so from what a proof signs; here it is an
error instead.

Before any JSON-LD processing a document passes ``check_document``, one iterative walk that bounds the work:
pyld's node map de-duplicates the values of a property with a linear scan, so expansion is quadratic in the values
one property of one node collects, and pyld and the shape cache recurse once per nesting level.

``to_quads`` takes most credentials from the shape cache (``vc.jsonld_shape_cache``): one expansion per kind of
credential, whose quads are then a template for every credential of that kind.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from functools import cache
from importlib import resources
from typing import Any, Final

from pyld import jsonld as pyld
from pyld.context_resolver import ContextResolver

from vc.errors import VcError
from vc.jsonld_shape_cache import ShapeCache, collect_terms
from vc.rdfc import XSD_STRING, Quad, Term

__all__ = [
    "MAX_DEPTH",
    "MAX_PROPERTY_VALUES",
    "MAX_VALUES",
    "XSD_STRING",
    "DocumentLimitError",
    "InvalidUnicodeError",
    "JsonLdError",
    "ProtectedTermError",
    "UndefinedTermError",
    "UnknownContextError",
    "bundled_context",
    "check_document",
    "document_loader",
    "to_quads",
]


class JsonLdError(VcError):
    """A document could not be processed as JSON-LD."""

    code = "jsonLdError"


class UnknownContextError(JsonLdError):
    """A context is not bundled with xid; contexts are never fetched from the network."""

    code = "unknownContext"


class ProtectedTermError(JsonLdError):
    """A context redefines a protected term."""

    code = "protectedTermRedefinition"


class UndefinedTermError(JsonLdError):
    """A property, type or id does not expand to an absolute IRI, so it would be dropped unsigned."""

    code = "undefinedTerm"


class DocumentLimitError(JsonLdError):
    """A document nests too deeply or holds too many values to be processed within a bounded time."""

    code = "documentLimitExceeded"


class InvalidUnicodeError(JsonLdError):
    """A string or key is not encodable as UTF-8 (a lone surrogate), so no canonical form exists."""

    code = "invalidUnicode"


MAX_DEPTH: Final = 32
"""Most nested objects and arrays (the document itself is level 1)."""
MAX_VALUES: Final = 512
"""Most JSON values (objects, arrays, strings, numbers, booleans, nulls) in a document given to JSON-LD."""
MAX_PROPERTY_VALUES: Final = 64
"""Most values one property of one node collects: an array's items (nested arrays flattened), summed over the
objects that share an ``id``. A document with an inline context (which can rename ``@id``) counts as one property."""

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _check_text(text: str) -> None:
    if _SURROGATE.search(text) is not None:
        raise InvalidUnicodeError(f"the string {text[:40]!r} is not valid Unicode (a lone surrogate)")


def _leaves(value: list[Any]) -> int:
    """The number of items in an array, nested arrays flattened (as JSON-LD expansion flattens them)."""
    count, pending = 0, [value]
    while pending:
        for item in pending.pop():
            if isinstance(item, list):
                pending.append(item)
            else:
                count += 1
    return count


def check_document(document: Any, *, sizes: bool = True) -> None:
    """Refuse JSON too deep, too large (``sizes``) or not encodable as UTF-8, before any recursive processing."""
    if isinstance(document, str):
        _check_text(document)
    if not isinstance(document, dict | list):
        return
    values = 1
    inline_context = False
    per_property: dict[tuple[object, str], int] = {}
    # (container, its nesting level, the node an object belongs to when not its own: under @nest or @reverse)
    stack: list[tuple[Any, int, object]] = [(document, 1, None)]
    while stack:
        value, level, owner = stack.pop()
        if level > MAX_DEPTH:
            raise DocumentLimitError(f"the document nests more than {MAX_DEPTH} levels deep (MAX_DEPTH)")
        values += len(value)
        if sizes and values > MAX_VALUES:
            raise DocumentLimitError(f"the document has more than {MAX_VALUES} JSON values (MAX_VALUES)")
        if isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    if not item.isascii():
                        _check_text(item)
                elif isinstance(item, dict | list):
                    stack.append((item, level + 1, owner))
            continue
        node: object = owner
        if node is None:
            ident = value.get("id", value.get("@id"))
            node = ident if isinstance(ident, str) else id(value)
        for key, item in value.items():
            if not isinstance(key, str):
                raise JsonLdError(f"the object key {key!r} is not a string")
            if not key.isascii():
                _check_text(key)
            item_owner: object = None
            if key == "@context":
                # bundled context URLs (unknown ones fail to load) at any level are the contexts a top-level
                # list names too; only inline definitions can alias @id unseen by this walk
                inline_context = inline_context or not _urls(item)
            elif sizes:
                if key == "@nest":
                    item_owner = node
                elif key == "@reverse":
                    item_owner = "@reverse"
                else:
                    bucket = (node, "type" if key == "@type" else key)
                    count = per_property.get(bucket, 0) + (_leaves(item) if isinstance(item, list) else 1)
                    if count > MAX_PROPERTY_VALUES:
                        raise DocumentLimitError(
                            f"the property {key!r} has more than {MAX_PROPERTY_VALUES} values (MAX_PROPERTY_VALUES)"
                        )
                    per_property[bucket] = count
            if isinstance(item, str):
                if not item.isascii():
                    _check_text(item)
            elif isinstance(item, dict | list):
                stack.append((item, level + 1, item_owner))
    if sizes and inline_context and values > MAX_PROPERTY_VALUES:
        raise DocumentLimitError(
            f"a document with an inline @context may have at most {MAX_PROPERTY_VALUES} JSON values "
            "(MAX_PROPERTY_VALUES: its context could rename @id and merge every value into one property)"
        )


def _urls(context: Any) -> bool:
    """Whether a @context only lists context URLs (which cannot be inline definitions)."""
    return isinstance(context, str) or (isinstance(context, list) and all(isinstance(c, str) for c in context))


def _on_dropped(expanded: str | None) -> None:
    raise UndefinedTermError(f"property {expanded!r} is not defined by any context (safe mode)")


# An absolute IRI as N-Quads can carry it and pyld keeps it: a scheme, then no control or IRIREF-excluded character
# and no whitespace of any kind (pyld drops triples whose IRIs contain Unicode whitespace such as U+00A0).
_ABSOLUTE_IRI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x20\x7f<>\"{}|^`\\]*")


def _check_iri(value: Any, what: str) -> None:
    if not isinstance(value, str) or not (value.startswith("_:") or _ABSOLUTE_IRI.fullmatch(value)):
        raise UndefinedTermError(f"{what} {value!r} is not an absolute IRI (safe mode)")


def _check_object(item: Any) -> None:
    if isinstance(item, dict):
        if "@direction" in item:
            raise JsonLdError("@direction is not supported: RDF has no place for it, so it would not be signed")
        if "@list" in item:
            for element in item["@list"]:
                _check_object(element)
        elif "@id" in item:
            _check_iri(item["@id"], "@id")
        elif isinstance(item.get("@type"), str) and item["@type"] != "@json":
            _check_iri(item["@type"], "datatype")


class _SafeProcessor(pyld.JsonLdProcessor):  # type: ignore[misc]
    """pyld's processor with JSON-LD safe mode: nothing is dropped silently."""

    def __init__(self) -> None:
        super().__init__(on_property_dropped=_on_dropped)

    def _create_node_map(self, element: Any, graph_map: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        result = super()._create_node_map(element, graph_map, *args, **kwargs)
        for name in graph_map:  # pyld skips a named graph whose name is not an absolute IRI
            if name != "@default":
                _check_iri(name, "graph name")
        return result

    def _graph_to_rdf(self, graph: dict[str, Any], issuer: Any, options: Any) -> Any:
        for node_id, node in graph.items():
            _check_iri(node_id, "@id")
            for prop, items in node.items():
                if prop == "@type":
                    for item in items:
                        _check_iri(item, "@type")
                elif not prop.startswith("@"):
                    _check_iri(prop, "property")
                    for item in items:
                        _check_object(item)
        return super()._graph_to_rdf(graph, issuer, options)


@cache
def _index() -> dict[str, str]:
    text = resources.files("vc").joinpath("contexts/index.json").read_text(encoding="utf-8")
    index: dict[str, str] = json.loads(text)
    return index


@cache
def bundled_context(url: str) -> dict[str, Any]:
    """The bundled context document for a URL (trailing '/' ignored); raise UnknownContextError otherwise."""
    name = _index().get(url.rstrip("/"))
    if name is None:
        raise UnknownContextError(f"context {url} is not bundled; remote contexts are never loaded")
    document: dict[str, Any] = json.loads(resources.files("vc").joinpath(f"contexts/{name}").read_text("utf-8"))
    return document


def document_loader(url: str, options: Any = None) -> dict[str, Any]:
    """A pyld document loader that serves only bundled contexts (tagged static so pyld may cache them)."""
    return {"contextUrl": None, "documentUrl": url, "document": bundled_context(url), "tag": "static"}


class _Bounded(OrderedDict[str, Any]):
    """A dict that forgets its oldest entries beyond a size (pyld's resolved-context cache)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self._size:
            self.popitem(last=False)


# Resolved contexts shared across calls (bounded: inline contexts from documents land here too).
_RESOLVED: Final = _Bounded(256)
_LOCK: Final = threading.RLock()


def _term(node: dict[str, Any] | None) -> Term:
    if node is None:  # pyld leaves None where it dropped an object (e.g. an invalid IRI inside a list)
        raise UndefinedTermError("a value would be dropped from the RDF (safe mode)")
    kind, value = node["type"], node["value"]
    if kind == "IRI":
        return ("iri", value)
    if kind == "blank node":
        return ("bnode", value.removeprefix("_:"))
    return ("literal", value, node.get("datatype", XSD_STRING), node.get("language", ""))


def _to_quads_direct(document: dict[str, Any]) -> list[Quad]:
    options = {
        "documentLoader": document_loader,
        "produceGeneralizedRdf": False,
        "base": None,  # pyld would otherwise resolve relative IRIs against http://example.org/base/
        "contextResolver": ContextResolver(_RESOLVED, document_loader),
    }
    try:
        with _LOCK:
            dataset = _SafeProcessor().to_rdf(document, options)
    except pyld.JsonLdError as exc:
        raise _translate(exc) from exc
    except ValueError as exc:  # pyld raises a bare ValueError for some input, e.g. a relative context URL
        raise JsonLdError(f"the document is not valid JSON-LD: {exc}") from exc
    quads: list[Quad] = []
    for graph, triples in dataset.items():
        graph_term: Term = (
            ("default",)
            if graph == "@default"
            else _term({"type": "blank node" if graph.startswith("_:") else "IRI", "value": graph})
        )
        for t in triples:
            quads.append((_term(t["subject"]), _term(t["predicate"]), _term(t["object"]), graph_term))
    return quads


@cache
def _bundled_terms() -> frozenset[str]:
    terms: set[str] = set()
    for name in _index().values():
        collect_terms(json.loads(resources.files("vc").joinpath(f"contexts/{name}").read_text("utf-8")), terms)
    return frozenset(terms)


# Templates by document shape (vc/jsonld_shape_cache.py); pyld runs under the same lock.
_SHAPES: Final = ShapeCache(_to_quads_direct, _bundled_terms, _check_iri, expand_error=JsonLdError, lock=_LOCK)


def to_quads(document: dict[str, Any]) -> list[Quad]:
    """The RDF quads of a JSON-LD document, using only bundled contexts (within the ``check_document`` limits)."""
    check_document(document)
    return _SHAPES.quads(document)


def _translate(exc: BaseException) -> JsonLdError:
    """Find our own error inside pyld's wrapping, or describe pyld's."""
    seen: BaseException | None = exc
    text = ""
    while seen is not None:
        if isinstance(seen, JsonLdError):
            return seen
        details = getattr(seen, "details", None)
        cause = details.get("cause") if isinstance(details, dict) else None
        text += f" {getattr(seen, 'code', '') or ''} {seen.args[0] if seen.args else ''}"
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
    if "protected term redefinition" in text:
        return ProtectedTermError("a context redefines a protected term")
    return JsonLdError(f"the document is not valid JSON-LD:{text}".strip())
