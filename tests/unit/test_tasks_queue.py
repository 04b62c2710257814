"""The durable queue (bookstrack/tasks/queue.py): retries with backoff, dead letters, redelivery after a
restart mid-lease, exactly-once processing of 10,000 messages when consumers succeed.

Time: a ``MockClock`` without autojump (the queue waits on SQLite), moved by ``pump``."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
import trio
import trio.lowlevel
import trio.testing

from actors import Clock, SqliteExecutor
from actors.testing import EPOCH
from bookstrack.config import QueueConfig
from bookstrack.errors import ProviderError
from bookstrack.tasks.queue import DurableQueues, Message, backoff_delay
from tests.unit.cache_support import migrated_database, rows

Q = "test_queue"


class FullRng(random.Random):
    """Jitter that always takes the whole delay, so retry times are exact."""

    def random(self) -> float:
        return 1.0


def settings(**overrides: float) -> QueueConfig:
    values = {"concurrency": 2, "visibility_timeout": 60.0, "max_retries": 3, "backoff_base": 10.0,
              "backoff_cap": 1000.0, **overrides}
    return QueueConfig(**values)  # type: ignore[arg-type]


async def pump(executor: SqliteExecutor, done: Callable[[], bool], clock: trio.testing.MockClock | None = None,
               *, step: float = 1.0, rounds: int = 500) -> None:
    """Let every task and every queued SQLite write finish, jumping ``clock`` by ``step`` between rounds,
    until ``done()``."""
    for _ in range(rounds):
        for _ in range(3):
            await trio.testing.wait_all_tasks_blocked()
            await executor.write(lambda conn: None)
        if done():
            return
        if clock is not None:
            clock.jump(step)
    raise AssertionError("pump: condition never became true")


async def _noop(message: Message) -> None:
    await trio.lowlevel.checkpoint()


def test_backoff_doubles_up_to_the_cap_with_equal_jitter():
    config = settings(backoff_base=10.0, backoff_cap=35.0)
    assert [backoff_delay(config, n, FullRng()) for n in (1, 2, 3, 4)] == [10.0, 20.0, 35.0, 35.0]
    low = random.Random(1)
    for attempt in range(1, 8):
        delay = backoff_delay(config, attempt, low)
        full = min(35.0, 10.0 * 2 ** (attempt - 1))
        assert full / 2 <= delay <= full


async def test_a_consumer_that_fails_twice_is_retried_with_backoff_and_acked_once(tmp_path, mock_clock):
    clock = Clock(epoch=EPOCH)
    calls: list[tuple[int, float]] = []

    async def consumer(message: Message) -> None:
        calls.append((message.attempts, clock.wall()))
        if message.attempts <= 2:
            raise ProviderError("upstream down", provider="openlibrary", reason="http_5xx")

    async with migrated_database(tmp_path / "q.sqlite3") as executor:
        queues = DurableQueues(executor, clock, rng=FullRng())
        queues.register(Q, settings(), consumer)
        async with trio.open_nursery() as nursery:
            await nursery.start(queues.run)
            (message_id,) = await queues.enqueue(Q, [{"author": "Ursula K. Le Guin"}])
            await pump(executor, lambda: len(calls) == 3 and not rows(executor, "SELECT id FROM queue_messages"),
                       mock_clock)
            await pump(executor, lambda: True, mock_clock, rounds=100)  # more time: nothing more happens
            nursery.cancel_scope.cancel()
        assert [attempt for attempt, _ in calls] == [1, 2, 3]
        (_, t1), (_, t2), (_, t3) = calls
        assert 10.0 <= t2 - t1 < 11.0  # base
        assert 20.0 <= t3 - t2 < 21.0  # base * 2
        assert rows(executor, "SELECT count(*) FROM queue_messages") == [(0,)]
        (stats,) = await queues.stats()
        assert (stats.queue, stats.depth, stats.dead, stats.processed, stats.failed) == (Q, 0, 0, 1, 2)
        assert message_id == 1


async def test_a_consumer_that_always_fails_lands_in_the_dlq_and_a_retry_requeues_it(tmp_path, mock_clock):
    clock = Clock(epoch=EPOCH)
    attempts: list[int] = []
    healthy = False

    async def consumer(message: Message) -> None:
        attempts.append(message.attempts)
        if not healthy:
            raise ValueError(f"boom {message.payload['n']}")

    async with migrated_database(tmp_path / "q.sqlite3") as executor:
        queues = DurableQueues(executor, clock, rng=FullRng())
        queues.register(Q, settings(max_retries=2), consumer)
        async with trio.open_nursery() as nursery:
            await nursery.start(queues.run)
            (message_id,) = await queues.enqueue(Q, [{"n": 7}])

            async def dead() -> list:
                return await queues.dead_letters(Q)

            dead_sql = "SELECT id FROM queue_messages WHERE dead_at IS NOT NULL"
            await pump(executor, lambda: bool(rows(executor, dead_sql)), mock_clock)
            await pump(executor, lambda: True, mock_clock, rounds=100)
            assert attempts == [1, 2, 3]  # the first delivery and max_retries retries
            (letter,) = await dead()
            assert (letter.id, letter.payload, letter.attempts) == (message_id, {"n": 7}, 3)
            assert letter.error == "ValueError: boom 7"
            assert letter.dead_at > letter.enqueued_at
            (stats,) = await queues.stats()
            assert (stats.depth, stats.dead) == (0, 1)

            healthy = True
            assert await queues.retry_dead(Q, [message_id, 999]) == [message_id]
            await pump(executor, lambda: not rows(executor, "SELECT id FROM queue_messages"), mock_clock)
            assert attempts == [1, 2, 3, 1]  # re-queued with a fresh attempt count, then acknowledged
            assert await dead() == []
            nursery.cancel_scope.cancel()


async def test_dropping_dead_letters(tmp_path, mock_clock):
    clock = Clock(epoch=EPOCH)

    async def consumer(message: Message) -> None:
        raise RuntimeError("never")

    async with migrated_database(tmp_path / "q.sqlite3") as executor:
        queues = DurableQueues(executor, clock, rng=FullRng())
        queues.register(Q, settings(max_retries=0), consumer)
        async with trio.open_nursery() as nursery:
            await nursery.start(queues.run)
            ids = await queues.enqueue(Q, [{"n": n} for n in range(3)])
            await pump(executor, lambda: rows(executor, "SELECT count(*) FROM queue_messages WHERE dead_at IS NOT NULL")
                       == [(3,)], mock_clock)
            nursery.cancel_scope.cancel()
        assert await queues.drop_dead(Q, [ids[0]]) == [ids[0]]
        assert await queues.drop_dead("other", None) == []
        assert sorted(await queues.drop_dead(Q, None)) == ids[1:]
        assert rows(executor, "SELECT count(*) FROM queue_messages") == [(0,)]


async def test_a_message_mid_lease_when_the_app_dies_is_redelivered_after_restart(tmp_path, mock_clock):
    path = tmp_path / "q.sqlite3"
    clock = Clock(epoch=EPOCH)
    config = settings(visibility_timeout=60.0)
    started = trio.Event()
    seen: list[tuple[int, int]] = []

    async def stuck(message: Message) -> None:
        seen.append((message.id, message.attempts))
        started.set()
        await trio.sleep_forever()

    async with migrated_database(path) as executor:
        queues = DurableQueues(executor, clock)
        queues.register(Q, config, stuck)
        async with trio.open_nursery() as nursery:  # the app's lifespan nursery
            await nursery.start(queues.run)
            (message_id,) = await queues.enqueue(Q, [{"author": "Octavia E. Butler"}])
            await pump(executor, started.is_set)
            nursery.cancel_scope.cancel()  # killed mid-lease: nothing is acknowledged or failed
    assert seen == [(message_id, 1)]

    async def fine(message: Message) -> None:
        seen.append((message.id, message.attempts))

    async with migrated_database(path) as executor:  # restart on the same file
        queues = DurableQueues(executor, clock)
        queues.register(Q, config, fine)
        async with trio.open_nursery() as nursery:
            await nursery.start(queues.run)
            await pump(executor, lambda: True, mock_clock, step=1.0, rounds=30)
            assert len(seen) == 1  # still leased: invisible until its visibility timeout
            (stats,) = await queues.stats()
            assert (stats.depth, stats.in_flight) == (1, 1)
            await pump(executor, lambda: len(seen) == 2, mock_clock, step=1.0)
            await pump(executor, lambda: not rows(executor, "SELECT id FROM queue_messages"))
            nursery.cancel_scope.cancel()
    assert seen == [(message_id, 1), (message_id, 2)]


async def test_a_consumer_past_its_visibility_timeout_is_stopped_and_retried(tmp_path, mock_clock):
    clock = Clock(epoch=EPOCH)
    attempts: list[int] = []

    async def slow_once(message: Message) -> None:
        attempts.append(message.attempts)
        if message.attempts == 1:
            await trio.sleep_forever()

    async with migrated_database(tmp_path / "q.sqlite3") as executor:
        queues = DurableQueues(executor, clock, rng=FullRng())
        queues.register(Q, settings(visibility_timeout=30.0, backoff_base=5.0), slow_once)
        async with trio.open_nursery() as nursery:
            await nursery.start(queues.run)
            await queues.enqueue(Q, [{"x": 1}])
            await pump(executor, lambda: not rows(executor, "SELECT id FROM queue_messages"), mock_clock)
            nursery.cancel_scope.cancel()
    assert attempts == [1, 2]


async def test_a_stale_ack_changes_nothing(tmp_path, mock_clock):
    clock = Clock(epoch=EPOCH)
    async with migrated_database(tmp_path / "q.sqlite3") as executor:
        queues = DurableQueues(executor, clock)
        queues.register(Q, settings(visibility_timeout=10.0), _noop)
        await queues.enqueue(Q, [{"x": 1}])
        (first,) = await queues.lease(Q, 5)
        assert await queues.lease(Q, 5) == []  # invisible while leased
        mock_clock.jump(11)
        (second,) = await queues.lease(Q, 5)
        assert (second.id, second.attempts, second.last_error) == (
            first.id, 2, "visibility timeout: not acknowledged within 10 s")
        assert not await queues.ack(first)
        assert (await queues.fail(first, "late")).stale
        assert await queues.ack(second)


@pytest.mark.parametrize("count", [10_000])
async def test_ten_thousand_messages_with_concurrency_five_are_each_processed_once(tmp_path, mock_clock, count):
    clock = Clock(epoch=EPOCH)
    processed: Counter[int] = Counter()
    running = peak = 0
    finished = trio.Event()

    async def consumer(message: Message) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.lowlevel.checkpoint()
        processed[message.payload] += 1
        running -= 1
        if len(processed) == count:
            finished.set()

    async with migrated_database(tmp_path / "q.sqlite3") as executor:
        queues = DurableQueues(executor, clock)
        queues.register(Q, settings(concurrency=5), consumer)
        ids = await queues.enqueue(Q, list(range(count)))  # one transaction
        assert len(set(ids)) == count
        async with trio.open_nursery() as nursery:
            await nursery.start(queues.run)
            await finished.wait()
            await pump(executor, lambda: not rows(executor, "SELECT id FROM queue_messages"))
            nursery.cancel_scope.cancel()
        assert set(processed) == set(range(count))
        assert set(processed.values()) == {1}
        assert peak == 5
        (stats,) = await queues.stats()
        assert (stats.depth, stats.dead, stats.processed) == (0, 0, count)
