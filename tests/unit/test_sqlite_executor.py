"""The SQLite executor: reads, writes, group commit with per-write savepoints, lifecycle."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from actors import ExecutorClosedError, SqliteExecutor


@pytest.fixture
async def executor(tmp_path):
    executor = SqliteExecutor(str(tmp_path / "exec.db"))
    await executor.start()
    await executor.write(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
    yield executor
    await executor.close()


def insert(k: str, v: int):
    def run(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, v))
        return v

    return run


def insert_then_fail(k: str):
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, -1))
        raise LookupError(f"write {k} failed after inserting")

    return run


def rows(path: str) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT k, v FROM t"))


async def test_read_and_write_return_their_results(executor):
    assert await executor.write(insert("a", 1)) == 1
    assert await executor.read(lambda conn: conn.execute("SELECT v FROM t WHERE k='a'").fetchone()) == (1,)
    assert rows(executor.path) == {"a": 1}  # committed: another connection sees it
    journal = await executor.read(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0])
    assert journal == "wal"


async def test_failing_write_raises_in_its_caller_and_leaves_nothing_behind(executor):
    with pytest.raises(LookupError, match="write x failed"):
        await executor.write(insert_then_fail("x"))
    assert rows(executor.path) == {}
    with pytest.raises(ZeroDivisionError):
        await executor.read(lambda conn: 1 / 0)
    assert await executor.write(insert("y", 2)) == 2  # and it goes on


async def test_writes_queued_together_share_one_transaction_and_fail_alone(executor):
    started, release = threading.Event(), threading.Event()

    def blocker(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)
        conn.execute("INSERT INTO t (k, v) VALUES ('blocker', 0)")

    transactions, writes = executor.transactions, executor.writes
    outcomes: dict[str, object] = {}

    async def write(name: str, fn) -> None:
        try:
            outcomes[name] = await executor.write(fn)
        except LookupError as exc:
            outcomes[name] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write, "blocker", blocker)
        await trio.to_thread.run_sync(started.wait)  # the thread is busy with the blocker alone
        for i in range(10):
            nursery.start_soon(write, f"w{i}", insert(f"w{i}", i))
        nursery.start_soon(write, "bad", insert_then_fail("bad"))
        await wait_all_tasks_blocked()  # all eleven are queued behind the blocker
        assert outcomes == {}
        release.set()

    assert executor.writes - writes == 12
    assert executor.transactions - transactions == 2  # the blocker's, then one for the other eleven
    assert isinstance(outcomes.pop("bad"), LookupError)
    assert outcomes == {"blocker": None, **{f"w{i}": i for i in range(10)}}
    assert rows(executor.path) == {"blocker": 0, **{f"w{i}": i for i in range(10)}}


async def test_a_transaction_that_cannot_commit_fails_every_write_in_it(executor):
    def commits_behind_our_back(conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")  # breaks the executor's transaction: the batch must fail as a whole

    with pytest.raises(sqlite3.OperationalError):
        await executor.write(commits_behind_our_back)
    assert await executor.write(insert("after", 1)) == 1


async def test_calls_after_close_raise_executor_closed_error(tmp_path):
    executor = SqliteExecutor(str(tmp_path / "closed.db"))
    with pytest.raises(ExecutorClosedError, match="not running"):
        await executor.read(lambda conn: None)
    await executor.start()
    with pytest.raises(RuntimeError, match="called twice"):
        await executor.start()
    await executor.close()
    await executor.close()  # idempotent
    with pytest.raises(ExecutorClosedError, match="not running"):
        await executor.write(lambda conn: None)


async def test_start_reports_a_database_that_cannot_be_opened(tmp_path):
    executor = SqliteExecutor(str(tmp_path / "missing-dir" / "x.db"))
    with pytest.raises(sqlite3.OperationalError):
        await executor.start()
    with pytest.raises(ExecutorClosedError):
        await executor.read(lambda conn: None)


def test_synchronous_must_be_a_known_mode():
    with pytest.raises(ValueError, match="synchronous must be"):
        SqliteExecutor(":memory:", synchronous="SOMETIMES")
