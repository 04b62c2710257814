"""The cron scheduler under trio's MockClock (no autojump: the clock moves only when a test jumps it).

Runs happen at the cron times (UTC, from the injected Clock), a run missed while stopped happens once at
start, runs of one task never overlap, failures are recorded and the scheduler goes on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

import pytest
import trio
import trio.testing

from actors import Clock, SqliteExecutor
from bookstrack.errors import ConfigError
from bookstrack.store.database import open_database
from bookstrack.tasks.scheduler import (
    MemoryScheduleStore,
    ScheduledTask,
    Scheduler,
    SqliteScheduleStore,
    TaskRecord,
    next_after,
)

MIDNIGHT = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC).timestamp()  # a Monday, 00:00 UTC
HOUR, MINUTE, DAY = 3600.0, 60.0, 86400.0


class Recorder:
    """A task body that records the wall time of each start; optionally sleeps or fails."""

    def __init__(self, clock: Clock, *, takes: float = 0.0, fails: bool = False) -> None:
        self.clock = clock
        self.takes = takes
        self.fails = fails
        self.starts: list[float] = []
        self.active = 0
        self.most_active = 0

    async def __call__(self) -> str:
        self.starts.append(self.clock.wall())
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self.takes:
                await trio.sleep(self.takes)
            if self.fails:
                raise RuntimeError("boom")
            return "done"
        finally:
            self.active -= 1


async def advance(clock: trio.testing.MockClock, seconds: float, step: float = MINUTE) -> None:
    """Move virtual time forward in steps, letting every woken task run after each step."""
    await trio.testing.wait_all_tasks_blocked()
    left = seconds
    while left > 0:
        clock.jump(min(step, left))
        left -= step
        await trio.testing.wait_all_tasks_blocked()


def make(
    clock: Clock, store: MemoryScheduleStore, **bodies: tuple[str, Callable[[], object]]
) -> Scheduler:
    return Scheduler([ScheduledTask(name, cron, fn) for name, (cron, fn) in bodies.items()],  # type: ignore[arg-type]
                     clock=clock, store=store)


def test_next_after_is_strictly_after_and_utc():
    assert next_after("0 2 * * *", MIDNIGHT) == MIDNIGHT + 2 * HOUR
    assert next_after("0 2 * * *", MIDNIGHT + 2 * HOUR) == MIDNIGHT + DAY + 2 * HOUR
    assert next_after("*/15 * * * *", MIDNIGHT + 1) == MIDNIGHT + 15 * MINUTE


def test_an_invalid_cron_expression_is_a_config_error_naming_the_key():
    expected = r"^CONFIG_ERROR: invalid configuration: scheduler\.archival: 'every day' is not a cron"
    with pytest.raises(ConfigError, match=expected):
        Scheduler([ScheduledTask("archival", "every day", Recorder(Clock()))], clock=Clock(),
                  store=MemoryScheduleStore())


async def test_runs_happen_at_the_cron_times(mock_clock):
    clock = Clock(epoch=MIDNIGHT)
    nightly, quarterly = Recorder(clock), Recorder(clock)
    scheduler = make(clock, MemoryScheduleStore(), nightly=("0 2 * * *", nightly),
                     quarterly=("*/15 * * * *", quarterly))
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await advance(mock_clock, 0)
        assert nightly.starts == []
        assert quarterly.starts == []
        await advance(mock_clock, 2 * HOUR - MINUTE)
        assert nightly.starts == []
        await advance(mock_clock, MINUTE)
        assert nightly.starts == [MIDNIGHT + 2 * HOUR]
        assert quarterly.starts == [MIDNIGHT + i * 15 * MINUTE for i in range(1, 9)]
        await advance(mock_clock, DAY, step=HOUR)
        assert nightly.starts == [MIDNIGHT + 2 * HOUR, MIDNIGHT + DAY + 2 * HOUR]
        status = {s.name: s for s in scheduler.status()}
        assert status["nightly"].runs == 2
        assert status["nightly"].last_outcome == "ok"
        assert status["nightly"].last_started_at == "2024-01-02T02:00:00.000Z"
        assert status["nightly"].next_run_at == "2024-01-03T02:00:00.000Z"
        assert status["nightly"].cron == "0 2 * * *"
        nursery.cancel_scope.cancel()


async def test_a_run_missed_while_stopped_runs_once_at_start(mock_clock):
    store = MemoryScheduleStore()
    # Last ran on Jan 1 at 02:00; the process was down until Jan 4 10:00: three occurrences missed.
    store.records["nightly"] = TaskRecord(
        name="nightly", first_seen_at=MIDNIGHT, last_started_at=MIDNIGHT + 2 * HOUR,
        last_finished_at=MIDNIGHT + 2 * HOUR + 5, last_outcome="ok", runs=1,
    )
    clock = Clock(epoch=MIDNIGHT + 3 * DAY + 10 * HOUR)
    nightly = Recorder(clock)
    scheduler = make(clock, store, nightly=("0 2 * * *", nightly))
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await advance(mock_clock, HOUR)
        assert nightly.starts == [MIDNIGHT + 3 * DAY + 10 * HOUR]  # once, not once per missed occurrence
        assert scheduler.status()[0].next_run_at == "2024-01-05T02:00:00.000Z"
        assert store.records["nightly"].runs == 2
        await advance(mock_clock, 16 * HOUR - MINUTE)
        assert nightly.starts == [MIDNIGHT + 3 * DAY + 10 * HOUR, MIDNIGHT + 4 * DAY + 2 * HOUR]
        nursery.cancel_scope.cancel()


async def test_a_task_first_seen_before_an_occurrence_it_missed_catches_up(mock_clock):
    store = MemoryScheduleStore()
    store.records["nightly"] = TaskRecord(name="nightly", first_seen_at=MIDNIGHT)  # never ran
    clock = Clock(epoch=MIDNIGHT + DAY)
    nightly = Recorder(clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(make(clock, store, nightly=("0 2 * * *", nightly)).run)
        await advance(mock_clock, 0)
        assert nightly.starts == [MIDNIGHT + DAY]
        nursery.cancel_scope.cancel()


async def test_a_run_interrupted_by_a_stop_runs_again_at_start(mock_clock):
    store = MemoryScheduleStore()
    clock = Clock(epoch=MIDNIGHT + 2 * HOUR - MINUTE)
    slow = Recorder(clock, takes=HOUR)
    async with trio.open_nursery() as nursery:
        await nursery.start(make(clock, store, nightly=("0 2 * * *", slow)).run)
        await advance(mock_clock, 2 * MINUTE)
        assert len(slow.starts) == 1
        nursery.cancel_scope.cancel()  # stopped mid-run
    assert store.records["nightly"].last_outcome == "running"
    again = Recorder(clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(make(clock, store, nightly=("0 2 * * *", again)).run)
        await advance(mock_clock, 0)
        assert len(again.starts) == 1
        nursery.cancel_scope.cancel()
    assert store.records["nightly"].last_outcome == "ok"


async def test_runs_never_overlap_and_occurrences_during_a_run_are_skipped(mock_clock):
    clock = Clock(epoch=MIDNIGHT)
    slow = Recorder(clock, takes=40 * MINUTE)  # longer than two 15-minute intervals
    scheduler = make(clock, MemoryScheduleStore(), slow=("*/15 * * * *", slow))
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await advance(mock_clock, 2 * HOUR)
        assert slow.most_active == 1
        # 00:15 runs to 00:55; 00:30 and 00:45 are skipped; next 01:00 runs to 01:40; 01:15, 01:30 skipped ...
        assert slow.starts == [MIDNIGHT + 15 * MINUTE, MIDNIGHT + HOUR, MIDNIGHT + HOUR + 45 * MINUTE]
        status = scheduler.status()[0]
        assert status.skipped == 4
        assert status.running is True
        nursery.cancel_scope.cancel()


async def test_a_manual_run_waits_for_the_scheduled_one_and_blocks_the_next(mock_clock):
    clock = Clock(epoch=MIDNIGHT)
    slow = Recorder(clock, takes=20 * MINUTE)
    scheduler = make(clock, MemoryScheduleStore(), slow=("*/15 * * * *", slow))
    results: list[object] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await advance(mock_clock, 16 * MINUTE)  # the 00:15 run is going
        nursery.start_soon(lambda: _collect(scheduler.run_now("slow"), results))
        await advance(mock_clock, 45 * MINUTE)  # 00:15-00:35 scheduled, 00:35-00:55 manual (00:45 skipped)
        assert slow.most_active == 1
        assert results == ["done"]
        assert slow.starts[:2] == [MIDNIGHT + 15 * MINUTE, MIDNIGHT + 35 * MINUTE]
        assert scheduler.status()[0].skipped >= 1
        nursery.cancel_scope.cancel()


async def _collect(awaitable, results):  # type: ignore[no-untyped-def]
    results.append(await awaitable)


async def test_a_failing_task_is_recorded_and_the_scheduler_goes_on(mock_clock, caplog):
    store = MemoryScheduleStore()
    clock = Clock(epoch=MIDNIGHT)
    failing, fine = Recorder(clock, fails=True), Recorder(clock)
    scheduler = make(clock, store, failing=("*/15 * * * *", failing), fine=("*/15 * * * *", fine))
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        await advance(mock_clock, 30 * MINUTE)
        assert len(failing.starts) == 2
        assert len(fine.starts) == 2
        status = {s.name: s for s in scheduler.status()}
        assert status["failing"].last_outcome == "failed"
        assert status["failing"].last_error == "RuntimeError: boom"
        assert status["failing"].failures == 2
        assert status["fine"].last_outcome == "ok"
        nursery.cancel_scope.cancel()
    assert store.records["failing"].failures == 2
    assert "scheduler: failing failed" in caplog.text


async def test_run_now_propagates_the_failure_after_recording_it():
    clock = Clock(epoch=MIDNIGHT)
    store = MemoryScheduleStore()
    scheduler = make(clock, store, failing=("0 2 * * *", Recorder(clock, fails=True)))
    with pytest.raises(RuntimeError, match="^boom$"):
        await scheduler.run_now("failing")
    assert store.records["failing"].last_outcome == "failed"


async def test_the_sqlite_store_keeps_records_across_instances(tmp_path):
    executor = SqliteExecutor(str(tmp_path / "db.sqlite3"))
    try:
        await open_database(executor, now=MIDNIGHT)
        store = SqliteScheduleStore(executor)
        record = TaskRecord(name="nightly", first_seen_at=MIDNIGHT, last_started_at=MIDNIGHT + 1,
                            last_outcome="failed", last_error="x", runs=3, failures=1)
        await store.save(record)
        record.runs = 4
        await store.save(record)
        assert await SqliteScheduleStore(executor).load() == {"nightly": record}
    finally:
        await executor.close()
