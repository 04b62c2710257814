"""Provider orchestration of the legacy routes (reference §3.9–3.10, §8.4), on top of ``SearchService``.

The ``/v1`` searches differ in what they ask of whom, so these have their own loaders and cache keys
(reference §7.2, with API.md §3's fixes: Unicode-aware keys, the user's text to the providers, ISBN
check digits, failures never cached):

* title: Google Books ∥ Open Library (in parallel), Google's first, de-duplicated by Unicode-aware title
  key (the original lower-cased the title), ``search:title:maxresults={n}&title={key}``, ``title_ttl``;
* ISBN: Google Books ∥ Open Library, the records holding the ISBN merged,
  ``search:isbn:isbn={ISBN-13}``, ``isbn_ttl``;
* advanced: Google Books → (nothing or failed) Open Library, ``search:advanced:author=&title=``,
  ``advanced_ttl``;
* author bibliography: Open Library only (``search/authors.json`` then ``/authors/{id}/works.json``),
  ``auto-search:{b64(UTF-8 key)}:{b64(params)}`` (the original's ``btoa`` threw on CJK names), cached
  whole and paginated by the route (the original left ``offset`` out of its key and served page one for
  every offset), ``author_ttl``.

Every loader follows ``SearchService``'s rules: a complete answer for its TTL, "no match" (or an answer
missing a failed provider) for ``negative_ttl``, and nothing cached when every provider failed — then
``ProviderError``/``ProviderTimeout`` is raised and the route draws its legacy "failed" body.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import trio

from bookstrack.books.dto import BookRecord
from bookstrack.books.isbn import canonical_isbn, clean_isbn
from bookstrack.books.keys import author_key, title_key
from bookstrack.books.merge import dedupe_by_isbn
from bookstrack.books.normalize._fields import lead_year, mapping, sequence, text
from bookstrack.books.normalize.google_books import normalize_volumes
from bookstrack.books.normalize.openlibrary import normalize_search
from bookstrack.cache import Negative, cache_key
from bookstrack.search.service import _FAILED, SearchPayload, SearchService, _Attempts, _provider_name, _Uncached

__all__ = ["AuthorBibliography", "AuthorWork", "LegacySearch", "author_cache_key", "b64_key"]

AUTHOR_WORKS_LIMIT = 1000  # the original's works.json?limit=1000


class AuthorWork(msgspec.Struct, omit_defaults=True):
    title: str
    openLibraryWorkKey: str  # noqa: N815 - wire name
    firstPublicationYear: int | None = None  # noqa: N815 - wire name
    editions: list[Any] = msgspec.field(default_factory=lambda: [])


class AuthorBibliography(msgspec.Struct):
    """What Open Library knows of an author (the cached value); ``key`` None: no such author."""

    key: str | None
    name: str | None
    works: list[AuthorWork]


def b64_key(value: str) -> str:
    """The original's key encoding — standard base64 with ``/``, ``+`` and ``=`` replaced by ``_`` — of
    the UTF-8 bytes (FIX: ``btoa`` threw on characters outside Latin-1)."""
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    return encoded.replace("/", "_").replace("+", "_").replace("=", "_")


def author_cache_key(name: str, sort_by: str) -> str:
    """``auto-search:{b64(author key)}:{b64("showAllEditions=false&sortBy=…")}``: ``limit`` and ``offset``
    are applied after the cache, so every page comes from one entry."""
    return f"auto-search:{b64_key(author_key(name))}:{b64_key(f'showAllEditions=false&sortBy={sort_by}')}"


def _title_dedupe(records: list[BookRecord]) -> list[BookRecord]:
    seen: set[str] = set()
    kept = []
    for record in records:
        key = title_key(record.work.title) or record.work.title
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


class LegacySearch:
    """The legacy loaders, sharing ``SearchService``'s providers, cache, config and ISBN counts."""

    def __init__(self, service: SearchService) -> None:
        self.service = service
        self.providers = service.providers
        self.config = service.config

    async def title(self, query: str, max_results: int) -> tuple[SearchPayload, bool, float]:
        """All records (Google's first), de-duplicated by title; the route truncates to ``max_results``.
        Returns ``(payload, cached, age)``."""
        text_ = query.strip()
        key = cache_key("search:title", maxresults=max_results, title=title_key(text_))

        async def load() -> Any:
            attempts = _Attempts()
            found: dict[str, list[BookRecord]] = {}
            p = self.providers

            async def google() -> None:
                answer = await attempts.call("google_books", p.google_books.search, text_, max_results=max_results)
                if answer is not _FAILED:
                    found["google_books"] = normalize_volumes(answer)

            async def openlibrary() -> None:
                answer = await attempts.call("openlibrary", p.openlibrary.search, text_, limit=max_results)
                if answer is not _FAILED:
                    found["openlibrary"] = normalize_search(answer)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(google)
                nursery.start_soon(openlibrary)
            records = _title_dedupe(found.get("google_books", []) + found.get("openlibrary", []))
            return attempts.settle(SearchPayload(records, _provider_name(records)), not records)

        return await self._cached(key, load, SearchPayload, self.config.cache.title_ttl)

    async def isbn(self, raw: str) -> tuple[SearchPayload, bool, float]:
        """Google Books ∥ Open Library; the records holding the ISBN merged into one (``InvalidIsbn`` for a
        malformed ISBN or a wrong check digit)."""
        isbn13 = canonical_isbn(raw)
        asked = clean_isbn(raw)
        self.service.count_isbn(isbn13)

        async def load() -> Any:
            return await self.service.load_isbn(isbn13, asked, ("google_books", "openlibrary"))

        return await self._cached(cache_key("search:isbn", isbn=isbn13), load, SearchPayload,
                                  self.config.cache.isbn_ttl)

    async def advanced(self, title: str, author: str, max_results: int) -> tuple[SearchPayload, bool, float]:
        """Google Books (``"{title} {author}"``) → Open Library; ``provider`` is ``google``,
        ``openlibrary`` or ``none`` (the legacy names)."""
        title, author = title.strip(), author.strip()
        query = " ".join(part for part in (title, author) if part)
        key = cache_key("search:advanced", maxresults=max_results, title=title_key(title), author=author_key(author))

        async def load() -> Any:
            attempts = _Attempts()
            records: list[BookRecord] = []
            provider = "none"
            answer = await attempts.call(
                "google_books", self.providers.google_books.search, query, max_results=max_results
            )
            if answer is not _FAILED:
                records, provider = normalize_volumes(answer), "google"
            if not records:
                answer = await attempts.call("openlibrary", self.providers.openlibrary.search, query, limit=max_results)
                if answer is not _FAILED:
                    records, provider = normalize_search(answer), "openlibrary"
            records = dedupe_by_isbn(records)
            return attempts.settle(SearchPayload(records, provider if records else "none"), not records)

        return await self._cached(key, load, SearchPayload, self.config.cache.advanced_ttl)

    async def author(self, name: str, sort_by: str) -> tuple[AuthorBibliography, bool, float]:
        """An author's works from Open Library, sorted by ``sort_by`` (all of them; the route pages)."""

        async def load() -> Any:
            bibliography = await self.bibliography(name)
            if bibliography.key is None:
                return Negative(bibliography)
            return msgspec.structs.replace(bibliography, works=sort_works(bibliography.works, sort_by))

        return await self._cached(author_cache_key(name, sort_by), load, AuthorBibliography,
                                  self.config.cache.author_ttl)

    async def bibliography(self, name: str) -> AuthorBibliography:
        """Uncached: ``search/authors.json?q={name}&limit=1`` then ``/authors/{id}/works.json?limit=1000``
        (provider errors propagate)."""
        ol = self.providers.openlibrary
        found = await ol.search_authors(name.strip(), limit=1)
        docs = sequence(mapping(found).get("docs"))
        doc = mapping(docs[0]) if docs else {}
        key = text(doc.get("key"))
        if key is None:
            return AuthorBibliography(None, None, [])
        key = key.rstrip("/").rsplit("/", 1)[-1]
        try:
            listing = await ol.author_works(key, limit=AUTHOR_WORKS_LIMIT)
        except ValueError:  # not an Open Library author id: treat as unknown
            return AuthorBibliography(None, None, [])
        works = []
        for entry in sequence(mapping(listing).get("entries")):
            fields = mapping(entry)
            title, work_key = text(fields.get("title")), text(fields.get("key"))
            if title is None or work_key is None:
                continue
            year = lead_year(fields.get("first_publish_date")) or lead_year(fields.get("first_publish_year"))
            works.append(AuthorWork(title=title, openLibraryWorkKey=work_key, firstPublicationYear=year))
        return AuthorBibliography(key, text(doc.get("name")), works)

    async def _cached(self, key: str, loader: Any, type_: Any, ttl: float) -> tuple[Any, bool, float]:
        """``(value, cached, age in seconds)``."""
        try:
            result = await self.service.cache.get_or_load(
                key, loader, type=type_, ttl=ttl, negative_ttl=self.config.cache.negative_ttl
            )
        except _Uncached as uncached:
            return uncached.payload, False, 0.0
        return result.value, result.cached, result.age


SORTS = ("publicationYear", "publicationYearAsc", "title", "popularity")


def sort_works(works: list[AuthorWork], sort_by: str) -> list[AuthorWork]:
    """Reference §3.9.3: newest first (unknown years last), oldest first, by title, or as listed
    (``popularity``: Open Library's order)."""
    if sort_by == "publicationYear":
        return sorted(works, key=lambda w: -(w.firstPublicationYear or -10**6))
    if sort_by == "publicationYearAsc":
        return sorted(works, key=lambda w: w.firstPublicationYear or 10**6)
    if sort_by == "title":
        return sorted(works, key=lambda w: w.title.casefold())
    return list(works)
