"""The HTTP rate-limit guard's own rules (the counting is tested with the actor and over real sockets)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from actors import Clock
from bookstrack.config import RateLimitConfig
from bookstrack.metrics import Metrics
from bookstrack.web.client_ip import ClientIpResolver
from bookstrack.web.rate_limits import RateLimitGuard


class _BrokenRef:
    async def ask(self, msg: object) -> object:
        raise RuntimeError("mailbox on fire")


class _BrokenSystem:
    clock = Clock(epoch=1_700_000_000.0)

    def ref(self, cls: type, id: str) -> _BrokenRef:
        return _BrokenRef()


async def test_a_failing_limiter_fails_open_and_logs(caplog):
    guard = RateLimitGuard(RateLimitConfig(), ClientIpResolver([]), _BrokenSystem(), Metrics())  # type: ignore[arg-type]
    request = SimpleNamespace(scope={"client": ("127.0.0.9", 5000)}, headers={})
    with caplog.at_level(logging.ERROR, logger="bookstrack.ratelimit"):
        assert await guard.check("default", request) is None  # type: ignore[arg-type]
    assert any("letting the request through" in r.getMessage() for r in caplog.records)
