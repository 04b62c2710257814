"""The legacy search routes (reference §3.9, API.md §3): ``/search/title``, ``/search/isbn`` and
``/search/author`` (any method) and ``/search/advanced`` (GET query or POST JSON; other methods 405).
Raw bodies (family C) whose errors are legacy-shaped (B, with ``X-Error-Type``).

Shapes, codes and messages are the reference's; what the original got wrong is fixed (API.md §3 and
reference §12): items are built from the records, so they carry ISBNs, publisher, pages and covers
(the original's converter read a field normalised works never have, so ``/search/advanced`` failed on
every hit); an ISBN with a wrong check digit is 400 ``INVALID_ISBN``; ``/search/author`` works for any
script (the original's ``btoa`` threw on CJK) and pages correctly once cached. When every provider
failed, the routes answer their documented 200 "failed" bodies, and nothing is cached. The work is
``bookstrack/search/legacy.py``.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import quart

from bookstrack.books.dto import BookRecord
from bookstrack.errors import InvalidParam, MethodNotAllowed, MissingParam, ProviderError
from bookstrack.search.legacy import SORTS, AuthorBibliography, LegacySearch
from bookstrack.web.bodies import decode_json, read_body
from bookstrack.web.envelope import Family, raw
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "ANY_METHOD", "volume_item"]

routes = RouteTable(tags=["legacy"])

# Every method a route "accepts regardless of method" answers (OPTIONS is the front door's).
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_MAX_RESULTS = 20
DEFAULT_AUTHOR_LIMIT = 50
LEGACY_CACHE_SECONDS = 21600  # the original's 6 h Cache-Control / X-Cache-TTL


def _legacy() -> LegacySearch:
    service = quart.current_app.services.search  # type: ignore[attr-defined]
    if service is None:  # only between shutdown and the last request
        raise RuntimeError("search service not running")
    return LegacySearch(service)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _arg(name: str) -> str | None:
    return quart.request.args.get(name)


def _int_arg(value: Any, default: int) -> int:
    """An integer parameter (query text or JSON number); anything unreadable is the default."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _max_results(value: Any, default: int) -> int:
    return max(1, _int_arg(value, default))


def _cache_source(source_cached: bool) -> str:
    return "KV" if source_cached else "NONE"


# -- items ---------------------------------------------------------------------------------------------


def _synthetic_id(title: str) -> str:
    return "synthetic-" + "-".join(title.lower().split())


def volume_item(record: BookRecord) -> dict[str, Any]:
    """A record as a Google-volume-like item (reference §3.9.1, the INTENDED fields of §3.9.4)."""
    work, edition = record.work, record.edition
    identifiers = [
        {"type": "ISBN_13" if len(isbn) == 13 else "ISBN_10", "identifier": isbn} for isbn in edition.isbns
    ]
    if not identifiers and edition.isbn:
        identifiers = [{"type": "ISBN_13" if len(edition.isbn) == 13 else "ISBN_10", "identifier": edition.isbn}]
    year = work.firstPublicationYear
    info: dict[str, Any] = {
        "title": work.title,
        "subtitle": "",
        "authors": [a.name for a in record.authors],
        "publisher": edition.publisher or "",
        "publishedDate": str(year) if year is not None else (edition.publicationDate or ""),
        "description": work.description or edition.editionDescription or "",
        "industryIdentifiers": identifiers,
        "pageCount": edition.pageCount or 0,
        "categories": list(work.subjectTags),
    }
    cover = edition.coverImageURL or work.coverImageURL
    if cover:
        info["imageLinks"] = {"thumbnail": cover, "smallThumbnail": cover}
    volume_id = edition.googleBooksVolumeID or work.googleBooksVolumeID
    return {"kind": "books#volume", "id": volume_id or _synthetic_id(work.title), "volumeInfo": info}


def _image_quality(items: list[dict[str, Any]]) -> str:
    """Reference §3.9.1: per item high (``zoom=1``/``zoom=2``), low (``zoom=0``), medium (another
    cover), missing (none); high if > 50 % high, medium if > 30 % medium, missing if > 50 % missing."""
    if not items:
        return "missing"
    counts = {"high": 0, "medium": 0, "low": 0, "missing": 0}
    for item in items:
        url = (item["volumeInfo"].get("imageLinks") or {}).get("thumbnail")
        if not url:
            counts["missing"] += 1
        elif "zoom=1" in url or "zoom=2" in url:
            counts["high"] += 1
        elif "zoom=0" in url:
            counts["low"] += 1
        else:
            counts["medium"] += 1
    n = len(items)
    if counts["high"] / n > 0.5:
        return "high"
    if counts["medium"] / n > 0.3:
        return "medium"
    if counts["missing"] / n > 0.5:
        return "missing"
    return "low"


def _completeness(items: list[dict[str, Any]]) -> int:
    """Percentage of items with an ISBN and a cover."""
    if not items:
        return 0
    full = sum(
        1 for item in items
        if item["volumeInfo"]["industryIdentifiers"] and item["volumeInfo"].get("imageLinks")
    )
    return round(100 * full / len(items))


def _volumes(
    total: int, items: list[dict[str, Any]], cached: bool, age: float, ttl: int,
    started: float,
) -> quart.Response:
    body: dict[str, Any] = {
        "kind": "books#volumes", "totalItems": total, "items": items,
        "provider": "orchestrated:google+openlibrary", "cached": cached, "responseTime": _elapsed_ms(started),
    }
    if cached:
        body["cacheSource"] = "KV"
    headers = {
        "X-Cache-Status": "HIT" if cached else "MISS",
        "X-Cache-Age": str(int(age)),
        "X-Cache-TTL": "0" if cached else str(ttl),
        "X-Image-Quality": _image_quality(items),
        "X-Data-Completeness": str(_completeness(items)),
    }
    return raw(body, headers=headers)


def _failure_details(error: ProviderError) -> str:
    return error.message


# -- routes ------------------------------------------------------------------------------------------------


@routes.route(ANY_METHOD, "/search/title", family=Family.RAW, responses={400: "MISSING_PARAM"})
async def legacy_title() -> quart.Response:
    """Deprecated title search (Google Books ∥ Open Library, Google-volume-like items)."""
    started = time.perf_counter()
    q = _arg("q")
    if q is None or not q.strip():
        raise MissingParam('Missing query parameter "q"')
    max_results = _max_results(_arg("maxResults"), DEFAULT_MAX_RESULTS)
    try:
        payload, cached, age = await _legacy().title(q, max_results)
    except ProviderError as error:
        return raw({"error": "Title search failed", "details": _failure_details(error), "items": []})
    items = [volume_item(r) for r in payload.records]
    ttl = int(quart.current_app.services.config.cache.title_ttl)  # type: ignore[attr-defined]
    return _volumes(len(items), items[:max_results], cached, age, ttl, started)


@routes.route(ANY_METHOD, "/search/isbn", family=Family.RAW, responses={400: "MISSING_PARAM"})
async def legacy_isbn() -> quart.Response:
    """Deprecated ISBN lookup (Google Books ∥ Open Library, merged)."""
    started = time.perf_counter()
    isbn = _arg("isbn")
    if isbn is None or not isbn.strip():
        raise MissingParam("Missing ISBN parameter")
    max_results = _max_results(_arg("maxResults"), 1)
    try:
        payload, cached, age = await _legacy().isbn(isbn)  # InvalidIsbn: 400, legacy shape
    except ProviderError as error:
        return raw({"error": "ISBN search failed", "details": _failure_details(error), "items": []})
    items = [volume_item(r) for r in payload.records]
    ttl = int(quart.current_app.services.config.cache.isbn_ttl)  # type: ignore[attr-defined]
    return _volumes(len(items), items[:max_results], cached, age, ttl, started)


def _author_int(value: str | None, default: int, message: str, low: int, high: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidParam(message) from None
    if number < low or (high is not None and number > high):
        raise InvalidParam(message)
    return number


@routes.route(ANY_METHOD, "/search/author", family=Family.RAW, responses={400: "MISSING_PARAM"})
async def legacy_author() -> quart.Response:
    """An author's bibliography from Open Library, paginated."""
    started = time.perf_counter()
    q = _arg("q")
    if q is None or not q.strip():
        raise MissingParam('Missing query parameter "q"')
    limit_text = _arg("limit") or _arg("maxResults")
    limit = _author_int(limit_text, DEFAULT_AUTHOR_LIMIT, "Limit must be between 1 and 100", 1, 100)
    offset = _author_int(_arg("offset"), 0, "Offset must be >= 0", 0, None)
    sort_by = _arg("sortBy") or "publicationYear"
    if sort_by not in SORTS:
        raise InvalidParam("sortBy must be one of: publicationYear, publicationYearAsc, title, popularity")
    headers = {"Cache-Control": f"public, max-age={LEGACY_CACHE_SECONDS}", "X-Provider": "openlibrary"}
    try:
        found, cached, _age = await _legacy().author(q, sort_by)
    except ProviderError as error:
        body = {"success": False, "error": "Author search failed", "details": _failure_details(error),
                "works": [], "pagination": None}
        return raw(body, headers={**headers, "X-Cache": "MISS", "X-Cache-Source": "NONE"})
    headers.update({"X-Cache": "HIT" if cached else "MISS", "X-Cache-Source": _cache_source(cached)})
    if found.key is None:
        body = {"success": False, "error": "Author not found in OpenLibrary", "works": [], "pagination": None}
        return raw(body, headers=headers)
    return raw(_author_body(q.strip(), found, limit, offset, cached, started), headers=headers)


def _author_body(
    name: str, found: AuthorBibliography, limit: int, offset: int, cached: bool, started: float
) -> dict[str, Any]:
    total = len(found.works)
    has_more = offset + limit < total
    body: dict[str, Any] = {
        "success": True,
        "provider": "openlibrary",
        "author": {"name": name, "openLibraryKey": found.key, "totalWorks": total},
        "works": found.works[offset : offset + limit],
        "pagination": {
            "total": total, "limit": limit, "offset": offset, "hasMore": has_more,
            "nextOffset": offset + limit if has_more else None,
        },
        "cached": cached,
        "responseTime": _elapsed_ms(started),
    }
    if cached:
        body["cacheSource"] = "KV"
    return body


class AdvancedBody(msgspec.Struct, forbid_unknown_fields=False):
    title: str | None = None
    bookTitle: str | None = None  # noqa: N815 - wire name
    author: str | None = None
    authorName: str | None = None  # noqa: N815 - wire name
    maxResults: int | str | None = None  # noqa: N815 - wire name


@routes.route(ANY_METHOD, "/search/advanced", family=Family.RAW, request=AdvancedBody,
              responses={400: "MISSING_PARAM", 405: "METHOD_NOT_ALLOWED"})
async def legacy_advanced() -> quart.Response:
    """Deprecated title/author search: GET with query parameters or POST with a JSON body."""
    method = quart.request.method
    if method == "POST":
        body = decode_json(await read_body(), AdvancedBody)  # malformed: 400 INVALID_REQUEST, legacy shape
        title, author, max_value = body.title or body.bookTitle, body.author or body.authorName, body.maxResults
    elif method in ("GET", "HEAD"):
        title = _arg("title") or _arg("bookTitle")
        author = _arg("author") or _arg("authorName")
        max_value = _arg("maxResults")
    else:
        raise MethodNotAllowed(
            "Use GET with query parameters or POST with JSON body", headers={"Allow": "GET, POST"}
        )
    title, author = (title or "").strip(), (author or "").strip()
    if not title and not author:
        raise MissingParam("At least one search parameter required (title or author)")
    max_results = _max_results(max_value, DEFAULT_MAX_RESULTS)
    headers = {"Cache-Control": f"public, max-age={LEGACY_CACHE_SECONDS}"} if method != "POST" else {}
    try:
        payload, cached, _age = await _legacy().advanced(title, author, max_results)
    except ProviderError as error:
        return raw({"success": False, "error": error.message, "items": []}, headers=headers)
    answer: dict[str, Any] = {
        "success": True, "provider": payload.provider,
        "items": [volume_item(r) for r in payload.records[:max_results]], "cached": cached,
    }
    if cached and not payload.records:
        answer["negativeCache"] = True
    return raw(answer, headers=headers)
