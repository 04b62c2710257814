"""A small HTTP/1.1 server for the fake upstream: an ASGI ``http`` app on trio sockets, parsed by h11.

Why not Hypercorn (which serves BooksTrack itself): the fake stands in for four remote services during
benchmarks and must not be the bottleneck. Hypercorn's per-request machinery (a task group, timers and
several ASGI layers per exchange) cost the fake about 0.8 ms of CPU per request, so a batch of 100
concurrent requests queued for most of 100 ms in the fake before its injected latency even started; this
server spends a fraction of that. The fake only needs what is here: keep-alive HTTP/1.1 with
``Content-Length`` bodies, one request at a time per connection, ``http.disconnect`` when a client goes
away (held requests watch for it), and cutting every connection at shutdown. No lifespan, no HTTP/2, no
WebSocket, no TLS: a development tool on loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import unquote

import h11
import trio

__all__ = ["serve_http11"]

log = logging.getLogger("bookstrack.devtools.http11")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

_READ = 65536
_MAX_BODY = 1 << 20


class _Disconnected(Exception):
    """The client closed the connection."""


class _Connection:
    """One client connection: requests in turn, each answered by the app."""

    def __init__(self, stream: trio.SocketStream, app: App, server: tuple[str, int]) -> None:
        self.stream = stream
        self.app = app
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_BODY)
        try:
            peer = stream.socket.getpeername()
            self.client: tuple[str, int] | None = (peer[0], peer[1])
        except OSError:
            self.client = None

    async def _next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.stream.receive_some(_READ)
            self.h11.receive_data(data)  # b"" marks the end of the stream

    async def run(self) -> None:
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    return
                if not isinstance(event, h11.Request):
                    return
                await self._exchange(event)
                if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                    return  # MUST_CLOSE, or the body was not read
                self.h11.start_next_cycle()
        except (h11.RemoteProtocolError, _Disconnected, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            with trio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _exchange(self, request: h11.Request) -> None:
        chunks: list[bytes] = []
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise _Disconnected()
        target = bytes(request.target)
        raw_path, _, query = target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method.decode("ascii"),
            "scheme": "http",
            "path": unquote(raw_path.decode("ascii", "replace")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(bytes(k), bytes(v)) for k, v in request.headers],
            "client": self.client,
            "server": self.server,
        }
        body_sent = False
        started: dict[str, Any] | None = None
        finished = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            # Only a held request asks again: it learns of the client leaving. Clients of the fake never
            # pipeline, so anything read here would be the end of the stream (or is kept for h11).
            while True:
                data = await self.stream.receive_some(_READ)
                if not data:
                    return {"type": "http.disconnect"}
                self.h11.receive_data(data)

        async def send(message: dict[str, Any]) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = message
                return
            if message["type"] != "http.response.body" or started is None or finished:
                raise RuntimeError(f"unexpected ASGI message {message['type']!r}")
            if message.get("more_body", False):
                raise RuntimeError("this server sends whole bodies only")
            finished = True
            headers = [(k, v) for k, v in started.get("headers", [])]
            # One write per response: the status line, headers, body and end of message together.
            data = self.h11.send(h11.Response(status_code=started["status"], headers=headers)) or b""
            data += self.h11.send(h11.Data(data=message.get("body", b""))) or b""
            data += self.h11.send(h11.EndOfMessage()) or b""
            await self.stream.send_all(data)

        try:
            await self.app(scope, receive, send)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise _Disconnected() from None
        except Exception:
            log.exception("fake upstream: the app failed on %s %s", scope["method"], scope["path"])
            if started is None:
                await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            raise _Disconnected() from None
        if not finished:
            raise _Disconnected()  # the app answered nothing: drop the connection


async def serve_http11(
    app: App,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    graceful_timeout: float = 0.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host``:``port`` until ``shutdown_trigger`` returns (or forever);
    ``task_status.started`` receives the bound URLs. Open connections get ``graceful_timeout`` seconds to
    finish, then are cut."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    urls = []
    for listener in listeners:
        bound_host, bound_port = listener.socket.getsockname()[:2]
        urls.append(f"http://[{bound_host}]:{bound_port}" if ":" in bound_host else f"http://{bound_host}:{bound_port}")
    server_addr = (host, listeners[0].socket.getsockname()[1])

    open_connections = 0
    all_closed = trio.Event()

    async def handle(stream: trio.SocketStream) -> None:
        nonlocal open_connections, all_closed
        if open_connections == 0:
            all_closed = trio.Event()
        open_connections += 1
        try:
            await _Connection(stream, app, server_addr).run()
        finally:
            open_connections -= 1
            if open_connections == 0:
                all_closed.set()

    async with trio.open_nursery() as connections:
        try:
            async with trio.open_nursery() as accepting:
                accepting.start_soon(partial(trio.serve_listeners, handle, listeners, handler_nursery=connections))
                task_status.started(urls)
                if shutdown_trigger is None:
                    await trio.sleep_forever()
                else:
                    await shutdown_trigger()
                accepting.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
        if open_connections and graceful_timeout > 0:
            with trio.move_on_after(graceful_timeout):
                await all_closed.wait()
        connections.cancel_scope.cancel()
