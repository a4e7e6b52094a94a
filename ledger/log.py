"""The log's sequencer: a single batching writer per process, checkpoint signing, receipts and anchoring.

``Log.append(record)`` hands the record to a writer thread that commits up to ``batch_size`` records, or whatever
arrived within ``batch_age`` seconds of the first, in ONE transaction, and returns a ``Pending`` with the index and
leaf hash once that transaction has committed (acknowledged = committed). ``Pending.wait_included()`` waits for a
checkpoint covering the entry and returns its receipt (C2SP tlog-proof). ``append_many`` commits a list from the
calling thread in batches (bulk loads, benchmarks).

Several processes may run a ``Log`` on the same database: the store's writer lock serialises their batches, so the
log stays one sequence without gaps. Checkpoints are signed when the tree has grown (every ``checkpoint_interval``
seconds, or on demand), only after checking that the new tree is consistent with the previous checkpoint; each new
checkpoint is then submitted to the configured anchors and their receipts stored. Errors::

    LedgerError
    ├── InclusionTimeoutError   inclusionTimeout   (no checkpoint covered the entry in time)
    ├── NotIncludedError        notIncluded        (the entry exists but no checkpoint covers it yet)
    └── LogClosedError          logClosed          (append after close)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from did import PublicKey, Signer
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import LedgerError
from ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier, vkey
from ledger.receipt import Receipt
from ledger.records import Record
from ledger.rfc9162 import (
    consistency_proof_from,
    inclusion_proof_from,
    leaf_hash,
    leaf_hashes,
    root_from,
    verify_consistency,
    verify_inclusion,
)
from ledger.store import (
    TILE_WIDTH,
    IndexOutOfRangeError,
    Store,
    StoredAnchor,
    StoredCheckpoint,
    StoreStateError,
    Txn,
)
from ledger.tiles import entries_path, tile_path, tiles_for_size

__all__ = [
    "AnchorLike",
    "AnchorReceiptLike",
    "InclusionTimeoutError",
    "Log",
    "LogClosedError",
    "NotIncludedError",
    "Pending",
    "anchor_backend_name",
    "export_tiles",
    "prove",
]

log = logging.getLogger(__name__)


class InclusionTimeoutError(LedgerError):
    """No checkpoint covering the entry was signed within the time allowed."""

    code = "inclusionTimeout"


class NotIncludedError(LedgerError):
    """The entry exists but no signed checkpoint covers it yet."""

    code = "notIncluded"


class LogClosedError(LedgerError):
    """The log was closed; it accepts no more appends."""

    code = "logClosed"


class AnchorReceiptLike(Protocol):
    """What an anchor back end returns: a receipt that serialises to JSON."""

    def to_json(self) -> object:
        """The receipt as a JSON value."""
        ...


class AnchorLike(Protocol):
    """The anchoring interface of ledger.anchors (submit a checkpoint note, get a receipt)."""

    def submit(self, checkpoint: bytes) -> AnchorReceiptLike:
        """Anchor the checkpoint note bytes; return the receipt."""
        ...


def anchor_backend_name(anchor: object) -> str:
    """The name a back end's receipts are stored under (its ``name`` attribute, else its class name)."""
    name = getattr(anchor, "name", None)
    return name if isinstance(name, str) and name else type(anchor).__name__


@dataclass(frozen=True)
class Pending:
    """An acknowledged (committed) entry: its index and leaf hash; wait for a checkpoint to get its receipt."""

    index: int
    leaf_hash: bytes
    entry: bytes
    log: Log = field(repr=False, compare=False)

    def wait_included(self, timeout: float = 30.0) -> Receipt:
        """Block until a checkpoint covers this entry; return the receipt (tlog-proof)."""
        return self.log.wait_included(self.index, timeout)

    async def included(self, timeout: float = 30.0) -> Receipt:
        """Await a checkpoint covering this entry; return the receipt."""
        return await asyncio.to_thread(self.wait_included, timeout)


_Item = tuple[bytes, bytes, "Future[Pending]"]
_STOP = object()


class Log:
    """One transparency log over a Store: append records, sign checkpoints, prove inclusion, anchor checkpoints."""

    def __init__(
        self,
        store: Store,
        signer: Signer,
        *,
        origin: str | None = None,
        batch_size: int = 256,
        batch_age: float = 0.05,
        checkpoint_interval: float = 1.0,
        anchors: Sequence[AnchorLike] = (),
        clock: Callable[[], float] = time.time,
        max_queue: int = 4096,
    ) -> None:
        if signer.algorithm != "EdDSA":
            raise ValueError(f"checkpoints are signed with Ed25519; this signer uses {signer.algorithm}")
        if batch_size < 1 or batch_age < 0 or checkpoint_interval < 0:
            raise ValueError("batch_size must be ≥ 1, batch_age and checkpoint_interval ≥ 0")
        self.store = store
        state = store.initialize(origin) if origin is not None else store.state()
        self.origin = state.origin
        self.vkey = vkey(self.origin, PublicKey.from_jwk(signer.public_jwk).raw)
        self.verifier = Ed25519NoteVerifier.from_vkey(self.vkey)
        self._note_signer = Ed25519NoteSigner(self.origin, signer)
        self.batch_size = batch_size
        self.batch_age = batch_age
        self.checkpoint_interval = checkpoint_interval
        self.anchors = tuple(anchors)
        self.anchor_errors: list[LedgerError] = []
        self._clock = clock
        self._queue: queue.Queue[object] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._closed = False
        self._grown = threading.Event()
        self._checkpointed = threading.Condition()
        self._checkpoint_failure: tuple[float, LedgerError] | None = None  # (monotonic time, error) of the last try

    # lifecycle

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit what is queued, sign a final checkpoint if the tree grew, and stop the writer thread."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._closed:
                raise LogClosedError("the log is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"ledger-writer {self.origin}", daemon=True)
                self._thread.start()

    # appending

    def submit(self, record: Record) -> Future[Pending]:
        """Queue a record for the writer thread; the future resolves once its batch has committed."""
        if not isinstance(record, Record):
            raise TypeError(f"the log takes ledger.records.Record, not {type(record).__name__}")
        entry = record.to_bytes()
        future: Future[Pending] = Future()
        self._ensure_thread()
        self._queue.put((entry, leaf_hash(entry), future))
        return future

    def append(self, record: Record, timeout: float | None = 30.0) -> Pending:
        """Append one record; returns when its batch has committed."""
        return self.submit(record).result(timeout)

    async def append_async(self, record: Record) -> Pending:
        """Append one record without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(record))

    def append_many(self, records: Iterable[Record]) -> list[Pending]:
        """Commit records from the calling thread, ``batch_size`` per transaction; return them acknowledged."""
        if self._closed:
            raise LogClosedError("the log is closed")
        done: list[Pending] = []
        remaining = iter(records)
        while batch := list(itertools.islice(remaining, self.batch_size)):
            for record in batch:
                if not isinstance(record, Record):
                    raise TypeError(f"the log takes ledger.records.Record, not {type(record).__name__}")
            entries = [record.to_bytes() for record in batch]
            done.extend(self._commit(entries, leaf_hashes(entries)))
        return done

    def _commit(self, entries: list[bytes], hashes: list[bytes]) -> list[Pending]:
        with self._write_lock, self.store.transaction(write=True) as txn:
            state = txn.append(entries, hashes)
        start = state.size - len(entries)
        self._grown.set()
        return [Pending(start + i, h, e, self) for i, (e, h) in enumerate(zip(entries, hashes, strict=True))]

    def _run(self) -> None:
        next_checkpoint = time.monotonic() + self.checkpoint_interval
        stopping = False
        while not stopping:
            wait = max(0.0, next_checkpoint - time.monotonic()) if self._grown.is_set() else 1.0
            items: list[_Item] = []
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                first = None
            if first is _STOP:
                stopping = True
            elif first is not None:
                items.append(first)  # type: ignore[arg-type]
                deadline = time.monotonic() + self.batch_age
                while len(items) < self.batch_size:
                    try:
                        more = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stopping = True
                        break
                    items.append(more)  # type: ignore[arg-type]
            if stopping:
                items.extend(self._drain())
            if items:
                self._commit_items(items)
            if self._grown.is_set() and (stopping or time.monotonic() >= next_checkpoint):
                self._checkpoint_quietly()
                next_checkpoint = time.monotonic() + self.checkpoint_interval

    def _drain(self) -> list[_Item]:
        items: list[_Item] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            if item is not _STOP:
                items.append(item)  # type: ignore[arg-type]

    def _commit_items(self, items: list[_Item]) -> None:
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            try:
                pending = self._commit([entry for entry, _, _ in chunk], [h for _, h, _ in chunk])
            except Exception as error:  # every waiter learns why its batch failed
                for _, _, future in chunk:
                    future.set_exception(error)
                continue
            for (_, _, future), done in zip(chunk, pending, strict=True):
                future.set_result(done)

    def _checkpoint_quietly(self) -> None:
        try:
            self.checkpoint()
        except LedgerError as error:
            log.error("ledger checkpoint failed: %s", error)
            with self._checkpointed:  # waiters learn why no checkpoint comes (a full disk is no reason to wait)
                self._checkpoint_failure = (time.monotonic(), error)
                self._checkpointed.notify_all()
        else:
            self._checkpoint_failure = None

    # checkpoints

    def checkpoint(self) -> StoredCheckpoint | None:
        """Sign and store a checkpoint if the tree grew since the last one; anchor it. Returns it, or None."""
        with self._write_lock, self.store.transaction(write=True) as txn:
            stored = self._sign_checkpoint(txn)
        self._grown.clear()
        if stored is None:
            return None
        with self._checkpointed:
            self._checkpointed.notify_all()
        self._anchor(stored)
        return stored

    def _sign_checkpoint(self, txn: Txn) -> StoredCheckpoint | None:
        state = txn.state()
        previous = txn.latest_checkpoint()
        if previous is not None and previous.size >= state.size:
            if previous.size > state.size:
                raise StoreStateError(
                    f"the latest checkpoint has size {previous.size} but the tree has only {state.size} entries"
                )
            return None
        root = state.compact_range().root()
        if state.size and root_from(state.size, txn.node) != root:
            raise StoreStateError(f"the tiles and the writer state disagree on the root at size {state.size}")
        if previous is not None:
            signed = open_checkpoint(previous.note, self.verifier)
            if signed.size != previous.size or signed.root_hash != previous.root_hash:
                raise StoreStateError(f"the checkpoint row of size {previous.size} does not match its signed note")
            if previous.size:
                proof = consistency_proof_from(previous.size, state.size, txn.node)
                verify_consistency(previous.size, state.size, previous.root_hash, root, proof)
        note = sign_checkpoint(Checkpoint(self.origin, state.size, root), self._note_signer)
        open_checkpoint(note, self.verifier)
        stored = StoredCheckpoint(state.size, root, note, int(self._clock() * 1000))
        txn.add_checkpoint(stored)
        return stored

    def _anchor(self, checkpoint: StoredCheckpoint) -> None:
        for anchor in self.anchors:
            name = anchor_backend_name(anchor)
            try:
                receipt = anchor.submit(checkpoint.note.encode("utf-8"))
                text = json.dumps(receipt.to_json(), sort_keys=True)
                row = StoredAnchor(checkpoint.size, name, text, int(self._clock() * 1000))
                with self.store.transaction(write=True) as txn:
                    txn.add_anchor(row)
            except LedgerError as error:
                log.error("anchoring checkpoint %d with %s failed: %s", checkpoint.size, name, error)
                self.anchor_errors.append(error)

    # proofs

    def prove(self, index: int, *, size: int | None = None) -> Receipt:
        """A receipt (tlog-proof) for the entry at index, against the latest checkpoint (or the one of ``size``)."""
        with self.store.transaction() as txn:
            return prove(txn, index, size=size)

    def wait_included(self, index: int, timeout: float = 30.0) -> Receipt:
        """Wait until a checkpoint covers index (signing one here if no writer thread runs); return the receipt.

        When the writer thread fails to sign a checkpoint while this waits, its error is raised at once.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            try:
                return self.prove(index)
            except NotIncludedError:
                pass
            failure = self._checkpoint_failure
            if failure is not None and failure[0] >= started:
                raise failure[1]
            if self._thread is None or not self._thread.is_alive():
                self.checkpoint()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InclusionTimeoutError(f"no checkpoint covered entry {index} within {timeout:g} s") from None
            with self._checkpointed:
                self._checkpointed.wait(min(remaining, 0.05))


def prove(txn: Txn, index: int, *, size: int | None = None) -> Receipt:
    """Build and check a receipt for index against the latest checkpoint, or the checkpoint of ``size``."""
    if index < 0:
        raise IndexOutOfRangeError(f"index must not be negative, got {index}")
    checkpoint = txn.checkpoint(size) if size is not None else txn.latest_checkpoint()
    if checkpoint is None or index >= checkpoint.size:
        entries = txn.state().size
        if index >= entries:
            raise IndexOutOfRangeError(f"no entry at index {index}: the log has {entries} entries")
        latest = f"the latest covers {checkpoint.size}" if checkpoint is not None else "the log has no checkpoint"
        raise NotIncludedError(f"entry {index} is not covered by a checkpoint yet ({latest})")
    entry, stored_leaf = txn.entry(index)
    leaf = leaf_hash(entry)
    if leaf != stored_leaf:
        raise StoreStateError(f"the entry at index {index} does not match its stored leaf hash")
    proof = inclusion_proof_from(index, checkpoint.size, txn.node)
    verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root_hash)
    return Receipt(index, tuple(proof), checkpoint.note)


def export_tiles(store: Store, directory: Path) -> tuple[int, int]:
    """Write checkpoint, hash tiles and entry bundles of the latest checkpoint as tlog-tiles files.

    Returns (number of files written, tree size). Partial tiles are written only for the checkpoint's size.
    """
    with store.transaction() as txn:
        checkpoint = txn.latest_checkpoint()
        if checkpoint is None:
            raise NotIncludedError("the log has no checkpoint yet; sign one before exporting")
        size = checkpoint.size
        files: dict[str, bytes] = {"checkpoint": checkpoint.note.encode("utf-8")}
        for level, index, width in tiles_for_size(size):
            files[tile_path(level, index, width)] = txn.published_tile(size, level, index, width)
        for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, size - index * TILE_WIDTH)
            files[entries_path(index, width)] = txn.entry_bundle(size, index, width)
    for relative, data in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return len(files), size
