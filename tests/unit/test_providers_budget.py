"""The provider budget: slots spaced 1/rate apart under any concurrency, FIFO, waits bounded by a deadline,
pauses, a per-UTC-day cap, and no slot lost to a caller that gives up. Pure in-memory: autojump clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors import Clock
from bookstrack.errors import ProviderError
from bookstrack.providers.budget import Budget
from tests.unit.provider_support import EPOCH, max_in_window

# EPOCH is 22:13:20 UTC: the next UTC midnight is this many seconds after virtual time 0.
TO_MIDNIGHT = 86_400 - (EPOCH % 86_400)


def budget(rate: float = 3.0, per_day: int = 0) -> Budget:
    return Budget("openlibrary", rate_per_second=rate, per_day=per_day, clock=Clock(epoch=EPOCH))


async def grab(b: Budget, deadline: float, log: list, name: object = None) -> None:
    try:
        await b.acquire(deadline)
        log.append((trio.current_time(), name))
    except ProviderError as error:
        log.append(("refused", name, error))


async def test_a_burst_of_200_callers_is_spaced_at_the_rate(autojump_clock):
    b = budget(rate=3.0)
    log: list = []
    async with trio.open_nursery() as nursery:
        for i in range(200):
            nursery.start_soon(grab, b, 1_000.0, log, i)
    times = [t for t, _ in log]
    assert len(times) == 200
    assert max_in_window(times) == 3
    gaps = [b_ - a for a, b_ in zip(times, times[1:], strict=False)]
    assert min(gaps) == pytest.approx(1 / 3)
    assert trio.current_time() == pytest.approx(199 / 3)
    assert b.granted == 200


async def test_callers_are_served_first_come_first_served(autojump_clock):
    b = budget(rate=10.0)
    log: list = []
    async with trio.open_nursery() as nursery:
        for i in range(30):
            nursery.start_soon(grab, b, 100.0, log, i)
            await trio.testing.wait_all_tasks_blocked()  # i is queued before i + 1 arrives
    assert [name for _, name in log] == list(range(30))


async def test_a_caller_waits_up_to_its_deadline_then_fails_with_reason_budget(autojump_clock):
    b = budget(rate=1.0)
    log: list = []
    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(grab, b, 2.5, log, i)
    granted = [entry for entry in log if entry[0] != "refused"]
    refused = [entry for entry in log if entry[0] == "refused"]
    assert [t for t, _ in granted] == [0.0, 1.0, 2.0]
    assert len(refused) == 7
    error = refused[0][2]
    assert error.reason == "budget"
    assert error.provider == "openlibrary"
    assert error.details["provider"] == "openlibrary"
    assert error.code == "PROVIDER_ERROR"
    assert error.status == 503
    assert "no request slot at 1/s" in error.message
    # nobody waited beyond the deadline, and refusals spent nothing
    assert trio.current_time() <= 2.5
    assert b.granted == 3


async def test_a_refusal_is_immediate_when_the_next_slot_is_beyond_the_deadline(autojump_clock):
    b = budget(rate=1.0)
    await b.acquire(10.0)
    b.pause(30.0)
    with pytest.raises(ProviderError, match=r"asked us to wait 30 s more") as caught:
        await b.acquire(trio.current_time() + 5.0)
    assert caught.value.reason == "budget"
    assert trio.current_time() == 0.0  # did not sit out the 5 s


async def test_a_pause_holds_every_caller_until_it_ends(autojump_clock):
    b = budget(rate=3.0)
    await b.acquire(1.0)
    b.pause(2.0)
    b.pause(1.0)  # a shorter pause never shortens the longer one
    log: list = []
    async with trio.open_nursery() as nursery:
        for i in range(4):
            nursery.start_soon(grab, b, 100.0, log, i)
    assert [t for t, _ in log] == pytest.approx([2.0, 2 + 1 / 3, 2 + 2 / 3, 3.0])


async def test_a_pause_that_arrives_while_the_head_sleeps_sends_it_back_to_sleep(autojump_clock):
    b = budget(rate=1.0)
    await b.acquire(1.0)  # next slot at t=1
    log: list = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(grab, b, 100.0, log, "head")
        await trio.sleep(0.5)
        b.pause(4.0)  # until t=4.5
    assert log == [(4.5, "head")]


async def test_a_caller_that_gives_up_leaves_no_hole(autojump_clock):
    b = budget(rate=1.0)
    await b.acquire(1.0)  # t=0; next slot at 1
    log: list = []
    impatient = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_cancellable, b, impatient, log)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(grab, b, 100.0, log, "patient")
        await trio.sleep(0.5)
        impatient.cancel()
    # the patient caller takes the slot the impatient one gave up, at t=1, not t=2
    assert log == [(1.0, "patient")]
    assert b.granted == 2


async def _cancellable(b: Budget, scope: trio.CancelScope, log: list) -> None:
    with scope:
        await b.acquire(100.0)
        log.append((trio.current_time(), "impatient"))


async def test_the_daily_budget_resumes_at_utc_midnight(autojump_clock):
    b = budget(rate=100.0, per_day=3)
    for _ in range(3):
        await b.acquire(trio.current_time() + 1.0)
    assert b.used_today() == 3
    with pytest.raises(ProviderError, match=r"daily budget of 3 requests is spent until 00:00 UTC") as caught:
        await b.acquire(trio.current_time() + 60.0)
    assert caught.value.reason == "budget"
    assert b.ready_at() == pytest.approx(TO_MIDNIGHT)
    # a caller willing to wait past midnight gets the first slot of the new day
    waited = await b.acquire(TO_MIDNIGHT + 1.0)
    assert trio.current_time() == pytest.approx(TO_MIDNIGHT)
    assert waited == pytest.approx(TO_MIDNIGHT - 0.03, abs=0.05)
    assert b.used_today() == 1


async def test_an_uncontended_slot_is_taken_without_waiting(autojump_clock):
    b = budget(rate=2.0)
    assert await b.acquire(0.0) == 0.0  # even with no time to spare
    with pytest.raises(ProviderError):
        await b.acquire(trio.current_time())  # the next one is 0.5 s away


@pytest.mark.parametrize(("rate", "per_day", "message"), [(0.0, 0, "rate_per_second must be > 0"),
                                                           (1.0, -1, "per_day must be >= 0")])
def test_invalid_settings(rate, per_day, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        Budget("x", rate_per_second=rate, per_day=per_day, clock=Clock(epoch=EPOCH))
