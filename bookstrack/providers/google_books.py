"""Google Books API v1 (``/books/v1/volumes``): the request formats of reference §8.1 and §8.9.

Owns how our questions become Google's query strings: free text as the user typed it, ``isbn:``,
``intitle:"…"`` / ``inauthor:"…"`` (quotes stripped from the inputs), ``maxResults`` (1–40), and the key
(``key=`` on every request). Without a key the provider is skipped: every method raises
``ProviderUnavailable`` before any request (API.md §7: keys come only from the environment). Answers are
the decoded JSON, untrusted (``bookstrack/books/normalize/google_books.py`` reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bookstrack.providers.upstream import Upstream

__all__ = ["GoogleBooksClient", "MAX_RESULTS"]

MAX_RESULTS = 40  # Google's cap per page
VOLUMES = "/books/v1/volumes"


class GoogleBooksClient:
    name = "google_books"

    def __init__(self, upstream: Upstream, api_key: str | None) -> None:
        self.upstream = upstream
        self.configured = bool(api_key)

    async def search(self, query: str, *, max_results: int = 20) -> Any:
        """``volumes?q={query}&maxResults={n}``: free text (the user's, trimmed)."""
        return await self._volumes({"q": query.strip(), "maxResults": _clamp(max_results)})

    async def search_isbn(self, isbn: str) -> Any:
        """``volumes?q=isbn:{isbn}`` (no ``maxResults``: Google answers up to 10, all kept)."""
        return await self._volumes({"q": f"isbn:{isbn.strip()}"})

    async def search_fields(
        self, *, title: str | None = None, authors: Sequence[str] = (), max_results: int = MAX_RESULTS
    ) -> Any:
        """``volumes?q=intitle:"{title}" inauthor:"{a1}" …&maxResults={n}`` (edition discovery)."""
        terms = []
        if title and _unquoted(title):
            terms.append(f'intitle:"{_unquoted(title)}"')
        terms.extend(f'inauthor:"{_unquoted(a)}"' for a in authors if _unquoted(a))
        if not terms:
            raise ValueError("search_fields needs a title or an author")
        return await self._volumes({"q": " ".join(terms), "maxResults": _clamp(max_results)})

    async def volume(self, volume_id: str) -> Any:
        """``volumes/{id}``: one volume, or ``None`` if Google has no such id."""
        self._require_key()
        return await self.upstream.get(f"{VOLUMES}/{quote(volume_id.strip(), safe='')}", not_found=True)

    async def _volumes(self, params: dict[str, str | int]) -> Any:
        self._require_key()
        return await self.upstream.get(VOLUMES, params)

    def _require_key(self) -> None:
        if not self.configured:
            raise self.upstream.unconfigured("BOOKSTRACK_GOOGLE_BOOKS_API_KEY")


def _clamp(max_results: int) -> int:
    return max(1, min(MAX_RESULTS, int(max_results)))


def _unquoted(text: str) -> str:
    return text.replace('"', "").strip()
