"""The actor runtime: turns, the output gate, supervision, passivation, crash restarts and memory."""

from __future__ import annotations

import gc
import logging
import sqlite3
import sys
import threading
from contextlib import closing
from typing import ClassVar

import msgspec
import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from actors import Actor, ActorSystem, ActorSystemClosedError, MemoryStorage, UnknownMessageError, handler
from actors.runtime import _Reply
from actors.storage import Commit
from actors.testing import memory_system, sqlite_system

# -- messages and actors ---------------------------------------------------------------------------------


class Increment(msgspec.Struct, frozen=True):
    pass


class Get(msgspec.Struct, frozen=True):
    pass


class ReadStored(msgspec.Struct, frozen=True):
    key: str


class Explode(msgspec.Struct, frozen=True):
    message: str


class Nobody(msgspec.Struct, frozen=True):
    pass


class Step(msgspec.Struct, frozen=True):
    n: int


class Events(msgspec.Struct, frozen=True):
    pass


class Ping(msgspec.Struct, frozen=True):
    pass


class Hang(msgspec.Struct, frozen=True):
    pass


class Counter(Actor):
    """Counts; the count is stored under "count" and loaded by ``on_start``."""

    async def on_start(self) -> None:
        self.count = await self.storage.get("count", int) or 0

    @handler
    async def increment(self, msg: Increment) -> int:
        self.count += 1
        self.storage.put("count", self.count)
        return self.count

    @handler
    async def get(self, msg: Get) -> int:
        return self.count

    @handler
    async def read_stored(self, msg: ReadStored) -> int | None:
        return await self.storage.get(msg.key, int)

    @handler
    async def explode(self, msg: Explode) -> None:
        self.storage.put("count", 999)
        self.storage.put("poison", 1)
        await trio.lowlevel.checkpoint()
        raise ValueError(msg.message)


class Recorder(Actor):
    """Records when each turn starts and ends; every turn yields to the scheduler several times."""

    mailbox_size = 8  # smaller than the bursts below, so that senders also queue for room

    async def on_start(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.inside = 0
        self.most_inside = 0

    @handler
    async def step(self, msg: Step) -> None:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.events.append(("enter", msg.n))
        for _ in range(5):
            await trio.lowlevel.checkpoint()  # the equivalent of trio.sleep(0)
        self.events.append(("exit", msg.n))
        self.inside -= 1

    @handler
    async def get_events(self, msg: Events) -> tuple[list[tuple[str, int]], int]:
        return self.events, self.most_inside


class Fragile(Actor):
    """A Counter whose ``on_start`` fails while ``crashes_left`` is positive (set by the test)."""

    crashes_left: ClassVar[int] = 0

    async def on_start(self) -> None:
        if Fragile.crashes_left > 0:
            Fragile.crashes_left -= 1
            raise RuntimeError("storage hiccup while loading")
        self.count = await self.storage.get("count", int) or 0

    @handler
    async def increment(self, msg: Increment) -> int:
        self.count += 1
        self.storage.put("count", self.count)
        return self.count


class Stateless(Actor):
    """An actor with no stored state at all."""

    @handler
    async def ping(self, msg: Ping) -> None:
        return None


class Stuck(Actor):
    @handler
    async def hang(self, msg: Hang) -> None:
        await trio.sleep_forever()

    @handler
    async def ping(self, msg: Ping) -> str:
        return "pong"


class FlakyStorage(MemoryStorage):
    """MemoryStorage whose next commit fails when ``fail_next_commit`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next_commit = False

    async def commit(self, commit: Commit) -> None:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise OSError("disk full")
        await super().commit(commit)


def decode(raw: bytes | None) -> object:
    assert raw is not None
    return msgspec.msgpack.decode(raw)


# -- turns -----------------------------------------------------------------------------------------------


async def test_turns_run_one_at_a_time_in_fifo_order(autojump_clock):
    async with memory_system(Recorder) as system:
        ref = system.ref(Recorder, "r")
        sent: list[int] = []

        async def ask(n: int) -> None:
            sent.append(n)  # no checkpoint between this and the enqueue inside ask()
            await ref.ask(Step(n))

        async def tell(n: int) -> None:
            sent.append(n)
            await ref.tell(Step(n))

        async with trio.open_nursery() as nursery:
            for n in range(60):
                nursery.start_soon(ask if n % 3 else tell, n)
        events, most_inside = await ref.ask(Events())

    assert sorted(sent) == list(range(60))
    assert events == [event for n in sent for event in (("enter", n), ("exit", n))]
    assert most_inside == 1


class AskSelf(msgspec.Struct, frozen=True):
    pass


class Narcissus(Actor):
    @handler
    async def ask_self(self, msg: AskSelf) -> None:
        await self.ref().ask(Ping())

    @handler
    async def ping(self, msg: Ping) -> str:
        return "pong"


async def test_an_actor_asking_itself_fails_at_once_instead_of_hanging(autojump_clock):
    async with memory_system(Narcissus) as system:
        ref = system.ref(Narcissus, "n")
        with trio.fail_after(5), pytest.raises(RuntimeError, match="asked itself Ping from inside its own turn"):
            await ref.ask(AskSelf())
        assert await ref.ask(Ping()) == "pong"  # the same actor, asked from outside, still answers


async def test_concurrent_asks_to_one_counter_on_memory(autojump_clock):
    async with memory_system(Counter) as system:
        ref = system.ref(Counter, "c")
        answers: list[int] = []

        async def one() -> None:
            answers.append(await ref.ask(Increment()))

        async with trio.open_nursery() as nursery:
            for _ in range(1000):
                nursery.start_soon(one)

        assert sorted(answers) == list(range(1, 1001))
        assert await ref.ask(Get()) == 1000
        assert decode(await system.storage.get("Counter", "c", "count")) == 1000


async def test_concurrent_asks_to_one_counter_on_sqlite(tmp_path, mock_clock):
    path = tmp_path / "actors.db"
    async with sqlite_system(path, Counter) as system:
        ref = system.ref(Counter, "c")
        answers: list[int] = []

        async def one() -> None:
            answers.append(await ref.ask(Increment()))

        async with trio.open_nursery() as nursery:
            for _ in range(1000):
                nursery.start_soon(one)

        assert sorted(answers) == list(range(1, 1001))
        assert await ref.ask(Get()) == 1000
    # And after a restart, from the file.
    async with sqlite_system(path, Counter) as system:
        assert await system.ref(Counter, "c").ask(Increment()) == 1001


# -- supervision -----------------------------------------------------------------------------------------


async def test_failing_handler_fails_its_asker_discards_its_writes_and_the_actor_goes_on(autojump_clock):
    async with memory_system(Counter) as system:
        ref = system.ref(Counter, "c")
        assert await ref.ask(Increment()) == 1

        with pytest.raises(ValueError, match="boom 7"):
            await ref.ask(Explode("boom 7"))

        # Neither the backend nor the actor's own reads see the failed turn's writes.
        assert decode(await system.storage.get("Counter", "c", "count")) == 1
        assert await system.storage.get("Counter", "c", "poison") is None
        assert await ref.ask(ReadStored("count")) == 1
        assert await ref.ask(ReadStored("poison")) is None
        # The same activation keeps serving.
        assert await ref.ask(Increment()) == 2
        assert system.activations == 1
        assert system.restarts == 0


async def test_failed_tell_is_logged_and_the_actor_goes_on(autojump_clock, caplog):
    async with memory_system(Counter) as system:
        ref = system.ref(Counter, "c")
        await ref.tell(Explode("told to fail"))
        assert await ref.ask(Increment()) == 1
    assert any("told to fail" in record.getMessage() for record in caplog.records)


async def test_unknown_message_type_raises_unknown_message_error(autojump_clock):
    async with memory_system(Counter) as system:
        ref = system.ref(Counter, "c")
        with pytest.raises(UnknownMessageError, match="Counter has no handler for Nobody"):
            await ref.ask(Nobody())
        assert await ref.ask(Increment()) == 1
    assert issubclass(UnknownMessageError, TypeError)


async def test_on_start_crash_is_logged_and_the_actor_restarts_from_storage(autojump_clock, caplog):
    Fragile.crashes_left = 0
    async with memory_system(Fragile, idle_timeout=5) as system:
        ref = system.ref(Fragile, "f")
        assert await ref.ask(Increment()) == 1
        assert await ref.ask(Increment()) == 2
        await trio.sleep(6)  # passivated; the next message activates it again
        assert not system.is_live(Fragile, "f")

        Fragile.crashes_left = 1
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="actors"):
            assert await ref.ask(Increment()) == 3  # restarted after the crash, from the stored 2

    assert Fragile.crashes_left == 0
    assert system.restarts == 1
    crashes = [r for r in caplog.records if "crashed; restarting from storage" in r.getMessage()]
    assert len(crashes) == 1
    assert crashes[0].exc_info is not None
    assert "storage hiccup while loading" in str(crashes[0].exc_info[1])


async def test_failed_commit_fails_the_asker_and_restarts_the_actor_from_storage(autojump_clock, caplog):
    storage = FlakyStorage()
    async with memory_system(Counter, storage=storage) as system:
        ref = system.ref(Counter, "c")
        assert await ref.ask(Increment()) == 1
        storage.fail_next_commit = True
        with pytest.raises(OSError, match="disk full"):
            await ref.ask(Increment())  # memory said 2, disk still says 1
        assert await ref.ask(Get()) == 1  # the restarted actor reloaded 1, not the lost 2
        assert await ref.ask(Increment()) == 2
        assert system.restarts == 1


# -- passivation -----------------------------------------------------------------------------------------


async def test_idle_actor_is_passivated_and_the_next_message_reactivates_it(autojump_clock):
    async with memory_system(Counter, idle_timeout=10) as system:
        ref = system.ref(Counter, "c")
        assert await ref.ask(Increment()) == 1
        assert await ref.ask(Increment()) == 2
        assert system.is_live(Counter, "c")
        assert system.live == 1

        await trio.sleep(9)
        assert system.is_live(Counter, "c")  # not idle for long enough yet

        await trio.sleep(2)
        assert not system.is_live(Counter, "c")
        assert system.live == 0

        assert await ref.ask(Get()) == 2  # on_start loaded the stored count
        assert system.is_live(Counter, "c")
        assert system.activations == 2


# -- the output gate and group commit --------------------------------------------------------------------


async def test_writes_of_a_turn_are_on_disk_when_ask_returns(tmp_path, mock_clock):
    path = tmp_path / "actors.db"

    def on_disk() -> object:
        # A second, plain connection: only what is committed to the file is visible to it.
        with closing(sqlite3.connect(path)) as conn:
            (value,) = conn.execute(
                "SELECT value FROM actor_state WHERE kind=? AND id=? AND key=?", ("Counter", "gate", "count")
            ).fetchone()
        return msgspec.msgpack.decode(value)

    async with sqlite_system(path, Counter) as system:
        ref = system.ref(Counter, "gate")
        for expected in range(1, 4):
            assert await ref.ask(Increment()) == expected
            assert on_disk() == expected

        # Hold the SQLite thread, so that the next commit has to wait: the answer must wait with it.
        started, release = threading.Event(), threading.Event()
        seen: list[object] = []

        def blocker(conn: sqlite3.Connection) -> None:
            started.set()
            release.wait(10)

        async def ask_then_look() -> None:
            seen.append(await ref.ask(Increment()))
            seen.append(on_disk())  # no checkpoint since ask returned

        async with trio.open_nursery() as nursery:
            nursery.start_soon(system.storage.executor.write, blocker)
            await trio.to_thread.run_sync(started.wait)
            nursery.start_soon(ask_then_look)
            await wait_all_tasks_blocked()
            assert seen == []  # the turn has run; its commit waits behind the blocker, and so does its answer
            release.set()
        assert seen == [4, 4]


async def test_many_actors_writing_at_once_share_transactions(tmp_path, mock_clock):
    path = tmp_path / "actors.db"
    async with sqlite_system(path, Counter) as system:
        executor = system.storage.executor
        transactions, writes = executor.transactions, executor.writes

        async def one(i: int) -> None:
            assert await system.ref(Counter, f"c{i}").ask(Increment()) == 1

        async with trio.open_nursery() as nursery:
            for i in range(200):
                nursery.start_soon(one, i)

        assert executor.writes - writes == 200
        assert executor.transactions - transactions < 200
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT id, value FROM actor_state WHERE kind='Counter' AND key='count'").fetchall()
    assert {i: msgspec.msgpack.decode(v) for i, v in rows} == {f"c{i}": 1 for i in range(200)}


# -- shutdown --------------------------------------------------------------------------------------------


async def test_closing_the_system_fails_pending_asks_instead_of_hanging(autojump_clock):
    outcomes: dict[str, BaseException | object] = {}

    async def ask(ref, msg, name: str) -> None:
        try:
            outcomes[name] = await ref.ask(msg)
        except ActorSystemClosedError as exc:
            outcomes[name] = exc

    with trio.fail_after(10):
        async with trio.open_nursery() as outside:  # askers live outside the system's nursery
            async with memory_system(Stuck) as system:
                ref = system.ref(Stuck, "s")
                outside.start_soon(ask, ref, Hang(), "in flight")
                await wait_all_tasks_blocked()
                outside.start_soon(ask, ref, Ping(), "queued")
                await wait_all_tasks_blocked()
                assert outcomes == {}
            assert system.live == 0

    assert isinstance(outcomes["in flight"], ActorSystemClosedError)
    assert isinstance(outcomes["queued"], ActorSystemClosedError)
    with pytest.raises(ActorSystemClosedError):
        await ref.tell(Ping())


async def test_a_closed_system_refuses_messages(autojump_clock):
    system = ActorSystem(storage=MemoryStorage())
    with pytest.raises(ActorSystemClosedError, match="not running"):
        await system.ref(Counter, "c").ask(Increment())


class BrokenAlarmsStorage(MemoryStorage):
    async def alarms(self, until: float | None = None) -> list[tuple[str, str, float]]:
        await trio.lowlevel.checkpoint()
        raise OSError("cannot read alarms")


async def test_a_system_that_cannot_load_its_alarms_fails_to_start_cleanly(autojump_clock):
    system = ActorSystem(storage=BrokenAlarmsStorage())
    with pytest.raises(OSError, match="cannot read alarms"):
        async with system:
            pass  # pragma: no cover
    with pytest.raises(ActorSystemClosedError):
        await system.ref(Counter, "c").tell(Increment())
    await trio.sleep(1)  # trio's task and nursery bookkeeping is intact


# -- memory ----------------------------------------------------------------------------------------------


async def _activate_and_passivate(system: ActorSystem, ids: range, batch: int) -> None:
    for start in range(ids.start, ids.stop, batch):
        for i in range(start, min(start + batch, ids.stop)):
            await system.ref(Stateless, str(i)).tell(Ping())
        await trio.sleep(system.idle_timeout + 1)  # autojump: every actor handles its Ping and passivates
        assert system.live == 0


async def test_100k_actors_activated_and_passivated_leave_memory_flat(autojump_clock):
    # tracemalloc would make each round of 100,000 about 4x slower; the interpreter's own counters are
    # free. Every leak of a per-actor structure shows in one of them: GC-tracked objects (tasks, channels,
    # actors, dicts) and pymalloc blocks (every object of 512 bytes or less, strings included). Less
    # than 4,000 blocks is less than 2 MB of small objects.
    async with memory_system(Stateless, idle_timeout=1) as system:
        # First round: warms every structure that keeps its high-water mark (dict and set tables).
        await _activate_and_passivate(system, range(100_000), batch=1_000)
        gc.collect()
        objects, blocks = len(gc.get_objects()), sys.getallocatedblocks()

        await _activate_and_passivate(system, range(100_000, 200_000), batch=1_000)
        gc.collect()
        object_growth = len(gc.get_objects()) - objects
        block_growth = sys.getallocatedblocks() - blocks

        assert system.activations == 200_000
        assert system.live == 0
        assert object_growth < 1_000, f"{object_growth} more live objects after 100,000 activations"
        assert block_growth < 4_000, f"{block_growth} more memory blocks after 100,000 activations"
        assert system.storage.commits == 0  # nothing to store, nothing stored


async def test_an_actor_that_cannot_start_fails_its_askers_instead_of_looping(autojump_clock, caplog):
    Fragile.crashes_left = 10**6
    try:
        async with memory_system(Fragile, restart_backoff=0.5) as system:
            ref = system.ref(Fragile, "doomed")
            with caplog.at_level(logging.ERROR, logger="actors"):
                with pytest.raises(ActorSystemClosedError, match=r"^actor Fragile:doomed stopped$"):
                    await ref.ask(Increment())
            assert system.restarts == system.max_restarts
            assert not system.is_live(Fragile, "doomed")
            assert any("failed to start 5 times in a row" in r.getMessage() for r in caplog.records)

            Fragile.crashes_left = 0  # the cause went away: the next message starts a fresh activation
            assert await ref.ask(Increment()) == 1
    finally:
        Fragile.crashes_left = 0


# -- batched turns ------------------------------------------------------------------------------------------


class Add(msgspec.Struct, frozen=True):
    key: str
    value: int


class Keys(msgspec.Struct, frozen=True):
    pass


class Batcher(Actor):
    batched = frozenset({Add})

    @handler
    async def add(self, msg: Add) -> int:
        if msg.value < 0:
            self.storage.put(f"bad:{msg.key}", msg.value)  # written, then rewound with the failure
            raise ValueError(f"negative {msg.key}")
        self.storage.put(msg.key, msg.value)
        return msg.value * 10

    @handler
    async def keys(self, msg: Keys) -> dict[str, int]:
        return await self.storage.list("", type=int)


class FailingOnce(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    async def commit(self, commit):  # type: ignore[no-untyped-def]
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        await super().commit(commit)


async def _queue_then_ask(ref, messages) -> list:
    """Put ``messages`` in the mailbox in order, with no checkpoint between them (so the actor takes them
    together), then collect every answer (or exception)."""
    replies = [_Reply() for _ in messages]
    for msg, reply in zip(messages, replies, strict=True):
        await ref.system._send(ref.cls, ref.id, msg, reply)  # send_nowait inside: no checkpoint
    out: list = []
    for reply in replies:
        try:
            out.append(await reply.wait())
        except Exception as exc:  # noqa: BLE001 - the answer under test
            out.append(exc)
    return out


async def test_queued_batched_messages_share_one_commit_and_keep_their_answers(autojump_clock):
    storage = MemoryStorage()
    async with memory_system(Batcher, storage=storage) as system:
        ref = system.ref(Batcher, "b")
        await ref.ask(Keys())  # activate
        before = storage.commits
        answers = await _queue_then_ask(ref, [Add("a", 1), Add("b", 2), Add("c", -1), Add("d", 4), Keys()])
        assert answers[:2] == [10, 20]
        assert isinstance(answers[2], ValueError)  # its own failure, nobody else's
        assert answers[3] == 40
        assert answers[4] == {"a": 1, "b": 2, "d": 4}  # after the batch, in mailbox order; "bad:c" rewound
        assert storage.commits == before + 1  # four adds, one commit (Keys writes nothing)


async def test_a_failed_batch_commit_fails_its_askers_and_the_next_message_still_runs(autojump_clock):
    storage = FailingOnce()
    async with memory_system(Batcher, storage=storage) as system:
        ref = system.ref(Batcher, "b")
        await ref.ask(Keys())
        storage.fail_next = True
        answers = await _queue_then_ask(ref, [Add("a", 1), Add("b", 2), Keys()])
        assert all(isinstance(a, OSError) for a in answers[:2])
        assert answers[2] == {}  # the restarted actor answered the message that waited behind the batch
