"""The JSON-LD shape cache: RDF quads of a credential from a template of its kind instead of a fresh expansion.

Expanding JSON-LD is the expensive part of a Data Integrity proof, and credentials of one kind share their
structure: only the values differ. A document's *shape* is the document with every string value replaced by a
placeholder (equal strings share one, and an IRI's scheme is kept), except values that could change how the
document expands: types, values under JSON-LD keywords, values that are a term or whose scheme is a term in any
context in play (e.g. types such as "VerifiableCredential"), and blank node identifiers. The shape is expanded
once; if every placeholder came out verbatim as a whole literal value or a whole IRI (and nowhere else), the
resulting quads are a template into which any document of that shape substitutes its values. Otherwise the
shape is marked uncacheable and its documents always take the direct path. On the first use the template is
also checked against the direct result (compared after canonicalization).

The cache knows nothing of contexts or pyld: ``vc.jsonld`` hands it the direct expansion, the terms of the bundled
contexts and its IRI check. It raises no errors of its own (what it calls raises theirs).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

from vc.rdfc import CanonicalizationError, Quad, Term, canonicalize_quads

__all__ = [
    "MAX_SHAPES",
    "XSD_DOUBLE",
    "ShapeCache",
    "collect_terms",
]

MAX_SHAPES: Final = 512
XSD_DOUBLE: Final = "http://www.w3.org/2001/XMLSchema#double"
_PLACEHOLDER: Final = "xid-ph-"
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def collect_terms(value: Any, terms: set[str]) -> None:
    """Add every member name of a context (recursively) to ``terms``."""
    if isinstance(value, dict):
        for key, item in value.items():
            terms.add(key)
            collect_terms(item, terms)
    elif isinstance(value, list):
        for item in value:
            collect_terms(item, terms)


class _UncacheableError(Exception):
    """The document cannot use the shape cache; take the direct path."""


def _collect_inline_terms(value: Any, terms: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "@context":
                collect_terms(item, terms)
            else:
                _collect_inline_terms(item, terms)
    elif isinstance(value, list):
        for item in value:
            _collect_inline_terms(item, terms)


def _shape(document: dict[str, Any], context_terms: frozenset[str]) -> tuple[Any, dict[str, str]]:
    """The document's shape and the placeholder → value map."""
    inline: set[str] = set()
    _collect_inline_terms(document, inline)
    terms = context_terms | inline if inline else context_terms
    values: dict[str, str] = {}
    placeholders: dict[str, str] = {}

    def placeholder(text: str) -> str:
        if _PLACEHOLDER in text:
            raise _UncacheableError
        if text in terms or text.startswith("_:"):
            return text
        match = _SCHEME.match(text)
        if match and match.group(1) in terms:
            return text
        found = placeholders.get(text)
        if found is None:
            found = f"{match.group(1)}:" if match else ""
            found += f"{_PLACEHOLDER}{len(placeholders)}"
            placeholders[text] = found
            values[found] = text
        return found

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: (v if k == "@context" else walk(v, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if (
            isinstance(value, str)
            and key not in ("type", "@type")
            and (key is None or not key.startswith("@") or key in ("@id", "@value"))
        ):
            return placeholder(value)
        return value

    return walk(document, None), values


def _template(quads: list[Quad], placeholders: set[str]) -> list[Quad] | None:
    """The quads as a template, or None when a placeholder came out anywhere but as a whole value."""
    for quad in quads:
        for term in quad:
            if term[0] == "literal" and term[2] == XSD_DOUBLE and _PLACEHOLDER in term[1]:
                return None  # pyld rewrites numeric strings typed xsd:double (1.5 -> 1.5E0); keep them direct
            for position, text in enumerate(term[1:], start=1):
                if _PLACEHOLDER in text and not (position == 1 and text in placeholders and term[0] != "bnode"):
                    return None
    return quads


def _fill(template: list[Quad], values: dict[str, str], check_iri: Callable[[str, str], None]) -> list[Quad]:
    def term(t: Term) -> Term:
        if len(t) > 1 and t[0] != "bnode":
            value = values.get(t[1])
            if value is not None:
                if t[0] == "iri":
                    check_iri(value, "IRI")
                return (t[0], value, *t[2:])
        return t

    return [(term(s), term(p), term(o), term(g)) for s, p, o, g in template]


def _same_graph(a: list[Quad], b: list[Quad]) -> bool:
    try:
        return canonicalize_quads(a).nquads == canonicalize_quads(b).nquads
    except CanonicalizationError:  # e.g. a poison graph: no template; canonicalizing it later reports the error
        return False


class ShapeCache:
    """Templates of RDF quads by document shape, least recently used first out beyond ``size`` shapes."""

    def __init__(
        self,
        expand: Callable[[dict[str, Any]], list[Quad]],
        context_terms: Callable[[], frozenset[str]],
        check_iri: Callable[[str, str], None],
        *,
        expand_error: type[Exception],
        lock: threading.RLock | None = None,
        size: int = MAX_SHAPES,
    ) -> None:
        self._expand, self._context_terms, self._check_iri = expand, context_terms, check_iri
        self._expand_error = expand_error
        self._lock = lock or threading.RLock()
        self.size = size
        self._shapes: OrderedDict[str, list[Quad] | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._shapes)

    def quads(self, document: dict[str, Any]) -> list[Quad]:
        """The document's quads: from its shape's template, else expanded directly (recording the shape)."""
        try:
            shape, values = _shape(document, self._context_terms())
        except _UncacheableError:
            return self._expand(document)
        key = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        with self._lock:
            known = key in self._shapes
            template = self._shapes.get(key)
            if known:
                self._shapes.move_to_end(key)
        if known:
            return self._expand(document) if template is None else _fill(template, values, self._check_iri)
        direct = self._expand(document)
        try:
            template = _template(self._expand(shape), set(values))
        except self._expand_error:
            template = None
        if template is not None and not _same_graph(_fill(template, values, self._check_iri), direct):
            template = None
        with self._lock:
            self._shapes[key] = template
            while len(self._shapes) > self.size:
                self._shapes.popitem(last=False)
        return direct
