"""Hashing inside tiles (ledger.tiles): growing a tree batch by batch, cutting tile chunks, inner tile nodes."""

from __future__ import annotations

import hashlib
import random

import pytest

from ledger import rfc9162
from ledger.errors import TileError
from ledger.tiles import TILE_HEIGHT, TILE_WIDTH, grow, subtree_in_tile, tile_writes, upper_levels


def leaves(count: int, salt: int = 0) -> list[bytes]:
    return [hashlib.sha256(f"{salt}:{i}".encode()).digest() for i in range(count)]


def reference_nodes(size: int, peaks: tuple[bytes, ...], new: list[bytes]) -> dict[int, list[bytes]]:
    """New nodes at levels 8·L reported by rfc9162.CompactRange (the reference compact range)."""
    tree = rfc9162.CompactRange(size, peaks)
    out: dict[int, list[bytes]] = {}

    def on_node(level: int, index: int, value: bytes) -> None:
        if level % TILE_HEIGHT == 0:
            out.setdefault(level // TILE_HEIGHT, []).append(value)

    for leaf in new:
        tree.append(leaf, on_node)
    return out


@pytest.mark.parametrize("batches", [[1], [255, 1], [256, 256], [3, 70_000], [65_535, 1, 1], [1, 254, 65_281]])
def test_grow_matches_the_reference_compact_range(batches: list[int]) -> None:
    all_leaves = leaves(sum(batches))
    size, position = 0, 0
    peaks: tuple[bytes, ...] = ()
    levels: set[int] = set()
    for count in batches:
        batch = all_leaves[position : position + count]
        growth = grow(size, peaks, batch)
        assert growth.nodes == reference_nodes(size, peaks, batch)
        assert growth.size == size + count
        reference = rfc9162.CompactRange(size, peaks)
        for leaf in batch:
            reference.append(leaf)
        assert growth.peaks == reference.hashes
        size, peaks, position = growth.size, growth.peaks, position + count
        levels |= set(growth.nodes)
    assert rfc9162.CompactRange(size, peaks).root() == rfc9162.root(all_leaves)
    assert max(levels) == sum(size >= TILE_WIDTH**level for level in (1, 2))  # the cases reach tile levels 1 and 2


def test_grow_reports_the_level_8_node_when_a_tile_fills() -> None:
    first = grow(0, (), leaves(255))
    assert sorted(first.nodes) == [0]
    second = grow(first.size, first.peaks, leaves(1, salt=1))
    assert sorted(second.nodes) == [0, 1]
    assert second.nodes[1] == [rfc9162.root(leaves(255) + leaves(1, salt=1))]


def test_grow_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="has 1 peaks, got 0"):
        grow(1, (), leaves(1))
    with pytest.raises(ValueError, match="leaf hash 1 is 31 bytes"):
        grow(0, (), [leaves(1)[0], bytes(31)])
    with pytest.raises(ValueError, match="leaf hash 0 is 33 bytes"):
        grow(0, (), [bytes(33)])
    empty = grow(5, grow(0, (), leaves(5)).peaks, [])
    assert (empty.size, empty.nodes) == (5, {})


def test_tile_writes_cut_at_tile_boundaries() -> None:
    hashes = leaves(600)
    chunks = tile_writes(250, hashes)
    assert [(tile, offset, len(data) // 32) for tile, offset, data in chunks] == [
        (0, 250, 6),
        (1, 0, 256),
        (2, 0, 256),
        (3, 0, 82),
    ]
    assert b"".join(data for _, _, data in chunks) == b"".join(hashes)
    assert tile_writes(7, []) == []


def test_inner_nodes_of_a_tile_are_subtree_roots() -> None:
    bottom = leaves(TILE_WIDTH)
    tile = b"".join(bottom)
    rng = random.Random(3)
    for height in range(TILE_HEIGHT):
        offset = rng.randrange(TILE_WIDTH >> height) << height
        expected = rfc9162.root(bottom[offset : offset + (1 << height)])
        assert subtree_in_tile(tile, offset, height) == expected
    upper = upper_levels(tile, 4)
    assert [len(level) for level in upper] == [16, 8, 4, 2]
    assert upper[-1] == [rfc9162.root(bottom[:128]), rfc9162.root(bottom[128:])]
    assert upper[0][5] == rfc9162.root(bottom[5 * 16 : 6 * 16])


def test_inner_nodes_refuse_missing_hashes() -> None:
    partial = b"".join(leaves(10))
    assert subtree_in_tile(partial, 8, 1) == rfc9162.root(leaves(10)[8:10])
    with pytest.raises(TileError, match="holds 10 hashes"):
        subtree_in_tile(partial, 8, 2)
    with pytest.raises(TileError, match="only a full tile"):
        upper_levels(partial, 4)
