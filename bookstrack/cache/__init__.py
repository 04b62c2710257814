"""The search cache: memory LRU -> SQLite KV -> cold blobs, single-flight per key (see ``tiered.py``).

Generic: it stores msgspec-encodable values under string keys and knows nothing of providers or HTTP.
"""

from bookstrack.cache.cold import ColdTier as ColdTier
from bookstrack.cache.keys import cache_key as cache_key
from bookstrack.cache.kv import KVEntry as KVEntry
from bookstrack.cache.kv import KVStore as KVStore
from bookstrack.cache.kv import quality_ttl as quality_ttl
from bookstrack.cache.memory import MemoryCache as MemoryCache
from bookstrack.cache.tiered import CacheClosedError as CacheClosedError
from bookstrack.cache.tiered import CacheResult as CacheResult
from bookstrack.cache.tiered import Negative as Negative
from bookstrack.cache.tiered import Source as Source
from bookstrack.cache.tiered import TieredCache as TieredCache
from bookstrack.cache.tiered import abandon_flights_when as abandon_flights_when

__all__ = [
    "CacheClosedError",
    "CacheResult",
    "ColdTier",
    "KVEntry",
    "KVStore",
    "MemoryCache",
    "Negative",
    "Source",
    "TieredCache",
    "abandon_flights_when",
    "cache_key",
    "quality_ttl",
]
