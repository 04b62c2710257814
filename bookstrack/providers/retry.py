"""When to try a provider again: exponential backoff with jitter, and reading ``Retry-After``.

Owns the arithmetic only (pure functions of their inputs and an injected ``random.Random``); the loop that
sleeps and retries is ``upstream.py``, and the sleeping is on trio's clock there, so tests drive it with
``MockClock``.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
from dataclasses import dataclass

__all__ = ["Backoff", "parse_retry_after", "MAX_RETRY_AFTER"]

# A provider asking us to stay away for longer than a day is taken at its word for a day: a bad header must
# not park a provider for ever (the next day's first call finds out whether it still means it).
MAX_RETRY_AFTER = 86_400.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt ``n`` (1-based, the attempt that just failed) waits
    ``d/2 + uniform(0, d/2)`` where ``d = min(cap, base * 2**(n-1))``.

    Half the delay is kept so that retries never bunch up at zero; the other half is random so that many
    callers that failed together do not come back together.
    """

    base: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        if attempt < 1:
            raise ValueError("attempt must be >= 1")
        ceiling = min(self.cap, self.base * 2 ** min(attempt - 1, 60))
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.

    ``now_wall`` is epoch seconds (the injected clock's wall time), used for the date form. Returns
    ``None`` when the header is absent or unreadable, ``0.0`` for a date in the past, and at most
    ``MAX_RETRY_AFTER``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if not text.isascii():  # float() would read "٣" as 3: a header is ASCII or unreadable
        return None
    if text.isdigit():
        seconds = float(int(text))
    else:
        try:
            seconds = float(text)  # not in the RFC, but some servers send "1.5"
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            if moment.tzinfo is None:  # an HTTP-date is always GMT; "-0000" (zone unknown) is read that way
                moment = moment.replace(tzinfo=datetime.UTC)
            seconds = moment.timestamp() - now_wall
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
