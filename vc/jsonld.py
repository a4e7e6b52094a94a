"""JSON-LD for Data Integrity: an offline-only document loader over the contexts bundled in ``vc/contexts``, and
JSON-LD → RDF quads (via pyld) for canonicalization.

No context is ever fetched from the network: an unknown context URL is an error, and so is a context that tries
to redefine a protected term (JSON-LD 1.1 ``@protected``). Errors::

    VcError
    └── JsonLdError                 jsonLdError      (the document cannot be turned into RDF)
        ├── UnknownContextError     unknownContext   (not bundled; never fetched)
        ├── ProtectedTermError      protectedTermRedefinition
        └── UndefinedTermError      undefinedTerm    (safe mode: a property or type no context defines)

Conversion runs in "safe mode" (as Data Integrity requires): a property that does not expand to an absolute IRI,
or a relative ``@type`` or ``@id``, would silently vanish from the RDF and so from what a proof signs; here it is an
error instead.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Final

from pyld import jsonld as pyld

from vc.errors import VcError
from vc.rdfc import Quad, Term

_absolute: Any = getattr(pyld, "_is_absolute_iri")  # noqa: B009 - pyld's own IRI test, not exported

XSD_STRING: Final = "http://www.w3.org/2001/XMLSchema#string"


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


def _on_dropped(expanded: str | None) -> None:
    raise UndefinedTermError(f"property {expanded!r} is not defined by any context (safe mode)")


def _check_iri(value: Any, what: str) -> None:
    if not isinstance(value, str) or not (value.startswith("_:") or _absolute(value)):
        raise UndefinedTermError(f"{what} {value!r} is not an absolute IRI (safe mode)")


def _check_object(item: Any) -> None:
    if isinstance(item, dict):
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
    """A pyld document loader that serves only bundled contexts."""
    return {"contextUrl": None, "documentUrl": url, "document": bundled_context(url)}


def _term(node: dict[str, Any]) -> Term:
    kind, value = node["type"], node["value"]
    if kind == "IRI":
        return ("iri", value)
    if kind == "blank node":
        return ("bnode", value.removeprefix("_:"))
    return ("literal", value, node.get("datatype", XSD_STRING), node.get("language", ""))


def to_quads(document: dict[str, Any]) -> list[Quad]:
    """The RDF quads of a JSON-LD document, using only bundled contexts."""
    try:
        dataset = _SafeProcessor().to_rdf(
            document, {"documentLoader": document_loader, "produceGeneralizedRdf": False, "base": None}
        )
    except pyld.JsonLdError as exc:
        raise _translate(exc) from exc
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
