"""Hostile input to Data Integrity, JSON-LD, RDFC and status lists: every failure is a VcError with a stable code,
and the work done before a signature is checked stays bounded (regressions from a fuzzing review)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from did import KeyType, Resolver, SoftwareSigner, did_key
from tests.helpers import VECTORS, load_vector
from vc.data_integrity import (
    MAX_PROOFS,
    SUITES,
    DataIntegrityError,
    JcsError,
    ProofSignatureError,
    add_proof,
    verify_proof,
    verify_proofs,
)
from vc.jsonld import (
    MAX_DEPTH,
    MAX_PROPERTY_VALUES,
    MAX_VALUES,
    DocumentLimitError,
    InvalidUnicodeError,
    JsonLdError,
    check_document,
    to_quads,
)
from vc.rdfc import CanonicalizationError, canonicalize_quads
from vc.status_list import (
    MIN_ENTRIES,
    BitstringStatusEntry,
    BitstringStatusList,
    StatusListError,
    check_bitstring_status,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
RESOLVER = Resolver()
CONTEXTS = ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"]
LIST_URL = "https://issuer.example.jp/status/1"


@cache
def _signer(key_type: KeyType = KeyType.ED25519) -> SoftwareSigner:
    return did_key.generate(key_type)


def _credential(**extra: Any) -> dict[str, Any]:
    return {
        "@context": CONTEXTS,
        "type": ["VerifiableCredential"],
        "issuer": _signer().key_id.split("#")[0],
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", "alumniOf": "Example University"},
        **extra,
    }


def _secured(suite: str = "eddsa-rdfc-2022", **extra: Any) -> dict[str, Any]:
    return add_proof(_credential(**extra), _signer(), cryptosuite=suite, created=NOW)


def _with_subject(secured: dict[str, Any], subject: Any) -> dict[str, Any]:
    return {**secured, "credentialSubject": subject}


def _verify(document: Any) -> object:
    return verify_proofs(document, RESOLVER.dereference, now=NOW)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


# -- 1. the work before the signature check is bounded --------------------------------------------------------


def test_a_long_array_is_refused_before_json_ld_processing() -> None:
    document = _with_subject(_secured(), {"id": "did:example:holder", "alumniOf": [f"x{i}" for i in range(4000)]})
    with pytest.raises(DocumentLimitError, match="MAX_PROPERTY_VALUES") as caught:  # timed in bench/bench_vc_di.py
        _verify(document)
    assert caught.value.code == "documentLimitExceeded"


def test_nested_arrays_count_as_one_property() -> None:
    half = MAX_PROPERTY_VALUES // 2 + 1
    values = [[f"a{i}" for i in range(half)], [f"b{i}" for i in range(half)]]  # JSON-LD flattens these
    with pytest.raises(DocumentLimitError, match="alumniOf"):
        _verify(_with_subject(_secured(), {"id": "did:example:holder", "alumniOf": values}))


def test_objects_with_one_id_count_as_one_node() -> None:
    half = MAX_PROPERTY_VALUES // 2 + 1
    subject = [
        {"id": "did:example:holder", "alumniOf": [f"{side}{i}" for i in range(half)]} for side in ("a", "b")
    ]  # pyld merges both objects into one node, so their values are de-duplicated together
    with pytest.raises(DocumentLimitError, match="alumniOf"):
        _verify(_with_subject(_secured(), subject))


def test_too_many_values_are_refused() -> None:
    subject = {"id": "did:example:holder", **{f"claim{i}": f"value {i}" for i in range(MAX_VALUES)}}
    with pytest.raises(DocumentLimitError, match="MAX_VALUES"):
        _verify(_with_subject(_secured(), subject))


def test_keyword_tricks_do_not_escape_the_property_count() -> None:
    half = MAX_PROPERTY_VALUES // 2 + 1
    nest = {
        "@context": CONTEXTS,
        "@id": "urn:x",
        "alumniOf": list(range(half)),
        "@nest": {"alumniOf": list(range(half))},
    }
    with pytest.raises(DocumentLimitError, match="alumniOf"):
        to_quads(nest)
    reverse = {"@context": CONTEXTS, "@id": "urn:x", "@reverse": {"alumniOf": [{"@id": f"urn:{i}"} for i in range(99)]}}
    with pytest.raises(DocumentLimitError, match="alumniOf"):
        to_quads(reverse)


def test_an_inline_context_makes_the_whole_document_one_property() -> None:
    """An inline context can alias @id, so objects the walk sees as distinct may merge: count them all together."""
    document: dict[str, Any] = {
        "@context": {"key": "@id", "p": "https://example.org/p"},
        "@graph": [{"key": "urn:same", "p": f"v{i}"} for i in range(MAX_PROPERTY_VALUES)],
    }
    with pytest.raises(DocumentLimitError, match="inline @context"):
        to_quads(document)
    to_quads({**document, "@graph": document["@graph"][:10]})


def test_the_worst_document_within_the_limits_reaches_the_signature_check() -> None:
    """Within the limits a document is processed to the end (its time is measured in bench/bench_vc_di.py)."""
    per = MAX_PROPERTY_VALUES
    properties = (MAX_VALUES - 40) // (per + 1)
    subject = {"id": "did:example:holder", **{f"p{j}": [f"x{j}_{i}" for i in range(per)] for j in range(properties)}}
    document = _with_subject(_secured(), subject)
    check_document(document)
    with pytest.raises(ProofSignatureError):  # the claims changed, so the signature cannot match
        _verify(document)


def _all_json(folder: str) -> list[Any]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((VECTORS / folder).rglob("*.json"))]


def test_real_credentials_are_well_within_the_limits() -> None:
    documents = [
        *_all_json("di-eddsa"),
        *_all_json("di-ecdsa"),
        *load_vector("bitstring-status-list/spec-examples.json").values(),
    ]
    documents.append(
        BitstringStatusList(status_size=8).credential(LIST_URL, "did:example:i", "message", "2026-01-01T00:00:00Z")
    )
    assert len(documents) > 20  # the vector folders are present (an empty loop would check nothing)
    for document in documents:
        values, arrays, depth = _measure(document)
        assert values <= MAX_VALUES // 4
        assert arrays <= MAX_PROPERTY_VALUES // 4
        assert depth <= MAX_DEPTH // 4
        check_document(document)


def _measure(value: Any, depth: int = 1) -> tuple[int, int, int]:
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    counts = [_measure(item, depth + 1) for item in items]
    return (
        1 + sum(c[0] for c in counts),
        max([len(value) if isinstance(value, list) else 0, *(c[1] for c in counts)]),
        max([depth, *(c[2] for c in counts)]),
    )


# -- 2. JCS: values RFC 8785 cannot canonicalize --------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, float("nan"), float("inf")], ids=["int-2**63", "nan", "inf"])
def test_jcs_values_outside_its_domain_are_jcs_errors(value: Any) -> None:
    secured = _secured("eddsa-jcs-2022")
    with pytest.raises(JcsError) as caught:
        _verify(_with_subject(secured, {"id": "did:example:holder", "alumniOf": value}))
    assert caught.value.code == "jcsError"
    with pytest.raises(JcsError):
        add_proof(_credential(extra=value), _signer(), cryptosuite="eddsa-jcs-2022")


def test_jcs_lone_surrogate_is_an_invalid_unicode_error() -> None:
    secured = _secured("eddsa-jcs-2022")
    with pytest.raises(InvalidUnicodeError) as caught:
        _verify(_with_subject(secured, {"id": "did:example:holder", "alumniOf": "\ud800"}))
    assert caught.value.code == "invalidUnicode"


# -- 3. relative context URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("context", [[*CONTEXTS, "u"], [*CONTEXTS, ""], [*CONTEXTS, "./x"]])
def test_a_relative_context_url_is_a_json_ld_error(context: list[str]) -> None:
    with pytest.raises(JsonLdError) as caught:
        _verify({**_secured(), "@context": context})
    assert caught.value.code == "jsonLdError"
    with pytest.raises(JsonLdError):
        to_quads({"@context": context, "name": "x"})


# -- 4. text UTF-8 cannot encode ------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", [s for s in SUITES if "rdfc" in s])
def test_a_lone_surrogate_is_refused_before_rdf_canonicalization(suite: str) -> None:
    signer = _signer(KeyType.P256 if suite.startswith("ecdsa") else KeyType.ED25519)
    secured = add_proof(_credential(issuer=signer.key_id.split("#")[0]), signer, cryptosuite=suite, created=NOW)
    for subject in ({"id": "did:example:holder", "alumniOf": "\udfff"}, {"id": "did:example:holder", "\ud800": "x"}):
        with pytest.raises(InvalidUnicodeError):
            _verify(_with_subject(secured, subject))
    with pytest.raises(InvalidUnicodeError):
        add_proof(_credential(credentialSubject={"alumniOf": "a\ud800b"}), signer, cryptosuite=suite)


def test_rdfc_refuses_quads_with_a_lone_surrogate() -> None:
    quad = (("bnode", "b0"), ("iri", "https://example.org/p"), ("literal", "\ud800", "", "en"), ("default",))
    with pytest.raises(CanonicalizationError, match="not valid Unicode") as caught:
        canonicalize_quads([quad])
    assert caught.value.code == "rdfcError"
    with pytest.raises(CanonicalizationError, match="not valid Unicode"):
        canonicalize_quads([(("iri", "urn:a"), ("iri", "urn:p"), ("literal", "\ud800", "", "en"), ("default",))])


# -- 5. status entries and lists with values int() would choke on ---------------------------------------------


def _entry(**extra: Any) -> dict[str, Any]:
    return {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "1",
        "statusListCredential": LIST_URL,
        **extra,
    }


BAD_INDEXES = ["\u00b2", "\uff11\uff12", "\u0663", "1" * 5000, "1" * 16, " 1", "1\n", "+1", "-1", "1_0", ""]


@pytest.mark.parametrize("index", BAD_INDEXES)
def test_status_list_index_is_ascii_digits_of_bounded_length(index: str) -> None:
    with pytest.raises(StatusListError, match="statusListIndex") as caught:
        BitstringStatusEntry.parse(_entry(statusListIndex=index))
    assert caught.value.code == "statusListError"


def test_status_list_index_limits_accept_real_indexes() -> None:
    assert BitstringStatusEntry.parse(_entry(statusListIndex="0")).index == 0
    assert BitstringStatusEntry.parse(_entry(statusListIndex="9" * 15)).index == 10**15 - 1


@pytest.mark.parametrize("size", ["2", "x", [], True, 2.0, "1" * 5000, 3, 0, -1, None])
def test_status_size_must_be_a_supported_integer(size: Any) -> None:
    with pytest.raises(StatusListError, match="statusSize"):
        BitstringStatusEntry.parse(_entry(statusSize=size))
    status_list = BitstringStatusList().credential(LIST_URL, "did:example:i", "revocation", "2026-01-01T00:00:00Z")
    status_list["credentialSubject"]["statusSize"] = size
    with pytest.raises(StatusListError, match="statusSize"):
        check_bitstring_status(BitstringStatusEntry.parse(_entry()), status_list)


# -- 6. depth -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_deep_nesting_is_refused_without_recursion(suite: str) -> None:
    secured = _secured(suite)
    deep = _with_subject(secured, {"id": "did:example:holder", "alumniOf": _nested(5000)})
    with pytest.raises(DocumentLimitError, match="MAX_DEPTH"):
        _verify(deep)
    with pytest.raises(DocumentLimitError, match="MAX_DEPTH"):
        verify_proof(deep, RESOLVER.dereference, now=NOW)
    with pytest.raises(DocumentLimitError, match="MAX_DEPTH"):
        add_proof(_credential(credentialSubject={"alumniOf": _nested(5000)}), _signer(), cryptosuite=suite)
    with pytest.raises(DocumentLimitError, match="MAX_DEPTH"):
        to_quads({"@context": CONTEXTS, "alumniOf": _nested(900)})


def test_depth_up_to_the_limit_is_accepted() -> None:
    check_document(_nested(MAX_DEPTH))  # MAX_DEPTH arrays, the outermost being the document
    with pytest.raises(DocumentLimitError):
        check_document(_nested(MAX_DEPTH + 1))


# -- 7. non-object input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", [[], [{}], "x", 1, None])
def test_non_object_documents_are_data_integrity_errors(document: Any) -> None:
    with pytest.raises(DataIntegrityError, match="JSON object"):
        _verify(document)
    with pytest.raises(DataIntegrityError, match="JSON object"):
        verify_proof(document, RESOLVER.dereference)
    with pytest.raises(DataIntegrityError, match="JSON object"):
        add_proof(document, _signer(), cryptosuite="eddsa-jcs-2022")


@pytest.mark.parametrize("list_credential", [1, [], "x", None])
def test_a_non_object_status_list_credential_is_a_status_list_error(list_credential: Any) -> None:
    with pytest.raises(StatusListError, match="JSON object"):
        check_bitstring_status(BitstringStatusEntry.parse(_entry()), list_credential)


# -- 8. multi-bit lists ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_a_multi_bit_list_is_secured_with_every_suite_and_read_with_the_entry_size(suite: str) -> None:
    signer = _signer(KeyType.P256 if suite.startswith("ecdsa") else KeyType.ED25519)
    status = BitstringStatusList(MIN_ENTRIES, status_size=2)
    status.set(7, 3)
    status.set(8, 2)
    unsecured = status.credential(LIST_URL, signer.key_id.split("#")[0], "message", "2026-01-01T00:00:00Z")
    assert "statusSize" not in unsecured["credentialSubject"]  # the v2 context defines it on entries only
    secured = add_proof(unsecured, signer, cryptosuite=suite, created=NOW)
    verify_proof(secured, RESOLVER.dereference, now=NOW)
    for index, value in ((7, 3), (8, 2), (9, 0)):
        entry = BitstringStatusEntry.parse(_entry(statusPurpose="message", statusListIndex=str(index), statusSize=2))
        assert check_bitstring_status(entry, secured) == value


def test_a_list_that_states_its_size_must_agree_with_the_entry() -> None:
    status = BitstringStatusList(MIN_ENTRIES, status_size=2)
    status.set(7, 3)
    listed = status.credential(LIST_URL, "did:example:i", "message", "2026-01-01T00:00:00Z")
    listed["credentialSubject"]["statusSize"] = 2  # as a JCS- or JWT-secured list from elsewhere may say
    two = BitstringStatusEntry.parse(_entry(statusPurpose="message", statusListIndex="7", statusSize=2))
    assert check_bitstring_status(two, listed) == 3
    four = BitstringStatusEntry.parse(_entry(statusPurpose="message", statusListIndex="7", statusSize=4))
    with pytest.raises(StatusListError, match="statusSize 4, the list 2"):
        check_bitstring_status(four, listed)
    one = BitstringStatusEntry.parse(_entry(statusPurpose="message", statusListIndex="7"))
    with pytest.raises(StatusListError, match="statusSize 1, the list 2"):
        check_bitstring_status(one, copy.deepcopy(listed))


def test_a_one_bit_list_read_as_two_bits_is_too_short() -> None:
    listed = BitstringStatusList().credential(LIST_URL, "did:example:i", "message", "2026-01-01T00:00:00Z")
    two = BitstringStatusEntry.parse(_entry(statusPurpose="message", statusSize=2))
    with pytest.raises(StatusListError, match="statusSize 2; at least 131072"):
        check_bitstring_status(two, listed)


def test_the_number_of_proofs_is_bounded() -> None:
    """Each proof canonicalizes the document again, so a self-signed set of many proofs would multiply the work."""
    secured = _secured()
    proof = secured["proof"]
    assert len(_verify({**secured, "proof": [proof] * MAX_PROOFS})) == MAX_PROOFS  # type: ignore[arg-type]
    with pytest.raises(DataIntegrityError, match=f"9 proofs; at most {MAX_PROOFS} are verified"):
        _verify({**secured, "proof": [proof] * (MAX_PROOFS + 1)})
