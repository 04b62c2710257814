"""The KV tier: cache entries in the SQLite table ``cache_kv``, with a TTL each, through the SqliteExecutor.

Owns the ``cache_kv`` table (migration 2). A row is one key's wrapped value and its bookkeeping::

    key TEXT PRIMARY KEY, value BLOB, stored_at REAL, expires_at REAL, last_read_at REAL, hits INTEGER,
    quality REAL, negative INTEGER

``value`` is the value wrapped as the original service wrapped it (reference §7.1), so that a row (or an
archived blob) describes itself: ``{"data": <the encoded value>, "cachedAt": <epoch ms>, "ttl": <s>}``
plus ``"negative": true`` for a cached "not found" and ``"quality"`` when the caller gave one. Times are
wall-clock epoch seconds from the injected ``Clock`` (rows outlive the process).

Expiry: a read ignores a row whose ``expires_at`` has passed; ``purge_expired()`` deletes such rows in
batches of ``purge_batch`` (one short write transaction each, so other writers interleave).

Quality-based TTL (reference §7.4, generalised): the caller may give a quality in 0..1 with a value;
the stored TTL is the base TTL × 2 when quality > 0.8, × 0.5 when quality < 0.4, else unchanged
(``quality_ttl``). Negative entries ignore quality (their TTL is the caller's negative TTL).

Read statistics (``last_read_at``, ``hits``, which archival uses) are not written on each hit: a hit is
a read-only query, and turning it into a write transaction would put every cache hit behind the one
writer thread. ``note_read`` records the read in an in-memory buffer (one dict entry per key: latest
read time, count since the last flush), and the buffer is written by one ``executemany`` UPDATE:
piggy-backed on the next ``put``/``write`` (same transaction, no extra commit), by ``flush_reads()``
(called before archival and on shutdown), and by ``run_flusher`` every ``interval`` seconds or as soon
as ``max_pending_reads`` distinct keys are waiting. A crash loses at most one interval of statistics,
which only delays archival.

Archived copies: a key lives in at most one of ``cache_kv`` and the cold index ``cache_cold``
(``cold.py``). ``put``/``write`` delete the key's cold index row in the same transaction and hand the
blob keys it pointed to to ``on_superseded`` (the cold tier deletes those blobs).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import trio

from actors import Clock, SqliteExecutor

__all__ = [
    "KVEntry",
    "KVStore",
    "QUALITY_HIGH",
    "QUALITY_LOW",
    "Wrapped",
    "decode_wrapped",
    "encode_wrapped",
    "quality_ttl",
]

log = logging.getLogger("bookstrack.cache")

QUALITY_HIGH = 0.8  # quality above this doubles the TTL
QUALITY_LOW = 0.4  # quality below this halves it


def quality_ttl(ttl: float, quality: float | None) -> float:
    """The TTL to store for a value of ``quality`` (0..1, or None for "unknown": base TTL)."""
    if quality is None:
        return ttl
    if not (isinstance(quality, int | float) and 0.0 <= quality <= 1.0):  # NaN fails the range too
        raise ValueError(f"cache quality must be a number in 0..1, not {quality!r}")
    if quality > QUALITY_HIGH:
        return ttl * 2.0
    if quality < QUALITY_LOW:
        return ttl * 0.5
    return ttl


class Wrapped(msgspec.Struct, rename="camel", omit_defaults=True):
    """A stored value with its metadata (the ``value`` column)."""

    data: msgspec.Raw
    cached_at: int  # epoch milliseconds
    ttl: float  # seconds, after quality scaling
    negative: bool = False
    quality: float | None = None


_WRAPPED = msgspec.json.Decoder(Wrapped)
_ENCODER = msgspec.json.Encoder()


def decode_wrapped(value: bytes) -> Wrapped:
    """The ``value`` column's wrapper (raises ``msgspec.DecodeError`` if it is not one)."""
    return _WRAPPED.decode(value)


@dataclass(frozen=True, slots=True)
class KVEntry:
    key: str
    data: bytes  # the encoded value
    stored_at: float  # epoch seconds at which the value was fetched from its source
    expires_at: float  # epoch seconds
    negative: bool = False
    quality: float | None = None
    hits: int = 0

    @property
    def ttl(self) -> float:
        return self.expires_at - self.stored_at


_SELECT = (
    "SELECT value, stored_at, expires_at, negative, quality, hits FROM cache_kv WHERE key = ? AND expires_at > ?"
)
_SELECT_MANY = (
    "SELECT key, value, stored_at, expires_at, negative, quality, hits FROM cache_kv "
    "WHERE key IN ({marks}) AND expires_at > ?"
)
IN_CHUNK = 500  # keys per IN (...) list: far below SQLite's limit on bound parameters
_UPSERT = (
    "INSERT INTO cache_kv (key, value, stored_at, expires_at, last_read_at, hits, quality, negative) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
    "stored_at = excluded.stored_at, expires_at = excluded.expires_at, last_read_at = excluded.last_read_at, "
    "hits = max(cache_kv.hits, excluded.hits), quality = excluded.quality, negative = excluded.negative"
)
_READ_STATS = "UPDATE cache_kv SET last_read_at = max(last_read_at, ?), hits = hits + ? WHERE key = ?"
_DROP_COLD = "DELETE FROM cache_cold WHERE key = ? RETURNING blob_key"
_PURGE = "DELETE FROM cache_kv WHERE rowid IN (SELECT rowid FROM cache_kv WHERE expires_at <= ? LIMIT ?)"


def encode_wrapped(entry: KVEntry) -> bytes:
    return _ENCODER.encode(
        Wrapped(
            msgspec.Raw(entry.data),
            round(entry.stored_at * 1000),
            entry.ttl,
            entry.negative,
            entry.quality,
        )
    )


class KVStore:
    """The ``cache_kv`` table. ``purge_batch`` rows per purge transaction; ``max_pending_reads`` distinct
    keys of buffered read statistics wake ``run_flusher`` early."""

    def __init__(
        self,
        executor: SqliteExecutor,
        clock: Clock,
        *,
        purge_batch: int = 1000,
        max_pending_reads: int = 10_000,
    ) -> None:
        self._executor = executor
        self._clock = clock
        self.purge_batch = purge_batch
        self.max_pending_reads = max_pending_reads
        self._pending: dict[str, list[float]] = {}  # key -> [last read at, reads since the last flush]
        self._flush_wanted = trio.Event()
        # Set by the cold tier: deletes the blobs of archived copies a write superseded.
        self.on_superseded: Callable[[list[str]], Awaitable[None]] | None = None

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str, *, note_read: bool = True) -> KVEntry | None:
        """The live entry of ``key`` or None; counts a read (buffered) unless ``note_read`` is False."""
        now = self._clock.wall()
        row = await self._executor.read(lambda conn: conn.execute(_SELECT, (key, now)).fetchone())
        return None if row is None else self._entry(key, *row, note_read=note_read)

    async def get_many(self, keys: Sequence[str], *, note_read: bool = True) -> dict[str, KVEntry]:
        """``get`` for many keys in one executor job: the live entries found, by key."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        now = self._clock.wall()

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = []
            for i in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[i : i + IN_CHUNK]
                sql = _SELECT_MANY.format(marks=",".join("?" * len(chunk)))
                rows.extend(conn.execute(sql, (*chunk, now)).fetchall())
            return rows

        out: dict[str, KVEntry] = {}
        for key, *row in await self._executor.read(read):
            entry = self._entry(key, *row, note_read=note_read)
            if entry is not None:
                out[key] = entry
        return out

    def _entry(
        self, key: str, value: bytes, stored_at: float, expires_at: float, negative: int, quality: float | None,
        hits: int, *, note_read: bool,
    ) -> KVEntry | None:
        try:
            wrapped = decode_wrapped(value)
        except msgspec.DecodeError:
            log.warning("cache: undecodable KV row for key %r ignored", key)
            return None
        if note_read:
            self.note_read(key)
        return KVEntry(key, bytes(wrapped.data), stored_at, expires_at, bool(negative), quality, hits)

    async def count(self) -> int:
        """Rows in the table, live or not yet purged (a full scan: for dashboards, not hot paths)."""
        return await self._executor.read(lambda conn: conn.execute("SELECT count(*) FROM cache_kv").fetchone()[0])

    # -- writes ----------------------------------------------------------------------------------

    async def put(
        self, key: str, data: bytes, *, ttl: float, quality: float | None = None, negative: bool = False
    ) -> KVEntry:
        """Store ``data`` (an encoded value) for ``quality_ttl(ttl, quality)`` seconds (``ttl`` as given
        for a negative entry); returns the stored entry. Supersedes an archived copy of ``key``."""
        if not ttl > 0:
            raise ValueError(f"cache ttl must be positive, not {ttl!r}")
        if negative:
            quality = None
        effective = quality_ttl(ttl, quality)
        now = self._clock.wall()
        entry = KVEntry(key, bytes(data), now, now + effective, negative, quality, 0)
        await self._write_rows([entry], last_read_at=now)
        return entry

    async def write(self, entry: KVEntry, *, last_read_at: float | None = None) -> None:
        """Store ``entry`` as it is (its own ``stored_at``, ``expires_at``, ``hits``; read at
        ``last_read_at``, default now): for a caller that computed the expiry, and for rehydration of
        an archived entry. Supersedes an archived copy of the key."""
        if not entry.expires_at > entry.stored_at:
            raise ValueError(f"cache entry {entry.key!r} expires before it was stored")
        await self._write_rows([entry], last_read_at=self._clock.wall() if last_read_at is None else last_read_at)

    async def write_many(self, entries: Sequence[KVEntry]) -> None:
        """``write`` for many entries in one executor job (a batch's answers): one savepoint for all of
        them, so they are stored (or fail) together, at a fraction of the per-job cost."""
        for entry in entries:
            if not entry.expires_at > entry.stored_at:
                raise ValueError(f"cache entry {entry.key!r} expires before it was stored")
        if entries:
            await self._write_rows(entries, last_read_at=self._clock.wall())

    async def delete(self, key: str) -> bool:
        """Remove ``key`` (and any archived copy); True if a live or expired row was there."""
        self._pending.pop(key, None)

        def write(conn: sqlite3.Connection) -> tuple[bool, list[str]]:
            removed = conn.execute("DELETE FROM cache_kv WHERE key = ?", (key,)).rowcount > 0
            return removed, [row[0] for row in conn.execute(_DROP_COLD, (key,))]

        removed, blobs = await self._executor.write(write)
        await self._superseded(blobs)
        return removed or bool(blobs)

    async def _write_rows(self, entries: Sequence[KVEntry], *, last_read_at: float) -> None:
        """Upsert ``entries`` (and the buffered read statistics) in one executor job; drop their archived
        copies."""
        rows = [
            (e.key, encode_wrapped(e), e.stored_at, e.expires_at, last_read_at, e.hits, e.quality, int(e.negative))
            for e in entries
        ]
        reads = self._take_reads()

        def write(conn: sqlite3.Connection) -> list[str]:
            _apply_reads(conn, reads)
            conn.executemany(_UPSERT, rows)
            return [blob for e in entries for (blob,) in conn.execute(_DROP_COLD, (e.key,))]

        try:
            blobs = await self._executor.write(write)
        except BaseException:
            self._merge_reads(reads)
            raise
        await self._superseded(blobs)

    async def _superseded(self, blobs: list[str]) -> None:
        if blobs and self.on_superseded is not None:
            await self.on_superseded(blobs)

    # -- read statistics -------------------------------------------------------------------------

    def note_read(self, key: str) -> None:
        """Count one read of ``key`` now (buffered; see the module docstring)."""
        now = self._clock.wall()
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [now, 1]
            if len(self._pending) >= self.max_pending_reads:
                self._flush_wanted.set()
        else:
            pending[0] = max(pending[0], now)
            pending[1] += 1

    @property
    def pending_reads(self) -> int:
        """Distinct keys whose read statistics wait for a flush."""
        return len(self._pending)

    def has_pending_read(self, key: str) -> bool:
        return key in self._pending

    async def flush_reads(self) -> int:
        """Write the buffered read statistics now (one transaction); returns the keys written."""
        reads = self._take_reads()
        if not reads:
            return 0
        try:
            await self._executor.write(lambda conn: _apply_reads(conn, reads))
        except BaseException:
            self._merge_reads(reads)
            raise
        return len(reads)

    async def run_flusher(self, interval: float) -> None:
        """Flush read statistics every ``interval`` seconds, or early when the buffer is full. Runs
        until cancelled; a failing flush is logged and retried on the next round."""
        while True:
            with trio.move_on_after(interval):
                await self._flush_wanted.wait()
            self._flush_wanted = trio.Event()
            try:
                await self.flush_reads()
            except Exception:
                log.exception("cache: flushing read statistics failed; retrying later")

    def _take_reads(self) -> dict[str, list[float]]:
        reads, self._pending = self._pending, {}
        return reads

    def _merge_reads(self, reads: dict[str, list[float]]) -> None:
        for key, (at, count) in reads.items():
            pending = self._pending.get(key)
            if pending is None:
                self._pending[key] = [at, count]
            else:
                pending[0] = max(pending[0], at)
                pending[1] += count

    # -- expiry ----------------------------------------------------------------------------------

    async def purge_expired(self, *, batch: int | None = None) -> int:
        """Delete expired rows, ``batch`` (default ``purge_batch``) per transaction; returns the count."""
        size = batch or self.purge_batch
        total = 0
        while True:
            deleted = await self._executor.write(_purge_batch(self._clock.wall(), size))
            total += deleted
            if deleted < size:
                return total


def _purge_batch(now: float, size: int) -> Callable[[sqlite3.Connection], int]:
    return lambda conn: conn.execute(_PURGE, (now, size)).rowcount


def _apply_reads(conn: sqlite3.Connection, reads: dict[str, list[float]]) -> None:
    if reads:
        conn.executemany(_READ_STATS, [(at, int(count), key) for key, (at, count) in reads.items()])
