"""The providers of one app, built together: ``open_providers`` is what the app's lifespan enters.

Owns the wiring: one shared ``httpx.AsyncClient``; per provider one ``Budget`` (process-wide: every caller
of that provider shares it), one ``ProviderStatus`` registered with the ``HealthMonitor`` as the
provider's probe, and one ``Upstream``; one ``SingleFlight`` whose calls run in the service nursery
opened here, so that they outlive any one caller. On exit the in-flight calls are cancelled and the
client is closed. Gemini's key travels in the ``x-goog-api-key`` header (``providers/gemini.py``). Given
the database, it also runs the per-day ISBN counter (``isbn_counts``), whose last tallies are written when
the providers close, and keeps the budgets' per-day counts there (``day_usage``: restored before the first
call, written while running and at close).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import trio

from actors import Clock, SqliteExecutor
from bookstrack.config import Config, ProviderConfig
from bookstrack.health import KEYED_PROVIDERS, HealthMonitor
from bookstrack.metrics import Metrics
from bookstrack.providers.budget import Budget
from bookstrack.providers.day_usage import DayUsageLedger
from bookstrack.providers.gemini import GeminiClient
from bookstrack.providers.google_books import GoogleBooksClient
from bookstrack.providers.http import build_client
from bookstrack.providers.isbn_counts import IsbnSearchCounts
from bookstrack.providers.isbndb import IsbndbClient
from bookstrack.providers.metrics import ProviderMetrics
from bookstrack.providers.openlibrary import OpenLibraryClient
from bookstrack.providers.singleflight import SingleFlight
from bookstrack.providers.status import ProviderStatus
from bookstrack.providers.upstream import Upstream
from bookstrack.providers.wikidata import WikidataClient

__all__ = ["Providers", "open_providers", "PROVIDER_NAMES"]

PROVIDER_NAMES = ("google_books", "openlibrary", "isbndb", "wikidata", "gemini")


@dataclass
class Providers:
    google_books: GoogleBooksClient
    openlibrary: OpenLibraryClient
    isbndb: IsbndbClient
    wikidata: WikidataClient
    gemini: GeminiClient
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    flights: SingleFlight | None = None
    isbn_counts: IsbnSearchCounts | None = None
    day_usage: DayUsageLedger | None = None

    def budget(self, name: str) -> Budget:
        return self.upstreams[name].budget

    def status(self, name: str) -> ProviderStatus:
        return self.upstreams[name].status


@asynccontextmanager
async def open_providers(
    config: Config,
    *,
    clock: Clock,
    metrics: Metrics,
    health: HealthMonitor | None = None,
    database: SqliteExecutor | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[Providers]:
    """Build every provider client on one shared client; register their health probes on ``health``.

    ``database`` (migrated): count searched ISBNs there (``providers.isbn_counts``). ``transport``
    replaces the network (tests: ``httpx.MockTransport``); ``rng`` makes retry jitter reproducible.
    """
    rng = rng or random.Random()
    async with build_client(config.providers, transport=transport) as client, trio.open_nursery() as nursery:
        flights = SingleFlight(nursery)
        secrets = config.secrets
        upstreams: dict[str, Upstream] = {}
        for name in PROVIDER_NAMES:
            settings: ProviderConfig = getattr(config.providers, name)
            key_field = KEYED_PROVIDERS.get(name)
            key = getattr(secrets, key_field) if key_field else None
            params = {"key": key} if name == "google_books" and key else None
            headers = {"Authorization": key} if name == "isbndb" and key else None
            if name == "gemini" and key:
                headers = {"x-goog-api-key": key}
            status = ProviderStatus(name, clock, configured=key_field is None or bool(key))
            upstreams[name] = Upstream(
                name, settings, client=client,
                budget=Budget(name, rate_per_second=settings.rate_per_second, per_day=settings.per_day, clock=clock),
                flights=flights, metrics=ProviderMetrics(metrics, name), status=status, clock=clock,
                rng=rng, params=params, headers=headers,
            )
            if health is not None:
                health.set_provider_probe(name, status.probe)
        providers = Providers(
            google_books=GoogleBooksClient(upstreams["google_books"], secrets.google_books_api_key),
            openlibrary=OpenLibraryClient(upstreams["openlibrary"]),
            isbndb=IsbndbClient(upstreams["isbndb"], secrets.isbndb_api_key),
            wikidata=WikidataClient(upstreams["wikidata"]),
            gemini=GeminiClient(upstreams["gemini"], secrets.gemini_api_key, metrics=metrics),
            upstreams=upstreams,
            flights=flights,
        )
        if database is not None:
            providers.isbn_counts = IsbnSearchCounts(database, clock)
            await nursery.start(providers.isbn_counts.run)
            providers.day_usage = DayUsageLedger(
                database, clock, {name: upstream.budget for name, upstream in upstreams.items()}
            )
            await providers.day_usage.restore()
            await nursery.start(providers.day_usage.run)
        try:
            yield providers
        finally:
            nursery.cancel_scope.cancel()
