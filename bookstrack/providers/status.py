"""A provider's health as ``GET /health`` reports it: "ok", "unconfigured" or "degraded".

Owns the rule: a provider without its API key is "unconfigured"; one whose last ``FAILURES_TO_DEGRADE``
calls all failed (the provider's fault: timeouts, 5xx, 429, unreadable answers, refused connections — not
our own budget refusals) is "degraded" until a call succeeds, or until ``FORGET_AFTER`` seconds pass
without a new failure (no calls means no news, and old news fades). ``probe`` is what
``HealthMonitor.set_provider_probe`` takes: a cheap synchronous read, never a request.
"""

from __future__ import annotations

from typing import Literal

from actors import Clock
from bookstrack.errors import ProviderError

__all__ = ["ProviderStatus", "FAILURES_TO_DEGRADE", "FORGET_AFTER"]

FAILURES_TO_DEGRADE = 3
FORGET_AFTER = 300.0  # seconds

# Failures that are ours, not the provider's: they say nothing about its health.
_NOT_THE_PROVIDERS_FAULT = frozenset({"budget", "unconfigured"})


class ProviderStatus:
    def __init__(self, provider: str, clock: Clock, *, configured: bool = True) -> None:
        self.provider = provider
        self.configured = configured
        self._clock = clock
        self.consecutive_failures = 0
        self._last_failure_at = float("-inf")

    def succeeded(self) -> None:
        self.consecutive_failures = 0

    def failed(self, error: ProviderError) -> None:
        if error.reason in _NOT_THE_PROVIDERS_FAULT:
            return
        self.consecutive_failures += 1
        self._last_failure_at = self._clock.monotonic()

    def probe(self) -> Literal["ok", "unconfigured", "degraded"]:
        if not self.configured:
            return "unconfigured"
        if (
            self.consecutive_failures >= FAILURES_TO_DEGRADE
            and self._clock.monotonic() - self._last_failure_at < FORGET_AFTER
        ):
            return "degraded"
        return "ok"
