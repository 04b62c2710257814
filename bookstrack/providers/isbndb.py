"""ISBNdb API v2 (paid; ``Authorization: <key>`` header, the raw key): the request formats of reference §8.3.

Owns the endpoints: ``GET /book/{isbn}`` (one book, ``{"book": {...}}``), ``POST /books`` with the form
body ``isbns=a,b,c`` (many books in one request, ``{"data": [...]}``), ``GET /books/{query}`` (search by
``column``: title, author, …) and ``GET /search/books`` (text + author). Without a key the provider is
skipped: every method raises ``ProviderUnavailable`` before any request. Answers are the decoded JSON,
untrusted (``bookstrack/books/normalize/isbndb.py`` reads them).

A 404 from ``/book/{isbn}`` is "not found" (``None``). ISBNdb also answers 404 ``{"errorMessage": "Not
Found"}`` when a key's daily quota is spent (anchors A.1), which cannot be told apart here: our own
per-day budget keeps us below the plan's cap, and the cache must treat ISBNdb misses with a short TTL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bookstrack.providers.batching import in_chunks, unique_isbns
from bookstrack.providers.upstream import Upstream

__all__ = ["IsbndbClient", "ISBNS_PER_REQUEST", "MAX_PAGE_SIZE"]

ISBNS_PER_REQUEST = 100  # the plans allow up to 1000 per POST /books; 100 keeps one answer small
MAX_PAGE_SIZE = 1000


class IsbndbClient:
    name = "isbndb"

    def __init__(self, upstream: Upstream, api_key: str | None) -> None:
        self.upstream = upstream
        self.configured = bool(api_key)

    async def book(self, isbn: str) -> Any:
        """``GET /book/{isbn}?with_prices=0`` → ``{"book": {...}}``, or ``None`` when ISBNdb has no such book."""
        self._require_key()
        return await self.upstream.get(f"/book/{quote(isbn.strip(), safe='')}", {"with_prices": 0}, not_found=True)

    async def books(self, isbns: Sequence[str]) -> list[Any]:
        """``POST /books`` with body ``isbns=a,b,c`` → the books ISBNdb knows (the answers' ``data`` items,
        unchecked). Duplicates are asked once; more than ``ISBNS_PER_REQUEST`` are split into requests."""
        self._require_key()
        unique = unique_isbns(isbns)
        found: list[Any] = []

        async def one(chunk: list[str]) -> None:
            # ISBNs are digits and X: the comma-separated list needs no escaping, and a form parser and a
            # plain "isbns=" reader see the same thing.
            answer = await self.upstream.post_form("/books", "isbns=" + ",".join(chunk))
            items = answer.get("data") if isinstance(answer, dict) else None
            if isinstance(items, list):
                found.extend(items)

        await in_chunks(unique, ISBNS_PER_REQUEST, one)
        return found

    async def search_books(
        self,
        query: str,
        *,
        column: str | None = None,
        language: str | None = None,
        should_match_all: bool = False,
        page: int = 1,
        page_size: int = 20,
    ) -> Any:
        """``GET /books/{query}?page=&pageSize=[&column=][&language=][&shouldMatchAll=1]`` → ``{"books": [...],
        "total"}``, or ``None`` on 404 (ISBNdb's "nothing matched")."""
        self._require_key()
        params: dict[str, str | int] = {"page": max(1, int(page)), "pageSize": _page_size(page_size)}
        if column:
            params["column"] = column
        if language:
            params["language"] = language
        if should_match_all:
            params["shouldMatchAll"] = 1
        return await self.upstream.get(f"/books/{quote(query.strip(), safe='')}", params, not_found=True)

    async def search(self, text: str, *, author: str | None = None, page: int = 1, page_size: int = 20) -> Any:
        """``GET /search/books?page=&pageSize=&text={text}[&author={author}]`` → ``{"books": [...], "total"}``,
        or ``None`` on 404."""
        self._require_key()
        params: dict[str, str | int] = {
            "page": max(1, int(page)), "pageSize": _page_size(page_size), "text": text.strip()
        }
        if author and author.strip():
            params["author"] = author.strip()
        return await self.upstream.get("/search/books", params, not_found=True)

    def _require_key(self) -> None:
        if not self.configured:
            raise self.upstream.unconfigured("BOOKSTRACK_ISBNDB_API_KEY")


def _page_size(page_size: int) -> int:
    return max(1, min(int(page_size), MAX_PAGE_SIZE))
