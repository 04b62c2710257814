"""ISBNdb API v2: ``GET /book/{isbn}``, ``POST /books`` (body ``isbns=a,b,…`` or JSON ``{"isbns":[…]}``),
``GET /books/{query}``, ``GET /search/books``, ``GET /author/{name}`` and ``GET /authors/{query}``.

Every request needs an ``Authorization`` header (the raw key); without one the answer is 401
``{"message":"Unauthorized"}`` (and a wrong one, when the fake is given a key). ``/book/{isbn}`` takes
either form of an ISBN (ISBNdb stores both); unknown → 404 ``{"errorMessage":"Not Found"}``, which is
also the answer of a search that finds nothing. ``/books/{query}`` matches any word unless
``shouldMatchAll=1``, in ``column`` (``title``, ``author``, ``subjects``, ``publisher``,
``date_published``; default all), with ``language``, ``page`` and ``pageSize`` (≤ 1000).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from bookstrack.devtools.catalogue import Catalogue, Searchable
from bookstrack.devtools.text import clean_isbn, contains, fold
from bookstrack.devtools.upstreams.base import (
    BadRequest,
    Handler,
    Request,
    Response,
    Upstream,
    json_response,
    page,
    route,
)

__all__ = ["Isbndb"]

COLUMNS = ("title", "author", "subjects", "publisher", "date_published")
_GATEWAY = {
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Endpoint request timed out",
}


class Isbndb(Upstream):
    name = "isbndb"
    prefix = "/isbndb"
    routes = [
        route("GET", r"/book/(?P<isbn>[^/]+)", "book"),
        route("POST", r"/books", "books"),
        route("GET", r"/books/(?P<query>.+)", "search_books"),
        route("GET", r"/search/books", "search"),
        route("GET", r"/author/(?P<name>.+)", "author"),
        route("GET", r"/authors/(?P<query>.+)", "authors"),
    ]

    def __init__(self, catalogue: Catalogue, *, api_key: str | None = None) -> None:
        self.catalogue = catalogue
        self.api_key = api_key

    def resolve(self, request: Request) -> tuple[str, Handler]:
        name, handler = super().resolve(request)
        key = request.headers.get("authorization", "")
        if not key or (self.api_key is not None and key != self.api_key):
            return name, lambda: json_response({"message": "Unauthorized"}, 401)
        return name, handler

    # -- lookups -------------------------------------------------------------------------------------

    def book(self, request: Request, isbn: str) -> Response:
        record = self.catalogue.isbndb_by_isbn.get(clean_isbn(isbn))
        if record is None:
            return _not_found()
        return json_response({"book": record})

    def books(self, request: Request) -> Response:
        requested = _isbns_of(request)
        if requested is None:
            return json_response({"errorMessage": "isbns is required"}, 400)
        found: list[dict[str, Any]] = []
        seen: set[int] = set()
        for isbn in requested:
            record = self.catalogue.isbndb_by_isbn.get(clean_isbn(isbn))
            if record is not None and id(record) not in seen:
                seen.add(id(record))
                found.append(record)
        return json_response({"total": len(found), "requested": len(requested), "data": found})

    # -- searches ------------------------------------------------------------------------------------

    def search_books(self, request: Request, query: str) -> Response:
        column = request.arg("column", "") or ""
        if column and column not in COLUMNS:
            raise BadRequest("column", column)
        columns = (column,) if column else COLUMNS
        match_all = request.arg("shouldMatchAll") in ("1", "true")
        words = fold(query).split()
        hits = self._rank(words, columns, match_all, request.arg("language"))
        return self._books_page(request, hits, {"total": len(hits)})

    def search(self, request: Request) -> Response:
        text = fold(request.arg("text", "") or "").split()
        author = fold(request.arg("author", "") or "").split()
        hits: list[dict[str, Any]] = []
        for item in self.catalogue.isbndb_search:
            if text and not all(contains(item.fields["title"], w) for w in text):
                continue
            if author and not all(contains(item.fields["author"], w) for w in author):
                continue
            if text or author:
                hits.append(item.record)
        return self._books_page(request, hits, {"total": len(hits)})

    def author(self, request: Request, name: str) -> Response:
        words = fold(name).split()
        hits = [
            item.record
            for item in self.catalogue.isbndb_search
            if words and any(all(contains(a, w) for w in words) for a in item.extra["authors"])
        ]
        return self._books_page(request, hits, {"author": name})

    def authors(self, request: Request, query: str) -> Response:
        words = fold(query).split()
        names: list[str] = []
        for book in self.catalogue.isbndb_books:
            for name in book.get("authors", []):
                if words and name not in names and all(contains(fold(name), w) for w in words):
                    names.append(name)
        if not names:
            return _not_found()
        size = request.int_arg("pageSize", 20, low=1, high=1000)
        start = (request.int_arg("page", 1, low=1) - 1) * size
        return json_response({"total": len(names), "authors": page(names, start, size)})

    def _rank(self, words: list[str], columns: tuple[str, ...], match_all: bool, language: str | None) -> list[Any]:
        scored: list[tuple[int, int, Searchable]] = []
        for position, item in enumerate(self.catalogue.isbndb_search):
            if language and not str(item.record.get("language", "")).startswith(language):
                continue
            matched = sum(1 for w in words if any(contains(item.fields[c], w) for c in columns))
            if matched and (not match_all or matched == len(words)):
                scored.append((matched, position, item))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [item.record for _, _, item in scored]

    def _books_page(self, request: Request, hits: list[Any], head: dict[str, Any]) -> Response:
        if not hits:
            return _not_found()
        size = request.int_arg("pageSize", 20, low=1, high=1000)
        start = (request.int_arg("page", 1, low=1) - 1) * size
        return json_response({**head, "books": page(hits, start, size)})

    # -- errors --------------------------------------------------------------------------------------

    def not_found(self, request: Request) -> Response:
        return json_response({"message": "Not Found"}, 404)

    def bad_request(self, request: Request, exc: BadRequest) -> Response:
        return json_response({"errorMessage": str(exc)}, 400)

    def injected_error(self, status: int) -> Response:
        return json_response({"message": _GATEWAY.get(status, "Error")}, status)


def _not_found() -> Response:
    return json_response({"errorMessage": "Not Found"}, 404)


def _isbns_of(request: Request) -> list[str] | None:
    """The ISBNs of a ``POST /books`` body: form-encoded or JSON, a comma-separated string or a list."""
    text = request.body.decode("utf-8", "replace").strip()
    value: Any = None
    if text.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        value = parsed.get("isbns") if isinstance(parsed, dict) else parsed
    else:
        value = ",".join(parse_qs(text).get("isbns", [])) or None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return None
    isbns = [str(v).strip() for v in value if str(v).strip()]
    return isbns or None
