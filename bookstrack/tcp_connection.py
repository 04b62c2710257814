"""The per-connection handler Hypercorn's trio worker runs: one idle timer per connection, let go at close.

Hypercorn's trio ``TCPServer`` (0.18) keeps a connection's keep-alive timer as a task it cancels when a
request starts and starts anew (``nursery.start``: a new task and a start-up handshake) each time the
connection turns idle, so every keep-alive exchange paid for a task; and once the client's end was read to
its close it still waited for that task, so a connection the client closed while idle (how keep-alive
clients and pools end every connection) kept its socket, task and buffers for the whole
``keep_alive_timeout`` (75 s by default, decision 0032).

``ClosingTCPServer`` keeps one watcher task per connection for the connection's whole life and moves its
deadline instead: now + ``keep_alive_timeout`` when the connection turns idle, never while a request is in
progress. The watcher closes the connection when the deadline passes while idle, or when the server shuts
down while it is idle (as Hypercorn's timer did); it ends as soon as reading ends. ``install`` puts the class
where Hypercorn's trio worker builds its handlers (decisions 0033, 0035).

Owns only when an idle or finished connection is let go; it must not change what is read, sent or timed out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import hypercorn.trio.run
import trio
from hypercorn.trio.tcp_server import TCPServer

__all__ = ["ClosingTCPServer", "IdleWatch", "install"]


class IdleWatch:
    """Stands in for Hypercorn's ``TrioSingleTask`` as ``TCPServer.idle_task``: ``restart`` means "the
    connection is idle now", ``stop`` "a request is in progress"; neither starts or cancels a task after the
    first ``restart``. ``finish`` ends the watcher (nothing more can arrive on the connection)."""

    def __init__(self, timeout: float, close: Callable[[], Any], terminated: Any) -> None:
        self._timeout = timeout
        self._close = close  # async: closes the connection from the server's side
        self._terminated = terminated  # Hypercorn's worker context event: the server is shutting down
        self._idle = False
        self._finished = False
        self._deadline = math.inf
        self._scope: trio.CancelScope | None = None
        self._running = False

    async def restart(self, task_group: Any, action: Callable[[], Any]) -> None:
        # ``action`` is Hypercorn's own timer body; the watcher below does its work. A watcher that has
        # returned (the server began shutting down mid-request) is started again, as Hypercorn would.
        self._set(idle=True)
        if not self._running and not self._finished:
            self._running = True
            task_group._nursery.start_soon(self._watch)

    async def stop(self) -> None:
        self._set(idle=False)

    def finish(self) -> None:
        self._finished = True
        self._set(idle=False)
        if self._scope is not None:
            self._scope.cancel()

    def _set(self, *, idle: bool) -> None:
        self._idle = idle
        self._deadline = trio.current_time() + self._timeout if idle else math.inf
        if self._scope is not None:
            self._scope.deadline = self._deadline

    async def _watch(self) -> None:
        try:
            await self._watch_deadlines()
        finally:
            self._running = False

    async def _watch_deadlines(self) -> None:
        while not self._finished:
            with trio.CancelScope(deadline=self._deadline) as scope:
                self._scope = scope
                await self._terminated.wait()
            self._scope = None
            if self._finished:
                return
            if self._idle:  # idle past the timeout, or the server is shutting down while this is idle
                with trio.CancelScope(shield=True):
                    await self._close()
                return
            if self._terminated.is_set():
                return  # shutting down mid-request: the exchange closes the connection when it ends
            # The deadline passed just as a request began: keep watching with the new one.


class ClosingTCPServer(TCPServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_task = IdleWatch(  # type: ignore[assignment]
            self.config.keep_alive_timeout, self._initiate_server_close, self.context.terminated
        )

    async def _read_data(self) -> None:
        await super()._read_data()
        # Nothing more can arrive: what is left is to finish the requests in flight and close. The idle
        # watcher would only hold the connection open until its deadline.
        self.idle_task.finish()  # type: ignore[attr-defined]


def install() -> None:
    """Make Hypercorn's trio worker build ``ClosingTCPServer`` handlers (idempotent)."""
    # worker_serve offers no argument for the handler class; it names TCPServer from its module globals.
    hypercorn.trio.run.TCPServer = ClosingTCPServer  # type: ignore[misc]
