"""A small closed-loop HTTP/1.1 load generator: ``python -m bench.loadgen --port P [options]``.

N keep-alive connections to 127.0.0.1 (no other host is accepted), each sending the same pre-built
request bytes and waiting for the whole response before sending the next. Responses are parsed
minimally: the status code from the status line and the body length from ``Content-Length`` (a
response without one is counted as an error and its connection re-opened). One thread, plain
non-blocking sockets and ``selectors`` (epoll): a request costs the generator a ``send``, a ``recv``
and a few byte operations, far less than a Python ASGI server spends on it.

A warm-up phase (``--warmup`` seconds) runs first and is excluded from every figure. The measured phase
stops by itself after ``--requests`` responses or ``--duration`` seconds, whichever comes first.
Output is one JSON object on stdout: requests/s, latency percentiles in microseconds, the non-2xx
count, errors, and the generator's own CPU time (so a caller can tell whether the generator, rather
than the server, was the bottleneck).
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import resource
import selectors
import socket
import sys
import time
from typing import Any

__all__ = ["run", "main", "HOST"]

HOST = "127.0.0.1"  # the only address this tool ever connects to

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"
_RECV = 262144


class _Conn:
    __slots__ = ("sock", "buf", "sent_ns", "need", "status")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.sent_ns = 0
        self.need = -1  # total bytes (head + body) of the response being read; -1 while the head is incomplete
        self.status = 0


class _BadResponse(Exception):
    pass


def build_request(method: str, path: str, port: int, headers: list[str] | None = None) -> bytes:
    """The request bytes every connection sends, built once."""
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise ValueError(f"bad request path {path!r}")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "User-Agent: bookstrack-bench/1", "Accept: */*"]
    lines += headers or []
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _connect(port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] / 1000.0  # ns -> µs


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(
    *,
    port: int,
    path: str = "/health",
    method: str = "GET",
    connections: int = 16,
    duration: float = 5.0,
    requests: int = 1_000_000,
    warmup: float = 1.0,
    timeout: float = 5.0,
    host: str = HOST,
) -> dict[str, Any]:
    """Run one load test and return its figures (see the module docstring)."""
    if host != HOST:
        raise ValueError(f"refusing to load host {host!r}: this generator only targets {HOST}")
    if not 1 <= connections <= 1024:
        raise ValueError("connections must be between 1 and 1024")
    if duration <= 0 or requests < 1 or warmup < 0 or timeout <= 0:
        raise ValueError("duration, requests and timeout must be positive and warmup >= 0")
    request = build_request(method, path, port)
    sel = selectors.DefaultSelector()
    conns: list[_Conn] = []
    latencies: list[int] = []
    statuses: dict[int, int] = {}
    errors = {"connect": 0, "closed": 0, "bad_response": 0, "timeout": 0}
    perf_ns = time.perf_counter_ns
    timeout_ns = int(timeout * 1e9)

    def send(conn: _Conn) -> None:
        conn.sent_ns = perf_ns()
        sent = conn.sock.send(request)
        if sent != len(request):  # a tiny request into an empty socket buffer: practically never
            conn.sock.setblocking(True)
            try:
                conn.sock.sendall(request[sent:])
            finally:
                conn.sock.setblocking(False)

    def reopen(conn: _Conn, reason: str, sending: bool) -> None:
        errors[reason] += 1
        sel.unregister(conn.sock)
        conn.sock.close()
        conns.remove(conn)
        try:
            fresh = _Conn(_connect(port, timeout))
        except OSError:
            errors["connect"] += 1
            return
        conns.append(fresh)
        sel.register(fresh.sock, selectors.EVENT_READ, fresh)
        if sending:
            send(fresh)

    try:
        for _ in range(connections):
            try:
                conn = _Conn(_connect(port, timeout))
            except OSError as exc:
                raise SystemExit(f"loadgen: cannot connect to {HOST}:{port}: {exc}") from None
            conns.append(conn)
            sel.register(conn.sock, selectors.EVENT_READ, conn)

        gc.collect()
        gc.disable()  # the generator allocates little; a collection mid-run would only add noise
        started = time.monotonic()
        warm_until = started + warmup
        hard_stop = warm_until + duration + timeout + 5.0  # a bound even if the clock checks below misbehave
        measuring = warmup == 0
        phase_start_ns = perf_ns()
        cpu_start = _cpu_seconds()
        phase_start = time.monotonic()
        end_at = phase_start + duration if measuring else warm_until
        completed = 0
        responses = 0  # every whole response, warm-up included (for per-request server CPU)
        next_timeout_check = time.monotonic() + 0.25
        for conn in conns:
            send(conn)

        while True:
            events = sel.select(0.05)
            for key, _ in events:
                conn = key.data
                try:
                    data = conn.sock.recv(_RECV)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                        raise
                    data = b""
                if not data:
                    reopen(conn, "closed", True)
                    continue
                buf = conn.buf + data if conn.buf else data
                while True:
                    if conn.need < 0:
                        end = buf.find(_HEADER_END)
                        if end < 0:
                            break
                        try:
                            conn.status = int(buf[9:12])
                            head = buf[:end].lower()
                            at = head.find(_CONTENT_LENGTH)
                            if at < 0:
                                if conn.status in (204, 304) or 100 <= conn.status < 200:
                                    length = 0
                                else:
                                    raise _BadResponse
                            else:
                                stop = head.find(b"\r\n", at + 2)
                                length = int(head[at + len(_CONTENT_LENGTH) : stop if stop >= 0 else None])
                        except (ValueError, _BadResponse):
                            conn.buf = b""
                            reopen(conn, "bad_response", True)
                            buf = b""
                            break
                        conn.need = end + 4 + length
                    if len(buf) < conn.need:
                        break
                    # One whole response.
                    done_ns = perf_ns()
                    if conn.status >= 200:  # 1xx interim responses are skipped
                        responses += 1
                        if measuring and conn.sent_ns >= phase_start_ns:
                            latencies.append(done_ns - conn.sent_ns)
                            statuses[conn.status] = statuses.get(conn.status, 0) + 1
                            completed += 1
                        buf = buf[conn.need :]
                        conn.need = -1
                        send(conn)
                    else:
                        buf = buf[conn.need :]
                        conn.need = -1
                conn.buf = buf

            now = time.monotonic()
            if now >= end_at or completed >= requests or now >= hard_stop:
                if measuring or now >= hard_stop:
                    break
                # Warm-up over: the measured phase starts now; answers to earlier requests are ignored.
                measuring = True
                phase_start_ns = perf_ns()
                phase_start = time.monotonic()
                cpu_start = _cpu_seconds()
                end_at = phase_start + duration
            if now >= next_timeout_check:
                next_timeout_check = now + 0.25
                limit = perf_ns() - timeout_ns
                for conn in [c for c in conns if c.sent_ns < limit]:
                    reopen(conn, "timeout", True)
                if not conns:
                    raise SystemExit("loadgen: every connection failed")
        elapsed = time.monotonic() - phase_start
        cpu = _cpu_seconds() - cpu_start
    finally:
        gc.enable()
        for conn in conns:
            try:
                sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.sock.close()
        sel.close()

    latencies.sort()
    non_2xx = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    return {
        "target": f"http://{HOST}:{port}{path}",
        "method": method,
        "connections": connections,
        "warmup_s": warmup,
        "duration_s": round(elapsed, 3),
        "requests": completed,
        "responses_total": responses,
        "rps": round(completed / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_us": round(_percentile(latencies, 0.50), 1),
        "p90_us": round(_percentile(latencies, 0.90), 1),
        "p99_us": round(_percentile(latencies, 0.99), 1),
        "max_us": round(latencies[-1] / 1000.0, 1) if latencies else None,
        "mean_us": round(sum(latencies) / len(latencies) / 1000.0, 1) if latencies else None,
        "non_2xx": non_2xx,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors,
        "gen_cpu_s": round(cpu, 3),
        "gen_cpu_util": round(cpu / elapsed, 3) if elapsed > 0 else None,  # 1.0 = one core busy
        "gen_cpu_us_per_request": round(cpu / completed * 1e6, 1) if completed else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=HOST, help=f"must be {HOST}: any other host is refused")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/health")
    parser.add_argument("--method", default="GET", choices=["GET", "HEAD", "OPTIONS", "DELETE"])
    parser.add_argument("--connections", "-c", type=int, default=16)
    parser.add_argument("--duration", "-d", type=float, default=5.0, help="seconds of measurement (after warm-up)")
    parser.add_argument("--requests", "-n", type=int, default=1_000_000, help="stop after this many responses")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load first")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a request may take before it is an error")
    args = parser.parse_args(argv)
    if args.host != HOST:
        print(f"loadgen: refusing host {args.host!r}: only {HOST} is allowed", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print("loadgen: --port must be 1..65535", file=sys.stderr)
        return 2
    try:
        result = run(
            port=args.port, path=args.path, method=args.method, connections=args.connections,
            duration=args.duration, requests=args.requests, warmup=args.warmup, timeout=args.timeout,
        )
    except ValueError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
