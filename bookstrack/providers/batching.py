"""Asking a provider about many ISBNs at once: de-duplication and concurrent requests of bounded size.

Owns only the splitting; what one request looks like stays with each provider's client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import trio

__all__ = ["unique_isbns", "in_chunks"]


def unique_isbns(isbns: Sequence[str]) -> list[str]:
    """The non-blank ISBNs, stripped, each once, in first-seen order."""
    return list(dict.fromkeys(i.strip() for i in isbns if i and i.strip()))


async def in_chunks(items: list[str], size: int, ask: Callable[[list[str]], Awaitable[None]]) -> None:
    """``ask`` each run of at most ``size`` items; several runs go concurrently (each within the budget)."""
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if len(chunks) == 1:
        await ask(chunks[0])
    elif chunks:
        async with trio.open_nursery() as nursery:
            for chunk in chunks:
                nursery.start_soon(ask, chunk)
