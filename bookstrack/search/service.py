"""The search service (API.md §3, reference §3.1 and §8.4): title, ISBN, advanced and edition searches
and the ISBN batch, between the routes and the providers, the cache and ``bookstrack/books``.

Owns what is asked of whom and what is cached:

* providers get the user's trimmed text; cache keys use ``title_key``/``author_key`` (Unicode-aware) and
  the canonical ISBN-13, so ``0547928227``, ``978-0-547-92822-7`` and ``978‐0547928227`` share a key;
* title: Google Books → (nothing or failed) Open Library; advanced: Google → Open Library → ISBNdb (only
  with title and author); results de-duplicated by ISBN. ISBN: Google, Open Library and ISBNdb asked
  concurrently, the records holding the ISBN merged into one (``contributors`` lists every source);
  editions: ISBNdb and Google concurrently, filtered, de-duplicated by ISBN, sorted (reference §3.1.4);
* caching (``[cache]``): a full answer for its kind's TTL; "no match" and answers missing a provider
  that failed (incomplete) for ``negative_ttl``; a "no match" that may be due to a failed provider is
  not cached at all; when every provider asked failed, ``ProviderError``/``ProviderTimeout`` (503/504,
  ``details.providers``) and nothing is cached. Providers without a key are skipped, not failures.
* authors: the response's de-duplicated authors pass through ``AuthorEnricher`` (its own cache and
  deadline) at response time, so a cached search still picks up authors resolved since. The ISBN batch
  does not wait for Wikidata at all (decision 0016): cached facts only, the others resolved behind it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from actors import Clock
from bookstrack.books.dto import AuthorDTO, BookRecord, DataProvider, EditionDTO, EditionFormat, WorkDTO
from bookstrack.books.isbn import canonical_isbn, clean_isbn, isbn_key
from bookstrack.books.keys import author_key, fold, title_key
from bookstrack.books.matching import similarity
from bookstrack.books.merge import (
    dedupe_by_isbn,
    merge_authors,
    merge_by_isbn,
    merge_records,
    record_isbn_keys,
    split_records,
)
from bookstrack.books.normalize.google_books import normalize_volumes
from bookstrack.books.normalize.isbndb import normalize_book_response, normalize_books
from bookstrack.books.normalize.openlibrary import normalize_books_api, normalize_search
from bookstrack.cache import CacheResult, Negative, TieredCache, cache_key
from bookstrack.config import Config
from bookstrack.errors import InvalidIsbn, ProviderError, ProviderTimeout, ProviderUnavailable
from bookstrack.providers.registry import Providers
from bookstrack.search.authors import AuthorEnricher

__all__ = [
    "BatchEntry",
    "EditionsPayload",
    "SearchPayload",
    "SearchResponse",
    "SearchResult",
    "SearchService",
    "sort_editions",
    "title_matches",
]

log = logging.getLogger("bookstrack.search")

MAX_RESULTS = 20
EDITIONS_GOOGLE_MAX = 40
EDITIONS_ISBNDB_PAGE = 100


class SearchPayload(msgspec.Struct):
    """What a search found (the cached value): records in answer order, and the answering provider."""

    records: list[BookRecord]
    provider: str = "none"


class EditionsPayload(msgspec.Struct):
    editions: list[EditionDTO]
    provider: str = "none"


class SearchResponse(msgspec.Struct):
    """``data`` of a search envelope (reference §3.1 ``BookSearchResponse``)."""

    works: list[WorkDTO]
    editions: list[EditionDTO]
    authors: list[AuthorDTO]


class SearchResult(msgspec.Struct):
    data: SearchResponse
    provider: str
    cached: bool


class BatchEntry(msgspec.Struct, omit_defaults=True):
    isbn: str
    found: bool
    work: WorkDTO | None = None
    edition: EditionDTO | None = None
    # a factory msgspec cannot see through: an empty list is still sent (``authors`` is required)
    authors: list[AuthorDTO] = msgspec.field(default_factory=lambda: [])


class _Uncached(Exception):
    """Raised out of a cache loader to answer ``payload`` without caching it."""

    def __init__(self, payload: Any) -> None:
        super().__init__("uncached")
        self.payload = payload


_FAILED = object()


class _Attempts:
    """The provider calls of one search: who answered, who failed and why."""

    def __init__(self) -> None:
        self.failures: dict[str, str] = {}
        self.answered: set[str] = set()

    async def call(self, name: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """The answer, or ``_FAILED`` (recorded) — a provider without a key is skipped (also ``_FAILED``)."""
        try:
            answer = await fn(*args, **kwargs)
        except ProviderUnavailable:
            return _FAILED
        except ProviderError as exc:
            self.failures[name] = exc.reason or "error"
            return _FAILED
        self.answered.add(name)
        return answer

    def raise_if_all_failed(self) -> None:
        if self.failures and not self.answered:
            details = {"providers": dict(self.failures)}
            if all(reason == "timeout" for reason in self.failures.values()):
                raise ProviderTimeout("All book data providers timed out", details=details)
            raise ProviderError("All book data providers failed", details=details)

    def settle(self, payload: Any, empty: bool) -> Any:
        """The loader's return value for ``payload`` (see the module docstring)."""
        self.raise_if_all_failed()
        if empty:
            if self.failures:
                raise _Uncached(payload)
            return Negative(payload)
        return Negative(payload) if self.failures else payload


def _provider_name(records: Sequence[BookRecord]) -> str:
    if not records:
        return "none"
    first = records[0].work.primaryProvider or records[0].edition.primaryProvider
    return str(first) if first else "none"


def title_matches(candidate: str | None, wanted: str) -> bool:
    """Reference §3.1.4's fuzzy title match, on Unicode-aware keys."""
    if not candidate:
        return False
    a, b = title_key(candidate), title_key(wanted)
    if not a or not b:
        return False
    if a == b or a in b or b in a:
        return True
    return similarity(a, b) >= 0.7


_FORMAT_RANK = {
    EditionFormat.HARDCOVER: 1, EditionFormat.PAPERBACK: 2, EditionFormat.EBOOK: 3, EditionFormat.AUDIOBOOK: 4,
}


def sort_editions(editions: list[EditionDTO]) -> list[EditionDTO]:
    """Format priority, then ``isbndbQuality`` descending, then publication date descending."""
    by_date = sorted(editions, key=lambda e: e.publicationDate or "0000", reverse=True)
    return sorted(by_date, key=lambda e: (_FORMAT_RANK.get(e.format, 5), -e.isbndbQuality))


def _edition_keys(edition: EditionDTO) -> list[str]:
    return list(dict.fromkeys(k for k in map(isbn_key, [edition.isbn, *edition.isbns]) if k))


class SearchService:
    def __init__(self, config: Config, providers: Providers, cache: TieredCache, clock: Clock) -> None:
        self.config = config
        self.providers = providers
        self.cache = cache
        self.clock = clock
        self.authors = AuthorEnricher(providers.wikidata, cache, config)

    @classmethod
    @asynccontextmanager
    async def running(
        cls, config: Config, providers: Providers, cache: TieredCache, clock: Clock
    ) -> AsyncIterator[SearchService]:
        yield cls(config, providers, cache, clock)

    # -- shared ------------------------------------------------------------------------------------

    async def _cached(
        self, key: str, loader: Callable[[], Awaitable[Any]], type: Any, ttl: float
    ) -> tuple[Any, bool]:
        try:
            result: CacheResult[Any] = await self.cache.get_or_load(
                key, loader, type=type, ttl=ttl, negative_ttl=self.config.cache.negative_ttl
            )
        except _Uncached as uncached:
            return uncached.payload, False
        return result.value, result.cached

    async def _respond(self, payload: SearchPayload, cached: bool, *, merged: bool = False) -> SearchResult:
        works, editions, authors = split_records(payload.records, merged=merged)
        authors = await self.authors.enrich(authors)
        return SearchResult(SearchResponse(works, editions, authors), payload.provider, cached)

    # -- title / advanced --------------------------------------------------------------------------

    async def _google_then_openlibrary(self, attempts: _Attempts, text: str) -> list[BookRecord]:
        """Google Books' answer, or Open Library's when Google had none (reference §8.4)."""
        answer = await attempts.call("google_books", self.providers.google_books.search, text, max_results=MAX_RESULTS)
        records = normalize_volumes(answer) if answer is not _FAILED else []
        if not records:
            answer = await attempts.call("openlibrary", self.providers.openlibrary.search, text, limit=MAX_RESULTS)
            records = normalize_search(answer) if answer is not _FAILED else []
        return records

    async def title(self, query: str) -> SearchResult:
        text = query.strip()
        key = cache_key("v1:title", title=title_key(text))

        async def load() -> Any:
            attempts = _Attempts()
            records = await self._google_then_openlibrary(attempts, text)
            records = dedupe_by_isbn(records)
            return attempts.settle(SearchPayload(records, _provider_name(records)), not records)

        payload, cached = await self._cached(key, load, SearchPayload, self.config.cache.title_ttl)
        return await self._respond(payload, cached)

    async def advanced(self, title: str, author: str) -> SearchResult:
        title, author = title.strip(), author.strip()
        key = cache_key("v1:advanced", title=title_key(title), author=author_key(author))
        text = " ".join(part for part in (title, author) if part)

        async def load() -> Any:
            attempts = _Attempts()
            records = await self._google_then_openlibrary(attempts, text)
            if not records and title and author:
                answer = await attempts.call(
                    "isbndb", self.providers.isbndb.search, title, author=author, page_size=MAX_RESULTS
                )
                if answer is not _FAILED:
                    records = normalize_books(answer)
            records = dedupe_by_isbn(records)
            return attempts.settle(SearchPayload(records, _provider_name(records)), not records)

        payload, cached = await self._cached(key, load, SearchPayload, self.config.cache.advanced_ttl)
        return await self._respond(payload, cached)

    # -- ISBN --------------------------------------------------------------------------------------

    def count_isbn(self, isbn13: str) -> None:
        if self.providers.isbn_counts is not None:
            self.providers.isbn_counts.record(isbn13)

    async def isbn(self, raw: str) -> SearchResult:
        isbn13 = canonical_isbn(raw)  # InvalidIsbn (400) with details {isbn}
        asked = clean_isbn(raw)
        self.count_isbn(isbn13)
        payload, cached = await self._cached(
            cache_key("v1:isbn", isbn=isbn13), lambda: self.load_isbn(isbn13, asked), SearchPayload,
            self.config.cache.isbn_ttl,
        )
        return await self._respond(payload, cached, merged=True)  # load_isbn and the batch merge each record

    async def load_isbn(
        self, isbn13: str, asked: str, providers: Sequence[str] = ("isbndb", "google_books", "openlibrary")
    ) -> Any:
        """Ask ``providers`` concurrently; the records holding the ISBN merged into one, in that priority
        order (the legacy route asks Google Books and Open Library only)."""
        attempts = _Attempts()
        found: dict[str, list[BookRecord]] = {}
        p = self.providers

        async def google_books() -> None:
            answer = await attempts.call("google_books", p.google_books.search_isbn, asked)
            if answer is not _FAILED:
                found["google_books"] = normalize_volumes(answer)

        async def openlibrary() -> None:
            answer = await attempts.call("openlibrary", p.openlibrary.search_isbn, isbn13)
            if answer is not _FAILED:
                found["openlibrary"] = normalize_search(answer, isbn=isbn13)

        async def isbndb() -> None:
            answer = await attempts.call("isbndb", p.isbndb.book, isbn13)
            if answer is not _FAILED and answer is not None:
                record = normalize_book_response(answer)
                found["isbndb"] = [record] if record is not None else []

        tasks = {"google_books": google_books, "openlibrary": openlibrary, "isbndb": isbndb}
        async with trio.open_nursery() as nursery:
            for name in providers:
                nursery.start_soon(tasks[name])
        records = [r for name in providers for r in found.get(name, [])]
        matching = [r for r in records if isbn13 in record_isbn_keys(r)]
        if matching:
            records = [merge_records(matching)]
        else:  # authors merged in every record, as merge_records does, so _respond may take them as they are
            records = [msgspec.structs.replace(r, authors=merge_authors(r.authors)) for r in merge_by_isbn(records)]
        return attempts.settle(SearchPayload(records, _provider_name(records)), not records)

    # -- editions ----------------------------------------------------------------------------------

    async def editions(self, work_title: str, author: str) -> tuple[EditionsPayload, bool]:
        """Every edition found (sorted; the route applies ``limit``), and whether it came from the cache."""
        work_title, author = work_title.strip(), author.strip()
        key = cache_key("v1:editions", title=title_key(work_title), author=author_key(author))

        async def load() -> Any:
            attempts = _Attempts()
            found: dict[str, list[EditionDTO]] = {}
            p = self.providers
            wanted_author = fold(author)

            async def isbndb() -> None:
                answer = await attempts.call(
                    "isbndb", p.isbndb.search_books, work_title, column="title", language="en",
                    should_match_all=True, page_size=EDITIONS_ISBNDB_PAGE,
                )
                if answer is not _FAILED and answer is not None:
                    records = [
                        r for r in normalize_books(answer)
                        if any(wanted_author in fold(a.name) for a in r.authors)
                    ]
                    records.sort(key=lambda r: -r.edition.isbndbQuality)
                    found["isbndb"] = [r.edition for r in records]

            async def google() -> None:
                answer = await attempts.call(
                    "google_books", p.google_books.search_fields, title=work_title, authors=[author],
                    max_results=EDITIONS_GOOGLE_MAX,
                )
                if answer is not _FAILED:
                    found["google_books"] = [r.edition for r in normalize_volumes(answer)]

            async with trio.open_nursery() as nursery:
                nursery.start_soon(isbndb)
                nursery.start_soon(google)
            kept: dict[str, EditionDTO] = {}
            order: list[str] = []
            sources: list[str] = []
            for name, label in (("isbndb", DataProvider.ISBNDB), ("google_books", DataProvider.GOOGLE_BOOKS)):
                editions = [
                    e for e in found.get(name, []) if title_matches(e.title, work_title) and _edition_keys(e)
                ]
                if editions:
                    sources.append(str(label))
                for edition in editions:
                    keys = _edition_keys(edition)
                    seen = next((k for k in keys if k in kept), None)
                    if seen is None:
                        kept[keys[0]] = edition
                        order.append(keys[0])
                    elif edition.isbndbQuality > kept[seen].isbndbQuality:
                        kept[seen] = edition
            editions = sort_editions([kept[k] for k in order])
            provider = sources[0] if len(sources) == 1 else "orchestrated:" + "+".join(sources) if sources else "none"
            return attempts.settle(EditionsPayload(editions, provider), not editions)

        return await self._cached(key, load, EditionsPayload, self.config.cache.editions_ttl)

    # -- ISBN batch --------------------------------------------------------------------------------

    async def isbn_batch(self, raws: Sequence[str]) -> tuple[list[BatchEntry], bool]:
        """One entry per input, in order: from the cache where possible; the misses asked of Open Library
        (``bibkeys``, one call) and ISBNdb (``POST /books``, one call) and Google (one call per ISBN)
        concurrently, merged per ISBN, and cached; authors with the facts cached so far (lookups of the
        others start in the background). An invalid ISBN is ``found: false``; if every provider
        failed, ``ProviderError`` unless some ISBNs were cached (those are answered, the rest not found).
        Also says whether every answer came from the cache."""
        canon: list[str | None] = []
        for raw in raws:
            try:
                canon.append(canonical_isbn(raw))
            except InvalidIsbn:
                canon.append(None)
        unique = list(dict.fromkeys(c for c in canon if c))
        for isbn13 in unique:
            self.count_isbn(isbn13)
        keys = {isbn13: cache_key("v1:isbn", isbn=isbn13) for isbn13 in unique}
        hits = await self.cache.get_many(list(keys.values()), type=SearchPayload)  # one KV read for all
        payloads: dict[str, SearchPayload] = {i: hits[k].value for i, k in keys.items() if k in hits}
        misses = [i for i in unique if i not in payloads]
        if misses:
            try:
                payloads.update(await self._load_batch(misses))
            except ProviderError:
                if not payloads:
                    raise  # nothing to answer with: every provider failed (503/504)
                # the cached ISBNs are answered; the others are "not found" this time (nothing cached)
        authors_in = [a for p in payloads.values() for r in p.records[:1] for a in r.authors]
        # Never waits for Wikidata (decision 0016): facts cached so far; the missing ones resolve behind.
        enriched = {author_key(a.name): a for a in await self.authors.known(_unique_authors(authors_in))}
        entries = []
        for raw, isbn13 in zip(raws, canon, strict=True):
            payload = payloads.get(isbn13) if isbn13 else None
            if payload is None or not payload.records:
                entries.append(BatchEntry(isbn=raw, found=False))
                continue
            record = payload.records[0]
            entries.append(BatchEntry(
                isbn=raw, found=True, work=record.work, edition=record.edition,
                authors=[enriched.get(author_key(a.name), a) for a in record.authors],
            ))
        return entries, not misses

    async def _load_batch(self, isbns: list[str]) -> dict[str, SearchPayload]:
        attempts = _Attempts()
        by_isbn: dict[str, list[BookRecord]] = {i: [] for i in isbns}
        p = self.providers
        google_found: dict[str, list[BookRecord]] = {}
        isbndb_found: list[BookRecord] = []
        ol_found: dict[str, BookRecord] = {}

        async def openlibrary() -> None:
            answer = await attempts.call("openlibrary", p.openlibrary.books_by_isbn, isbns)
            if answer is not _FAILED:
                ol_found.update(normalize_books_api(answer))

        async def isbndb() -> None:
            answer = await attempts.call("isbndb", p.isbndb.books, isbns)
            if answer is not _FAILED:
                isbndb_found.extend(normalize_books(answer))

        async def google(isbn13: str) -> None:
            answer = await attempts.call("google_books", p.google_books.search_isbn, isbn13)
            if answer is not _FAILED:
                google_found[isbn13] = normalize_volumes(answer)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(openlibrary)
            nursery.start_soon(isbndb)
            for isbn13 in isbns:
                nursery.start_soon(google, isbn13)
        attempts.raise_if_all_failed()
        for record in [*isbndb_found, *(r for rs in google_found.values() for r in rs), *ol_found.values()]:
            for key in record_isbn_keys(record):
                if key in by_isbn:
                    by_isbn[key].append(record)
        out: dict[str, SearchPayload] = {}
        ttl, negative_ttl = self.config.cache.isbn_ttl, self.config.cache.negative_ttl

        for isbn13, records in by_isbn.items():
            merged = [merge_records(records)] if records else []
            out[isbn13] = SearchPayload(merged, _provider_name(merged))
        stored: list[tuple[str, Any, float]] = []
        for isbn13, payload in out.items():
            if attempts.failures and not payload.records:
                continue  # maybe only missing because a provider failed: not cached
            short = not payload.records or bool(attempts.failures)
            key = cache_key("v1:isbn", isbn=isbn13)
            stored.append((key, Negative(payload), negative_ttl) if short else (key, payload, ttl))
        await self.cache.put_many(stored)  # one KV write for the batch, not one per ISBN
        return out


def _unique_authors(authors: list[AuthorDTO]) -> list[AuthorDTO]:
    seen: dict[str, AuthorDTO] = {}
    for author in authors:
        seen.setdefault(author_key(author.name), author)
    return list(seen.values())

