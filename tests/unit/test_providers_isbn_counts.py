"""Per-day counts of searched ISBNs: counted in memory, written in batches (one transaction), ranked by
``most_searched``. SQLite on a real file: MockClock without autojump, moved with ``jump``."""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing

import httpx
import pytest
import trio
import trio.testing

from actors import Clock, SqliteExecutor
from bookstrack.config import load_config
from bookstrack.metrics import Metrics
from bookstrack.providers.isbn_counts import IsbnSearchCounts, utc_day
from bookstrack.providers.registry import open_providers
from tests.unit.cache_support import migrated_database
from tests.unit.provider_support import EPOCH

TODAY = "2023-11-14"  # EPOCH is 2023-11-14T22:13:20Z
TO_MIDNIGHT = 86_400 - (EPOCH % 86_400)


@pytest.fixture
async def database(tmp_path):
    async with migrated_database(tmp_path / "db.sqlite3") as executor:
        yield executor


def rows(executor: SqliteExecutor) -> list[tuple]:
    with closing(sqlite3.connect(executor.path)) as conn:
        return conn.execute("SELECT day, isbn, count FROM isbn_search_counts ORDER BY day, isbn").fetchall()


async def settle(executor: SqliteExecutor) -> None:
    await trio.testing.wait_all_tasks_blocked()
    await executor.write(lambda conn: None)


def test_utc_day():
    assert utc_day(EPOCH) == TODAY
    assert utc_day(EPOCH + TO_MIDNIGHT) == "2023-11-15"


async def test_counts_are_kept_in_memory_then_written_in_one_transaction(database, mock_clock):
    counts = IsbnSearchCounts(database, Clock(epoch=EPOCH))
    for isbn in ["9780261103344", "0261103342", "978-0-261-10334-4", "9780439708180", "not an isbn", ""]:
        counts.record(isbn)
    assert counts.pending == 2  # one ISBN in three forms, stored as its ISBN-13; junk ignored
    assert rows(database) == []
    before = database.transactions
    assert await counts.flush() == 2
    assert database.transactions == before + 1
    assert rows(database) == [(TODAY, "9780261103344", 3), (TODAY, "9780439708180", 1)]
    counts.record("9780261103344")
    await counts.flush()
    assert rows(database)[0] == (TODAY, "9780261103344", 4)  # added to, not replaced
    assert await counts.flush() == 0  # nothing pending: no transaction
    assert database.transactions == before + 2


async def test_most_searched_ranks_a_day_and_sees_unwritten_counts(database, mock_clock):
    clock = Clock(epoch=EPOCH)
    counts = IsbnSearchCounts(database, clock)
    for isbn, times in [("9780261103344", 3), ("9780439708180", 5), ("9780451524935", 3), ("9780140449136", 1)]:
        for _ in range(times):
            counts.record(isbn)
    mock_clock.jump(TO_MIDNIGHT)  # the next UTC day
    counts.record("9780140449136")
    top = await counts.most_searched(TODAY, 3)
    assert top == [("9780439708180", 5), ("9780261103344", 3), ("9780451524935", 3)]  # ties by ISBN
    assert await counts.most_searched(dt.date(2023, 11, 15), 10) == [("9780140449136", 1)]
    assert await counts.most_searched("2023-11-13", 10) == []
    assert await counts.most_searched(TODAY, 0) == []


async def test_the_run_loop_flushes_every_interval_and_when_it_stops(database, mock_clock):
    counts = IsbnSearchCounts(database, Clock(epoch=EPOCH), flush_interval=5.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(counts.run)
        counts.record("9780261103344")
        mock_clock.jump(4.9)
        await settle(database)
        assert counts.pending == 1
        mock_clock.jump(0.2)
        await settle(database)
        assert counts.pending == 0
        assert rows(database) == [(TODAY, "9780261103344", 1)]
        counts.record("9780439708180")
        nursery.cancel_scope.cancel()
    assert rows(database) == [(TODAY, "9780261103344", 1), (TODAY, "9780439708180", 1)]


async def test_many_distinct_isbns_flush_early(database, mock_clock):
    counts = IsbnSearchCounts(database, Clock(epoch=EPOCH), flush_interval=3600.0, max_pending=3)
    async with trio.open_nursery() as nursery:
        await nursery.start(counts.run)
        for isbn in ["9780261103344", "9780439708180", "9780451524935"]:
            counts.record(isbn)
        await settle(database)
        assert counts.pending == 0
        assert len(rows(database)) == 3
        nursery.cancel_scope.cancel()


async def test_a_failed_write_keeps_the_counts(database, mock_clock):
    counts = IsbnSearchCounts(database, Clock(epoch=EPOCH))
    counts.record("9780261103344")
    await database.write(lambda conn: conn.execute("ALTER TABLE isbn_search_counts RENAME TO moved"))
    with pytest.raises(sqlite3.OperationalError):
        await counts.flush()
    assert counts.pending == 1
    counts.record("9780261103344")
    await database.write(lambda conn: conn.execute("ALTER TABLE moved RENAME TO isbn_search_counts"))
    await counts.flush()
    assert rows(database) == [(TODAY, "9780261103344", 2)]


async def test_open_providers_runs_the_counter_and_writes_the_last_counts_on_close(database, mock_clock):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with open_providers(
        load_config(env={}), clock=Clock(epoch=EPOCH), metrics=Metrics(), database=database, transport=transport
    ) as providers:
        assert providers.isbn_counts is not None
        providers.isbn_counts.record("9780261103344")
    assert rows(database) == [(TODAY, "9780261103344", 1)]
