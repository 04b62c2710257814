"""The cover harvest: ``POST /api/harvest-covers`` against the fake upstream stores the covers of the
most-searched ISBNs, and a harvest stays inside the provider budget.

Cover images come from an ``httpx.MockTransport`` (the fake upstream's catalogue names the real cover hosts,
and no test touches the internet); book metadata comes from the fake upstream through the search cache.
"""

from __future__ import annotations

import httpx
import trio

from actors import Clock
from bookstrack.config import HarvestConfig
from bookstrack.providers.budget import Budget
from bookstrack.providers.cover_fetch import CoverFetcher
from bookstrack.store.blobs import MemoryBlobStore
from bookstrack.tasks.harvest import CoverHarvest, cover_key
from tests.integration.search_support import search_stack

JPEG = b"\xff\xd8\xff\xe0" + b"cover" * 100
TOKEN = "harvest-test-token"
EPOCH = 1_704_067_200.0


def cover_server(seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=JPEG, headers={"Content-Type": "image/jpeg"})

    return httpx.MockTransport(handle)


async def test_the_harvest_route_stores_covers_of_the_most_searched_isbns(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack:
        services = stack.server.app.services
        services.config.secrets.admin_token = TOKEN  # the stack's env has no admin token; the gate reads config
        maintenance = services.scheduler
        assert maintenance is not None
        seen: list[str] = []
        cover_client = httpx.AsyncClient(transport=cover_server(seen))
        maintenance.harvest.fetcher = CoverFetcher(
            cover_client, {n: u.budget for n, u in services.providers.upstreams.items()}, services.config.harvest,
            services.clock,
        )
        async with stack.server.client() as client:
            for isbn in ("9780547928227", "9780547928227", "9780345339683"):
                assert (await client.get("/v1/search/isbn", params={"isbn": isbn})).status_code == 200

            refused = await client.post("/api/harvest-covers", headers={"X-Harvest-Secret": "test-local-dev"})
            assert refused.status_code == 401
            calls_before = stack.book_calls()

            response = await client.post("/api/harvest-covers", headers={"X-Harvest-Secret": TOKEN})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["success"] is True
            assert body["message"] == "Harvest completed successfully"
            stats = body["stats"]
            assert (stats["total"], stats["successful"], stats["skipped"], stats["errors"]) == (2, 2, 0, 0)
            assert stats["totalSize"] == 2 * len(JPEG)
            assert stats["sources"]["mostSearched"] == 2
            assert stack.book_calls() == calls_before  # metadata came from the search cache
            assert len(seen) == 2
            assert all(url.startswith("https://") for url in seen)

            for isbn in ("9780547928227", "9780345339683"):
                blob = await services.blobs.get(cover_key(isbn))
                assert blob is not None
                assert (blob.data, blob.content_type) == (JPEG, "image/jpeg")

            again = await client.post("/api/harvest-covers", headers={"Authorization": f"Bearer {TOKEN}"})
            assert again.json()["stats"]["skipped"] == 2
            assert again.json()["stats"]["successful"] == 0
            assert len(seen) == 2

        runs = maintenance.harvest.last_results()
        assert [run.stats.successful for run in runs] == [0, 2]
        status = {s.name: s for s in maintenance.status()}
        assert status["cover_harvest"].runs == 2
        assert status["cover_harvest"].last_outcome == "ok"
        await cover_client.aclose()


class Counts:
    def __init__(self, ranking: list[tuple[str, int]]) -> None:
        self.ranking = ranking

    async def most_searched(self, day: str, n: int) -> list[tuple[str, int]]:
        return self.ranking[:n] if day == "2024-01-01" else []


async def test_a_harvest_stops_at_its_share_of_the_provider_budget(mock_clock):
    clock = Clock(epoch=EPOCH)
    budget = Budget("isbndb", rate_per_second=1000.0, per_day=6, clock=clock)
    config = HarvestConfig(max_per_run=10, budget_share=0.5)
    isbns = [f"978000000000{i}" for i in range(8)]
    seen: list[str] = []
    blobs = MemoryBlobStore()

    async def lookup(isbn: str) -> str | None:
        return f"https://images.isbndb.com/covers/{isbn}.jpg"

    async with httpx.AsyncClient(transport=cover_server(seen)) as client:
        harvest = CoverHarvest(
            config, counts=Counts([(isbn, 10 - i) for i, isbn in enumerate(isbns)]), lookup=lookup,
            fetcher=CoverFetcher(client, {"isbndb": budget}, config, clock), blobs=blobs,
            budgets={"isbndb": budget}, clock=clock,
        )
        async with trio.open_nursery() as nursery:
            async def ticker() -> None:  # budget slots are 1 ms apart: move virtual time when all wait
                while True:
                    await trio.testing.wait_all_tasks_blocked(cushion=0.0001)
                    mock_clock.jump(0.001)

            nursery.start_soon(ticker)
            run = await harvest.run()
            nursery.cancel_scope.cancel()
    assert run.stats.successful == 3  # half of the day's 6 slots
    assert run.stats.deferred == 5
    assert budget.used_today() == 3
    assert await blobs.list("covers/isbn/") == [cover_key(isbn) for isbn in isbns[:3]]
    assert run.stats.apiUsage.providers["isbndb"]["usedToday"] == 3
