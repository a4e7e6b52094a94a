"""RFC 9162 (RFC 6962) Merkle tree hashing, inclusion and consistency proofs, and incremental appends.

Two ways to build proofs: from a full list of leaf hashes (reference algorithms, small trees and tests) and from
a ``NodeReader`` that returns the hash of a *complete* subtree, node (level, index) = MTH of leaves
[index·2^level, (index+1)·2^level). Node-addressed proofs read O(log n) stored nodes, so they scale to any log that
stores complete subtrees (as tlog-tiles does). Verification follows RFC 9162 §2.1.3.2 / §2.1.4.2 with the strict
policy of transparency-dev/merkle: hashes must be 32 bytes, consistency from size 0 is refused, equal sizes need an
empty proof and equal roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from ledger.errors import ConsistencyProofError, InclusionProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NodeReader",
    "consistency_proof",
    "consistency_proof_from",
    "inclusion_proof",
    "inclusion_proof_from",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root",
    "root_from",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]
"""Returns the hash of the complete subtree at (level, index)."""

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """The leaf hash of an entry: SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + entry).digest()


def leaf_hashes(entries: Iterable[bytes]) -> list[bytes]:
    """The leaf hashes of many entries (``leaf_hash`` without a call per entry: the ledger's append path)."""
    sha = _sha256
    return [sha(b"\x00" + entry).digest() for entry in entries]


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of leaf hashes."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) from a full list of leaf hashes (RFC 9162 §2.1.3.1)."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"index {index} is outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaf_hashes[:k]), root(leaf_hashes[k:])]
    return [*inclusion_proof(index - k, leaf_hashes[k:]), root(leaf_hashes[:k])]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) from a full list of leaf hashes (RFC 9162 §2.1.4.1)."""
    n = len(leaf_hashes)
    if not 0 < old_size <= n:
        raise ValueError(f"old size {old_size} must be in 1..{n}")

    def subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
        size = len(leaves)
        if m == size:
            return [] if complete else [root(leaves)]
        k = _split(size)
        if m <= k:
            return [*subproof(m, leaves[:k], complete), root(leaves[k:])]
        return [*subproof(m - k, leaves[k:], False), root(leaves[:k])]

    return subproof(old_size, leaf_hashes, True)


def _check_hash(value: bytes, what: str, error: type[InclusionProofError] | type[ConsistencyProofError]) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise error(f"{what} must be a {HASH_SIZE}-byte hash")


def _check_shape(
    sizes: Sequence[tuple[str, object]],
    proof: object,
    error: type[InclusionProofError] | type[ConsistencyProofError],
) -> None:
    """Refuse a proof that is not a sequence of items, and indexes or sizes that are not integers."""
    if not isinstance(proof, Sequence) or isinstance(proof, str | bytes | bytearray):
        raise error(f"proof must be a sequence of {HASH_SIZE}-byte hashes, got {type(proof).__name__}")
    for what, value in sizes:
        if not isinstance(value, int):
            raise error(f"{what} must be an integer, got {type(value).__name__}")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); raises InclusionProofError if malformed."""
    _check_shape((("leaf index", index), ("tree size", size)), proof, InclusionProofError)
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf, "leaf hash", InclusionProofError)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p, "proof element", InclusionProofError)
        if sn == 0:
            raise InclusionProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that leaf_hash is at index in the tree of the given size and root; raise InclusionProofError if not."""
    _check_hash(root, "root", InclusionProofError)
    if root_from_inclusion(leaf_hash, index, size, proof) != root:
        raise InclusionProofError(f"inclusion proof for leaf {index} does not lead to the root of tree size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree (new_size, new_root) extends (old_size, old_root); raise ConsistencyProofError if not."""
    _check_shape((("old size", old_size), ("new size", new_size)), proof, ConsistencyProofError)
    if old_size < 1:
        raise ConsistencyProofError("consistency from an empty tree is not proven by a proof")
    if new_size < old_size:
        raise ConsistencyProofError(f"tree shrank from {old_size} to {new_size}")
    if old_size == new_size:
        if proof:
            raise ConsistencyProofError("trees of equal size need an empty consistency proof")
        if old_root != new_root:
            raise ConsistencyProofError(f"two different roots for tree size {old_size}")
        return
    _check_hash(old_root, "old root", ConsistencyProofError)
    _check_hash(new_root, "new root", ConsistencyProofError)
    for p in proof:
        _check_hash(p, "proof element", ConsistencyProofError)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    if not path:
        raise ConsistencyProofError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError("consistency proof is too short")
    if fr != old_root:
        raise ConsistencyProofError(f"consistency proof does not reproduce the root of tree size {old_size}")
    if sr != new_root:
        raise ConsistencyProofError(f"consistency proof does not reproduce the root of tree size {new_size}")


# -- node-addressed proofs --------------------------------------------------------------------------------------


def _range_nodes(begin: int, end: int) -> list[tuple[int, int]]:
    """The complete nodes covering leaves [begin, end), left to right (a compact range decomposition)."""
    nodes: list[tuple[int, int]] = []
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        while begin + (1 << level) > end:
            level -= 1
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def _range_root(begin: int, end: int, get_node: NodeReader) -> bytes:
    """MTH of leaves [begin, end) where that range is a subtree of the RFC 6962 tree."""
    hashes = [get_node(level, index) for level, index in _range_nodes(begin, end)]
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_from(size: int, get_node: NodeReader) -> bytes:
    """The root of the first ``size`` leaves, reading O(log n) complete nodes."""
    if size == 0:
        return EMPTY_ROOT
    return _range_root(0, size, get_node)


def inclusion_proof_from(index: int, size: int, get_node: NodeReader) -> list[bytes]:
    """Inclusion proof for leaf ``index`` in the tree of ``size`` leaves, from complete nodes."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    begin, end = 0, size
    # Walk down the RFC 6962 split; siblings are subtrees [begin..k) or [k..end).
    siblings: list[tuple[int, int]] = []
    while end - begin > 1:
        k = begin + _split(end - begin)
        if index < k:
            siblings.append((k, end))
            end = k
        else:
            siblings.append((begin, k))
            begin = k
    for b, e in reversed(siblings):
        proof.append(_range_root(b, e, get_node))
    return proof


def consistency_proof_from(old_size: int, new_size: int, get_node: NodeReader) -> list[bytes]:
    """Consistency proof from ``old_size`` to ``new_size``, from complete nodes."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"sizes must satisfy 0 < old ({old_size}) <= new ({new_size})")
    out: list[bytes] = []

    def subproof(m: int, begin: int, end: int, complete: bool) -> None:
        if m == end - begin:
            if not complete:
                out.append(_range_root(begin, end, get_node))
            return
        k = _split(end - begin)
        if m <= k:
            subproof(m, begin, begin + k, complete)
            out.append(_range_root(begin + k, end, get_node))
        else:
            subproof(m - k, begin + k, end, False)
            out.append(_range_root(begin, begin + k, get_node))

    subproof(old_size, 0, new_size, True)
    return out


class CompactRange:
    """Incremental Merkle tree state: the right-edge peaks of complete subtrees, for O(1) amortized appends."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a compact range of size {size} has {size.bit_count()} peaks, got {len(hashes)}")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The peaks, largest (leftmost) subtree first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes, on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        """Append a leaf hash, reporting every new complete node (level, index, hash) including the leaf."""
        size = self._size
        h = leaf_hash
        if on_node is not None:
            on_node(0, size, h)
        level = 0
        hashes = self._hashes
        while size & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            size >>= 1
            level += 1
            if on_node is not None:
                on_node(level, self._size >> level, h)
        hashes.append(h)
        self._size += 1

    def root(self) -> bytes:
        """The root of the tree so far."""
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            acc = node_hash(h, acc)
        return acc
