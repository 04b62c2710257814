"""Single-flight: identical concurrent requests share one execution; cancelling one caller never cancels it
for the others; when every caller has gone the call is stopped; results are not kept afterwards."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bookstrack.errors import ProviderError
from bookstrack.providers.singleflight import SingleFlight


class Upstream:
    def __init__(self, delay: float = 1.0, error: Exception | None = None) -> None:
        self.calls = 0
        self.finished = 0
        self.delay = delay
        self.error = error

    async def fetch(self) -> dict:
        self.calls += 1
        await trio.sleep(self.delay)
        self.finished += 1
        if self.error is not None:
            raise self.error
        return {"answer": self.calls}


async def test_fifty_concurrent_identical_calls_make_one(autojump_clock):
    upstream = Upstream()
    results: list = []
    async with trio.open_nursery() as service:
        flights = SingleFlight(service)

        async def caller() -> None:
            results.append(await flights.do("isbn:9780261103344", upstream.fetch))

        async with trio.open_nursery() as callers:
            for _ in range(50):
                callers.start_soon(caller)
        assert upstream.calls == 1
        assert results == [{"answer": 1}] * 50
        assert (flights.started, flights.joined) == (1, 49)
        assert len(flights) == 0  # nothing kept once it ended
        # a later call is a new call (caching is not single-flight's job)
        assert await flights.do("isbn:9780261103344", upstream.fetch) == {"answer": 2}


async def test_every_caller_gets_the_same_exception(autojump_clock):
    failure = ProviderError("boom", provider="openlibrary", reason="http_5xx")
    upstream = Upstream(error=failure)
    caught: list = []
    async with trio.open_nursery() as service:
        flights = SingleFlight(service)

        async def caller() -> None:
            try:
                await flights.do("k", upstream.fetch)
            except ProviderError as error:
                caught.append(error)

        async with trio.open_nursery() as callers:
            for _ in range(5):
                callers.start_soon(caller)
    assert upstream.calls == 1
    assert len(caught) == 5
    assert all(error is failure for error in caught)
    # the traceback does not grow with every waiter that re-raised it
    depth = 0
    tb = failure.__traceback__
    while tb is not None:
        depth, tb = depth + 1, tb.tb_next
    assert depth < 10


async def test_different_keys_are_different_calls(autojump_clock):
    upstream = Upstream()
    async with trio.open_nursery() as service:
        flights = SingleFlight(service)
        async with trio.open_nursery() as callers:
            for key in ("a", "b", "a", "c", "b"):
                callers.start_soon(flights.do, key, upstream.fetch)
    assert upstream.calls == 3


async def test_cancelling_one_caller_does_not_cancel_the_call_for_the_others(autojump_clock):
    upstream = Upstream(delay=2.0)
    results: list = []
    async with trio.open_nursery() as service:
        flights = SingleFlight(service)

        async def patient() -> None:
            results.append(await flights.do("k", upstream.fetch))

        first = trio.CancelScope()  # the caller that started the call
        async with trio.open_nursery() as callers:
            callers.start_soon(_scoped, first, flights, upstream)
            await trio.testing.wait_all_tasks_blocked()
            callers.start_soon(patient)
            await trio.sleep(1.0)
            first.cancel()
        assert results == [{"answer": 1}]
        assert upstream.calls == 1
        assert upstream.finished == 1
        assert trio.current_time() == pytest.approx(2.0)


async def _scoped(scope: trio.CancelScope, flights: SingleFlight, upstream: Upstream) -> None:
    with scope:
        await flights.do("k", upstream.fetch)


async def test_when_every_caller_has_gone_the_call_is_stopped_and_the_key_freed(autojump_clock):
    upstream = Upstream(delay=10.0)
    async with trio.open_nursery() as service:
        flights = SingleFlight(service)
        with trio.move_on_after(1.0):
            async with trio.open_nursery() as callers:
                for _ in range(3):
                    callers.start_soon(flights.do, "k", upstream.fetch)
        assert not flights.in_flight("k")
        await trio.testing.wait_all_tasks_blocked()
        assert (upstream.calls, upstream.finished) == (1, 0)  # stopped, not finished
        # the next caller starts a fresh call
        assert await flights.do("k", upstream.fetch) == {"answer": 2}


async def test_a_caller_waiting_when_the_service_shuts_down_gets_a_provider_error(autojump_clock):
    upstream = Upstream(delay=10.0)
    caught: list = []

    async def caller(flights: SingleFlight) -> None:
        try:
            await flights.do("k", upstream.fetch)
        except ProviderError as error:
            caught.append(error)

    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as service:
            flights = SingleFlight(service)
            outer.start_soon(caller, flights)
            await trio.sleep(1.0)
            service.cancel_scope.cancel()
    assert len(caught) == 1
    assert "shutting down" in caught[0].message
