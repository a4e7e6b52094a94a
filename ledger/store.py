"""Ledger storage on SQLAlchemy Core: entries, tlog-tiles hash tiles, checkpoints, anchor receipts, writer state.

Tables (one log per database; names prefixed ``ledger_``):

- ``ledger_entries(idx, leaf_hash, entry)``: the log entries (canonical record bytes) and their RFC 9162 leaf hashes.
- ``ledger_tiles(level, idx, hashes)``: tlog-tiles hash tiles. Tile (L, N) holds the Merkle nodes at level 8·L with
  indices 256·N … 256·N+W-1, 32 bytes each, W ≤ 256. The right-most tile of each level grows until it is full;
  a partial tile of width W served for a checkpoint is the first W hashes of the row. Export is a file per row.
- ``ledger_checkpoints(size, root_hash, note, created_ms)``: every signed checkpoint (C2SP signed note text).
- ``ledger_anchors(size, backend, receipt, created_ms)``: anchor receipts (JSON) per checkpoint and back end.
- ``ledger_state(id=1, origin, size, peaks)``: the tree size and its compact-range peaks, so a writer resumes after
  a crash without rereading the log. It is also the writer lock: ``SELECT … FOR UPDATE`` on PostgreSQL, and
  ``BEGIN IMMEDIATE`` on SQLite, serialise batches from any number of processes.

Every batch is one transaction (entries, tiles, state): a batch is either wholly there or not at all. Errors::

    LedgerError
    ├── StoreUnavailableError   storeUnavailable   (database unreachable, or locked for too long)
    ├── StoreStateError         inconsistentStore  (stored rows contradict each other; run ``xid ledger verify``)
    ├── NotInitializedError     notInitialized     (no log in this database yet)
    ├── OriginMismatchError     originMismatch     (the database holds a log with another origin)
    └── IndexOutOfRangeError    indexOutOfRange    (no such entry, tile or checkpoint)
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    exc,
    func,
    insert,
    select,
    update,
)

from foundation.db import configure_sqlite, first_line
from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError
from ledger.note import _check_name
from ledger.rfc9162 import HASH_SIZE, CompactRange
from ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    encode_entry_bundle,
    grow,
    subtree_in_tile,
    tile_writes,
    upper_levels,
)

__all__ = [
    "HASH_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "IndexOutOfRangeError",
    "LogState",
    "NotInitializedError",
    "OriginMismatchError",
    "Store",
    "StoreStateError",
    "StoreUnavailableError",
    "StoredAnchor",
    "StoredCheckpoint",
    "Txn",
]

_V = TypeVar("_V")

# INTEGER PRIMARY KEY on SQLite is the rowid itself (no second index); BIGINT elsewhere.
_Index = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()
entries_table = Table(
    "ledger_entries",
    metadata,
    Column("idx", _Index, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(HASH_SIZE), nullable=False),
    Column("entry", LargeBinary, nullable=False),
)
tiles_table = Table(
    "ledger_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)
checkpoints_table = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", _Index, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(HASH_SIZE), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
anchors_table = Table(
    "ledger_anchors",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("backend", String(64), primary_key=True),
    Column("receipt", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
state_table = Table(
    "ledger_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("origin", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("peaks", LargeBinary, nullable=False),
)


class StoreUnavailableError(LedgerError):
    """The ledger database cannot be reached, or stayed locked by another writer for too long."""

    code = "storeUnavailable"


class StoreStateError(LedgerError):
    """Stored rows contradict each other (e.g. a tile shorter than the tree size says); the log needs an audit."""

    code = "inconsistentStore"


class NotInitializedError(LedgerError):
    """The database holds no log yet."""

    code = "notInitialized"


class OriginMismatchError(LedgerError):
    """The database holds a log with a different origin than the one asked for."""

    code = "originMismatch"


class IndexOutOfRangeError(LedgerError):
    """No entry, tile or checkpoint exists at the requested position."""

    code = "indexOutOfRange"


@dataclass(frozen=True)
class LogState:
    """The writer's state: origin, tree size and compact-range peaks (right-edge subtree roots, largest first)."""

    origin: str
    size: int
    peaks: tuple[bytes, ...]

    def compact_range(self) -> CompactRange:
        """The compact range for this state, ready to append to."""
        return CompactRange(self.size, self.peaks)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint row: size, root hash, the signed note text, and when it was stored."""

    size: int
    root_hash: bytes
    note: str
    created_ms: int


@dataclass(frozen=True)
class StoredAnchor:
    """An anchor row: which checkpoint, which back end, the receipt JSON text."""

    size: int
    backend: str
    receipt: str
    created_ms: int


class _Lru(Generic[_V]):
    """A small thread-safe LRU cache (for immutable data: full tiles and their inner nodes)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[int, int], _V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> _V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[int, int], value: _V) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


_CACHED_HEIGHT = 4  # inner nodes of full tiles from this height up are cached: the costly part of a proof


# Statements built once (building SQLAlchemy expressions costs more than running them on SQLite).
_SELECT_TILE = select(tiles_table.c.hashes).where(
    tiles_table.c.level == bindparam("level"), tiles_table.c.idx == bindparam("idx")
)
_SELECT_ENTRY = select(entries_table.c.entry, entries_table.c.leaf_hash).where(entries_table.c.idx == bindparam("idx"))
_SELECT_CHECKPOINT = select(checkpoints_table).where(checkpoints_table.c.size == bindparam("size"))
_SELECT_LATEST = select(checkpoints_table).order_by(checkpoints_table.c.size.desc()).limit(1)
_SELECT_STATE = select(state_table.c.origin, state_table.c.size, state_table.c.peaks).where(state_table.c.id == 1)
_UPDATE_TILE = (
    update(tiles_table)
    .where(tiles_table.c.level == bindparam("b_level"), tiles_table.c.idx == bindparam("b_idx"))
    .values(hashes=bindparam("b_hashes"))
)
_INSERT_TILE = insert(tiles_table)
_UPDATE_STATE = (
    update(state_table).where(state_table.c.id == 1).values(size=bindparam("b_size"), peaks=bindparam("b_peaks"))
)
# Statements handed to the driver directly (see Txn._insert_entries and Txn._finish_pipelined).
_INSERT_ENTRIES_SQLITE = "INSERT INTO ledger_entries (idx, leaf_hash, entry) VALUES (?, ?, ?)"
_COPY_ENTRIES = "COPY ledger_entries (idx, leaf_hash, entry) FROM STDIN (FORMAT BINARY)"
_EXTEND_TILE_PG = "UPDATE ledger_tiles SET hashes = hashes || %s WHERE level = %s AND idx = %s AND length(hashes) = %s"
_INSERT_TILE_PG = "INSERT INTO ledger_tiles (level, idx, hashes) VALUES (%s, %s, %s)"
_UPDATE_STATE_PG = "UPDATE ledger_state SET size = %s, peaks = %s WHERE id = 1"
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, header extension length 0
_COPY_ROW = struct.Struct(f">hiqi{HASH_SIZE}si")  # 3 fields; int8 idx; bytea leaf hash; length of the entry
_COPY_TRAILER = b"\xff\xff"


def _copy_binary(start: int, entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> bytes:
    """Entry rows in PostgreSQL's binary COPY format (bigint, bytea, bytea); leaf hashes are 32 bytes (tiles.grow)."""
    pack = _COPY_ROW.pack
    parts = [_COPY_HEADER]
    for i, (leaf, entry) in enumerate(zip(leaf_hashes, entries, strict=True), start):
        parts.append(pack(3, 8, i, HASH_SIZE, leaf, len(entry)))
        parts.append(entry)
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


# --- transactions ------------------------------------------------------------------------------------------------


class Txn:
    """Reads and writes inside one database transaction (locked for writing when opened with ``write=True``)."""

    def __init__(self, store: Store, conn: Connection, write: bool) -> None:
        self.store = store
        self.conn = conn
        self.write = write
        self._tiles: dict[tuple[int, int], bytes] = {}

    # state

    def state(self) -> LogState:
        """The writer state; in a write transaction this row is locked until commit."""
        query = _SELECT_STATE
        if self.write and self.conn.dialect.name != "sqlite":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        if row is None:
            raise NotInitializedError("the database holds no ledger yet (initialize it with an origin first)")
        origin, size, peaks = str(row[0]), int(row[1]), bytes(row[2])
        if len(peaks) % HASH_SIZE or len(peaks) // HASH_SIZE != bin(size).count("1"):
            raise StoreStateError(f"state row holds {len(peaks)} bytes of peaks, which does not fit tree size {size}")
        return LogState(origin, size, tuple(peaks[i : i + HASH_SIZE] for i in range(0, len(peaks), HASH_SIZE)))

    # appending

    def append(self, entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> LogState:
        """Append entries with their leaf hashes after the current end; return the new state."""
        if not self.write:
            raise RuntimeError("append needs a write transaction")
        if len(entries) != len(leaf_hashes):
            raise ValueError("entries and leaf_hashes differ in length")
        state = self.state()
        growth = grow(state.size, state.peaks, leaf_hashes)
        start = state.size
        writes = [
            (level, tile, offset, chunk)
            for level, hashes in growth.nodes.items()
            for tile, offset, chunk in tile_writes(start >> (TILE_HEIGHT * level), hashes)
        ]
        if entries:
            self._insert_entries(start, entries, leaf_hashes)
        if self._psycopg():
            self._finish_pipelined(writes, growth.size, b"".join(growth.peaks))
        else:
            self._write_tiles(writes)
            self.conn.execute(_UPDATE_STATE, {"b_size": growth.size, "b_peaks": b"".join(growth.peaks)})
        for level, tile, _, _ in writes:
            self._tiles.pop((level, tile), None)
        return LogState(state.origin, growth.size, growth.peaks)

    def _psycopg(self) -> bool:
        """Whether this is PostgreSQL through psycopg 3 (binary COPY and pipeline mode available)."""
        return self.conn.dialect.name == "postgresql" and self.conn.dialect.driver == "psycopg"

    def _driver(self) -> Any:
        """The DBAPI connection under this transaction (statements on it run inside the transaction)."""
        driver = self.conn.connection.driver_connection
        if driver is None:  # a pooled connection always has one; this keeps the types honest
            raise StoreUnavailableError("the ledger database connection is closed")
        return driver

    @contextmanager
    def _driver_errors(self, statement: str) -> Iterator[None]:
        """Re-raise driver errors as SQLAlchemy raises them, so Store._errors maps them like every other statement."""
        dialect = self.conn.dialect
        try:
            yield
        except dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(
                statement, None, error, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
            ) from error

    def _insert_entries(self, start: int, entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> None:
        """Insert entry rows start, start+1, … through the driver: one executemany (SQLite) or one COPY (psycopg).

        SQLAlchemy's per-row parameter processing cost more than the database itself; the rows are plain tuples
        of int and bytes, so nothing is lost by handing them to the driver directly.
        """
        if self._psycopg():
            data = _copy_binary(start, entries, leaf_hashes)
            with (
                self._driver_errors(_COPY_ENTRIES),
                self._driver().cursor() as cursor,
                cursor.copy(_COPY_ENTRIES) as copy,
            ):
                copy.write(data)
            return
        rows = zip(range(start, start + len(entries)), leaf_hashes, entries, strict=True)
        if self.conn.dialect.name == "sqlite":
            with self._driver_errors(_INSERT_ENTRIES_SQLITE):
                cursor = self._driver().cursor()
                try:
                    cursor.executemany(_INSERT_ENTRIES_SQLITE, rows)
                finally:
                    cursor.close()
        else:  # another PostgreSQL driver: the portable (slower) path
            self.conn.execute(insert(entries_table), [{"idx": i, "leaf_hash": h, "entry": e} for i, h, e in rows])

    def _write_tiles(self, writes: list[tuple[int, int, int, bytes]]) -> None:
        """Write tile chunks (level, tile, offset, hashes): extend the partial tile, insert new ones."""
        inserts = []
        for level, tile, offset, chunk in writes:
            if offset:
                existing = self.tile(level, tile)
                if len(existing) != offset * HASH_SIZE:
                    raise self._tile_mismatch(level, tile, offset)
                self.conn.execute(_UPDATE_TILE, {"b_level": level, "b_idx": tile, "b_hashes": existing + chunk})
            else:
                inserts.append({"level": level, "idx": tile, "hashes": chunk})
        if inserts:
            self.conn.execute(_INSERT_TILE, inserts)

    def _finish_pipelined(self, writes: list[tuple[int, int, int, bytes]], size: int, peaks: bytes) -> None:
        """Tile chunks and the state row in one round trip (psycopg pipeline mode) instead of one per statement.

        A partial tile is extended in the database (``hashes || chunk``) only if it holds exactly the hashes the
        tree size says; otherwise no row matches and the batch is refused, as on the other path.
        """
        driver = self._driver()
        updates = [(level, tile, offset, chunk) for level, tile, offset, chunk in writes if offset]
        inserts = [(level, tile, chunk) for level, tile, offset, chunk in writes if not offset]
        cursors = [driver.cursor() for _ in range(len(updates) + 1)]
        try:
            with self._driver_errors(_EXTEND_TILE_PG), driver.pipeline():
                for cursor, (level, tile, offset, chunk) in zip(cursors, updates, strict=False):
                    cursor.execute(_EXTEND_TILE_PG, (chunk, level, tile, offset * HASH_SIZE))
                if inserts:
                    cursors[-1].executemany(_INSERT_TILE_PG, inserts)
                cursors[-1].execute(_UPDATE_STATE_PG, (size, peaks))
            matched = [cursor.rowcount for cursor in cursors[:-1]]
        finally:
            for cursor in cursors:
                cursor.close()
        for (level, tile, offset, _), count in zip(updates, matched, strict=True):
            if count != 1:
                raise self._tile_mismatch(level, tile, offset)

    def _tile_mismatch(self, level: int, tile: int, offset: int) -> StoreStateError:
        held = len(self.tile(level, tile, cached=False)) // HASH_SIZE
        return StoreStateError(
            f"tile {level}/{tile} holds {held} hashes but the tree size says {offset}; the store is inconsistent"
        )

    # reading

    def tile(self, level: int, index: int, *, cached: bool = True) -> bytes:
        """The stored hashes of tile (level, index) as they are now (possibly partial); empty if absent."""
        key = (level, index)
        hit = (self._tiles.get(key) or self.store._full_tiles.get(key)) if cached else None
        if hit is not None:
            return hit
        row = self.conn.execute(_SELECT_TILE, {"level": level, "idx": index}).first()
        data = bytes(row[0]) if row is not None else b""
        if len(data) == TILE_WIDTH * HASH_SIZE:
            self.store._full_tiles.put(key, data)
        else:
            self._tiles[key] = data
        return data

    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree at (level, index), read from the tiles."""
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height
        tile, offset = divmod(first, TILE_WIDTH)
        if height >= _CACHED_HEIGHT:
            upper = self.store._upper.get((tile_level, tile))
            if upper is not None:
                return upper[height - _CACHED_HEIGHT][offset >> height]
        data = self.tile(tile_level, tile)
        if height >= _CACHED_HEIGHT and len(data) == TILE_WIDTH * HASH_SIZE:
            upper = upper_levels(data, _CACHED_HEIGHT)
            self.store._upper.put((tile_level, tile), upper)
            return upper[height - _CACHED_HEIGHT][offset >> height]
        if len(data) < (offset + (1 << height)) * HASH_SIZE:
            raise StoreStateError(
                f"Merkle node ({level}, {index}) is not stored: tile {tile_level}/{tile} has {len(data) // HASH_SIZE}"
                " hashes"
            )
        if height < 2:
            return subtree_in_tile(data, offset, height)
        # A complete subtree never changes, even inside a partial tile: remember it.
        cached = self.store._nodes.get((level, index))
        if cached is None:
            cached = subtree_in_tile(data, offset, height)
            self.store._nodes.put((level, index), cached)
        return cached

    def entry(self, index: int) -> tuple[bytes, bytes]:
        """(entry bytes, leaf hash) at index."""
        row = self.conn.execute(_SELECT_ENTRY, {"idx": index}).first()
        if row is None:
            raise IndexOutOfRangeError(f"no entry at index {index}")
        return bytes(row[0]), bytes(row[1])

    def entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        """Rows (index, entry, leaf hash) with start ≤ index < end, in index order."""
        rows = self.conn.execute(
            select(entries_table.c.idx, entries_table.c.entry, entries_table.c.leaf_hash)
            .where(entries_table.c.idx >= start, entries_table.c.idx < end)
            .order_by(entries_table.c.idx)
        )
        return [(int(i), bytes(e), bytes(h)) for i, e, h in rows]

    def entries_from(self, start: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        """Up to limit rows (index, entry, leaf hash) with index ≥ start, in index order."""
        rows = self.conn.execute(
            select(entries_table.c.idx, entries_table.c.entry, entries_table.c.leaf_hash)
            .where(entries_table.c.idx >= start)
            .order_by(entries_table.c.idx)
            .limit(limit)
        )
        return [(int(i), bytes(e), bytes(h)) for i, e, h in rows]

    def count_entries(self) -> int:
        """Number of entry rows (equals the tree size in a consistent store)."""
        return int(self.conn.execute(select(func.count()).select_from(entries_table)).scalar_one())

    def tile_rows(self) -> list[tuple[int, int, bytes]]:
        """Every tile row as (level, index, hashes), ordered."""
        rows = self.conn.execute(
            select(tiles_table.c.level, tiles_table.c.idx, tiles_table.c.hashes).order_by(
                tiles_table.c.level, tiles_table.c.idx
            )
        )
        return [(int(level), int(index), bytes(hashes)) for level, index, hashes in rows]

    def published_tile(self, size: int, level: int, index: int, width: int) -> bytes:
        """Tile (level, index) of width W as published for tree size ``size`` (a full tile when W = 256)."""
        available = min(TILE_WIDTH, (size >> (TILE_HEIGHT * level)) - index * TILE_WIDTH)
        if not 1 <= width <= TILE_WIDTH or index < 0 or level < 0 or width > available:
            have = f"{available} hashes" if available > 0 else "nothing"
            raise IndexOutOfRangeError(
                f"tile {level}/{index} of width {width} does not exist at tree size {size} (it has {have} there)"
            )
        data = self.tile(level, index)
        if len(data) < width * HASH_SIZE:
            raise StoreStateError(f"tile {level}/{index} holds {len(data) // HASH_SIZE} hashes, fewer than {width}")
        return data[: width * HASH_SIZE]

    def entry_bundle(self, size: int, index: int, width: int) -> bytes:
        """The tlog-tiles entry bundle ``index`` of width W (entries 256·index …) for tree size ``size``."""
        available = min(TILE_WIDTH, size - index * TILE_WIDTH)
        if not 1 <= width <= TILE_WIDTH or index < 0 or width > available:
            have = f"{available} entries" if available > 0 else "nothing"
            raise IndexOutOfRangeError(
                f"entry bundle {index} of width {width} does not exist at tree size {size} (it has {have} there)"
            )
        first = index * TILE_WIDTH
        rows = self.entries(first, first + width)
        if [i for i, _, _ in rows] != list(range(first, first + width)):
            raise StoreStateError(f"entries {first}..{first + width - 1} are not all stored")
        return encode_entry_bundle([entry for _, entry, _ in rows])

    # checkpoints and anchors

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint with the largest size, if any."""
        row = self.conn.execute(_SELECT_LATEST).first()
        return _checkpoint(row) if row is not None else None

    def checkpoint(self, size: int) -> StoredCheckpoint:
        """The checkpoint of the given size."""
        row = self.conn.execute(_SELECT_CHECKPOINT, {"size": size}).first()
        if row is None:
            raise IndexOutOfRangeError(f"no checkpoint of size {size}")
        return _checkpoint(row)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, smallest size first."""
        rows = self.conn.execute(select(checkpoints_table).order_by(checkpoints_table.c.size))
        return [_checkpoint(row) for row in rows]

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a signed checkpoint (in a write transaction)."""
        if not self.write:
            raise RuntimeError("add_checkpoint needs a write transaction")
        self.conn.execute(
            insert(checkpoints_table).values(
                size=checkpoint.size,
                root_hash=checkpoint.root_hash,
                note=checkpoint.note,
                created_ms=checkpoint.created_ms,
            )
        )

    def add_anchor(self, anchor: StoredAnchor) -> None:
        """Store an anchor receipt for a checkpoint."""
        self.conn.execute(
            insert(anchors_table).values(
                size=anchor.size, backend=anchor.backend, receipt=anchor.receipt, created_ms=anchor.created_ms
            )
        )

    def anchors(self, size: int | None = None) -> list[StoredAnchor]:
        """Anchor rows (for one checkpoint size, or all), ordered by size and back end."""
        query = select(anchors_table).order_by(anchors_table.c.size, anchors_table.c.backend)
        if size is not None:
            query = query.where(anchors_table.c.size == size)
        return [
            StoredAnchor(int(r.size), str(r.backend), str(r.receipt), int(r.created_ms))
            for r in self.conn.execute(query)
        ]


def _check_origin(origin: str) -> None:
    """Refuse an origin the note and checkpoint code would refuse later (before anything is written)."""
    problem = None if isinstance(origin, str) and 0 < len(origin) <= 255 else "it must be 1..255 characters"
    if problem is None:
        try:
            _check_name(origin)  # the note key name signs every checkpoint: no spaces, '+' or unprintables
            Checkpoint(origin, 0, bytes(32))
        except LedgerError as error:
            problem = error.message
    if problem is not None:
        raise ValueError(f"invalid log origin {origin!r}: a schema-less URL such as xid.example/ledger/v1 ({problem})")


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(int(row.size), bytes(row.root_hash), str(row.note), int(row.created_ms))


class Store:
    """The ledger's tables behind an injected SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, tile_cache: int = 4096) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")
        configure_sqlite(engine)
        self.engine = engine
        self._full_tiles: _Lru[bytes] = _Lru(tile_cache)
        self._upper: _Lru[list[list[bytes]]] = _Lru(tile_cache)
        self._nodes: _Lru[bytes] = _Lru(tile_cache)

    def create_schema(self) -> None:
        """Create the ledger tables if missing (Alembic migrations replace this once services deploy)."""
        with self._errors():
            metadata.create_all(self.engine)

    def initialize(self, origin: str) -> LogState:
        """Create the tables and the empty log for origin if needed; refuse another origin. Returns the state."""
        _check_origin(origin)
        self.create_schema()
        try:
            with self.transaction(write=True) as txn:
                try:
                    state = txn.state()
                except NotInitializedError:
                    txn.conn.execute(insert(state_table).values(id=1, origin=origin, size=0, peaks=b""))
                    state = LogState(origin, 0, ())
        except StoreStateError:
            # Two processes initializing at once: the loser hits the primary key; read the winner's row.
            state = self.state()
        if state.origin != origin:
            raise OriginMismatchError(f"this database holds the log {state.origin!r}, not {origin!r}")
        return state

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Txn]:
        """One transaction; ``write=True`` takes the writer lock (BEGIN IMMEDIATE / SELECT … FOR UPDATE)."""
        with self._errors(), self.engine.connect() as conn:
            if write:
                conn.execution_options(xid_write=True)
            with conn.begin():
                yield Txn(self, conn, write)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except exc.DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == "42P01" or "no such table" in str(error.orig):
                raise NotInitializedError(
                    "the database holds no ledger tables yet (initialize it with an origin first): " + first_line(error)
                ) from error
            if isinstance(error, exc.IntegrityError):
                raise StoreStateError(f"a write conflicted with stored rows: {first_line(error)}") from error
            if isinstance(error, exc.OperationalError | exc.InterfaceError):
                raise StoreUnavailableError(f"the ledger database is unavailable: {first_line(error)}") from error
            raise

    # convenience reads, each in its own transaction

    def state(self) -> LogState:
        """The current writer state."""
        with self.transaction() as txn:
            return txn.state()

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The newest checkpoint, if any."""
        with self.transaction() as txn:
            return txn.latest_checkpoint()

    def node_reader(self, txn: Txn) -> Callable[[int, int], bytes]:
        """A NodeReader over the tiles, for the rfc9162 ``*_from`` functions."""
        return txn.node
