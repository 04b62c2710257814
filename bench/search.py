"""The search benchmark (issue 3, "Performance"): ``python -m bench.search [--json]``.

Against ``bookstrack fake-upstream --latency-ms 50`` (a subprocess on an ephemeral 127.0.0.1 port) and
``bookstrack serve`` (a subprocess: ``bench/bench.toml``, provider base URLs at the fake, placeholder keys,
provider budgets and the batch route's rate limit raised through ``BOOKSTRACK_*`` overrides, storage in a
fresh temp dir, access log on and written to a file), in one run:

1. **Cached ISBN throughput.** ``GET /v1/search/isbn?isbn=<catalogue ISBN>`` (warmed until it answers
   ``metadata.cached: true``) against ``GET /health`` on the same server with ``bench.loadgen``, interleaved
   rounds, medians. Target: isbn / health >= 0.80.
2. **Cold ISBN lookup, author data cached.** Catalogue books grouped by author: one ISBN per author is
   looked up first (it caches the author's Wikidata facts), then each other ISBN of that author is timed
   cold, one request at a time. The fake's request counter shows whether Wikidata was asked meanwhile
   (it should not be). Target: p50 <= upstream latency + 10 ms.
3. **Batch.** A fresh server (empty cache: books and authors cold), one ``POST /v1/search/isbn/batch`` with
   100 distinct catalogue ISBNs, wall time; then the same batch again (all cached), for scale. Repeated on
   ``--batch-runs`` fresh servers (default 5): the median run is reported, every run's time beside it.
   Target: <= 3 x upstream latency.

Every process is terminated (SIGTERM, then SIGKILL) when the benchmark ends, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import health
from bench.health import HOST, ROOT, Server

__all__ = ["run", "format_results", "summary_rows", "main"]

BENCH_CONFIG = health.BENCH_CONFIG
LATENCY_MS = 50.0
CACHED_RATIO_TARGET = 0.80
COLD_MARGIN_MS = 10.0
BATCH_FACTOR = 3.0
BATCH_SIZE = 100
DEFAULT_ROUNDS = 3
DEFAULT_BATCH_RUNS = 5
DEFAULT_DURATION = 3.0
FAKE_LINE = re.compile(rb"fake upstream on http://127\.0\.0\.1:(\d+)")
PROVIDERS = ("google_books", "openlibrary", "isbndb", "wikidata")

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- processes -------------------------------------------------------------------------------------


class FakeUpstreamServer(Server):
    """``bookstrack fake-upstream`` in a subprocess: the port comes from its first stdout line, and it is
    ready once ``GET /_control`` answers 200."""

    port_line = FAKE_LINE
    ready_path = "/_control"

    @classmethod
    def at_latency(cls, tmp: Path, latency_ms: float) -> FakeUpstreamServer:
        """The fake on an ephemeral 127.0.0.1 port, answering after ``latency_ms``, logging into ``tmp``."""
        argv = [sys.executable, "-m", "bookstrack", "fake-upstream", "--host", HOST, "--port", "0",
                "--latency-ms", f"{latency_ms:g}"]
        return cls("fake-upstream", argv, health._server_env(tmp), tmp / "fake.log")


class Client:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port (re-opened if the server closes it)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any, float]:
        """(status, headers, decoded JSON body or None, wall seconds)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - started
            try:
                decoded = json.loads(raw) if raw else None
            except ValueError:
                decoded = None
            return response.status, {k.lower(): v for k, v in response.getheaders()}, decoded, elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def _response_time_ms(headers: dict[str, str]) -> float | None:
    value = headers.get("x-response-time", "")
    try:
        return float(value.removesuffix("ms"))
    except ValueError:
        return None


def _server_env(tmp: Path, fake_port: int) -> tuple[dict[str, str], dict[str, str]]:
    """The server's environment, and the overrides it adds to bench/bench.toml (for the report)."""
    from bookstrack.devtools.fake_upstream import ENV_NAMES, FAKE_KEYS

    overrides: dict[str, str] = {}
    for name in PROVIDERS:
        prefix = f"BOOKSTRACK_PROVIDERS__{name.upper()}__"
        overrides[ENV_NAMES[name]] = f"http://{HOST}:{fake_port}/{'google' if name == 'google_books' else name}"
        overrides[prefix + "RATE_PER_SECOND"] = "100000.0"  # budgets out of the way: the fake has no limits
        overrides[prefix + "PER_DAY"] = "0"
        overrides[prefix + "BUDGET_WAIT"] = "30.0"
    overrides["BOOKSTRACK_RATE_LIMIT__CLASSES__DEFAULT__LIMIT"] = "1000000"  # the batch route's class
    env = health._server_env(tmp)
    env.update(overrides)
    env.update(FAKE_KEYS)
    return env, overrides


def _start_ours(tmp: Path, fake_port: int, name: str) -> tuple[Server, dict[str, str]]:
    env, overrides = _server_env(tmp, fake_port)
    server = Server(
        name,
        [sys.executable, "-m", "bookstrack", "serve", "--config", str(BENCH_CONFIG), "--host", HOST, "--port", "0"],
        env, tmp / f"{name}.log",
    )
    return server, overrides


def _fake_requests(fake: Client, log: int = 0) -> dict[str, Any]:
    status, _, body, _ = fake.request("GET", f"/_control/requests?log={log}" if log else "/_control/requests")
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"fake upstream /_control/requests answered {status}")
    return body


def _fake_reset(fake: Client) -> None:
    """Clear the fake's request counters and log (its fault settings, the latency, stay)."""
    fake.request("POST", "/_control/reset", {"faults": False, "requests": True})


# -- the catalogue ---------------------------------------------------------------------------------


def _volume_isbn13(volume: dict[str, Any]) -> str | None:
    from bookstrack.devtools.text import clean_isbn, isbn10_to_13

    ids = {i.get("type"): clean_isbn(i.get("identifier", "")) for i in volume.get("volumeInfo", {}).get(
        "industryIdentifiers", [])}
    if ids.get("ISBN_13"):
        return ids["ISBN_13"]
    return isbn10_to_13(ids["ISBN_10"]) if ids.get("ISBN_10") else None


def author_groups() -> list[list[str]]:
    """Catalogue ISBN-13s grouped by their Google Books author list (groups of two or more, in order)."""
    from bookstrack.devtools.catalogue import load_catalogue

    groups: dict[tuple[str, ...], list[str]] = {}
    for volume in load_catalogue().google_volumes:
        authors = tuple(volume.get("volumeInfo", {}).get("authors", []))
        isbn = _volume_isbn13(volume)
        if authors and isbn and isbn not in groups.setdefault(authors, []):
            groups[authors].append(isbn)
    return [isbns for isbns in groups.values() if len(isbns) >= 2]


# -- 1. cached ISBN throughput -----------------------------------------------------------------------


def _loadgen(server: Server, path: str, *, connections: int, duration: float, warmup: float) -> dict[str, Any]:
    argv = [
        sys.executable, "-m", "bench.loadgen", "--port", str(server.port), "--path", path,
        "--connections", str(connections), "--duration", str(duration), "--warmup", str(warmup),
    ]
    cpu0 = server.cpu_seconds()
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, timeout=warmup + duration + 60, check=False, stdin=subprocess.DEVNULL
    )
    server_cpu = server.cpu_seconds() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["server_cpu_us_per_request"] = round(server_cpu / max(1, result["responses_total"]) * 1e6, 1)
    result["server_cpu_util"] = round(server_cpu / (result["duration_s"] + warmup), 3)
    return result


def run_cached(server: Server, client: Client, isbn: str, *, rounds: int, connections: int, duration: float,
               warmup: float, log: Log) -> dict[str, Any]:
    path = f"/v1/search/isbn?isbn={isbn}"
    cached = False
    for _ in range(20):  # bounded: the first answer loads, the next ones should come from the cache
        status, _, body, _ = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body}")
        cached = bool(body.get("metadata", {}).get("cached"))
        if cached:
            break
        time.sleep(0.2)
    if not cached:
        raise RuntimeError(f"GET {path} never answered from the cache")
    names = {"health": "/health", "isbn": path}
    runs: dict[str, list[dict[str, Any]]] = {"health": [], "isbn": []}
    for r in range(rounds):
        for name in (("health", "isbn") if r % 2 == 0 else ("isbn", "health")):
            result = _loadgen(server, names[name], connections=connections, duration=duration, warmup=warmup)
            runs[name].append(result)
            log(f"round {r + 1}/{rounds} {name:6}: {result['rps']:7.1f} req/s  p50 {result['p50_us'] / 1000:6.2f} ms"
                f"  non-2xx {result['non_2xx']}  server {result['server_cpu_us_per_request']:.0f} µs CPU/req")
    out: dict[str, Any] = {"isbn": isbn, "path": path, "runs": runs}
    for name in runs:
        out[name] = {
            "rps": statistics.median(r["rps"] for r in runs[name]),
            "p50_us": statistics.median(r["p50_us"] for r in runs[name]),
            "p99_us": statistics.median(r["p99_us"] for r in runs[name]),
            "non_2xx": sum(r["non_2xx"] for r in runs[name]),
            "errors": sum(sum(r["errors"].values()) for r in runs[name]),
            "server_cpu_us_per_request": statistics.median(r["server_cpu_us_per_request"] for r in runs[name]),
        }
    out["ratio"] = out["isbn"]["rps"] / out["health"]["rps"] if out["health"]["rps"] else float("nan")
    out["pair_ratios"] = [round(i["rps"] / h["rps"], 3) for i, h in zip(runs["isbn"], runs["health"], strict=True)
                          if h["rps"]]
    return out


# -- 2. cold lookups ---------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _wikidata_count(fake: Client) -> int:
    return int(_fake_requests(fake)["providers"].get("wikidata", 0))


def _settle_wikidata(fake: Client, limit: float = 3.0) -> int:
    """Wait (bounded) until the fake's Wikidata count stops moving; returns it."""
    deadline = time.monotonic() + limit
    last = _wikidata_count(fake)
    while time.monotonic() < deadline:
        time.sleep(0.15)
        now = _wikidata_count(fake)
        if now == last:
            return now
        last = now
    return last


def run_cold(client: Client, fake: Client, groups: list[list[str]], *, skip: set[str], log: Log) -> dict[str, Any]:
    lookups: list[dict[str, Any]] = []
    for group in groups:
        group = [i for i in group if i not in skip]
        if len(group) < 2:
            continue
        warm, cold = group[0], group[1:]
        status, _, _, _ = client.request("GET", f"/v1/search/isbn?isbn={warm}")  # caches the author's facts
        if status != 200:
            log(f"warm-up lookup {warm} answered {status}; group skipped")
            continue
        for isbn in cold:
            _settle_wikidata(fake)
            _fake_reset(fake)
            status, headers, body, elapsed = client.request("GET", f"/v1/search/isbn?isbn={isbn}")
            wikidata = _settle_wikidata(fake)
            seen = _fake_requests(fake, log=50).get("log", [])
            arrivals = sorted(r["at"] for r in seen if r["provider"] != "wikidata")
            metadata = (body or {}).get("metadata", {}) if isinstance(body, dict) else {}
            lookups.append({
                "isbn": isbn, "warmed_with": warm, "status": status, "wall_ms": round(elapsed * 1000, 2),
                "server_ms": _response_time_ms(headers), "cached": bool(metadata.get("cached")),
                "wikidata_calls": wikidata, "upstream_requests": len(arrivals),
                # how far apart the providers' requests reached the fake (they are sent concurrently)
                "upstream_spread_ms": round((arrivals[-1] - arrivals[0]) * 1000, 2) if arrivals else None,
            })
    valid = [x for x in lookups if x["status"] == 200 and not x["cached"]]
    author_cached = [x for x in valid if x["wikidata_calls"] == 0]
    target = LATENCY_MS + COLD_MARGIN_MS

    def stats(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
        values = [x[key] for x in rows if x[key] is not None]
        return {"n": len(values), "p50": _percentile(values, 0.5), "p99": _percentile(values, 0.99),
                "min": min(values, default=float("nan")), "max": max(values, default=float("nan"))}

    direct = []
    for isbn in [x["isbn"] for x in author_cached][:20]:  # the fake alone, as our client sees it
        _, _, _, elapsed = fake.request("GET", f"/google/books/v1/volumes?q=isbn:{isbn}")
        direct.append({"wall_ms": round(elapsed * 1000, 2)})
    out = {
        "lookups": lookups,
        "wall_ms": stats(author_cached, "wall_ms"),
        "server_ms": stats(author_cached, "server_ms"),
        "upstream_spread_ms": stats(author_cached, "upstream_spread_ms"),
        "upstream_requests": sorted({x["upstream_requests"] for x in author_cached}),
        "fake_direct_ms": stats(direct, "wall_ms"),
        "all_wall_ms": stats(valid, "wall_ms"),
        "with_wikidata_calls": len(valid) - len(author_cached),
        "non_200": sum(x["status"] != 200 for x in lookups),
        "unexpectedly_cached": sum(x["cached"] for x in lookups),
        "target_ms": target,
    }
    log(f"cold lookups: {len(author_cached)} timed with authors cached, p50 {out['wall_ms']['p50']:.1f} ms"
        f" (server {out['server_ms']['p50']:.1f} ms); {out['with_wikidata_calls']} asked Wikidata")
    return out


# -- 3. batch ----------------------------------------------------------------------------------------


def run_batch(client: Client, fake: Client, isbns: list[str], log: Log) -> dict[str, Any]:
    _fake_reset(fake)
    status, headers, body, elapsed = client.request("POST", "/v1/search/isbn/batch", {"isbns": isbns})
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"POST /v1/search/isbn/batch answered {status}: {str(body)[:300]}")
    results = body.get("data", {}).get("results", [])
    seen = _fake_requests(fake, log=1000)
    arrivals = sorted(r["at"] for r in seen.get("log", []))
    by_provider: dict[str, list[float]] = {}
    for r in seen.get("log", []):
        by_provider.setdefault(r["provider"], []).append(r["at"])
    # Arrival spreads at the fake (its own clock): how long after the first upstream request the last one
    # of each provider arrived. Each answer then takes the fake's latency.
    first = arrivals[0] if arrivals else 0.0
    spread = {p: [round((min(ts) - first) * 1000, 1), round((max(ts) - first) * 1000, 1)]
              for p, ts in sorted(by_provider.items())}
    _settle_wikidata(fake)
    _fake_reset(fake)
    again_status, again_headers, again_body, again_elapsed = client.request(
        "POST", "/v1/search/isbn/batch", {"isbns": isbns})
    again_upstream = _fake_requests(fake).get("providers", {})
    out = {
        "isbns": len(isbns), "status": status, "wall_ms": round(elapsed * 1000, 1),
        "server_ms": _response_time_ms(headers),
        "found": sum(1 for r in results if r.get("found")),
        "cached": bool(body.get("metadata", {}).get("cached")),
        "upstream_requests": seen.get("providers", {}),
        "upstream_arrival_ms": spread,
        "again_upstream_requests": again_upstream,
        "again_wall_ms": round(again_elapsed * 1000, 1), "again_status": again_status,
        "again_server_ms": _response_time_ms(again_headers),
        "again_cached": bool((again_body or {}).get("metadata", {}).get("cached")),
        "target_ms": BATCH_FACTOR * LATENCY_MS,
    }
    log(f"batch of {len(isbns)}: {out['wall_ms']:.1f} ms (server {out['server_ms']} ms), found {out['found']};"
        f" again (cached): {out['again_wall_ms']:.1f} ms")
    return out


# -- the whole run -----------------------------------------------------------------------------------


def _median_batch(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (one batch on a noisy machine is a lottery), with every run's
    wall time beside it."""
    ranked = sorted(batches, key=lambda b: (b["status"] != 200, b["wall_ms"]))
    median = dict(ranked[(len(ranked) - 1) // 2])
    median["runs_wall_ms"] = [b["wall_ms"] for b in batches]
    median["runs_ok"] = sum(b["status"] == 200 for b in batches)
    return median


def run(*, rounds: int = DEFAULT_ROUNDS, connections: int = 16, duration: float = DEFAULT_DURATION,
        warmup: float = 1.0, batch_runs: int = DEFAULT_BATCH_RUNS, log: Log = _quiet) -> dict[str, Any]:
    from bookstrack.devtools.catalogue import load_catalogue

    tmp = Path(tempfile.mkdtemp(prefix="bookstrack-bench-search-"))
    fake = FakeUpstreamServer.at_latency(tmp, LATENCY_MS)
    started: list[Server] = []
    clients: list[Client] = []
    results: dict[str, Any] = {}
    overrides: dict[str, str] = {}
    try:
        log(f"starting the fake upstream (--latency-ms {LATENCY_MS:g}) ...")
        started.append(fake)
        fake.start()
        fake_client = Client(fake.port)
        clients.append(fake_client)

        (tmp / "a").mkdir()
        ours, overrides = _start_ours(tmp / "a", fake.port, "ours")
        log("starting our server ...")
        started.append(ours)
        ours.start()
        client = Client(ours.port)
        clients.append(client)

        groups = author_groups()
        throughput_isbn = next(i for g in groups for i in g)
        log(f"1. cached GET /v1/search/isbn?isbn={throughput_isbn} vs GET /health ...")
        results["cached"] = run_cached(ours, client, throughput_isbn, rounds=rounds, connections=connections,
                                       duration=duration, warmup=warmup, log=log)
        log("2. cold ISBN lookups, author data cached ...")
        results["cold"] = run_cold(client, fake_client, groups, skip={throughput_isbn}, log=log)
        ours.stop()
        started.remove(ours)

        batches = []
        for i in range(batch_runs):
            (tmp / f"b{i}").mkdir()
            fresh, _ = _start_ours(tmp / f"b{i}", fake.port, "ours-batch")
            log(f"3. a batch of cold ISBNs on a fresh server ({i + 1} of {batch_runs}) ...")
            started.append(fresh)
            fresh.start()
            batch_client = Client(fresh.port)
            batches.append(run_batch(batch_client, fake_client, load_catalogue().isbn13s()[:BATCH_SIZE], log))
            batch_client.close()
            fresh.stop()
            started.remove(fresh)
        results["batch"] = _median_batch(batches)
        results["fake_settings_after"] = fake_client.request("GET", "/_control")[2]
    finally:
        for c in clients:
            c.close()
        health._stop_all(started)
        access_lines = 0
        for name in ("ours.log", "ours-batch.log"):
            for path in tmp.rglob(name):
                with open(path, "rb") as f:
                    access_lines += sum(b" bookstrack.access: " in line for line in f)
        shutil.rmtree(tmp, ignore_errors=True)
    results["access_log_lines"] = access_lines
    results["settings"] = {
        "upstream_latency_ms": LATENCY_MS, "rounds": rounds, "connections": connections, "duration_s": duration,
        "warmup_s": warmup, "batch_runs": batch_runs, "config": str(BENCH_CONFIG.relative_to(ROOT)),
        "overrides": overrides,
        "python": platform.python_version(), "cores": os.cpu_count(),
    }
    return results


# -- output ------------------------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict) for the three targets: also used by ``bench.report``."""
    cached, cold, batch = results["cached"], results["cold"], results["batch"]
    return [
        ("cached /v1/search/isbn req/s ÷ /health",
         f"{cached['isbn']['rps']:.0f} / {cached['health']['rps']:.0f} = {cached['ratio']:.3f}",
         f">= {CACHED_RATIO_TARGET:.2f}", _mark(cached["ratio"] >= CACHED_RATIO_TARGET)),
        ("cold ISBN lookup p50 ms (authors cached)",
         f"{cold['wall_ms']['p50']:.1f} (p99 {cold['wall_ms']['p99']:.1f}, n={cold['wall_ms']['n']})",
         f"<= {cold['target_ms']:.0f}", _mark(cold["wall_ms"]["p50"] <= cold["target_ms"])),
        (f"batch of {batch['isbns']} cold ISBNs, median ms",
         f"{batch['wall_ms']:.1f} (found {batch['found']}, runs {len(batch['runs_wall_ms'])})",
         f"<= {batch['target_ms']:.0f}",
         _mark(batch["runs_ok"] == len(batch["runs_wall_ms"]) and batch["wall_ms"] <= batch["target_ms"])),
    ]


def format_results(results: dict[str, Any]) -> str:
    s, cached, cold, batch = results["settings"], results["cached"], results["cold"], results["batch"]
    lines = [
        "Search: against the fake upstream",
        "---------------------------------",
        f"upstream latency {s['upstream_latency_ms']:g} ms (bookstrack fake-upstream --latency-ms); server"
        f" {s['config']} + overrides: every provider rate_per_second=100000, per_day=0, budget_wait=30;"
        f" rate_limit.classes.default.limit=1000000; placeholder API keys; access log on ({results['access_log_lines']}"
        f" lines). Load: {s['rounds']} interleaved rounds x {s['duration_s']:g} s (+{s['warmup_s']:g} s warm-up),"
        f" {s['connections']} connections. Python {s['python']}, {s['cores']} cores.",
        "",
        f"1. cached GET {cached['path']}",
    ]
    for name in ("health", "isbn"):
        f = cached[name]
        lines.append(
            f"   {name:6}  {f['rps']:7.1f} req/s  p50 {f['p50_us'] / 1000:6.2f} ms  p99 {f['p99_us'] / 1000:6.2f} ms"
            f"  non-2xx {f['non_2xx']}  errors {f['errors']}  server {f['server_cpu_us_per_request']:.0f} µs CPU/req"
        )
    lines.append(f"   per-round ratios: {', '.join(f'{r:.3f}' for r in cached['pair_ratios'])}")
    lines += [
        "",
        "2. cold GET /v1/search/isbn, the author's Wikidata facts cached by an earlier lookup of another ISBN",
        f"   timed {cold['wall_ms']['n']} lookups one at a time: client wall p50 {cold['wall_ms']['p50']:.1f} ms,"
        f" p99 {cold['wall_ms']['p99']:.1f} ms, min {cold['wall_ms']['min']:.1f}, max {cold['wall_ms']['max']:.1f};"
        f" server X-Response-Time p50 {cold['server_ms']['p50']:.1f} ms, p99 {cold['server_ms']['p99']:.1f} ms",
        f"   the fake alone, as this client sees it (GET /google/...): p50 {cold['fake_direct_ms']['p50']:.1f} ms;"
        f" upstream requests per lookup {cold['upstream_requests']}, their arrivals at the fake spread over p50"
        f" {cold['upstream_spread_ms']['p50']:.2f} ms",
        f"   excluded: {cold['with_wikidata_calls']} lookups that still asked Wikidata (all lookups: p50"
        f" {cold['all_wall_ms']['p50']:.1f} ms, p99 {cold['all_wall_ms']['p99']:.1f} ms), non-200"
        f" {cold['non_200']}, answered from cache {cold['unexpectedly_cached']}",
        "",
        f"3. POST /v1/search/isbn/batch, {batch['isbns']} distinct catalogue ISBNs, each run on a fresh server"
        f" (books and authors cold): {len(batch['runs_wall_ms'])} runs, wall ms"
        f" {', '.join(f'{w:.1f}' for w in batch['runs_wall_ms'])}; the median run:",
        f"   wall {batch['wall_ms']:.1f} ms (server {batch['server_ms']} ms), status {batch['status']},"
        f" found {batch['found']}; upstream requests {batch['upstream_requests']}",
        f"   upstream arrivals at the fake, [first, last] ms after the batch's first: {batch['upstream_arrival_ms']}",
        f"   the same batch again (all cached): {batch['again_wall_ms']:.1f} ms (server {batch['again_server_ms']} ms,"
        f" cached {batch['again_cached']}; upstream requests {batch['again_upstream_requests']})",
        "",
    ]
    fake_latency = (results.get("fake_settings_after") or {}).get("global", {}).get("latency_ms")
    lines += [f"   fake upstream latency at the end of the run: {fake_latency} ms", ""]
    rows = summary_rows(results)
    width = max(len(r[0]) for r in rows)
    lines += ["   Targets"]
    lines += [f"   {name:<{width}}  {value:<34}{target:<10}{verdict}" for name, value, target, verdict in rows]
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(f"  .. {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--connections", "-c", type=int, default=16)
    parser.add_argument("--duration", "-d", type=float, default=DEFAULT_DURATION)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--batch-runs", type=int, default=DEFAULT_BATCH_RUNS,
                        help="cold batches, each on a fresh server; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0 or args.batch_runs < 1:
        parser.error("--rounds >= 1, --duration > 0, --warmup >= 0, --batch-runs >= 1")
    results = run(rounds=args.rounds, connections=args.connections, duration=args.duration, warmup=args.warmup,
                  batch_runs=args.batch_runs, log=_progress)
    print(json.dumps(results, indent=2) if args.json else format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
