"""The app factory: builds the services from a ``Config``, registers the routes, owns the lifespan.

``create_app`` wires everything that is injected (clock, storage path, route tables) and returns a
Quart-trio app wrapped in the front-door middleware. Nothing is started here: the lifespan
(``Services.run``, started by Quart-trio's ``before_serving``) opens the database, runs migrations,
starts the actor system and the health refresher, and on shutdown stops them and closes the database
after the last commit.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import quart
import trio
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from actors import ActorSystem, Clock, SqliteExecutor, SqliteStorage
from actors.job import JobActor
from bookstrack.access_log import AccessLog
from bookstrack.cache import TieredCache
from bookstrack.config import Config
from bookstrack.covers import CoverProxy
from bookstrack.errors import BookstrackError, ConfigError, InternalError, PayloadTooLarge
from bookstrack.errors import NotFound as NotFoundError
from bookstrack.health import HealthMonitor
from bookstrack.metrics import Metrics
from bookstrack.offload import CpuOffload
from bookstrack.pipelines.csv_import import CsvImportPipeline
from bookstrack.pipelines.enrich_book import BookEnricher
from bookstrack.pipelines.enrichment import EnrichmentPipeline
from bookstrack.pipelines.jobs import JobService
from bookstrack.pipelines.runner import JobRunner
from bookstrack.pipelines.scan import ScanPipeline
from bookstrack.providers.registry import Providers, open_providers
from bookstrack.search import SearchService
from bookstrack.store.blobs import FilesystemBlobStore
from bookstrack.store.database import open_database
from bookstrack.tasks import DurableQueues
from bookstrack.tasks.maintenance import Maintenance, queue_figures, serve_maintenance
from bookstrack.tasks.warming import QUEUE as WARMING_QUEUE
from bookstrack.tasks.warming import AuthorWarmer
from bookstrack.web import dashboard as dashboard_routes
from bookstrack.web import external, harvest, health, images, imports, jobs, legacy, progress, scans, search, warming
from bookstrack.web import metrics as metrics_routes
from bookstrack.web import openapi as openapi_routes
from bookstrack.web.client_ip import ClientIpResolver
from bookstrack.web.cors import CorsPolicy
from bookstrack.web.envelope import Family, error_response
from bookstrack.web.middleware import FrontDoor
from bookstrack.web.rate_limits import RateLimitGuard
from bookstrack.web.routing import RouteSpec, RouteTable, install
from bookstrack.web.url_map import StaticAnswerMap

__all__ = ["BooksTrackApp", "Services", "create_app", "ROUTE_TABLES"]

log = logging.getLogger("bookstrack")

# Every area's route table; each later area adds its own here.
ROUTE_TABLES: tuple[RouteTable, ...] = (
    health.routes, search.routes, legacy.routes, external.routes, jobs.routes, progress.routes, scans.routes,
    imports.routes, warming.routes, harvest.routes, images.routes,
    metrics_routes.routes, dashboard_routes.routes, openapi_routes.routes,
)

NOT_FOUND_MESSAGE = "The requested endpoint does not exist. Use /health to see available endpoints."


@dataclass(eq=False)
class Services:
    """Everything a route may call, built once per app."""

    config: Config
    clock: Clock
    metrics: Metrics
    offload: CpuOffload
    database: SqliteExecutor
    system: ActorSystem
    blobs: FilesystemBlobStore
    rate_limits: RateLimitGuard
    health: HealthMonitor
    access_log: AccessLog
    upstream_transport: httpx.AsyncBaseTransport | None = None  # tests: replaces the network
    # Built by ``run`` (they need the running nursery); None before start-up and after shutdown.
    providers: Providers | None = None
    cache: TieredCache | None = None
    search: SearchService | None = None
    resume_jobs: bool = True  # False for a second process on the same database (``bookstrack import``)
    runner: JobRunner | None = None
    jobs: JobService | None = None
    queues: DurableQueues | None = None  # the durable queues (enqueue, dead letters, stats()); built by run
    scheduler: Maintenance | None = None  # cron scheduler, alerts, cover harvest (status(), alerts, harvest)
    covers: CoverProxy | None = None  # the image proxy; built on first use (web/images.py cover_proxy)
    _stop: trio.Event = field(default_factory=trio.Event)
    _stopped: trio.Event = field(default_factory=trio.Event)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start everything, report started, run until ``stop()``; always closes the database."""
        try:
            applied = await open_database(self.database, now=self.clock.wall())
            if applied:
                log.info("database %s migrated to schema version %d", self.database.path, applied[-1])
            async with self.system, trio.open_nursery() as nursery:
                await nursery.start(self.health.run)
                nursery.start_soon(self.access_log.run)
                # Providers and cache close (in-flight calls cancelled, last counts and read statistics
                # written) when this block ends: before the database closes below.
                async with open_providers(
                    self.config, clock=self.clock, metrics=self.metrics, health=self.health,
                    database=self.database, transport=self.upstream_transport,
                ) as providers:
                    cache = TieredCache.from_config(
                        self.config.cache, executor=self.database, blobs=self.blobs, clock=self.clock,
                        metrics=self.metrics,
                    )
                    async with cache.running(), SearchService.running(
                        self.config, providers, cache, self.clock
                    ) as service:
                        try:
                            await self._run_work(providers, cache, service, task_status)
                        finally:
                            self.jobs = self.runner = self.queues = self.scheduler = None
                            self.search = self.cache = self.providers = None
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self.database.close()
            self._stopped.set()

    async def _run_work(
        self, providers: Providers, cache: TieredCache, service: SearchService, task_status: trio.TaskStatus[None]
    ) -> None:
        """The work nursery: the job runner, the durable queues and (in the serving process) the maintenance
        scheduler. Leaving it cancels running jobs, which stay "running" to be resumed by the next start,
        before the search service, cache and providers close."""
        self.providers, self.cache, self.search = providers, cache, service
        enricher = BookEnricher(service)
        runner = JobRunner(self.system, self.clock, self.config.jobs, resume=self.resume_jobs, metrics=self.metrics,
                           pipelines={
                               "batch_enrichment": EnrichmentPipeline(enricher),
                               "ai_scan": ScanPipeline(providers.gemini, enricher, self.blobs, self.config.scans),
                               "csv_import": CsvImportPipeline(enricher, self.blobs, self.offload, providers.gemini),
                           })
        queues = DurableQueues(self.database, self.clock)
        warming = self.config.queues.author_warming
        queues.register(WARMING_QUEUE, warming, AuthorWarmer(service, self.database, self.clock, warming))
        async with trio.open_nursery() as work:
            await work.start(runner.run)
            self.queues = queues
            if self.resume_jobs:  # a second process on the database (``bookstrack import``) only enqueues
                await work.start(queues.run)
                self.scheduler = await work.start(functools.partial(
                    serve_maintenance, self.config, clock=self.clock, metrics=self.metrics, database=self.database,
                    blobs=self.blobs, cache=cache, providers=providers, search=service,
                    queue_stats=queue_figures(lambda: self.queues), transport=self.upstream_transport,
                ))
            self.runner = runner
            self.jobs = JobService(self.system, runner, self.config.jobs, self.clock)
            task_status.started()
            await self._stop.wait()
            work.cancel_scope.cancel()

    async def stop(self) -> None:
        self._stop.set()
        await self._stopped.wait()


class BooksTrackApp(QuartTrio):
    url_map_class = StaticAnswerMap  # no reference cycle per request on the common paths (0033)
    services: Services
    route_specs: list[RouteSpec]
    startup_error: BaseException | None = None  # why the lifespan failed to start (the CLI reports it)

    def log_exception(self, exception_info: Any) -> None:
        # A start-up failure that is the operator's to fix (a ConfigError, an OSError such as an
        # unwritable storage path) is reported by whoever started the app, in one line; no trace.
        error = exception_info[1]
        if error is not None and error is self.startup_error and isinstance(error, (ConfigError, OSError)):
            return
        super().log_exception(exception_info)


def create_app(
    config: Config,
    *,
    clock: Clock | None = None,
    extra_routes: Iterable[RouteTable] = (),
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> BooksTrackApp:
    """Build the app. ``extra_routes`` lets tests mount routes the shipped app does not serve;
    ``upstream_transport`` replaces the network under the provider clients (tests)."""
    clock = clock or Clock()
    app = BooksTrackApp(__name__)
    app.route_specs = []
    metrics = Metrics()
    database = SqliteExecutor(config.storage.path, synchronous=config.storage.synchronous)
    system = ActorSystem(storage=SqliteStorage(database), clock=clock, idle_timeout=config.actors.idle_timeout)
    system.register(JobActor)  # so that its stored alarms (result cleanup) are delivered after a restart
    offload = CpuOffload(config.offload.threads)
    app.services = Services(
        config=config,
        clock=clock,
        metrics=metrics,
        offload=offload,
        database=database,
        system=system,
        blobs=FilesystemBlobStore(config.storage.blobs, limiter=offload.limiter),
        rate_limits=RateLimitGuard(
            config.rate_limit, ClientIpResolver(config.server.trusted_proxies), system, metrics
        ),
        health=HealthMonitor(config, database),
        access_log=AccessLog(enabled=config.log.access_log),
        upstream_transport=upstream_transport,
    )
    specs = install(app, (*ROUTE_TABLES, *extra_routes))
    for spec in specs:
        if spec.rate_limit is not None:
            app.services.rate_limits.ensure_class(spec.rate_limit)
    # Quart's own ceiling: the largest route limit (each route enforces its own, smaller one).
    app.config["MAX_CONTENT_LENGTH"] = max(
        [config.server.max_body_bytes, *(s.body_limit or 0 for s in specs)]
    )
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # the front door answers every OPTIONS
    _install_error_handlers(app)

    @app.before_serving
    async def start_services() -> None:
        try:
            await app.nursery.start(app.services.run)
        except BaseException as exc:  # Hypercorn passes on only its text: keep the exception itself
            app.startup_error = exc
            raise

    @app.after_serving
    async def stop_services() -> None:
        await app.services.stop()

    app.asgi_app = FrontDoor(  # type: ignore[method-assign]
        app.asgi_app, cors=CorsPolicy(config.server.cors_allowed_origins), metrics=metrics,
        access_log=app.services.access_log,
    )
    return app


def _install_error_handlers(app: BooksTrackApp) -> None:
    """Errors the framework would answer by itself (no route matched), in our families."""
    clock = app.services.clock

    def legacy(error: BookstrackError) -> quart.Response:
        response = error_response(error, Family.LEGACY, clock)
        response.headers["X-Error-Code"] = error.code
        response.headers["X-Cache-Status"] = "MISS"
        return response

    @app.errorhandler(NotFound)
    @app.errorhandler(MethodNotAllowed)  # API.md §8: a method mismatch is the same 404
    async def not_found(_: HTTPException) -> quart.Response:
        return legacy(NotFoundError(NOT_FOUND_MESSAGE))

    @app.errorhandler(RequestEntityTooLarge)
    async def too_large(_: HTTPException) -> quart.Response:
        return error_response(PayloadTooLarge.for_limit(app.config["MAX_CONTENT_LENGTH"]), Family.LEGACY, clock)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> quart.Response:
        error = BookstrackError(exc.description or exc.name)
        error.code = (exc.name or "ERROR").upper().replace(" ", "_")  # type: ignore[misc]
        error.status = exc.code or 500  # type: ignore[misc]
        return legacy(error)

    @app.errorhandler(Exception)
    async def internal(exc: Exception) -> quart.Response:
        log.error("unhandled error outside any route", exc_info=exc)
        return legacy(InternalError("Internal server error"))
