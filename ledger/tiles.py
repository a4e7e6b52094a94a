"""C2SP tlog-tiles: tile paths, entry bundles, which tiles a log publishes, and the hashing inside tiles.

A tile at tile-level L and index N holds the Merkle nodes at level 8·L with indices N·256 … N·256+W-1 (32 bytes
each). Full tiles (W = 256) are immutable; a partial tile of width W is published at ``<path>.p/<W>``.

Hashing inside tiles: ``grow`` appends leaf hashes to a tree given by its size and compact-range peaks and returns
the new nodes every tile level gains (the only Merkle nodes a log stores); ``tile_writes`` cuts those nodes into
per-tile chunks; ``subtree_in_tile`` and ``upper_levels`` recompute the inner nodes between two tile levels that a
proof needs. Nothing here touches a database (``ledger.store`` does).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ledger.errors import TileError
from ledger.rfc9162 import HASH_SIZE, NodeReader

__all__ = [
    "MAX_ENTRY_SIZE",
    "MAX_INDEX",
    "MAX_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileGrowth",
    "build_tiles",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "entries_path",
    "grow",
    "parse_tile_path",
    "subtree_in_tile",
    "tile_node",
    "tile_path",
    "tile_writes",
    "tiles_for_size",
    "upper_levels",
]

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
MAX_ENTRY_SIZE: Final = 0xFFFF
MAX_LEVEL: Final = 63
MAX_INDEX: Final = (1 << 63) - 1
_GROUP = re.compile(r"x[0-9]{3}")  # [0-9], not \d: only ASCII digits
_LAST = re.compile(r"[0-9]{3}")
_NUMBER = re.compile(r"0|[1-9][0-9]{0,2}")  # a tile level (0..63) or a partial width (1..255)
_MAX_SEGMENTS = 7  # a tile index below 2**63 has at most 19 digits: six x### groups and the last ###


def _index_path(index: int) -> str:
    if index < 0:
        raise TileError(f"tile index {index} is negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def _width_suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise TileError(f"tile width {width} must be 1..{TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Path of a hash tile, e.g. ``tile/0/x001/234`` or ``tile/1/005.p/17``."""
    if not 0 <= level <= MAX_LEVEL:
        raise TileError(f"tile level {level} must be 0..{MAX_LEVEL}")
    return f"tile/{level}/{_index_path(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Path of an entry bundle, e.g. ``tile/entries/000.p/15``."""
    return f"tile/entries/{_index_path(index)}{_width_suffix(width)}"


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """Parse a hash-tile path (without prefix) into (level, index, width); level -1 means the entries tile."""
    shown = f"{path[:80]!r}"
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError(f"not a tile path: {shown}")
    level_text, rest = parts[1], parts[2:]
    if level_text == "entries":
        level = -1
    elif _NUMBER.fullmatch(level_text) and int(level_text) <= MAX_LEVEL:
        level = int(level_text)
    else:
        raise TileError(f"bad tile level in {shown}: tile level must be a number 0..{MAX_LEVEL}")
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width_text = rest[-1]
        if not _NUMBER.fullmatch(width_text) or not 1 <= int(width_text) < TILE_WIDTH:
            raise TileError(f"bad partial tile width in {shown}: partial width must be 1..{TILE_WIDTH - 1}")
        width = int(width_text)
        rest = [*rest[:-2], rest[-2][:-2]]
    if len(rest) > _MAX_SEGMENTS:
        raise TileError(f"bad tile index in {shown}: it has more than {_MAX_SEGMENTS} groups")
    if not _LAST.fullmatch(rest[-1]) or not all(_GROUP.fullmatch(s) for s in rest[:-1]):
        raise TileError(f"bad tile index in {shown}: it must be written as x###/…/### (tlog-tiles)")
    if len(rest) > 1 and rest[0] == "x000":
        raise TileError(f"bad tile index in {shown}: it has a leading zero group")
    index = int("".join(s.removeprefix("x") for s in rest))
    if index > MAX_INDEX:
        raise TileError(f"bad tile index in {shown}: it must be below 2**63")
    return level, index, width


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Concatenate entries, each prefixed by its big-endian uint16 length."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry of {len(entry)} bytes exceeds the {MAX_ENTRY_SIZE}-byte limit of a bundle")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle into its entries, rejecting truncated data."""
    entries, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise TileError("entry bundle ends inside a length prefix")
        size = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + size > len(data):
            raise TileError("entry bundle ends inside an entry")
        entries.append(data[offset : offset + size])
        offset += size
    if len(entries) > TILE_WIDTH:
        raise TileError(f"entry bundle holds {len(entries)} entries; at most {TILE_WIDTH}")
    return entries


def tile_node(level: int, index: int) -> tuple[int, int]:
    """The Merkle (level, first index) of the nodes a tile holds."""
    return level * TILE_HEIGHT, index * TILE_WIDTH


def tiles_for_size(size: int) -> list[tuple[int, int, int]]:
    """Every (level, index, width) hash tile a log of ``size`` entries publishes, lowest level first."""
    out: list[tuple[int, int, int]] = []
    level, nodes = 0, size  # number of complete Merkle nodes at level 8·L
    while nodes > 0:
        full, partial = divmod(nodes, TILE_WIDTH)
        out.extend((level, i, TILE_WIDTH) for i in range(full))
        if partial:
            out.append((level, full, partial))
        level += 1
        nodes >>= TILE_HEIGHT
    return out


def build_tiles(size: int, get_node: NodeReader) -> dict[str, bytes]:
    """All hash tiles of a log of ``size`` entries, path -> concatenated node hashes."""
    tiles: dict[str, bytes] = {}
    for level, index, width in tiles_for_size(size):
        merkle_level, first = tile_node(level, index)
        data = b"".join(get_node(merkle_level, first + i) for i in range(width))
        if len(data) != width * HASH_SIZE:
            raise TileError(f"node reader returned a bad hash for tile {level}/{index}")
        tiles[tile_path(level, index, width)] = data
    return tiles


# --- hashing inside tiles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TileGrowth:
    """The result of appending leaves: new size and peaks, and the new nodes per tile level.

    ``nodes[L]`` holds the Merkle nodes at level 8·L completed by the append, in index order; the first of them has
    index ``old_size >> 8·L`` (every tile level grows at its right edge). Level 0 holds the leaf hashes themselves.
    """

    size: int
    peaks: tuple[bytes, ...]
    nodes: dict[int, list[bytes]]


def grow(size: int, peaks: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> TileGrowth:
    """Append leaf hashes to the tree (size, compact-range peaks); return the new state and the new tile nodes."""
    if size < 0 or len(peaks) != size.bit_count():
        raise ValueError(f"a tree of size {size} has {max(size, 0).bit_count()} peaks, got {len(peaks)}")
    stack = list(peaks)
    nodes: dict[int, list[bytes]] = {0: list(leaf_hashes)} if leaf_hashes else {}
    sha = hashlib.sha256
    n = size
    # The compact-range append of rfc9162.CompactRange, inlined: this loop is the hot path of every append, and
    # only the nodes at levels 8·L (those tiles store) are collected.
    for leaf in leaf_hashes:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash {n - size} is {len(leaf)} bytes, not {HASH_SIZE}")
        h = leaf
        carry = n
        level = 0
        while carry & 1:
            h = sha(b"\x01" + stack.pop() + h).digest()
            carry >>= 1
            level += 1
            if not level % TILE_HEIGHT:
                nodes.setdefault(level // TILE_HEIGHT, []).append(h)
        stack.append(h)
        n += 1
    return TileGrowth(n, tuple(stack), nodes)


def tile_writes(first: int, hashes: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
    """Cut the nodes with indices first, first+1, … of one tile level into (tile index, offset, bytes) chunks."""
    out: list[tuple[int, int, bytes]] = []
    position, index = 0, first
    while position < len(hashes):
        tile, offset = divmod(index, TILE_WIDTH)
        take = min(TILE_WIDTH - offset, len(hashes) - position)
        out.append((tile, offset, b"".join(hashes[position : position + take])))
        position += take
        index += take
    return out


def _subtree(hashes: list[bytes]) -> bytes:
    """Root of a perfect subtree given its 2^k bottom hashes."""
    sha = hashlib.sha256
    while len(hashes) > 1:
        hashes = [sha(b"\x01" + hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes), 2)]
    return hashes[0]


def subtree_in_tile(data: bytes, offset: int, height: int) -> bytes:
    """Hash of the complete subtree over the 2^height tile hashes starting at ``offset`` in ``data``."""
    start, end = offset * HASH_SIZE, (offset + (1 << height)) * HASH_SIZE
    if offset < 0 or not 0 <= height < TILE_HEIGHT or len(data) < end:
        raise TileError(f"the tile holds {len(data) // HASH_SIZE} hashes, not {offset} + 2^{height}")
    if height == 0:
        return data[start:end]
    return _subtree([data[i : i + HASH_SIZE] for i in range(start, end, HASH_SIZE)])


def upper_levels(tile: bytes, lowest: int) -> list[list[bytes]]:
    """Inner nodes of a full tile at heights ``lowest`` … 7 (each level half as many hashes as the one below)."""
    if len(tile) != TILE_WIDTH * HASH_SIZE:
        raise TileError(f"only a full tile has all its inner nodes; this one holds {len(tile) // HASH_SIZE} hashes")
    level = [tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)]
    sha = hashlib.sha256
    upper: list[list[bytes]] = []
    for height in range(1, TILE_HEIGHT):
        level = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
        if height >= lowest:
            upper.append(level)
    return upper
