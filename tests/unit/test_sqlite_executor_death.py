"""The SQLite executor when its thread dies: every waiting, queued and later call fails, none hangs.

The death is simulated by replacing the executor's ``_run_writes`` with one that raises. A call parked on
the executor refuses cancellation (its statement may already be running), so ``trio.fail_after`` cannot
unstick a call that is never woken: ``guarded_calls`` runs the calls as tasks and, past its deadline,
wakes the stragglers itself with ``TooSlowError``, so a regression fails instead of hanging.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from typing import Any

import outcome
import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from actors import ExecutorClosedError, SqliteExecutor
from actors.sqlite import ExecutorDiedError


@pytest.fixture
async def executor(tmp_path):
    executor = SqliteExecutor(str(tmp_path / "dies.db"))
    await executor.start()
    await executor.write(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
    yield executor
    with trio.fail_after(5):  # close() joins a thread that has already ended
        await executor.close()


def insert(k: str, v: int) -> Callable[[sqlite3.Connection], int]:
    def run(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, v))
        return v

    return run


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM t").fetchone()[0]


def rows(path: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT k, v FROM t").fetchall()


def disk_on_fire(conn: sqlite3.Connection, writes: list[Any]) -> None:
    raise RuntimeError("disk on fire")


class Calls:
    """Executor calls run as tasks; ``outcomes`` maps each call's name to its outcome."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.outcomes: dict[str, outcome.Outcome] = {}
        self._nursery = nursery
        self._waiting: dict[str, trio.lowlevel.Task | None] = {}  # None: started, not yet running
        self._changed = trio.Event()

    def start(self, name: str, call: Callable[[], Awaitable[Any]]) -> None:
        self._waiting[name] = None
        self._nursery.start_soon(self._run, name, call)

    async def _run(self, name: str, call: Callable[[], Awaitable[Any]]) -> None:
        self._waiting[name] = trio.lowlevel.current_task()
        self.outcomes[name] = await outcome.acapture(call)  # no checkpoint but the executor's own wait
        del self._waiting[name]
        self._changed.set()

    async def settle(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            while self._waiting:
                self._changed = trio.Event()
                await self._changed.wait()
        for name, task in list(self._waiting.items()):  # never woken by the executor: a regression
            assert task is not None
            trio.lowlevel.reschedule(task, outcome.Error(trio.TooSlowError(f"call {name} was never woken")))


@asynccontextmanager
async def guarded_calls(seconds: float = 5.0) -> AsyncIterator[Calls]:
    async with trio.open_nursery() as nursery:
        calls = Calls(nursery)
        try:
            yield calls
        finally:
            with trio.CancelScope(shield=True):
                await calls.settle(seconds)


def assert_died(result: outcome.Outcome, path: str) -> ExecutorDiedError:
    assert isinstance(result, outcome.Error), result
    error = result.error
    assert isinstance(error, ExecutorDiedError), error
    assert isinstance(error, ExecutorClosedError)  # existing handlers of a closed executor catch it
    assert path in str(error)
    assert "disk on fire" in str(error)
    assert isinstance(error.__cause__, RuntimeError)
    return error


async def test_a_dead_thread_fails_the_caller_then_every_later_call_and_says_why(executor, monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="actors.sqlite")
    monkeypatch.setattr(executor, "_run_writes", disk_on_fire)
    async with guarded_calls() as calls:
        calls.start("write", lambda: executor.write(insert("a", 1)))
    assert_died(calls.outcomes["write"], executor.path)

    # a call after the death fails at once: it is refused, not queued on a thread that is gone
    async with guarded_calls() as calls:
        calls.start("read", lambda: executor.read(count))
    assert_died(calls.outcomes["read"], executor.path)
    with pytest.raises(ExecutorDiedError, match="disk on fire"):
        await executor.write(insert("b", 2))

    (record,) = [r for r in caplog.records if r.name == "actors.sqlite"]  # logged once, with the cause
    assert record.levelno == logging.ERROR
    assert executor.path in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "disk on fire"

    with trio.fail_after(5):
        await executor.close()
    with pytest.raises(ExecutorClosedError):
        await executor.read(count)
    assert rows(executor.path) == []


async def test_every_call_in_the_dying_batch_or_queued_behind_it_fails(executor, monkeypatch):
    started, release = threading.Event(), threading.Event()  # holds the thread on a first read
    in_writes, go = threading.Event(), threading.Event()  # holds it inside the batch that will die

    def blocker(conn: sqlite3.Connection) -> str:
        started.set()
        release.wait(10)
        return "done"

    def run_writes_then_die(conn: sqlite3.Connection, writes: list[Any]) -> None:
        in_writes.set()
        go.wait(10)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(executor, "_run_writes", run_writes_then_die)
    async with guarded_calls() as calls:
        calls.start("blocker", lambda: executor.read(blocker))
        await trio.to_thread.run_sync(started.wait, 5)  # the thread is busy with the blocker alone
        for i in range(5):
            calls.start(f"batch-write-{i}", lambda i=i: executor.write(insert(f"w{i}", i)))
        for i in range(3):
            calls.start(f"batch-read-{i}", lambda: executor.read(count))
        await wait_all_tasks_blocked()  # all eight are queued behind the blocker: the next batch
        release.set()
        await trio.to_thread.run_sync(in_writes.wait, 5)  # that batch is in hand, its reads already run
        for i in range(2):
            calls.start(f"queued-write-{i}", lambda i=i: executor.write(insert(f"q{i}", i)))
            calls.start(f"queued-read-{i}", lambda: executor.read(count))
        await wait_all_tasks_blocked()  # these four wait in the queue
        go.set()

    assert calls.outcomes.pop("blocker").unwrap() == "done"  # woken before the death: keeps its result
    assert len(calls.outcomes) == 12
    for result in calls.outcomes.values():
        assert_died(result, executor.path)
    assert rows(executor.path) == []


async def test_a_call_queued_while_the_thread_dies_is_failed_by_its_caller(executor, monkeypatch):
    """The race: the submit checks (alive), the thread dies and drains the queue, the submit puts its job.
    The submit's re-check after the put must fail that job, or it waits forever."""
    monkeypatch.setattr(executor, "_run_writes", disk_on_fire)
    async with guarded_calls() as calls:
        calls.start("write", lambda: executor.write(insert("a", 1)))
    assert_died(calls.outcomes["write"], executor.path)
    death = executor._death
    assert death is not None

    class DiesAfterThePut:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def put(self, item: Any) -> None:
            self._inner.put(item)
            executor._death = death  # the thread "dies" right after this put

        def get_nowait(self) -> Any:
            return self._inner.get_nowait()

    executor._death = None  # what the submit's first check sees
    executor._queue = DiesAfterThePut(executor._queue)
    async with guarded_calls() as calls:
        calls.start("read", lambda: executor.read(count))
    assert_died(calls.outcomes["read"], executor.path)


async def test_a_death_after_some_calls_were_woken_wakes_only_the_others(executor, monkeypatch):
    """Each call is woken exactly once: the ones already answered keep their answer (a second wake-up
    would crash trio), the rest of the batch fails."""
    started, release = threading.Event(), threading.Event()

    def blocker(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    wake = executor._wake
    woken_writes = 0

    def wake_breaks_on_the_second_write(job: Any) -> None:
        nonlocal woken_writes
        if job.write:
            woken_writes += 1
            if woken_writes == 2:
                raise RuntimeError("disk on fire")  # a bug in the wake-up loop, after the commit
        wake(job)

    monkeypatch.setattr(executor, "_wake", wake_breaks_on_the_second_write)
    async with guarded_calls() as calls:
        calls.start("blocker", lambda: executor.read(blocker))
        await trio.to_thread.run_sync(started.wait, 5)
        for i in range(3):
            calls.start(f"w{i}", lambda i=i: executor.write(insert(f"w{i}", i)))
        await wait_all_tasks_blocked()  # one batch of three writes, behind the blocker
        release.set()

    assert calls.outcomes.pop("blocker").unwrap() is None
    # trio starts tasks in no fixed order, so which write was woken first is not known: it keeps its result
    (first,) = [name for name, result in calls.outcomes.items() if isinstance(result, outcome.Value)]
    assert calls.outcomes.pop(first).unwrap() == int(first[1:])
    assert len(calls.outcomes) == 2
    for result in calls.outcomes.values():
        assert_died(result, executor.path)
    assert sorted(rows(executor.path)) == [("w0", 0), ("w1", 1), ("w2", 2)]  # committed before the death
