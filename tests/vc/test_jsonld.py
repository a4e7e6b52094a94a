"""The offline JSON-LD loader, safe mode, and the shape cache (which must never change a result)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import VECTORS, load_vector
from vc import jsonld
from vc.jsonld import JsonLdError, UnknownContextError, bundled_context, document_loader, to_quads
from vc.jsonld_shape_cache import MAX_SHAPES, ShapeCache
from vc.rdfc import Quad, canonicalize_quads

EXAMPLES = [
    "di-eddsa/TestVectors/unsigned.json",
    "di-eddsa/TestVectors/employmentAuth.json",
    "di-eddsa/TestVectors/eddsa-rdfc-2022/proofConfigDataInt.json",
    "di-eddsa/TestVectors/proof-set-chain/proofChainTempDoc2.json",
    "di-ecdsa/TestVectors/ecdsa-rdfc-2019-p256/signedECDSAP256.json",
]


def canonical(quads: list[Any]) -> str:
    return canonicalize_quads(quads).nquads


def direct(document: dict[str, Any]) -> str:
    return canonical(jsonld._to_quads_direct(document))


def test_loader_serves_bundled_contexts_only() -> None:
    assert document_loader("https://www.w3.org/ns/credentials/v2")["document"]["@context"]["@protected"] is True
    assert bundled_context("https://www.w3.org/ns/credentials/v2/") == bundled_context(
        "https://www.w3.org/ns/credentials/v2"
    )
    with pytest.raises(UnknownContextError, match="never loaded"):
        document_loader("https://example.com/context")


@pytest.mark.parametrize("name", EXAMPLES)
def test_cached_and_direct_paths_agree_on_the_vectors(name: str) -> None:
    document = load_vector(name)
    expected = direct(document)
    assert canonical(to_quads(document)) == expected  # first use: fills the cache
    assert canonical(to_quads(copy.deepcopy(document))) == expected  # second use: from the template


def _strings() -> st.SearchStrategy[str]:
    """Values chosen to probe every rule: IRIs, terms, prefixes, blank nodes, escapes, placeholders."""
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(
            [
                "VerifiableCredential",
                "assertionMethod",
                "authentication",
                "did:example:abc",
                "did:example:abc",
                "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
                "https://vc.example/issuers/5678",
                "xsd:string",
                "sec:proofValue",
                "_:b0",
                "xid-ph-0",
                "did:xid-ph-1",
                'quote " and \\ backslash\n',
                "2023-02-24T23:36:38Z",
                "mailto:someone@example.com",
            ]
        ),
    )


def _mutate(value: Any, draw: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v if k in ("@context", "type") else _mutate(v, draw)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, draw) for v in value]
    if isinstance(value, str):
        return draw(_strings())
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(EXAMPLES))
def test_cached_and_direct_paths_agree_on_any_values(data: st.DataObject, name: str) -> None:
    original = load_vector(name)
    to_quads(original)  # make sure the shape of the original is cached
    mutated = _mutate(original, data.draw)
    try:
        expected = direct(mutated)
    except jsonld.JsonLdError as exc:
        with pytest.raises(type(exc)):
            to_quads(mutated)
        return
    assert canonical(to_quads(mutated)) == expected
    assert canonical(to_quads(mutated)) == expected


def test_a_value_that_is_a_term_is_not_templated() -> None:
    config = load_vector("di-eddsa/TestVectors/eddsa-rdfc-2022/proofConfigDataInt.json")
    for purpose in ("assertionMethod", "authentication", "capabilityInvocation"):
        changed = {**config, "proofPurpose": purpose}
        assert canonical(to_quads(changed)) == direct(changed)
        assert f"https://w3id.org/security#{purpose}" in direct(changed)


def test_equal_ids_still_merge_nodes() -> None:
    document = load_vector("di-eddsa/TestVectors/unsigned.json")
    same = {**document, "issuer": "did:example:same", "credentialSubject": {"id": "did:example:same", "alumniOf": "x"}}
    different = {**same, "credentialSubject": {"id": "did:example:other", "alumniOf": "x"}}
    for doc in (same, different, same):
        assert canonical(to_quads(doc)) == direct(doc)


def test_shape_cache_is_bounded() -> None:
    document = load_vector("di-eddsa/TestVectors/unsigned.json")
    for i in range(jsonld._SHAPES.size + 10):  # as many new shapes (the property name differs)
        to_quads({**document, "credentialSubject": {"id": "did:example:abc", "alumniOf": "x" * (i % 3), f"n{i}": i}})
    assert len(jsonld._SHAPES) == jsonld._SHAPES.size == MAX_SHAPES  # full, and no fuller


def test_shape_cache_fills_a_template_equal_to_the_direct_expansion() -> None:
    document = load_vector("di-eddsa/TestVectors/unsigned.json")
    first = {**document, "credentialSubject": {"id": "did:example:abc", "alumniOf": "First University"}}
    second = {**document, "credentialSubject": {"id": "did:example:xyz", "alumniOf": "Second University"}}
    expanded: list[dict[str, Any]] = []

    def counting(doc: dict[str, Any]) -> list[Quad]:
        expanded.append(doc)
        return jsonld._to_quads_direct(doc)

    cache = ShapeCache(counting, jsonld._bundled_terms, jsonld._check_iri, expand_error=JsonLdError, size=2)
    assert canonical(cache.quads(first)) == direct(first)
    assert len(expanded) == 2  # the document and its shape
    assert canonical(cache.quads(second)) == direct(second)
    assert len(expanded) == 2  # the second came from the template
    assert len(cache) == 1


@pytest.mark.parametrize(
    "bad_iri", ["did:example:abc\n", "did:example:a b", "did:example:<x>", "https://example.com/{x}", "urn:x\x00"]
)
def test_iris_n_quads_cannot_carry_are_rejected_even_from_a_cached_shape(bad_iri: str) -> None:
    document = load_vector("di-eddsa/TestVectors/unsigned.json")
    to_quads(document)  # the shape (subject id an IRI with scheme "did") is now cached
    changed = {**document, "credentialSubject": {**document["credentialSubject"], "id": bad_iri}}
    with pytest.raises(jsonld.UndefinedTermError, match="not an absolute IRI"):
        to_quads(changed)
    with pytest.raises(jsonld.UndefinedTermError, match="not an absolute IRI"):
        jsonld._to_quads_direct(changed)


def test_type_with_a_trailing_newline_is_rejected() -> None:
    document = load_vector("di-eddsa/TestVectors/unsigned.json")
    document["type"] = ["VerifiableCredential", "AlumniCredential\n"]
    with pytest.raises(jsonld.UndefinedTermError, match="@type"):
        to_quads(document)


def test_direction_is_rejected_because_it_would_not_be_signed() -> None:
    document = load_vector("di-eddsa/TestVectors/unsigned.json")
    document["credentialSubject"]["alumniOf"] = {"@value": "שלום עולם", "@language": "he", "@direction": "rtl"}
    with pytest.raises(jsonld.JsonLdError, match="@direction"):
        to_quads(document)


def test_a_poison_graph_is_stopped_by_the_work_limit_not_by_the_cache() -> None:
    from pyld import jsonld as pyld

    from did import KeyType
    from vc.data_integrity import hash_data
    from vc.rdfc import CanonicalizationLimitError

    manifest = load_vector("rdf-canon/manifest.jsonld")
    entry = next(e for e in manifest["entries"] if e["type"] == "rdfc:RDFC10NegativeEvalTest")
    nquads = (VECTORS / "rdf-canon" / entry["action"]).read_text(encoding="utf-8")
    graph = pyld.from_rdf(nquads, {"format": "application/n-quads"})
    document = {"@context": "https://www.w3.org/ns/credentials/v2", "@graph": graph}
    assert len(to_quads(document)) == len(nquads.strip().splitlines())
    config = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "@context": document["@context"]}
    with pytest.raises(CanonicalizationLimitError, match="work limit"):
        hash_data("eddsa-rdfc-2022", document, config, KeyType.ED25519)


def test_named_graph_with_a_unicode_space_in_its_name_is_rejected_not_dropped() -> None:
    document = load_vector("di-eddsa/TestVectors/unsigned.json")
    document["credentialSubject"]["alumniOf"] = "x"
    graph = {"@context": document["@context"], "@id": "urn:g\u00a0", "@graph": [document]}
    with pytest.raises(jsonld.UndefinedTermError, match="graph name"):
        to_quads(graph)


def test_numeric_strings_typed_double_are_never_templated() -> None:
    """pyld rewrites "1.5"^^xsd:double as 1.5E0; a template would keep the raw string."""
    context = {"@context": {"n": {"@id": "https://example.com/n", "@type": "http://www.w3.org/2001/XMLSchema#double"}}}
    for value in ("xid", "1.5", "1_000", "2.5"):
        document = {**context, "@id": "urn:x", "n": value}
        assert canonical(to_quads(document)) == direct(document)
