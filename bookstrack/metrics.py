"""The per-app metrics registry: counters, gauges and histograms with labels, and their exposition.

Each app owns one ``Metrics`` (a private ``prometheus_client.CollectorRegistry``), so two apps in one
test process never share a number; nothing here touches prometheus_client's global registry.
Instruments are created idempotently by name, so a component asks for the instrument it needs
without coordinating with others. Exposition (Prometheus text) is ``render()``; the operations issue
serves it on ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "CONTENT_TYPE"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Latency buckets in seconds: sub-millisecond (cache hits) to tens of seconds (upstream timeouts).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._instruments: dict[str, Any] = {}

    def _get(self, kind: type, name: str, doc: str, labels: Sequence[str], **kwargs: Any) -> Any:
        existing = self._instruments.get(name)
        if existing is not None:
            if not isinstance(existing, kind) or tuple(existing._labelnames) != tuple(labels):
                raise ValueError(f"metric {name!r} already exists as a different instrument or with other labels")
            return existing
        instrument = kind(name, doc, labelnames=tuple(labels), registry=self.registry, **kwargs)
        self._instruments[name] = instrument
        return instrument

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return self._get(Counter, name, doc, labels)

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return self._get(Gauge, name, doc, labels)

    def histogram(
        self, name: str, doc: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> Histogram:
        return self._get(Histogram, name, doc, labels, buckets=tuple(buckets))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (``name`` as exposed, e.g. ``x_total``), for tests and dashboards."""
        return self.registry.get_sample_value(name, labels or {})

    def samples(self, family: str) -> Iterator[tuple[str, dict[str, str], float]]:
        """Every sample of one metric family (``name`` without ``_total``/``_bucket``): name, labels, value."""
        for metric in self.registry.collect():
            if metric.name == family:
                for sample in metric.samples:
                    yield sample.name, sample.labels, sample.value

    def set_gauges(self, name: str, doc: str, labels: Sequence[str], values: Mapping[tuple[str, ...], float]) -> None:
        """Set a labelled gauge to exactly ``values`` (label values -> value), dropping label sets no longer
        present: for figures read from a component at scrape time (queue depth, dead letters)."""
        gauge = self.gauge(name, doc, labels)
        for key in set(gauge._metrics) - set(values):  # type: ignore[attr-defined]
            gauge.remove(*key)
        for key, value in values.items():
            gauge.labels(*key).set(value)

    def render(self) -> bytes:
        """Prometheus text exposition of every instrument."""
        return generate_latest(self.registry)
