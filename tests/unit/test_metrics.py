"""The per-app metrics registry: private to each ``Metrics``, idempotent by name, Prometheus text out."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bookstrack.metrics import CONTENT_TYPE, Metrics


def test_two_instances_do_not_share_values():
    a, b = Metrics(), Metrics()
    a.counter("jobs_total", "Jobs.", ["pipeline"]).labels("csv_import").inc(3)
    b.counter("jobs_total", "Jobs.", ["pipeline"]).labels("csv_import").inc()
    assert a.value("jobs_total", {"pipeline": "csv_import"}) == 3
    assert b.value("jobs_total", {"pipeline": "csv_import"}) == 1
    assert b"jobs_total" not in Metrics().render()


def test_nothing_reaches_the_global_registry():
    Metrics().counter("bookstrack_private_total", "Private.").inc()
    assert REGISTRY.get_sample_value("bookstrack_private_total") is None


def test_the_same_name_returns_the_same_instrument():
    metrics = Metrics()
    first = metrics.counter("hits_total", "Hits.", ["tier"])
    second = metrics.counter("hits_total", "Hits (asked again).", ["tier"])
    assert first is second
    first.labels("memory").inc()
    second.labels("memory").inc()
    assert metrics.value("hits_total", {"tier": "memory"}) == 2
    assert metrics.gauge("depth", "Depth.") is metrics.gauge("depth", "Depth.")
    assert metrics.histogram("lat_seconds", "Latency.") is metrics.histogram("lat_seconds", "Latency.")


def test_a_name_reused_for_another_kind_or_labels_is_an_error():
    metrics = Metrics()
    metrics.counter("thing", "A thing.", ["a"])
    with pytest.raises(ValueError, match="thing"):
        metrics.gauge("thing", "A thing.", ["a"])
    with pytest.raises(ValueError, match="thing"):
        metrics.counter("thing", "A thing.", ["b"])


def test_render_is_prometheus_text():
    metrics = Metrics()
    metrics.counter("requests_total", "Requests.", ["route", "status"]).labels("/health", "200").inc(2)
    metrics.gauge("subscribers", "WebSocket subscribers.").set(5)
    histogram = metrics.histogram("latency_seconds", "Latency.", ["route"], buckets=(0.01, 0.1, 1.0))
    histogram.labels("/health").observe(0.05)
    histogram.labels("/health").observe(0.5)
    text = metrics.render().decode()
    assert "# HELP requests_total Requests." in text
    assert "# TYPE requests_total counter" in text
    assert 'requests_total{route="/health",status="200"} 2.0' in text
    assert "subscribers 5.0" in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["requests"].type == "counter"
    assert families["subscribers"].type == "gauge"
    assert families["latency_seconds"].type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in families["latency_seconds"].samples}
    assert samples[("latency_seconds_bucket", "0.01")] == 0
    assert samples[("latency_seconds_bucket", "0.1")] == 1
    assert samples[("latency_seconds_bucket", "+Inf")] == 2
    assert samples[("latency_seconds_count", None)] == 2
    assert CONTENT_TYPE.startswith("text/plain")


def test_value_of_an_unknown_sample_is_none():
    assert Metrics().value("nope_total") is None
