"""The memory tier: an LRU of encoded values bounded by entry count and by bytes, with a TTL per entry.

Owns the process-local hot copy of cache entries. Values are stored encoded (the JSON bytes the KV tier
also stores), so an entry's size is exactly ``len(data)`` and every reader decodes its own private copy
(nobody can mutate a cached object under another reader). All operations are O(1) on an
``OrderedDict`` (most recently used last); expiry is read from the injected ``Clock``'s monotonic time,
checked lazily on ``get`` (an expired entry is dropped then) and by eviction from the cold end when a
bound is exceeded. An entry larger than ``max_bytes`` is not stored at all.

Not thread-safe and never awaits: it is used from trio tasks only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from actors import Clock

__all__ = ["MemoryCache", "MemoryEntry"]


@dataclass(slots=True)
class MemoryEntry:
    data: bytes  # the encoded value
    stored_at: float  # wall time (epoch seconds) at which the value was fetched from its source
    expires_at: float  # monotonic deadline (the clock's ``monotonic()``)
    negative: bool = False  # a cached "not found"


class MemoryCache:
    """LRU bounded by ``max_entries`` and ``max_bytes`` (sum of ``len(data)``), per-entry TTL."""

    def __init__(self, clock: Clock, *, max_entries: int, max_bytes: int) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self._clock = clock
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, MemoryEntry] = OrderedDict()
        self._bytes = 0
        self.evictions = 0  # entries dropped to respect a bound
        self.expirations = 0  # entries dropped because their TTL had passed

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> MemoryEntry | None:
        """The live entry for ``key`` (now the most recently used), or None (absent or expired)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock.monotonic():
            self._remove(key, entry)
            self.expirations += 1
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, data: bytes, *, ttl: float, stored_at: float, negative: bool = False) -> bool:
        """Store ``data`` for ``ttl`` seconds; False (and any older entry dropped) if it cannot be held:
        ``ttl`` not positive or ``data`` larger than ``max_bytes``."""
        old = self._entries.get(key)
        if old is not None:
            self._remove(key, old)
        if ttl <= 0 or len(data) > self.max_bytes:
            return False
        self._entries[key] = MemoryEntry(bytes(data), stored_at, self._clock.monotonic() + ttl, negative)
        self._bytes += len(data)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            cold_key, cold = next(iter(self._entries.items()))
            self._remove(cold_key, cold)
            self.evictions += 1
        return True

    def delete(self, key: str) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        self._remove(key, entry)
        return True

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def purge_expired(self) -> int:
        """Drop every expired entry (O(n); ``get`` and the bounds do this lazily anyway)."""
        now = self._clock.monotonic()
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            self._remove(key, self._entries[key])
        self.expirations += len(expired)
        return len(expired)

    def _remove(self, key: str, entry: MemoryEntry) -> None:
        del self._entries[key]
        self._bytes -= len(entry.data)
