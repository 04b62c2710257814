"""Route declarations: each route with its method, path, body family, types, rate-limit class and body
limit, in one table that both the server and the OpenAPI generator read.

Owns the wrapping every route shares, in the order API.md fixes: the rate-limit decision first (so a
malformed request on a protected route still counts), then the body-size limit, then the handler; any
``BookstrackError`` the handler raises is drawn in the route's own family, and anything else becomes a
500 ``INTERNAL_ERROR`` without internals. Protecting a route is one argument: ``rate_limit="default"``.
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

    @property
    def name(self) -> str:
        return f"{self.endpoint.__module__}.{self.endpoint.__qualname__}"


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


def install(app: BooksTrackApp, tables: Iterable[RouteTable]) -> list[RouteSpec]:
    """Register every declared route on ``app`` behind the shared wrapper; returns the specs."""
    specs = [spec for table in tables for spec in table.specs]
    for spec in specs:
        app.add_url_rule(spec.path, endpoint=spec.name, view_func=_wrap(app, spec), methods=list(spec.methods))
    app.route_specs.extend(specs)
    return specs


def _wrap(app: BooksTrackApp, spec: RouteSpec) -> Endpoint:
    services = app.services
    endpoint = spec.endpoint
    family = spec.family
    body_limit = spec.body_limit or services.config.server.max_body_bytes

    async def view(**kwargs: Any) -> quart.Response:
        request = quart.request
        request.scope[ROUTE_SCOPE_KEY] = spec.path
        try:
            decision = None
            if spec.rate_limit is not None:
                decision = await services.rate_limits.check(spec.rate_limit, request)
            length = request.content_length
            if length is not None and length > body_limit:
                raise PayloadTooLarge.for_limit(body_limit)
            # Quart buffers the body as it arrives; this bounds it (chunked uploads have no length).
            request.body._max_content_length = body_limit
            response = await endpoint(**kwargs)
            if decision is not None:
                response.headers.update(services.rate_limits.headers(decision))
            return response
        except BookstrackError as error:
            return error_response(error, family, services.clock)
        except RequestEntityTooLarge:
            return error_response(PayloadTooLarge.for_limit(body_limit), family, services.clock)
        except BadRequest as exc:
            return error_response(InvalidRequest(exc.description or "Bad request"), family, services.clock)
        except HTTPException:
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, spec.path)
            return error_response(InternalError("Internal server error"), family, services.clock)

    view.__name__ = spec.name
    return view
