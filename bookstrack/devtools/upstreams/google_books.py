"""Google Books API v1: ``GET /books/v1/volumes?q=…`` and ``GET /books/v1/volumes/{id}``.

``q`` takes ``intitle:``, ``inauthor:``, ``inpublisher:``, ``subject:`` and ``isbn:`` terms (a value may be
quoted) and free words; every term must match (case- and accent-insensitive, word prefixes; any substring
for CJK). ``isbn:`` matches the identifiers a volume lists, literally: a volume that lists only its ISBN-10
is not found by its ISBN-13. ``maxResults`` is 0–40 (default 10), ``startIndex`` from 0; ``langRestrict``
and ``filter=ebooks`` narrow the results, ``orderBy=newest`` sorts by date. No match answers
``{"kind":"books#volumes","totalItems":0}`` (no ``items``), as Google does. ``key`` is optional; when the
fake is given a key, a different one is refused (400 ``keyInvalid``).
"""

from __future__ import annotations

import html
from typing import Any

from bookstrack.devtools.catalogue import Catalogue
from bookstrack.devtools.text import parse_query
from bookstrack.devtools.upstreams.base import (
    BadRequest,
    Request,
    Response,
    Upstream,
    json_response,
    match_score,
    page,
    route,
    title_bonus,
)

__all__ = ["GoogleBooks"]

FIELDS = {"intitle": "title", "inauthor": "author", "inpublisher": "publisher", "subject": "subject", "isbn": "isbn"}
FREE = ("title", "author", "isbn", "publisher", "subject", "description")
WEIGHTS = {"title": 3, "author": 2, "publisher": 1, "subject": 1, "description": 1}
CONTENT_TYPE = "application/json; charset=UTF-8"


def google_error(status: int, message: str, reason: str, grpc_status: str, **extra: str) -> Response:
    body: dict[str, Any] = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason, **extra}],
            "status": grpc_status,
        }
    }
    return json_response(body, status, content_type=CONTENT_TYPE)


class GoogleBooks(Upstream):
    name = "google_books"
    prefix = "/google"
    routes = [
        route("GET", r"/books/v1/volumes", "volumes"),
        route("GET", r"/books/v1/volumes/(?P<volume_id>[^/]+)", "volume"),
    ]

    def __init__(self, catalogue: Catalogue, *, api_key: str | None = None) -> None:
        self.catalogue = catalogue
        self.api_key = api_key

    def _key_refused(self, request: Request) -> Response | None:
        key = request.arg("key")
        if self.api_key is not None and key and key != self.api_key:
            return google_error(
                400, "API key not valid. Please pass a valid API key.", "badRequest", "INVALID_ARGUMENT"
            )
        return None

    def volumes(self, request: Request) -> Response:
        if (refused := self._key_refused(request)) is not None:
            return refused
        q = request.arg("q", "") or ""
        if not q.strip():
            return google_error(
                400, "Missing query.", "queryRequired", "INVALID_ARGUMENT", location="q", locationType="parameter"
            )
        max_results = request.int_arg("maxResults", 10, low=0, high=40)
        start = request.int_arg("startIndex", 0, low=0)
        terms = parse_query(q, set(FIELDS))
        language = request.arg("langRestrict")
        ebooks_only = request.arg("filter") in ("ebooks", "free-ebooks", "paid-ebooks")
        hits: list[tuple[int, int, dict[str, Any]]] = []
        for position, item in enumerate(self.catalogue.google_search):
            score = match_score(item, terms, fields=FIELDS, free=FREE, weights=WEIGHTS)
            if score is None:
                continue
            if language and not str(item.extra.get("language") or "").startswith(language):
                continue
            if ebooks_only and not item.record.get("saleInfo", {}).get("isEbook"):
                continue
            hits.append((score + title_bonus(item, terms, (None, "intitle")), position, item.record))
        if request.arg("orderBy") == "newest":
            hits.sort(key=lambda h: h[2]["volumeInfo"].get("publishedDate", ""), reverse=True)
        else:
            hits.sort(key=lambda h: (-h[0], h[1]))
        body: dict[str, Any] = {"kind": "books#volumes", "totalItems": len(hits)}
        items = [_with_snippet(volume) for _, _, volume in page(hits, start, max_results)]
        if items:
            body["items"] = items
        return json_response(body, content_type=CONTENT_TYPE)

    def volume(self, request: Request, volume_id: str) -> Response:
        if (refused := self._key_refused(request)) is not None:
            return refused
        volume = self.catalogue.google_by_id.get(volume_id)
        if volume is None:
            return google_error(404, "The volume ID could not be found.", "notFound", "NOT_FOUND")
        return json_response(volume, content_type=CONTENT_TYPE)

    def not_found(self, request: Request) -> Response:
        return google_error(404, "Not Found", "notFound", "NOT_FOUND")

    def bad_request(self, request: Request, exc: BadRequest) -> Response:
        field = "max_results" if exc.name == "maxResults" else "start_index" if exc.name == "startIndex" else exc.name
        return google_error(
            400, f"Invalid value at '{field}' (TYPE_INT32), \"{exc.value}\"", "invalid", "INVALID_ARGUMENT"
        )

    def injected_error(self, status: int) -> Response:
        if status == 429:
            return google_error(
                429,
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service "
                "'books.googleapis.com' for consumer 'project_number:000000000000'.",
                "rateLimitExceeded",
                "RESOURCE_EXHAUSTED",
            )
        if status == 503:
            return google_error(503, "The service is currently unavailable.", "backendError", "UNAVAILABLE")
        if status >= 500:
            return google_error(status, "Backend Error", "backendError", "INTERNAL")
        return google_error(status, f"HTTP {status}", "failedPrecondition", "FAILED_PRECONDITION")


def _with_snippet(volume: dict[str, Any]) -> dict[str, Any]:
    description = volume.get("volumeInfo", {}).get("description")
    if not description:
        return volume
    snippet = description if len(description) <= 160 else description[:157].rsplit(" ", 1)[0] + "&nbsp;..."
    return {**volume, "searchInfo": {"textSnippet": html.escape(snippet, quote=True).replace("&amp;nbsp;", "&nbsp;")}}
