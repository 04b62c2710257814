"""The cold tier: KV entries nobody has read for a while, moved to the blob store, with an index in SQLite.

Owns the ``cache_cold`` table (migration 2: ``key`` → ``blob_key``, ``stored_at``, ``expires_at``,
``archived_at``, ``hits``, ``quality``, ``size``) and the blobs under ``cold-cache/``.

Layout: ``cold-cache/{YYYY}/{MM}/{name}.{archived ms}.json``, ``YYYY/MM`` the UTC month of archival,
``name`` the unpadded URL-safe base64 of the UTF-8 key (``sha256.{hex digest}`` when that would be longer
than 180 characters, so no file name passes the usual 255-byte limit). The archival time in the name
makes every archived copy a distinct blob, so deleting a superseded copy can never delete a newer one.
The index, not the name, maps a key to its blob. Each blob is self-describing JSON (``ColdRecord``:
the key, the value, ``cachedAt``, ``ttl``, ``archivedAt``, ``hits``, …), written before its index row.

``archive(older_than)`` (the operations issue schedules it): flushes the KV read statistics, then pages
through KV rows whose ``last_read_at`` is older than ``older_than`` seconds, still live and not negative,
``batch`` at a time: writes each row's blob, then in one transaction deletes each KV row *if it is
unchanged* (same ``stored_at`` and ``last_read_at``: not rewritten or read meanwhile) and inserts its
index row. Rows that changed keep living in KV and their fresh blob is deleted.

Reading: ``get(key)`` finds the index row and the blob (a missing or corrupt blob drops the index row
and is a miss; an expired entry is a miss and left for ``purge_expired``). The tiered cache then calls
``rehydrate``, which writes the entry back to KV as it was — its own ``cachedAt`` and expiry: archival
never extends the life of data — deletes the index row in the same transaction and then the blob.
Unlike the original (which reported a miss on a cold hit and rehydrated in the background), a cold hit
returns the value: the blob is already read, so answering from it costs nothing more than a miss would.

Failure ordering leaves at worst an orphaned blob (written but never indexed, or un-indexed but not yet
deleted), never an index row without its blob being handled as a miss.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import trio

from actors import Clock, SqliteExecutor
from bookstrack.cache.kv import IN_CHUNK, KVEntry, KVStore, decode_wrapped
from bookstrack.store.blobs import BlobStore

__all__ = ["ColdHit", "ColdRecord", "ColdTier", "blob_key_for"]

log = logging.getLogger("bookstrack.cache")

PREFIX = "cold-cache"
_MAX_NAME = 180


class ColdRecord(msgspec.Struct, rename="camel", omit_defaults=True):
    """The JSON of one archived entry (a KV ``Wrapped`` value plus its key and archival facts)."""

    key: str
    data: msgspec.Raw
    cached_at: int  # epoch ms
    ttl: float  # seconds from cachedAt to expiry
    archived_at: int  # epoch ms
    hits: int = 0
    negative: bool = False
    quality: float | None = None


_RECORD = msgspec.json.Decoder(ColdRecord)
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class ColdHit:
    entry: KVEntry
    blob_key: str
    archived_at: float


def blob_key_for(key: str, archived_at: float, prefix: str = PREFIX) -> str:
    """Where an entry archived at ``archived_at`` (epoch seconds) is stored."""
    moment = dt.datetime.fromtimestamp(archived_at, tz=dt.UTC)
    name = base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")
    if len(name) > _MAX_NAME:
        name = "sha256." + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{prefix}/{moment.year:04d}/{moment.month:02d}/{name}.{round(archived_at * 1000)}.json"


@dataclass(slots=True)
class _Candidate:
    key: str
    stored_at: float
    last_read_at: float
    expires_at: float
    hits: int
    quality: float | None
    size: int
    blob_key: str = ""


_CANDIDATES = (
    "SELECT key, value, stored_at, expires_at, last_read_at, hits, quality FROM cache_kv "
    "WHERE last_read_at < :cutoff AND expires_at > :now AND negative = 0 "
    "AND (last_read_at, key) > (:after_at, :after_key) ORDER BY last_read_at, key LIMIT :limit"
)
_INDEX = (
    "INSERT INTO cache_cold (key, blob_key, stored_at, expires_at, archived_at, hits, quality, size) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_DROP_INDEX = "DELETE FROM cache_cold WHERE key = ? RETURNING blob_key"
_LOOKUP = "SELECT blob_key, stored_at, expires_at, archived_at, hits, quality FROM cache_cold WHERE key = ?"
_PURGE = (
    "DELETE FROM cache_cold WHERE key IN (SELECT key FROM cache_cold WHERE expires_at <= ? LIMIT ?) "
    "RETURNING blob_key"
)


class ColdTier:
    """Archived entries: blobs in ``blobs`` under ``prefix``, indexed in ``cache_cold``. Attaches itself
    to ``kv`` so that KV writes superseding an archived copy delete its blob."""

    def __init__(
        self,
        executor: SqliteExecutor,
        blobs: BlobStore,
        kv: KVStore,
        clock: Clock,
        *,
        archive_batch: int = 500,
        purge_batch: int = 1000,
        prefix: str = PREFIX,
    ) -> None:
        self._executor = executor
        self._blobs = blobs
        self._kv = kv
        self._clock = clock
        self.archive_batch = archive_batch
        self.purge_batch = purge_batch
        self.prefix = prefix
        kv.on_superseded = self.discard_blobs

    # -- reading ---------------------------------------------------------------------------------

    async def archived(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` have an archived entry (live or not): one read for all of them, so that a batch
        of misses asks ``get`` only for the few the cold tier may answer."""
        wanted = list(dict.fromkeys(keys))

        def read(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for i in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[i : i + IN_CHUNK]
                sql = f"SELECT key FROM cache_cold WHERE key IN ({','.join('?' * len(chunk))})"
                found.update(row[0] for row in conn.execute(sql, chunk))
            return found

        return await self._executor.read(read) if wanted else set()

    async def get(self, key: str) -> ColdHit | None:
        """The archived entry of ``key`` if there is a live one (read from its blob), else None."""
        row = await self._executor.read(lambda conn: conn.execute(_LOOKUP, (key,)).fetchone())
        if row is None:
            return None
        blob_key, stored_at, expires_at, archived_at, hits, quality = row
        if expires_at <= self._clock.wall():
            return None  # purge_expired deletes it with its blob
        blob = await self._blobs.get(blob_key)
        record: ColdRecord | None = None
        if blob is not None:
            try:
                record = _RECORD.decode(blob.data)
            except msgspec.DecodeError:
                record = None
        if record is None or record.key != key:
            log.warning("cache: cold blob %s of key %r is missing or unreadable; index entry dropped", blob_key, key)
            await self._executor.write(
                lambda conn: conn.execute("DELETE FROM cache_cold WHERE key = ? AND blob_key = ?", (key, blob_key))
            )
            return None
        entry = KVEntry(key, bytes(record.data), stored_at, expires_at, record.negative, quality, hits)
        return ColdHit(entry, blob_key, archived_at)

    async def rehydrate(self, hit: ColdHit) -> KVEntry:
        """Move ``hit`` back into KV (as it was, read now); its index row and blob are deleted."""
        entry = KVEntry(
            hit.entry.key,
            hit.entry.data,
            hit.entry.stored_at,
            hit.entry.expires_at,
            hit.entry.negative,
            hit.entry.quality,
            hit.entry.hits + 1,
        )
        await self._kv.write(entry)
        return entry

    async def count(self) -> int:
        return await self._executor.read(lambda conn: conn.execute("SELECT count(*) FROM cache_cold").fetchone()[0])

    # -- archival --------------------------------------------------------------------------------

    async def archive(self, older_than: float, *, batch: int | None = None) -> int:
        """Move KV entries not read for ``older_than`` seconds into blobs; returns how many moved."""
        if older_than < 0:
            raise ValueError("older_than must not be negative")
        size = batch or self.archive_batch
        await self._kv.flush_reads()
        now = self._clock.wall()
        cutoff = now - older_than
        after: tuple[float, str] = (float("-inf"), "")
        moved = 0
        while True:
            params = {"cutoff": cutoff, "now": now, "after_at": after[0], "after_key": after[1], "limit": size}
            rows = await self._executor.read(lambda conn, p=params: conn.execute(_CANDIDATES, p).fetchall())
            if not rows:
                return moved
            after = (rows[-1][4], rows[-1][0])
            candidates = await self._write_blobs(rows, now)
            # A key read since the candidates were selected stays (its statistics are still buffered).
            fresh = [c for c in candidates if self._kv.has_pending_read(c.key)]
            candidates = [c for c in candidates if not self._kv.has_pending_read(c.key)]
            if candidates:
                archived, stale = await self._executor.write(lambda conn, c=candidates: _commit(conn, c, now))
            else:
                archived, stale = [], []
            await self.discard_blobs([c.blob_key for c in fresh] + stale)
            moved += len(archived)
            if len(rows) < size:
                return moved

    async def _write_blobs(self, rows: list[tuple], now: float) -> list[_Candidate]:
        written: list[_Candidate] = []

        async def write(row: tuple) -> None:
            key, value, stored_at, expires_at, last_read_at, hits, quality = row
            try:
                wrapped = decode_wrapped(value)
                record = ColdRecord(
                    key=key,
                    data=wrapped.data,
                    cached_at=wrapped.cached_at,
                    ttl=expires_at - stored_at,
                    archived_at=round(now * 1000),
                    hits=hits,
                    negative=wrapped.negative,
                    quality=quality,
                )
                data = _ENCODER.encode(record)
                candidate = _Candidate(key, stored_at, last_read_at, expires_at, hits, quality, len(data))
                candidate.blob_key = blob_key_for(key, now, self.prefix)
                await self._blobs.put(candidate.blob_key, data, "application/json")
            except Exception:
                log.exception("cache: archiving key %r failed; it stays in KV", key)
                return
            written.append(candidate)

        async with trio.open_nursery() as nursery:
            for row in rows:
                nursery.start_soon(write, row)
        return written

    # -- expiry and clean-up ---------------------------------------------------------------------

    async def purge_expired(self, *, batch: int | None = None) -> int:
        """Delete expired index rows and their blobs, ``batch`` per transaction; returns the count."""
        size = batch or self.purge_batch
        total = 0
        while True:
            now = self._clock.wall()
            blob_keys = await self._executor.write(
                lambda conn, n=now: [row[0] for row in conn.execute(_PURGE, (n, size))]
            )
            await self.discard_blobs(blob_keys)
            total += len(blob_keys)
            if len(blob_keys) < size:
                return total

    async def discard_blobs(self, blob_keys: list[str]) -> None:
        """Delete blobs no index row points to any more (failures are logged: an orphan, no harm)."""
        if not blob_keys:
            return

        async def delete(blob_key: str) -> None:
            try:
                await self._blobs.delete(blob_key)
            except Exception:
                log.exception("cache: deleting cold blob %s failed (left orphaned)", blob_key)

        async with trio.open_nursery() as nursery:
            for blob_key in blob_keys:
                nursery.start_soon(delete, blob_key)


def _commit(conn: sqlite3.Connection, candidates: list[_Candidate], now: float) -> tuple[list[str], list[str]]:
    """Move each unchanged candidate from KV to the cold index; returns (moved keys, unused blob keys)."""
    moved: list[str] = []
    unused: list[str] = []
    for c in candidates:
        deleted = conn.execute(
            "DELETE FROM cache_kv WHERE key = ? AND stored_at = ? AND last_read_at = ?",
            (c.key, c.stored_at, c.last_read_at),
        ).rowcount
        if deleted != 1:
            unused.append(c.blob_key)
            continue
        unused.extend(row[0] for row in conn.execute(_DROP_INDEX, (c.key,)))
        conn.execute(_INDEX, (c.key, c.blob_key, c.stored_at, c.expires_at, now, c.hits, c.quality, c.size))
        moved.append(c.key)
    return moved, unused
