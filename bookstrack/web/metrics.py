"""``GET /metrics`` and ``GET /api/cache/metrics`` (API.md §6, reference §3.12): real figures, not placeholders.

Owns the scrape: Prometheus text exposition of the app's own registry by default, the reference's JSON
shape with ``format=json`` (hit rates per tier, volume, latency, costs, health with issues), and the
figures a scrape reads from components rather than counting as they go (queue depth and dead letters,
from ``services.queues.stats()`` when a queue exists). ``OpsReport`` is also what the admin dashboard
shows, so both pages agree by construction.

``period`` is accepted and echoed (``15m``, ``1h``, ``24h``, ``7d``; anything else is echoed too, as the
original did) but every figure is cumulative since the process started: Prometheus computes windows from
successive scrapes (``rate(x[1h])``), and keeping rolling windows here would duplicate that. The answer
says so in ``window``. Neither route is admin-protected (API.md §8 does not list them).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import quart

from bookstrack.errors import InvalidParam
from bookstrack.metrics import CONTENT_TYPE
from bookstrack.web.current import services
from bookstrack.web.envelope import Family, raw
from bookstrack.web.routing import RouteTable

if TYPE_CHECKING:
    from bookstrack.app import Services
    from bookstrack.metrics import Metrics

__all__ = ["routes", "OpsReport", "collect_report", "refresh_scraped_gauges", "QueueFigures"]

log = logging.getLogger("bookstrack.web")

routes = RouteTable(tags=["operations"])

WINDOW = "since-start"  # what every figure covers: see the module docstring
PERIODS = ("15m", "1h", "24h", "7d")
COMBINED_TARGET = 0.95  # the original's targets (reference §3.12.2)
EDGE_TARGET = 0.80
ERROR_RATE_LIMIT = 0.05  # share of 5xx answers above which health is degraded
MIN_VOLUME = 100  # rate-based issues only once there is enough traffic to judge
KV_READ_USD = 0.5 / 1_000_000  # the original's cost formula (reference §3.12.2)
R2_READ_USD = 0.36 / 1_000_000
_ISSUES_KEY = "bookstrack.metrics.issues"  # app.extensions: issue key -> ISO time first seen


class MetricsQuery(msgspec.Struct):
    period: str = "1h"
    format: Literal["prometheus", "json"] = "prometheus"


class HitRates(msgspec.Struct):
    """Shares (0–1) of cache answers by where they came from; ``combined`` is every tier but the API."""

    edge: float
    kv: float
    r2_cold: float
    api: float
    combined: float


class Latency(msgspec.Struct):
    """HTTP request latency over every route, estimated from the histogram buckets (upper bounds, ms)."""

    count: int
    meanMs: int  # noqa: N815 - wire names
    p50Ms: int  # noqa: N815
    p95Ms: int  # noqa: N815
    p99Ms: int  # noqa: N815


class Volume(msgspec.Struct):
    total_requests: int  # cache answers
    edge_hits: int
    kv_hits: int
    r2_rehydrations: int
    api_misses: int


class Costs(msgspec.Struct):
    kv_reads_estimate: str
    r2_reads: str
    total_estimate: str


class Issue(msgspec.Struct):
    severity: Literal["warning", "critical"]
    message: str
    since: str


class Health(msgspec.Struct):
    status: Literal["healthy", "degraded"]
    issues: list[Issue]


class HttpFigures(msgspec.Struct):
    requests: int
    byStatus: dict[str, int]  # noqa: N815 - "2xx", "4xx", ...
    rateLimited: int  # noqa: N815


class ProviderFigures(msgspec.Struct):
    status: str  # the health check's word: ok, unconfigured, degraded
    calls: int
    errors: int


class JobFigures(msgspec.Struct):
    running: dict[str, int]
    started: dict[str, int]
    finished: dict[str, dict[str, int]]  # pipeline -> status -> count


class QueueFigures(msgspec.Struct):
    depth: int
    inFlight: int = 0  # noqa: N815
    deadLetters: int = 0  # noqa: N815


class OpsReport(msgspec.Struct):
    """``GET /metrics?format=json``: the reference's shape, plus our own sections."""

    timestamp: str
    period: str
    window: str
    hitRates: HitRates  # noqa: N815
    latency: Latency
    volume: Volume
    costs: Costs
    health: Health
    http: HttpFigures
    providers: dict[str, ProviderFigures]
    jobs: JobFigures
    subscribers: dict[str, int]
    queues: dict[str, QueueFigures]


class CacheMetrics(msgspec.Struct):
    """``GET /api/cache/metrics``: the tiered cache's own counters (``TieredCache.stats()``)."""

    timestamp: str
    period: str
    window: str
    running: bool
    stats: dict[str, Any]


# -- figures read at scrape time -------------------------------------------------------------------


def _field(item: Any, *names: str) -> Any:
    for name in names:
        value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        if value is not None:
            return value
    return None


async def queue_figures(svc: Services) -> dict[str, QueueFigures]:
    """Depth, in-flight and dead letters per queue from ``services.queues.stats()`` (sync or async; a
    mapping of queue name -> figures, or a list of figures with a ``name``); {} when there is no queue."""
    stats = getattr(getattr(svc, "queues", None), "stats", None)
    if stats is None:
        return {}
    try:
        result = stats()
        if inspect.isawaitable(result):
            result = await result
    except Exception:  # a scrape must not fail because one source did
        log.warning("queue statistics unavailable", exc_info=True)
        return {}
    items = result.items() if isinstance(result, Mapping) else ((_field(x, "name", "queue"), x) for x in result or ())
    figures = {}
    for name, item in items:
        if isinstance(item, int | float):
            figures[str(name)] = QueueFigures(depth=int(item))
            continue
        figures[str(name)] = QueueFigures(
            depth=int(_field(item, "depth", "ready", "pending", "queued") or 0),
            inFlight=int(_field(item, "in_flight", "inFlight", "leased") or 0),
            deadLetters=int(_field(item, "dead_letters", "deadLetters", "dead", "dlq") or 0),
        )
    return figures


async def refresh_scraped_gauges(svc: Services) -> dict[str, QueueFigures]:
    """Set the gauges that are read from components (queue depth, in flight, dead letters) before a scrape."""
    figures = await queue_figures(svc)
    metrics = svc.metrics
    labels = ("queue",)
    metrics.set_gauges("bookstrack_queue_depth", "Messages waiting in a queue.", labels,
                       {(name, ): q.depth for name, q in figures.items()})
    metrics.set_gauges("bookstrack_queue_in_flight", "Messages leased to a consumer.", labels,
                       {(name, ): q.inFlight for name, q in figures.items()})
    metrics.set_gauges("bookstrack_queue_dead_letters", "Messages in a queue's dead-letter list.", labels,
                       {(name, ): q.deadLetters for name, q in figures.items()})
    return figures


# -- the JSON report -------------------------------------------------------------------------------


def _sum_by(metrics: Metrics, family: str, suffix: str, *keys: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for name, labels, value in metrics.samples(family):
        if name == family + suffix:
            key = tuple(labels.get(k, "") for k in keys)
            out[key] = out.get(key, 0.0) + value
    return out


def latency(metrics: Metrics) -> Latency:
    family = "bookstrack_http_request_duration_seconds"
    buckets = _sum_by(metrics, family, "_bucket", "le")
    count = int(sum(_sum_by(metrics, family, "_count").values()))
    total = sum(_sum_by(metrics, family, "_sum").values())
    bounds = sorted((float(le), n) for (le,), n in buckets.items())
    finite = [b for b, _ in bounds if not math.isinf(b)]

    def quantile(q: float) -> int:
        if not count:
            return 0
        for bound, cumulative in bounds:
            if cumulative >= q * count:
                bound = bound if not math.isinf(bound) else (finite[-1] if finite else 0.0)
                return math.ceil(bound * 1000)
        return 0

    mean = round(total / count * 1000) if count else 0
    return Latency(count, mean, quantile(0.5), quantile(0.95), quantile(0.99))


def _usd(amount: float) -> str:
    return f"${amount:.4f}/period"


def _issues(svc: Services, found: dict[str, tuple[str, str]]) -> list[Issue]:
    """Issues with the time each was first seen (kept across scrapes while it persists)."""
    seen: dict[str, str] = quart.current_app.extensions.setdefault(_ISSUES_KEY, {})
    now = svc.clock.iso()
    for key in set(seen) - set(found):
        del seen[key]
    return [
        Issue(severity, message, seen.setdefault(key, now))  # type: ignore[arg-type]
        for key, (severity, message) in sorted(found.items())
    ]


async def collect_report(svc: Services, period: str = "1h") -> OpsReport:
    """Every figure of ``GET /metrics?format=json`` and of the dashboard, from the live services."""
    metrics = svc.metrics
    queues = await refresh_scraped_gauges(svc)
    cache_stats = svc.cache.stats() if svc.cache is not None else None
    results = cache_stats["results"] if cache_stats else {}
    edge, kv, cold, api = (int(results.get(s, 0)) for s in ("memory", "kv", "cold", "miss"))
    answered = edge + kv + cold + api

    def share(n: int) -> float:
        return round(n / answered, 4) if answered else 0.0

    hit_rates = HitRates(share(edge), share(kv), share(cold), share(api), share(edge + kv + cold))
    rehydrated = int(cache_stats["rehydrated"]) if cache_stats else 0
    kv_lookups = sum(int(v) for v in cache_stats["requests"]["kv"].values()) if cache_stats else 0
    cold_lookups = sum(int(v) for v in cache_stats["requests"]["cold"].values()) if cache_stats else 0

    by_status: dict[str, int] = {}
    for (status,), value in _sum_by(metrics, "bookstrack_http_requests", "_total", "status").items():
        klass = f"{status[:1]}xx" if status[:1].isdigit() else status
        by_status[klass] = by_status.get(klass, 0) + int(value)
    requests = sum(by_status.values())
    rejected = int(sum(_sum_by(metrics, "bookstrack_rate_limit_rejections", "_total").values()))

    report = svc.health.report
    provider_states = dict(report.checks.providers) if report is not None else {}
    calls = _sum_by(metrics, "bookstrack_provider_calls", "_total", "provider")
    errors = _sum_by(metrics, "bookstrack_provider_errors", "_total", "provider")
    providers = {
        name: ProviderFigures(provider_states.get(name, "ok"), int(calls.get((name,), 0)), int(errors.get((name,), 0)))
        for name in sorted(set(provider_states) | {k[0] for k in calls})
    }

    jobs = JobFigures(
        running={p: int(v) for (p,), v in _sum_by(metrics, "bookstrack_jobs_running", "", "pipeline").items()},
        started={p: int(v) for (p,), v in _sum_by(metrics, "bookstrack_jobs_started", "_total", "pipeline").items()},
        finished={},
    )
    for (pipeline, status), value in _sum_by(
        metrics, "bookstrack_jobs_finished", "_total", "pipeline", "status"
    ).items():
        jobs.finished.setdefault(pipeline, {})[status] = int(value)
    subscribers = {
        t: int(v) for (t,), v in _sum_by(metrics, "bookstrack_progress_subscribers", "", "transport").items()
    }

    found: dict[str, tuple[str, str]] = {}
    if report is not None and report.checks.database != "ok":
        found["database"] = ("critical", "Database check failing")
    for name, state in provider_states.items():
        if state == "degraded":
            found[f"provider:{name}"] = ("warning", f"Provider {name} degraded")
    if answered >= MIN_VOLUME and hit_rates.combined < COMBINED_TARGET:
        found["combined"] = ("warning", f"Combined hit rate below target "
                                        f"({hit_rates.combined:.1%} vs {COMBINED_TARGET:.0%} target)")
    if answered >= MIN_VOLUME and hit_rates.edge < EDGE_TARGET:
        found["edge"] = ("warning", f"Edge hit rate low ({hit_rates.edge:.1%} vs {EDGE_TARGET:.0%} target)")
    server_errors = by_status.get("5xx", 0)
    if requests >= MIN_VOLUME and server_errors / requests > ERROR_RATE_LIMIT:
        found["errors"] = ("warning", f"Server error rate {server_errors / requests:.1%} above "
                                      f"{ERROR_RATE_LIMIT:.0%}")
    for name, queue in queues.items():
        if queue.deadLetters:
            found[f"dlq:{name}"] = ("warning", f"{queue.deadLetters} dead letters in queue {name}")
    issues = _issues(svc, found)

    return OpsReport(
        timestamp=svc.clock.iso(),
        period=period,
        window=WINDOW,
        hitRates=hit_rates,
        latency=latency(metrics),
        volume=Volume(answered, edge, kv, rehydrated, api),
        costs=Costs(_usd(kv_lookups * KV_READ_USD), _usd(cold_lookups * R2_READ_USD),
                    _usd(kv_lookups * KV_READ_USD + cold_lookups * R2_READ_USD)),
        health=Health("degraded" if issues else "healthy", issues),
        http=HttpFigures(requests, by_status, rejected),
        providers=providers,
        jobs=jobs,
        subscribers=subscribers,
        queues=queues,
    )


# -- routes ----------------------------------------------------------------------------------------


def _query() -> MetricsQuery:
    args = quart.request.args
    fmt = args.get("format", "prometheus") or "prometheus"
    if fmt not in ("prometheus", "json"):
        raise InvalidParam("format must be prometheus or json", details={"format": fmt})
    return MetricsQuery(period=args.get("period", "1h") or "1h", format=fmt)  # type: ignore[arg-type]


@routes.get("/metrics", family=Family.RAW, query=MetricsQuery, response=OpsReport,
            responses={200: "Prometheus text exposition (default) or, with format=json, the JSON report",
                       400: "INVALID_PARAM"})
async def metrics() -> quart.Response:
    """Metrics: Prometheus text exposition, or the reference's JSON with ``format=json``."""
    svc = services()
    query = _query()
    if query.format == "json":
        return raw(await collect_report(svc, query.period), headers={"Cache-Control": "no-store"})
    await refresh_scraped_gauges(svc)
    return quart.Response(svc.metrics.render(), content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


@routes.get("/api/cache/metrics", family=Family.RAW, query=MetricsQuery, response=CacheMetrics)
async def cache_metrics() -> quart.Response:
    """Cache metrics: requests and hit rates per tier, answers by source, loads, archival, memory use."""
    svc = services()
    period = quart.request.args.get("period", "24h") or "24h"
    stats = svc.cache.stats() if svc.cache is not None else {}
    body = CacheMetrics(svc.clock.iso(), period, WINDOW, svc.cache is not None, stats)
    return raw(body, headers={"Cache-Control": "no-store"})
