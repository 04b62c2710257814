"""Shared set-up of the search tests: the fake upstream and the app on 127.0.0.1 in one trio run.

``search_stack(start_server, mock_clock, **provider_settings)`` serves the fake upstream, points every
provider's base URL at it (with placeholder keys), raises the budgets (1000 requests/s) and disables
retries (one attempt: a fault is a failure at once), and starts the app on a ``MockClock`` without
autojump. Budgets space one provider's requests 1 ms apart even then, so a *ticker* moves virtual time
by 1 ms whenever every task is blocked (``wait_all_tasks_blocked``), never more: each step is far below
any timeout the tests leave running (providers 10 s, the author deadline raised to 30 s here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from bookstrack.devtools import RunningFakeUpstream, run_fake_upstream
from tests.integration.conftest import Server, StartServer

PROVIDERS = ("google_books", "openlibrary", "isbndb", "wikidata")
TICK = 0.001


@dataclass
class Stack:
    fake: RunningFakeUpstream
    server: Server

    def searches(self, provider: str) -> int:
        return self.fake.requests.count(provider)

    def book_calls(self) -> int:
        """Requests to the book providers (Wikidata's author lookups not counted)."""
        return sum(self.fake.requests.count(p) for p in ("google_books", "openlibrary", "isbndb"))


def provider_settings(fake: RunningFakeUpstream, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``[providers]`` pointing every provider at ``fake``: budgets raised, one attempt per call (a fault
    fails at once), plus ``overrides`` by provider name."""
    return {
        name: {"base_url": fake.base_urls[name], "rate_per_second": 1000.0, "max_attempts": 1,
               **(overrides or {}).get(name, {})}
        for name in PROVIDERS
    }


async def _ticker(clock: trio.testing.MockClock) -> None:
    while True:
        await trio.testing.wait_all_tasks_blocked(cushion=0.0005)
        clock.jump(TICK)


@asynccontextmanager
async def search_stack(
    start_server: StartServer,
    mock_clock: trio.testing.MockClock,
    *,
    keys: bool = True,
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """``overrides``: per-provider settings by provider name; ``settings``: other config sections."""
    async with run_fake_upstream() as fake:
        providers = provider_settings(fake, overrides)
        providers["wikidata"].setdefault("author_deadline", 30.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_ticker, mock_clock)
            config = {**(settings or {}), "providers": providers}
            async with start_server(env=fake.env(keys=keys), overrides=config) as server:
                yield Stack(fake, server)
            nursery.cancel_scope.cancel()
