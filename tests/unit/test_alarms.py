"""Durable alarms: firing on time, replacement, survival across restarts, retries, the schedule's memory."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from typing import ClassVar

import msgspec
import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from actors import Actor, Alarm, Clock, MemoryStorage, handler
from actors.alarms import AlarmSchedule
from actors.testing import EPOCH, memory_system, sqlite_system


class Arm(msgspec.Struct, frozen=True):
    at: float | None


class Fired(msgspec.Struct, frozen=True):
    pass


class Attempts(msgspec.Struct, frozen=True):
    pass


class Reminder(Actor):
    """Arms its alarm on request and keeps, in storage, the (alarm time, wall time) of every firing."""

    failures_left: ClassVar[int] = 0  # set by a test: that many firings raise before one succeeds

    async def on_start(self) -> None:
        self.fired = await self.storage.get("fired", list[tuple[float, float]]) or []
        self.failed_at: list[float] = []
        self.attempts: list[int] = []

    @handler
    async def arm(self, msg: Arm) -> None:
        self.set_alarm(msg.at)

    @handler
    async def get_fired(self, msg: Fired) -> tuple[list[tuple[float, float]], list[float]]:
        return self.fired, self.failed_at

    @handler
    async def get_attempts(self, msg: Attempts) -> list[int]:
        return self.attempts

    async def on_alarm(self, alarm: Alarm) -> None:
        self.attempts.append(alarm.attempt)
        if Reminder.failures_left > 0:
            Reminder.failures_left -= 1
            self.failed_at.append(self.clock.wall())
            raise RuntimeError("alarm handler failed")
        self.fired = [*self.fired, (alarm.at, self.clock.wall())]
        self.storage.put("fired", self.fired)


@pytest.fixture(autouse=True)
def _no_failures():
    Reminder.failures_left = 0
    yield
    Reminder.failures_left = 0


async def fired(system, id: str = "r") -> list[tuple[float, float]]:
    return (await system.ref(Reminder, id).ask(Fired()))[0]


def stored_alarms(path) -> list[tuple[str, str, float]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT kind, id, at FROM actor_alarms").fetchall()


# -- in memory (autojump) ------------------------------------------------------------------------------


async def test_alarm_fires_at_its_time_and_activates_a_passivated_actor(autojump_clock):
    async with memory_system(Reminder, idle_timeout=10) as system:
        ref = system.ref(Reminder, "r")
        at = system.clock.wall() + 30
        await ref.ask(Arm(at))
        assert system.alarm_at(Reminder, "r") == at
        assert await system.storage.alarms() == [("Reminder", "r", at)]

        await trio.sleep(11)
        assert not system.is_live(Reminder, "r")  # passivated; the alarm will bring it back

        await trio.sleep(18)  # 29 s after arming
        assert not system.is_live(Reminder, "r")
        assert system.clock.wall() < at

        await trio.sleep(2)
        ((alarm_at, fired_at),) = await fired(system)
        assert alarm_at == at
        assert at <= fired_at < at + 0.001
        assert system.alarm_at(Reminder, "r") is None
        assert await system.storage.alarms() == []


async def test_setting_the_alarm_again_replaces_it(autojump_clock):
    async with memory_system(Reminder) as system:
        ref = system.ref(Reminder, "r")
        t0 = system.clock.wall()

        # Later: the earlier time is forgotten.
        await ref.ask(Arm(t0 + 10))
        await ref.ask(Arm(t0 + 20))
        await trio.sleep(15)
        assert await fired(system) == []
        await trio.sleep(10)
        assert [at for at, _ in await fired(system)] == [t0 + 20]

        # Earlier: the new time wins even though the schedule was waiting for a later one.
        t1 = system.clock.wall()
        await ref.ask(Arm(t1 + 100))
        await ref.ask(Arm(t1 + 5))
        await trio.sleep(6)
        assert [at for at, _ in await fired(system)] == [t0 + 20, t1 + 5]
        await trio.sleep(200)
        assert [at for at, _ in await fired(system)] == [t0 + 20, t1 + 5]

        # None deletes it.
        await ref.ask(Arm(system.clock.wall() + 5))
        await ref.ask(Arm(None))
        assert system.alarm_at(Reminder, "r") is None
        await trio.sleep(10)
        assert len(await fired(system)) == 2
        assert await system.storage.alarms() == []


async def test_failing_alarm_handler_is_retried_later(autojump_clock, caplog):
    Reminder.failures_left = 2
    async with memory_system(Reminder) as system:
        ref = system.ref(Reminder, "r")
        at = system.clock.wall() + 10
        await ref.ask(Arm(at))
        with caplog.at_level(logging.WARNING, logger="actors"):
            await trio.sleep(10.5)
            fired_list, failed_at = await ref.ask(Fired())
            assert fired_list == []
            assert len(failed_at) == 1
            # Still stored: a restart now would fire it again.
            assert await system.storage.alarms() == [("Reminder", "r", at)]

            await trio.sleep(60)
        fired_list, failed_at = await ref.ask(Fired())
        attempts = await ref.ask(Attempts())

    assert Reminder.failures_left == 0
    assert attempts == [0, 1, 2]  # the handler can tell a retry from the first delivery
    assert len(failed_at) == 2
    assert failed_at[0] == pytest.approx(at, abs=0.001)
    assert failed_at[1] >= failed_at[0] + 2  # backoff: 2 s, then 4 s
    ((_, succeeded_at),) = fired_list
    assert succeeded_at >= failed_at[1] + 4
    assert sum("alarm of Reminder:r failed" in r.getMessage() for r in caplog.records) == 2


async def test_alarm_of_a_kind_registered_after_start_fires_once_registered(autojump_clock, caplog):
    storage = MemoryStorage()
    clock = Clock(epoch=EPOCH)
    async with memory_system(Reminder, storage=storage, clock=clock) as system:
        at = clock.wall() + 5
        await system.ref(Reminder, "r").ask(Arm(at))
    await trio.sleep(10)  # the process is "down" while the alarm falls due

    async with memory_system(storage=storage, clock=clock) as system:  # Reminder not registered yet
        await wait_all_tasks_blocked()
        assert any("unregistered actor kind 'Reminder'" in r.getMessage() for r in caplog.records)
        assert not system.is_live(Reminder, "r")

        system.register(Reminder)
        await wait_all_tasks_blocked()
        assert [a for a, _ in await fired(system)] == [at]


# -- on SQLite, across restarts (MockClock without autojump) --------------------------------------------


async def test_alarm_set_before_a_restart_fires_after_it(tmp_path, mock_clock):
    path = tmp_path / "actors.db"
    clock = Clock(epoch=EPOCH)
    async with sqlite_system(path, Reminder, clock=clock) as system:
        at = clock.wall() + 100
        await system.ref(Reminder, "r").ask(Arm(at))
    assert stored_alarms(path) == [("Reminder", "r", at)]

    mock_clock.jump(40)  # down for a while, but back before the alarm is due
    async with sqlite_system(path, Reminder, clock=clock) as system:
        assert system.alarm_at(Reminder, "r") == at  # re-armed from storage
        await wait_all_tasks_blocked()
        assert not system.is_live(Reminder, "r")

        mock_clock.jump(61)
        await wait_all_tasks_blocked()  # the schedule delivered the alarm (the mailbox is FIFO)
        ((alarm_at, fired_at),) = await fired(system)
        assert alarm_at == at
        assert at <= fired_at <= at + 1
    assert stored_alarms(path) == []


async def test_alarm_that_fell_due_while_down_fires_at_start(tmp_path, mock_clock):
    path = tmp_path / "actors.db"
    clock = Clock(epoch=EPOCH)
    async with sqlite_system(path, Reminder, clock=clock) as system:
        at = clock.wall() + 10
        await system.ref(Reminder, "r").ask(Arm(at))

    mock_clock.jump(3600)
    async with sqlite_system(path, Reminder, clock=clock) as system:
        await wait_all_tasks_blocked()
        assert [a for a, _ in await fired(system)] == [at]
    assert stored_alarms(path) == []


async def test_handled_alarm_does_not_fire_again_after_a_restart(tmp_path, mock_clock):
    path = tmp_path / "actors.db"
    clock = Clock(epoch=EPOCH)
    async with sqlite_system(path, Reminder, clock=clock) as system:
        at = clock.wall() + 10
        await system.ref(Reminder, "r").ask(Arm(at))
        mock_clock.jump(11)
        await wait_all_tasks_blocked()
        assert [a for a, _ in await fired(system)] == [at]
    assert stored_alarms(path) == []

    async with sqlite_system(path, Reminder, clock=clock) as system:
        assert system.alarm_at(Reminder, "r") is None
        for _ in range(3):
            mock_clock.jump(1000)
            await wait_all_tasks_blocked()
        assert system.live == 0  # nothing woke it
        assert [a for a, _ in await fired(system)] == [at]  # loaded from storage: still one firing


# -- the schedule itself ---------------------------------------------------------------------------------


async def test_schedule_memory_stays_bounded_when_an_alarm_keeps_moving(mock_clock):
    async def deliver(kind: str, id: str, alarm: Alarm) -> None:
        raise AssertionError("nothing is due")

    schedule = AlarmSchedule(Clock(epoch=EPOCH), deliver)
    for i in range(10_000):  # e.g. an expiry pushed back on every request
        schedule.schedule("Job", "j", EPOCH + 3600 + i)
    for i in range(10_000):  # set and cleared again
        schedule.schedule("Job", f"k{i}", EPOCH + 7200)
        schedule.schedule("Job", f"k{i}", None)
    assert len(schedule) == 1
    assert schedule.at("Job", "j") == EPOCH + 3600 + 9_999
    assert len(schedule._heap) < 1_000  # superseded entries do not pile up


async def test_an_alarm_that_keeps_failing_is_dropped_durably_after_the_last_attempt(autojump_clock, caplog):
    Reminder.failures_left = 10**6
    async with memory_system(Reminder, idle_timeout=10**6) as system:
        ref = system.ref(Reminder, "r")
        await ref.ask(Arm(system.clock.wall() + 1))
        with caplog.at_level(logging.ERROR, logger="actors"):
            await trio.sleep(3600)
        attempts = await ref.ask(Attempts())
        assert attempts == list(range(system.max_alarm_attempts))
        assert await system.storage.alarms() == []  # a restart will not fire it again
        assert system.alarm_at(Reminder, "r") is None
        assert any("failed 6 times; dropping it" in r.getMessage() for r in caplog.records)


# -- the horizon: only alarms due soon are held in memory -------------------------------------------------


async def test_an_alarm_beyond_the_horizon_waits_in_storage_and_still_fires_on_time(autojump_clock):
    from actors import ActorSystem

    storage = MemoryStorage()
    system = ActorSystem(storage=storage, clock=Clock(epoch=EPOCH), alarm_horizon=100.0)
    system.register(Reminder)
    async with system:
        at = system.clock.wall() + 1000
        await system.ref(Reminder, "far").ask(Arm(at))
        assert system.alarm_at(Reminder, "far") is None  # not in memory ...
        assert await storage.alarms() == [("Reminder", "far", at)]  # ... but stored
        await trio.sleep(1001)
        assert [f[0] for f in await fired(system, "far")] == [at]


async def test_a_restart_holds_only_the_alarms_within_the_horizon(autojump_clock):
    from actors import ActorSystem

    storage = MemoryStorage()
    async with memory_system(Reminder, storage=storage) as system:
        now = system.clock.wall()
        await system.ref(Reminder, "soon").ask(Arm(now + 50))
        await system.ref(Reminder, "late").ask(Arm(now + 5000))
    system = ActorSystem(storage=storage, clock=Clock(epoch=EPOCH), alarm_horizon=100.0)
    system.register(Reminder)
    async with system:
        assert system.alarm_at(Reminder, "soon") == now + 50
        assert system.alarm_at(Reminder, "late") is None
        await trio.sleep(5001)
        assert [f[0] for f in await fired(system, "late")] == [now + 5000]


async def test_a_refill_never_overrides_what_was_scheduled_while_it_read(autojump_clock):
    clock = Clock(epoch=EPOCH)
    release = trio.Event()
    stale = [("K", "a", EPOCH + 10.0), ("K", "b", EPOCH + 20.0)]

    async def load(until: float) -> list[tuple[str, str, float]]:
        await release.wait()  # storage is read while the actor commits a new time
        return stale

    async def deliver(kind: str, id: str, alarm: Alarm) -> None:
        pass

    schedule = AlarmSchedule(clock, deliver, load=load, horizon=60.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(schedule.refill)
        await wait_all_tasks_blocked()
        schedule.schedule("K", "a", EPOCH + 30.0)  # committed meanwhile: storage's answer is stale for "a"
        release.set()
    assert schedule.at("K", "a") == EPOCH + 30.0
    assert schedule.at("K", "b") == EPOCH + 20.0
