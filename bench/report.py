"""Every benchmark in one go: ``python -m bench.report`` (``make bench``), about seven minutes.

Runs ``bench.health`` (HTTP ours vs bare, the front door in-process, the whole app in-process),
``bench.rate_limit`` (one decision vs the actor runtime's baselines), ``bench.search`` (cached and cold
ISBN lookups and a 100-ISBN batch against the fake upstream at 50 ms), ``bench.jobs`` (100 concurrent
enrichment jobs watched over WebSockets, progress fan-out against a bare broadcast loop, memory after
10,000 finished jobs; fake upstream at 20 ms) and ``bench.imports`` (the export parsers, then a 10,000-row
Goodreads export through ``POST /api/import/csv-gemini`` against the fake upstream at 50 ms, beside the
bounds the latency and the provider budgets set), then prints all figures together
with a summary against the targets. ``--json`` prints the raw figures instead; ``--quick`` shortens the
HTTP part (fewer, shorter rounds) for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from bench import health, imports, jobs, rate_limit, search

__all__ = ["run", "main"]

HEADER = """\
BooksTrack foundation benchmarks
================================
These figures are ratios against baselines measured in the same run, on a noisy 2-core machine that
other work may share: the server and the load generator each take a core, so read the ratios and the
added microseconds, not the absolute requests per second. Medians of interleaved rounds throughout.
Python {python} on {cores} cores ({machine}); started {started}."""


def _progress(line: str) -> None:
    print(f"  .. {line}", file=sys.stderr, flush=True)


def run(*, quick: bool = False, connections: int = 16) -> dict[str, Any]:
    started = time.monotonic()
    http_args = {"rounds": 2, "duration": 2.0} if quick else {}
    results: dict[str, Any] = {"health": health.run(connections=connections, log=_progress, **http_args)}
    _progress("rate-limit decision ...")
    results["rate_limit"] = rate_limit.run()
    _progress("search against the fake upstream ...")
    search_args = {"rounds": 2, "duration": 2.0, "batch_runs": 3} if quick else {}
    results["search"] = search.run(connections=connections, log=_progress, **search_args)
    _progress("jobs and progress WebSockets against the fake upstream ...")
    results["jobs"] = jobs.run(log=_progress, **({"memory_jobs": 2000} if quick else {"fanout_rounds": 2}))
    _progress("imports: the export parsers, then whole imports against the fake upstream ...")
    results["imports"] = imports.run(log=_progress, **({"repeats": 2, "workers": (10,)} if quick else {}))
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    return results


def _summary(results: dict[str, Any]) -> str:
    http = results["health"]["http"]
    door = results["health"]["middleware"]["variants"]["front door, access log on"]
    apps = results["health"]["apps"]["variants"]
    rl = results["rate_limit"]
    ours, bare = http["summary"]["ours"], http["summary"]["bare"]
    ours_cpu, bare_cpu = ours["server_cpu_us_per_request"], bare["server_cpu_us_per_request"]
    in_app_door = apps["ours"]["mean_us"] - apps["ours without front door"]["mean_us"]

    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rows = [
        ("/health req/s, ours / bare", f"{ours['rps']:.0f} / {bare['rps']:.0f} = {http['ratio']:.3f}",
         ">= 0.90", mark(http["ratio"] >= health.RATIO_TARGET)),
        ("  by server CPU µs per request", f"{bare_cpu:.0f} / {ours_cpu:.0f} = {http['cpu_ratio']:.3f}", "", ""),
        ("  against bare, exchange completed",
         f"{http['ratio_vs_complete']:.3f} (by CPU {http['cpu_ratio_vs_complete']:.3f})", "", ""),
        ("/health p50 ms, ours / bare", f"{ours['p50_us'] / 1000:.2f} / {bare['p50_us'] / 1000:.2f}", "", ""),
        ("/health p99 ms, ours / bare", f"{ours['p99_us'] / 1000:.2f} / {bare['p99_us'] / 1000:.2f}", "", ""),
        ("non-2xx answers (all runs)", f"{ours['non_2xx'] + bare['non_2xx']}", "0", mark(not ours["non_2xx"])),
        ("front door, µs added per request", f"{door['overhead_mean_us']:.1f}", "<= 140",
         mark(door["overhead_mean_us"] <= health.MIDDLEWARE_TARGET_US)),
        ("  the same inside the whole app", f"{in_app_door:.1f}", "", ""),
        ("rate-limit decision, µs p50 / p99", f"{rl['decision_p50_us']:.1f} / {rl['decision_p99_us']:.1f}", "< 100 p50",
         mark(rl["decision_p50_us"] < rate_limit.TARGET_US)),
    ]
    many = rl["many_keys"]
    if many.get("keys"):
        first = many["first ask (activation)"]
        rows.append((f"  {many['keys']} new keys, µs p50 / p99", f"{first['p50_us']:.1f} / {first['p99_us']:.1f}",
                     "", ""))
    rows += [(name, value, target, "ok" if verdict == "OK" else verdict)
             for name, value, target, verdict in search.summary_rows(results["search"])]
    rows += [(name, value, target, "ok" if verdict == "OK" else verdict)
             for name, value, target, verdict in jobs.summary_rows(results["jobs"])]
    if "imports" in results:
        rows += [(name, value, target, "ok" if verdict == "OK" else verdict)
                 for name, value, target, verdict in imports.summary_rows(results["imports"])]
    width = max(len(r[0]) for r in rows)
    lines = ["Summary", "-------"]
    lines += [f"  {name:<{width}}  {value:<32}{target:<11}{verdict}" for name, value, target, verdict in rows]
    lines.append(f"  (whole report: {results['elapsed_s']:.0f} s)")
    return "\n".join(lines)


def format_results(results: dict[str, Any], started: str) -> str:
    header = HEADER.format(
        python=platform.python_version(), cores=os.cpu_count(), machine=platform.machine(), started=started
    )
    return "\n\n".join([
        header,
        health.format_results(results["health"]),
        rate_limit.format_results(results["rate_limit"]),
        search.format_results(results["search"]),
        jobs.format_results(results["jobs"]),
        *([imports.format_results(results["imports"])] if "imports" in results else []),
        _summary(results),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 short HTTP rounds per server (a smoke run)")
    parser.add_argument("--connections", "-c", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    results = run(quick=args.quick, connections=args.connections)
    print(json.dumps(results, indent=2) if args.json else format_results(results, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
