"""Serving the app on Hypercorn's trio worker, with a clean shutdown on SIGINT/SIGTERM.

Owns the translation of ``[server]`` config into Hypercorn settings and the shutdown sequence: on the
first signal, stop accepting, let in-flight requests finish (up to ``graceful_timeout``), then run the
app's lifespan shutdown, which stops the actors and closes the database after its last commit. Serving
installs ``tcp_connection.ClosingTCPServer`` as Hypercorn's per-connection handler (decision 0033).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from bookstrack import tcp_connection
from bookstrack.app import BooksTrackApp
from bookstrack.config import Config

__all__ = ["hypercorn_config", "serve", "wait_for_signal", "RuntimeTuning", "SERVER_TUNING"]


def hypercorn_config(config: Config, *, host: str | None = None, port: int | None = None) -> HypercornConfig:
    hc = HypercornConfig()
    host = host or config.server.host
    port = config.server.port if port is None else port
    hc.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hc.graceful_timeout = config.server.graceful_timeout
    hc.keep_alive_timeout = config.server.keep_alive_timeout
    hc.accesslog = None  # our front door writes the access log
    # Hypercorn's own messages go through our logging set-up (same format, one handler). Its "-" would
    # add a second stderr handler to a logger that also propagates to ours: every line twice.
    hc.errorlog = logging.getLogger("hypercorn.error")
    return hc


async def wait_for_signal(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Return when one of ``signals`` arrives (trio's handler replaces Python's while this waits)."""
    with trio.open_signal_receiver(*signals) as received:
        async for _ in received:
            return


@dataclass(frozen=True)
class RuntimeTuning:
    """Process-wide interpreter settings applied once the server is up (``bookstrack serve`` passes
    ``SERVER_TUNING``; tests and embedders keep CPython's defaults)."""

    # Move everything alive at start-up (modules, the app, its services) out of the collector's sight:
    # collections then scan only what requests allocate (decision 0011).
    freeze_gc: bool = True
    # Collect the young generation every 50,000 net allocations instead of 700, and the older ones less
    # often: with a thousand WebSockets and their frames in flight, collections took about half the CPU
    # of a progress fan-out (decision 0031).
    gc_thresholds: tuple[int, int, int] | None = (50_000, 20, 20)
    # How long the event loop may hold the GIL while the SQLite thread waits for it; CPython's default
    # is 0.005 s (decision 0029).
    switch_interval: float | None = 0.0005

    def apply(self) -> None:
        if self.freeze_gc:
            gc.collect()
            gc.freeze()
        if self.gc_thresholds is not None:
            gc.set_threshold(*self.gc_thresholds)
        if self.switch_interval is not None:
            sys.setswitchinterval(self.switch_interval)


SERVER_TUNING = RuntimeTuning()


async def serve(
    app: BooksTrackApp,
    hc: HypercornConfig,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    tuning: RuntimeTuning | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown_trigger`` returns (default: SIGINT or SIGTERM). ``task_status.started``
    receives the bound URLs, so ``await nursery.start(serve, ...)`` learns an ephemeral port.

    ``tuning`` (the CLI passes ``SERVER_TUNING``) is applied once the server is bound and started."""
    tcp_connection.install()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(
                hypercorn_serve,
                app,  # type: ignore[arg-type]
                hc,
                shutdown_trigger=shutdown_trigger or wait_for_signal,  # type: ignore[arg-type]
            )
        )
        if tuning is not None:
            tuning.apply()
        task_status.started(urls)
