"""RDF Dataset Canonicalization (RDFC-1.0, W3C Recommendation) with a work limit.

Canonical labels make the N-Quads of a dataset identical however its blank nodes were named, which is what Data
Integrity proofs sign. The algorithm is exponential on purpose-built "poison" graphs, so every run has a budget
of hashing steps and stops with ``CanonicalizationLimitError`` when it is spent, instead of hanging a service.
N-Quads input is parsed with pyoxigraph; the algorithm and the canonical serialization are ours. Errors::

    VcError
    └── CanonicalizationError           rdfcError          (input that is not N-Quads)
        └── CanonicalizationLimitError  rdfcLimitExceeded  (the work budget ran out)
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import pyoxigraph as ox

from vc.errors import VcError

__all__ = [
    "DEFAULT_MAX_WORK",
    "RDF_LANG_STRING",
    "XSD_STRING",
    "CanonicalizationError",
    "CanonicalizationLimitError",
    "Canonicalized",
    "Quad",
    "Term",
    "canonicalize",
    "canonicalize_quads",
    "parse_nquads",
    "serialize_quad",
]

XSD_STRING: Final = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
DEFAULT_MAX_WORK: Final = 50_000
_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


class CanonicalizationError(VcError):
    """The input could not be canonicalized (e.g. it is not valid N-Quads)."""

    code = "rdfcError"


class CanonicalizationLimitError(CanonicalizationError):
    """Canonicalization needed more work than allowed (a poison graph, or a dataset too large)."""

    code = "rdfcLimitExceeded"


# A term: ("iri", value) | ("bnode", id) | ("literal", lexical, datatype, language) | ("default",)
Term = tuple[str, ...]
Quad = tuple[Term, Term, Term, Term]


def _term(node: object) -> Term:
    if isinstance(node, ox.NamedNode):
        return ("iri", node.value)
    if isinstance(node, ox.BlankNode):
        return ("bnode", node.value)
    if isinstance(node, ox.Literal):
        return ("literal", node.value, node.datatype.value, node.language or "")
    if isinstance(node, ox.DefaultGraph):
        return ("default",)
    raise CanonicalizationError(f"unsupported RDF term {node!r}")


def parse_nquads(data: str | bytes) -> list[Quad]:
    """Parse N-Quads into quads of plain tuples."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        return [
            (_term(q.subject), _term(q.predicate), _term(q.object), _term(q.graph_name))
            for q in ox.parse(raw, format=ox.RdfFormat.N_QUADS)
        ]
    except (SyntaxError, ValueError) as exc:
        raise CanonicalizationError(f"the input is not valid N-Quads: {exc}") from exc


_NEEDS_ESCAPE: Final = re.compile(r'[\x00-\x1f\x7f"\\]')


def _escape(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _serialize_term(term: Term, labels: Callable[[str], str]) -> str:
    kind = term[0]
    if kind == "iri":
        return f"<{term[1]}>"
    if kind == "bnode":
        return f"_:{labels(term[1])}"
    lexical, datatype, language = term[1], term[2], term[3]
    if language:
        return f'"{_escape(lexical)}"@{language}'
    if datatype == XSD_STRING:
        return f'"{_escape(lexical)}"'
    return f'"{_escape(lexical)}"^^<{datatype}>'


def serialize_quad(quad: Quad, labels: Callable[[str], str]) -> str:
    """One canonical N-Quads line (with the trailing newline)."""
    s, p, o, g = quad
    parts = [_serialize_term(s, labels), _serialize_term(p, labels), _serialize_term(o, labels)]
    if g[0] != "default":
        parts.append(_serialize_term(g, labels))
    return " ".join(parts) + " .\n"


class _Issuer:
    """An identifier issuer: a prefix, a counter, and the order identifiers were issued in."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.issued: dict[str, str] = {}

    def issue(self, existing: str) -> str:
        found = self.issued.get(existing)
        if found is None:
            found = self.issued[existing] = f"{self.prefix}{len(self.issued)}"
        return found

    def copy(self) -> _Issuer:
        other = _Issuer(self.prefix)
        other.issued = dict(self.issued)
        return other


@dataclass
class _State:
    quads_of: dict[str, list[Quad]]
    canonical: _Issuer
    hash: Callable[[bytes], str]
    work_left: int
    first_degree: dict[str, str]

    def spend(self) -> None:
        self.work_left -= 1
        if self.work_left < 0:
            raise CanonicalizationLimitError(
                "canonicalization exceeded its work limit (the dataset may be a poison graph)"
            )


def _hash_first_degree(state: _State, node: str) -> str:
    cached = state.first_degree.get(node)
    if cached is not None:
        return cached
    state.spend()
    lines = sorted(serialize_quad(q, lambda b: "a" if b == node else "z") for q in state.quads_of[node])
    result = state.hash("".join(lines).encode("utf-8"))
    state.first_degree[node] = result
    return result


def _hash_related(state: _State, related: str, quad: Quad, issuer: _Issuer, position: str) -> str:
    if related in state.canonical.issued:
        identifier = "_:" + state.canonical.issued[related]
    elif related in issuer.issued:
        identifier = "_:" + issuer.issued[related]
    else:
        identifier = _hash_first_degree(state, related)
    text = position
    if position != "g":
        text += f"<{quad[1][1]}>"
    return state.hash((text + identifier).encode("utf-8"))


def _hash_n_degree(state: _State, node: str, issuer: _Issuer) -> tuple[str, _Issuer]:
    state.spend()
    related_by_hash: dict[str, list[str]] = {}
    for quad in state.quads_of[node]:
        for position, term in zip("spog", quad, strict=True):
            if position != "p" and term[0] == "bnode" and term[1] != node:
                h = _hash_related(state, term[1], quad, issuer, position)
                related_by_hash.setdefault(h, []).append(term[1])
    data = ""
    for related_hash in sorted(related_by_hash):
        data += related_hash
        chosen_path = ""
        chosen_issuer: _Issuer | None = None
        for permutation in itertools.permutations(related_by_hash[related_hash]):
            state.spend()
            issuer_copy = issuer.copy()
            path = ""
            recursion: list[str] = []
            skip = False
            for related in permutation:
                if related in state.canonical.issued:
                    path += "_:" + state.canonical.issued[related]
                else:
                    if related not in issuer_copy.issued:
                        recursion.append(related)
                    path += "_:" + issuer_copy.issue(related)
                if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                    skip = True
                    break
            if skip:
                continue
            for related in recursion:
                result_hash, result_issuer = _hash_n_degree(state, related, issuer_copy)
                path += "_:" + issuer_copy.issue(related)
                path += f"<{result_hash}>"
                issuer_copy = result_issuer
                if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                    skip = True
                    break
            if skip:
                continue
            if not chosen_path or path < chosen_path:
                chosen_path, chosen_issuer = path, issuer_copy
        data += chosen_path
        assert chosen_issuer is not None
        issuer = chosen_issuer
    return state.hash(data.encode("utf-8")), issuer


@dataclass(frozen=True)
class Canonicalized:
    """The canonical N-Quads and the map from input blank node ids to canonical ids."""

    nquads: str
    issued: dict[str, str]


def canonicalize_quads(
    quads: Iterable[Quad], *, hash_algorithm: str = "sha256", max_work: int = DEFAULT_MAX_WORK
) -> Canonicalized:
    """Canonicalize quads with RDFC-1.0; ``hash_algorithm`` is sha256 (default) or sha384."""
    if hash_algorithm not in ("sha256", "sha384"):
        raise CanonicalizationError(f"unsupported RDFC hash {hash_algorithm!r}")
    try:
        result = _canonicalize(list(dict.fromkeys(quads)), hash_algorithm, max_work)  # a dataset is a set of quads
        if not result.nquads.isascii():
            result.nquads.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 form, so nothing to hash or sign
        raise CanonicalizationError("the dataset holds text that is not valid Unicode (a lone surrogate)") from exc
    return result


def _canonicalize(quads: list[Quad], hash_algorithm: str, max_work: int) -> Canonicalized:

    def digest(data: bytes) -> str:
        return hashlib.new(hash_algorithm, data).hexdigest()

    quads_of: dict[str, list[Quad]] = {}
    for quad in quads:
        for position, term in zip("spog", quad, strict=True):
            if position != "p" and term[0] == "bnode":
                bucket = quads_of.setdefault(term[1], [])
                if not bucket or bucket[-1] is not quad:
                    bucket.append(quad)
    state = _State(quads_of, _Issuer("c14n"), digest, max_work, {})
    by_hash: dict[str, list[str]] = {}
    for node in quads_of:
        by_hash.setdefault(_hash_first_degree(state, node), []).append(node)
    for h in sorted(by_hash):
        if len(by_hash[h]) == 1:
            state.canonical.issue(by_hash[h][0])
    for h in sorted(by_hash):
        nodes = by_hash[h]
        if len(nodes) == 1:
            continue
        results: list[tuple[str, _Issuer]] = []
        for node in nodes:
            if node in state.canonical.issued:
                continue
            temporary = _Issuer("b")
            temporary.issue(node)
            results.append(_hash_n_degree(state, node, temporary))
        for _, issuer in sorted(results, key=lambda r: r[0]):
            for existing in issuer.issued:
                state.canonical.issue(existing)
    labels = state.canonical.issued
    lines = sorted(serialize_quad(q, lambda b: labels[b]) for q in quads)
    return Canonicalized("".join(lines), dict(labels))


def canonicalize(nquads: str | bytes, **options: object) -> Canonicalized:
    """Canonicalize an N-Quads document."""
    return canonicalize_quads(parse_nquads(nquads), **options)  # type: ignore[arg-type]
