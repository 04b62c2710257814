"""The tiered cache: memory -> KV -> cold -> loader, single-flight, negative entries, errors never cached,
cancellation, sources and ages, per-tier counters.

Time: ``mock_clock`` without autojump (lookups wait on the SQLite thread and blob I/O threads).
"""

from __future__ import annotations

import threading

import msgspec
import pytest
import trio
import trio.testing

from actors import Clock
from actors.testing import EPOCH
from bookstrack.cache import CacheClosedError, Negative, TieredCache, abandon_flights_when
from bookstrack.config import CacheConfig, load_config
from bookstrack.metrics import Metrics
from bookstrack.store.blobs import FilesystemBlobStore
from tests.unit.cache_support import DAY, migrated_database, rows, settle


class Book(msgspec.Struct):
    title: str
    isbn: str | None = None


class Loader:
    """Counts calls; returns ``result`` (or raises it), optionally after ``release`` is set."""

    def __init__(self, result=None, *, gated: bool = False):
        self.result = result
        self.calls = 0
        self.called = trio.Event()
        self.release = trio.Event()
        self.cancelled = False
        if not gated:
            self.release.set()

    async def __call__(self):
        self.calls += 1
        self.called.set()
        try:
            await self.release.wait()
        except trio.Cancelled:
            self.cancelled = True
            raise
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


@pytest.fixture
async def executor(tmp_path):
    async with migrated_database(tmp_path / "cache.sqlite3") as executor:
        yield executor


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def blobs(tmp_path):
    return FilesystemBlobStore(tmp_path / "blobs")


@pytest.fixture
async def cache(executor, blobs, metrics):
    cache = TieredCache.from_config(
        # purges only when a test asks (the background purge has a test of its own)
        CacheConfig(memory_max_entries=100, memory_max_bytes=100_000, purge_interval=1000 * DAY),
        executor=executor,
        blobs=blobs,
        clock=Clock(epoch=EPOCH),
        metrics=metrics,
    )
    async with cache.running():
        yield cache


def requests(metrics: Metrics, tier: str, result: str) -> float:
    return metrics.value("bookstrack_cache_requests_total", {"tier": tier, "result": result}) or 0


async def lookup(cache: TieredCache, loader, key: str = "k", **kwargs):
    kwargs.setdefault("ttl", 6 * 3600)
    kwargs.setdefault("negative_ttl", 300)
    return await cache.get_or_load(key, loader, type=Book, **kwargs)


async def test_a_miss_loads_then_memory_answers(cache, executor, metrics, mock_clock):
    loader = Loader(Book("The Hobbit", "9780261103344"))
    first = await lookup(cache, loader)
    assert first.value == Book("The Hobbit", "9780261103344")
    assert (first.source, first.age, first.negative, first.cached) == ("miss", 0.0, False, False)
    mock_clock.jump(30)
    second = await lookup(cache, loader)
    assert (second.value, second.source, second.age, second.cached) == (first.value, "memory", 30.0, True)
    assert second.value is not first.value  # every caller decodes its own copy
    assert loader.calls == 1
    await cache.flush()
    assert rows(executor, "SELECT key, hits FROM cache_kv") == [("k", 1)]  # the memory hit was counted
    assert requests(metrics, "memory", "miss") == 1
    assert requests(metrics, "memory", "hit") == 1
    assert requests(metrics, "kv", "miss") == 1
    assert requests(metrics, "cold", "miss") == 1
    assert metrics.value("bookstrack_cache_loads_total", {"outcome": "value"}) == 1


async def test_kv_answers_when_memory_has_lost_the_entry(cache, metrics, mock_clock):
    loader = Loader(Book("Dune"))
    await lookup(cache, loader)
    await cache.flush()
    cache.memory.clear()
    mock_clock.jump(60)
    result = await lookup(cache, loader)
    assert (result.value, result.source, result.age) == (Book("Dune"), "kv", 60.0)
    assert loader.calls == 1
    assert requests(metrics, "kv", "hit") == 1
    again = await lookup(cache, loader)  # promoted to memory
    assert again.source == "memory"


async def test_cold_answers_and_rehydrates_into_kv_and_memory(cache, executor, blobs, metrics, mock_clock):
    loader = Loader(Book("Les Misérables"))
    await lookup(cache, loader, ttl=90 * DAY)
    await cache.flush()
    mock_clock.jump(31 * DAY)
    assert await cache.archive() == 1  # the configured 30 days
    cache.memory.clear()
    result = await lookup(cache, loader, ttl=90 * DAY)
    assert (result.value, result.source, result.age) == (Book("Les Misérables"), "cold", 31 * DAY)
    assert loader.calls == 1
    await cache.flush()
    assert rows(executor, "SELECT key, expires_at FROM cache_kv") == [("k", EPOCH + 90 * DAY)]
    assert rows(executor, "SELECT * FROM cache_cold") == []
    assert await blobs.list() == []
    assert (await lookup(cache, loader, ttl=90 * DAY)).source == "memory"
    assert requests(metrics, "cold", "hit") == 1
    assert metrics.value("bookstrack_cache_rehydrated_total") == 1
    assert metrics.value("bookstrack_cache_archived_total") == 1
    cache.memory.clear()
    assert (await lookup(cache, loader, ttl=90 * DAY)).source == "kv"


async def test_fifty_concurrent_callers_of_a_cold_key_cause_one_load(cache, metrics, mock_clock):
    loader = Loader(Book("ノルウェイの森"), gated=True)
    results = []

    async def caller():
        results.append(await lookup(cache, loader))

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(caller)
        await loader.called.wait()
        await trio.testing.wait_all_tasks_blocked()
        loader.release.set()
    assert loader.calls == 1
    assert len(results) == 50
    assert {r.value.title for r in results} == {"ノルウェイの森"}
    assert {r.source for r in results} == {"miss"}
    assert len({id(r.value) for r in results}) == 50
    assert metrics.value("bookstrack_cache_singleflight_joins_total") == 49
    assert requests(metrics, "kv", "miss") == 1  # the whole lookup ran once
    assert requests(metrics, "cold", "miss") == 1


async def test_a_loader_error_reaches_every_waiter_and_is_not_cached(cache, executor, metrics, mock_clock):
    error = LookupError("provider down")
    loader = Loader(error, gated=True)
    caught = []

    async def caller():
        try:
            await lookup(cache, loader)
        except LookupError as exc:
            caught.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(caller)
        await loader.called.wait()
        await trio.testing.wait_all_tasks_blocked()
        loader.release.set()
    assert caught == [error] * 10
    assert loader.calls == 1
    await cache.flush()
    assert len(cache.memory) == 0
    assert rows(executor, "SELECT * FROM cache_kv") == []
    assert metrics.value("bookstrack_cache_loads_total", {"outcome": "error"}) == 1
    # the next caller tries again
    loader.result = Book("Back")
    assert (await lookup(cache, loader)).value == Book("Back")
    assert loader.calls == 2


async def test_a_negative_result_is_cached_for_its_ttl_then_reloaded(cache, executor, metrics, mock_clock):
    loader = Loader(Negative())
    first = await lookup(cache, loader, ttl=DAY, negative_ttl=300)
    assert (first.value, first.negative, first.source) == (None, True, "miss")
    await cache.flush()
    assert rows(executor, "SELECT negative, expires_at FROM cache_kv") == [(1, EPOCH + 300)]
    mock_clock.jump(299)
    second = await lookup(cache, loader, ttl=DAY, negative_ttl=300)
    assert (second.value, second.negative, second.source) == (None, True, "memory")
    cache.memory.clear()
    assert (await lookup(cache, loader, ttl=DAY, negative_ttl=300)).source == "kv"
    assert loader.calls == 1
    mock_clock.jump(1)
    loader.result = Book("Found now")
    third = await lookup(cache, loader, ttl=DAY, negative_ttl=300)
    assert (third.value, third.negative, third.source) == (Book("Found now"), False, "miss")
    assert loader.calls == 2
    assert metrics.value("bookstrack_cache_loads_total", {"outcome": "negative"}) == 1


async def test_a_negative_may_carry_a_value_of_the_usual_shape(cache, mock_clock):
    result = await cache.get_or_load(
        "empty", Loader(Negative([])), type=list[Book], ttl=DAY, negative_ttl=300
    )
    assert (result.value, result.negative) == ([], True)
    again = await cache.get_or_load("empty", Loader([Book("x")]), type=list[Book], ttl=DAY, negative_ttl=300)
    assert (again.value, again.negative, again.source) == ([], True, "memory")


async def test_cancelling_the_first_caller_does_not_strand_the_others(cache, mock_clock):
    loader = Loader(Book("Kept"), gated=True)
    second = []
    async with trio.open_nursery() as nursery:
        first_scope = trio.CancelScope()

        async def first():
            with first_scope:
                await lookup(cache, loader)

        async def other():
            second.append(await lookup(cache, loader))

        nursery.start_soon(first)
        await loader.called.wait()
        nursery.start_soon(other)
        await trio.testing.wait_all_tasks_blocked()
        first_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert first_scope.cancelled_caught
        loader.release.set()
    assert [r.value for r in second] == [Book("Kept")]
    assert loader.calls == 1


async def test_a_flight_whose_callers_all_left_still_fills_the_cache(cache, mock_clock):
    loader = Loader(Book("Orphan"), gated=True)
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def caller():
            with scope:
                await lookup(cache, loader)

        nursery.start_soon(caller)
        await loader.called.wait()
        scope.cancel()  # the only caller leaves (its client went away)
    assert scope.cancelled_caught
    loader.release.set()
    await cache.flush()
    result = await lookup(cache, loader)
    assert (result.value, result.source) == (Book("Orphan"), "memory")
    assert loader.calls == 1


@pytest.mark.parametrize("canceled", [True, False])
async def test_a_flight_started_for_a_canceled_job_is_dropped_with_its_last_waiter(cache, mock_clock, canceled):
    loader = Loader(Book("Dropped"), gated=True)
    job = {"canceled": False}
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def caller():
            with scope, abandon_flights_when(lambda: job["canceled"]):
                await lookup(cache, loader)

        nursery.start_soon(caller)
        await loader.called.wait()
        job["canceled"] = canceled
        scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert loader.cancelled == canceled  # a job's deadline alone (not canceled) leaves the flight running
    loader.release.set()
    await cache.flush()
    result = await lookup(cache, loader)
    assert result.source == ("miss" if canceled else "memory")  # a fresh flight after the dropped one
    assert loader.calls == (2 if canceled else 1)


async def test_stopping_the_cache_releases_waiters_with_an_error(executor, blobs, metrics, mock_clock):
    cache = TieredCache.from_config(
        CacheConfig(), executor=executor, blobs=blobs, clock=Clock(epoch=EPOCH), metrics=metrics
    )
    loader = Loader(Book("Never"), gated=True)
    caught = []

    async def caller():
        try:
            await lookup(cache, loader)
        except CacheClosedError as exc:
            caught.append(exc)

    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            await nursery.start(cache.run)
            outer.start_soon(caller)
            await loader.called.wait()
            nursery.cancel_scope.cancel()
    assert len(caught) == 1
    with pytest.raises(CacheClosedError, match="not running"):
        await lookup(cache, loader)


async def test_quality_scales_the_stored_ttl(cache, executor, mock_clock):
    await lookup(cache, Loader(Book("Good", "1")), key="good", ttl=DAY, quality_fn=lambda b: 1.0)
    await lookup(cache, Loader(Book("Poor")), key="poor", ttl=DAY, quality_fn=lambda b: 0.1)
    await lookup(cache, Loader(Book("Fair")), key="fair", ttl=DAY, quality_fn=lambda b: 0.5)
    await cache.flush()
    assert rows(executor, "SELECT key, expires_at, quality FROM cache_kv ORDER BY key") == [
        ("fair", EPOCH + DAY, 0.5),
        ("good", EPOCH + 2 * DAY, 1.0),
        ("poor", EPOCH + DAY / 2, 0.1),
    ]
    mock_clock.jump(DAY / 2)
    assert (await lookup(cache, Loader(Book("Poor 2")), key="poor", ttl=DAY)).source == "miss"
    assert (await lookup(cache, Loader(Book("x")), key="fair", ttl=DAY)).source == "memory"


async def test_an_entry_that_no_longer_decodes_is_a_miss(cache, mock_clock):
    await cache.put("k", {"name": "old shape"}, ttl=DAY)
    await cache.flush()
    loader = Loader(Book("New shape"))
    result = await lookup(cache, loader)
    assert (result.value, result.source) == (Book("New shape"), "miss")
    assert loader.calls == 1
    await cache.flush()
    cache.memory.clear()
    assert (await lookup(cache, loader)).source == "kv"  # the new shape replaced the old


async def test_a_failing_kv_tier_degrades_to_the_loader(cache, metrics, mock_clock, monkeypatch):
    async def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(cache.kv, "get", broken)
    loader = Loader(Book("Still here"))
    result = await lookup(cache, loader)
    assert (result.value, result.source) == (Book("Still here"), "miss")
    assert metrics.value("bookstrack_cache_errors_total", {"tier": "kv", "op": "read"}) == 1


async def test_get_and_put_without_a_loader(cache, executor, mock_clock):
    assert await cache.get("k", type=Book) is None
    await cache.put("k", Book("Put"), ttl=DAY, quality=0.9)
    got = await cache.get("k", type=Book)
    assert (got.value, got.source) == (Book("Put"), "memory")
    cache.memory.clear()
    assert (await cache.get("k", type=Book)).source == "kv"
    assert rows(executor, "SELECT expires_at FROM cache_kv") == [(EPOCH + 2 * DAY,)]
    await cache.put("none", Negative(), ttl=60)
    assert (await cache.get("none", type=Book)).negative
    await cache.invalidate("k")
    assert await cache.get("k", type=Book) is None


async def test_put_many_stores_every_entry_in_one_kv_write(cache, executor, mock_clock):
    transactions = executor.transactions
    await cache.put_many([("a", Book("A"), DAY), ("b", Negative(Book("")), 60), ("c", Book("C"), 2 * DAY)])
    assert executor.transactions == transactions + 1
    assert rows(executor, "SELECT key, negative, expires_at FROM cache_kv ORDER BY key") == [
        ("a", 0, EPOCH + DAY), ("b", 1, EPOCH + 60), ("c", 0, EPOCH + 2 * DAY),
    ]
    assert (await cache.get("a", type=Book)).source == "memory"
    assert (await cache.get("b", type=Book)).negative
    with pytest.raises(ValueError, match="ttl must be positive"):
        await cache.put_many([("d", Book("D"), 0)])


async def test_peek_answers_from_memory_only_and_counts_only_hits(cache, executor, metrics, mock_clock):
    await cache.put_many([("memory", Book("Memory"), DAY), ("kv", Book("KV"), DAY), ("none", Negative(), 60)])
    cache.memory.delete("kv")
    misses = requests(metrics, "memory", "miss")
    hits = requests(metrics, "memory", "hit")
    assert cache.peek("memory", type=Book).value == Book("Memory")
    assert cache.peek("none", type=Book).negative
    assert cache.peek("kv", type=Book) is None  # in KV only: peek never waits for a read
    assert cache.peek("absent", type=Book) is None
    assert requests(metrics, "memory", "hit") == hits + 2
    assert requests(metrics, "memory", "miss") == misses  # the lookup that follows a peek counts it
    assert (await cache.get("kv", type=Book)).source == "kv"


async def test_get_many_reads_each_tier_once_for_all_keys(cache, executor, metrics, mock_clock):
    await lookup(cache, Loader(Book("Archived")), key="cold", ttl=90 * DAY)
    await cache.flush()
    mock_clock.jump(31 * DAY)
    assert await cache.archive() == 1
    await cache.put_many([("kv", Book("KV"), DAY), ("memory", Book("Memory"), DAY)])
    cache.memory.delete("kv")
    cache.memory.delete("cold")
    reads = []
    real_read = executor.read

    async def counted(fn):
        reads.append(fn)
        return await real_read(fn)

    executor.read = counted
    try:
        got = await cache.get_many(["memory", "kv", "cold", "none", "other", "kv"], type=Book)
    finally:
        executor.read = real_read
    assert {k: (r.value.title, r.source) for k, r in got.items()} == {
        "memory": ("Memory", "memory"), "kv": ("KV", "kv"), "cold": ("Archived", "cold"),
    }
    assert len(reads) == 4  # KV for four keys, the cold index for three, then ``get`` of the archived one
    assert requests(metrics, "cold", "hit") == 1
    assert (await cache.get("kv", type=Book)).source == "memory"  # promoted
    assert await cache.get_many([], type=Book) == {}


async def test_load_soon_starts_a_flight_that_outlives_the_caller(cache, executor, mock_clock):
    loader = Loader(Book("Slow"), gated=True)
    cache.load_soon("k", loader, type=Book, ttl=DAY, negative_ttl=60)  # returns at once
    await loader.called.wait()  # the load runs in the cache's nursery
    cache.load_soon("k", loader, type=Book, ttl=DAY, negative_ttl=60)  # in the air: not started twice
    with trio.fail_after(1):  # get_many(join=False) does not wait for it
        assert await cache.get_many(["k"], type=Book, join=False) == {}
    loader.release.set()
    await settle(executor)  # loaded, written to KV
    await trio.testing.wait_all_tasks_blocked()  # the flight ended
    assert loader.calls == 1
    got = await cache.get_many(["k"], type=Book, join=False)
    assert (got["k"].value, got["k"].source) == (Book("Slow"), "memory")
    cache.load_soon("k", loader, type=Book, ttl=DAY, negative_ttl=60)  # in memory: nothing to do
    await trio.testing.wait_all_tasks_blocked()
    assert loader.calls == 1
    with pytest.raises(ValueError, match="must be positive"):
        cache.load_soon("x", loader, type=Book, ttl=0, negative_ttl=60)


async def test_load_soon_leaves_a_failed_load_uncached(cache, executor, mock_clock):
    failing = Loader(RuntimeError("down"))
    cache.load_soon("k", failing, type=Book, ttl=DAY, negative_ttl=60)
    await failing.called.wait()
    await trio.testing.wait_all_tasks_blocked()  # the flight failed and ended
    loader = Loader(Book("Later"))
    cache.load_soon("k", loader, type=Book, ttl=DAY, negative_ttl=60)  # tried again
    await loader.called.wait()
    await settle(executor)
    await trio.testing.wait_all_tasks_blocked()
    assert (failing.calls, loader.calls) == (1, 1)
    assert (await cache.get("k", type=Book)).value == Book("Later")


async def test_a_loader_joining_a_lookup_only_flight_that_found_nothing_loads(cache, executor, metrics, mock_clock):
    loader = Loader(Book("Loaded"))
    got, loaded = [], []
    gate = threading.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(executor.write, lambda conn: gate.wait(10))  # holds the SQLite thread
        await trio.testing.wait_all_tasks_blocked()

        async def getter():
            got.append(await cache.get("k", type=Book))

        async def caller():
            loaded.append(await lookup(cache, loader))

        nursery.start_soon(getter)
        await trio.testing.wait_all_tasks_blocked()  # its flight waits for the thread
        nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()  # joined the lookup-only flight
        assert metrics.value("bookstrack_cache_singleflight_joins_total") == 1
        gate.set()
    assert got == [None]
    assert [(r.value, r.source) for r in loaded] == [(Book("Loaded"), "miss")]
    assert loader.calls == 1


async def test_purge_removes_expired_entries_of_every_tier(cache, executor, metrics, mock_clock):
    await lookup(cache, Loader(Book("a")), key="a", ttl=60)
    await lookup(cache, Loader(Book("b")), key="b", ttl=40 * DAY)
    await cache.flush()
    mock_clock.jump(31 * DAY)
    assert await cache.archive(30 * DAY) == 1  # b (a has expired: it is purged, not archived)
    mock_clock.jump(10 * DAY)
    assert await cache.purge_expired() == {"memory": 2, "kv": 1, "cold": 1}
    assert rows(executor, "SELECT count(*) FROM cache_kv") == [(0,)]
    assert metrics.value("bookstrack_cache_purged_total", {"tier": "kv"}) == 1


async def test_the_background_purge_runs_every_purge_interval(executor, blobs, metrics, mock_clock):
    cache = TieredCache.from_config(
        CacheConfig(purge_interval=3600), executor=executor, blobs=blobs, clock=Clock(epoch=EPOCH), metrics=metrics
    )
    async with cache.running():
        await lookup(cache, Loader(Book("a")), key="a", ttl=60)
        await cache.flush()
        mock_clock.jump(3600)
        await settle(executor)  # the purge's batch is queued behind this no-op write
        await trio.testing.wait_all_tasks_blocked()
        assert rows(executor, "SELECT count(*) FROM cache_kv") == [(0,)]
        assert metrics.value("bookstrack_cache_purged_total", {"tier": "kv"}) == 1


async def test_stats_snapshot(cache, mock_clock):
    loader = Loader(Book("Stats"))
    await lookup(cache, loader)
    await lookup(cache, loader)
    stats = cache.stats()
    assert stats["requests"]["memory"] == {"hit": 1, "miss": 1}
    assert stats["results"] == {"memory": 1, "kv": 0, "cold": 0, "miss": 1}
    assert stats["hitRates"]["memory"] == 0.5
    assert stats["hitRates"]["combined"] == 0.5
    assert stats["loads"] == {"value": 1, "negative": 0, "error": 0}
    assert stats["memory"]["entries"] == 1
    assert stats["memory"]["maxEntries"] == 100
    assert stats["inFlight"] in (0, 1)
    assert msgspec.json.encode(stats)  # JSON-ready


def test_the_default_config_builds_a_cache():
    config = load_config(env={}).cache
    assert config.negative_ttl == 300
    assert config.title_ttl == 6 * 3600
    assert config.editions_ttl == 7 * DAY
    assert config.archive_after == 30 * DAY
    assert config.isbn_ttl > config.archive_after  # so rarely read ISBNs can reach the cold tier


async def test_invalid_ttls_are_refused(cache):
    with pytest.raises(ValueError, match="positive"):
        await lookup(cache, Loader(Book("x")), ttl=0)
