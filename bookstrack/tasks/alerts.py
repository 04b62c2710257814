"""Alerts: thresholds evaluated on the real metrics registry, recorded at most once per period per kind.

Owns the four checks of ``[alerts]`` (reference §10.3, with real figures instead of the original's zeros):

- ``error_rate``: share of HTTP requests answered 5xx (``bookstrack_http_requests_total``);
- ``provider_failure_rate:<provider>``: share of a provider's calls that failed
  (``bookstrack_provider_calls_total`` / ``…_errors_total``), calls refused for a missing key not counted;
- ``queue_depth`` and ``dead_letters``: from the injected ``queue_stats`` callable; without one (no queue
  in this process) those checks read "n/a".

Rates are over the interval since the previous evaluation (counters are cumulative; the first evaluation
covers the time since start-up), and need ``min_requests`` / ``min_provider_calls`` in the interval so
that one failed request on a quiet night is not a 100 % error rate. An alert that fires is logged as one
WARNING line and recorded (table ``alerts``, migration 5) unless the same kind was recorded less than
``period`` seconds ago. ``recent()`` serves the dashboard from memory.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from actors import Clock, SqliteExecutor
from actors.clock import iso_utc
from bookstrack.config import AlertsConfig
from bookstrack.metrics import Metrics

__all__ = ["Alert", "AlertCheck", "AlertMonitor", "AlertReport", "QueueFigures", "QueueStats", "read_counters"]

log = logging.getLogger("bookstrack.tasks.alerts")

Severity = Literal["critical", "warning"]
CheckState = Literal["ok", "alert", "suppressed", "n/a"]


class QueueFigures(msgspec.Struct, frozen=True):
    """What the alerts need of the durable queues: messages waiting, and dead letters (all queues)."""

    depth: int
    dead_letters: int


QueueStats = Callable[[], Awaitable[QueueFigures | None]]


class Alert(msgspec.Struct, kw_only=True, rename="camel"):
    kind: str
    severity: Severity
    value: float
    threshold: float
    message: str
    raised_at: str  # ISO-8601 UTC


class AlertCheck(msgspec.Struct, kw_only=True):
    kind: str
    state: CheckState
    value: float | None = None
    threshold: float | None = None


class AlertReport(msgspec.Struct, kw_only=True):
    checks: list[AlertCheck]
    raised: list[Alert]


class Counters(msgspec.Struct, kw_only=True):
    """Cumulative counter totals at one moment (what a rate is computed from)."""

    requests: float = 0.0
    server_errors: float = 0.0
    provider_calls: dict[str, float] = msgspec.field(default_factory=dict)
    provider_failures: dict[str, float] = msgspec.field(default_factory=dict)


def read_counters(metrics: Metrics) -> Counters:
    """Sum the request and provider counters of ``metrics`` as they stand."""
    out = Counters()
    unconfigured: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "bookstrack_http_requests_total":
                out.requests += sample.value
                if str(sample.labels.get("status", "")).startswith("5"):
                    out.server_errors += sample.value
            elif sample.name == "bookstrack_provider_calls_total":
                provider = sample.labels["provider"]
                out.provider_calls[provider] = out.provider_calls.get(provider, 0.0) + sample.value
                if sample.labels.get("outcome") == "error":
                    out.provider_failures[provider] = out.provider_failures.get(provider, 0.0) + sample.value
            elif sample.name == "bookstrack_provider_errors_total" and sample.labels.get("reason") == "unconfigured":
                provider = sample.labels["provider"]
                unconfigured[provider] = unconfigured.get(provider, 0.0) + sample.value
    for provider, count in unconfigured.items():  # a provider without a key is skipped, not failing
        out.provider_calls[provider] = out.provider_calls.get(provider, 0.0) - count
        out.provider_failures[provider] = out.provider_failures.get(provider, 0.0) - count
    return out


class AlertMonitor:
    def __init__(
        self,
        config: AlertsConfig,
        metrics: Metrics,
        clock: Clock,
        *,
        database: SqliteExecutor | None = None,
        queue_stats: QueueStats | None = None,
    ) -> None:
        self.config = config
        self._metrics = metrics
        self._clock = clock
        self._database = database
        self.queue_stats = queue_stats
        self._previous = Counters()
        self._last_raised: dict[str, float] = {}
        self._recent: deque[Alert] = deque(maxlen=config.recent)
        self.evaluations = 0

    async def load(self) -> None:
        """Read the last time each kind was raised and the most recent alerts (call once at start)."""
        if self._database is None:
            return
        limit = self.config.recent

        def read(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            last = conn.execute("SELECT kind, max(raised_at) FROM alerts GROUP BY kind").fetchall()
            rows = conn.execute(
                "SELECT kind, severity, value, threshold, message, raised_at FROM alerts ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return last, rows

        last, rows = await self._database.read(read)
        self._last_raised = {kind: float(at) for kind, at in last}
        for kind, severity, value, threshold, message, at in reversed(rows):
            self._recent.append(Alert(kind=kind, severity=severity, value=value, threshold=threshold,
                                      message=message, raised_at=iso_utc(at)))

    def recent(self, limit: int | None = None) -> list[Alert]:
        """The alerts recorded lately, newest first."""
        alerts = list(reversed(self._recent))
        return alerts if limit is None else alerts[:limit]

    async def evaluate(self) -> AlertReport:
        """Check every threshold once; record (and log) the alerts that fire and are not suppressed."""
        self.evaluations += 1
        now_counters = read_counters(self._metrics)
        previous, self._previous = self._previous, now_counters
        cfg = self.config
        checks: list[AlertCheck] = []
        firing: list[tuple[str, Severity, float, float, str]] = []

        def check(kind: str, value: float | None, threshold: float, severity: Severity, message: str) -> None:
            if value is None:
                checks.append(AlertCheck(kind=kind, state="n/a", threshold=threshold))
                return
            fired = value >= threshold if kind in {"queue_depth", "dead_letters"} else value > threshold
            checks.append(AlertCheck(kind=kind, state="alert" if fired else "ok", value=value, threshold=threshold))
            if fired:
                firing.append((kind, severity, value, threshold, message))

        requests = now_counters.requests - previous.requests
        errors = now_counters.server_errors - previous.server_errors
        rate = errors / requests if requests >= max(cfg.min_requests, 1) else None
        check("error_rate", rate, cfg.error_rate, "critical",
              f"{errors:.0f} of {requests:.0f} requests answered 5xx")
        for provider in sorted(now_counters.provider_calls):
            calls = now_counters.provider_calls[provider] - previous.provider_calls.get(provider, 0.0)
            failed = now_counters.provider_failures.get(provider, 0.0) - previous.provider_failures.get(provider, 0.0)
            share = failed / calls if calls >= max(cfg.min_provider_calls, 1) else None
            check(f"provider_failure_rate:{provider}", share, cfg.provider_failure_rate, "warning",
                  f"{provider}: {failed:.0f} of {calls:.0f} calls failed")
        figures = await self._queue_figures()
        if cfg.queue_depth:
            check("queue_depth", None if figures is None else float(figures.depth), float(cfg.queue_depth),
                  "warning", f"{figures.depth if figures else 0} queued messages")
        if cfg.dead_letters:
            check("dead_letters", None if figures is None else float(figures.dead_letters), float(cfg.dead_letters),
                  "warning", f"{figures.dead_letters if figures else 0} dead letters")

        raised: list[Alert] = []
        now = self._clock.wall()
        for kind, severity, value, threshold, message in firing:
            last = self._last_raised.get(kind)
            if last is not None and now - last < cfg.period:
                next(c for c in checks if c.kind == kind).state = "suppressed"
                continue
            alert = Alert(kind=kind, severity=severity, value=round(value, 6), threshold=threshold,
                          message=message, raised_at=iso_utc(now))
            await self._record(alert, now)
            raised.append(alert)
        return AlertReport(checks=checks, raised=raised)

    async def _queue_figures(self) -> QueueFigures | None:
        if self.queue_stats is None:
            return None
        try:
            return await self.queue_stats()
        except Exception:
            log.exception("alerts: reading the queue figures failed; queue checks are n/a")
            return None

    async def _record(self, alert: Alert, now: float) -> None:
        log.warning("alert %s (%s): %s (value %g, threshold %g)", alert.kind, alert.severity, alert.message,
                    alert.value, alert.threshold)
        if self._database is not None:
            row = (alert.kind, alert.severity, alert.value, alert.threshold, alert.message, now)

            def write(conn: sqlite3.Connection) -> None:
                conn.execute(
                    "INSERT INTO alerts (kind, severity, value, threshold, message, raised_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", row,
                )

            await self._database.write(write)
        self._last_raised[alert.kind] = now
        self._recent.append(alert)
