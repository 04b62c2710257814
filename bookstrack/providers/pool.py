"""The shared client's transport: per origin, many one-connection httpcore pools instead of one large pool.

Why: httpcore's pool (1.0) re-examines every connection against every queued request each time a request
arrives or a response closes (and asks the socket of each idle connection whether it was closed), so its
bookkeeping grows with connections x requests per event. Measured against the fake upstream (100
concurrent GETs on kept-alive connections, 50 ms latency, 2 cores), the client's CPU per burst:

    one pool of 100 connections      1.2-1.4 s (the burst took as long)
    ten pools of 10                  about 80 ms
    100 pools of one connection      about 50 ms

So each origin (scheme, host, port) gets ``connections`` pools of one connection each, made when the origin
is first asked; a request goes to the pool with the fewest requests in flight (counted until its response
is closed), the first such on ties, so a lone request keeps reusing the same kept-alive connection. A pool
never holds a connection to another origin, so origins never evict each other's connections. Everything
else (HTTP/1.1, keep-alive, timeouts from ``request.extensions``, TLS with one shared SSL context) is httpx's
own transport.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable

import httpx

__all__ = ["ShardedTransport"]


class _CountedStream(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed (the request is then no longer in flight)."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._stream = stream
        self._done: Callable[[], None] | None = done

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # the body's own iterator: no extra generator per chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._done is not None:  # once, even if closed twice
                self._done()
                self._done = None


class _Origin:
    """The one-connection pools of one origin (each made when first used), and how many requests each has
    in flight."""

    def __init__(self, size: int, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self.pools: list[httpx.AsyncHTTPTransport | None] = [None] * size
        self.in_flight = [0] * size

    def pool(self, index: int) -> httpx.AsyncHTTPTransport:
        pool = self.pools[index]
        if pool is None:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            pool = self.pools[index] = httpx.AsyncHTTPTransport(verify=self.ssl_context, limits=limits)
        return pool


class ShardedTransport(httpx.AsyncBaseTransport):
    """At most ``connections`` connections per origin, each in a pool of its own (module docstring)."""

    def __init__(self, *, connections: int, ssl_context: ssl.SSLContext | None = None) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        self._size = connections
        # One SSL context for every pool: building one loads the CA bundle (milliseconds each).
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._origins: dict[tuple[bytes, bytes, int | None], _Origin] = {}

    def in_flight(self) -> dict[str, int]:
        """Requests in flight per origin (for tests and debugging)."""
        return {f"{s.decode()}://{h.decode()}:{p}": sum(o.in_flight) for (s, h, p), o in self._origins.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(self._size, self._ssl_context)
        counts = origin.in_flight
        index = min(range(len(counts)), key=counts.__getitem__)
        counts[index] += 1

        def done() -> None:
            counts[index] -= 1

        try:
            response = await origin.pool(index).handle_async_request(request)
        except BaseException:
            done()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CountedStream(response.stream, done)
        return response

    async def aclose(self) -> None:
        origins, self._origins = list(self._origins.values()), {}
        for origin in origins:
            for pool in origin.pools:
                if pool is not None:
                    await pool.aclose()
