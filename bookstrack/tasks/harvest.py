"""The cover harvest (reference §10.4, fixed): covers of the most-searched ISBNs into the blob store.

Owns one run: rank the ISBNs by their searches over the last ``lookback_days`` UTC days (the per-day
counts of ``providers/isbn_counts.py``), skip those with a stored cover (``covers/isbn/{isbn13}``, the key
the image proxy serves harvested covers from), and for at most ``max_per_run`` others find a cover URL
(``lookup``: the search cache, then the providers) and download it (``CoverFetcher``: allow-listed hosts,
each download inside its provider's budget). A provider budget that runs out ends the run early: the
ISBNs not reached are "deferred" to the next run. Each run's statistics are recorded (table
``harvest_runs``, migration 5) and ``last_results()`` serves them to the dashboard.

No seed list is downloaded from a third party at run time (the original fetched one from GitHub), and
there is no image "compression" step (the original's was a no-op).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

import msgspec

from actors import Clock, SqliteExecutor
from actors.clock import iso_utc
from bookstrack.config import HarvestConfig
from bookstrack.errors import ProviderError
from bookstrack.providers.budget import Budget
from bookstrack.providers.cover_fetch import CoverFetcher, CoverRefused
from bookstrack.providers.isbn_counts import utc_day
from bookstrack.store.blobs import BlobStore

__all__ = [
    "COVER_PREFIX", "CoverHarvest", "CoverLookup", "HarvestItem", "HarvestRun", "HarvestStats", "cover_key",
]

log = logging.getLogger("bookstrack.tasks.harvest")

COVER_PREFIX = "covers/isbn/"
_DAY = 86_400.0

CoverLookup = Callable[[str], Awaitable[str | None]]  # ISBN-13 → a cover URL of its book, or None


def cover_key(isbn13: str) -> str:
    """The blob key of a harvested cover: ``covers/isbn/{isbn13}`` (content type kept in the blob)."""
    return COVER_PREFIX + isbn13


class SearchCounts(Protocol):
    async def most_searched(self, day: str, n: int) -> list[tuple[str, int]]: ...


class HarvestItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    isbn: str
    status: Literal["success", "no_cover", "error"]
    searches: int
    size: int | None = None
    contentType: str | None = None
    provider: str | None = None
    error: str | None = None


class ApiUsage(msgspec.Struct, kw_only=True):
    used: int  # budget slots this run took (metadata and downloads, every provider)
    providers: dict[str, dict[str, float]]  # per cover provider: usedToday, perDay, percentUsed


class HarvestStats(msgspec.Struct, kw_only=True):
    """The run's figures (the reference's ``stats`` with real numbers; camelCase as on the wire)."""

    total: int  # ISBNs considered (ranked candidates up to the run's stopping point)
    successful: int
    skipped: int  # already had a stored cover
    noCover: int
    errors: int
    deferred: int  # not reached because a provider budget ran out; the next run takes them
    totalSize: int
    totalSizeMB: float
    duration: int  # milliseconds
    sources: dict[str, int]
    apiUsage: ApiUsage


class HarvestRun(msgspec.Struct, kw_only=True):
    startedAt: str
    finishedAt: str
    stats: HarvestStats
    results: list[HarvestItem]


class CoverHarvest:
    def __init__(
        self,
        config: HarvestConfig,
        *,
        counts: SearchCounts | None,
        lookup: CoverLookup,
        fetcher: CoverFetcher,
        blobs: BlobStore,
        budgets: Mapping[str, Budget],
        clock: Clock,
        database: SqliteExecutor | None = None,
    ) -> None:
        self.config = config
        self.counts = counts
        self.lookup = lookup
        self.fetcher = fetcher
        self._blobs = blobs
        self._budgets = budgets
        self._clock = clock
        self._database = database
        self._runs: deque[HarvestRun] = deque(maxlen=config.history)

    async def load(self) -> None:
        """Read the most recent runs (call once at start)."""
        if self._database is None:
            return
        limit = self.config.history

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute("SELECT stats FROM harvest_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

        for (data,) in reversed(await self._database.read(read)):
            try:
                self._runs.append(msgspec.json.decode(data, type=HarvestRun))
            except msgspec.DecodeError:
                log.warning("harvest: a recorded run no longer decodes; not shown")

    def last_results(self, limit: int | None = None) -> list[HarvestRun]:
        """The recorded runs, newest first."""
        runs = list(reversed(self._runs))
        return runs if limit is None else runs[:limit]

    async def run(self) -> HarvestRun:
        """One harvest (see the module docstring); recorded and returned."""
        started = self._clock.wall()
        granted_before = sum(b.granted for b in self._budgets.values())
        stored = {key[len(COVER_PREFIX):] for key in await self._blobs.list(COVER_PREFIX)}
        ranking = await self._ranking(started, self.config.max_per_run + len(stored))
        results: list[HarvestItem] = []
        skipped = deferred = considered = 0
        stopped = False
        for isbn, searches in ranking:
            if isbn in stored:
                skipped += 1
                considered += 1
                continue
            if len(results) + deferred >= self.config.max_per_run:
                break
            if stopped:
                deferred += 1
                considered += 1
                continue
            considered += 1
            try:
                item = await self._harvest_one(isbn, searches)
            except ProviderError as error:
                if error.reason != "budget":
                    raise  # pragma: no cover - _harvest_one records every other failure
                log.info("harvest: %s; the remaining ISBNs wait for the next run", error)
                stopped = True
                deferred += 1
                continue
            results.append(item)
        finished = self._clock.wall()
        size = sum(item.size or 0 for item in results)
        stats = HarvestStats(
            total=considered,
            successful=sum(item.status == "success" for item in results),
            skipped=skipped,
            noCover=sum(item.status == "no_cover" for item in results),
            errors=sum(item.status == "error" for item in results),
            deferred=deferred,
            totalSize=size,
            totalSizeMB=round(size / (1024 * 1024), 3),
            duration=round((finished - started) * 1000),
            sources={"mostSearched": len(ranking), "totalUnique": len(ranking)},
            apiUsage=self._usage(sum(b.granted for b in self._budgets.values()) - granted_before),
        )
        run = HarvestRun(startedAt=iso_utc(started), finishedAt=iso_utc(finished), stats=stats, results=results)
        await self._record(run, started, finished)
        log.info(
            "harvest: %d stored, %d without a cover, %d failed, %d already stored, %d deferred (%d bytes)",
            stats.successful, stats.noCover, stats.errors, stats.skipped, stats.deferred, size,
        )
        return run

    # -- internals ---------------------------------------------------------------------------------

    async def _ranking(self, now: float, n: int) -> list[tuple[str, int]]:
        """ISBN-13s by searches summed over the look-back days, most first (ties: by ISBN)."""
        if self.counts is None or n < 1:
            return []
        totals: dict[str, int] = {}
        for back in range(self.config.lookback_days):
            for isbn, count in await self.counts.most_searched(utc_day(now - back * _DAY), n):
                totals[isbn] = totals.get(isbn, 0) + count
        return sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))

    async def _harvest_one(self, isbn: str, searches: int) -> HarvestItem:
        """Find, fetch and store one cover; a budget refusal propagates (it ends the run)."""
        try:
            url = await self.lookup(isbn)
            if url is None:
                return HarvestItem(isbn=isbn, status="no_cover", searches=searches)
            cover = await self.fetcher.fetch(url)
        except ProviderError as error:
            if error.reason == "budget":
                raise
            return HarvestItem(isbn=isbn, status="error", searches=searches, error=str(error))
        except CoverRefused as refused:
            return HarvestItem(isbn=isbn, status="error", searches=searches, error=f"{refused.reason}: {refused}")
        except Exception as exc:  # a lookup that failed in some other way: this ISBN only
            log.warning("harvest: looking up %s failed: %r", isbn, exc)
            return HarvestItem(isbn=isbn, status="error", searches=searches, error=type(exc).__name__)
        await self._blobs.put(cover_key(isbn), cover.data, cover.content_type)
        return HarvestItem(
            isbn=isbn, status="success", searches=searches, size=len(cover.data), contentType=cover.content_type,
            provider=cover.provider,
        )

    def _usage(self, used: int) -> ApiUsage:
        providers: dict[str, dict[str, float]] = {}
        for name in sorted(set(self.config.cover_hosts.values())):
            budget = self._budgets.get(name)
            if budget is None:
                continue
            today = budget.used_today()
            providers[name] = {
                "usedToday": today, "perDay": budget.per_day,
                "percentUsed": round(100 * today / budget.per_day, 1) if budget.per_day else 0.0,
            }
        return ApiUsage(used=used, providers=providers)

    async def _record(self, run: HarvestRun, started: float, finished: float) -> None:
        self._runs.append(run)
        if self._database is None:
            return
        row = (started, finished, msgspec.json.encode(run))

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO harvest_runs (started_at, finished_at, stats) VALUES (?, ?, ?)", row)

        await self._database.write(write)
