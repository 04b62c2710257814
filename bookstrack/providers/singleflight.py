"""Single-flight: identical concurrent requests share one execution.

Owns the table of calls in flight, keyed by whatever identifies a request (for providers: provider,
method, URL with its query, body). The first caller of a key starts the call as a task in a service
nursery (not in its own task), every caller of that key, first included, waits for it, and all of them get
its result or its exception. Because the call does not run in a caller's task, cancelling a caller only
stops that caller's wait; the call is cancelled only when its last waiter has gone (nobody wants the
answer any more), and a caller arriving after that starts a fresh call.

Only results are shared, never kept: once a call ends its key is free again (caching is the cache's job).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any, Generic, TypeVar

import trio

from bookstrack.errors import ProviderError

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "scope", "waiters", "finished", "result", "error", "traceback")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.scope = trio.CancelScope()
        self.waiters = 0
        self.finished = False  # fn returned or raised (rather than being interrupted)
        self.result: Any = None
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None


class SingleFlight:
    """Share one execution of ``fn`` among the concurrent callers of ``do(key, fn)``.

    ``nursery`` runs the calls; it must outlive the callers (the providers' service nursery).
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._flights: dict[Hashable, _Flight[Any]] = {}
        self.started = 0  # calls actually executed
        self.joined = 0  # callers that shared a call someone else started

    def in_flight(self, key: Hashable) -> bool:
        return key in self._flights

    def __len__(self) -> int:
        return len(self._flights)

    async def do(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` once for all concurrent callers of ``key``; return its result or raise its error."""
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight()
            self._flights[key] = flight
            self.started += 1
            self._nursery.start_soon(self._run, key, flight, fn)
        else:
            self.joined += 1
        flight.waiters += 1
        try:
            await flight.done.wait()
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.done.is_set():
                # The last one waiting has gone (cancelled): nobody wants the answer, so stop the call.
                flight.scope.cancel()
                if self._flights.get(key) is flight:
                    del self._flights[key]
        if flight.error is not None:
            # One exception object for every waiter: each raise starts again from the call's own traceback,
            # so tracebacks do not grow with the number of waiters.
            raise flight.error.with_traceback(flight.traceback)
        return flight.result

    async def _run(self, key: Hashable, flight: _Flight[T], fn: Callable[[], Awaitable[T]]) -> None:
        try:
            with flight.scope:
                try:
                    flight.result = await fn()
                except Exception as exc:  # handed to every waiter, who re-raises it
                    flight.error = exc
                    flight.traceback = exc.__traceback__
                flight.finished = True
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            if not flight.finished and flight.waiters:
                # Interrupted with callers still waiting: the service nursery is being cancelled (shutdown).
                flight.error = ProviderError("the provider call was abandoned: BooksTrack is shutting down")
            flight.done.set()
