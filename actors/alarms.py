"""Durable alarms: the in-memory schedule of every actor's one alarm, re-armed from storage at start.

Owns the timing only: *when* an alarm fires. The alarm time itself is stored by the actor's turn
(``ActorStorage.set_alarm``) in the same transaction as its state, and the ``Alarm`` message is delivered
through the actor's mailbox like any other, so an alarm handler is an ordinary turn. Delivery is
at-least-once: the stored alarm is removed only by the turn that handled it, so a crash in between
fires it again after the restart.
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


class AlarmSchedule:
    """A heap of (epoch time, kind, id) with one live entry per actor; ``run`` delivers due alarms."""

    def __init__(self, clock: Clock, deliver: Callable[[str, str, Alarm], Awaitable[None]]) -> None:
        self._clock = clock
        self._deliver = deliver
        self._current: dict[Key, float] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._changed = trio.Event()

    def __len__(self) -> int:
        return len(self._current)

    def at(self, kind: str, id: str) -> float | None:
        return self._current.get((kind, id))

    def schedule(self, kind: str, id: str, at: float | None) -> None:
        """Record the actor's alarm (None removes it). Stale heap entries are skipped when popped, and
        dropped in one pass when they come to outnumber the live ones."""
        key = (kind, id)
        if at is None:
            self._current.pop(key, None)
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

    async def run(self) -> None:
        """Deliver alarms as they fall due, forever."""
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
