"""The maintenance tasks of one app, wired together: scheduler, archival, alerts and cover harvest.

Owns the wiring only (each task is its own module): ``open_maintenance`` builds the three tasks on the
app's cache, providers, search service, metrics, blob store and database, registers them with the
``Scheduler`` under the cron expressions of ``[scheduler]``, loads what the last process recorded, starts
the scheduler (unless ``[scheduler] enabled = false``) and yields a ``Maintenance``, the one object the
routes and the dashboard use (``Services.scheduler``). The harvest's downloads use a client of their own
(image answers are not provider JSON), closed when the block ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from actors import Clock, SqliteExecutor
from bookstrack.cache import TieredCache, cache_key
from bookstrack.config import Config
from bookstrack.metrics import Metrics
from bookstrack.providers.cover_fetch import CoverFetcher
from bookstrack.providers.http import build_client
from bookstrack.providers.registry import Providers
from bookstrack.search.service import SearchPayload, SearchService
from bookstrack.store.blobs import BlobStore
from bookstrack.tasks import DurableQueues
from bookstrack.tasks.alerts import AlertMonitor, AlertReport, QueueFigures, QueueStats
from bookstrack.tasks.archival import ArchivalResult, run_archival
from bookstrack.tasks.harvest import CoverHarvest, CoverLookup, HarvestRun
from bookstrack.tasks.scheduler import ScheduledTask, Scheduler, SqliteScheduleStore, TaskStatus

__all__ = [
    "Maintenance", "open_maintenance", "serve_maintenance", "queue_figures", "ARCHIVAL", "ALERTS", "COVER_HARVEST",
]

ARCHIVAL, ALERTS, COVER_HARVEST = "archival", "alerts", "cover_harvest"


@dataclass(eq=False)
class Maintenance:
    """What the dashboard and the admin routes call."""

    scheduler: Scheduler
    alerts: AlertMonitor
    harvest: CoverHarvest

    def status(self) -> list[TaskStatus]:
        """Per task: cron, running, last start/end, last outcome and error, next run (ISO-8601 UTC)."""
        return self.scheduler.status()

    async def harvest_now(self) -> HarvestRun:
        """Run the cover harvest now (after a run of it already going); recorded like a scheduled run."""
        run: HarvestRun = await self.scheduler.run_now(COVER_HARVEST)
        return run


def search_cover_lookup(config: Config, search: SearchService) -> CoverLookup:
    """An ISBN's cover URL from the search cache (the ISBN route's entry), else from the providers.

    The lookup is not counted as a search (it would feed the harvest's own ranking).
    """

    async def lookup(isbn13: str) -> str | None:
        result = await search.cache.get_or_load(
            cache_key("v1:isbn", isbn=isbn13), lambda: search.load_isbn(isbn13, isbn13), type=SearchPayload,
            ttl=config.cache.isbn_ttl, negative_ttl=config.cache.negative_ttl,
        )
        payload = result.value
        for record in payload.records if payload is not None else ():
            url = record.edition.coverImageURL or record.work.coverImageURL
            if url:
                return url
        return None

    return lookup


@asynccontextmanager
async def open_maintenance(
    config: Config,
    *,
    clock: Clock,
    metrics: Metrics,
    database: SqliteExecutor,
    blobs: BlobStore,
    cache: TieredCache,
    providers: Providers,
    search: SearchService,
    queue_stats: QueueStats | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Maintenance]:
    """Build and start the maintenance tasks; they stop when the block ends."""
    budgets = {name: upstream.budget for name, upstream in providers.upstreams.items()}
    async with build_client(config.providers, transport=transport) as client, trio.open_nursery() as nursery:
        alerts = AlertMonitor(config.alerts, metrics, clock, database=database, queue_stats=queue_stats)
        harvest = CoverHarvest(
            config.harvest, counts=providers.isbn_counts, lookup=search_cover_lookup(config, search),
            fetcher=CoverFetcher(client, budgets, config.harvest, clock), blobs=blobs, budgets=budgets,
            clock=clock, database=database,
        )

        async def archival() -> ArchivalResult:
            return await run_archival(cache)

        async def check_alerts() -> AlertReport:
            return await alerts.evaluate()

        schedule = config.scheduler
        scheduler = Scheduler(
            [
                ScheduledTask(ARCHIVAL, schedule.archival, archival),
                ScheduledTask(ALERTS, schedule.alerts, check_alerts),
                ScheduledTask(COVER_HARVEST, schedule.cover_harvest, harvest.run),
            ],
            clock=clock, store=SqliteScheduleStore(database),
        )
        await alerts.load()
        await harvest.load()
        await scheduler.load()
        if schedule.enabled:
            await nursery.start(scheduler.run)
        try:
            yield Maintenance(scheduler, alerts, harvest)
        finally:
            nursery.cancel_scope.cancel()


def queue_figures(queues_of: Callable[[], DurableQueues | None]) -> QueueStats:
    """The alerts' view of the durable queues (summed over every queue); ``None`` (n/a) while there are none."""

    async def figures() -> QueueFigures | None:
        queues = queues_of()
        if queues is None:
            return None
        stats = await queues.stats()
        return QueueFigures(depth=sum(s.depth for s in stats), dead_letters=sum(s.dead for s in stats))

    return figures


async def serve_maintenance(
    config: Config,
    *,
    task_status: trio.TaskStatus[Maintenance] = trio.TASK_STATUS_IGNORED,
    **dependencies: Any,
) -> None:
    """``open_maintenance`` as a task: reports the ``Maintenance`` when started, runs until cancelled."""
    async with open_maintenance(config, **dependencies) as maintenance:
        task_status.started(maintenance)
        await trio.sleep_forever()
