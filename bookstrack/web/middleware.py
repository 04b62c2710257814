"""The front-door ASGI middleware: per-request work that every HTTP response shares.

Owns, for every HTTP request: the request id (``X-Request-ID``, echoed when the client sent a sane one),
``X-Response-Time``, CORS headers and the ``OPTIONS`` preflight (answered here, for any path, without
touching the framework), the access-log line, and the request counter and latency histogram. It sits
outside Quart as plain ASGI because this is the hot path: it adds header pairs to the response-start
message and nothing else, and must stay within a few tens of microseconds per request.
It never looks at bodies and knows nothing of routes beyond the template the route wrapper leaves in
the scope.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

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
            await send(message)

        if scope["method"] == "OPTIONS":
            status = 204
            headers: list[tuple[bytes, bytes]] = [(b"content-length", b"0")]
            extra_headers(headers)
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
        else:
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                log.exception("unhandled error below the front door on %s %s", scope["method"], scope["path"])
                if not response_started:
                    await send_wrapper({
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json"), (b"x-error-type", b"INTERNAL_ERROR")],
                    })
                    await send({"type": "http.response.body", "body": _INTERNAL})
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
