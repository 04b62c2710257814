"""The ``/v1`` search routes (API.md §3, reference §3.1): title, ISBN, advanced, editions, and the ISBN
batch. Envelope family; every success carries ``metadata.cached`` and ``metadata.processingTime``.

Validation and messages are the reference's; the work is ``bookstrack/search`` (``services.search``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
import quart

from bookstrack.errors import InvalidQuery, NotFound
from bookstrack.search.service import BatchEntry, SearchResponse, SearchResult, SearchService
from bookstrack.web.bodies import read_json
from bookstrack.web.envelope import Family, envelope
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "BatchRequest", "MAX_BATCH"]

routes = RouteTable(tags=["search"])

MAX_BATCH = 100
DEFAULT_EDITIONS_LIMIT = 20


class TitleQuery(msgspec.Struct):
    q: str


class IsbnQuery(msgspec.Struct):
    isbn: str


class AdvancedQuery(msgspec.Struct):
    title: str = ""
    author: str = ""


class EditionsQuery(msgspec.Struct):
    workTitle: str  # noqa: N815 - wire name
    author: str
    limit: int = DEFAULT_EDITIONS_LIMIT


class BatchRequest(msgspec.Struct, forbid_unknown_fields=False):
    isbns: Annotated[list[str], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class BatchResponse(msgspec.Struct):
    results: list[BatchEntry]


def _services() -> Any:
    return quart.current_app.services  # type: ignore[attr-defined]


def _search() -> SearchService:
    service = _services().search
    if service is None:  # only between shutdown and the last request
        raise RuntimeError("search service not running")
    return service


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _arg(name: str) -> str | None:
    return quart.request.args.get(name)


def _answer(result: SearchResult, started: float) -> quart.Response:
    return envelope(
        result.data, clock=_services().clock, processing_ms=_elapsed_ms(started), provider=result.provider,
        cached=result.cached,
    )


@routes.get("/v1/search/title", family=Family.ENVELOPE, query=TitleQuery, response=SearchResponse,
            responses={400: "INVALID_QUERY", 503: "PROVIDER_ERROR", 504: "PROVIDER_TIMEOUT"})
async def search_title() -> quart.Response:
    """Search books by title (Google Books, then Open Library)."""
    started = time.perf_counter()
    q = _arg("q")
    if q is None or not q.strip():
        raise InvalidQuery("Search query is required", details={"query": q})
    return _answer(await _search().title(q), started)


@routes.get("/v1/search/isbn", family=Family.ENVELOPE, query=IsbnQuery, response=SearchResponse,
            responses={400: "INVALID_ISBN", 503: "PROVIDER_ERROR", 504: "PROVIDER_TIMEOUT"})
async def search_isbn() -> quart.Response:
    """Look a book up by ISBN-10 or ISBN-13 (every provider, merged)."""
    started = time.perf_counter()
    return _answer(await _search().isbn(_arg("isbn") or ""), started)


@routes.get("/v1/search/advanced", family=Family.ENVELOPE, query=AdvancedQuery, response=SearchResponse,
            responses={400: "INVALID_QUERY", 503: "PROVIDER_ERROR", 504: "PROVIDER_TIMEOUT"})
async def search_advanced() -> quart.Response:
    """Search books by title and/or author."""
    started = time.perf_counter()
    title, author = _arg("title") or "", _arg("author") or ""
    if not title.strip() and not author.strip():
        raise InvalidQuery("At least one of title or author is required", details={"title": title, "author": author})
    return _answer(await _search().advanced(title, author), started)


def _limit(value: str | None) -> int:
    try:
        return max(0, int(value)) if value is not None else DEFAULT_EDITIONS_LIMIT
    except ValueError:
        return DEFAULT_EDITIONS_LIMIT


@routes.get("/v1/editions/search", family=Family.ENVELOPE, query=EditionsQuery, response=SearchResponse,
            responses={400: "INVALID_QUERY", 404: "NOT_FOUND", 503: "PROVIDER_ERROR", 504: "PROVIDER_TIMEOUT"})
async def search_editions() -> quart.Response:
    """Find the other editions of a work (ISBNdb and Google Books)."""
    started = time.perf_counter()
    work_title, author = _arg("workTitle") or "", _arg("author") or ""
    details = {"workTitle": work_title, "author": author}
    if not work_title.strip():
        raise InvalidQuery("workTitle parameter is required", details=details)
    if not author.strip():
        raise InvalidQuery("author parameter is required", details=details)
    payload, cached = await _search().editions(work_title, author)
    if not payload.editions:
        raise NotFound(
            f'No editions found for "{work_title.strip()}" by {author.strip()}',
            details={**details, "processingTime": _elapsed_ms(started)},
        )
    data = SearchResponse(works=[], editions=payload.editions[: _limit(_arg("limit"))], authors=[])
    return envelope(
        data, clock=_services().clock, processing_ms=_elapsed_ms(started), provider=payload.provider, cached=cached
    )


@routes.post("/v1/search/isbn/batch", family=Family.ENVELOPE, request=BatchRequest, response=BatchResponse,
             rate_limit="default", responses={400: "INVALID_REQUEST", 503: "PROVIDER_ERROR"})
async def search_isbn_batch() -> quart.Response:
    """Look up to 100 ISBNs up at once (one entry per input, in order)."""
    started = time.perf_counter()
    body = await read_json(BatchRequest)
    results, cached = await _search().isbn_batch(body.isbns)
    return envelope(
        BatchResponse(results), clock=_services().clock, processing_ms=_elapsed_ms(started), cached=cached
    )
