"""The one injected clock: monotonic and wall time from the same source.

Owns the conversion between trio's clock (deadlines, sleeps, passivation) and epoch seconds (token expiry,
alarms, ISO timestamps). Both readings derive from ``trio.current_time()``, so a test that advances a
``trio.testing.MockClock`` moves wall time with it. Nothing in the project calls ``time.time()`` for
domain time; it asks a ``Clock``.
"""

from __future__ import annotations

import datetime as _dt
import time

import trio

__all__ = ["Clock", "iso_utc"]


class Clock:
    """Monotonic and wall time, moving together.

    ``wall()`` is ``epoch_at_start + (trio.current_time() - mono_at_start)``: it never jumps when the
    host's clock is adjusted while the process runs, and under ``MockClock`` it is fully virtual.
    """

    def __init__(self, *, epoch: float | None = None) -> None:
        # Captured lazily on first use so a Clock can be built outside trio.run.
        self._epoch = epoch
        self._mono0: float | None = None

    def _anchor(self) -> float:
        if self._mono0 is None:
            self._mono0 = trio.current_time()
            if self._epoch is None:
                self._epoch = time.time()
        return self._mono0

    def monotonic(self) -> float:
        """Seconds on trio's clock (the unit of deadlines and ``trio.sleep_until``)."""
        return trio.current_time()

    def wall(self) -> float:
        """Epoch seconds (UTC)."""
        mono0 = self._anchor()
        assert self._epoch is not None
        return self._epoch + (trio.current_time() - mono0)

    def deadline_for(self, wall_at: float) -> float:
        """The trio deadline at which ``wall()`` will read ``wall_at``."""
        return self.monotonic() + (wall_at - self.wall())

    def iso(self) -> str:
        """Now as ISO-8601 UTC with milliseconds and a ``Z`` (the wire format of timestamps)."""
        return iso_utc(self.wall())




def iso_utc(epoch: float) -> str:
    """Format epoch seconds as ``2025-11-15T20:00:00.000Z``."""
    moment = _dt.datetime.fromtimestamp(epoch, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
