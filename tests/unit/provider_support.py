"""Helpers for the provider tests: a recording ``httpx.MockTransport`` and ``open_providers`` wired to it.

``Upstream`` records every request with the trio time it reached the "network" and answers through the
test's handler (sync or async; an async handler may sleep on the MockClock to play a slow provider).
``running(handler, env=…, overrides=…)`` yields ``(providers, upstream, metrics, health)``.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import trio

from actors import Clock
from bookstrack.config import Config, load_config
from bookstrack.health import HealthMonitor
from bookstrack.metrics import Metrics
from bookstrack.providers.registry import Providers, open_providers

EPOCH = 1_700_000_000.0  # 2023-11-14T22:13:20Z at virtual time 0
KEYS = {"BOOKSTRACK_GOOGLE_BOOKS_API_KEY": "g-key", "BOOKSTRACK_ISBNDB_API_KEY": "i-key"}

Handler = Callable[[httpx.Request], Any]


@dataclass
class Seen:
    at: float
    request: httpx.Request

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.request.url.query.decode(), keep_blank_values=True))


@dataclass
class Upstream:
    handler: Handler = field(default=lambda request: httpx.Response(200, json={}))
    seen: list[Seen] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(Seen(trio.current_time(), request))
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    def times(self, host: str | None = None) -> list[float]:
        return [s.at for s in self.seen if host is None or s.request.url.host == host]


class FakeDatabase:
    """What ``HealthMonitor`` needs of the database: a read that finds the instance row."""

    async def read(self, fn: Any) -> Any:
        return ("instance",)


def config(env: dict[str, str] | None = None, overrides: dict[str, Any] | None = None) -> Config:
    return load_config(env=KEYS if env is None else env, overrides=overrides)


@asynccontextmanager
async def running(
    handler: Handler | None = None,
    *,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Providers, Upstream, Metrics, HealthMonitor]]:
    upstream = Upstream() if handler is None else Upstream(handler)
    cfg = config(env, overrides)
    metrics = Metrics()
    health = HealthMonitor(cfg, FakeDatabase())  # type: ignore[arg-type]
    async with open_providers(
        cfg, clock=Clock(epoch=EPOCH), metrics=metrics, health=health,
        transport=httpx.MockTransport(upstream), rng=random.Random(7),
    ) as providers:
        yield providers, upstream, metrics, health


def max_in_window(times: list[float], window: float = 1.0, slack: float = 1e-9) -> int:
    """The most requests in any half-open window ``[t, t + window)`` (to float precision)."""
    ordered = sorted(times)
    best = 0
    j = 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + window - slack:
            j += 1
        best = max(best, j - i)
    return best
