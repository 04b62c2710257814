"""Open Library (keyless; identified by our ``User-Agent``): the request formats of reference §8.2.

Owns the endpoints we use and their parameters: ``search.json`` (free text, or by ``isbn`` / ``goodreads``
id, always with ``fields=`` naming what the normalizer reads — FIX 28), ``/isbn/{isbn}.json`` (an edition;
Open Library redirects it to ``/books/{OLID}.json``), ``/works/{id}.json``, ``/authors/{id}.json``,
``search/authors.json``, ``/authors/{id}/works.json``, and ``/api/books?bibkeys=ISBN:a,ISBN:b&format=json
&jscmd=data`` for many ISBNs in one request. Answers are the decoded JSON, untrusted
(``bookstrack/books/normalize/openlibrary.py`` reads them); single records answer ``None`` on 404.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bookstrack.providers.batching import in_chunks, unique_isbns
from bookstrack.providers.upstream import Upstream

__all__ = ["OpenLibraryClient", "SEARCH_FIELDS", "BIBKEYS_PER_REQUEST"]

# What the search-doc normalizer reads (reference §8.2), and nothing else: a doc with every field is ~10x larger.
SEARCH_FIELDS = ",".join((
    "key", "title", "subtitle", "author_name", "author_key", "first_publish_year", "subject", "language",
    "cover_i", "isbn", "publisher", "publish_date", "number_of_pages_median", "edition_count",
    "id_goodreads", "id_amazon", "id_librarything", "id_google",
))
BIBKEYS_PER_REQUEST = 100
# Open Library ids: OL…W works, OL…A authors, OL…M editions.
_OLID = re.compile(r"OL\d+[AMW]")


class OpenLibraryClient:
    name = "openlibrary"
    configured = True  # keyless

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def search(self, query: str, *, limit: int = 20) -> Any:
        """``search.json?q={query}&limit={n}&fields=…`` (the user's text, trimmed)."""
        return await self._search({"q": query.strip(), "limit": _limit(limit)})

    async def search_isbn(self, isbn: str, *, limit: int = 1) -> Any:
        """``search.json?isbn={isbn}&limit={n}&fields=…``: the work docs holding that ISBN."""
        return await self._search({"isbn": isbn.strip(), "limit": _limit(limit)})

    async def search_goodreads(self, goodreads_id: str) -> Any:
        """``search.json?goodreads={id}&limit=1&fields=…``."""
        return await self._search({"goodreads": goodreads_id.strip(), "limit": 1})

    async def edition_by_isbn(self, isbn: str) -> Any:
        """``/isbn/{isbn}.json``: the edition record (after Open Library's redirect), or ``None``."""
        return await self.upstream.get(f"/isbn/{quote(isbn.strip(), safe='')}.json", not_found=True)

    async def work(self, work_id: str) -> Any:
        """``/works/{OL…W}.json`` (a ``/works/`` prefix is accepted), or ``None``."""
        return await self.upstream.get(f"/works/{_olid(work_id, 'W')}.json", not_found=True)

    async def author(self, author_id: str) -> Any:
        """``/authors/{OL…A}.json`` (a ``/authors/`` prefix is accepted), or ``None``."""
        return await self.upstream.get(f"/authors/{_olid(author_id, 'A')}.json", not_found=True)

    async def search_authors(self, name: str, *, limit: int = 1) -> Any:
        """``search/authors.json?q={name}&limit={n}``."""
        return await self.upstream.get("/search/authors.json", {"q": name.strip(), "limit": _limit(limit)})

    async def author_works(self, author_id: str, *, limit: int = 1000, offset: int = 0) -> Any:
        """``/authors/{OL…A}/works.json?limit={n}&offset={o}`` (``entries[]``), or ``None``."""
        params: dict[str, str | int] = {"limit": max(1, min(int(limit), 1000))}
        if offset:
            params["offset"] = max(0, int(offset))
        return await self.upstream.get(f"/authors/{_olid(author_id, 'A')}/works.json", params, not_found=True)

    async def books_by_isbn(self, isbns: Sequence[str]) -> dict[str, Any]:
        """``/api/books?bibkeys=ISBN:a,ISBN:b&format=json&jscmd=data``: ``{"ISBN:a": {...}, ...}`` for the
        ISBNs Open Library knows (the others are absent). Duplicates are asked once; more than
        ``BIBKEYS_PER_REQUEST`` ISBNs are split into concurrent requests (each within the budget)."""
        unique = unique_isbns(isbns)
        merged: dict[str, Any] = {}

        async def one(chunk: list[str]) -> None:
            answer = await self.upstream.get(
                "/api/books", {"bibkeys": ",".join(f"ISBN:{i}" for i in chunk), "format": "json", "jscmd": "data"}
            )
            if isinstance(answer, dict):
                merged.update(answer)

        await in_chunks(unique, BIBKEYS_PER_REQUEST, one)
        return merged

    async def _search(self, params: dict[str, str | int]) -> Any:
        return await self.upstream.get("/search.json", {**params, "fields": SEARCH_FIELDS})


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 100))


def _olid(value: str, kind: str) -> str:
    """``OL45804W`` from ``OL45804W`` or ``/works/OL45804W``; anything else is refused (it goes in a path)."""
    olid = value.strip().rstrip("/").rsplit("/", 1)[-1]
    if not _OLID.fullmatch(olid) or not olid.endswith(kind):
        raise ValueError(f"not an Open Library {'work' if kind == 'W' else 'author'} id: {value!r}")
    return olid
