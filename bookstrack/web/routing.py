"""Route declarations: each route with its method, path, body family, types, rate-limit class and body
limit, in one table that both the server and the OpenAPI generator read.

Owns the wrapping every route shares, in the order API.md fixes: the rate-limit decision first (so a
malformed request on a protected route still counts), then the body-size limit (announced, already
buffered, or still streaming in), then the handler; any ``BookstrackError`` the handler raises is drawn
in the route's own family, and anything else becomes a 500 ``INTERNAL_ERROR`` without internals. Every
answer to an allowed request on a protected route, errors included, carries the rate-limit headers.
Protecting a route is one argument: ``rate_limit="default"``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import quart
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from bookstrack.errors import BookstrackError, InternalError, InvalidRequest, PayloadTooLarge
from bookstrack.web.envelope import Family, error_response

if TYPE_CHECKING:
    from bookstrack.app import BooksTrackApp

__all__ = ["RouteSpec", "RouteTable", "install", "ROUTE_SCOPE_KEY"]

log = logging.getLogger("bookstrack.web")

ROUTE_SCOPE_KEY = "bookstrack.route"  # the matched route's path template, for logs and metrics

Endpoint = Callable[..., Awaitable[quart.Response]]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route as declared. ``path`` uses Quart's ``<name>`` placeholders."""

    methods: tuple[str, ...]
    path: str
    endpoint: Endpoint
    family: Family
    summary: str = ""
    query: type | None = None
    request: type | None = None
    response: type | None = None
    rate_limit: str | None = None
    body_limit: int | None = None
    tags: tuple[str, ...] = ()
    responses: dict[int, str] = field(default_factory=dict)
    websocket: Endpoint | None = None  # set on WebSocket routes; ``endpoint`` then answers plain HTTP
    too_large: Callable[[int], BookstrackError] | None = None  # the route's own 413 (reference), given the limit

    @property
    def name(self) -> str:
        fn = self.websocket or self.endpoint
        return f"{fn.__module__}.{fn.__qualname__}"


class RouteTable:
    """The routes of one area, declared with ``@table.get(...)`` / ``@table.post(...)``."""

    def __init__(self, *, tags: Iterable[str] = ()) -> None:
        self.specs: list[RouteSpec] = []
        self._tags = tuple(tags)

    def route(
        self, methods: str | Iterable[str], path: str, *, family: Family, **options: Any
    ) -> Callable[[Endpoint], Endpoint]:
        method_tuple = (methods,) if isinstance(methods, str) else tuple(methods)

        def register(endpoint: Endpoint) -> Endpoint:
            options.setdefault("summary", (endpoint.__doc__ or "").strip().split("\n")[0])
            options.setdefault("tags", self._tags)
            self.specs.append(RouteSpec(method_tuple, path, endpoint, family, **options))
            return endpoint

        return register

    def get(self, path: str, *, family: Family, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("GET", path, family=family, **options)

    def post(self, path: str, *, family: Family, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("POST", path, family=family, **options)

    def websocket(
        self, path: str, *, plain: Endpoint | None = None, **options: Any
    ) -> Callable[[Endpoint], Endpoint]:
        """A WebSocket route. A plain HTTP GET on it (no upgrade) is answered by ``plain``, by default
        426 ``Expected Upgrade: websocket`` in text/plain (reference §4.2), never a framework page."""

        def register(handler: Endpoint) -> Endpoint:
            options.setdefault("summary", (handler.__doc__ or "").strip().split("\n")[0])
            options.setdefault("tags", self._tags)
            options.setdefault("responses", {101: "Switching Protocols", 426: "Not a WebSocket upgrade"})
            self.specs.append(
                RouteSpec(("GET",), path, plain or _upgrade_required, Family.TEXT, websocket=handler, **options)
            )
            return handler

        return register


async def _upgrade_required(**_: Any) -> quart.Response:
    return quart.Response("Expected Upgrade: websocket", status=426, content_type="text/plain; charset=utf-8")


def install(app: BooksTrackApp, tables: Iterable[RouteTable]) -> list[RouteSpec]:
    """Register every declared route on ``app`` behind the shared wrapper; returns the specs."""
    specs = [spec for table in tables for spec in table.specs]
    for spec in specs:
        app.add_url_rule(spec.path, endpoint=spec.name, view_func=_wrap(app, spec), methods=list(spec.methods))
        if spec.websocket is not None:
            app.add_websocket(spec.path, endpoint=f"{spec.name}.websocket", view_func=spec.websocket)
    app.route_specs.extend(specs)
    return specs


def _wrap(app: BooksTrackApp, spec: RouteSpec) -> Endpoint:
    services = app.services
    endpoint = spec.endpoint
    family = spec.family
    body_limit = spec.body_limit or services.config.server.max_body_bytes
    too_large = spec.too_large or PayloadTooLarge.for_limit

    async def view(**kwargs: Any) -> quart.Response:
        request = quart.request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
        request.scope[ROUTE_SCOPE_KEY] = spec.path
        decision = None
        try:
            if spec.rate_limit is not None:
                decision = await services.rate_limits.check(spec.rate_limit, request)
            length = request.content_length
            if length is not None and length > body_limit:
                raise too_large(body_limit)
            # Quart buffers the body as it arrives; this bounds it (chunked uploads have no length).
            # What arrived before this line (while the rate-limit check awaited, say) is checked here:
            # Quart only compares against the limit when more data comes.
            request.body._max_content_length = body_limit
            if len(request.body._data) > body_limit:
                raise too_large(body_limit)
            response = await endpoint(**kwargs)
        except BookstrackError as error:
            response = error_response(error, family, services.clock)
        except RequestEntityTooLarge:
            response = error_response(too_large(body_limit), family, services.clock)
        except BadRequest as exc:
            response = error_response(InvalidRequest(exc.description or "Bad request"), family, services.clock)
        except HTTPException:
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, spec.path)
            response = error_response(InternalError("Internal server error"), family, services.clock)
        if decision is not None:  # an allowed request on a protected route: every answer says so (API.md §5)
            response.headers.update(services.rate_limits.headers(decision))
        return response

    view.__name__ = spec.name
    return view
