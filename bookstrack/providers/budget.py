"""A provider's request budget: requests per second and per UTC day, shared by every caller in the process.

Owns one provider's allowance (API.md §5). Every HTTP request to the provider first takes a slot here;
a caller waits for its slot up to its own deadline and otherwise fails with ``ProviderError(reason=
"budget")``, without having spent anything. A 429 or ``Retry-After`` from the provider ``pause()``\\ s the
whole provider, so callers queued behind it wait too instead of walking into the same refusal.

The rate has no burst: two slots are always at least ``1 / rate_per_second`` apart, so no one-second
window at the upstream (measured as the requests leave us) ever holds more than ``rate_per_second``
requests, however many callers arrive at once. The day count follows the injected clock's wall time
(UTC days); when it is spent, slots resume at the next UTC midnight.

Why a FIFO lock and not an actor: trio runs one task at a time, so the state (three floats and a count)
only needs its check-then-take to be atomic, and it is (no await between them). What the lock adds is
order and holes: waiters queue first-come first-served (trio's ``Lock`` hands over in FIFO order), only
the head of the queue sleeps towards the next slot, and it takes the slot only when it wakes, so a
waiter that is cancelled or gives up leaves no reserved-but-unused slot behind (a reservation scheme
would waste those and would have to re-queue on a pause). An actor would give the same serialisation
at the cost of a message hop per request (anchors B.2: "no actor needed" for a counter in one trio
thread). A deployment of several processes replaces this class behind the same three methods
(``acquire``, ``pause``, ``ready_at``) with a shared store (one atomic GCRA script in Redis).
"""

from __future__ import annotations

import math

import trio

from actors import Clock
from bookstrack.errors import ProviderError

__all__ = ["Budget", "utc_day_number"]

_DAY = 86_400.0


def utc_day_number(epoch: float) -> int:
    """The UTC day (days since 1970-01-01) that epoch seconds ``epoch`` fall in: what a day's count is of."""
    return math.floor(epoch / _DAY)


class Budget:
    """One provider's slots: ``rate_per_second`` (> 0) spaced evenly, and ``per_day`` per UTC day (0: none)."""

    def __init__(self, provider: str, *, rate_per_second: float, per_day: int, clock: Clock) -> None:
        if not rate_per_second > 0:
            raise ValueError("rate_per_second must be > 0")
        if per_day < 0:
            raise ValueError("per_day must be >= 0")
        self.provider = provider
        self.rate_per_second = rate_per_second
        self.per_day = per_day
        self.interval = 1.0 / rate_per_second
        self._clock = clock
        self._lock = trio.Lock()
        self._next_at = -math.inf  # trio time of the next free slot
        self._paused_until = -math.inf  # trio time until which the provider asked us to stay away
        self._day = -1  # UTC day number (epoch days) that ``_used`` counts
        self._used = 0
        self.granted = 0  # slots handed out since start (tests and metrics)
        self.waiting = 0  # callers queued for a slot right now

    # -- reading ---------------------------------------------------------------------------------

    def used_today(self) -> int:
        """Slots taken in the current UTC day."""
        self._roll_day()
        return self._used

    def usage(self) -> tuple[int, int]:
        """``(UTC day number, slots taken that day)`` for the current day (what ``day_usage`` persists)."""
        self._roll_day()
        return self._day, self._used

    def restore(self, day: int, used: int) -> None:
        """Count ``used`` slots as already taken on UTC day ``day`` (epoch days) if that is today: a
        restarted process must not hand out a day's quota twice. Never lowers the count."""
        self._roll_day()
        if day == self._day:
            self._used = max(self._used, used)

    def paused_until(self) -> float:
        """The trio time until which the provider is paused (``-inf`` when it never was)."""
        return self._paused_until

    def ready_at(self) -> float:
        """The earliest trio time at which a caller arriving now could get a slot, ignoring the queue.

        A route may use it to skip a provider that certainly cannot answer in time (paused, or its day
        spent) instead of queueing behind it.
        """
        ready = max(self._next_at, self._paused_until)
        self._roll_day()
        if self.per_day and self._used >= self.per_day:
            ready = max(ready, self._clock.deadline_for((self._day + 1) * _DAY))
        return ready

    # -- changing --------------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Stay away from this provider for ``seconds`` from now (a pause never shortens an earlier one)."""
        if seconds > 0:
            self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    async def acquire(self, deadline: float) -> float:
        """Wait for a slot until ``deadline`` (trio time) and take it; return the seconds waited.

        Raises ``ProviderError(reason="budget")`` as soon as it is clear that no slot comes in time (the
        provider is paused or its day is spent beyond the deadline), or when the deadline passes in the
        queue. Cancelling the caller takes nothing.
        """
        start = self._clock.monotonic()
        if not self._lock.locked() and self.ready_at() <= start:
            self._take(start)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return 0.0
        if self.ready_at() > deadline:
            raise self._refusal(deadline - start)
        self.waiting += 1
        try:
            with trio.move_on_at(deadline):
                async with self._lock:
                    while True:
                        now = self._clock.monotonic()
                        ready = self.ready_at()
                        if ready <= now:
                            self._take(now)
                            return now - start
                        if ready > deadline:
                            break
                        # Pauses only grow and only the head takes slots, so waking at `ready` and
                        # looking again is enough: a pause that arrives meanwhile sends it back to sleep.
                        await trio.sleep_until(ready)
        finally:
            self.waiting -= 1
        raise self._refusal(deadline - start)

    # -- internals -------------------------------------------------------------------------------

    def _roll_day(self) -> None:
        day = utc_day_number(self._clock.wall())
        if day != self._day:
            self._day = day
            self._used = 0

    def _take(self, now: float) -> None:
        self._roll_day()
        self._next_at = now + self.interval
        self._used += 1
        self.granted += 1

    def _refusal(self, waited: float) -> ProviderError:
        self._roll_day()
        if self.per_day and self._used >= self.per_day:
            why = f"its daily budget of {self.per_day} requests is spent until 00:00 UTC"
        elif self._paused_until > self._clock.monotonic():
            left = self._paused_until - self._clock.monotonic()
            why = f"it asked us to wait {left:.3g} s more"
        else:
            why = f"no request slot at {self.rate_per_second:g}/s within {max(waited, 0.0):.3g} s"
        return ProviderError(
            f"{self.provider} was not called: {why}", provider=self.provider, reason="budget",
            details={"queued": self.waiting},
        )
