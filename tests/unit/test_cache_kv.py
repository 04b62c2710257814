"""The KV tier on a real SQLite file: wrapping, expiry, quality-based TTL, purge, read-statistics batching.

Time: ``mock_clock`` (a MockClock without autojump, moved with ``jump``): these tests wait on the SQLite
thread.
"""

from __future__ import annotations

import msgspec
import pytest
import trio

from actors import Clock
from actors.testing import EPOCH
from bookstrack.cache.kv import KVStore, quality_ttl
from tests.unit.cache_support import DAY, migrated_database, rows, settle


@pytest.fixture
async def executor(tmp_path):
    async with migrated_database(tmp_path / "cache.sqlite3") as executor:
        yield executor


@pytest.fixture
def kv(executor):
    return KVStore(executor, Clock(epoch=EPOCH), purge_batch=3, max_pending_reads=3)


async def test_a_value_is_stored_wrapped_with_its_metadata(kv, executor, mock_clock):
    entry = await kv.put("search:isbn:isbn=9780261103344", b'{"title":"The Hobbit"}', ttl=7 * DAY)
    assert entry.stored_at == EPOCH
    assert entry.expires_at == EPOCH + 7 * DAY
    ((value, stored_at, expires_at, last_read_at, hits, quality, negative),) = rows(
        executor, "SELECT value, stored_at, expires_at, last_read_at, hits, quality, negative FROM cache_kv"
    )
    assert msgspec.json.decode(value) == {
        "data": {"title": "The Hobbit"},
        "cachedAt": int(EPOCH * 1000),
        "ttl": 7 * DAY,
    }
    assert (stored_at, expires_at, last_read_at, hits, quality, negative) == (
        EPOCH, EPOCH + 7 * DAY, EPOCH, 0, None, 0
    )
    got = await kv.get("search:isbn:isbn=9780261103344")
    assert got is not None
    assert got.data == b'{"title":"The Hobbit"}'
    assert (got.stored_at, got.expires_at, got.negative, got.ttl) == (EPOCH, EPOCH + 7 * DAY, False, 7 * DAY)


async def test_a_negative_entry_is_marked_and_ignores_quality(kv, executor, mock_clock):
    entry = await kv.put("k", b"[]", ttl=300, quality=1.0, negative=True)
    assert entry.ttl == 300
    (value,) = rows(executor, "SELECT value FROM cache_kv")[0]
    assert msgspec.json.decode(value) == {"data": [], "cachedAt": int(EPOCH * 1000), "ttl": 300.0, "negative": True}
    got = await kv.get("k")
    assert got.negative


async def test_expired_rows_are_ignored_on_read_until_purged(kv, executor, mock_clock):
    await kv.put("short", b"1", ttl=10)
    await kv.put("long", b"2", ttl=100)
    mock_clock.jump(9)
    assert (await kv.get("short")).data == b"1"
    mock_clock.jump(1)
    assert await kv.get("short") is None  # expires_at == now: expired
    assert (await kv.get("long")).data == b"2"
    assert len(rows(executor, "SELECT key FROM cache_kv")) == 2  # still there, ignored
    assert await kv.purge_expired() == 1
    assert rows(executor, "SELECT key FROM cache_kv") == [("long",)]


async def test_purge_deletes_in_batches_of_purge_batch(kv, executor, mock_clock):
    for i in range(10):
        await kv.put(f"old{i}", b"1", ttl=5)
    await kv.put("live", b"1", ttl=500)
    mock_clock.jump(6)
    before = executor.transactions
    assert await kv.purge_expired() == 10
    assert executor.transactions - before == 4  # 3 + 3 + 3 + 1
    assert rows(executor, "SELECT key FROM cache_kv") == [("live",)]
    assert await kv.purge_expired() == 0


@pytest.mark.parametrize(
    ("quality", "factor"),
    [(None, 1.0), (0.0, 0.5), (0.39, 0.5), (0.4, 1.0), (0.6, 1.0), (0.8, 1.0), (0.81, 2.0), (1.0, 2.0)],
)
async def test_quality_scales_the_ttl(kv, mock_clock, quality, factor):
    assert quality_ttl(100.0, quality) == 100.0 * factor
    entry = await kv.put("k", b"1", ttl=100, quality=quality)
    assert entry.expires_at == EPOCH + 100 * factor
    assert entry.quality == quality
    mock_clock.jump(100 * factor - 0.5)
    assert await kv.get("k") is not None
    mock_clock.jump(0.5)
    assert await kv.get("k") is None


@pytest.mark.parametrize("quality", [-0.1, 1.5, float("nan"), "high"])
def test_a_quality_outside_zero_to_one_is_refused(quality):
    with pytest.raises(ValueError, match="0..1"):
        quality_ttl(10, quality)


async def test_a_non_positive_ttl_is_refused(kv, mock_clock):
    with pytest.raises(ValueError, match="positive"):
        await kv.put("k", b"1", ttl=0)


async def test_hits_do_not_write_until_the_statistics_are_flushed(kv, executor, mock_clock):
    await kv.put("a", b"1", ttl=DAY)
    before = executor.transactions
    for _ in range(5):
        mock_clock.jump(10)
        assert await kv.get("a") is not None
    assert executor.transactions == before  # five hits, no write transaction
    assert rows(executor, "SELECT hits, last_read_at FROM cache_kv") == [(0, EPOCH)]
    assert kv.pending_reads == 1
    assert await kv.flush_reads() == 1
    assert executor.transactions == before + 1
    assert rows(executor, "SELECT hits, last_read_at FROM cache_kv") == [(5, EPOCH + 50)]
    assert kv.pending_reads == 0
    assert await kv.flush_reads() == 0  # nothing pending: no transaction
    assert executor.transactions == before + 1


async def test_buffered_statistics_ride_along_with_the_next_write(kv, executor, mock_clock):
    await kv.put("a", b"1", ttl=DAY)
    mock_clock.jump(5)
    await kv.get("a")
    kv.note_read("a")  # e.g. a memory hit
    before = executor.transactions
    await kv.put("b", b"2", ttl=DAY)
    assert executor.transactions == before + 1  # one transaction for the put and the statistics
    assert rows(executor, "SELECT key, hits, last_read_at FROM cache_kv ORDER BY key") == [
        ("a", 2, EPOCH + 5),
        ("b", 0, EPOCH + 5),
    ]
    assert kv.pending_reads == 0


async def test_statistics_of_a_failed_write_are_kept_for_the_next_flush(kv, executor, mock_clock):
    await kv.put("a", b"1", ttl=DAY)
    kv.note_read("a")
    await executor.write(lambda conn: conn.execute("DROP TABLE cache_cold"))  # put's second statement fails
    with pytest.raises(Exception, match="cache_cold"):
        await kv.put("b", b"2", ttl=DAY)
    assert kv.pending_reads == 1
    assert await kv.flush_reads() == 1
    assert rows(executor, "SELECT key, hits FROM cache_kv") == [("a", 1)]


async def test_the_flusher_writes_every_interval_and_early_when_the_buffer_fills(kv, executor, mock_clock):
    for key in "abcd":
        await kv.put(key, b"1", ttl=DAY)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(kv.run_flusher, 60.0)
        await trio.testing.wait_all_tasks_blocked()
        kv.note_read("a")
        kv.note_read("a")
        await settle(executor)
        assert rows(executor, "SELECT hits FROM cache_kv WHERE key = 'a'") == [(0,)]  # not yet
        mock_clock.jump(60)
        await settle(executor)
        assert rows(executor, "SELECT hits FROM cache_kv WHERE key = 'a'") == [(2,)]
        # three distinct keys (max_pending_reads) wake it before the interval
        for key in "bcd":
            kv.note_read(key)
        await settle(executor)
        assert rows(executor, "SELECT key, hits FROM cache_kv ORDER BY key") == [
            ("a", 2), ("b", 1), ("c", 1), ("d", 1)
        ]
        nursery.cancel_scope.cancel()


async def test_a_put_keeps_the_hit_count_of_the_key(kv, executor, mock_clock):
    await kv.put("a", b"1", ttl=DAY)
    await kv.get("a")
    await kv.flush_reads()
    await kv.put("a", b"2", ttl=DAY)
    assert rows(executor, "SELECT hits FROM cache_kv") == [(1,)]
    assert (await kv.get("a", note_read=False)).data == b"2"
    assert kv.pending_reads == 0


async def test_delete_and_count(kv, mock_clock):
    await kv.put("a", b"1", ttl=DAY)
    await kv.put("b", b"1", ttl=DAY)
    assert await kv.count() == 2
    assert await kv.delete("a")
    assert not await kv.delete("a")
    assert await kv.get("a") is None
    assert await kv.count() == 1
