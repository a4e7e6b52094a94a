"""RFC 9162 Merkle trees against transparency-dev/merkle's vectors, plus node-addressed proofs and CompactRange."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ConsistencyProofError, InclusionProofError
from ledger.rfc9162 import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root,
    root_from,
    verify_consistency,
    verify_inclusion,
)
from tests.helpers import VECTORS, load_vector

MERKLE = VECTORS / "merkle"
REFERENCE = load_vector("merkle/rfc6962-reference-tree.json")


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _cases(kind: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted((MERKLE / "testdata" / kind).rglob("*.json"))
    return [(str(f.relative_to(MERKLE / "testdata" / kind)), json.loads(f.read_text())) for f in files]


@pytest.mark.parametrize(("name", "case"), _cases("inclusion"))
def test_inclusion_vectors(name: str, case: dict[str, Any]) -> None:
    proof = [_b64(p) for p in case["proof"] or []]
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize(("name", "case"), _cases("consistency"))
def test_consistency_vectors(name: str, case: dict[str, Any]) -> None:
    proof = [_b64(p) for p in case["proof"] or []]
    args = (case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof)
    if case["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vector_counts() -> None:
    assert len(_cases("inclusion")) == 98
    assert len(_cases("consistency")) == 98


def _reference_leaves() -> list[bytes]:
    return [leaf_hash(bytes.fromhex(h)) for h in REFERENCE["leaf_inputs_hex"]]


def test_reference_tree_roots_and_nodes() -> None:
    leaves = _reference_leaves()
    for size, want in enumerate(REFERENCE["root_by_tree_size_hex"]):
        assert root(leaves[:size]).hex() == want
    levels = REFERENCE["node_hashes_by_level_hex"]
    nodes = _nodes(leaves)
    for level, hashes in enumerate(levels):
        for index, want in enumerate(hashes):
            assert nodes[(level, index)].hex() == want


def test_hasher_cases() -> None:
    for case in REFERENCE["hasher_cases"]:
        if "leaf_hex" in case:
            got = leaf_hash(bytes.fromhex(case["leaf_hex"]))
        elif "left_hex" in case:
            got = node_hash(bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"]))
        else:
            got = EMPTY_ROOT
        assert got.hex() == case["want_hex"], case["desc"]


def test_batch_leaf_hashes_match_the_reference_leaves() -> None:
    cases = [case for case in REFERENCE["hasher_cases"] if "leaf_hex" in case]
    assert cases
    got = leaf_hashes(bytes.fromhex(case["leaf_hex"]) for case in cases)
    assert [h.hex() for h in got] == [case["want_hex"] for case in cases]


def _nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    for h in leaves:
        compact.append(h, lambda level, index, value: nodes.__setitem__((level, index), value))
    return nodes


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_node_addressed_proofs_equal_reference_exhaustively() -> None:
    leaves = _leaves(70)
    nodes = _nodes(leaves)
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    for size in range(1, 71):
        assert root_from(size, get) == root(leaves[:size])
        for index in range(size):
            proof = inclusion_proof_from(index, size, get)
            assert proof == inclusion_proof(index, leaves[:size])
            verify_inclusion(leaves[index], index, size, proof, root(leaves[:size]))
    for new in range(1, 41):
        for old in range(1, new + 1):
            proof = consistency_proof_from(old, new, get)
            assert proof == consistency_proof(old, leaves[:new])
            verify_consistency(old, new, root(leaves[:old]), root(leaves[:new]), proof)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5000), st.data())
def test_node_addressed_proofs_at_random_sizes(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    nodes = _nodes(leaves)
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    tree_root = root_from(size, get)
    assert tree_root == root(leaves)
    assert root_from(old, get) == root(leaves[:old])
    verify_inclusion(leaves[index], index, size, inclusion_proof_from(index, size, get), tree_root)
    verify_consistency(old, size, root(leaves[:old]), tree_root, consistency_proof_from(old, size, get))


def test_compact_range_roots_and_resume() -> None:
    leaves = _leaves(300)
    compact = CompactRange()
    assert compact.root() == EMPTY_ROOT
    for size, h in enumerate(leaves, start=1):
        compact.append(h)
        assert compact.size == size
        assert compact.root() == root(leaves[:size])
        if size in (1, 7, 64, 129):
            resumed = CompactRange(compact.size, compact.hashes)
            for later in leaves[size : size + 20]:
                resumed.append(later)
            assert resumed.root() == root(leaves[: min(size + 20, 300)])
    with pytest.raises(ValueError, match="peaks"):
        CompactRange(5, [EMPTY_ROOT])


def test_proof_inputs_are_checked() -> None:
    leaves = _leaves(5)
    good = inclusion_proof(2, leaves)
    tree_root = root(leaves)
    with pytest.raises(InclusionProofError, match="outside"):
        verify_inclusion(leaves[2], 5, 5, good, tree_root)
    with pytest.raises(InclusionProofError, match="32-byte"):
        verify_inclusion(leaves[2][:31], 2, 5, good, tree_root)
    with pytest.raises(InclusionProofError, match="longer"):
        verify_inclusion(leaves[2], 2, 5, [*good, good[0]], tree_root)
    with pytest.raises(InclusionProofError, match="shorter"):
        verify_inclusion(leaves[2], 2, 5, good[:-1], tree_root)
    with pytest.raises(ConsistencyProofError, match="shrank"):
        verify_consistency(5, 4, tree_root, tree_root, [])
    with pytest.raises(ConsistencyProofError, match="different roots"):
        verify_consistency(5, 5, tree_root, hashlib.sha256(b"x").digest(), [])
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof_from(5, 5, lambda level, index: b"")
    with pytest.raises(ValueError, match="sizes"):
        consistency_proof_from(0, 5, lambda level, index: b"")
