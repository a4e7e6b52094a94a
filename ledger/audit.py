"""Audit a whole stored log: recompute every leaf, tile and root; check every checkpoint and anchor receipt.

``audit(store, verifier)`` trusts nothing in the database except what it can recompute or verify with the log's
public key: leaf hashes from the entry bytes, tiles and roots from the leaves, checkpoints by signature and by
consistency with each other and with the entries, anchors with the back ends given. Each problem becomes a
``Finding`` with a stable ``code`` and a message naming what is wrong, e.g.::

    changedEntry        entry 41 was changed: its bytes no longer hash to the leaf stored for it
    missingEntry        entry 7 is missing (removed from the entries table)
    forkedCheckpoint    checkpoint at size 20 signs root ab12… but the entries give cd34… (a fork)

The audit itself raises only when the store cannot be read at all (``StoreUnavailableError``, ``NotInitialized``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import LedgerError
from ledger.note import NoteVerifier
from ledger.records import Record, RecordError
from ledger.rfc9162 import EMPTY_ROOT, CompactRange, consistency_proof_from, verify_consistency
from ledger.store import HASH_SIZE, TILE_HEIGHT, TILE_WIDTH, Store, StoredAnchor, StoredCheckpoint, Txn

__all__ = [
    "MAX_FINDINGS_PER_CODE",
    "AnchorVerifier",
    "AuditReport",
    "Finding",
    "audit",
]

MAX_FINDINGS_PER_CODE = 50


class AnchorVerifier(Protocol):
    """Checks one stored anchor receipt (JSON value) against the checkpoint note bytes; raises if it fails."""

    def __call__(self, receipt: object, checkpoint: bytes) -> None:
        """Raise a LedgerError when the receipt does not anchor this checkpoint."""
        ...


@dataclass(frozen=True)
class Finding:
    """One problem found: a machine code, a message naming what is wrong, and the index or size concerned."""

    code: str
    message: str
    position: int | None = None


@dataclass
class AuditReport:
    """What the audit checked and what it found."""

    size: int = 0
    entries_checked: int = 0
    tiles_checked: int = 0
    checkpoints_checked: int = 0
    anchors_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.findings

    def add(self, code: str, message: str, position: int | None = None) -> None:
        """Record a finding (at most MAX_FINDINGS_PER_CODE per code; the rest are counted)."""
        if sum(1 for f in self.findings if f.code == code) >= MAX_FINDINGS_PER_CODE:
            self.suppressed[code] = self.suppressed.get(code, 0) + 1
            return
        self.findings.append(Finding(code, message, position))


def _short(value: bytes) -> str:
    return value.hex()[:16] + "…"


class _TreeCheck:
    """Rebuilds the tree from recomputed leaves and compares every tile-level node with the stored tiles."""

    def __init__(self, txn: Txn, report: AuditReport, checkpoint_sizes: set[int]) -> None:
        self.txn = txn
        self.report = report
        self.range = CompactRange()
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT} if 0 in checkpoint_sizes else {}
        self.checkpoint_sizes = checkpoint_sizes
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._bad_tiles: set[tuple[int, int]] = set()

    def stored_tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._tiles:
            self._tiles = {k: v for k, v in self._tiles.items() if k[0] != level or k[1] >= index - 1}
            self._tiles[key] = self.txn.tile(level, index, cached=False)
        return self._tiles[key]

    def on_node(self, level: int, index: int, value: bytes) -> None:
        if level % TILE_HEIGHT:
            return
        tile_level = level // TILE_HEIGHT
        tile, offset = divmod(index, TILE_WIDTH)
        stored = self.stored_tile(tile_level, tile)[offset * HASH_SIZE : (offset + 1) * HASH_SIZE]
        if stored != value and (tile_level, tile) not in self._bad_tiles:
            self._bad_tiles.add((tile_level, tile))
            what = "is missing" if not stored else f"is {_short(stored)} but the entries give {_short(value)}"
            self.report.add(
                "tileMismatch",
                f"tile {tile_level}/{tile}: hash {offset} (Merkle node level {level}, index {index}) {what}",
                index,
            )
        if offset == TILE_WIDTH - 1:
            self.report.tiles_checked += 1

    def append(self, leaf: bytes) -> None:
        self.range.append(leaf, self.on_node)
        if self.range.size in self.checkpoint_sizes:
            self.roots[self.range.size] = self.range.root()


def audit(
    store: Store,
    verifier: NoteVerifier,
    *,
    witnesses: Sequence[NoteVerifier] = (),
    quorum: int = 0,
    anchors: Mapping[str, AnchorVerifier] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 10_000,
) -> AuditReport:
    """Audit the log in store against the log key (and witnesses, anchor back ends); return the findings."""
    report = AuditReport()
    with store.transaction() as txn:
        state = txn.state()
        report.size = state.size
        checkpoints = txn.checkpoints()
        tree = _TreeCheck(txn, report, {c.size for c in checkpoints})
        end = _check_entries(txn, tree, report, chunk, progress)
        _check_state(txn, tree, report, state.size, state.peaks, end)
        valid = _check_checkpoints(report, checkpoints, tree.roots, verifier, witnesses, quorum, state.origin)
        _check_consistency(txn, report, valid)
        _check_anchors(report, txn.anchors(), {c.size: c for c in checkpoints}, anchors or {})
    return report


def _check_entries(
    txn: Txn, tree: _TreeCheck, report: AuditReport, chunk: int, progress: Callable[[int], None] | None
) -> int:
    """Stream the entries; returns the index after the last entry seen."""
    sha = hashlib.sha256
    expected = 0
    while True:
        rows = txn.entries_from(expected, chunk)
        if not rows:
            return expected
        for index, entry, stored_leaf in rows:
            while expected < index:
                _missing(tree, report, expected)
                expected += 1
            leaf = sha(b"\x00" + entry).digest()
            if leaf != stored_leaf:
                report.add(
                    "changedEntry",
                    f"entry {index} was changed: its bytes no longer hash to the leaf hash stored with it",
                    index,
                )
            else:
                tile, offset = divmod(index, TILE_WIDTH)
                original = tree.stored_tile(0, tile)[offset * HASH_SIZE : (offset + 1) * HASH_SIZE]
                if original and original != leaf:
                    report.add(
                        "changedEntry",
                        f"entry {index} was changed: the record and its leaf hash were rewritten, but tile 0/{tile}"
                        " still holds the original leaf",
                        index,
                    )
            try:
                Record.from_bytes(entry)
            except RecordError as error:
                report.add("invalidRecord", f"entry {index} is not a valid record: {error.message}", index)
            tree.append(leaf)
            expected = index + 1
            report.entries_checked += 1
        if progress is not None:
            progress(len(rows))


def _missing(tree: _TreeCheck, report: AuditReport, index: int) -> None:
    report.add("missingEntry", f"entry {index} is missing (removed from the log's entries)", index)
    tile, offset = divmod(index, TILE_WIDTH)
    original = tree.stored_tile(0, tile)[offset * HASH_SIZE : (offset + 1) * HASH_SIZE]
    # Continue with the leaf the tiles remember, so later checks still point at the real damage.
    tree.append(original if len(original) == HASH_SIZE else bytes(HASH_SIZE))


def _check_state(
    txn: Txn, tree: _TreeCheck, report: AuditReport, size: int, peaks: tuple[bytes, ...], end: int
) -> None:
    for index in range(end, size):
        _missing(tree, report, index)
        if index - end >= MAX_FINDINGS_PER_CODE:
            report.add("missingEntry", f"entries {index + 1}..{size - 1} are missing as well", index + 1)
            break
    if end > size:
        report.add("extraEntries", f"entries {size}..{end - 1} lie beyond the tree size {size} in the state row", size)
    if tree.range.size == size and tuple(tree.range.hashes) != tuple(peaks):
        report.add("stateMismatch", f"the writer state's peaks do not match the tree of the {size} entries", size)
    # Tile rows must hold exactly the complete nodes of the tree, no more.
    for level, index, hashes in txn.tile_rows():
        complete = size >> (TILE_HEIGHT * level)
        width = min(TILE_WIDTH, complete - index * TILE_WIDTH)
        if len(hashes) % HASH_SIZE or len(hashes) // HASH_SIZE != max(width, 0):
            report.add(
                "tileMismatch",
                f"tile {level}/{index} holds {len(hashes) / HASH_SIZE:g} hashes; a tree of size {size} has"
                f" {max(width, 0)} there",
            )
        elif 0 < width < TILE_WIDTH:
            report.tiles_checked += 1


def _check_checkpoints(
    report: AuditReport,
    checkpoints: list[StoredCheckpoint],
    roots: dict[int, bytes],
    verifier: NoteVerifier,
    witnesses: Sequence[NoteVerifier],
    quorum: int,
    origin: str,
) -> list[Checkpoint]:
    """Check signatures, rows and roots; return the checkpoints whose signature verified, by size."""
    valid: list[Checkpoint] = []
    for row in checkpoints:
        report.checkpoints_checked += 1
        try:
            signed = open_checkpoint(row.note, verifier, witnesses, quorum)
        except LedgerError as error:
            report.add(
                "badCheckpoint", f"checkpoint at size {row.size}: its signed note does not verify: {error}", row.size
            )
            continue
        if signed.origin != origin:
            report.add(
                "badCheckpoint", f"checkpoint at size {row.size} is for origin {signed.origin!r}, not {origin!r}"
            )
            continue
        if signed.size != row.size or signed.root_hash != row.root_hash:
            report.add(
                "checkpointRowMismatch",
                f"checkpoint row at size {row.size} says root {_short(row.root_hash)} but its signed note says size"
                f" {signed.size}, root {_short(signed.root_hash)}",
                row.size,
            )
        computed = roots.get(signed.size)
        if computed is None:
            report.add(
                "checkpointBeyondLog",
                f"checkpoint at size {signed.size} covers entries the log no longer has (entries removed?)",
                signed.size,
            )
        elif computed != signed.root_hash:
            report.add(
                "forkedCheckpoint",
                f"forked checkpoint at size {signed.size}: it signs root {_short(signed.root_hash)} but the entries"
                f" give {_short(computed)}",
                signed.size,
            )
        valid.append(signed)
    return valid


def _check_consistency(txn: Txn, report: AuditReport, checkpoints: list[Checkpoint]) -> None:
    ordered = sorted(checkpoints, key=lambda c: c.size)
    for old, new in itertools.pairwise(ordered):
        if old.size == 0 or old.size == new.size:
            continue
        try:
            proof = consistency_proof_from(old.size, new.size, txn.node)
            verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
        except LedgerError as error:
            report.add(
                "inconsistentCheckpoints",
                f"checkpoint at size {new.size} is not consistent with checkpoint at size {old.size}: {error.message}",
                new.size,
            )


def _check_anchors(
    report: AuditReport,
    rows: list[StoredAnchor],
    checkpoints: dict[int, StoredCheckpoint],
    verifiers: Mapping[str, AnchorVerifier],
) -> None:
    unchecked: dict[str, int] = {}
    for row in rows:
        checkpoint = checkpoints.get(row.size)
        if checkpoint is None:
            report.add("anchorWithoutCheckpoint", f"{row.backend} anchor for size {row.size}: no such checkpoint")
            continue
        verify = verifiers.get(row.backend)
        if verify is None:
            unchecked[row.backend] = unchecked.get(row.backend, 0) + 1
            continue
        report.anchors_checked += 1
        try:
            receipt: Any = json.loads(row.receipt)
            verify(receipt, checkpoint.note.encode("utf-8"))
        except RecursionError:  # JSON nested deeper than Python's stack: hostile or corrupt, not a store failure
            message = "the receipt is JSON nested too deeply to read"
            report.add("badAnchor", f"{row.backend} anchor of checkpoint at size {row.size} does not verify: {message}")
        except (LedgerError, ValueError) as error:
            message = error.message if isinstance(error, LedgerError) else str(error)
            report.add("badAnchor", f"{row.backend} anchor of checkpoint at size {row.size} does not verify: {message}")
    for backend, count in unchecked.items():
        report.notes.append(f"{count} {backend} anchor receipt(s) not checked: no verifier for that back end given")
