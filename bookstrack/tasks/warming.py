"""Author cache warming: the first consumer of the durable queue (reference §10.1, with its FIXes).

Owns the message shape of the ``author_warming`` queue, the table ``warmed_authors`` (migration 4) and
what one message does: look the author's bibliography up through the legacy author search (Open Library;
this fills the ``/search/author`` cache entry clients read with the default sort), then run the ``/v1``
title-and-author search of at most ``titles_per_author`` of their works (the searches CSV imports and batch
enrichment make, so the next import of that author's books is served from the cache). The original warmed
legacy keys no route of ``/v1`` reads. An author warmed within ``rewarm_after`` at the same or a deeper
depth is skipped. Provider budgets pace the upstream calls; this module adds no pacing of its own.

It must not talk to providers directly (only through ``SearchService``), nor decide retries: a failure is
raised and the queue retries or dead-letters the message.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from typing import Any

import msgspec
import trio

from actors import Clock, SqliteExecutor
from bookstrack.books.keys import author_key, title_key
from bookstrack.config import AuthorWarmingConfig
from bookstrack.errors import InvalidRequest, ProviderError
from bookstrack.imports import EmptyExport, ExportError, UnknownLayout, parse_export
from bookstrack.imports.chunks import csv_chunks
from bookstrack.imports.decode import decode
from bookstrack.offload import CpuOffload
from bookstrack.providers.gemini import CSV_ROWS_PER_CALL
from bookstrack.search import SearchService
from bookstrack.search.legacy import LegacySearch
from bookstrack.tasks.queue import Message

__all__ = [
    "QUEUE", "DLQ_NAME", "WarmingMessage", "WarmingOutcome", "AuthorWarmer", "authors_of_upload", "unique_authors",
]

log = logging.getLogger("bookstrack.tasks.warming")

QUEUE = "author_warming"  # the queue's name in the database and in config ([queues.author_warming])
DLQ_NAME = "author-warming-dlq"  # what GET /api/warming/dlq calls its dead letters (reference §3.11.2)
SORT_BY = "publicationYear"  # the /search/author default sort: the cache entry clients read
TITLE_CONCURRENCY = 5  # title searches of one author at once (the original's CACHE_WARMING_CONCURRENCY)


class WarmingMessage(msgspec.Struct, kw_only=True):
    """One author to warm (the original's message body)."""

    author: str
    source: str = "csv"
    depth: int = 0
    queuedAt: str = ""  # noqa: N815 - wire name
    jobId: str = ""  # noqa: N815 - wire name


class WarmingOutcome(msgspec.Struct, frozen=True, kw_only=True):
    author: str
    skipped: bool = False
    works: int = 0
    titles_warmed: int = 0
    titles_failed: int = 0


def unique_authors(names: Iterable[str]) -> list[str]:
    """Trimmed author names, first spelling kept, duplicates by Unicode-aware author key dropped."""
    seen: set[str] = set()
    out = []
    for name in names:
        cleaned = " ".join(name.split())
        key = author_key(cleaned)
        if key and key not in seen:
            seen.add(key)
            out.append(cleaned)
    return out


def _deterministic_authors(data: bytes) -> list[str]:
    """Primary authors of every titled row (a worker thread runs this); raises the parsers' errors."""
    return [row.author for row in parse_export(data, "auto").rows if row.author]


def _chunks(data: bytes) -> list[str]:
    """The upload as CSV chunks of ``CSV_ROWS_PER_CALL`` data rows, each with the header line."""
    text, _encoding = decode(data)
    return csv_chunks(text, CSV_ROWS_PER_CALL)


async def authors_of_upload(data: bytes, offload: CpuOffload, gemini: Any) -> list[str]:
    """The unique authors of a library export: the deterministic parsers first; Gemini (``gemini``, a
    ``GeminiClient`` or None) only for a layout none of them recognises, and only with a key.

    Raises ``InvalidRequest`` for an empty or unreadable file (or an unknown layout without a key) and
    ``ProviderError`` when Gemini fails."""
    try:
        names = await offload.run(_deterministic_authors, data)
    except EmptyExport:
        raise InvalidRequest("CSV file is empty") from None
    except UnknownLayout as exc:
        if gemini is None or not gemini.configured:
            raise InvalidRequest(
                f"Unrecognised CSV layout ({exc}); no Gemini API key is configured to read it. Export from "
                "Goodreads, StoryGraph, LibraryThing or Calibre, or name the columns Title and Author."
            ) from None
        names = []
        for chunk in await offload.run(_chunks, data):
            answer = await gemini.parse_csv(chunk)
            names.extend(row.author for row in answer.rows if row.author)
    except ExportError as exc:
        raise InvalidRequest(f"Invalid CSV: {exc}") from None
    return unique_authors(names)


class AuthorWarmer:
    """The ``author_warming`` consumer: ``await warmer(message)`` warms one author or raises."""

    def __init__(self, search: SearchService, executor: SqliteExecutor, clock: Clock,
                 settings: AuthorWarmingConfig) -> None:
        self.search = search
        self.legacy = LegacySearch(search)
        self.executor = executor
        self.clock = clock
        self.settings = settings

    async def __call__(self, message: Message) -> None:
        await self.warm(msgspec.convert(message.payload, WarmingMessage))

    async def warm(self, body: WarmingMessage) -> WarmingOutcome:
        name = " ".join(body.author.split())
        key = author_key(name)
        if not key:
            return WarmingOutcome(author=name, skipped=True)
        if await self._recently_warmed(key, body.depth):
            return WarmingOutcome(author=name, skipped=True)
        bibliography, _cached, _age = await self.legacy.author(name, SORT_BY)  # ProviderError: retried
        titles = _distinct_titles(w.title for w in bibliography.works)[: self.settings.titles_per_author]
        warmed = failed = 0
        last_error: ProviderError | None = None
        limiter = trio.CapacityLimiter(TITLE_CONCURRENCY)

        async def one(title: str) -> None:
            nonlocal warmed, failed, last_error
            async with limiter:
                try:
                    await self.search.advanced(title, name)
                except ProviderError as exc:
                    failed += 1
                    last_error = exc
                else:
                    warmed += 1

        async with trio.open_nursery() as nursery:
            for title in titles:
                nursery.start_soon(one, title)
        if titles and not warmed and last_error is not None:
            raise last_error  # every search failed: try the author again later
        outcome = WarmingOutcome(author=name, works=len(bibliography.works), titles_warmed=warmed,
                                 titles_failed=failed)
        await self._record(key, name, body, outcome)
        log.info("warmed author %r: %d works, %d titles searched (%d failed)", name, outcome.works, warmed, failed)
        return outcome

    async def _recently_warmed(self, key: str, depth: int) -> bool:
        since = self.clock.wall() - self.settings.rewarm_after

        def select(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT warmed_at, depth FROM warmed_authors WHERE key = ?", (key,)).fetchone()
            return row is not None and row[0] > since and depth <= row[1]

        return await self.executor.read(select)

    async def _record(self, key: str, name: str, body: WarmingMessage, outcome: WarmingOutcome) -> None:
        row = (key, name, self.clock.wall(), body.depth, outcome.works, outcome.titles_warmed, body.jobId or None)
        await self.executor.write(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO warmed_authors (key, name, warmed_at, depth, works, titles, job_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", row))


def _distinct_titles(titles: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for title in titles:
        key = title_key(title) or title
        if key not in seen:
            seen.add(key)
            out.append(title)
    return out
