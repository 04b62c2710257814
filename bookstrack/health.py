"""The health monitor: what ``GET /health`` reports, refreshed in the background.

Owns the checks (database reachable and migrated; each provider configured, and healthy once the
book-data providers report in) and the pre-encoded answer. The request path never runs a check: it
returns the bytes of the last refresh, so ``/health`` costs the same under load as at rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import msgspec
import trio

from actors import SqliteExecutor
from bookstrack import __version__
from bookstrack.config import Config

__all__ = ["HealthMonitor", "HealthReport", "ENDPOINTS", "KEYED_PROVIDERS"]

log = logging.getLogger("bookstrack.health")

ProviderState = Literal["ok", "unconfigured", "degraded"]

# The original's 17 endpoint strings, verbatim and in order (reference §3.12.3): clients match on them.
ENDPOINTS = (
    "GET /search/title?q={query}&maxResults={n} - Title search with caching (6h TTL)",
    "GET /search/isbn?isbn={isbn}&maxResults={n} - ISBN search with caching (7 day TTL)",
    "GET /search/author?q={author}&limit={n}&offset={n}&sortBy={sort} - Author bibliography (6h TTL)",
    "GET /search/advanced?title={title}&author={author} - Advanced search (primary method, 6h cache)",
    "POST /search/advanced - Advanced search (legacy support, JSON body)",
    "POST /api/enrichment/start - Start batch enrichment job",
    "POST /api/enrichment/cancel - Cancel in-flight enrichment job (body: {jobId})",
    "POST /api/scan-bookshelf?jobId={id} - AI bookshelf scanner (upload image with Content-Type: image/*)",
    "POST /api/scan-bookshelf/batch - Batch AI scanner (body: {jobId, images: [{index, data}]})",
    "GET /ws/progress?jobId={id} - WebSocket progress updates",
    "/external/google-books?q={query}&maxResults={n}",
    "/external/google-books-isbn?isbn={isbn}",
    "/external/openlibrary?q={query}&maxResults={n}",
    "/external/openlibrary-author?author={name}",
    "/external/isbndb?title={title}&author={author}",
    "/external/isbndb-editions?title={title}&author={author}",
    "/external/isbndb-isbn?isbn={isbn}",
)

# Providers that cannot be called without a key (the others are keyless).
KEYED_PROVIDERS = {"google_books": "google_books_api_key", "isbndb": "isbndb_api_key", "gemini": "gemini_api_key"}
PROVIDERS = ("google_books", "openlibrary", "isbndb", "wikidata", "gemini")


class Checks(msgspec.Struct):
    database: Literal["ok", "error"]
    providers: dict[str, ProviderState]


class HealthReport(msgspec.Struct):
    status: Literal["ok", "error"]
    worker: str
    version: str
    endpoints: tuple[str, ...]
    checks: Checks


class HealthMonitor:
    def __init__(self, config: Config, database: SqliteExecutor, *, timeout: float = 2.0) -> None:
        self._config = config
        self._database = database
        self._timeout = timeout
        self._probes: dict[str, Callable[[], ProviderState]] = {}
        self.status_code = 503
        self.body = b""
        self.report: HealthReport | None = None

    def set_provider_probe(self, name: str, probe: Callable[[], ProviderState]) -> None:
        """Let a provider report its own health (e.g. "degraded" after repeated failures)."""
        self._probes[name] = probe

    def _provider_state(self, name: str) -> ProviderState:
        key_field = KEYED_PROVIDERS.get(name)
        if key_field is not None and not getattr(self._config.secrets, key_field):
            return "unconfigured"
        probe = self._probes.get(name)
        return probe() if probe is not None else "ok"

    async def _database_ok(self) -> bool:
        try:
            with trio.fail_after(self._timeout):
                row = await self._database.read(lambda c: c.execute("SELECT instance_id FROM instance").fetchone())
            return row is not None
        except trio.TooSlowError:
            log.warning("database health check timed out after %ss", self._timeout)
            return False
        except Exception as exc:  # any failure of the check is the answer "error"
            log.warning("database health check failed: %r", exc)
            return False

    async def refresh(self) -> HealthReport:
        database_ok = await self._database_ok()
        report = HealthReport(
            status="ok" if database_ok else "error",
            worker="api-worker",
            version=__version__,
            endpoints=ENDPOINTS,
            checks=Checks(
                database="ok" if database_ok else "error",
                providers={name: self._provider_state(name) for name in PROVIDERS},
            ),
        )
        self.report = report
        self.body = msgspec.json.encode(report)
        self.status_code = 200 if database_ok else 503
        return report

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh now, report started, then refresh every ``[health] refresh_interval`` seconds."""
        await self.refresh()
        task_status.started()
        while True:
            await trio.sleep(self._config.health.refresh_interval)
            await self.refresh()
