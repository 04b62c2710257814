"""Durable alarms: the in-memory schedule of the alarms due soon, refilled from storage.

Owns the timing only: *when* an alarm fires. Only alarms due within ``horizon`` seconds are held in
memory; later ones live only in storage and are loaded by the refill (every ``horizon / 2``), so a
million finished jobs with a cleanup alarm a day away cost disk, not RAM.

The alarm time itself is stored by the actor's turn (``ActorStorage.set_alarm``) in the same transaction
as its state, and the ``Alarm`` message is delivered through the actor's mailbox like any other, so an
alarm handler is an ordinary turn. Delivery is at-least-once: the stored alarm is removed only by the
turn that handled it, so a crash in between fires it again after the restart.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable

import msgspec
import trio

from actors.clock import Clock

__all__ = ["Alarm", "AlarmSchedule"]


class Alarm(msgspec.Struct, frozen=True):
    """The message an actor receives when its alarm is due.

    ``at`` is the time it was set for (for a retry, the time of the retry); ``attempt`` counts the failed
    deliveries before this one since the process started (0 on the first).
    """

    at: float
    attempt: int = 0


Key = tuple[str, str]
Loader = Callable[[float], Awaitable[list[tuple[str, str, float]]]]


class AlarmSchedule:
    """A heap of (epoch time, kind, id) with one live entry per actor; ``run`` delivers due alarms."""

    def __init__(
        self,
        clock: Clock,
        deliver: Callable[[str, str, Alarm], Awaitable[None]],
        *,
        load: Loader | None = None,
        horizon: float = 3600.0,
    ) -> None:
        """``load(until)`` answers the stored alarms due at or before ``until``; without it every alarm
        is held in memory whatever its time."""
        if horizon <= 0:
            raise ValueError("horizon must be > 0")
        self._clock = clock
        self._deliver = deliver
        self._load = load
        self.horizon = horizon
        self._current: dict[Key, float] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._changed = trio.Event()
        self._touched: set[Key] | None = None  # keys scheduled while a refill reads storage

    def __len__(self) -> int:
        return len(self._current)

    def at(self, kind: str, id: str) -> float | None:
        return self._current.get((kind, id))

    def schedule(self, kind: str, id: str, at: float | None) -> None:
        """Record the actor's alarm (None removes it). Stale heap entries are skipped when popped, and
        dropped in one pass when they come to outnumber the live ones."""
        key = (kind, id)
        if self._touched is not None:
            self._touched.add(key)
        if at is None or (self._load is not None and at > self._clock.wall() + self.horizon):
            self._current.pop(key, None)  # a later alarm waits in storage for a refill
            return
        self._current[key] = at
        heapq.heappush(self._heap, (at, kind, id))
        if len(self._heap) > 2 * len(self._current) + 64:
            # Mostly superseded entries (an alarm that keeps moving): drop them, so that memory follows
            # the live alarms rather than the history of every change.
            live = {entry for entry in self._heap if self._current.get((entry[1], entry[2])) == entry[0]}
            self._heap = list(live)
            heapq.heapify(self._heap)
        if self._heap[0][0] == at:
            self._changed.set()

    async def refill(self) -> None:
        """Hold the stored alarms due within the horizon. A key scheduled while storage is read keeps
        what was scheduled (storage may not show it yet), and a key already held keeps its time (a retry
        lives only here)."""
        if self._load is None:
            return
        self._touched = set()
        try:
            stored = await self._load(self._clock.wall() + self.horizon)
            touched = self._touched
        finally:
            self._touched = None
        for kind, id, at in stored:
            if (kind, id) not in touched and (kind, id) not in self._current:
                self.schedule(kind, id, at)

    async def run(self) -> None:
        """Deliver alarms as they fall due, and refill from storage every half horizon, forever."""
        async with trio.open_nursery() as nursery:
            if self._load is not None:
                nursery.start_soon(self._refill_forever)
            await self._deliver_forever()

    async def _refill_forever(self) -> None:
        while True:
            await trio.sleep(self.horizon / 2)
            await self.refill()

    async def _deliver_forever(self) -> None:
        while True:
            while self._heap:
                at, kind, id = self._heap[0]
                if self._current.get((kind, id)) != at:
                    heapq.heappop(self._heap)  # superseded or removed
                    continue
                if at > self._clock.wall():
                    break
                heapq.heappop(self._heap)
                # Stays in _current until the actor's turn clears it, so a reschedule by the handler wins.
                await self._deliver(kind, id, Alarm(at))
            self._changed = trio.Event()
            if self._heap:
                with trio.move_on_at(self._clock.deadline_for(self._heap[0][0])):
                    await self._changed.wait()
            else:
                await self._changed.wait()
