"""RateLimitBucket: one actor per rate-limit key, deciding requests exactly with GCRA.

Owns one key's counter (the key is the caller's business: the application uses "<class>|<client ip>").
Requests for one key are serialised by the actor's mailbox, so with N concurrent requests exactly
``limit`` pass: no lock, no race. The algorithm is GCRA (the "generic cell rate algorithm"): one float,
the theoretical arrival time, instead of a window counter, so a burst of ``limit`` passes at once and
the allowance then refills smoothly (one request every ``window / limit`` seconds).

State is memory-only (a restart may forgive up to one window of limits), and the actor passivates
only after being idle for longer than its window, by which time its allowance is full again anyway:
passivation never resets a limit early, and memory is bounded by the keys seen within one window.
"""

from __future__ import annotations

import math

import msgspec

from actors.runtime import Actor, handler

__all__ = ["RateLimitBucket", "Check", "Decision", "decide"]

_EPSILON = 1e-9  # float slack so that window/limit steps that do not divide exactly still admit `limit`


class Check(msgspec.Struct, frozen=True):
    """Ask for one request's decision under ``limit`` requests per ``window`` seconds."""

    limit: int
    window: float
    policy: str = "default"


class Decision(msgspec.Struct, frozen=True):
    """The whole decision, enough to write every rate-limit header.

    ``reset_at`` is when the allowance is full again (epoch seconds); ``retry_after`` is the whole
    seconds (>= 1) until a request would pass, and 0 when this one passed.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    retry_after: int
    window: float
    policy: str


def decide(tat: float, now: float, check: Check) -> tuple[float, Decision]:
    """GCRA as a pure function: the new theoretical arrival time and the decision."""
    if check.limit < 1 or check.window <= 0:
        raise ValueError("a rate limit needs limit >= 1 and window > 0")
    step = check.window / check.limit
    # Times are epoch seconds, where one float step is about 2e-7 s: every request rounds the arrival time
    # by up to half of that, and a burst of `limit` requests adds it up. The slack covers that drift (a
    # fixed 1e-9 does not: it denied even the first request of some limits) and stays below one step.
    slack = min(_EPSILON + check.limit * math.ulp(max(abs(tat), abs(now))), step / 4)
    backlog = max(tat - now, 0.0)  # seconds of the window already spent; near-equal floats subtract exactly
    allowed = backlog + step <= check.window + slack
    if allowed:
        backlog += step
    new_tat = now + backlog if allowed else tat
    remaining = max(0, min(check.limit, math.floor((check.window - backlog + slack) / step)))
    retry_after = 0 if allowed else max(1, math.ceil(backlog + step - check.window - slack))
    horizon = now + backlog
    return new_tat, Decision(
        allowed=allowed,
        limit=check.limit,
        remaining=remaining,
        reset_at=horizon,
        retry_after=retry_after,
        window=check.window,
        policy=check.policy,
    )


class RateLimitBucket(Actor):
    """One key's GCRA state."""

    kind = "rate_limit"

    async def on_start(self) -> None:
        self._tat = 0.0
        self._window = 0.0

    def idle_timeout(self) -> float:
        # Never forget a bucket whose allowance is not full yet.
        return max(self._window, 1.0)

    @handler
    async def check(self, msg: Check) -> Decision:
        self._window = max(self._window, msg.window)
        self._tat, decision = decide(self._tat, self.clock.wall(), msg)
        return decision
