"""The tiered cache: memory LRU -> SQLite KV -> cold blobs -> the caller's loader, one lookup per key at a time.

Owns the lookup policy on top of the three tiers (``memory.py``, ``kv.py``, ``cold.py``), single-flight,
negative entries and the cache's metrics. Generic: values are any msgspec-encodable objects, stored as
JSON and decoded with the type the caller names; nothing here knows of providers or HTTP.

``get_or_load(key, loader, type=..., ttl=..., negative_ttl=..., quality_fn=None)``:

1. Memory, synchronously (no task, no await): a hit is decoded and returned (``source="memory"``).
2. Otherwise the caller joins the key's *flight*, or starts one. A flight is a task in the cache's own
   nursery (``run``) that looks in KV, then in the cold tier (a cold hit is rehydrated into KV and
   memory), then calls ``loader`` once. Every caller waits for the flight's answer; 50 concurrent callers
   of a cold key cause one KV read, one cold read and at most one loader call.
3. The loader's result is encoded, put in memory and then written to KV; waiters are released as soon
   as it is in memory, and the flight stays registered until the KV write commits (late callers get the
   answer at once and never start a second load).

Who runs the loader: the flight task, owned by the cache, never a caller. So a caller that is cancelled
(its client went away) just stops waiting; the flight goes on and the others get its answer (and the
result is cached for the next caller). Loaders must bound their own time (providers have timeouts and
deadlines). When the cache itself stops, running flights are cancelled and their waiters get
``CacheClosedError``. One exception: a flight started inside ``abandon_flights_when(predicate)`` (a
job's work does this, with "the job was canceled") is cancelled when its last waiter leaves while
``predicate()`` is true, so a canceled job leaves no upstream work behind (API.md §4); a caller arriving
after that starts a fresh flight.

Errors: if the loader raises, every waiter of that flight gets the same exception (re-raised with the
loader's traceback) and nothing is cached: a provider error is never cached as "not found". To cache a
"not found", the loader returns ``Negative(value)``; it is kept for ``negative_ttl`` and reported with
``negative=True``. A tier that fails (a SQLite error, an unreadable blob, a stored value that no longer
decodes as ``type`` after an upgrade) counts as a miss of that tier and is logged; the lookup goes on.

Results: ``CacheResult(value, source, age, negative)``; ``source`` is ``memory``, ``kv``, ``cold`` or
``miss`` (the loader ran), ``age`` the seconds since the value was fetched from the loader (0 for a
miss); ``cached`` is ``source != "miss"`` (the routes' ``metadata.cached``). Every caller gets its own
decoded copy, also on a miss, so a hit and a miss return the same shapes.

Maintenance: ``run`` also flushes the KV read statistics (``read_stats_flush_interval``) and purges
expired KV rows and cold entries (``purge_interval``); ``archive()`` is for the operations scheduler.
"""

from __future__ import annotations

import contextvars
import logging
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec
import trio

from actors import Clock, SqliteExecutor
from bookstrack.cache.cold import ColdHit, ColdTier
from bookstrack.cache.kv import KVEntry, KVStore, quality_ttl
from bookstrack.cache.memory import MemoryCache
from bookstrack.config import CacheConfig
from bookstrack.metrics import Metrics
from bookstrack.store.blobs import BlobStore

__all__ = ["CacheClosedError", "CacheResult", "Negative", "Source", "TieredCache", "abandon_flights_when"]

log = logging.getLogger("bookstrack.cache")

T = TypeVar("T")
Source = Literal["memory", "kv", "cold", "miss"]


class CacheClosedError(RuntimeError):
    """The cache is not running (``TieredCache.run`` not started, or stopped)."""


class Negative(Generic[T]):
    """A loader's "not found": cached for ``negative_ttl``. ``value`` (optional, e.g. an empty result of
    the usual shape) is what callers get back; without one they get None."""

    __slots__ = ("value",)

    def __init__(self, value: T | None = None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Negative({self.value!r})"


@dataclass(frozen=True, slots=True)
class CacheResult(Generic[T]):
    value: T
    source: Source
    age: float  # seconds since the value was fetched (0 for a miss)
    negative: bool = False

    @property
    def cached(self) -> bool:
        return self.source != "miss"


@dataclass(frozen=True, slots=True)
class _Found:
    data: bytes
    stored_at: float  # wall
    expires_at: float  # wall
    source: Source
    negative: bool


@dataclass(frozen=True, slots=True)
class _Plan:
    loader: Callable[[], Awaitable[Any]] | None
    type: Any
    ttl: float
    negative_ttl: float
    quality_fn: Callable[[Any], float] | None


_abandon_when: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "bookstrack_cache_abandon_when", default=None
)


@contextmanager
def abandon_flights_when(predicate: Callable[[], bool]) -> Iterator[None]:
    """Flights started in this context are cancelled once nobody waits for them and ``predicate()``."""
    token = _abandon_when.set(predicate)
    try:
        yield
    finally:
        _abandon_when.reset(token)


class _Flight:
    __slots__ = ("loads", "done", "finished", "found", "error", "traceback", "waiters", "abandon_when", "scope")

    def __init__(self, loads: bool, abandon_when: Callable[[], bool] | None = None) -> None:
        self.loads = loads
        self.waiters = 0
        self.abandon_when = abandon_when
        self.scope = trio.CancelScope()
        self.done = trio.Event()  # the answer is there (or the error)
        self.finished = trio.Event()  # and the writes behind it are done
        self.found: _Found | None = None
        self.error: BaseException | None = None
        self.traceback: types.TracebackType | None = None


_NULL = b"null"


class TieredCache:
    """Memory -> KV -> cold -> loader, with single-flight per key. Start ``run`` in a nursery (or use
    ``running()``) before the first lookup."""

    def __init__(
        self,
        *,
        memory: MemoryCache,
        kv: KVStore,
        cold: ColdTier,
        clock: Clock,
        metrics: Metrics,
        archive_after: float = 30 * 86400.0,
        flush_interval: float = 60.0,
        purge_interval: float = 3600.0,
        shutdown_flush_timeout: float = 5.0,
    ) -> None:
        self.memory = memory
        self.kv = kv
        self.cold = cold
        self._clock = clock
        self.archive_after = archive_after
        self.flush_interval = flush_interval
        self.purge_interval = purge_interval
        self.shutdown_flush_timeout = shutdown_flush_timeout
        self._flights: dict[str, _Flight] = {}
        self._nursery: trio.Nursery | None = None
        self._encoder = msgspec.json.Encoder()
        self._decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
        self._init_metrics(metrics)

    @classmethod
    def from_config(
        cls, config: CacheConfig, *, executor: SqliteExecutor, blobs: BlobStore, clock: Clock, metrics: Metrics
    ) -> TieredCache:
        kv = KVStore(
            executor, clock, purge_batch=config.purge_batch, max_pending_reads=config.read_stats_max_pending
        )
        return cls(
            memory=MemoryCache(clock, max_entries=config.memory_max_entries, max_bytes=config.memory_max_bytes),
            kv=kv,
            cold=ColdTier(
                executor, blobs, kv, clock, archive_batch=config.archive_batch, purge_batch=config.purge_batch
            ),
            clock=clock,
            metrics=metrics,
            archive_after=config.archive_after,
            flush_interval=config.read_stats_flush_interval,
            purge_interval=config.purge_interval,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the flights and the maintenance tasks until cancelled; on the way out, cancel running
        flights (their waiters get ``CacheClosedError``) and write the buffered read statistics."""
        if self._nursery is not None:
            raise RuntimeError("TieredCache.run() is already running")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self.kv.run_flusher, self.flush_interval)
                nursery.start_soon(self._purge_loop)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True), trio.move_on_after(self.shutdown_flush_timeout):
                try:
                    await self.kv.flush_reads()
                except Exception:
                    log.warning("cache: read statistics not written at shutdown", exc_info=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TieredCache]:
        """``run`` in a nursery of its own for the duration of the block (tests, tools)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.run)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    async def _purge_loop(self) -> None:
        while True:
            await trio.sleep(self.purge_interval)
            try:
                await self.purge_expired()
            except Exception:
                log.exception("cache: purging expired entries failed; retrying later")

    # -- lookups ---------------------------------------------------------------------------------

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T | Negative[T]]],
        *,
        type: Any,
        ttl: float,
        negative_ttl: float,
        quality_fn: Callable[[T], float] | None = None,
    ) -> CacheResult[T]:
        """The value of ``key`` from the first tier that has it, else from ``loader()`` (once for all
        concurrent callers), cached for ``ttl`` (scaled by ``quality_fn(value)``, see ``kv.quality_ttl``)
        or, for a ``Negative``, ``negative_ttl``. Loader exceptions propagate and are not cached."""
        if not (ttl > 0 and negative_ttl > 0):
            raise ValueError("ttl and negative_ttl must be positive")
        result = self._from_memory(key, type)
        if result is not None:
            return result
        plan = _Plan(loader, type, ttl, negative_ttl, quality_fn)
        while True:
            found = await self._fly(key, plan)
            if found is not None:
                return self._answer(found, type)
            # we joined a lookup-only flight (``get``) that found nothing: now load

    def peek(self, key: str, *, type: Any) -> CacheResult[Any] | None:
        """The value of ``key`` if memory holds it, else None, without waiting for anything: for callers
        with a fast path when everything they need is in memory. Counts a memory hit; a miss is counted by
        the lookup the caller makes next."""
        return self._from_memory(key, type, count_miss=False)

    async def get(self, key: str, *, type: Any) -> CacheResult[Any] | None:
        """The cached value of ``key`` (memory, KV or cold, rehydrating), or None; never loads (but
        waits for a load already in flight)."""
        result = self._from_memory(key, type)
        if result is not None:
            return result
        found = await self._fly(key, _Plan(None, type, 1.0, 1.0, None))
        if found is None:
            self._results["miss"].inc()
            return None
        return self._answer(found, type)

    async def get_many(self, keys: Sequence[str], *, type: Any, join: bool = True) -> dict[str, CacheResult[Any]]:
        """``get`` for many keys (a batch): memory, then one KV read for the rest, then the cold tier only
        for keys it holds (one read to find them). Keys with a flight in the air wait for it, as ``get``,
        unless ``join`` is False: then they are left out (their value is still being looked up)."""
        results: dict[str, CacheResult[Any]] = {}
        one_by_one: list[str] = []
        rest: list[str] = []
        for key in dict.fromkeys(keys):
            hit = self._from_memory(key, type)
            if hit is not None:
                results[key] = hit
            elif key in self._flights:
                if join:
                    one_by_one.append(key)
            else:
                rest.append(key)
        if rest:
            try:
                entries = await self.kv.get_many(rest)
            except Exception:
                self._errors[("kv", "read")].inc()
                log.warning("cache: KV read of %d keys failed; looked up one by one", len(rest), exc_info=True)
                entries, one_by_one = {}, one_by_one + rest
                rest = []
            cold: list[str] = []
            for key in rest:
                entry = entries.get(key)
                if entry is not None and self._decodes(entry, type, "kv"):
                    self._requests[("kv", "hit")].inc()
                    found = _Found(entry.data, entry.stored_at, entry.expires_at, "kv", entry.negative)
                    self._remember(key, found)
                    results[key] = self._answer(found, type)
                else:
                    cold.append(key)
            try:
                archived = await self.cold.archived(cold) if cold else set()
            except Exception:
                self._errors[("cold", "read")].inc()
                log.warning("cache: cold lookup of %d keys failed; treated as misses", len(cold), exc_info=True)
                archived = set()
            for key in cold:
                if key in archived:
                    one_by_one.append(key)  # ``get`` reads the blob and rehydrates (it counts the KV miss again)
                else:
                    self._requests[("kv", "miss")].inc()
                    self._requests[("cold", "miss")].inc()
                    self._results["miss"].inc()
        for key in one_by_one:
            hit = await self.get(key, type=type)
            if hit is not None:
                results[key] = hit
        return results

    def load_soon(
        self,
        key: str,
        loader: Callable[[], Awaitable[T | Negative[T]]],
        *,
        type: Any,
        ttl: float,
        negative_ttl: float,
    ) -> None:
        """Start loading ``key`` in the background unless memory holds it or a flight for it is in the
        air: a flight (the tiers first, then ``loader``) in the cache's nursery, so it outlives the caller
        and its result is cached for later lookups. Never waits."""
        if not (ttl > 0 and negative_ttl > 0):
            raise ValueError("ttl and negative_ttl must be positive")
        if key in self._flights or self.memory.get(key) is not None:
            return
        self._flight(key, _Plan(loader, type, ttl, negative_ttl, None))

    async def put(
        self, key: str, value: Any, *, ttl: float, quality: float | None = None
    ) -> None:
        """Store ``value`` (or a ``Negative``, kept for ``ttl`` as given) in memory and KV: for callers
        that load many keys at once (batch lookups)."""
        if not ttl > 0:
            raise ValueError("ttl must be positive")
        negative = isinstance(value, Negative)
        if negative:
            value, quality = value.value, None
        found = self._make_found(self._encoder.encode(value), quality_ttl(ttl, quality), negative, "miss")
        self._remember(key, found)
        await self.kv.write(self._kv_entry(key, found, quality))

    async def put_many(self, items: Sequence[tuple[str, Any, float]]) -> None:
        """``put`` of many ``(key, value or Negative, ttl)`` at once: memory first, then one KV write."""
        entries = []
        for key, value, ttl in items:
            if not ttl > 0:
                raise ValueError("ttl must be positive")
            negative = isinstance(value, Negative)
            found = self._make_found(self._encoder.encode(value.value if negative else value), ttl, negative, "miss")
            self._remember(key, found)
            entries.append(self._kv_entry(key, found, None))
        await self.kv.write_many(entries)

    async def invalidate(self, key: str) -> None:
        """Forget ``key`` in every tier."""
        self.memory.delete(key)
        await self.kv.delete(key)

    def _from_memory(self, key: str, type: Any, *, count_miss: bool = True) -> CacheResult[Any] | None:
        entry = self.memory.get(key)
        if entry is None:
            if count_miss:
                self._requests[("memory", "miss")].inc()
            return None
        try:
            value = self._decode(entry.data, entry.negative, type)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.memory.delete(key)
            self._errors[("memory", "decode")].inc()
            self._requests[("memory", "miss")].inc()
            return None
        self._requests[("memory", "hit")].inc()
        self._results["memory"].inc()
        self.kv.note_read(key)  # a memory hit is a read of the entry: it keeps it from archival
        return CacheResult(value, "memory", max(0.0, self._clock.wall() - entry.stored_at), entry.negative)

    def _flight(self, key: str, plan: _Plan) -> _Flight:
        """The key's flight: joined if one is in the air, else started in the cache's nursery."""
        flight = self._flights.get(key)
        if flight is None:
            if self._nursery is None:
                raise CacheClosedError("the cache is not running: start TieredCache.run() first")
            flight = _Flight(loads=plan.loader is not None, abandon_when=_abandon_when.get())
            self._flights[key] = flight
            self._nursery.start_soon(self._run_flight, key, flight, plan)
        else:
            self._joins.inc()
        return flight

    async def _fly(self, key: str, plan: _Plan) -> _Found | None:
        flight = self._flight(key, plan)
        flight.waiters += 1
        try:
            await flight.done.wait()
        finally:
            flight.waiters -= 1
            if (not flight.done.is_set() and not flight.waiters and flight.abandon_when is not None
                    and flight.abandon_when()):
                self._end(key, flight)  # a caller arriving now starts afresh
                flight.scope.cancel()
        if flight.error is not None:
            raise flight.error.with_traceback(flight.traceback)
        return flight.found

    def _answer(self, found: _Found, type: Any) -> CacheResult[Any]:
        value = self._decode(found.data, found.negative, type)
        self._results[found.source].inc()
        age = 0.0 if found.source == "miss" else max(0.0, self._clock.wall() - found.stored_at)
        return CacheResult(value, found.source, age, found.negative)

    # -- the flight ------------------------------------------------------------------------------

    async def _run_flight(self, key: str, flight: _Flight, plan: _Plan) -> None:
        with flight.scope:
            await self._fly_once(key, flight, plan)

    async def _fly_once(self, key: str, flight: _Flight, plan: _Plan) -> None:
        try:
            cold_hit: ColdHit | None = None
            quality: float | None = None
            try:
                found, cold_hit = await self._lookup(key, plan.type)
                if found is None and plan.loader is not None:
                    found, quality = await self._load(plan)
            except Exception as exc:
                self._end(key, flight)
                flight.error, flight.traceback = exc, exc.__traceback__
                flight.done.set()
                return
            if found is None:
                self._end(key, flight)
            else:
                self._remember(key, found)
            flight.found = found
            flight.done.set()
            # Behind the answer: the KV write (waiters are released; late callers still join this flight).
            if cold_hit is not None:
                try:
                    await self.cold.rehydrate(cold_hit)
                    self._rehydrated.inc()
                except Exception:
                    self._errors[("cold", "rehydrate")].inc()
                    log.warning("cache: rehydrating %r into KV failed", key, exc_info=True)
            elif found is not None and found.source == "miss":
                try:
                    await self.kv.write(self._kv_entry(key, found, quality))
                except Exception:
                    self._errors[("kv", "write")].inc()
                    log.warning("cache: writing %r to KV failed", key, exc_info=True)
        finally:
            self._end(key, flight)
            if not flight.done.is_set():  # cancelled: the cache is stopping (or nobody wants the answer)
                flight.error = CacheClosedError("the cache stopped while this lookup was in flight")
                flight.done.set()
            flight.finished.set()

    def _end(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    async def _lookup(self, key: str, type: Any) -> tuple[_Found | None, ColdHit | None]:
        try:
            entry = await self.kv.get(key)
        except Exception:
            self._errors[("kv", "read")].inc()
            log.warning("cache: KV read of %r failed; treated as a miss", key, exc_info=True)
            entry = None
        if entry is not None and self._decodes(entry, type, "kv"):
            self._requests[("kv", "hit")].inc()
            return _Found(entry.data, entry.stored_at, entry.expires_at, "kv", entry.negative), None
        self._requests[("kv", "miss")].inc()
        try:
            hit = await self.cold.get(key)
        except Exception:
            self._errors[("cold", "read")].inc()
            log.warning("cache: cold read of %r failed; treated as a miss", key, exc_info=True)
            hit = None
        if hit is not None and self._decodes(hit.entry, type, "cold"):
            self._requests[("cold", "hit")].inc()
            e = hit.entry
            return _Found(e.data, e.stored_at, e.expires_at, "cold", e.negative), hit
        self._requests[("cold", "miss")].inc()
        return None, None

    async def _load(self, plan: _Plan) -> tuple[_Found, float | None]:
        assert plan.loader is not None
        started = self._clock.monotonic()
        try:
            value = await plan.loader()
        except Exception:
            self._loads["error"].inc()
            raise
        finally:
            self._load_seconds.observe(self._clock.monotonic() - started)
        if isinstance(value, Negative):
            self._loads["negative"].inc()
            return self._make_found(self._encoder.encode(value.value), plan.negative_ttl, True, "miss"), None
        self._loads["value"].inc()
        quality = plan.quality_fn(value) if plan.quality_fn is not None else None
        data = self._encoder.encode(value)
        return self._make_found(data, quality_ttl(plan.ttl, quality), False, "miss"), quality

    # -- helpers ---------------------------------------------------------------------------------

    def _make_found(self, data: bytes, ttl: float, negative: bool, source: Source) -> _Found:
        now = self._clock.wall()
        return _Found(data, now, now + ttl, source, negative)

    def _remember(self, key: str, found: _Found) -> None:
        ttl = found.expires_at - self._clock.wall()
        self.memory.put(key, found.data, ttl=ttl, stored_at=found.stored_at, negative=found.negative)

    @staticmethod
    def _kv_entry(key: str, found: _Found, quality: float | None) -> KVEntry:
        return KVEntry(key, found.data, found.stored_at, found.expires_at, found.negative, quality, 0)

    def _decoder(self, type: Any) -> msgspec.json.Decoder[Any]:
        try:
            decoder = self._decoders.get(type)
        except TypeError:  # an unhashable type expression
            return msgspec.json.Decoder(type)
        if decoder is None:
            decoder = msgspec.json.Decoder(type)
            if len(self._decoders) < 256:
                self._decoders[type] = decoder
        return decoder

    def _decode(self, data: bytes, negative: bool, type: Any) -> Any:
        if negative and data == _NULL:
            return None
        return self._decoder(type).decode(data)

    def _decodes(self, entry: KVEntry, type: Any, tier: str) -> bool:
        try:
            self._decode(entry.data, entry.negative, type)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._errors[(tier, "decode")].inc()
            log.warning("cache: %s entry %r no longer decodes; treated as a miss", tier, entry.key)
            return False
        return True

    # -- maintenance -----------------------------------------------------------------------------

    async def archive(self, older_than_seconds: float | None = None) -> int:
        """Move KV entries not read for ``older_than_seconds`` (default ``archive_after``) to the cold
        tier; returns how many moved. The operations scheduler calls this."""
        moved = await self.cold.archive(self.archive_after if older_than_seconds is None else older_than_seconds)
        self._archived.inc(moved)
        return moved

    async def purge_expired(self) -> dict[str, int]:
        """Delete expired entries from every tier; returns the count per tier."""
        counts = {"memory": self.memory.purge_expired()}
        for tier, purge in (("kv", self.kv.purge_expired), ("cold", self.cold.purge_expired)):
            counts[tier] = await purge()
            self._purged[tier].inc(counts[tier])
        return counts

    async def flush(self) -> None:
        """Wait for the KV writes of the flights now in the air, then write the buffered read statistics."""
        for flight in list(self._flights.values()):
            await flight.finished.wait()
        await self.kv.flush_reads()

    # -- metrics ---------------------------------------------------------------------------------

    def _init_metrics(self, metrics: Metrics) -> None:
        self.metrics = metrics
        requests = metrics.counter(
            "bookstrack_cache_requests_total", "Cache lookups per tier and result (hit or miss).", ["tier", "result"]
        )
        self._requests = {
            (tier, result): requests.labels(tier, result)
            for tier in ("memory", "kv", "cold")
            for result in ("hit", "miss")
        }
        results = metrics.counter(
            "bookstrack_cache_results_total",
            "Answers of the cache by where the value came from (miss: the loader ran, or nothing found).",
            ["source"],
        )
        self._results = {source: results.labels(source) for source in ("memory", "kv", "cold", "miss")}
        loads = metrics.counter(
            "bookstrack_cache_loads_total", "Loader calls by outcome (value, negative, error).", ["outcome"]
        )
        self._loads = {outcome: loads.labels(outcome) for outcome in ("value", "negative", "error")}
        self._load_seconds = metrics.histogram("bookstrack_cache_load_seconds", "Time loaders took.")
        self._joins = metrics.counter(
            "bookstrack_cache_singleflight_joins_total", "Lookups that joined an identical one already in flight."
        )
        self._archived = metrics.counter("bookstrack_cache_archived_total", "KV entries moved to the cold tier.")
        self._rehydrated = metrics.counter(
            "bookstrack_cache_rehydrated_total", "Cold entries moved back to KV on a read."
        )
        purged = metrics.counter("bookstrack_cache_purged_total", "Expired entries deleted, per tier.", ["tier"])
        self._purged = {tier: purged.labels(tier) for tier in ("kv", "cold")}
        errors = metrics.counter(
            "bookstrack_cache_errors_total",
            "Tier failures handled as misses (read, write, decode, rehydrate).",
            ["tier", "op"],
        )
        self._errors = {
            (tier, op): errors.labels(tier, op)
            for tier, op in (
                ("memory", "decode"),
                ("kv", "read"),
                ("kv", "write"),
                ("kv", "decode"),
                ("cold", "read"),
                ("cold", "decode"),
                ("cold", "rehydrate"),
            )
        }
        metrics.gauge("bookstrack_cache_memory_entries", "Entries in the memory tier.").set_function(
            lambda: len(self.memory)
        )
        metrics.gauge("bookstrack_cache_memory_bytes", "Bytes of values in the memory tier.").set_function(
            lambda: self.memory.bytes
        )
        metrics.gauge("bookstrack_cache_in_flight", "Lookups in flight (distinct keys).").set_function(
            lambda: len(self._flights)
        )

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (for ``/api/cache/metrics``): requests and hit rates per tier,
        answers by source, loader calls, single-flight joins, archival, purges, memory occupancy."""

        def value(name: str, **labels: str) -> int:
            return int(self.metrics.value(name, labels) or 0)

        requests = {
            tier: {r: value("bookstrack_cache_requests_total", tier=tier, result=r) for r in ("hit", "miss")}
            for tier in ("memory", "kv", "cold")
        }
        results = {source: value("bookstrack_cache_results_total", source=source) for source in self._results}
        answered = sum(results.values())

        def rate(hits: int, total: int) -> float:
            return hits / total if total else 0.0

        return {
            "requests": requests,
            "results": results,
            "hitRates": {
                tier: rate(requests[tier]["hit"], requests[tier]["hit"] + requests[tier]["miss"])
                for tier in ("memory", "kv", "cold")
            }
            | {"combined": rate(answered - results["miss"], answered)},
            "loads": {outcome: value("bookstrack_cache_loads_total", outcome=outcome) for outcome in self._loads},
            "singleflightJoins": value("bookstrack_cache_singleflight_joins_total"),
            "inFlight": len(self._flights),
            "archived": value("bookstrack_cache_archived_total"),
            "rehydrated": value("bookstrack_cache_rehydrated_total"),
            "purged": {tier: value("bookstrack_cache_purged_total", tier=tier) for tier in ("kv", "cold")},
            "errors": sum(
                value("bookstrack_cache_errors_total", tier=tier, op=op) for tier, op in self._errors
            ),
            "memory": {
                "entries": len(self.memory),
                "bytes": self.memory.bytes,
                "maxEntries": self.memory.max_entries,
                "maxBytes": self.memory.max_bytes,
                "evictions": self.memory.evictions,
                "expirations": self.memory.expirations,
            },
            "pendingReadStats": self.kv.pending_reads,
        }
