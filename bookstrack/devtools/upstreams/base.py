"""Request, response and routing shared by the fake providers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import msgspec

from bookstrack.devtools.catalogue import Searchable
from bookstrack.devtools.text import Term, contains

__all__ = [
    "BadRequest",
    "Handler",
    "Request",
    "Response",
    "Route",
    "Upstream",
    "json_response",
    "match_score",
    "page",
    "route",
    "text_response",
    "title_bonus",
]

_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class Request:
    method: str
    path: str  # after the provider's prefix, percent-decoded: "/books/v1/volumes"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(name, raw) from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise BadRequest(name, raw)
        return value


class BadRequest(Exception):
    """A query argument the provider would refuse; each provider words the answer its own way."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(f"invalid value for {name}: {value!r}")
        self.name = name
        self.value = value


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(
    obj: Any, status: int = 200, *, content_type: str = "application/json", headers: Iterable[tuple[str, str]] = ()
) -> Response:
    return Response(status, _encode(obj), content_type, list(headers))


def text_response(text: str, status: int, *, content_type: str = "text/html; charset=utf-8") -> Response:
    return Response(status, text.encode(), content_type)


Handler = Callable[[], Response]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str  # counted under this name: "GET /books/v1/volumes"
    handler: str  # method name on the Upstream


def route(method: str, pattern: str, handler: str, name: str | None = None) -> Route:
    shown = name or re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).replace("\\", "")
    return Route(method, re.compile(pattern), f"{method} {shown}", handler)


class Upstream:
    """One fake provider: a prefix, a route table and the catalogue."""

    name: ClassVar[str]  # config name: "google_books"
    prefix: ClassVar[str]  # URL prefix: "/google"
    routes: ClassVar[list[Route]]

    def resolve(self, request: Request) -> tuple[str, Handler]:
        """The route name to count the request under and a handler that answers it."""
        for candidate in self.routes:
            match = candidate.pattern.fullmatch(request.path)
            if match is not None and request.method in (candidate.method, "HEAD" if candidate.method == "GET" else ""):
                return candidate.name, partial(self._call, getattr(self, candidate.handler), request, match.groupdict())
        return f"{request.method} (unknown)", partial(self.not_found, request)

    def _call(self, handler: Callable[..., Response], request: Request, params: dict[str, str]) -> Response:
        try:
            return handler(request, **params)
        except BadRequest as exc:
            return self.bad_request(request, exc)

    def not_found(self, request: Request) -> Response:
        return json_response({"error": "not found"}, 404)

    def bad_request(self, request: Request, exc: BadRequest) -> Response:
        return json_response({"error": str(exc)}, 400)

    def injected_error(self, status: int) -> Response:
        """The body this provider sends with ``status`` (500, 503, 429…); headers are added by the caller."""
        return json_response({"error": f"HTTP {status}"}, status)


def page(items: list[Any], start: int, size: int) -> list[Any]:
    return items[start : start + size] if size > 0 else []


def match_score(
    item: Searchable,
    terms: list[Term],
    *,
    fields: dict[str, str],
    free: tuple[str, ...],
    weights: dict[str, int],
    literal_isbn: bool = True,
) -> int | None:
    """How well ``item`` matches every term (``None``: it does not). A field term must match its field
    (``fields`` maps the query's name to the item's field, ``"isbn"`` meaning the item's ISBN set); a
    free term must match one of ``free``. Heavier fields (``weights``) rank higher."""
    score = 0
    for term in terms:
        target = fields.get(term.field) if term.field else None
        if target == "isbn":
            if not _isbn_match(item, term, literal_isbn):
                return None
            score += 5
            continue
        folded = term.folded
        if not folded:
            continue
        if target is not None:
            if not contains(item.fields.get(target, ""), folded):
                return None
            score += weights.get(target, 1)
            continue
        everything = item.fields.get("*")
        if everything is not None and not contains(everything, folded) and not term.isbns & item.isbns:
            return None  # quick rejection: in none of the fields
        best = 0
        for name in free:
            if name == "isbn":
                if _isbn_match(item, term, literal_isbn):
                    best = max(best, 5)
            elif contains(item.fields.get(name, ""), folded):
                best = max(best, weights.get(name, 1))
        if best == 0:
            return None
        score += best
    return score


def _isbn_match(item: Searchable, term: Term, literal: bool) -> bool:
    if literal:
        return term.isbn in item.isbns
    return not term.isbns.isdisjoint(item.isbns)


def title_bonus(item: Searchable, terms: list[Term], title_fields: tuple[str | None, ...]) -> int:
    """A bonus for an item whose whole title is what the title (and free) terms spell."""
    wanted = " ".join(t.folded for t in terms if t.field in title_fields)
    title = item.extra.get("title")
    if not wanted or not title:
        return 0
    return 10 if title == wanted else 4 if title.startswith(wanted) else 0
