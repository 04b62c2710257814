"""The providers' per-day counts in SQLite (``providers.day_usage``): a restart restores today's count, exact
after a clean shutdown and with a margin after a crash, so a day's quota is never handed out twice. SQLite on
a real file: MockClock without autojump, moved with ``jump``."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import httpx
import pytest
import trio
import trio.testing

from actors import Clock, SqliteExecutor
from bookstrack.config import load_config
from bookstrack.errors import ProviderError
from bookstrack.metrics import Metrics
from bookstrack.providers.budget import Budget
from bookstrack.providers.day_usage import KEEP_DAYS, DayUsageLedger
from bookstrack.providers.registry import open_providers
from tests.unit.cache_support import migrated_database
from tests.unit.provider_support import EPOCH

TODAY = int(EPOCH // 86_400)
TO_MIDNIGHT = 86_400 - (EPOCH % 86_400)


@pytest.fixture
async def database(tmp_path):
    async with migrated_database(tmp_path / "db.sqlite3") as executor:
        yield executor


def rows(executor: SqliteExecutor) -> list[tuple]:
    with closing(sqlite3.connect(executor.path)) as conn:
        query = "SELECT provider, day, used, clean FROM provider_day_usage ORDER BY provider, day"
        return conn.execute(query).fetchall()


def isbndb(clock: Clock, per_day: int = 100) -> Budget:
    return Budget("isbndb", rate_per_second=1.0, per_day=per_day, clock=clock)


async def take(budget: Budget, n: int) -> None:
    for _ in range(n):
        await budget.acquire(trio.current_time() + 10)
        trio.lowlevel.current_clock().jump(budget.interval)  # type: ignore[attr-defined] # the MockClock


async def test_a_clean_shutdown_restores_the_exact_count(database, mock_clock):
    clock = Clock(epoch=EPOCH)
    budget = isbndb(clock)
    ledger = DayUsageLedger(database, clock, {"isbndb": budget})
    assert await ledger.restore() == {"isbndb": 0}
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        await take(budget, 7)
        nursery.cancel_scope.cancel()  # shutdown: the last write is marked clean
    assert rows(database) == [("isbndb", TODAY, 7, 1)]

    again = isbndb(clock)
    assert await DayUsageLedger(database, clock, {"isbndb": again}).restore() == {"isbndb": 7}
    assert again.used_today() == 7
    assert rows(database) == [("isbndb", TODAY, 7, 0)]  # running again: "maybe more" until the next clean stop


async def test_a_clean_shutdown_marks_even_an_unused_provider_clean(database, mock_clock, caplog):
    clock = Clock(epoch=EPOCH)
    ledger = DayUsageLedger(database, clock, {"isbndb": isbndb(clock)})
    await ledger.restore()
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        nursery.cancel_scope.cancel()  # no call this run
    assert rows(database) == [("isbndb", TODAY, 0, 1)]
    again = isbndb(clock)
    assert await DayUsageLedger(database, clock, {"isbndb": again}).restore() == {"isbndb": 0}  # no margin
    assert "did not stop cleanly" not in caplog.text


async def test_after_a_crash_the_count_gets_the_margin_and_never_falls_short(database, mock_clock, caplog):
    clock = Clock(epoch=EPOCH)
    budget = isbndb(clock)
    ledger = DayUsageLedger(database, clock, {"isbndb": budget}, flush_interval=5.0)
    await ledger.restore()
    await take(budget, 7)
    assert await ledger.flush() == 1
    await take(budget, 3)  # taken, never written: the process dies here
    assert rows(database) == [("isbndb", TODAY, 7, 0)]

    again = isbndb(clock)
    restored = await DayUsageLedger(database, clock, {"isbndb": again}, flush_interval=5.0).restore()
    assert restored == {"isbndb": 7 + 6}  # 1/s for one 5 s interval and a second more
    assert again.used_today() >= 10
    assert "isbndb: the last run did not stop cleanly; counting 13 requests today" in caplog.text


async def test_a_crash_before_the_first_write_still_gets_the_margin(database, mock_clock):
    clock = Clock(epoch=EPOCH)
    budget = isbndb(clock)
    await DayUsageLedger(database, clock, {"isbndb": budget}, flush_interval=5.0).restore()
    await take(budget, 2)  # the process dies before any write
    again = isbndb(clock)
    assert await DayUsageLedger(database, clock, {"isbndb": again}, flush_interval=5.0).restore() == {"isbndb": 6}


async def test_the_margin_is_capped_at_the_quota(database, mock_clock):
    clock = Clock(epoch=EPOCH)
    fast = Budget("google_books", rate_per_second=1000.0, per_day=50, clock=clock)
    ledger = DayUsageLedger(database, clock, {"google_books": fast})
    assert ledger.margin(fast) == 50
    assert ledger.margin(Budget("wikidata", rate_per_second=2.0, per_day=0, clock=clock)) == 12


async def test_yesterdays_count_is_not_todays_and_old_rows_go(database, mock_clock):
    clock = Clock(epoch=EPOCH)
    budget = isbndb(clock)
    ledger = DayUsageLedger(database, clock, {"isbndb": budget})
    await ledger.restore()
    await take(budget, 4)
    await ledger.flush(clean=True)
    await database.write(lambda conn: conn.execute(
        "INSERT INTO provider_day_usage VALUES ('isbndb', ?, 9, 1)", (TODAY - KEEP_DAYS - 1,)
    ))
    mock_clock.jump(TO_MIDNIGHT)  # the next UTC day
    again = isbndb(clock)
    assert await DayUsageLedger(database, clock, {"isbndb": again}).restore() == {"isbndb": 0}
    assert again.used_today() == 0
    assert [row[1] for row in rows(database)] == [TODAY, TODAY + 1]  # the 32-day-old row is gone


async def test_only_changed_counts_are_written(database, mock_clock):
    clock = Clock(epoch=EPOCH)
    budget = isbndb(clock)
    wikidata = Budget("wikidata", rate_per_second=5.0, per_day=0, clock=clock)
    ledger = DayUsageLedger(database, clock, {"isbndb": budget, "wikidata": wikidata})
    await ledger.restore()
    await take(budget, 1)
    assert await ledger.flush() == 1  # wikidata made no call: nothing to write for it
    assert await ledger.flush() == 0  # nothing changed: no transaction
    assert ledger.flushes == 1


async def test_a_restarted_app_refuses_a_spent_days_quota(database, mock_clock):
    # The whole wiring: open_providers restores before the first call and writes at close.
    config = load_config(env={}, overrides={"providers": {"isbndb": {"per_day": 3}}})
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))

    def providers():
        clock = Clock(epoch=EPOCH)
        return open_providers(config, clock=clock, metrics=Metrics(), database=database, transport=transport)

    async with providers() as first:
        await take(first.budget("isbndb"), 3)
    async with providers() as second:
        with pytest.raises(ProviderError) as refused:
            await second.budget("isbndb").acquire(trio.current_time() + 10)
    assert refused.value.reason == "budget"
    assert "daily budget of 3" in str(refused.value)
