"""CORS headers (reference §11.1 with its security FIX).

An allow-listed ``Origin`` is echoed with ``Access-Control-Allow-Credentials: true``; a request without
``Origin`` (native clients, curl) gets ``*`` without credentials; any other origin gets no
``Access-Control-Allow-Origin`` at all, so a browser page from it cannot read our answers. Headers are
precomputed as byte pairs: this runs on every response.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CorsPolicy"]

Header = tuple[bytes, bytes]

_COMMON: list[Header] = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type, Authorization, X-AI-Provider, X-Request-ID"),
    (b"access-control-expose-headers", b"X-Request-ID, X-Response-Time, Retry-After, X-RateLimit-Limit, "
     b"X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit-Policy, RateLimit"),
    (b"access-control-max-age", b"86400"),
]


class CorsPolicy:
    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self._allowed = frozenset(o.encode("latin-1") for o in allowed_origins)
        self._anonymous = [(b"access-control-allow-origin", b"*"), *_COMMON]
        self._refused = [(b"vary", b"Origin"), *_COMMON]

    def headers(self, origin: bytes | None) -> list[Header]:
        """The CORS headers for a request with this ``Origin`` header value (None when absent)."""
        if origin is None:
            return self._anonymous
        if origin in self._allowed:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
                *_COMMON,
            ]
        return self._refused
