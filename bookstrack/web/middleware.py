"""The front-door ASGI middleware: per-request work that every HTTP response shares.

Owns, for every HTTP request: the request id (``X-Request-ID``, echoed when the client sent a sane one),
``X-Response-Time``, CORS headers and the ``OPTIONS`` preflight (answered here, for any path, without
touching the framework), the access-log line, and the request counter and latency histogram. It sits
outside Quart as plain ASGI because this is the hot path: it adds header pairs to the response-start
message and nothing else, and must stay within a few tens of microseconds per request.
It never reads what a body says and knows nothing of routes beyond the template the route wrapper
leaves in the scope.

It does own how a response ends (``_send_last``): Hypercorn finishes the exchange inside the send of
the last body message (it hands the app ``http.disconnect``, then recycles or closes the connection).
That send is shielded, because Quart-trio cancels the request the moment it sees that disconnect, which
would stop Hypercorn half-way: a connection never closed after a 413 (the client's next request on it
hangs), or a keep-alive connection whose idle timer never starts (it outlives a graceful shutdown).
And when the request body was not read to its end, the rest is discarded during that send: Hypercorn
queues body chunks for the app in a bounded queue, and the disconnect waits behind them.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import trio

from bookstrack.logs import ACCESS_LOGGER
from bookstrack.metrics import Metrics
from bookstrack.web.cors import CorsPolicy
from bookstrack.web.routing import ROUTE_SCOPE_KEY

__all__ = ["FrontDoor"]

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("bookstrack.web")

_MAX_ID = 128
_INTERNAL = (
    b'{"success":false,"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}'
)


def _sane_id(value: bytes) -> bool:
    return 0 < len(value) <= _MAX_ID and all(33 <= b <= 126 for b in value)


class FrontDoor:
    """Wrap an ASGI app with request ids, timing, CORS, preflight, access log and metrics."""

    def __init__(self, app: Any, *, cors: CorsPolicy, metrics: Metrics, access_log_enabled: bool = True) -> None:
        self.app = app
        self.cors = cors
        self.access_log_enabled = access_log_enabled
        self._requests = metrics.counter(
            "bookstrack_http_requests_total", "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
        )
        self._latency = metrics.histogram(
            "bookstrack_http_request_duration_seconds", "HTTP request latency by route template.", ["route"]
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
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
        cors = self.cors.headers(origin)
        status = 500
        response_started = False
        body_done = False  # the app has read the request body to its end, or the client went away

        async def receive_wrapper() -> dict[str, Any]:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

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
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                await _send_last(send, message, None if body_done else receive)
                return
            await send(message)

        if scope["method"] == "OPTIONS":
            status = 204
            headers: list[tuple[bytes, bytes]] = [(b"content-length", b"0")]
            extra_headers(headers)
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await _send_last(send, {"type": "http.response.body", "body": b""}, receive)
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
        self._requests.labels(route, scope["method"], str(status)).inc()
        self._latency.labels(route).observe(elapsed)
        if self.access_log_enabled and access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_log.info(
                '%s %s %d %.1fms',
                scope["method"], scope["path"], status, elapsed * 1000,
                extra={
                    "method": scope["method"], "path": scope["path"], "route": route, "status": status,
                    "duration_ms": round(elapsed * 1000, 2), "request_id": request_id.decode(),
                    "client": client[0] if client else None,
                },
            )


async def _send_last(send: Any, message: dict[str, Any], unread_body: Any) -> None:
    """Send a response's last message, shielded; meanwhile drop what ``unread_body`` (the ASGI receive
    callable, when the body was not read to its end) still delivers. See the module docstring."""
    with trio.CancelScope(shield=True):
        if unread_body is None:
            await send(message)
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_discard_body, unread_body)
            await send(message)
            nursery.cancel_scope.cancel()


async def _discard_body(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
