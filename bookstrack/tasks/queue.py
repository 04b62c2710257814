"""The durable queue: messages in SQLite, leased with a visibility timeout, retried, then dead-lettered.

Owns the table ``queue_messages`` (migration 4) and the workers that drain it. Delivery is at least once:
a lease makes a message invisible until ``now + visibility_timeout`` (wall time of the injected
``Clock``); an acknowledgement deletes it; a failure makes it visible again after an exponential, jittered
backoff, until ``max_retries`` redeliveries have failed too and it becomes a dead letter (kept with its
last error and attempt count until it is retried or dropped). A process that stops mid-lease leaves the
message leased; it comes back by itself when its visibility timeout passes. Each lease carries the
message's ``deliveries`` count as a token, so an acknowledgement or failure that arrives after the lease
expired changes nothing.

Consumers are plain async functions of a ``Message``: returning acknowledges, raising is a failure
(recorded as ``"CODE: message"`` for a ``BookstrackError``), and a consumer still running when its lease
expires is cancelled and counted as failed. Cancellation from outside (shutdown) records nothing.

It must not know what a message means (payloads are JSON values, opaque here) nor hold a message outside
the database: every state change is a committed write before the worker moves on.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from actors import Clock, SqliteExecutor
from bookstrack.config import QueueConfig
from bookstrack.errors import BookstrackError

__all__ = ["Consumer", "DeadLetter", "DurableQueues", "FailOutcome", "Message", "QueueStats", "backoff_delay"]

log = logging.getLogger("bookstrack.tasks.queue")

_encode = msgspec.json.Encoder().encode
_MAX_ERROR = 2000  # characters of an error message kept with a message


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One leased message. ``attempts`` counts this delivery (1 on the first); ``delivery`` is the lease token."""

    id: int
    queue: str
    payload: Any
    attempts: int
    delivery: int
    enqueued_at: float
    leased_until: float
    last_error: str | None = None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    queue: str
    payload: Any
    error: str | None
    attempts: int
    enqueued_at: float
    dead_at: float


class QueueStats(msgspec.Struct, frozen=True, kw_only=True):
    """A queue's figures: ``depth`` is every live message (``ready`` + ``delayed`` + ``in_flight``)."""

    queue: str
    depth: int
    ready: int  # visible now
    delayed: int  # waiting for a retry's backoff
    in_flight: int  # leased, not yet acknowledged
    dead: int  # dead letters
    concurrency: int = 0  # configured consumer limit (0: no consumer registered in this process)
    processed: int = 0  # acknowledged by this process since start
    failed: int = 0  # failures recorded by this process since start (retries and dead letters)


class FailOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a failure did: ``retry_at`` (wall time) when the message will be delivered again, or ``dead``.
    ``stale`` when the lease had already expired, so nothing was recorded."""

    dead: bool = False
    retry_at: float | None = None
    stale: bool = False


Consumer = Callable[[Message], Awaitable[None]]


def backoff_delay(settings: QueueConfig, attempts: int, rng: random.Random) -> float:
    """Seconds before a message that failed its ``attempts``-th delivery is delivered again: ``base *
    2**(attempts-1)``, capped, then jittered uniformly between half and all of it ("equal jitter")."""
    exponent = min(max(attempts - 1, 0), 60)
    delay = min(settings.backoff_cap, settings.backoff_base * (2.0**exponent))
    return delay / 2 + rng.random() * delay / 2


def describe(error: BaseException) -> str:
    """How a failure is stored: ``CODE: message`` for our errors, ``TypeName: message`` for others."""
    text = str(error) if isinstance(error, BookstrackError) else f"{type(error).__name__}: {error}"
    return text[:_MAX_ERROR]


@dataclass(eq=False)
class _Registered:
    name: str
    settings: QueueConfig
    consumer: Consumer
    wake: trio.Event = field(default_factory=trio.Event)
    processed: int = 0
    failed: int = 0


class DurableQueues:
    """Every durable queue of the app on one ``SqliteExecutor``; ``run`` drains the registered ones."""

    def __init__(self, executor: SqliteExecutor, clock: Clock, *, rng: random.Random | None = None) -> None:
        self.executor = executor
        self.clock = clock
        self.rng = rng or random.Random()
        self._queues: dict[str, _Registered] = {}

    # -- set-up ------------------------------------------------------------------------------------

    def register(self, name: str, settings: QueueConfig, consumer: Consumer) -> None:
        """Consume queue ``name`` with ``consumer`` once ``run`` starts (at most ``settings.concurrency`` at once)."""
        if name in self._queues:
            raise ValueError(f"queue {name!r} is already registered")
        self._queues[name] = _Registered(name, settings, consumer)

    @property
    def names(self) -> list[str]:
        return list(self._queues)

    # -- producing ---------------------------------------------------------------------------------

    async def enqueue(self, queue: str, payloads: Sequence[Any], *, delay: float = 0.0) -> list[int]:
        """Store ``payloads`` (JSON values) as messages of ``queue`` in one transaction; returns their ids,
        in order. Committed before this returns."""
        if not payloads:
            return []
        now = self.clock.wall()
        rows = [(queue, _encode(p), now, now + delay) for p in payloads]

        def insert(conn: sqlite3.Connection) -> list[int]:
            (first,) = conn.execute("SELECT coalesce(max(id), 0) FROM queue_messages").fetchone()
            seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'queue_messages'").fetchone()
            start = max(first, seq[0] if seq else 0) + 1
            conn.executemany(
                "INSERT INTO queue_messages (id, queue, payload, enqueued_at, visible_at) VALUES (?, ?, ?, ?, ?)",
                [(start + i, *row) for i, row in enumerate(rows)],
            )
            return list(range(start, start + len(rows)))

        ids = await self.executor.write(insert)
        self._notify(queue)
        return ids

    def _notify(self, queue: str) -> None:
        registered = self._queues.get(queue)
        if registered is not None:
            registered.wake.set()

    # -- consuming ---------------------------------------------------------------------------------

    def _settings(self, queue: str) -> QueueConfig:
        registered = self._queues.get(queue)
        return registered.settings if registered is not None else QueueConfig()

    async def lease(self, queue: str, limit: int) -> list[Message]:
        """Lease up to ``limit`` visible messages of ``queue`` (oldest due first) for its visibility timeout.

        A message whose last lease expired after its final allowed delivery is dead-lettered here instead
        of delivered again (a consumer that kills the process every time cannot loop forever)."""
        settings = self._settings(queue)
        now = self.clock.wall()
        until = now + settings.visibility_timeout
        max_deliveries = settings.max_retries + 1
        expired = f"visibility timeout: not acknowledged within {settings.visibility_timeout:g} s"

        def take(conn: sqlite3.Connection) -> list[Message]:
            leased: list[Message] = []
            while len(leased) < limit:
                rows = conn.execute(
                    "SELECT id, payload, attempts, deliveries, enqueued_at, last_error, leased_until "
                    "FROM queue_messages WHERE queue = ? AND dead_at IS NULL AND visible_at <= ? "
                    "ORDER BY visible_at, id LIMIT ?",
                    (queue, now, limit - len(leased)),
                ).fetchall()
                if not rows:
                    break
                for id_, payload, attempts, deliveries, enqueued_at, last_error, leased_until in rows:
                    if leased_until is not None:  # its last lease ran out: that delivery failed
                        last_error = expired
                        if attempts >= max_deliveries:
                            conn.execute(
                                "UPDATE queue_messages SET dead_at = ?, leased_until = NULL, last_error = ? "
                                "WHERE id = ?",
                                (now, expired, id_),
                            )
                            continue
                    conn.execute(
                        "UPDATE queue_messages SET visible_at = ?, leased_until = ?, attempts = ?, deliveries = ?, "
                        "last_error = ? WHERE id = ?",
                        (until, until, attempts + 1, deliveries + 1, last_error, id_),
                    )
                    leased.append(Message(
                        id=id_, queue=queue, payload=msgspec.json.decode(payload), attempts=attempts + 1,
                        delivery=deliveries + 1, enqueued_at=enqueued_at, leased_until=until, last_error=last_error,
                    ))
            return leased

        return await self.executor.write(take)

    async def ack(self, message: Message) -> bool:
        """Acknowledge (delete) ``message``; False when its lease had expired and it was leased again."""

        def delete(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM queue_messages WHERE id = ? AND deliveries = ? AND dead_at IS NULL",
                (message.id, message.delivery),
            )
            return cursor.rowcount == 1

        done = await self.executor.write(delete)
        registered = self._queues.get(message.queue)
        if done and registered is not None:
            registered.processed += 1
        return done

    async def fail(self, message: Message, error: str) -> FailOutcome:
        """Record a failed delivery: retry after a backoff, or dead-letter after ``max_retries`` retries."""
        settings = self._settings(message.queue)
        now = self.clock.wall()
        dead = message.attempts > settings.max_retries
        retry_at = now + backoff_delay(settings, message.attempts, self.rng)
        error = error[:_MAX_ERROR]

        def record(conn: sqlite3.Connection) -> bool:
            if dead:
                cursor = conn.execute(
                    "UPDATE queue_messages SET dead_at = ?, leased_until = NULL, last_error = ? "
                    "WHERE id = ? AND deliveries = ? AND dead_at IS NULL",
                    (now, error, message.id, message.delivery),
                )
            else:
                cursor = conn.execute(
                    "UPDATE queue_messages SET visible_at = ?, leased_until = NULL, last_error = ? "
                    "WHERE id = ? AND deliveries = ? AND dead_at IS NULL",
                    (retry_at, error, message.id, message.delivery),
                )
            return cursor.rowcount == 1

        if not await self.executor.write(record):
            return FailOutcome(stale=True)
        registered = self._queues.get(message.queue)
        if registered is not None:
            registered.failed += 1
        if dead:
            log.warning("queue %s: message %d dead-lettered after %d attempts: %s",
                        message.queue, message.id, message.attempts, error)
            return FailOutcome(dead=True)
        self._notify(message.queue)
        return FailOutcome(retry_at=retry_at)

    # -- dead letters ------------------------------------------------------------------------------

    async def dead_letters(self, queue: str, *, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters of ``queue``, most recent first."""

        def select(conn: sqlite3.Connection) -> list[DeadLetter]:
            rows = conn.execute(
                "SELECT id, payload, last_error, attempts, enqueued_at, dead_at FROM queue_messages "
                "WHERE queue = ? AND dead_at IS NOT NULL ORDER BY dead_at DESC, id DESC LIMIT ? OFFSET ?",
                (queue, limit, offset),
            ).fetchall()
            return [DeadLetter(id=r[0], queue=queue, payload=msgspec.json.decode(r[1]), error=r[2], attempts=r[3],
                               enqueued_at=r[4], dead_at=r[5]) for r in rows]

        return await self.executor.read(select)

    async def retry_dead(self, queue: str, ids: Sequence[int] | None = None) -> list[int]:
        """Put dead letters of ``queue`` back (every one when ``ids`` is None) as fresh messages, visible now
        with their attempt count reset; returns the ids re-queued (unknown or live ids are left alone)."""
        now = self.clock.wall()

        def requeue(conn: sqlite3.Connection) -> list[int]:
            found = _dead_ids(conn, queue, ids)
            conn.executemany(
                "UPDATE queue_messages SET dead_at = NULL, attempts = 0, visible_at = ?, leased_until = NULL "
                "WHERE id = ?",
                [(now, id_) for id_ in found],
            )
            return found

        found = await self.executor.write(requeue)
        if found:
            self._notify(queue)
        return found

    async def drop_dead(self, queue: str, ids: Sequence[int] | None = None) -> list[int]:
        """Delete dead letters of ``queue`` (every one when ``ids`` is None); returns the ids deleted."""

        def delete(conn: sqlite3.Connection) -> list[int]:
            found = _dead_ids(conn, queue, ids)
            conn.executemany("DELETE FROM queue_messages WHERE id = ?", [(id_,) for id_ in found])
            return found

        return await self.executor.write(delete)

    # -- figures -----------------------------------------------------------------------------------

    async def stats(self) -> list[QueueStats]:
        """Depth and dead letters of every registered queue (and any other queue with stored messages)."""
        now = self.clock.wall()

        def count(conn: sqlite3.Connection) -> list[tuple[str, int, int, int, int]]:
            return conn.execute(
                "SELECT queue, "
                "sum(dead_at IS NULL AND leased_until IS NULL AND visible_at <= :now), "
                "sum(dead_at IS NULL AND leased_until IS NULL AND visible_at > :now), "
                "sum(dead_at IS NULL AND leased_until IS NOT NULL), "
                "sum(dead_at IS NOT NULL) FROM queue_messages GROUP BY queue",
                {"now": now},
            ).fetchall()

        found = {row[0]: row for row in await self.executor.read(count)}
        out = []
        for name in sorted(set(found) | set(self._queues)):
            _, ready, delayed, in_flight, dead = found.get(name, (name, 0, 0, 0, 0))
            registered = self._queues.get(name)
            out.append(QueueStats(
                queue=name, depth=ready + delayed + in_flight, ready=ready, delayed=delayed, in_flight=in_flight,
                dead=dead, concurrency=registered.settings.concurrency if registered else 0,
                processed=registered.processed if registered else 0, failed=registered.failed if registered else 0,
            ))
        return out

    async def _next_due(self, queue: str) -> float | None:
        def select(conn: sqlite3.Connection) -> float | None:
            (due,) = conn.execute(
                "SELECT min(visible_at) FROM queue_messages WHERE queue = ? AND dead_at IS NULL", (queue,)
            ).fetchone()
            return due

        return await self.executor.read(select)

    # -- workers -----------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Drain every registered queue until cancelled. A message being processed when this is cancelled
        stays leased and is delivered again after its visibility timeout."""
        async with trio.open_nursery() as nursery:
            for registered in self._queues.values():
                nursery.start_soon(self._dispatch, registered)
            task_status.started()

    async def _dispatch(self, registered: _Registered) -> None:
        settings = registered.settings
        slots = trio.Semaphore(settings.concurrency)
        async with trio.open_nursery() as nursery:
            while True:
                await slots.acquire()
                taken = 1
                while taken < settings.concurrency:
                    try:
                        slots.acquire_nowait()
                    except trio.WouldBlock:
                        break
                    taken += 1
                registered.wake = trio.Event()  # a notification from here on wakes the wait below
                try:
                    messages = await self.lease(registered.name, taken)
                except Exception:
                    log.exception("queue %s: leasing failed", registered.name)
                    messages = []
                    for _ in range(taken):
                        slots.release()
                    await trio.sleep(1.0)
                    continue
                for _ in range(taken - len(messages)):
                    slots.release()
                for message in messages:
                    nursery.start_soon(self._deliver, registered, message, slots)
                if not messages:
                    await self._idle(registered)

    async def _idle(self, registered: _Registered) -> None:
        """Wait for an enqueue, a failure's retry, a finished delivery or the next message falling due."""
        due = await self._next_due(registered.name)
        with trio.move_on_at(self.clock.deadline_for(due) if due is not None else float("inf")):
            await registered.wake.wait()

    async def _deliver(self, registered: _Registered, message: Message, slots: trio.Semaphore) -> None:
        try:
            error: str | None = None
            deadline = self.clock.deadline_for(message.leased_until)
            with trio.move_on_at(deadline) as scope:
                try:
                    await registered.consumer(message)
                except Exception as exc:
                    error = describe(exc)
                    if not isinstance(exc, BookstrackError):
                        log.warning("queue %s: message %d failed (attempt %d)", registered.name, message.id,
                                    message.attempts, exc_info=exc)
            if scope.cancelled_caught:
                error = (f"visibility timeout: not acknowledged within "
                         f"{registered.settings.visibility_timeout:g} s")
            if error is None:
                await self.ack(message)
            else:
                await self.fail(message, error)
        except Exception:
            log.exception("queue %s: recording the outcome of message %d failed", registered.name, message.id)
        finally:
            slots.release()
            registered.wake.set()


def _dead_ids(conn: sqlite3.Connection, queue: str, ids: Sequence[int] | None) -> list[int]:
    if ids is None:
        rows = conn.execute(
            "SELECT id FROM queue_messages WHERE queue = ? AND dead_at IS NOT NULL ORDER BY id", (queue,)
        ).fetchall()
        return [r[0] for r in rows]
    found = []
    for id_ in dict.fromkeys(ids):
        row = conn.execute(
            "SELECT 1 FROM queue_messages WHERE id = ? AND queue = ? AND dead_at IS NOT NULL", (id_, queue)
        ).fetchone()
        if row is not None:
            found.append(id_)
    return found
