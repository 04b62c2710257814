"""The cover cache in the blob store, in front of the vetted fetcher; and the harvested covers.

Owns the blob layout of covers (reference §9.3, adapted):

    covers/url/{sha256(normalised URL)}    an image the proxy fetched (content type and ETag in the store)
    covers/meta/{sha256(normalised URL)}   its JSON ``CoverMeta``: URL, final URL, upstream ETag, fetched_at
    covers/isbn/{isbn13}                   a harvested cover (written by the scheduler's harvest)

The key is the hash of the *full* normalised URL, query included (the original dropped the query, so every
Google cover shared one key: reference §3.14). Every request is checked against the URL policy first, cache
hit or not, so taking a host off the allow-list stops it being served. A miss is fetched once at a time
per URL (a second request for the same URL waits and then reads the cache) and at most
``max_concurrent_fetches`` at a time overall. Refusals and failures are never cached.

It must not know about HTTP routes or headers (``web/images.py`` draws responses), and it never fetches
by itself: only ``fetch.py`` touches the network.
"""

from __future__ import annotations

import hashlib
import logging

import msgspec
import trio

from actors.clock import Clock
from bookstrack.config import ImagesConfig
from bookstrack.covers.fetch import CoverFetcher
from bookstrack.errors import BookstrackError, ImageRefused
from bookstrack.store.blobs import Blob, BlobStore

__all__ = ["CoverMeta", "CoverProxy", "CoverStats", "ServedCover", "url_key", "meta_key", "isbn_key"]

log = logging.getLogger("bookstrack.covers")

URL_PREFIX = "covers/url/"
META_PREFIX = "covers/meta/"
ISBN_PREFIX = "covers/isbn/"


def _digest(normalised_url: str) -> str:
    return hashlib.sha256(normalised_url.encode("utf-8")).hexdigest()


def url_key(normalised_url: str) -> str:
    """Blob key of the image fetched from ``normalised_url``."""
    return URL_PREFIX + _digest(normalised_url)


def meta_key(normalised_url: str) -> str:
    return META_PREFIX + _digest(normalised_url)


def isbn_key(isbn13: str) -> str:
    """Blob key of the harvested cover of ``isbn13`` (the harvest writes it)."""
    return ISBN_PREFIX + isbn13


class CoverMeta(msgspec.Struct, kw_only=True, omit_defaults=True):
    url: str  # normalised, as asked
    final_url: str  # after redirects
    content_type: str
    size: int
    etag: str  # ours (the blob's)
    fetched_at: str  # ISO 8601 UTC
    upstream_etag: str | None = None
    redirects: int = 0


class CoverStats(msgspec.Struct, kw_only=True):
    """Counters since start-up (for the dashboard and metrics)."""

    requests: int = 0  # proxy requests that reached the cache (after the URL checks)
    cache_hits: int = 0
    fetched: int = 0  # misses fetched and stored
    fetched_bytes: int = 0
    refused: int = 0  # 400/403: URL, scheme, host or address not allowed
    failed: int = 0  # 502: upstream failures, not an image, too large, timeouts
    harvested_served: int = 0  # GET /covers/{isbn} answered from the store
    harvested_missing: int = 0
    in_flight: int = 0  # fetches running now


class ServedCover(msgspec.Struct, frozen=True):
    blob: Blob
    cached: bool  # answered from the blob store without a fetch


class CoverProxy:
    """``get(url)`` → the image, from the blob store or fetched and stored; ``harvested(isbn13)``."""

    def __init__(self, config: ImagesConfig, blobs: BlobStore, clock: Clock, *, fetcher: CoverFetcher | None = None):
        self.config = config
        self.blobs = blobs
        self.clock = clock
        self.fetcher = fetcher or CoverFetcher(config)
        self._stats = CoverStats()
        self._limiter = trio.CapacityLimiter(config.max_concurrent_fetches)
        self._locks: dict[str, tuple[trio.Lock, list[int]]] = {}  # key -> lock, [holders + waiters]

    def stats(self) -> CoverStats:
        """A snapshot of the counters."""
        return msgspec.structs.replace(self._stats)

    async def cached_count(self) -> int:
        """How many fetched covers the blob store holds (lists the store: for dashboards, not hot paths)."""
        return len(await self.blobs.list(URL_PREFIX))

    async def harvested_count(self) -> int:
        return len(await self.blobs.list(ISBN_PREFIX))

    async def get(self, raw_url: str | None) -> ServedCover:
        """The image at ``raw_url``; raises ``InvalidImageUrl``, ``ImageRefused`` or ``ImageFetchFailed``."""
        stats = self._stats
        try:
            url = self.fetcher.policy.resolve(raw_url)
        except BookstrackError:
            stats.refused += 1
            raise
        stats.requests += 1
        normalised = str(url)
        key = url_key(normalised)
        blob = await self.blobs.get(key)
        if blob is not None:
            stats.cache_hits += 1
            return ServedCover(blob, True)
        async with self._lock(key):
            blob = await self.blobs.get(key)  # fetched by the request we waited for
            if blob is not None:
                stats.cache_hits += 1
                return ServedCover(blob, True)
            async with self._limiter:
                stats.in_flight += 1
                try:
                    fetched = await self.fetcher.fetch(url)
                except ImageRefused:
                    stats.refused += 1
                    raise
                except BookstrackError:
                    stats.failed += 1
                    raise
                finally:
                    stats.in_flight -= 1
            blob = await self.blobs.put(key, fetched.data, fetched.content_type)
            meta = CoverMeta(
                url=normalised, final_url=fetched.final_url, content_type=fetched.content_type,
                size=len(fetched.data), etag=blob.etag, fetched_at=self.clock.iso(),
                upstream_etag=fetched.upstream_etag, redirects=fetched.redirects,
            )
            await self.blobs.put(meta_key(normalised), msgspec.json.encode(meta), "application/json")
            stats.fetched += 1
            stats.fetched_bytes += len(fetched.data)
            return ServedCover(blob, False)

    async def meta(self, raw_url: str) -> CoverMeta | None:
        """What is known of the cached copy of ``raw_url`` (``None`` if not cached)."""
        blob = await self.blobs.get(meta_key(str(self.fetcher.policy.resolve(raw_url))))
        return None if blob is None else msgspec.json.decode(blob.data, type=CoverMeta)

    async def harvested(self, isbn13: str) -> Blob | None:
        """The harvested cover of a canonical ISBN-13, or ``None``."""
        blob = await self.blobs.get(isbn_key(isbn13))
        if blob is None:
            self._stats.harvested_missing += 1
        else:
            self._stats.harvested_served += 1
        return blob

    def _lock(self, key: str) -> _KeyLock:
        return _KeyLock(self._locks, key)


class _KeyLock:
    """One ``trio.Lock`` per key while anyone holds or waits for it; dropped by the last one out."""

    def __init__(self, table: dict[str, tuple[trio.Lock, list[int]]], key: str) -> None:
        self._table = table
        self._key = key

    async def __aenter__(self) -> None:
        entry = self._table.get(self._key)
        if entry is None:
            entry = self._table[self._key] = (trio.Lock(), [0])
        entry[1][0] += 1
        try:
            await entry[0].acquire()
        except BaseException:
            self._leave(entry)
            raise

    async def __aexit__(self, *exc: object) -> None:
        entry = self._table[self._key]
        entry[0].release()
        self._leave(entry)

    def _leave(self, entry: tuple[trio.Lock, list[int]]) -> None:
        entry[1][0] -= 1
        if entry[1][0] == 0:
            del self._table[self._key]
