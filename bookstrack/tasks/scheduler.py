"""The cron scheduler: runs named async tasks at the times of their cron expressions (UTC), one run at a time.

Owns three rules (decision 0026):

- **Catch-up once.** Each task's last start is persisted (``ScheduleStore``; table ``scheduled_tasks``,
  migration 5). At start, a task whose next occurrence after its last start (or after the moment the
  scheduler first saw it) has already passed, or whose last run was interrupted, runs once at once — not
  once per missed occurrence.
- **No overlap.** One loop per task runs it and only then computes the next occurrence after the run's
  end: occurrences that pass while a run is still going are *skipped* (counted), never queued. A manual
  ``run_now`` shares the task's lock, so it waits for a scheduled run and a scheduled occurrence that
  finds a manual run going is skipped.
- **Failures are recorded, never fatal.** An exception from a task is logged with its trace and recorded
  as the run's outcome; the loop goes on. A failing store write is logged too.

Times come from the injected ``Clock`` (wall time for cron, trio deadlines for sleeping), so a test moves
them with ``MockClock.jump``. Cron parsing is ``cronsim`` (decision 0026).
"""

from __future__ import annotations

import datetime as _dt
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec
import trio
from cronsim import CronSim, CronSimError

from actors import Clock, SqliteExecutor
from actors.clock import iso_utc
from bookstrack.errors import ConfigError

__all__ = [
    "ScheduledTask", "Scheduler", "TaskRecord", "TaskStatus", "ScheduleStore", "MemoryScheduleStore",
    "SqliteScheduleStore", "next_after", "check_cron",
]

log = logging.getLogger("bookstrack.tasks.scheduler")

Outcome = Literal["running", "ok", "failed"]
TaskFn = Callable[[], Awaitable[Any]]
_MAX_SKIP_COUNT = 10_000  # occurrences counted as skipped after one long run (a bound, not a limit that matters)


def check_cron(expression: str, *, key: str) -> str:
    """``expression`` if cronsim accepts it; otherwise a ``ConfigError`` naming the config ``key``."""
    try:
        CronSim(expression, _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC))
    except CronSimError as exc:
        raise ConfigError(
            f"invalid configuration: {key}: {expression!r} is not a cron expression ({exc}). "
            "Hint: five fields, e.g. \"0 2 * * *\" for 02:00 UTC daily"
        ) from None
    return expression


def next_after(expression: str, epoch: float) -> float:
    """The first occurrence of ``expression`` strictly after ``epoch`` (epoch seconds, UTC)."""
    start = _dt.datetime.fromtimestamp(epoch, tz=_dt.UTC)
    return next(CronSim(expression, start)).timestamp()


@dataclass(frozen=True, slots=True)
class ScheduledTask:
    """A named task and its cron expression (UTC). ``fn`` returns anything (a summary for the logs)."""

    name: str
    cron: str
    fn: TaskFn


class TaskRecord(msgspec.Struct, kw_only=True):
    """What is persisted per task: enough to decide on a catch-up run and to show the last outcome."""

    name: str
    first_seen_at: float | None = None  # when the scheduler first knew the task (catch-up before any run)
    last_started_at: float | None = None
    last_finished_at: float | None = None
    last_outcome: Outcome | None = None
    last_error: str | None = None
    runs: int = 0
    failures: int = 0


class TaskStatus(msgspec.Struct, kw_only=True, rename="camel"):
    """One task as the dashboard shows it (ISO-8601 UTC times; ``None`` when it never happened)."""

    name: str
    cron: str
    running: bool
    last_started_at: str | None
    last_finished_at: str | None
    last_outcome: Outcome | None
    last_error: str | None
    next_run_at: str | None
    runs: int
    failures: int
    skipped: int  # occurrences passed over since start (a run still going, or a manual run holding it)


class ScheduleStore(Protocol):
    async def load(self) -> dict[str, TaskRecord]: ...

    async def save(self, record: TaskRecord) -> None: ...


class MemoryScheduleStore:
    """Records in a dict (tests; a restart is simulated by handing the same store to a new scheduler)."""

    def __init__(self) -> None:
        self.records: dict[str, TaskRecord] = {}

    async def load(self) -> dict[str, TaskRecord]:
        return {name: msgspec.structs.replace(r) for name, r in self.records.items()}

    async def save(self, record: TaskRecord) -> None:
        self.records[record.name] = msgspec.structs.replace(record)


_COLUMNS = tuple(TaskRecord.__struct_fields__)


class SqliteScheduleStore:
    """Records in the ``scheduled_tasks`` table (migration 5)."""

    def __init__(self, database: SqliteExecutor) -> None:
        self._database = database

    async def load(self) -> dict[str, TaskRecord]:
        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM scheduled_tasks").fetchall()

        rows = await self._database.read(read)
        return {row[0]: TaskRecord(**dict(zip(_COLUMNS, row, strict=True))) for row in rows}

    async def save(self, record: TaskRecord) -> None:
        values = tuple(getattr(record, c) for c in _COLUMNS)
        sql = (
            f"INSERT INTO scheduled_tasks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
            f"ON CONFLICT (name) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[1:])}"
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(sql, values)

        await self._database.write(write)


@dataclass(eq=False)
class _State:
    task: ScheduledTask
    record: TaskRecord
    lock: trio.Lock = field(default_factory=trio.Lock)
    next_at: float | None = None
    skipped: int = 0


class Scheduler:
    """Runs ``tasks`` by their cron expressions until cancelled (see the module docstring)."""

    def __init__(self, tasks: Sequence[ScheduledTask], *, clock: Clock, store: ScheduleStore) -> None:
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique: {names}")
        for task in tasks:
            check_cron(task.cron, key=f"scheduler.{task.name}")
        self._tasks = list(tasks)
        self._clock = clock
        self._store = store
        self._states: dict[str, _State] = {
            t.name: _State(t, TaskRecord(name=t.name)) for t in tasks
        }
        self._catch_up: set[str] | None = None

    async def load(self) -> None:
        """Read the persisted records and decide which tasks catch up (``run`` does it if not done yet)."""
        records = await self._store.load()
        now = self._clock.wall()
        self._catch_up = set()
        for name, state in self._states.items():
            record = records.get(name)
            if record is None:
                state.record = TaskRecord(name=name, first_seen_at=now)
                await self._save(state.record)
                continue
            state.record = record
            since = record.last_started_at if record.last_started_at is not None else record.first_seen_at
            interrupted = record.last_outcome == "running"
            if interrupted or (since is not None and next_after(state.task.cron, since) <= now):
                self._catch_up.add(name)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the records, start one loop per task, report started; runs until cancelled."""
        if self._catch_up is None:
            await self.load()
        assert self._catch_up is not None
        async with trio.open_nursery() as nursery:
            for name, state in self._states.items():
                nursery.start_soon(self._loop, state, name in self._catch_up)
            task_status.started()

    async def run_now(self, name: str) -> Any:
        """Run task ``name`` now (waiting for a run of it already going) and return its result; its
        exception propagates (after being recorded). ``KeyError`` for an unknown name."""
        state = self._states[name]
        async with state.lock:
            return await self._run(state, manual=True)

    def status(self) -> list[TaskStatus]:
        """Every task, in declaration order: cron, last run, outcome and next run."""
        out = []
        for state in self._states.values():
            r = state.record
            out.append(TaskStatus(
                name=r.name, cron=state.task.cron, running=state.lock.locked(),
                last_started_at=_iso(r.last_started_at), last_finished_at=_iso(r.last_finished_at),
                last_outcome=r.last_outcome, last_error=r.last_error, next_run_at=_iso(state.next_at),
                runs=r.runs, failures=r.failures, skipped=state.skipped,
            ))
        return out

    # -- internals ---------------------------------------------------------------------------------

    async def _loop(self, state: _State, catch_up: bool) -> None:
        cron = state.task.cron
        due = self._clock.wall() if catch_up else next_after(cron, self._clock.wall())
        if catch_up:
            log.info("scheduler: %s missed its run while stopped; running it once now", state.task.name)
        while True:
            state.next_at = due
            await trio.sleep_until(self._clock.deadline_for(due))
            if state.lock.locked():  # a manual run is going: this occurrence is passed over
                state.skipped += 1
                log.info("scheduler: %s is still running; the run due %s is skipped", state.task.name, _iso(due))
            else:
                async with state.lock:
                    try:
                        await self._run(state, manual=False)
                    except Exception:  # recorded and logged by _run; the scheduler goes on
                        pass
            due = self._next_due(state, due)

    def _next_due(self, state: _State, due: float) -> float:
        """The first occurrence after both ``due`` and now; occurrences passed in between are skipped."""
        cron = state.task.cron
        now = self._clock.wall()
        following = next_after(cron, due)
        passed = 0
        while following <= now and passed < _MAX_SKIP_COUNT:
            passed += 1
            following = next_after(cron, following)
        if passed:
            state.skipped += passed
            log.info("scheduler: %s ran past %d occurrence(s); they are skipped", state.task.name, passed)
        return following if following > now else next_after(cron, now)

    async def _run(self, state: _State, *, manual: bool) -> Any:
        task, record = state.task, state.record
        started = self._clock.wall()
        record.last_started_at, record.last_outcome, record.last_error = started, "running", None
        await self._save(record)
        log.info("scheduler: %s started%s", task.name, " (manual)" if manual else "")
        try:
            result = await task.fn()
        except Exception as exc:
            record.last_finished_at, record.last_outcome = self._clock.wall(), "failed"
            record.last_error = f"{type(exc).__name__}: {exc}"[:500]
            record.runs += 1
            record.failures += 1
            log.exception("scheduler: %s failed after %.3f s", task.name, record.last_finished_at - started)
            await self._save(record)
            raise
        record.last_finished_at, record.last_outcome = self._clock.wall(), "ok"
        record.runs += 1
        log.info("scheduler: %s finished in %.3f s", task.name, record.last_finished_at - started)
        await self._save(record)
        return result

    async def _save(self, record: TaskRecord) -> None:
        try:
            with trio.CancelScope(shield=True):
                await self._store.save(record)
        except Exception:
            log.exception("scheduler: recording the run of %s failed", record.name)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso_utc(epoch)
