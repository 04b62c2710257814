"""RateLimitBucket: the GCRA decision as a pure function, and the actor that serialises it."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.rate_limit import Check, Decision, RateLimitBucket, decide
from actors.testing import EPOCH, memory_system

TEN_A_MINUTE = Check(limit=10, window=60.0, policy="search")


def burst(tat: float, now: float, check: Check, n: int) -> tuple[float, list[Decision]]:
    decisions = []
    for _ in range(n):
        tat, decision = decide(tat, now, check)
        decisions.append(decision)
    return tat, decisions


def test_ten_a_minute_lets_ten_pass_then_denies_with_retry_after():
    now = EPOCH
    tat, decisions = burst(0.0, now, TEN_A_MINUTE, 11)

    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert [d.remaining for d in decisions] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
    assert [d.retry_after for d in decisions] == [0] * 10 + [6]
    assert decisions[0].reset_at == now + 6
    assert decisions[9].reset_at == now + 60
    assert decisions[10].reset_at == now + 60  # a denied request does not push the reset back
    assert {(d.limit, d.window, d.policy) for d in decisions} == {(10, 60.0, "search")}
    assert tat == now + 60


def test_allowance_refills_one_request_per_step():
    now = EPOCH
    tat, _ = burst(0.0, now, TEN_A_MINUTE, 10)

    tat, early = decide(tat, now + 5, TEN_A_MINUTE)
    assert not early.allowed
    assert early.retry_after == 1

    tat, one = decide(tat, now + 6, TEN_A_MINUTE)
    assert one.allowed
    assert one.remaining == 0
    tat, again = decide(tat, now + 6, TEN_A_MINUTE)
    assert not again.allowed
    assert again.retry_after == 6


def test_after_a_whole_window_the_full_allowance_is_back():
    now = EPOCH
    tat, _ = burst(0.0, now, TEN_A_MINUTE, 12)
    tat, decisions = burst(tat, now + 60, TEN_A_MINUTE, 11)
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert decisions[0].remaining == 9
    assert decisions[0].reset_at == now + 66


@pytest.mark.parametrize(("limit", "window"), [(0, 60.0), (10, 0.0), (10, -1.0)])
def test_a_limit_needs_a_positive_limit_and_window(limit, window):
    with pytest.raises(ValueError, match="limit >= 1 and window > 0"):
        decide(0.0, EPOCH, Check(limit=limit, window=window))


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=1000),
    window=st.floats(min_value=0.5, max_value=3600.0),
    now=st.one_of(st.just(EPOCH), st.floats(min_value=0.0, max_value=2_000_000_000.0)),
)
def test_a_burst_at_one_instant_lets_exactly_limit_pass(limit, window, now):
    check = Check(limit=limit, window=window)
    _, decisions = burst(0.0, now, check, limit + 2)
    assert [d.allowed for d in decisions] == [True] * limit + [False, False]
    assert [d.remaining for d in decisions] == [*range(limit - 1, -1, -1), 0, 0]
    assert all(d.retry_after >= 1 for d in decisions[limit:])


# -- the actor -------------------------------------------------------------------------------------------


async def test_concurrent_requests_through_the_actor_let_exactly_the_limit_pass(autojump_clock):
    async with memory_system(RateLimitBucket) as system:
        ref = system.ref(RateLimitBucket, "search|203.0.113.7")
        decisions: list[Decision] = []

        async def one() -> None:
            decisions.append(await ref.ask(TEN_A_MINUTE))

        async with trio.open_nursery() as nursery:
            for _ in range(100):
                nursery.start_soon(one)

        assert sum(d.allowed for d in decisions) == 10
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
        assert {d.retry_after for d in decisions if not d.allowed} == {6}

        other = await system.ref(RateLimitBucket, "search|198.51.100.1").ask(TEN_A_MINUTE)
        assert other.allowed  # one key's limit is not another's


async def test_bucket_is_kept_until_its_window_has_passed(autojump_clock):
    async with memory_system(RateLimitBucket, idle_timeout=1) as system:
        ref = system.ref(RateLimitBucket, "k")
        for _ in range(11):
            await ref.ask(TEN_A_MINUTE)

        await trio.sleep(59)
        assert system.is_live(RateLimitBucket, "k")  # passivating now would forgive the limit early

        await trio.sleep(2)
        assert not system.is_live(RateLimitBucket, "k")
        decision = await ref.ask(TEN_A_MINUTE)
        assert decision.allowed
        assert decision.remaining == 9  # after a whole window the allowance is full anyway


async def test_many_distinct_clients_cost_memory_only_for_one_window(autojump_clock):
    async with memory_system(RateLimitBucket, idle_timeout=1) as system:
        for round_ in range(3):
            async with trio.open_nursery() as nursery:
                for i in range(5_000):
                    nursery.start_soon(system.ref(RateLimitBucket, f"default|10.{round_}.{i // 256}.{i % 256}").ask,
                                       TEN_A_MINUTE)
            assert system.live == 5_000  # one bucket per client seen within the window ...
            await trio.sleep(61)
            assert system.live == 0  # ... and none once it has passed: 15,000 clients never cost 15,000 buckets
