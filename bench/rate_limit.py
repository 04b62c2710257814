"""The cost of one rate-limit decision: a ``RateLimitBucket`` ask on the actor runtime, against baselines.

``python -m bench.rate_limit [--iterations 20000] [--rounds 3] [--keys 10000] [--json]``

Everything runs in one ``trio.run`` on an ``ActorSystem`` over ``MemoryStorage`` (the bucket keeps no
durable state, so the backend does not matter). Each call is timed alone with ``perf_counter_ns``;
variants are interleaved round by round so that machine noise hits them alike:

* ``decide()``: the pure GCRA function, with ``clock.wall()`` as the bucket calls it;
* ``trio checkpoint``: one ``await trio.lowlevel.checkpoint()``, the scheduler's floor;
* ``no-op actor ask``: an ask to an actor whose handler returns None (the runtime's own cost);
* ``rate-limit ask``: ``system.ref(RateLimitBucket, key).ask(Check(limit=10**9, window=60))``, exactly as
  the HTTP guard calls it (so every request passes).

The decision's cost to a request is the rate-limit ask (target: < 100 µs median); its cost over the
runtime is the difference with the no-op ask. Then ``--keys`` distinct keys are asked once each (each ask
activates a new actor) and once more (all live), with the resident memory they add.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from actors import Actor, ActorSystem, Clock, MemoryStorage, handler
from actors.rate_limit import Check, RateLimitBucket, decide

__all__ = ["run", "format_results", "main"]

TARGET_US = 100.0
CHECK = Check(limit=10**9, window=60.0, policy="default")


class Ping(msgspec.Struct, frozen=True):
    pass


class NoopActor(Actor):
    """The baseline actor: a handler that does nothing."""

    kind = "bench_noop"

    @handler
    async def ping(self, msg: Ping) -> None:
        return None


def _rss_kib() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _stats(values: list[int]) -> dict[str, float]:
    values = sorted(values)
    n = len(values)
    return {
        "p50_us": values[n // 2] / 1000,
        "p99_us": values[min(n - 1, int(n * 0.99))] / 1000,
        "mean_us": sum(values) / n / 1000,
        "calls": n,
    }


async def _measure(iterations: int, rounds: int, keys: int, budget_s: float) -> dict[str, Any]:
    perf_ns = time.perf_counter_ns
    give_up = time.monotonic() + budget_s
    clock = Clock()
    async with ActorSystem(storage=MemoryStorage(), clock=clock, idle_timeout=60.0) as system:
        key = "default|127.0.0.1"
        noop = system.ref(NoopActor, "noop")
        ping = Ping()
        tat = 0.0

        def call_decide() -> None:
            nonlocal tat
            tat, _ = decide(tat, clock.wall(), CHECK)

        async def ask_noop() -> None:
            await noop.ask(ping)

        async def ask_bucket() -> None:
            await system.ref(RateLimitBucket, key).ask(CHECK)

        sync_variants: dict[str, Callable[[], None]] = {"decide()": call_decide}
        async_variants: dict[str, Callable[[], Awaitable[None]]] = {
            "trio checkpoint": trio.lowlevel.checkpoint,
            "no-op actor ask": ask_noop,
            "rate-limit ask": ask_bucket,
        }
        samples: dict[str, list[int]] = {name: [] for name in (*sync_variants, *async_variants)}
        for _ in range(min(2000, iterations)):  # warm-up (and the two activations), not recorded
            call_decide()
            for fn in async_variants.values():
                await fn()
        rounds_done = 0
        for _ in range(rounds):
            for name, sync_fn in sync_variants.items():
                out = samples[name]
                for _ in range(iterations):
                    t0 = perf_ns()
                    sync_fn()
                    out.append(perf_ns() - t0)
            for name, async_fn in async_variants.items():
                out = samples[name]
                for _ in range(iterations):
                    t0 = perf_ns()
                    await async_fn()
                    out.append(perf_ns() - t0)
            rounds_done += 1
            if time.monotonic() > give_up:
                break

        # Many keys: each first ask activates a fresh bucket; the second pass finds them all live.
        many: dict[str, Any] = {"keys": 0}
        if keys:
            names = [f"default|10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(keys)]
            gc.collect()
            rss0 = _rss_kib()
            activations0 = system.activations
            for label in ("first ask (activation)", "second ask (all live)"):
                out = []
                started = perf_ns()
                for name in names:
                    t0 = perf_ns()
                    await system.ref(RateLimitBucket, name).ask(CHECK)
                    out.append(perf_ns() - t0)
                    if time.monotonic() > give_up + 60:
                        break
                many[label] = {**_stats(out), "total_s": (perf_ns() - started) / 1e9}
            many["keys"] = keys
            many["activations"] = system.activations - activations0
            many["live_actors"] = system.live
            many["rss_added_kib"] = _rss_kib() - rss0
            many["rss_per_key_bytes"] = round(many["rss_added_kib"] * 1024 / keys)
    return {"samples": samples, "rounds": rounds_done, "many": many}


def run(*, iterations: int = 20_000, rounds: int = 3, keys: int = 10_000, budget_s: float = 60.0) -> dict[str, Any]:
    raw = trio.run(_measure, iterations, rounds, keys, budget_s)
    variants = {name: _stats(values) for name, values in raw["samples"].items()}
    ask, noop = variants["rate-limit ask"], variants["no-op actor ask"]
    return {
        "variants": variants,
        "iterations": iterations,
        "rounds": raw["rounds"],
        "decision_p50_us": ask["p50_us"],
        "decision_p99_us": ask["p99_us"],
        "over_noop_ask_p50_us": ask["p50_us"] - noop["p50_us"],
        "target_us": TARGET_US,
        "many_keys": raw["many"],
    }


def format_results(results: dict[str, Any]) -> str:
    lines = [
        f"One rate-limit decision (ActorSystem on MemoryStorage, Check(limit=10**9, window=60); "
        f"{results['rounds']} x {results['iterations']} calls per variant, interleaved)",
        f"  {'variant':<24}{'p50 µs':>9}{'p99 µs':>9}{'mean µs':>9}",
    ]
    for name, row in results["variants"].items():
        lines.append(f"  {name:<24}{row['p50_us']:>9.2f}{row['p99_us']:>9.2f}{row['mean_us']:>9.2f}")
    ok = "OK" if results["decision_p50_us"] < results["target_us"] else "MISSED"
    lines.append(
        f"  a decision costs a request {results['decision_p50_us']:.1f} µs median,"
        f" {results['decision_p99_us']:.1f} µs p99 (target < {results['target_us']:.0f} µs median: {ok});"
        f" {results['over_noop_ask_p50_us']:.1f} µs over a no-op ask"
    )
    many = results["many_keys"]
    if many.get("keys"):
        lines.append(
            f"  {many['keys']} distinct keys ({many['activations']} activations, {many['live_actors']} live after):"
        )
        for label in ("first ask (activation)", "second ask (all live)"):
            row = many[label]
            lines.append(
                f"    {label:<24} p50 {row['p50_us']:7.1f} µs  p99 {row['p99_us']:8.1f} µs  "
                f"mean {row['mean_us']:7.1f} µs  total {row['total_s']:.2f} s"
            )
        lines.append(
            f"    resident memory added: {many['rss_added_kib'] / 1024:.1f} MiB"
            f" (~{many['rss_per_key_bytes']} B per key)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000, help="timed calls per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=10_000, help="distinct keys for the activation test (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(iterations=args.iterations, rounds=args.rounds, keys=args.keys)
    print(json.dumps(results, indent=2) if args.json else format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
