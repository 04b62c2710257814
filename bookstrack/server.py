"""Serving the app on Hypercorn's trio worker, with a clean shutdown on SIGINT/SIGTERM.

Owns the translation of ``[server]`` config into Hypercorn settings and the shutdown sequence: on the
first signal, stop accepting, let in-flight requests finish (up to ``graceful_timeout``), then run the
app's lifespan shutdown, which stops the actors and closes the database after its last commit.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from bookstrack.app import BooksTrackApp
from bookstrack.config import Config

__all__ = ["hypercorn_config", "serve", "wait_for_signal", "SERVER_SWITCH_INTERVAL"]


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


SERVER_SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005 (decision 0029)


async def serve(
    app: BooksTrackApp,
    hc: HypercornConfig,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    freeze_gc: bool = False,
    switch_interval: float | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown_trigger`` returns (default: SIGINT or SIGTERM). ``task_status.started``
    receives the bound URLs, so ``await nursery.start(serve, ...)`` learns an ephemeral port.

    ``freeze_gc`` (the CLI sets it; it is process-wide) moves everything alive once the server is up
    (modules, the app, its services) out of the garbage collector's sight: collections then scan only
    what requests allocate, which takes tens of microseconds off every request of a busy server.

    ``switch_interval`` (the CLI sets ``SERVER_SWITCH_INTERVAL``; process-wide too) shortens how long the
    event loop may hold the GIL while the SQLite thread waits for it (decision 0029)."""
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(
                hypercorn_serve,
                app,  # type: ignore[arg-type]
                hc,
                shutdown_trigger=shutdown_trigger or wait_for_signal,  # type: ignore[arg-type]
            )
        )
        if freeze_gc:
            gc.collect()
            gc.freeze()
        if switch_interval is not None:
            sys.setswitchinterval(switch_interval)
        task_status.started(urls)
