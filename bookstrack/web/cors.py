"""CORS headers (reference §11.1 with its security FIX).

An allow-listed ``Origin`` is echoed with ``Access-Control-Allow-Credentials: true``; a request without
``Origin`` (native clients, curl) gets ``*`` without credentials; any other origin gets no
``Access-Control-Allow-Origin`` at all, so a browser page from it cannot read our answers. The allowed
methods and headers go only on preflight answers, where browsers read them. Headers are precomputed as
byte pairs: this runs on every response.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CorsPolicy"]

Header = tuple[bytes, bytes]

# On every response: which of our headers a browser page may read.
_EXPOSE: list[Header] = [
    (b"access-control-expose-headers", b"X-Request-ID, X-Response-Time, Retry-After, X-RateLimit-Limit, "
     b"X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit-Policy, RateLimit"),
]
# Only on preflight (OPTIONS) answers, the only ones a browser reads them from.
_PREFLIGHT: list[Header] = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type, Authorization, X-AI-Provider, X-Request-ID"),
    (b"access-control-max-age", b"86400"),
    *_EXPOSE,
]


class CorsPolicy:
    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self._allowed = frozenset(o.encode("latin-1") for o in allowed_origins)
        self._anonymous = {p: [(b"access-control-allow-origin", b"*"), *_tail(p)] for p in (False, True)}
        self._refused = {p: [(b"vary", b"Origin"), *_tail(p)] for p in (False, True)}

    def headers(self, origin: bytes | None, *, preflight: bool = False) -> list[Header]:
        """The CORS headers for a request with this ``Origin`` header value (None when absent);
        ``preflight`` adds the allowed methods and headers and their max age."""
        if origin is None:
            return self._anonymous[preflight]
        if origin in self._allowed:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
                *_tail(preflight),
            ]
        return self._refused[preflight]


def _tail(preflight: bool) -> list[Header]:
    return _PREFLIGHT if preflight else _EXPOSE
