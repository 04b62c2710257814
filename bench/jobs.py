"""The jobs benchmark (batch enrichment jobs and their progress WebSockets): ``python -m bench.jobs [--json]``.

Against ``bookstrack fake-upstream --latency-ms 20`` and ``bookstrack serve`` (subprocesses on ephemeral
127.0.0.1 ports, started as ``bench.search`` starts them: ``bench/bench.toml``, provider base URLs at the
fake, placeholder keys, provider budgets and the ``default`` rate-limit class raised through
``BOOKSTRACK_*`` overrides, fresh temp storage, access log on and written to a file), in one run:

1. **Concurrent jobs.** 100 client tasks in this process (trio; ``httpx`` for the POST, ``trio-websocket``
   for the socket), released together: each POSTs ``/v1/enrichment/batch`` with 10 distinct catalogue
   ISBNs, opens ``/ws/progress``, sends ``ready`` and reads until the server closes. Figures: jobs/s
   (jobs / wall time from the first POST to the last terminal frame), POST -> terminal frame p50/p99,
   the delay from each live event's creation (its ``timestamp``) to its arrival p50/p99, and how many
   jobs' terminal frames reached their client (must be all).
2. **Fan-out.** One job of 100 books watched by N = 200 and N = 1,000 subscribers, against
   ``bench.bare_broadcast`` (a bare Quart-trio/Hypercorn app whose broadcaster puts the frames one of our
   subscribers received, the same texts re-stamped, into one bounded queue per connection, drained by a
   writer task per connection), interleaved in the same run. Our job is held back until every subscriber is
   in: its server runs one worker per job, its first book is an ISBN the fake upstream does not know, asked
   while the fake hangs every request (``POST /_control {"timeout": true}``), and the other 99 are cached;
   once all N sockets have their ``ready_ack`` the hang is released. The subscribers are plain non-blocking
   sockets in one ``selectors`` loop in this process (much cheaper per frame than the servers). Frames/s =
   frames received by all clients / (first event's timestamp -> last frame received). Each round runs 1,000
   / N pairs (ours, bare; the order alternating), so both N measure about 100,000 frames, after one
   uncounted warm-up pair; the medians of ours and of bare over all runs are compared. Target: ours / bare
   >= 0.90.
3. **Memory.** A fresh server, warmed up (5,000 one-book jobs, passivated), then 10,000 jobs of
   one cached book each (50 at a time, no WebSockets); a sample is polled until ``complete``, then the
   benchmark waits for passivation (ended jobs' idle timeout + 5 s after the last message to any job). Resident memory
   (``VmRSS``) before and after. Target: flat (<= 1 MiB per 1,000 jobs).

Every process is terminated (SIGTERM, then SIGKILL) when the benchmark ends, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import platform
import re
import resource
import selectors
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from actors.job import ENDED_IDLE_TIMEOUT
from bench import health, search
from bench.health import HOST, ROOT, Server
from bench.search import Client, FakeUpstreamServer

__all__ = ["run", "format_results", "summary_rows", "main"]

BENCH_CONFIG = health.BENCH_CONFIG
LATENCY_MS = 20.0
JOBS = 100
BOOKS_PER_JOB = 10
FANOUT_BOOKS = 100  # the batch route's limit
FANOUT_SUBSCRIBERS = (200, 1000)
MEMORY_JOBS = 10_000
MEMORY_WARMUP_JOBS = 5_000  # the same load first, until the allocator has reached its working set
MEMORY_CONCURRENCY = 50
PASSIVATION_WAIT = ENDED_IDLE_TIMEOUT + 5.0  # ended jobs passivate this long after their last message
RATIO_TARGET = 0.90
FLAT_MIB_PER_1000 = 1.0

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _percentile(values: list[float], q: float) -> float:
    return search._percentile(values, q)


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _titles() -> tuple[list[str], dict[str, str]]:
    """The catalogue's ISBN-13s and a title for each (Google's where it has one)."""
    from bookstrack.devtools.catalogue import load_catalogue

    catalogue = load_catalogue()
    titles: dict[str, str] = {}
    for volume in catalogue.google_volumes:
        isbn = search._volume_isbn13(volume)
        if isbn and volume.get("volumeInfo", {}).get("title"):
            titles.setdefault(isbn, volume["volumeInfo"]["title"])
    isbns = catalogue.isbn13s()
    return isbns, {i: titles.get(i, f"Book {i}") for i in isbns}


def _isbn13(prefix12: str) -> str:
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(prefix12))
    return prefix12 + str((10 - total % 10) % 10)


def _server_env(tmp: Path, fake_port: int, extra: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    env, overrides = search._server_env(tmp, fake_port)
    env.update(extra)
    return env, {**overrides, **extra}


def _start_ours(tmp: Path, fake_port: int, name: str, extra: dict[str, str], started: list[Server],
               log: Log) -> tuple[Server, dict[str, str]]:
    (tmp / name).mkdir()
    env, overrides = _server_env(tmp / name, fake_port, extra)
    server = Server(
        name,
        [sys.executable, "-m", "bookstrack", "serve", "--config", str(BENCH_CONFIG), "--host", HOST, "--port", "0"],
        env, tmp / f"{name}.log",
    )
    log(f"starting our server ({name}) ...")
    started.append(server)
    server.start()
    return server, overrides


def _stop(server: Server, started: list[Server]) -> None:
    if server in started:
        started.remove(server)
    server.stop()


def _access_ms(path: Path, what: str) -> list[float]:
    """The durations our access log gave the requests starting with ``what`` ("POST /path ")."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                at = line.find(" bookstrack.access: " + what)
                if at >= 0 and line.rstrip().endswith("ms"):
                    try:
                        out.append(float(line.rsplit(" ", 1)[1].strip().removesuffix("ms")))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def _log_findings(path: Path) -> dict[str, Any]:
    """Counts of worrying lines in a server log, and the first few distinct ones."""
    counts = {"error": 0, "warning": 0, "traceback": 0, "asgi_framework_error": 0}
    samples: list[str] = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                hit = False
                if " ERROR " in line or " CRITICAL " in line:
                    counts["error"] += 1
                    hit = True
                if " WARNING " in line:
                    counts["warning"] += 1
                    hit = True
                if line.startswith("Traceback"):
                    counts["traceback"] += 1
                if "Error in ASGI Framework" in line:
                    counts["asgi_framework_error"] += 1
                if hit:
                    text = re.sub(r"^\S+ \S+ ", "", line.strip())[:240]
                    if text not in samples and len(samples) < 8:
                        samples.append(text)
    except OSError:
        pass
    return {**counts, "samples": samples}


# -- a cheap WebSocket client: many sockets, one selectors loop --------------------------------------


_HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
_READY = b'{"type":"ready"}'
_READY_FRAME = bytes([0x81, 0x80 | len(_READY)]) + b"\0\0\0\0" + _READY  # masked with a zero key
_TIMESTAMP = re.compile(rb'"timestamp":(\d+)')


class _Conn:
    __slots__ = ("sock", "path", "state", "buf", "fragments", "connected_ms", "ready_ack", "progress",
                 "terminal", "close_code", "close_reason", "frames", "delays", "first_ts", "last_recv",
                 "sizes", "terminal_size", "error", "kept")

    def __init__(self, path: str) -> None:
        self.sock: socket.socket | None = None
        self.path = path
        self.state = "new"  # new, connecting, handshake, open, closed
        self.buf = bytearray()
        self.fragments = bytearray()
        self.connected_ms = 0.0
        self.ready_ack = False
        self.progress = 0
        self.terminal: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.frames = 0  # job_progress + terminal frames
        self.delays: list[float] = []
        self.first_ts: int | None = None
        self.last_recv = 0.0
        self.sizes: list[int] = []
        self.terminal_size = 0
        self.error: str | None = None
        self.kept: list[bytes] | None = None  # every frame's payload, when asked to keep them


class WsFleet:
    """N WebSocket clients to 127.0.0.1:port in one thread: each connects, sends ``ready`` and reads frames
    until the server closes. At most ``parallel`` handshakes are in flight (the listen backlog)."""

    def __init__(self, port: int, paths: list[str], *, parallel: int = 64) -> None:
        self.port = port
        self.conns = [_Conn(p) for p in paths]
        self.parallel = parallel
        self.sel = selectors.DefaultSelector()
        self._next = 0
        self.pending = 0

    def _start_some(self) -> None:
        while self.pending < self.parallel and self._next < len(self.conns):
            conn = self.conns[self._next]
            self._next += 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sock = sock
            rc = sock.connect_ex((HOST, self.port))
            if rc not in (0, errno.EINPROGRESS):
                conn.state, conn.error = "closed", f"connect: {os.strerror(rc)}"
                sock.close()
                continue
            conn.state = "connecting"
            self.pending += 1
            self.sel.register(sock, selectors.EVENT_WRITE, conn)

    def _fail(self, conn: _Conn, error: str) -> None:
        if conn.state in ("connecting", "handshake"):
            self.pending -= 1
        conn.error = conn.error or error
        self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.sock is not None:
            try:
                self.sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.sock.close()
        conn.state = "closed"

    def _on_event(self, conn: _Conn, mask: int, now: float) -> None:
        sock = conn.sock
        assert sock is not None
        if conn.state == "connecting":
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._fail(conn, f"connect: {os.strerror(err)}")
                return
            sock.sendall(_HANDSHAKE.format(path=conn.path, port=self.port).encode())
            conn.state = "handshake"
            self.sel.modify(sock, selectors.EVENT_READ, conn)
            return
        try:
            data = sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(conn, f"recv: {exc}")
            return
        if not data:
            if conn.close_code is None:
                self._fail(conn, "closed without a close frame")
            else:
                self._close(conn)
            return
        conn.buf += data
        if conn.state == "handshake":
            end = conn.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(conn.buf[:12])
            self.pending -= 1
            if not status.startswith(b"HTTP/1.1 101"):
                conn.error = "handshake: " + bytes(conn.buf[:end]).decode(errors="replace").splitlines()[0]
                self._close(conn)
                return
            del conn.buf[: end + 4]
            conn.state = "open"
            conn.connected_ms = now * 1000
            sock.sendall(_READY_FRAME)
        self._frames(conn, now)

    def _frames(self, conn: _Conn, now: float) -> None:
        buf = conn.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, head = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, head = int.from_bytes(buf[2:10], "big"), 10
            if b1 & 0x80:
                head += 4  # a masked server frame would be a protocol error; skip the key
            if len(buf) < head + length:
                return
            payload = bytes(buf[head : head + length])
            del buf[: head + length]
            opcode = b0 & 0x0F
            if opcode == 0x8:  # close: answer it (masked, zero key); the server ends the TCP connection
                conn.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                conn.close_reason = payload[2:].decode(errors="replace")
                try:
                    conn.sock.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + payload[:2])  # type: ignore[union-attr]
                except OSError:
                    pass
                continue
            if opcode == 0x9:  # ping -> pong
                try:
                    conn.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)  # type: ignore[union-attr]
                except OSError:
                    pass
                continue
            if opcode in (0x1, 0x2, 0x0):
                if not b0 & 0x80:
                    conn.fragments += payload
                    continue
                if conn.fragments:
                    payload, conn.fragments = bytes(conn.fragments) + payload, bytearray()
                self._message(conn, payload, now)

    def _message(self, conn: _Conn, payload: bytes, now: float) -> None:
        end = payload.find(b'"', 9)
        kind = payload[9:end]
        if kind == b"ready_ack":
            conn.ready_ack = True
            return
        conn.frames += 1
        conn.last_recv = now
        if conn.kept is not None:
            conn.kept.append(bytes(payload))
        match = _TIMESTAMP.search(payload, 0, 600)
        if match:
            ts = int(match.group(1))
            conn.delays.append(now * 1000 - ts)
            if conn.first_ts is None or ts < conn.first_ts:
                conn.first_ts = ts
        if kind == b"job_progress":
            conn.progress += 1
            conn.sizes.append(len(payload))
        else:
            conn.terminal = kind.decode(errors="replace")
            conn.terminal_size = len(payload)

    def poll(self, until: Callable[[], bool], timeout: float) -> bool:
        """Run the loop until ``until()`` or ``timeout`` seconds; True if ``until()`` held."""
        deadline = time.monotonic() + timeout
        while True:
            self._start_some()
            if until():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            events = self.sel.select(min(left, 0.05))
            now = time.time()
            for key, mask in events:
                self._on_event(key.data, mask, now)

    def all_ready(self) -> bool:
        return self._next >= len(self.conns) and all(c.ready_ack or c.state == "closed" for c in self.conns)

    def all_closed(self) -> bool:
        return self._next >= len(self.conns) and all(c.state == "closed" for c in self.conns)

    def close(self) -> None:
        for conn in self.conns:
            if conn.state != "closed":
                if conn.state != "new":
                    conn.error = conn.error or "still open at the end"
                self._close(conn)
        self.sel.close()


def _raise_nofile(wanted: int) -> dict[str, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = soft
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return {"before": soft, "after": new, "hard": hard}


# -- 1. concurrent jobs ------------------------------------------------------------------------------


async def _concurrent_jobs(port: int, books: list[list[dict[str, str]]]) -> dict[str, Any]:
    import httpx
    import trio
    from trio_websocket import ConnectionClosed, open_websocket_url

    results: list[dict[str, Any]] = [{} for _ in books]
    go = trio.Event()
    limits = httpx.Limits(max_connections=len(books), max_keepalive_connections=len(books))

    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits, timeout=60.0) as http:
        await http.get("/health")  # one connection up front: the client's own start-up is not measured

        async def one(i: int) -> None:
            out = results[i]
            job_id = f"bench-job-{i:03d}"
            await go.wait()
            out["post_start"] = time.perf_counter()
            try:
                response = await http.post("/v1/enrichment/batch", json={"jobId": job_id, "books": books[i]})
            except httpx.HTTPError as exc:
                out["error"] = f"POST: {exc!r}"
                return
            out["post_ms"] = (time.perf_counter() - out["post_start"]) * 1000
            out["status"] = response.status_code
            if response.status_code != 202:
                out["error"] = f"POST answered {response.status_code}: {response.text[:200]}"
                return
            token = response.json()["data"]["token"]
            url = f"ws://{HOST}:{port}/ws/progress?jobId={job_id}&token={token}"
            delays: list[float] = []
            catchup = 0
            progress = 0
            try:
                async with open_websocket_url(url, max_message_size=16 * 2**20) as ws:
                    connected_ms = time.time() * 1000
                    out["ws_open_ms"] = (time.perf_counter() - out["post_start"]) * 1000
                    await ws.send_message('{"type":"ready"}')
                    while True:
                        try:
                            message = await ws.get_message()
                        except ConnectionClosed as exc:
                            out["close_code"] = exc.reason.code
                            out["close_reason"] = exc.reason.reason
                            break
                        now_ms = time.time() * 1000
                        frame = json.loads(message)
                        kind = frame.get("type")
                        if kind == "ready_ack":
                            continue
                        if frame["timestamp"] < connected_ms - 1:  # created before we connected: catch-up
                            catchup += 1
                        else:
                            delays.append(now_ms - frame["timestamp"])
                        if kind == "job_progress":
                            progress += 1
                        elif kind in ("job_complete", "error"):
                            out["terminal"] = kind
                            out["terminal_at"] = time.perf_counter()
                            out["payload_ok"] = frame.get("payload", {}).get("totalProcessed") == len(books[i])
            except (OSError, ConnectionClosed, trio.TooSlowError) as exc:
                out["error"] = f"WebSocket: {exc!r}"
            except Exception as exc:  # noqa: BLE001 - a handshake rejection and the like: report, go on
                out["error"] = f"WebSocket: {exc!r}"
            out.update(delays=delays, catchup=catchup, progress=progress)

        with trio.move_on_after(120):
            async with trio.open_nursery() as nursery:
                for i in range(len(books)):
                    nursery.start_soon(one, i)
                await trio.sleep(0.2)  # every task waits at the gate
                go.set()
    return {"jobs": results}


def run_concurrent(tmp: Path, fake: Client, fake_port: int, started: list[Server], log: Log) -> dict[str, Any]:
    import trio

    isbns, titles = _titles()
    n = len(isbns)
    books = [[{"title": titles[isbns[(i * BOOKS_PER_JOB + j) % n]], "isbn": isbns[(i * BOOKS_PER_JOB + j) % n]}
              for j in range(BOOKS_PER_JOB)] for i in range(JOBS)]
    extra = {"BOOKSTRACK_JOBS__MAX_CONCURRENT_ITEMS": str(JOBS * BOOKS_PER_JOB)}
    server, overrides = _start_ours(tmp, fake_port, "ours-concurrent", extra, started, log)
    search._fake_reset(fake)
    log(f"1. {JOBS} concurrent jobs of {BOOKS_PER_JOB} books, each watched over a WebSocket ...")
    cpu0, fake_cpu0, own0 = server.cpu_seconds(), 0.0, time.process_time()
    fake_server = next(s for s in started if s.name == "fake-upstream")
    fake_cpu0 = fake_server.cpu_seconds()
    wall0 = time.perf_counter()
    raw = trio.run(_concurrent_jobs, server.port, books)
    wall = time.perf_counter() - wall0
    server_cpu = server.cpu_seconds() - cpu0
    fake_cpu = fake_server.cpu_seconds() - fake_cpu0
    client_cpu = time.process_time() - own0
    upstream = search._fake_requests(fake)
    _stop(server, started)
    jobs = raw["jobs"]
    reached = [j for j in jobs if j.get("terminal") == "job_complete"]
    starts = [j["post_start"] for j in jobs if "post_start" in j]
    ends = [j["terminal_at"] for j in reached]
    span = (max(ends) - min(starts)) if ends and starts else float("nan")
    to_terminal = [(j["terminal_at"] - j["post_start"]) * 1000 for j in reached]
    delays = [d for j in jobs for d in j.get("delays", [])]
    post_ms = [j["post_ms"] for j in jobs if "post_ms" in j]
    out = {
        "jobs": JOBS, "books_per_job": BOOKS_PER_JOB, "distinct_isbns": n,
        "reached": len(reached),
        "close_codes": _count(str(j.get("close_code")) for j in jobs),
        "errors": [j["error"] for j in jobs if "error" in j][:10],
        "payload_ok": sum(bool(j.get("payload_ok")) for j in reached),
        "jobs_per_s": len(reached) / span if span == span and span > 0 else float("nan"),
        "span_s": round(span, 3),
        "to_terminal_ms": _stats(to_terminal),
        "post_ms": _stats(post_ms),
        "ws_open_ms": _stats([j["ws_open_ms"] for j in jobs if "ws_open_ms" in j]),
        "event_delay_ms": _stats(delays),
        "live_frames": len(delays),
        "catchup_frames": sum(j.get("catchup", 0) for j in jobs),
        "progress_frames": sum(j.get("progress", 0) for j in jobs),
        "upstream_requests": upstream.get("providers", {}),
        "server_cpu_util": round(server_cpu / wall, 2),
        "fake_cpu_util": round(fake_cpu / wall, 2),
        "client_cpu_util": round(client_cpu / wall, 2),
        "wall_s": round(wall, 2),
        "overrides": extra,
        "post_server_ms": _stats(_access_ms(server.log_path, "POST /v1/enrichment/batch ")),
        "log": _log_findings(server.log_path),
    }
    log(f"   {out['reached']}/{JOBS} jobs reached their client; {out['jobs_per_s']:.1f} jobs/s; POST->terminal p50"
        f" {out['to_terminal_ms']['p50']:.0f} ms p99 {out['to_terminal_ms']['p99']:.0f} ms; event delay p99"
        f" {out['event_delay_ms']['p99']:.1f} ms; CPU server {out['server_cpu_util']:.0%}"
        f" client {out['client_cpu_util']:.0%}")
    return {"result": out, "overrides": overrides}


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values), "p50": round(_percentile(values, 0.5), 2), "p99": round(_percentile(values, 0.99), 2),
        "max": round(max(values), 2) if values else float("nan"),
    }


# -- 2. fan-out ----------------------------------------------------------------------------------------


def _fleet_figures(fleet: WsFleet, t_drain0: float, expected_progress: int) -> dict[str, Any]:
    conns = fleet.conns
    frames = sum(c.frames for c in conns)
    first_ts = min((c.first_ts for c in conns if c.first_ts is not None), default=None)
    last = max((c.last_recv for c in conns), default=0.0)
    window = (last - first_ts / 1000) if first_ts is not None else float("nan")
    progress_window_end = last
    delays = [d for c in conns for d in c.delays]
    sizes = [s for c in conns for s in c.sizes]
    return {
        "subscribers": len(conns),
        "ready": sum(c.ready_ack for c in conns),
        "frames": frames,
        "bytes_mib": round((sum(sizes) + sum(c.terminal_size for c in conns)) / 2**20, 1),
        "window_s": round(window, 3),
        "frames_per_s": frames / window if window and window > 0 else float("nan"),
        "full": sum(c.progress == expected_progress and c.terminal is not None for c in conns),
        "short": sum(c.progress < expected_progress for c in conns),
        "terminal": sum(c.terminal is not None for c in conns),
        "close_codes": _count(str(c.close_code) for c in conns),
        "errors": _count(c.error for c in conns if c.error),
        "delay_ms": _stats(delays),
        "progress_frame_bytes": round(statistics.mean(sizes)) if sizes else 0,
        "terminal_frame_bytes": max((c.terminal_size for c in conns), default=0),
        "first_event_to_drain_start_ms": round((t_drain0 - first_ts / 1000) * 1000, 1) if first_ts else None,
        "last_at": progress_window_end,
    }


def _job_seconds(port: int, job_id: str, books: list[dict[str, str]], timeout: float = 60.0) -> float | None:
    """POST a job and poll its state until it ends (bounded); seconds from the POST, None if it did not end."""
    import http.client

    client = Client(port)
    try:
        t0 = time.perf_counter()
        status, _, body, _ = client.request("POST", "/v1/enrichment/batch", {"jobId": job_id, "books": books})
        if status != 202:
            raise RuntimeError(f"POST /v1/enrichment/batch answered {status}: {body}")
        headers = {"Authorization": f"Bearer {body['data']['token']}"}
        while time.perf_counter() - t0 < timeout:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            try:
                conn.request("GET", f"/api/job-state/{job_id}", headers=headers)
                state = json.loads(conn.getresponse().read() or b"{}")
            finally:
                conn.close()
            if state.get("status") in ("complete", "failed", "canceled"):
                return round(time.perf_counter() - t0, 3)
            time.sleep(0.01)
        return None
    finally:
        client.close()


def _fanout_ours(server: Server, fake: Client, http: Client, n: int, label: str, books: list[dict[str, str]],
                 log: Log, frames_out: Path | None = None) -> dict[str, Any]:
    """One job watched by ``n`` subscribers; with ``frames_out``, the frames one subscriber received are
    written there (a JSON list of texts) for the bare app to send the same."""
    job_id = f"fanout-{label}"
    fake.request("POST", "/_control", {"timeout": True})  # every upstream request hangs until released
    try:
        status, _, body, _ = http.request("POST", "/v1/enrichment/batch", {"jobId": job_id, "books": books})
        if status != 202:
            raise RuntimeError(f"POST /v1/enrichment/batch answered {status}: {body}")
        token = body["data"]["token"]
        fleet = WsFleet(server.port, [f"/ws/progress?jobId={job_id}&token={token}"] * n)
        if frames_out is not None:
            fleet.conns[0].kept = []
        try:
            t0 = time.perf_counter()
            fleet.poll(fleet.all_ready, 60)
            connect_s = time.perf_counter() - t0
            fleet.poll(lambda: False, 0.3 + n / 2000)  # let the last subscriptions land (after ready_ack)
            early = sum(c.frames for c in fleet.conns)
        finally:
            fake.request("POST", "/_control", {"timeout": False})  # releases the held requests
        cpu0, own0, t_drain0 = server.cpu_seconds(), time.process_time(), time.time()
        fleet.poll(fleet.all_closed, 120)
        t_end = time.time()
        server_cpu, client_cpu = server.cpu_seconds() - cpu0, time.process_time() - own0
        out = _fleet_figures(fleet, t_drain0, len(books))
        if frames_out is not None:
            frames_out.write_text(json.dumps([f.decode() for f in fleet.conns[0].kept or []]), encoding="utf-8")
        fleet.close()
    finally:
        fake.request("POST", "/_control", {"timeout": False})
    out.update(connect_s=round(connect_s, 2), frames_before_release=early,
               server_cpu_util=round(server_cpu / (t_end - t_drain0), 2),
               client_cpu_util=round(client_cpu / (t_end - t_drain0), 2))
    log(f"   ours N={n}: {out['frames_per_s']:.0f} frames/s ({out['frames']} frames in {out['window_s']:.2f} s),"
        f" {out['full']}/{n} got every frame, closes {out['close_codes']}, CPU server {out['server_cpu_util']:.0%}"
        f" client {out['client_cpu_util']:.0%}")
    return out


def _fanout_bare(bare: Server, n: int, label: str, frames_file: Path, log: Log) -> dict[str, Any]:
    """The bare app broadcasting, to ``n`` subscribers, the frames one of ours received (re-stamped)."""
    path = f"/ws?round={label}&n={n}&frames={quote(str(frames_file))}"
    fleet = WsFleet(bare.port, [path] * n)
    cpu0, own0, t0 = bare.cpu_seconds(), time.process_time(), time.time()
    fleet.poll(fleet.all_ready, 60)
    connect_s = time.time() - t0
    fleet.poll(fleet.all_closed, 120)  # the broadcast starts once the N-th subscriber is in
    t_end = time.time()
    server_cpu, client_cpu = bare.cpu_seconds() - cpu0, time.process_time() - own0
    out = _fleet_figures(fleet, t0, FANOUT_BOOKS)
    fleet.close()
    # CPU shares over the broadcast itself (from its first frame on), approximated by the whole exchange
    busy = max(1e-9, t_end - t0)
    out.update(connect_s=round(connect_s, 2), server_cpu_util=round(server_cpu / busy, 2),
               client_cpu_util=round(client_cpu / busy, 2))
    log(f"   bare N={n}: {out['frames_per_s']:.0f} frames/s ({out['frames']} frames in {out['window_s']:.2f} s),"
        f" {out['full']}/{n} got every frame, closes {out['close_codes']}")
    return out


def _repeats(n: int) -> int:
    """Pairs of runs per round with ``n`` subscribers: so that each N measures about as many frames as the
    largest (a 200-subscriber job lasts a second, where a pause of the machine weighs on one run)."""
    return max(1, max(FANOUT_SUBSCRIBERS) // n)


def _fanout_pair(server: Server, bare: Server, fake: Client, http: Client, n: int, r: int, rep: int,
                 cached: list[str], titles: dict[str, str], frames: dict[int, Path], tmp: Path,
                 log: Log) -> list[dict[str, Any]]:
    """One run of ours and one of the bare app with ``n`` subscribers, the order alternating. The bare app
    sends the frames of our first run with ``n`` subscribers, as they were (``frames``: their files)."""
    blocker = _isbn13(f"97999{r:02d}{rep:02d}{n // 100:03d}")  # unknown to the fake: asked upstream
    books = [{"title": f"Held back {r}-{rep}-{n}", "isbn": blocker}] + [{"title": titles[i], "isbn": i} for i in cached]
    runs: list[dict[str, Any]] = []
    for who in ("ours", "bare") if (r + rep) % 2 == 0 else ("bare", "ours"):
        label = f"r{r}-{rep}-n{n}"
        keep = None if n in frames else tmp / f"frames-{n}.json"  # our first run with n keeps its frames
        if who == "bare" and keep is not None:  # the bare app needs our frames: one run of ours first
            runs.append({"who": "ours", "n": n, "round": r,
                         **_fanout_ours(server, fake, http, n, label + "-frames", books, log, keep)})
            frames[n], keep = keep, None
        if who == "ours":
            result = _fanout_ours(server, fake, http, n, label, books, log, keep)
            if keep is not None:
                frames[n] = keep
        else:
            result = _fanout_bare(bare, n, label, frames[n], log)
        runs.append({"who": who, "n": n, "round": r, **result})
    return runs


def run_fanout(tmp: Path, fake: Client, fake_port: int, started: list[Server], rounds: int,
               log: Log) -> dict[str, Any]:
    nofile = _raise_nofile(2 * max(FANOUT_SUBSCRIBERS) + 256)
    isbns, titles = _titles()
    extra = {
        "BOOKSTRACK_JOBS__WORKERS_PER_JOB": "1",  # in order: the held first book holds back the other 99
        "BOOKSTRACK_JOBS__READY_GRACE": "0.05",
    }
    for name in search.PROVIDERS:  # the held request must outlast the subscribers' arrival
        extra[f"BOOKSTRACK_PROVIDERS__{name.upper()}__TIMEOUT"] = "60"
        extra[f"BOOKSTRACK_PROVIDERS__{name.upper()}__DEADLINE"] = "120"
    server, _ = _start_ours(tmp, fake_port, "ours-fanout", extra, started, log)
    bare = Server("bare-broadcast", [sys.executable, "-m", "bench.bare_broadcast", "--config", str(BENCH_CONFIG),
                                     "--port", "0"], health._server_env(tmp), tmp / "bare-broadcast.log")
    log("starting the bare broadcast app ...")
    started.append(bare)
    bare.start()
    http = Client(server.port, timeout=60)
    try:
        cached = isbns[: FANOUT_BOOKS - 1]
        log(f"2. fan-out: warming {len(cached)} ISBNs into the cache ...")
        status, _, body, _ = http.request("POST", "/v1/search/isbn/batch", {"isbns": cached})
        if status != 200:
            raise RuntimeError(f"warm-up batch answered {status}: {str(body)[:200]}")
        warm = [http.request("GET", f"/v1/search/isbn?isbn={i}")[2] for i in cached[:3]]
        warm_cached = all((w or {}).get("metadata", {}).get("cached") for w in warm)
        # The search batch alone does not make a job of these books fast (the first such job took ~1.3 s,
        # the next ~0.1 s): one warm-up job of the same books, so that our job's events come at once.
        warm_books = [{"title": titles[i], "isbn": i} for i in cached]
        warm_job = [_job_seconds(server.port, f"fanout-warm-{k}", warm_books) for k in range(2)]
        runs: list[dict[str, Any]] = []
        frames: dict[int, Path] = {}
        order = list(FANOUT_SUBSCRIBERS)
        # One pair first, not counted: a process's first fan-out pays first-use costs (it ran about a third
        # slower than the next ones, in ours and in the bare app alike).
        warmup = _fanout_pair(server, bare, fake, http, min(order), rounds, 0, cached, titles, frames, tmp, log)
        for r in range(rounds):
            for n in order if r % 2 == 0 else order[::-1]:
                for rep in range(_repeats(n)):
                    runs += _fanout_pair(server, bare, fake, http, n, r, rep, cached, titles, frames, tmp, log)
    finally:
        http.close()
        _stop(bare, started)
        _stop(server, started)
    per_n: dict[str, Any] = {}
    for n in FANOUT_SUBSCRIBERS:
        ours = [x["frames_per_s"] for x in runs if x["who"] == "ours" and x["n"] == n]
        bares = [x["frames_per_s"] for x in runs if x["who"] == "bare" and x["n"] == n]
        o, b = statistics.median(ours), statistics.median(bares)
        per_n[str(n)] = {"ours_fps": o, "bare_fps": b, "ratio": o / b if b else float("nan"),
                         "runs_ours": len(ours), "runs_bare": len(bares)}
    return {
        "runs": runs, "warmup_runs": warmup, "per_n": per_n, "nofile": nofile, "overrides": extra,
        "warm_cached": warm_cached,
        "warm_job_s": warm_job,
        "log_ours": _log_findings(server.log_path), "log_bare": _log_findings(bare.log_path),
    }


# -- 3. memory -----------------------------------------------------------------------------------------


async def _many_jobs(port: int, count: int, prefix: str, isbn: str, title: str, concurrency: int,
                     sample_every: int) -> dict[str, Any]:
    import httpx
    import trio

    tokens: dict[str, str] = {}
    statuses: dict[int, int] = {}
    errors: list[str] = []
    ids = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits, timeout=60.0) as http:

        async def worker() -> None:
            for i in ids:
                job_id = f"{prefix}-{i:05d}"
                body = {"jobId": job_id, "books": [{"title": title, "isbn": isbn}]}
                try:
                    response = await http.post("/v1/enrichment/batch", json=body)
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 202 and (i % sample_every == 0 or i >= count - concurrency):
                    tokens[job_id] = response.json()["data"]["token"]

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
        post_s = time.perf_counter() - t0

        # Wait (bounded) until the sampled jobs say "complete".
        pending = dict(tokens)
        final: dict[str, str] = {}
        with trio.move_on_after(60):
            while pending:
                for job_id, token in list(pending.items()):
                    response = await http.get(f"/api/job-state/{job_id}", headers={"Authorization": f"Bearer {token}"})
                    status = response.json().get("status") if response.status_code == 200 else str(response.status_code)
                    if status in ("complete", "failed", "canceled"):
                        final[job_id] = status
                        del pending[job_id]
                if pending:
                    await trio.sleep(0.2)
        done_s = time.perf_counter() - t0
    return {"statuses": statuses, "errors": errors[:5], "post_s": post_s, "done_s": done_s,
            "sampled": len(tokens), "sample_status": _count(final.values()), "sample_unfinished": len(pending)}


def _rss_over(pid: int, seconds: float) -> list[int]:
    """RSS (KiB) once a second for ``seconds``."""
    samples = [_rss_kib(pid)]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        samples.append(_rss_kib(pid))
    return samples


def run_memory(tmp: Path, fake_port: int, started: list[Server], jobs: int, log: Log) -> dict[str, Any]:
    import trio

    isbns, titles = _titles()
    isbn = isbns[0]
    extra = {"BOOKSTRACK_JOBS__MAX_CONCURRENT_ITEMS": "1000"}
    server, _ = _start_ours(tmp, fake_port, "ours-memory", extra, started, log)
    http = Client(server.port)
    try:
        log(f"3. memory: a fresh server, {MEMORY_WARMUP_JOBS} warm-up jobs, then {jobs} one-book jobs ...")
        for _ in range(20):
            status, _, body, _ = http.request("GET", f"/v1/search/isbn?isbn={isbn}")
            if status == 200 and body.get("metadata", {}).get("cached"):
                break
            time.sleep(0.2)
        pid = server.proc.pid  # type: ignore[union-attr]
        rss_start = _rss_kib(pid)
        warm = trio.run(_many_jobs, server.port, MEMORY_WARMUP_JOBS, "warm", isbn, titles[isbn],
                        MEMORY_CONCURRENCY, 50)
        warm_wait = _rss_over(pid, PASSIVATION_WAIT)
        before = warm_wait[-1]
        cpu0 = server.cpu_seconds()
        many = trio.run(_many_jobs, server.port, jobs, "mem", isbn, titles[isbn], MEMORY_CONCURRENCY, 100)
        server_cpu = server.cpu_seconds() - cpu0
        peak = _rss_kib(pid)
        log(f"   {jobs} jobs posted in {many['post_s']:.1f} s, sample done after {many['done_s']:.1f} s;"
            f" waiting {PASSIVATION_WAIT:g} s for passivation ...")
        after_wait = _rss_over(pid, PASSIVATION_WAIT)
        after = after_wait[-1]
    finally:
        http.close()
        _stop(server, started)
    delta_mib = (after - before) / 1024
    per_1000 = delta_mib / (jobs / 1000)
    out = {
        "jobs": jobs, "warmup_jobs": MEMORY_WARMUP_JOBS, "concurrency": MEMORY_CONCURRENCY, "isbn": isbn,
        "rss_start_mib": round(rss_start / 1024, 1), "rss_before_mib": round(before / 1024, 1),
        "rss_after_jobs_mib": round(peak / 1024, 1), "rss_after_mib": round(after / 1024, 1),
        "rss_after_wait_mib": [round(x / 1024, 1) for x in after_wait],
        "rss_warm_wait_mib": [round(x / 1024, 1) for x in warm_wait],
        "delta_mib": round(delta_mib, 2), "mib_per_1000_jobs": round(per_1000, 3),
        "target_mib_per_1000": FLAT_MIB_PER_1000,
        "post_s": round(many["post_s"], 2), "done_s": round(many["done_s"], 2),
        "jobs_per_s": round(jobs / many["post_s"], 1) if many["post_s"] else None,
        "server_cpu_ms_per_job": round(server_cpu / jobs * 1000, 2),
        "statuses": many["statuses"], "errors": many["errors"], "sampled": many["sampled"],
        "sample_status": many["sample_status"], "sample_unfinished": many["sample_unfinished"],
        "warm_statuses": warm["statuses"], "overrides": extra,
        "log": _log_findings(server.log_path),
    }
    log(f"   RSS before {out['rss_before_mib']} MiB, right after the jobs {out['rss_after_jobs_mib']} MiB, after"
        f" passivation {out['rss_after_mib']} MiB: {out['mib_per_1000_jobs']:+.3f} MiB per 1000 jobs")
    return out


# -- the whole run -----------------------------------------------------------------------------------


def run(*, fanout_rounds: int = 1, memory_jobs: int = MEMORY_JOBS, log: Log = _quiet) -> dict[str, Any]:
    started_at = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bookstrack-bench-jobs-"))
    fake = FakeUpstreamServer.at_latency(tmp, LATENCY_MS)
    started: list[Server] = []
    results: dict[str, Any] = {}
    fake_client: Client | None = None
    try:
        log(f"starting the fake upstream (--latency-ms {LATENCY_MS:g}) ...")
        started.append(fake)
        fake.start()
        fake_client = Client(fake.port)
        concurrent = run_concurrent(tmp, fake_client, fake.port, started, log)
        results["concurrent"] = concurrent["result"]
        overrides = concurrent["overrides"]
        results["fanout"] = run_fanout(tmp, fake_client, fake.port, started, fanout_rounds, log)
        search._fake_reset(fake_client)
        results["memory"] = run_memory(tmp, fake.port, started, memory_jobs, log)
        results["fake_settings_after"] = fake_client.request("GET", "/_control")[2]
    finally:
        if fake_client is not None:
            fake_client.close()
        health._stop_all(started)
        shutil.rmtree(tmp, ignore_errors=True)
    overrides = {k: v for k, v in overrides.items() if not k.endswith("_BASE_URL") and "BASE_URL" not in k}
    results["settings"] = {
        "upstream_latency_ms": LATENCY_MS, "jobs": JOBS, "books_per_job": BOOKS_PER_JOB,
        "fanout_books": FANOUT_BOOKS, "fanout_subscribers": list(FANOUT_SUBSCRIBERS), "fanout_rounds": fanout_rounds,
        "memory_jobs": memory_jobs, "config": str(BENCH_CONFIG.relative_to(ROOT)), "overrides": overrides,
        "python": platform.python_version(), "cores": os.cpu_count(),
    }
    results["elapsed_s"] = round(time.monotonic() - started_at, 1)
    return results


# -- output ------------------------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict): also used by ``bench.report``."""
    c, f, m = results["concurrent"], results["fanout"], results["memory"]
    rows = [
        (f"{c['jobs']} concurrent jobs: terminal frame reached client", f"{c['reached']}/{c['jobs']}",
         f"{c['jobs']}/{c['jobs']}", _mark(c["reached"] == c["jobs"])),
        ("  jobs/s; POST->terminal p50 / p99 ms",
         f"{c['jobs_per_s']:.1f}; {c['to_terminal_ms']['p50']:.0f} / {c['to_terminal_ms']['p99']:.0f}", "", ""),
        ("  event creation->arrival p50 / p99 ms",
         f"{c['event_delay_ms']['p50']:.1f} / {c['event_delay_ms']['p99']:.1f}", "", ""),
    ]
    for n, row in f["per_n"].items():
        rows.append((f"fan-out frames/s, 1 job x {n} subscribers, ours/bare",
                     f"{row['ours_fps']:.0f} / {row['bare_fps']:.0f} = {row['ratio']:.3f}",
                     f">= {RATIO_TARGET:.2f}", _mark(row["ratio"] >= RATIO_TARGET)))
    rows.append((f"RSS after {m['jobs']} finished jobs, MiB per 1000",
                 f"{m['rss_before_mib']} -> {m['rss_after_mib']} ({m['mib_per_1000_jobs']:+.3f})",
                 f"<= {m['target_mib_per_1000']:g}", _mark(m["mib_per_1000_jobs"] <= m["target_mib_per_1000"])))
    return rows


def _log_line(name: str, findings: dict[str, Any]) -> list[str]:
    line = (f"   {name} log: {findings['error']} ERROR, {findings['warning']} WARNING, {findings['traceback']}"
            f" tracebacks, {findings['asgi_framework_error']} 'Error in ASGI Framework'")
    return [line] + [f"     | {s}" for s in findings["samples"]]


def _short(overrides: dict[str, str]) -> str:
    return ", ".join(f"{k.removeprefix('BOOKSTRACK_')}={v}" for k, v in overrides.items())


def format_results(results: dict[str, Any]) -> str:
    s, c, f, m = results["settings"], results["concurrent"], results["fanout"], results["memory"]
    overrides = ", ".join(f"{k.removeprefix('BOOKSTRACK_')}={v}" for k, v in sorted(s["overrides"].items())
                          if "API_KEY" not in k and "PROVIDERS__" not in k)
    lines = [
        "Jobs: batch enrichment and progress WebSockets, against the fake upstream",
        "-------------------------------------------------------------------------",
        f"upstream latency {s['upstream_latency_ms']:g} ms; server {s['config']} + overrides: every provider"
        " rate_per_second=100000, per_day=0, budget_wait=30, placeholder API keys; " + overrides + ";"
        f" access log on. Python {s['python']}, {s['cores']} cores; whole run {results['elapsed_s']:.0f} s.",
        "",
        f"1. {c['jobs']} concurrent jobs x {c['books_per_job']} distinct catalogue ISBNs, 100 trio tasks in one"
        f" client process (httpx POST, trio-websocket, ready sent at once); server overrides"
        f" {_short(c['overrides'])}",
        f"   the catalogue has {c['distinct_isbns']} ISBN-13s, so the 1000 book slots repeat each ISBN ~"
        f"{c['jobs'] * c['books_per_job'] / c['distinct_isbns']:.0f} times: the first jobs go upstream, later ones"
        f" mostly hit the server's cache (upstream requests: {c['upstream_requests']})",
        f"   terminal frame reached its client: {c['reached']}/{c['jobs']} (payload totalProcessed right:"
        f" {c['payload_ok']}); close codes {c['close_codes']}; errors {c['errors'] or 'none'}",
        f"   {c['jobs_per_s']:.1f} jobs/s ({c['reached']} jobs, first POST -> last terminal frame {c['span_s']:.2f} s)",
        f"   POST -> terminal frame: p50 {c['to_terminal_ms']['p50']:.0f} ms, p99 {c['to_terminal_ms']['p99']:.0f} ms,"
        f" max {c['to_terminal_ms']['max']:.0f} ms; POST alone p50 {c['post_ms']['p50']:.1f} ms, p99"
        f" {c['post_ms']['p99']:.1f} ms (server's own, access log: p50 {c['post_server_ms']['p50']:.0f} ms, p99"
        f" {c['post_server_ms']['p99']:.0f} ms); POST -> socket open p50 {c['ws_open_ms']['p50']:.0f} ms",
        f"   event creation (frame timestamp, server ms) -> arrival (client wall ms), {c['live_frames']} live frames:"
        f" p50 {c['event_delay_ms']['p50']:.1f} ms, p99 {c['event_delay_ms']['p99']:.1f} ms, max"
        f" {c['event_delay_ms']['max']:.1f} ms ({c['catchup_frames']} catch-up frames created before their socket"
        " opened are left out)",
        f"   CPU over the run: server {c['server_cpu_util']:.0%}, fake upstream {c['fake_cpu_util']:.0%}, client"
        f" {c['client_cpu_util']:.0%} of a core -> "
        + ("the client process is not the bottleneck" if c["client_cpu_util"] < 0.8 else
           "CHECK: the client may limit (split it into processes)"),
        *_log_line("server", c["log"]),
        "",
        f"2. fan-out: one job of {s['fanout_books']} books (first held upstream until every subscriber is in, 99"
        f" cached; one worker) vs bench.bare_broadcast, {s['fanout_rounds']} round(s) of 1000/N pairs each;"
        f" subscribers are raw sockets in one selectors loop (RLIMIT_NOFILE soft {f['nofile']['before']} ->"
        f" {f['nofile']['after']}); warm-up ISBNs cached: {f['warm_cached']}; two warm-up jobs of the 99"
        f" books took {f['warm_job_s']} s",
        f"   {'run':<16}{'N':>6}{'frames':>9}{'window s':>10}{'frames/s':>10}{'all frames':>11}{'short':>7}"
        f"{'closes':>22}{'delay p50/p99 ms':>20}{'srv CPU':>9}{'cli CPU':>9}",
    ]
    for x in f["runs"]:
        closes = ",".join(f"{k}x{v}" for k, v in x["close_codes"].items())
        lines.append(
            f"   {x['who'] + ' r' + str(x['round'] + 1):<16}{x['n']:>6}{x['frames']:>9}{x['window_s']:>10.2f}"
            f"{x['frames_per_s']:>10.0f}{x['full']:>11}{x['short']:>7}{closes:>22}"
            f"{x['delay_ms']['p50']:>10.0f}/{x['delay_ms']['p99']:<9.0f}{x['server_cpu_util']:>9.0%}"
            f"{x['client_cpu_util']:>9.0%}"
        )
        if x["errors"]:
            lines.append(f"      errors: {x['errors']}")
    ours_runs = [x for x in f["runs"] if x["who"] == "ours"]
    if ours_runs:
        x = ours_runs[0]
        lines.append(f"   frame sizes: job_progress ~{x['progress_frame_bytes']} B, job_complete"
                     f" {x['terminal_frame_bytes']} B (the bare app sends the same frames; {x['bytes_mib']} MiB per"
                     f" run at N={x['n']}); frames counted: job_progress + the terminal frame")
        lines.append(f"   ours: subscribers connected in {', '.join(str(r['connect_s']) for r in ours_runs)} s; frames"
                     f" before the release: {', '.join(str(r['frames_before_release']) for r in ours_runs)}")
    for n, row in f["per_n"].items():
        lines.append(f"   N={n}: ours {row['ours_fps']:.0f} frames/s, bare {row['bare_fps']:.0f} frames/s, ratio"
                     f" {row['ratio']:.3f} (target >= {RATIO_TARGET:.2f}: {_mark(row['ratio'] >= RATIO_TARGET)})")
    lines += _log_line("our server", f["log_ours"]) + _log_line("bare app", f["log_bare"])
    lines += [
        "",
        f"3. memory: a fresh server, {m['warmup_jobs']} warm-up jobs, then {m['jobs']} jobs of 1 cached book"
        f" ({m['isbn']}), {m['concurrency']} at a time, no WebSockets",
        f"   answers {m['statuses']}, errors {m['errors'] or 'none'}; posted in {m['post_s']:.1f} s ({m['jobs_per_s']}"
        f" jobs/s, server {m['server_cpu_ms_per_job']:.2f} ms CPU per job); {m['sampled']} sampled jobs ended"
        f" {m['sample_status']}, unfinished {m['sample_unfinished']}",
        f"   RSS: at start {m['rss_start_mib']} MiB; after warm-up + {PASSIVATION_WAIT:g} s {m['rss_before_mib']} MiB"
        f" (before); right after the jobs {m['rss_after_jobs_mib']} MiB; after {PASSIVATION_WAIT:g} s"
        f" {m['rss_after_mib']} MiB (after)",
        f"   RSS each second while waiting: {m['rss_after_wait_mib']}",
        f"   delta {m['delta_mib']:+.2f} MiB = {m['mib_per_1000_jobs']:+.3f} MiB per 1000 jobs (flat: <="
        f" {m['target_mib_per_1000']:g}: {_mark(m['mib_per_1000_jobs'] <= m['target_mib_per_1000'])})",
        *_log_line("server", m["log"]),
        "",
    ]
    fake_latency = (results.get("fake_settings_after") or {}).get("global", {}).get("latency_ms")
    lines += [f"   fake upstream latency at the end of the run: {fake_latency} ms", ""]
    rows = summary_rows(results)
    width = max(len(r[0]) for r in rows)
    lines += ["   Targets"]
    lines += [f"   {name:<{width}}  {value:<36}{target:<10}{verdict}" for name, value, target, verdict in rows]
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(f"  .. {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fanout-rounds", type=int, default=1, help="interleaved fan-out rounds (ours and bare)")
    parser.add_argument("--memory-jobs", type=int, default=MEMORY_JOBS)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    if args.fanout_rounds < 1 or args.memory_jobs < 1:
        parser.error("--fanout-rounds >= 1, --memory-jobs >= 1")
    results = run(fanout_rounds=args.fanout_rounds, memory_jobs=args.memory_jobs, log=_progress)
    print(json.dumps(results, indent=2) if args.json else format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
