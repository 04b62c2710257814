"""The memory tier: LRU order, the entry and byte bounds, per-entry TTL on the injected clock."""

from __future__ import annotations

import pytest

from actors import Clock
from actors.testing import EPOCH
from bookstrack.cache.memory import MemoryCache


def cache(max_entries: int = 10, max_bytes: int = 1000) -> MemoryCache:
    return MemoryCache(Clock(epoch=EPOCH), max_entries=max_entries, max_bytes=max_bytes)


async def test_get_returns_what_put_stored(mock_clock):
    memory = cache()
    assert memory.put("k", b'{"a":1}', ttl=60, stored_at=EPOCH)
    entry = memory.get("k")
    assert entry is not None
    assert (entry.data, entry.stored_at, entry.negative) == (b'{"a":1}', EPOCH, False)
    assert memory.get("other") is None
    assert len(memory) == 1
    assert memory.bytes == 7


async def test_the_entry_bound_evicts_the_least_recently_used(mock_clock):
    memory = cache(max_entries=3)
    for key in "abc":
        memory.put(key, b"x", ttl=60, stored_at=EPOCH)
    assert memory.get("a") is not None  # a is now the most recently used: b is the oldest
    memory.put("d", b"x", ttl=60, stored_at=EPOCH)
    assert "b" not in memory
    assert [k for k in "acd" if k in memory] == ["a", "c", "d"]
    assert len(memory) == 3
    assert memory.evictions == 1


async def test_the_byte_bound_evicts_until_the_new_value_fits(mock_clock):
    memory = cache(max_bytes=10)
    memory.put("a", b"1234", ttl=60, stored_at=EPOCH)
    memory.put("b", b"1234", ttl=60, stored_at=EPOCH)
    assert memory.bytes == 8
    memory.put("c", b"123456", ttl=60, stored_at=EPOCH)  # 14 bytes: a goes, then 10 fit
    assert "a" not in memory
    assert "b" in memory
    assert "c" in memory
    assert memory.bytes == 10
    memory.put("d", b"1234567890", ttl=60, stored_at=EPOCH)  # exactly the bound: everything else goes
    assert len(memory) == 1
    assert memory.bytes == 10


async def test_a_value_larger_than_the_byte_bound_is_not_stored_and_drops_the_old_one(mock_clock):
    memory = cache(max_bytes=10)
    memory.put("a", b"old", ttl=60, stored_at=EPOCH)
    assert not memory.put("a", b"x" * 11, ttl=60, stored_at=EPOCH)
    assert memory.get("a") is None
    assert memory.bytes == 0


async def test_replacing_a_key_accounts_its_bytes_once(mock_clock):
    memory = cache()
    memory.put("a", b"12345", ttl=60, stored_at=EPOCH)
    memory.put("a", b"12", ttl=60, stored_at=EPOCH)
    assert memory.bytes == 2
    assert len(memory) == 1
    assert memory.delete("a")
    assert not memory.delete("a")
    assert memory.bytes == 0


async def test_entries_expire_after_their_own_ttl(mock_clock):
    memory = cache()
    memory.put("short", b"s", ttl=10, stored_at=EPOCH)
    memory.put("long", b"l", ttl=100, stored_at=EPOCH, negative=True)
    mock_clock.jump(9.9)
    assert memory.get("short") is not None
    mock_clock.jump(0.1)  # exactly at the deadline: expired
    assert memory.get("short") is None
    assert "short" not in memory
    assert memory.expirations == 1
    entry = memory.get("long")
    assert entry is not None
    assert entry.negative
    mock_clock.jump(100)
    assert memory.purge_expired() == 1
    assert len(memory) == 0
    assert memory.bytes == 0


async def test_a_non_positive_ttl_stores_nothing(mock_clock):
    memory = cache()
    assert not memory.put("a", b"x", ttl=0, stored_at=EPOCH)
    assert not memory.put("a", b"x", ttl=-1, stored_at=EPOCH)
    assert len(memory) == 0


def test_bounds_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        MemoryCache(Clock(), max_entries=0, max_bytes=10)


async def test_many_operations_keep_the_counts_exact(mock_clock):
    memory = cache(max_entries=50, max_bytes=400)
    for i in range(1000):
        memory.put(f"k{i % 120}", b"x" * (i % 17), ttl=60, stored_at=EPOCH)
        if i % 3 == 0:
            memory.get(f"k{(i * 7) % 120}")
        assert len(memory) <= 50
        assert memory.bytes <= 400
    assert memory.bytes == sum(len(memory.get(k).data) for k in [f"k{i}" for i in range(120)] if k in memory)
