"""Alerts: thresholds on the real metrics registry, at most one alert per kind per period, queue checks n/a
without a queue. Time is a MockClock moved by jumps."""

from __future__ import annotations

import logging

from actors import Clock, SqliteExecutor
from bookstrack.config import AlertsConfig
from bookstrack.metrics import Metrics
from bookstrack.providers.metrics import ProviderMetrics
from bookstrack.store.database import open_database
from bookstrack.tasks.alerts import AlertMonitor, QueueFigures

EPOCH = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def requests(metrics: Metrics, ok: int, failed: int) -> None:
    counter = metrics.counter(
        "bookstrack_http_requests_total", "HTTP requests by route template, method and status.",
        ["route", "method", "status"],
    )
    counter.labels("/v1/search/isbn", "GET", "200").inc(ok)
    counter.labels("/v1/search/isbn", "GET", "500").inc(failed)


def states(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {check.kind: check.state for check in report.checks}


async def test_the_error_rate_alert_fires_once_per_period(mock_clock, caplog):
    metrics, clock = Metrics(), Clock(epoch=EPOCH)
    monitor = AlertMonitor(AlertsConfig(period=3600.0), metrics, clock)
    requests(metrics, ok=90, failed=10)
    caplog.set_level(logging.WARNING, logger="bookstrack.tasks.alerts")
    report = await monitor.evaluate()
    assert [a.kind for a in report.raised] == ["error_rate"]
    alert = report.raised[0]
    assert (alert.severity, alert.value, alert.threshold) == ("critical", 0.1, 0.05)
    assert alert.message == "10 of 100 requests answered 5xx"
    assert alert.raised_at == "2024-01-01T00:00:00.000Z"
    assert "alert error_rate (critical): 10 of 100 requests answered 5xx" in caplog.text

    mock_clock.jump(900)
    requests(metrics, ok=50, failed=50)
    report = await monitor.evaluate()
    assert report.raised == []
    assert states(report)["error_rate"] == "suppressed"

    mock_clock.jump(2700)  # one period after the first alert
    requests(metrics, ok=50, failed=50)
    report = await monitor.evaluate()
    assert [a.kind for a in report.raised] == ["error_rate"]
    assert [a.raised_at for a in monitor.recent()] == ["2024-01-01T01:00:00.000Z", "2024-01-01T00:00:00.000Z"]


async def test_rates_cover_the_interval_since_the_last_check_and_need_enough_requests(mock_clock):
    metrics, clock = Metrics(), Clock(epoch=EPOCH)
    monitor = AlertMonitor(AlertsConfig(min_requests=20), metrics, clock)
    requests(metrics, ok=0, failed=5)  # 100 % of 5 requests: too few to judge
    report = await monitor.evaluate()
    assert states(report)["error_rate"] == "n/a"
    requests(metrics, ok=100, failed=0)  # the earlier failures are not counted again
    report = await monitor.evaluate()
    assert states(report)["error_rate"] == "ok"
    assert report.raised == []


async def test_provider_failures_alert_per_provider_and_missing_keys_do_not_count(mock_clock):
    metrics, clock = Metrics(), Clock(epoch=EPOCH)
    monitor = AlertMonitor(AlertsConfig(provider_failure_rate=0.25, min_provider_calls=10), metrics, clock)
    google, isbndb = ProviderMetrics(metrics, "google_books"), ProviderMetrics(metrics, "isbndb")
    for _ in range(6):
        google.call("ok")
    for _ in range(4):
        google.call("error")
        google.error("timeout")
    for _ in range(50):  # isbndb without a key: every call "fails" as unconfigured
        isbndb.call("error")
        isbndb.error("unconfigured")
    report = await monitor.evaluate()
    assert [a.kind for a in report.raised] == ["provider_failure_rate:google_books"]
    assert report.raised[0].message == "google_books: 4 of 10 calls failed"
    assert states(report)["provider_failure_rate:isbndb"] == "n/a"


async def test_queue_checks_are_na_without_a_queue_and_read_the_queue_when_there_is_one(mock_clock):
    metrics, clock = Metrics(), Clock(epoch=EPOCH)
    monitor = AlertMonitor(AlertsConfig(queue_depth=100, dead_letters=1), metrics, clock)
    report = await monitor.evaluate()
    assert states(report)["queue_depth"] == "n/a"
    assert states(report)["dead_letters"] == "n/a"

    async def figures() -> QueueFigures:
        return QueueFigures(depth=150, dead_letters=2)

    monitor.queue_stats = figures
    report = await monitor.evaluate()
    assert sorted(a.kind for a in report.raised) == ["dead_letters", "queue_depth"]
    assert {a.kind: a.value for a in report.raised} == {"dead_letters": 2.0, "queue_depth": 150.0}


async def test_a_failing_queue_reading_is_na_not_a_crash(mock_clock):
    async def broken() -> QueueFigures:
        raise RuntimeError("database is locked")

    monitor = AlertMonitor(AlertsConfig(), Metrics(), Clock(epoch=EPOCH), queue_stats=broken)
    report = await monitor.evaluate()
    assert states(report)["dead_letters"] == "n/a"


async def test_alerts_are_recorded_and_the_period_survives_a_restart(tmp_path):
    # Real trio clock: this test waits on the SQLite thread (no MockClock needed: no time passes).
    executor = SqliteExecutor(str(tmp_path / "db.sqlite3"))
    try:
        await open_database(executor, now=EPOCH)
        metrics = Metrics()
        requests(metrics, ok=0, failed=100)
        first = AlertMonitor(AlertsConfig(), metrics, Clock(epoch=EPOCH), database=executor)
        await first.load()
        assert [a.kind for a in (await first.evaluate()).raised] == ["error_rate"]

        again = AlertMonitor(AlertsConfig(), metrics, Clock(epoch=EPOCH + 60), database=executor)
        await again.load()
        assert [a.kind for a in again.recent()] == ["error_rate"]
        report = await again.evaluate()  # counters since this monitor's start: 100 % errors again
        assert report.raised == []
        assert states(report)["error_rate"] == "suppressed"
        rows = await executor.read(lambda conn: conn.execute("SELECT kind, severity FROM alerts").fetchall())
        assert rows == [("error_rate", "critical")]
    finally:
        await executor.close()
