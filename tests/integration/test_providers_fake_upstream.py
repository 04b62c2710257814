"""The provider clients against the fake upstream on 127.0.0.1 (real sockets, real HTTP): budgets measured at
the fake, a 429 with Retry-After pausing the provider, single-flight, and the normalizers on the fixture
catalogue's answers.

Time is pytest-trio's ``mock_clock`` (no autojump: sockets), moved by ``drive``: before each jump it waits
until every request whose budget slot was granted has reached the fake, so arrival times at the fake are the
virtual times the slots were granted.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from actors import Clock
from bookstrack.books.isbn import isbn_key
from bookstrack.books.normalize.google_books import normalize_volumes
from bookstrack.books.normalize.isbndb import normalize_book_response, normalize_books
from bookstrack.books.normalize.openlibrary import normalize_books_api, normalize_search
from bookstrack.config import load_config
from bookstrack.devtools import RunningFakeUpstream, run_fake_upstream
from bookstrack.errors import ProviderError
from bookstrack.metrics import Metrics
from bookstrack.providers.budget import Budget
from bookstrack.providers.registry import Providers, open_providers
from tests.unit.normalize_support import check_record
from tests.unit.provider_support import max_in_window

EPOCH = 1_700_000_000.0


@asynccontextmanager
async def fake_and_providers(**provider_settings: Any) -> AsyncIterator[tuple[RunningFakeUpstream, Providers]]:
    async with run_fake_upstream() as fake:
        overrides = fake.config_overrides()
        for name, settings in provider_settings.items():
            overrides["providers"][name].update(settings)
        config = load_config(env=fake.env(), overrides=overrides)
        async with open_providers(
            config, clock=Clock(epoch=EPOCH), metrics=Metrics(), rng=random.Random(3)
        ) as providers:
            yield fake, providers


async def drive(
    mock_clock: trio.testing.MockClock, fake: RunningFakeUpstream, provider: str, budget: Budget,
    done: Callable[[], bool],
) -> None:
    """Move virtual time from slot to slot until ``done()``, letting each granted request reach the fake."""
    while not done():
        await fake.requests.wait_for(budget.granted, provider)
        await trio.testing.wait_all_tasks_blocked()
        ahead = budget.ready_at() - trio.current_time()
        if ahead > 0 and budget.waiting:
            mock_clock.jump(ahead + 1e-9)


async def test_a_burst_of_200_distinct_isbn_lookups_never_exceeds_the_rate_at_the_fake(mock_clock):
    async with fake_and_providers(openlibrary={"budget_wait": 1_000.0, "deadline": 1_000.0}) as (fake, providers):
        isbns = [f"97800000{i:05d}" for i in range(200)]
        answers: list[Any] = []

        async def lookup(isbn: str) -> None:
            answers.append(await providers.openlibrary.search_isbn(isbn))

        async with trio.open_nursery() as nursery:
            for isbn in isbns:
                nursery.start_soon(lookup, isbn)
            await drive(mock_clock, fake, "openlibrary", providers.budget("openlibrary"), lambda: len(answers) == 200)
        arrivals = [r.at for r in fake.requests.log("openlibrary")]
        assert len(arrivals) == 200
        assert max_in_window(arrivals) == 3  # at most 3 in any second, at the upstream
        assert fake.requests.max_in_window(1.0 - 1e-6, "openlibrary") <= 3
        assert {tuple(r.query["isbn"]) for r in fake.requests.log("openlibrary")} == {(i,) for i in isbns}
        assert trio.current_time() == pytest.approx(199 / 3, abs=1e-3)


async def test_a_429_with_retry_after_2_pauses_the_provider_for_2_seconds(mock_clock):
    async with fake_and_providers() as (fake, providers):
        fake.faults.fail_next(1, status=429, retry_after=2, provider="isbndb")
        isbn = fake.catalogue.isbn13s()[0]
        results: list[Any] = []

        async def lookup(value: str) -> None:
            results.append(await providers.isbndb.book(value))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lookup, isbn)
            await fake.requests.wait_for(1, "isbndb")
            await trio.testing.wait_all_tasks_blocked()
            assert providers.budget("isbndb").paused_until() == pytest.approx(2.0)
            mock_clock.jump(0.5)
            nursery.start_soon(lookup, "9780000000002")  # another caller of the paused provider
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.jump(1.4)  # t = 1.9: still paused
            await trio.testing.wait_all_tasks_blocked()
            assert fake.requests.count("isbndb") == 1
            mock_clock.jump(0.1 + 1e-9)  # t = 2: the retry goes; the other caller one slot (1 s) later
            await fake.requests.wait_for(2, "isbndb")
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.jump(1.0)
            await fake.requests.wait_for(3, "isbndb")
        log = fake.requests.log("isbndb")
        assert [(r.status, round(r.at, 3)) for r in log] == [(429, 0.0), (200, 2.0), (404, 3.0)]
        assert sorted(r is None for r in results) == [False, True]  # one found, one not


async def test_fifty_identical_concurrent_lookups_make_one_request(mock_clock):
    async with fake_and_providers() as (fake, providers):
        isbn = fake.catalogue.isbn13s()[1]
        fake.faults.set("google_books", latency_ms=100)
        results: list[Any] = []

        async def lookup() -> None:
            results.append(await providers.google_books.search_isbn(isbn))

        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(lookup)
            await fake.requests.wait_for(1, "google_books")
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.jump(0.1)
        assert fake.requests.count("google_books") == 1
        assert len(results) == 50
        assert all(r == results[0] for r in results)


async def test_injected_server_errors_are_retried_and_then_reported(mock_clock):
    async with fake_and_providers(wikidata={"max_attempts": 2}) as (fake, providers):
        fake.faults.fail_next(5, status=503, provider="wikidata")
        caught: list[ProviderError] = []

        async def lookup() -> None:
            try:
                await providers.wikidata.search_entities("Chinua Achebe")
            except ProviderError as error:
                caught.append(error)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lookup)
            await fake.requests.wait_for(1, "wikidata")
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.jump(1.0)  # past the first backoff (at most 0.5 s)
            await fake.requests.wait_for(2, "wikidata")
        assert [e.reason for e in caught] == ["http_5xx"]
        assert fake.requests.count("wikidata") == 2


# -- the normalizers on the fixture catalogue's answers ---------------------------------------------------


async def test_every_catalogue_isbn_normalizes_from_every_provider_that_knows_it(mock_clock):
    overrides = {name: {"rate_per_second": 10_000.0} for name in ("google_books", "openlibrary", "isbndb")}
    async with fake_and_providers(**overrides) as (fake, providers):
        isbns = fake.catalogue.isbn13s()
        found = {"google_books": 0, "openlibrary": 0, "isbndb": 0}
        for isbn in isbns[:40]:
            for record in normalize_volumes(await _settled(mock_clock, providers.google_books.search_isbn(isbn))):
                check_record(record)
                found["google_books"] += 1
            book = await _settled(mock_clock, providers.isbndb.book(isbn))
            if book is not None:
                record = normalize_book_response(book)
                check_record(record)
                assert isbn in {isbn_key(i) for i in record.edition.isbns}  # the book asked for, in either form
                found["isbndb"] += 1
        batch = await _settled(mock_clock, providers.openlibrary.books_by_isbn(isbns))
        records = normalize_books_api(batch)
        for record in records.values():
            check_record(record)
        found["openlibrary"] = len(records)
        posted = normalize_books(await _settled(mock_clock, providers.isbndb.books(isbns)))
        for record in posted:
            check_record(record)
        assert all(count > 10 for count in found.values()), found
        assert len(posted) > 20


@pytest.mark.parametrize("title", ["ノルウェイの森", "Les Misérables", "The Hobbit"])
async def test_titles_in_any_script_find_their_fixtures(mock_clock, title):
    async with fake_and_providers() as (fake, providers):
        google = normalize_volumes(await _settled(mock_clock, providers.google_books.search(title)))
        openlibrary = normalize_search(await _settled(mock_clock, providers.openlibrary.search(title)))
        assert google, title
        assert openlibrary, title
        for record in (*google, *openlibrary):
            check_record(record)
        # the provider received the user's text, not a normalised key
        assert fake.requests.log("google_books")[0].query["q"] == [title]
        assert fake.requests.log("openlibrary")[0].query["q"] == [title]


async def _settled(mock_clock: trio.testing.MockClock, call: Any) -> Any:
    """Await ``call`` while moving the clock past any budget spacing (the rates here are high)."""
    result: list[Any] = []

    async def run() -> None:
        result.append(await call)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        while not result:
            await trio.testing.wait_all_tasks_blocked()
            if not result:
                mock_clock.jump(0.01)
    return result[0]
