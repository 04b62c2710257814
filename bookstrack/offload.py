"""Running CPU-heavy pure functions off the event loop, a bounded number at a time.

Owns the thread capacity for work like decoding a 10 MB upload or parsing a large CSV (ARCHITECTURE.md,
principle 1): requests and WebSocket pings never wait behind it. Only pure functions belong here:
they must not touch shared state, actors or the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

__all__ = ["CpuOffload"]

T = TypeVar("T")


class CpuOffload:
    def __init__(self, threads: int = 2) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.limiter = trio.CapacityLimiter(threads)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on a worker thread; at most ``threads`` run at once, the rest queue."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter)
