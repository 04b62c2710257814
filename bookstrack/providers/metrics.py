"""The providers' instruments in the app's ``Metrics`` registry, one set shared by every provider.

Owns the names and labels (all labelled by ``provider``):

- ``bookstrack_provider_calls_total{outcome}``: calls made upstream (after single-flight), by outcome
  ``ok`` / ``not_found`` / ``error``;
- ``bookstrack_provider_errors_total{reason}``: failed calls by ``ProviderError`` reason (``budget``,
  ``timeout``, ``http_5xx`` …), including the calls refused before reaching the provider;
- ``bookstrack_provider_requests_total{status}``: HTTP requests sent (every attempt and redirect hop) by
  status code, ``error`` when no response came;
- ``bookstrack_provider_request_duration_seconds``: latency of each HTTP request;
- ``bookstrack_provider_budget_wait_seconds``: time callers waited for a budget slot (granted ones);
- ``bookstrack_provider_coalesced_total``: callers that shared a call already in flight;
- ``bookstrack_provider_budget_used_today``: slots of the current UTC day taken so far.
"""

from __future__ import annotations

from typing import Any

from bookstrack.metrics import Metrics

__all__ = ["ProviderMetrics"]

# Budget waits run from nothing to the longest budget_wait a deployment would configure.
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


class ProviderMetrics:
    """One provider's view of the shared instruments (children cached: ``labels()`` costs microseconds)."""

    def __init__(self, metrics: Metrics, provider: str) -> None:
        self.provider = provider
        self._calls = metrics.counter(
            "bookstrack_provider_calls_total", "Upstream provider calls by outcome.", ["provider", "outcome"]
        )
        self._errors = metrics.counter(
            "bookstrack_provider_errors_total", "Failed provider calls by reason.", ["provider", "reason"]
        )
        self._requests = metrics.counter(
            "bookstrack_provider_requests_total", "HTTP requests sent to a provider by status.",
            ["provider", "status"],
        )
        self._latency = metrics.histogram(
            "bookstrack_provider_request_duration_seconds", "Latency of one HTTP request to a provider.",
            ["provider"],
        ).labels(provider)
        self._wait = metrics.histogram(
            "bookstrack_provider_budget_wait_seconds", "Time a call waited for a provider budget slot.",
            ["provider"], buckets=WAIT_BUCKETS,
        ).labels(provider)
        self._coalesced = metrics.counter(
            "bookstrack_provider_coalesced_total", "Callers that shared a provider call already in flight.",
            ["provider"],
        ).labels(provider)
        self._used_today = metrics.gauge(
            "bookstrack_provider_budget_used_today", "Budget slots of a provider taken in the current UTC day.",
            ["provider"],
        ).labels(provider)
        self._children: dict[tuple[str, str], Any] = {}

    def _child(self, kind: str, value: str) -> Any:
        key = (kind, value)
        child = self._children.get(key)
        if child is None:
            instrument = {"calls": self._calls, "errors": self._errors, "requests": self._requests}[kind]
            child = instrument.labels(self.provider, value)
            self._children[key] = child
        return child

    def call(self, outcome: str) -> None:
        self._child("calls", outcome).inc()

    def error(self, reason: str) -> None:
        self._child("errors", reason).inc()

    def request(self, status: int | None, seconds: float) -> None:
        self._child("requests", "error" if status is None else str(status)).inc()
        self._latency.observe(seconds)

    def budget_wait(self, seconds: float, used_today: int) -> None:
        self._wait.observe(seconds)
        self._used_today.set(used_today)

    def coalesced(self) -> None:
        self._coalesced.inc()
