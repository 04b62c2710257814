"""The ``/external/*`` passthrough routes (reference §3.10; "temporary during migration"): one provider
each, any method, the *normalised* result as a raw body (family C) — ``null`` when the provider found
nothing — and legacy-shaped errors (B): 400 ``MISSING_PARAM`` with the reference's messages.

Not cached (the original did not cache them; the providers' single-flight and budgets still apply).
Differences from the original, per API.md: an upstream failure is 503 ``PROVIDER_ERROR`` (504
``PROVIDER_TIMEOUT``) in the legacy shape instead of a bare 500, a provider without a key is the same
503 (``reason: unconfigured``), and the ISBN routes reject a malformed ISBN or a wrong check digit with
400 ``INVALID_ISBN``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import quart

from bookstrack.books.dto import AuthorDTO, BookRecord, EditionDTO, WorkWithAuthors
from bookstrack.books.isbn import canonical_isbn, clean_isbn
from bookstrack.books.keys import author_key
from bookstrack.books.merge import split_records
from bookstrack.books.normalize._fields import mapping, sequence, strings
from bookstrack.books.normalize.google_books import normalize_volumes
from bookstrack.books.normalize.isbndb import natural_order, normalize_book, normalize_books
from bookstrack.books.normalize.openlibrary import normalize_search
from bookstrack.errors import MissingParam
from bookstrack.search.legacy import LegacySearch
from bookstrack.web.envelope import Family, raw
from bookstrack.web.legacy import ANY_METHOD, DEFAULT_MAX_RESULTS
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "NormalizedResponse"]

routes = RouteTable(tags=["external"])

EDITIONS_PAGE = 100
ERRORS = {400: "MISSING_PARAM", 503: "PROVIDER_ERROR", 504: "PROVIDER_TIMEOUT"}


class NormalizedResponse(msgspec.Struct):
    """A provider's normalised answer: works (each with its ``authors``), editions, authors."""

    works: list[WorkWithAuthors]
    editions: list[EditionDTO]
    authors: list[AuthorDTO]


def _services() -> Any:
    return quart.current_app.services  # type: ignore[attr-defined]


def _providers() -> Any:
    providers = _services().providers
    if providers is None:  # only between shutdown and the last request
        raise RuntimeError("providers not running")
    return providers


def _arg(name: str) -> str:
    return (quart.request.args.get(name) or "").strip()


def _max_results() -> int:
    try:
        return max(1, int(quart.request.args.get("maxResults") or DEFAULT_MAX_RESULTS))
    except ValueError:
        return DEFAULT_MAX_RESULTS


def _with_authors(record: BookRecord) -> WorkWithAuthors:
    fields = msgspec.structs.asdict(record.work)
    return WorkWithAuthors(**fields, authors=list(record.authors))


def _natural(records: list[BookRecord]) -> list[BookRecord]:
    out = []
    for record in records:
        authors = [msgspec.structs.replace(a, name=natural_order(a.name)) for a in record.authors]
        out.append(msgspec.structs.replace(record, authors=authors))
    return out


def _normalized(records: list[BookRecord]) -> quart.Response:
    """``{works, editions, authors}`` of the records, or ``null`` when there are none."""
    if not records:
        return raw(None)
    _, editions, authors = split_records(records)
    return raw({"works": [_with_authors(r) for r in records], "editions": editions, "authors": authors})


@routes.route(ANY_METHOD, "/external/google-books", family=Family.RAW, responses=ERRORS)
async def external_google_books() -> quart.Response:
    """Google Books search, normalised (passthrough)."""
    q = _arg("q")
    if not q:
        raise MissingParam("Missing query parameter")
    answer = await _providers().google_books.search(q, max_results=_max_results())
    return _normalized(normalize_volumes(answer))


@routes.route(ANY_METHOD, "/external/google-books-isbn", family=Family.RAW, responses={**ERRORS, 400: "INVALID_ISBN"})
async def external_google_books_isbn() -> quart.Response:
    """Google Books by ISBN, normalised (passthrough)."""
    isbn = _arg("isbn")
    if not isbn:
        raise MissingParam("Missing isbn parameter")
    canonical_isbn(isbn)  # InvalidIsbn
    answer = await _providers().google_books.search_isbn(clean_isbn(isbn))
    return _normalized(normalize_volumes(answer))


@routes.route(ANY_METHOD, "/external/openlibrary", family=Family.RAW, responses=ERRORS)
async def external_openlibrary() -> quart.Response:
    """Open Library search, normalised (passthrough)."""
    q = _arg("q")
    if not q:
        raise MissingParam("Missing query parameter")
    answer = await _providers().openlibrary.search(q, limit=_max_results())
    return _normalized(normalize_search(answer))


@routes.route(ANY_METHOD, "/external/openlibrary-author", family=Family.RAW, responses=ERRORS)
async def external_openlibrary_author() -> quart.Response:
    """An author's works from Open Library (passthrough)."""
    author = _arg("author")
    if not author:
        raise MissingParam("Missing author parameter")
    search = _services().search
    if search is None:
        raise RuntimeError("search service not running")
    found = await LegacySearch(search).bibliography(author)
    if found.key is None:
        return raw(None)
    return raw({"author": {"name": found.name or author, "openLibraryKey": found.key}, "works": found.works})


@routes.route(ANY_METHOD, "/external/isbndb", family=Family.RAW, responses=ERRORS)
async def external_isbndb() -> quart.Response:
    """ISBNdb search by title (and author), normalised (passthrough)."""
    title = _arg("title")
    if not title:
        raise MissingParam("Missing title parameter")
    answer = await _providers().isbndb.search(title, author=_arg("author") or None)
    return _normalized(_natural(normalize_books(answer)))


@routes.route(ANY_METHOD, "/external/isbndb-editions", family=Family.RAW, responses=ERRORS)
async def external_isbndb_editions() -> quart.Response:
    """ISBNdb editions of a work (title and author), best first (passthrough)."""
    title, author = _arg("title"), _arg("author")
    if not title or not author:
        raise MissingParam("Missing title or author parameter")
    answer = await _providers().isbndb.search_books(
        title, column="title", language="en", should_match_all=True, page_size=EDITIONS_PAGE
    )
    wanted = author_key(author)
    editions = []
    for book in sequence(mapping(answer).get("books")):
        names = [author_key(natural_order(n)) for n in strings(mapping(book).get("authors"))]
        names += [author_key(n) for n in strings(mapping(book).get("authors"))]
        if not any(wanted and wanted in name for name in names):
            continue
        record = normalize_book(book)
        if record is not None:
            editions.append(record.edition)
    if not editions:
        return raw(None)
    return raw(sorted(editions, key=lambda e: -e.isbndbQuality))


@routes.route(ANY_METHOD, "/external/isbndb-isbn", family=Family.RAW, responses={**ERRORS, 400: "INVALID_ISBN"})
async def external_isbndb_isbn() -> quart.Response:
    """ISBNdb by ISBN: the normalised record and the raw ISBNdb book (passthrough)."""
    isbn = _arg("isbn")
    if not isbn:
        raise MissingParam("Missing isbn parameter")
    answer = await _providers().isbndb.book(canonical_isbn(isbn))
    book = mapping(answer).get("book")
    record = normalize_book(book)
    if record is None:
        return raw(None)
    record = _natural([record])[0]
    return raw({"work": record.work, "edition": record.edition, "authors": record.authors, "book": book})
