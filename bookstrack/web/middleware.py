"""The front-door ASGI middleware: per-request work that every HTTP response shares.

Owns, for every HTTP request: the request id (``X-Request-ID``, echoed when the client sent a sane one),
``X-Response-Time``, CORS headers and the ``OPTIONS`` preflight (answered here, for any path, without
touching the framework), the access-log line, and the request counter and latency histogram. It sits
outside Quart as plain ASGI because this is the hot path: it adds header pairs to the response-start
message and nothing else, and must stay within a few tens of microseconds per request.
It never reads what a body says and knows nothing of routes beyond the template the route wrapper
leaves in the scope.

It also owns how a response ends. Hypercorn finishes an exchange inside the send of the last body
message: it hands the app ``http.disconnect``, then recycles or closes the connection. Quart-trio cancels
the request the moment it receives that disconnect, which would stop Hypercorn half-way (a connection
never closed after a 413, a keep-alive connection whose idle timer never starts). So once the last body
message is on its way, a disconnect is held back from the app until that send has returned, instead of
cancelling the send; before that, a disconnect reaches the app as usual.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable
from functools import partial
from typing import Any

import trio

from bookstrack.access_log import AccessLog
from bookstrack.metrics import Metrics
from bookstrack.web.cors import CorsPolicy
from bookstrack.web.routing import ROUTE_SCOPE_KEY

__all__ = ["FrontDoor", "FinalDisconnect"]

log = logging.getLogger("bookstrack.web")

_MAX_ID = 128
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_INTERNAL = (
    b'{"success":false,"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}'
)


def _sane_id(value: bytes) -> bool:
    return 0 < len(value) <= _MAX_ID and all(33 <= b <= 126 for b in value)


class FinalDisconnect:
    """One exchange's end (see the module docstring): a disconnect that arrives while the last body message
    is being sent reaches the app only once that send has returned. ``bench.bare_app`` uses it too, so its
    "exchange completed" baseline does exactly what ours does."""

    __slots__ = ("finishing", "finished", "sent")

    def __init__(self) -> None:
        self.finishing = False  # the last body message is being sent
        self.finished = False  # ... and that send has returned
        self.sent: trio.Event | None = None  # a disconnect held back waits for this

    async def receive(self, receive: Any) -> dict[str, Any]:
        message = await receive()
        if self.finishing and not self.finished and message["type"] == "http.disconnect":
            # Handed on once the send has returned (rather than never): Quart-trio's reader then ends by
            # itself instead of being cancelled.
            self.sent = trio.Event()
            await self.sent.wait()
        return message

    @staticmethod
    def is_last(message: dict[str, Any]) -> bool:
        return message["type"] == "http.response.body" and not message.get("more_body", False)

    async def send_last(self, send: Any, message: dict[str, Any]) -> None:
        self.finishing = True
        await send(message)
        self.finished = True
        if self.sent is not None:
            self.sent.set()


class FrontDoor:
    """Wrap an ASGI app with request ids, timing, CORS, preflight, access log and metrics."""

    def __init__(self, app: Any, *, cors: CorsPolicy, metrics: Metrics, access_log: AccessLog) -> None:
        self.app = app
        self.cors = cors
        self.access_log = access_log
        self._requests = metrics.counter(
            "bookstrack_http_requests_total", "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
        )
        self._latency = metrics.histogram(
            "bookstrack_http_request_duration_seconds", "HTTP request latency by route template.", ["route"]
        )
        # (route, method, status) -> the two labelled children: labels() costs microseconds per call.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def _websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A WebSocket session gets one access-log line when it ends: 101 and its whole duration if it was
        accepted, else the status of the HTTP answer that refused it (no metrics: they count requests)."""
        started = time.perf_counter()
        status = 403  # what Hypercorn answers for a handler that closes before accepting

        def watch(message: dict[str, Any]) -> Awaitable[None]:
            # A plain function handing back ``send``'s awaitable: no coroutine of ours per frame sent.
            nonlocal status
            if message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.http.response.start":
                status = message["status"]
            return send(message)  # type: ignore[no-any-return]

        try:
            await self.app(scope, receive, watch)
        finally:
            client = scope.get("client")
            self.access_log.record(
                "GET", scope["path"], scope.get(ROUTE_SCOPE_KEY, scope["path"]), status,
                time.perf_counter() - started, "-", client[0] if client else None,
            )

    def _observe(self, route: str, method: str, status: int, elapsed: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            # Methods are the client's to choose: unknown ones share one label so series stay bounded.
            label = method if method in _METHODS else "OTHER"
            children = (self._requests.labels(route, label, str(status)), self._latency.labels(route))
            if len(self._children) < 10_000:
                self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id: bytes | None = None
        origin: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _sane_id(value):
                    request_id = value
            elif name == b"origin":
                origin = value
        if request_id is None:
            request_id = os.urandom(12).hex().encode()
        preflight = scope["method"] == "OPTIONS"
        cors = self.cors.headers(origin, preflight=preflight)
        status = 500
        response_started = False
        final = FinalDisconnect()
        receive_wrapper = partial(final.receive, receive)

        def extra_headers(headers: list[tuple[bytes, bytes]]) -> None:
            elapsed = (time.perf_counter() - started) * 1000
            headers.append((b"x-request-id", request_id))
            headers.append((b"x-response-time", b"%.1fms" % elapsed))
            if not any(n.lower() == b"access-control-allow-origin" for n, _ in headers):
                headers.extend(cors)

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", ()))
                extra_headers(headers)
                message = {**message, "headers": headers}
            elif final.is_last(message):
                await final.send_last(send, message)
                return
            await send(message)

        if preflight:
            status = 204
            headers: list[tuple[bytes, bytes]] = [(b"content-length", b"0")]
            extra_headers(headers)
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
        else:
            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except Exception:
                log.exception("unhandled error below the front door on %s %s", scope["method"], scope["path"])
                if not response_started:
                    await send_wrapper({
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json"), (b"x-error-type", b"INTERNAL_ERROR")],
                    })
                    await send_wrapper({"type": "http.response.body", "body": _INTERNAL})
        elapsed = time.perf_counter() - started
        route = scope.get(ROUTE_SCOPE_KEY, "unmatched")
        self._observe(route, scope["method"], status, elapsed)
        client = scope.get("client")
        self.access_log.record(
            scope["method"], scope["path"], route, status, elapsed, request_id.decode(), client[0] if client else None
        )

