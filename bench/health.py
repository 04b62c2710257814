"""The foundation benchmark: ``GET /health`` on our server against a bare Quart-trio app, then the
front-door middleware and the whole app in-process.

``python -m bench.health [--rounds 5] [--connections 16] [--duration 4] [--warmup 1] [--json]``

1. HTTP: starts ``python -m bookstrack serve --config bench/bench.toml --port 0`` (storage in a fresh
   temp dir, access log ON and written to a file, as in production) and ``python -m bench.bare_app``
   (same Hypercorn settings, same body bytes, which are fetched once from our server), each on a free
   port, waits until each answers, then runs ``bench.loadgen`` (its own process) against each in turn,
   alternating which goes first, with the same connection count. Figures are medians over rounds; the
   score is ours/bare requests per second (target >= 0.90). Each run also records the generator's and
   the server's CPU use, to show the server, not the generator, is the bottleneck.
2. Middleware: ``FrontDoor`` around a trivial ASGI app against the trivial app alone, with fake
   ``receive``/``send`` shaped like Hypercorn's, interleaved rounds, access log on (production's text
   format, to /dev/null) and off, plus the path taken when a response ends before the request was read.
   Target: <= 140 µs per request.
3. The whole app in-process over ASGI (no sockets, no Hypercorn): ours, ours with the front door
   unwrapped, and the bare app, which splits the HTTP gap between the front door and the rest.

Both servers are always terminated (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["run", "run_http", "run_middleware", "format_results", "main"]

ROOT = Path(__file__).resolve().parent.parent
BENCH_CONFIG = Path(__file__).resolve().with_name("bench.toml")
HOST = "127.0.0.1"
RUNNING_ON = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")
RATIO_TARGET = 0.90
MIDDLEWARE_TARGET_US = 140.0
DEFAULT_ROUNDS = 5
DEFAULT_DURATION = 4.0

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- talking to the servers ------------------------------------------------------------------------


def http_get(port: int, path: str = "/health", timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET over a fresh connection to 127.0.0.1; returns (status, body). Raises OSError/ValueError."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
    deadline = time.monotonic() + timeout
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                match = re.search(rb"\r\ncontent-length:\s*(\d+)", data[:end].lower())
                if match and len(data) >= end + 4 + int(match.group(1)):
                    break
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError("no complete response")
    return int(data[9:12]), data[end + 4 :]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat); 0 where unavailable."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU seconds of this process and its finished children (the load generator runs)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Server:
    """One server subprocess with stdout+stderr in a log file; ``port`` is read from its log (the first
    match of ``port_line``), and it is ready once ``GET ready_path`` answers 200."""

    port_line: re.Pattern[bytes] = RUNNING_ON
    ready_path = "/health"

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            match = self.port_line.search(self.log_path.read_bytes())
            if match:
                self.port = int(match.group(1))
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.name} did not report its port within {timeout}s:\n{self.log_tail()}")
        while time.monotonic() < deadline:
            try:
                status, _ = http_get(self.port, self.ready_path)
                if status == 200:
                    return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer 200 on {self.ready_path} within {timeout}s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return _cpu_seconds(self.proc.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def run_loadgen(port: int, *, connections: int, duration: float, warmup: float, requests: int) -> dict[str, Any]:
    argv = [
        sys.executable, "-m", "bench.loadgen", "--port", str(port), "--connections", str(connections),
        "--duration", str(duration), "--warmup", str(warmup), "--requests", str(requests),
    ]
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, timeout=warmup + duration + 60, check=False, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return json.loads(done.stdout)


def _server_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSTRACK_")}  # reproducible config
    env["BOOKSTRACK_STORAGE__PATH"] = str(tmp / "data" / "bookstrack.sqlite3")
    env["BOOKSTRACK_STORAGE__BLOBS"] = str(tmp / "data" / "blobs")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# -- 1. HTTP ---------------------------------------------------------------------------------------


SERVERS = ("ours", "bare", "bare_complete")
LABELS = {
    "ours": "ours (bookstrack serve)",
    "bare": "bare Quart-trio app",
    "bare_complete": "bare, exchange completed",
}


def run_http(
    *,
    rounds: int = DEFAULT_ROUNDS,
    connections: int = 16,
    duration: float = DEFAULT_DURATION,
    warmup: float = 1.0,
    requests: int = 1_000_000,
    log: Log = _quiet,
) -> dict[str, Any]:
    """The three servers, ``rounds`` interleaved load runs each; returns per-run figures and medians.

    ``bare`` is the baseline the target is defined against. ``bare_complete`` is the same app finishing
    each exchange as ours does (``--hold-back-disconnect``, decision 0010): without it Quart-trio cancels
    Hypercorn's end of each exchange (so its keep-alive timer is not restarted), which makes the plain
    bare app cheaper than a correct server can be.
    """
    tmp = Path(tempfile.mkdtemp(prefix="bookstrack-bench-"))
    env = _server_env(tmp)
    body_file = tmp / "health.json"
    bare_argv = [sys.executable, "-m", "bench.bare_app", "--config", str(BENCH_CONFIG), "--port", "0",
                 "--body-file", str(body_file)]
    servers = {
        "ours": Server(
            "ours",
            [sys.executable, "-m", "bookstrack", "serve", "--config", str(BENCH_CONFIG), "--host", HOST, "--port", "0"],
            env, tmp / "ours.log",
        ),
        "bare": Server("bare", bare_argv, env, tmp / "bare.log"),
        "bare_complete": Server(
            "bare_complete", [*bare_argv, "--hold-back-disconnect"], env, tmp / "bare_complete.log"
        ),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVERS}
    bodies_identical = True
    started: list[Server] = []
    try:
        log("starting our server ...")
        started.append(servers["ours"])
        servers["ours"].start()
        status, body = http_get(servers["ours"].port)
        if status != 200:
            raise RuntimeError(f"our /health answered {status}")
        body_file.write_bytes(body)
        for name in SERVERS[1:]:
            log(f"starting {LABELS[name]} ...")
            started.append(servers[name])
            servers[name].start()
            other_status, other_body = http_get(servers[name].port)
            bodies_identical = bodies_identical and other_status == 200 and other_body == body
        from bench.bare_app import health_body
        from bookstrack.config import load_config

        rebuilt = health_body(load_config(BENCH_CONFIG, env=env))
        for r in range(rounds):
            for name in SERVERS[r % len(SERVERS) :] + SERVERS[: r % len(SERVERS)]:  # rotate who goes first
                result = _load_one(servers[name], connections=connections, duration=duration, warmup=warmup,
                                   requests=requests)
                runs[name].append(result)
                log(
                    f"round {r + 1}/{rounds} {name:13}: {result['rps']:7.1f} req/s"
                    f"  p50 {result['p50_us'] / 1000:6.2f} ms  p99 {result['p99_us'] / 1000:6.2f} ms"
                    f"  non-2xx {result['non_2xx']}  server {result['server_cpu_us_per_request']:.0f} µs CPU/req"
                    f"  gen CPU {result['gen_cpu_util']:.0%}  server CPU {result['server_cpu_util']:.0%}"
                    f"  others {result['others_cpu_cores']:.2f} cores"
                )
    finally:
        _stop_all(started)
        access_lines = 0
        framework_errors = dict.fromkeys(SERVERS, 0)  # Hypercorn's "Error in ASGI Framework" per server
        for name, server in servers.items():
            try:
                with open(server.log_path, "rb") as f:
                    for line in f:
                        access_lines += name == "ours" and b" bookstrack.access: " in line
                        framework_errors[name] += b"Error in ASGI Framework" in line
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    summary = {
        name: {
            "rps": median(name, "rps"),
            "p50_us": median(name, "p50_us"),
            "p99_us": median(name, "p99_us"),
            "non_2xx": sum(r["non_2xx"] for r in runs[name]),
            "errors": sum(sum(r["errors"].values()) for r in runs[name]),
            "requests": sum(r["requests"] for r in runs[name]),
            "gen_cpu_util_max": max(r["gen_cpu_util"] or 0 for r in runs[name]),
            "gen_cpu_us_per_request": median(name, "gen_cpu_us_per_request"),
            "server_cpu_util": median(name, "server_cpu_util"),
            "server_cpu_us_per_request": median(name, "server_cpu_us_per_request"),
            "others_cpu_cores": median(name, "others_cpu_cores"),
        }
        for name in SERVERS
    }

    def ratio(a: str, b: str) -> float:
        return summary[a]["rps"] / summary[b]["rps"] if summary[b]["rps"] else float("nan")

    def cpu_ratio(a: str, b: str) -> float:  # in the sense of req/s: b's CPU per request over a's
        mine = summary[a]["server_cpu_us_per_request"]
        return summary[b]["server_cpu_us_per_request"] / mine if mine else float("nan")

    bare = summary["bare"]
    # The generator is not the bottleneck when the bare server is (near) saturated and the generator is not.
    server_bound = bare["server_cpu_util"] >= 0.8 and bare["gen_cpu_util_max"] <= 0.6
    return {
        "settings": {
            "rounds": rounds, "connections": connections, "duration_s": duration, "warmup_s": warmup,
            "path": "/health", "python": platform.python_version(), "cores": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        },
        "runs": runs,
        "summary": summary,
        "ratio": ratio("ours", "bare"),
        "pair_ratios": [o["rps"] / b["rps"] for o, b in zip(runs["ours"], runs["bare"], strict=True) if b["rps"]],
        "cpu_ratio": cpu_ratio("ours", "bare"),
        "ratio_vs_complete": ratio("ours", "bare_complete"),
        "cpu_ratio_vs_complete": cpu_ratio("ours", "bare_complete"),
        "complete_ratio": ratio("bare_complete", "bare"),
        "ratio_target": RATIO_TARGET,
        "body_bytes": len(body),
        "bodies_identical": bodies_identical,
        "healthreport_rebuild_identical": rebuilt == body,
        "access_log_lines": access_lines,
        "framework_errors": framework_errors,
        "server_bound": server_bound,
    }


def _load_one(server: Server, *, connections: int, duration: float, warmup: float, requests: int) -> dict[str, Any]:
    """One load-generator run against ``server``, with the server's and the machine's CPU use."""
    cpu0, machine0, children0 = server.cpu_seconds(), _machine_busy(), _children_cpu()
    wall0 = time.monotonic()
    result = run_loadgen(server.port, connections=connections, duration=duration, warmup=warmup, requests=requests)
    server_cpu = server.cpu_seconds() - cpu0
    wall = time.monotonic() - wall0
    busy = result["duration_s"] + warmup  # the server only works while loaded
    result["server_cpu_util"] = round(server_cpu / busy, 3)
    # Server CPU per answered request (warm-up included): a second view of the same cost, less moved by
    # other processes taking the core away than req/s is.
    result["server_cpu_us_per_request"] = round(server_cpu / max(1, result["responses_total"]) * 1e6, 1)
    # CPU the rest of the machine used meanwhile (other processes), in cores: noise to know about.
    others = _machine_busy() - machine0 - server_cpu - (_children_cpu() - children0)
    result["others_cpu_cores"] = round(max(0.0, others) / wall, 2)
    return result


def _stop_all(servers: list[Server]) -> None:
    """Stop every server, even if stopping one of them raises (then re-raise the first error)."""
    if not servers:
        return
    try:
        servers[0].stop()
    finally:
        _stop_all(servers[1:])


# -- 2. in-process: the front door alone, and the whole app ---------------------------------------------


_SCOPE_HEADERS = [(b"host", b"127.0.0.1:8787"), (b"user-agent", b"bookstrack-bench/1"), (b"accept", b"*/*")]
_BODY = b'{"status":"ok"}'
_START = {"type": "http.response.start", "status": 200,
          "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]}
_BODY_MSG = {"type": "http.response.body", "body": _BODY, "more_body": False}
_REQUEST_MSG = {"type": "http.request", "body": b"", "more_body": False}
_DISCONNECT = {"type": "http.disconnect"}


def _new_scope() -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": "/health", "raw_path": b"/health", "query_string": b"",
        "root_path": "", "headers": _SCOPE_HEADERS, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8787), "extensions": {},
    }


class _FakeChannel:
    """One request's ``receive``/``send``, shaped like Hypercorn's: the (empty) GET body first, then
    ``http.disconnect`` once the last response message has been sent; each send is a checkpoint (as a
    socket write is), and what is sent is dropped."""

    __slots__ = ("_delivered", "_done", "status")

    def __init__(self) -> None:
        import trio

        self._delivered = False
        self._done = trio.Event()
        self.status = 0

    async def receive(self) -> dict[str, Any]:
        if not self._delivered:
            self._delivered = True
            return _REQUEST_MSG
        await self._done.wait()
        return _DISCONNECT

    async def send(self, message: dict[str, Any]) -> None:
        import trio

        await trio.lowlevel.checkpoint()  # a real server's send is a trio checkpoint (a socket write)
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif not message.get("more_body", False):
            self._done.set()


async def _trivial_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest well-behaved ASGI app: reads its request, answers 200 with a fixed body."""
    await receive()
    scope["bookstrack.route"] = "/health"  # what the route wrapper leaves for the front door
    await send(_START)
    await send(_BODY_MSG)


async def _trivial_app_unread(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same, never reading its request (as when the framework's reader task has not run yet)."""
    scope["bookstrack.route"] = "/health"
    await send(_START)
    await send(_BODY_MSG)


def _figures(values: list[int]) -> dict[str, float]:
    values.sort()
    n = len(values)
    return {
        "p50_us": values[n // 2] / 1000,
        "p99_us": values[min(n - 1, int(n * 0.99))] / 1000,
        "mean_us": sum(values) / n / 1000,
        "calls": n,
    }


class _DevNullLogging:
    """Production's log handler and text format, writing to /dev/null; the previous set-up is restored."""

    def __enter__(self) -> None:
        from bookstrack.logs import configure_logging

        root = logging.getLogger()
        self._saved = (root.level, list(root.handlers))
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 - closed in __exit__
        configure_logging("INFO", "text", stream=self._devnull)

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        level, handlers = self._saved
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        self._devnull.close()


async def _time_variants(
    variants: dict[str, Any], *, iterations: int, rounds: int, warmup: int, budget_s: float
) -> tuple[dict[str, list[int]], int]:
    """Per-call ns of each ASGI app, interleaved round by round; stops early past ``budget_s``."""
    perf_ns = time.perf_counter_ns
    give_up = time.monotonic() + budget_s
    samples: dict[str, list[int]] = {name: [] for name in variants}
    for app in variants.values():
        for _ in range(warmup):
            channel = _FakeChannel()
            await app(_new_scope(), channel.receive, channel.send)
            if channel.status != 200:
                raise RuntimeError(f"in-process app answered {channel.status}")
    done = 0
    for _ in range(rounds):
        for name, app in variants.items():
            out = samples[name]
            for _ in range(iterations):
                scope, channel = _new_scope(), _FakeChannel()
                t0 = perf_ns()
                await app(scope, channel.receive, channel.send)
                out.append(perf_ns() - t0)
        done += 1
        if time.monotonic() > give_up:
            break
    return samples, done


def run_middleware(*, iterations: int = 20_000, rounds: int = 5, budget_s: float = 30.0) -> dict[str, Any]:
    """µs per request of ``FrontDoor`` (access log on and off) over a trivial ASGI app alone."""
    import trio

    from bookstrack.access_log import AccessLog
    from bookstrack.config import DEFAULT_CORS_ORIGINS
    from bookstrack.metrics import Metrics
    from bookstrack.web.cors import CorsPolicy
    from bookstrack.web.middleware import FrontDoor

    def door(app: Any, access_log: bool) -> Any:
        return FrontDoor(
            app, cors=CorsPolicy(DEFAULT_CORS_ORIGINS), metrics=Metrics(), access_log=AccessLog(enabled=access_log)
        )

    variants = {
        "trivial app": _trivial_app,
        "front door, access log on": door(_trivial_app, True),
        "front door, access log off": door(_trivial_app, False),
        "front door, request unread": door(_trivial_app_unread, True),
    }
    with _DevNullLogging():
        samples, done = trio.run(
            lambda: _time_variants(variants, iterations=iterations, rounds=rounds, warmup=2000, budget_s=budget_s)
        )
    figures = {name: _figures(values) for name, values in samples.items()}
    base = figures["trivial app"]
    for name, row in figures.items():
        if name != "trivial app":
            row["overhead_p50_us"] = row["p50_us"] - base["p50_us"]
            row["overhead_mean_us"] = row["mean_us"] - base["mean_us"]
    return {"variants": figures, "target_us": MIDDLEWARE_TARGET_US, "iterations": iterations, "rounds": done}


def run_apps(*, iterations: int = 2_000, rounds: int = 5, budget_s: float = 40.0) -> dict[str, Any]:
    """The whole app in-process over ASGI (no sockets, no Hypercorn): ours, ours without the front door,
    and the bare app, so that the HTTP gap can be attributed. Access log on, to /dev/null."""
    import trio

    from bench.bare_app import create_bare_app, health_body, hold_back_disconnect
    from bookstrack.app import create_app
    from bookstrack.config import load_config
    from bookstrack.web.middleware import FrontDoor

    tmp = Path(tempfile.mkdtemp(prefix="bookstrack-bench-app-"))
    try:
        storage = {"path": str(tmp / "bookstrack.sqlite3"), "blobs": str(tmp / "blobs")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSTRACK_")}
        config = load_config(BENCH_CONFIG, env=env, overrides={"storage": storage})
        ours = create_app(config)
        stripped = create_app(load_config(BENCH_CONFIG, env=env, overrides={"storage": storage}))
        if isinstance(stripped.asgi_app, FrontDoor):
            stripped.asgi_app = stripped.asgi_app.app  # type: ignore[method-assign]
        bare = create_bare_app(health_body(config))
        completed = create_bare_app(health_body(config))
        completed.asgi_app = hold_back_disconnect(completed.asgi_app)  # type: ignore[method-assign]
        variants = {
            "ours": ours, "ours without front door": stripped, "bare Quart-trio app": bare,
            "bare, exchange completed": completed,
        }

        async def measure() -> tuple[dict[str, list[int]], int]:
            async with trio.open_nursery() as nursery:
                stops = [await _start_lifespan(app, nursery) for app in variants.values()]
                try:
                    return await _time_variants(
                        variants, iterations=iterations, rounds=rounds, warmup=300, budget_s=budget_s
                    )
                finally:
                    with trio.move_on_after(15) as scope:
                        scope.shield = True
                        for stop in stops:
                            await stop()
                    nursery.cancel_scope.cancel()

        with _DevNullLogging():
            samples, done = trio.run(measure)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = {name: _figures(values) for name, values in samples.items()}
    return {"variants": figures, "iterations": iterations, "rounds": done}


async def _start_lifespan(app: Any, nursery: Any) -> Callable[[], Any]:
    """Run ``app``'s ASGI lifespan startup in ``nursery``; returns the coroutine function that shuts it down."""
    import trio

    to_app_send, to_app_receive = trio.open_memory_channel[dict[str, Any]](4)
    from_app_send, from_app_receive = trio.open_memory_channel[dict[str, Any]](4)
    nursery.start_soon(
        app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, to_app_receive.receive, from_app_send.send
    )
    await to_app_send.send({"type": "lifespan.startup"})
    with trio.fail_after(30):
        message = await from_app_receive.receive()
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan startup failed: {message}")

    async def stop() -> None:
        await to_app_send.send({"type": "lifespan.shutdown"})
        await from_app_receive.receive()

    return stop


# -- together ---------------------------------------------------------------------------------------


def run(
    *,
    rounds: int = DEFAULT_ROUNDS,
    connections: int = 16,
    duration: float = DEFAULT_DURATION,
    warmup: float = 1.0,
    log: Log = _quiet,
) -> dict[str, Any]:
    http = run_http(rounds=rounds, connections=connections, duration=duration, warmup=warmup, log=log)
    log("front-door middleware in-process ...")
    middleware = run_middleware()
    log("whole app in-process ...")
    return {"http": http, "middleware": middleware, "apps": run_apps()}


def _ok(good: bool) -> str:
    return "OK" if good else "MISSED"


def format_results(results: dict[str, Any]) -> str:
    http, mw, apps = results["http"], results["middleware"], results["apps"]
    s, summary = http["settings"], http["summary"]
    ours, bare, complete = summary["ours"], summary["bare"], summary["bare_complete"]
    lines = [
        f"GET /health over HTTP/1.1: {s['connections']} keep-alive connections, {s['rounds']} interleaved rounds of"
        f" {s['warmup_s']:g} s warm-up + {s['duration_s']:g} s measured per server (medians of rounds);"
        f" Python {s['python']}, {s['cores']} cores",
        "",
        f"  {'server':<26}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'non-2xx':>8}{'errors':>7}"
        f"{'CPU µs/req':>11}{'server CPU':>11}{'gen CPU':>8}",
    ]
    for name in SERVERS:
        row = summary[name]
        lines.append(
            f"  {LABELS[name]:<26}{row['rps']:>8.0f}{row['p50_us'] / 1000:>8.2f}{row['p99_us'] / 1000:>8.2f}"
            f"{row['non_2xx']:>8}{row['errors']:>7}{row['server_cpu_us_per_request']:>11.0f}"
            f"{row['server_cpu_util']:>11.0%}{row['gen_cpu_util_max']:>8.0%}"
        )
    pairs = ", ".join(f"{r:.2f}" for r in http["pair_ratios"])
    extra_us = 1e6 / ours["rps"] - 1e6 / bare["rps"] if ours["rps"] and bare["rps"] else float("nan")
    complete_us = 1e6 / complete["rps"] - 1e6 / bare["rps"] if complete["rps"] and bare["rps"] else float("nan")
    target_ok = http["ratio"] >= http["ratio_target"]
    others = max(row["others_cpu_cores"] for row in summary.values())
    lines += [
        "",
        f"  ratio ours/bare req/s: {http['ratio']:.3f}  (target >= {http['ratio_target']:.2f}: {_ok(target_ok)});"
        f" per round: {pairs}; by server CPU per request: {http['cpu_ratio']:.3f}",
        f"  i.e. ours spends {extra_us:.0f} µs more per request than the bare app;"
        f" p50 ours/bare {ours['p50_us'] / bare['p50_us']:.2f}, p99 ours/bare {ours['p99_us'] / bare['p99_us']:.2f}",
        f"  of which completing each exchange (decision 0010: Hypercorn marks the connection idle again) is"
        f" {complete_us:.0f} µs: ours / bare-completed = {http['ratio_vs_complete']:.3f}"
        f" (by CPU per request {http['cpu_ratio_vs_complete']:.3f})",
        f"  body {http['body_bytes']} bytes, identical from all: {'yes' if http['bodies_identical'] else 'NO'};"
        f" access-log lines ours wrote (to a file): {http['access_log_lines']}",
        "  'Error in ASGI Framework' logged by Hypercorn: "
        + ", ".join(f"{LABELS[n]} {c}" for n, c in http["framework_errors"].items()),
        f"  other processes used {others:.2f} cores meanwhile (worst median)"
        + (" -- a busy machine: expect noise" if others > 0.25 else ""),
        f"  load generator: {bare['gen_cpu_us_per_request']:.0f} µs CPU per request, at most"
        f" {bare['gen_cpu_util_max']:.0%} of a core, the bare server {bare['server_cpu_util']:.0%} of one -> "
        + ("limited by the server, not the generator" if http["server_bound"] else "CHECK: the generator may limit"),
        "",
        f"Front-door middleware in-process ({mw['rounds']} x {mw['iterations']} calls per variant, interleaved;"
        " fake receive/send shaped like Hypercorn's; access log to /dev/null)",
        f"  {'variant':<30}{'p50 µs':>9}{'p99 µs':>9}{'mean µs':>9}{'added p50':>11}{'added mean':>12}",
    ]
    for name, row in mw["variants"].items():
        added = f"{row['overhead_p50_us']:>11.1f}{row['overhead_mean_us']:>12.1f}" if "overhead_p50_us" in row else ""
        lines.append(f"  {name:<30}{row['p50_us']:>9.1f}{row['p99_us']:>9.1f}{row['mean_us']:>9.1f}{added}")
    on = mw["variants"]["front door, access log on"]
    lines += [
        f"  the front door (access log on) adds {on['overhead_mean_us']:.1f} µs per request on average"
        f" (target <= {mw['target_us']:.0f} µs: {_ok(on['overhead_mean_us'] <= mw['target_us'])})",
        "",
        f"Whole app in-process over ASGI, no sockets ({apps['rounds']} x {apps['iterations']} requests per variant,"
        " interleaved; access log to /dev/null)",
        f"  {'app':<30}{'p50 µs':>9}{'p99 µs':>9}{'mean µs':>9}{'vs bare (mean)':>16}",
    ]
    base = apps["variants"]["bare Quart-trio app"]["mean_us"]
    for name, row in apps["variants"].items():
        lines.append(
            f"  {name:<30}{row['p50_us']:>9.1f}{row['p99_us']:>9.1f}{row['mean_us']:>9.1f}"
            f"{row['mean_us'] - base:>+15.1f} µs"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.health", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="load runs per server, interleaved")
    parser.add_argument("--connections", "-c", type=int, default=16)
    parser.add_argument("--duration", "-d", type=float, default=DEFAULT_DURATION, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON instead of a table")
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = run(
        rounds=args.rounds, connections=args.connections, duration=args.duration, warmup=args.warmup, log=progress
    )
    print(json.dumps(results, indent=2) if args.json else format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
