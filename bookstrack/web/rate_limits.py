"""The rate-limit guard of protected routes: asks the client's ``RateLimitBucket`` and writes headers.

Owns the HTTP side of rate limiting (API.md §5): which bucket a request belongs to (route class +
client IP), the 429 body (family D) and the headers on every protected response: ``Retry-After``,
``X-RateLimit-Limit/Remaining/Reset`` (reset in epoch seconds) and the IETF ``RateLimit-Policy`` /
``RateLimit`` fields. The counting itself is the actor's (exact under concurrency).
"""

from __future__ import annotations

import logging
import math

import quart

from actors import ActorSystem
from actors.rate_limit import Check, Decision, RateLimitBucket
from bookstrack.config import RateLimitConfig
from bookstrack.errors import ConfigError, RateLimited
from bookstrack.metrics import Metrics
from bookstrack.web.client_ip import ClientIpResolver

__all__ = ["RateLimitGuard"]

log = logging.getLogger("bookstrack.ratelimit")


class RateLimitGuard:
    def __init__(
        self, config: RateLimitConfig, resolver: ClientIpResolver, system: ActorSystem, metrics: Metrics
    ) -> None:
        self._config = config
        self._resolver = resolver
        self._system = system
        self._checks = {
            name: Check(limit=cls.limit, window=float(cls.window), policy=name) for name, cls in config.classes.items()
        }
        self._rejections = metrics.counter(
            "bookstrack_rate_limit_rejections_total", "Requests refused with 429, by route class.", ["policy"]
        )

    def ensure_class(self, name: str) -> None:
        if name not in self._checks:
            raise ConfigError(f"route class {name!r} has no [rate_limit.classes.{name}] section in the config")

    def client_ip(self, request: quart.Request) -> str:
        client = request.scope.get("client")
        peer = client[0] if client else None
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() in _PROXY_HEADERS}
        return self._resolver.resolve(peer, headers)

    async def check(self, route_class: str, request: quart.Request) -> Decision | None:
        """The decision for this request, or None when limiting is off (or the limiter itself failed:
        it fails open, as the original did, and logs). Raises ``RateLimited``."""
        if not self._config.enabled:
            return None
        check = self._checks[route_class]
        ip = self.client_ip(request)
        try:
            decision: Decision = await self._system.ref(RateLimitBucket, f"{route_class}|{ip}").ask(check)
        except Exception:
            log.exception("rate limiter failed for %s; letting the request through", route_class)
            return None
        if not decision.allowed:
            self._rejections.labels(route_class).inc()
            raise RateLimited(
                f"Rate limit exceeded. Please try again in {decision.retry_after} seconds.",
                details={
                    "retryAfter": decision.retry_after,
                    "clientIP": f"{ip[:8]}...",
                    "requestsRemaining": 0,
                    "requestsLimit": decision.limit,
                },
                headers=self.headers(decision),
            )
        return decision

    def headers(self, decision: Decision) -> dict[str, str]:
        now = self._system.clock.wall()
        until_reset = max(0, math.ceil(decision.reset_at - now))
        headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(math.ceil(decision.reset_at)),
            "RateLimit-Policy": f'"{decision.policy}";q={decision.limit};w={_seconds(decision.window)}',
            "RateLimit": (
                f'"{decision.policy}";r={decision.remaining};'
                f"t={decision.retry_after if not decision.allowed else until_reset}"
            ),
        }
        if not decision.allowed:
            headers["Retry-After"] = str(decision.retry_after)
        return headers


_PROXY_HEADERS = frozenset({"x-forwarded-for", "cf-connecting-ip"})


def _seconds(window: float) -> str:
    return str(int(window)) if window == int(window) else f"{window:g}"
