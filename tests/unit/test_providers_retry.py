"""Backoff with jitter and Retry-After parsing (delay-seconds and HTTP-date)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookstrack.providers.retry import MAX_RETRY_AFTER, Backoff, parse_retry_after

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


def test_backoff_grows_exponentially_with_equal_jitter_and_a_cap():
    backoff = Backoff(base=0.5, cap=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (60, 8.0), (500, 8.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, not constant


def test_backoff_is_reproducible_from_the_rng():
    assert [Backoff().delay(3, random.Random(5)) for _ in range(3)] == [Backoff().delay(3, random.Random(5))] * 3


def test_backoff_refuses_attempt_zero():
    with pytest.raises(ValueError, match=r"^attempt must be >= 1$"):
        Backoff().delay(0, random.Random())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Tue, 14 Nov 2023 22:13:25 GMT", 5.0),  # HTTP-date, 5 s ahead
        ("Tue, 14 Nov 2023 22:13:25 -0000", 5.0),  # zone "unknown": read as GMT
        ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),  # in the past: no wait
        ("99999999", MAX_RETRY_AFTER),  # capped at a day
        ("-3", 0.0),
    ],
)
def test_retry_after_forms(header, expected):
    assert parse_retry_after(header, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("header", [None, "", "  ", "soon", "nan", "inf", "Tue, 99 Nov 2023 99:00:00 GMT", "٣"])
def test_unreadable_retry_after_is_none(header):
    assert parse_retry_after(header, NOW) is None


@given(st.text())
def test_retry_after_never_raises(header):
    seconds = parse_retry_after(header, NOW)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER
