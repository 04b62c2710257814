"""``bookstrack.server.RuntimeTuning``: what ``bookstrack serve`` sets process-wide once it is up."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from bookstrack.server import SERVER_TUNING, RuntimeTuning


@pytest.fixture
def restored() -> Iterator[None]:
    """Every setting the tuning touches, put back afterwards (they are process-wide)."""
    thresholds, interval, enabled = gc.get_threshold(), sys.getswitchinterval(), gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)
        if enabled:
            gc.enable()


def test_server_tuning_keeps_the_collector_on_with_raised_thresholds() -> None:
    young, middle, old = SERVER_TUNING.gc_thresholds or (0, 0, 0)
    assert young > 700  # rarer than CPython's defaults (700, 10, 10), never 0 (that turns it off)
    assert middle >= 10
    assert old >= 10
    assert SERVER_TUNING.freeze_gc
    assert (SERVER_TUNING.switch_interval or 1.0) < 0.005


def test_apply_sets_thresholds_switch_interval_and_freezes(restored: None) -> None:
    alive = [object() for _ in range(10)]  # noqa: F841 - something alive to be frozen
    RuntimeTuning(freeze_gc=True, gc_thresholds=(12_345, 11, 12), switch_interval=0.001).apply()
    assert gc.get_threshold() == (12_345, 11, 12)
    assert sys.getswitchinterval() == pytest.approx(0.001)
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()


def test_nothing_is_changed_by_an_empty_tuning(restored: None) -> None:
    gc.unfreeze()
    before = gc.get_threshold(), sys.getswitchinterval()
    RuntimeTuning(freeze_gc=False, gc_thresholds=None, switch_interval=None).apply()
    assert (gc.get_threshold(), sys.getswitchinterval()) == before
    assert gc.get_freeze_count() == 0
