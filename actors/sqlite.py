"""The SQLite executor: one connection on one dedicated thread, with group commit.

Owns every ``sqlite3`` call the process makes. Trio tasks hand it functions of a connection; reads run
as they come, writes that arrive while the thread is busy are folded into one transaction (each inside
its own savepoint, so one failing write fails alone), and each caller is woken only after the
transaction holding its write has committed. That is the "output gate": a caller that gets an answer
knows its data is on disk. If the thread itself dies of an unexpected error, that error is logged and
every waiting, queued and later call fails with ``ExecutorDiedError`` instead of hanging.

Why not aiosqlite: it resolves results on asyncio futures and does not run under trio, and bridging it
through trio-asyncio measured about 2x slower than this (docs/decisions/0002). It must not be used for
long-running queries: there is one thread, and everything behind it waits.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import outcome
import trio

__all__ = ["SqliteExecutor", "ExecutorClosedError", "ExecutorDiedError"]

T = TypeVar("T")

log = logging.getLogger("actors.sqlite")

_CLOSE = object()


class ExecutorClosedError(RuntimeError):
    """The executor was closed (or never started) when a call was made."""


class ExecutorDiedError(ExecutorClosedError):
    """The executor's thread died of an unexpected error; the error is the ``__cause__``.

    A subclass of ``ExecutorClosedError`` so that code handling a closed executor handles a dead one too.
    """


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    write: bool
    task: Any
    token: trio.lowlevel.TrioToken
    result: outcome.Outcome | None = field(default=None)
    woken: bool = False  # set by _wake: a dying thread fails only the jobs of its batch not yet woken


class SqliteExecutor:
    """Run functions of one ``sqlite3.Connection`` on a dedicated thread.

    ``path`` is a file path or ``":memory:"``. ``synchronous`` is SQLite's ``PRAGMA synchronous`` in WAL
    mode: ``NORMAL`` survives a process crash (not a power cut); ``FULL`` survives both.
    """

    def __init__(self, path: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = path
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        # The error the thread died of, set by the thread before it fails the queued jobs. Read without a
        # lock: a plain attribute read is atomic, and _submit re-checks it after queueing (see there).
        self._death: BaseException | None = None
        self.transactions = 0  # committed write transactions (group-commit tests and metrics read it)
        self.writes = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the connection on the executor thread; returns once it is ready."""
        if self._thread is not None:
            raise RuntimeError("SqliteExecutor.start() called twice")
        ready: trio.Event = trio.Event()
        token = trio.lowlevel.current_trio_token()
        failure: list[BaseException] = []

        def opened(error: BaseException | None) -> None:
            if error is not None:
                failure.append(error)
            token.run_sync_soon(ready.set)

        self._thread = threading.Thread(target=self._main, args=(opened,), name="sqlite-executor", daemon=True)
        self._thread.start()
        await ready.wait()
        if failure:
            self._thread = None
            self._closed = True
            raise failure[0]

    async def close(self) -> None:
        """Finish queued work, close the connection and join the thread (at once if it has died)."""
        if self._thread is None or self._closed:
            self._closed = True
            return
        self._closed = True
        if self._death is None:
            # A dead thread reads no queue, so joining it is enough. A _CLOSE put while it dies is
            # dropped by its drain or left in the dead queue: harmless either way.
            self._queue.put(_CLOSE)
        await trio.to_thread.run_sync(self._thread.join)

    # -- calls -----------------------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` outside any write transaction and return its result."""
        return await self._submit(fn, write=False)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a (possibly shared) transaction; return once it has committed."""
        return await self._submit(fn, write=True)

    async def _submit(self, fn: Callable[[sqlite3.Connection], Any], *, write: bool) -> Any:
        if self._closed or self._thread is None:
            raise ExecutorClosedError(f"the SQLite executor for {self.path!r} is not running")
        if self._death is not None:
            raise self._died_error()
        job = _Job(fn, write, trio.lowlevel.current_task(), trio.lowlevel.current_trio_token())
        self._queue.put(job)
        if self._death is not None:
            # The thread died between the check above and the put, and may have finished failing the
            # queue before our job reached it. Fail what is queued from here too: each job is taken off
            # the queue by exactly one drainer (this task or the thread), which wakes it once. Our own
            # wake-up runs only once this task parks below, so it cannot be missed.
            self._fail_queued()

        def abort(_: Any) -> trio.lowlevel.Abort:
            # The statement may already be running: it cannot be withdrawn, so the caller waits for it
            # and sees the cancellation at its next checkpoint.
            return trio.lowlevel.Abort.FAILED

        result = await trio.lowlevel.wait_task_rescheduled(abort)
        return result

    # -- the thread ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _main(self, opened: Callable[[BaseException | None], None]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            opened(exc)
            return
        opened(None)
        batch: list[Any] = []  # the jobs in hand, for the death handler below
        try:
            while True:
                first = self._queue.get()
                batch = [first]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                closing = any(job is _CLOSE for job in batch)
                jobs = [job for job in batch if job is not _CLOSE]
                for job in jobs:
                    if not job.write:
                        job.result = outcome.capture(job.fn, conn)
                writes = [job for job in jobs if job.write]
                if writes:
                    self._run_writes(conn, writes)
                for job in jobs:
                    self._wake(job)
                if closing:
                    self._fail_queued(lambda: ExecutorClosedError(f"the SQLite executor for {self.path!r} closed"))
                    return
        except BaseException as exc:  # not a job's error (those are captured): the loop itself broke
            self._die(exc, [job for job in batch if job is not _CLOSE])
        finally:
            conn.close()

    def _die(self, exc: BaseException, batch: list[_Job]) -> None:
        """Fail every call the dead thread would otherwise leave hanging, and say why once."""
        # Mark the executor dead before draining: a _submit that queues after our drain then sees the
        # mark and drains the queue itself (see _submit), so no job is left behind.
        self._death = exc
        log.error("the SQLite executor for %r died; every call to it now fails", self.path, exc_info=exc)
        for job in batch:
            if not job.woken:  # a job woken with its result before the failure keeps it
                job.result = outcome.Error(self._died_error())
                self._wake(job)
        self._fail_queued()

    def _died_error(self) -> ExecutorDiedError:
        # A new instance per caller: one exception object raised in several tasks would collect all
        # their tracebacks.
        death = self._death
        error = ExecutorDiedError(
            f"the SQLite executor for {self.path!r} died of {type(death).__name__}: {death}; see its log"
        )
        error.__cause__ = death
        return error

    def _fail_queued(self, error: Callable[[], BaseException] | None = None) -> None:
        """Wake every queued job with ``error()`` (default: the death's error)."""
        error = error or self._died_error
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _CLOSE:
                job.result = outcome.Error(error())
                self._wake(job)

    def _run_writes(self, conn: sqlite3.Connection, writes: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in writes:
                conn.execute("SAVEPOINT job")
                job.result = outcome.capture(job.fn, conn)
                if isinstance(job.result, outcome.Error):
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
            self.transactions += 1
            self.writes += len(writes)
        except BaseException as exc:  # the transaction as a whole failed: every write in it failed
            if conn.in_transaction:
                conn.rollback()
            for job in writes:
                job.result = outcome.Error(exc)

    @staticmethod
    def _wake(job: _Job) -> None:
        assert job.result is not None
        try:
            job.token.run_sync_soon(trio.lowlevel.reschedule, job.task, job.result)
        except trio.RunFinishedError:
            pass
        job.woken = True
