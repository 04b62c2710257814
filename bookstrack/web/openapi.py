"""``GET /openapi.json`` (OpenAPI 3.1, generated from the route declarations) and ``GET /docs`` (its page).

Owns the translation of ``RouteSpec``s into an OpenAPI document: one operation per declared method, path
placeholders as path parameters, the ``query`` Struct's fields as query parameters, ``request`` as the JSON
body, ``response`` as the success body (wrapped in ``{data, metadata}`` on envelope routes), and every
status in ``responses`` with the error shape of the route's body family (reference §2) as a shared
component. WebSocket routes are described as the GET that upgrades (101), marked ``x-websocket``. Admin
routes (tagged ``admin``, or declaring a 404 for "no admin token") carry the admin security schemes (bearer
token; under ``/admin/`` also the dashboard's session cookie).
Schemas come from ``msgspec.json.schema_components`` (JSON Schema 2020-12, which OpenAPI 3.1 uses as-is).

The document is built once per app, on first request, from ``app.route_specs``: nothing is declared twice,
so a new route is documented by being declared. ``/docs`` is a self-contained page (inline CSS and JS, no
external assets) that fetches ``/openapi.json`` and renders it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec
import quart

from bookstrack import __version__
from bookstrack.web.envelope import Family
from bookstrack.web.routing import RouteSpec, RouteTable
from bookstrack.web.templates import docs_page

__all__ = ["routes", "build_document", "openapi_path", "is_admin"]

routes = RouteTable(tags=["operations"])

REF = "#/components/schemas/{name}"
_PLACEHOLDER = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>")
_MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+")
_CACHE_KEY = "bookstrack.openapi"

# The error shape of each body family (reference §2), as components.
ERROR_COMPONENTS: dict[str, dict[str, Any]] = {
    "LegacyError": {
        "type": "object",
        "description": "Family B (also the errors of family C routes); the code is repeated in X-Error-Type.",
        "required": ["success", "error"],
        "properties": {
            "success": {"const": False},
            "error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "Metadata": {
        "type": "object",
        "required": ["timestamp"],
        "properties": {
            "timestamp": {"type": "string", "format": "date-time"},
            "processingTime": {"type": "integer", "description": "milliseconds"},
            "provider": {"type": "string"},
            "cached": {"type": "boolean"},
        },
    },
    "EnvelopeError": {
        "type": "object",
        "description": "Family A error: data is null and the error key is present.",
        "required": ["data", "metadata", "error"],
        "properties": {
            "data": {"type": "null"},
            "metadata": {"$ref": REF.format(name="Metadata")},
            "error": {
                "type": "object", "required": ["message", "code"],
                "properties": {"message": {"type": "string"}, "code": {"type": "string"}, "details": {}},
            },
        },
    },
    "MiddlewareError": {
        "type": "object",
        "description": "Family D: 429 (rate limit) and 413 (payload too large).",
        "required": ["error", "code", "details"],
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}, "details": {"type": "object"}},
    },
}

SECURITY_SCHEMES = {
    "adminBearer": {
        "type": "http", "scheme": "bearer",
        "description": "The admin token (BOOKSTRACK_ADMIN_TOKEN). Admin routes answer 404 when none is configured.",
    },
    "adminSession": {
        "type": "apiKey", "in": "cookie", "name": "bookstrack_admin",
        "description": "Set by POST /admin/login (the dashboard's login form): an HMAC of the admin token.",
    },
}


def openapi_path(path: str) -> tuple[str, list[tuple[str, str]]]:
    """Quart's ``/a/<int:id>`` as OpenAPI's ``/a/{id}``, and the placeholders (name, converter)."""
    found = [(m["name"], m["conv"] or "string") for m in _PLACEHOLDER.finditer(path)]
    return _PLACEHOLDER.sub(lambda m: "{" + m["name"] + "}", path), found


_CODE_ONLY = re.compile(r"^[A-Z][A-Z_]+$")


def is_admin(spec: RouteSpec) -> bool:
    """An admin route: tagged ``admin``, or declared as answering 404 when no admin token is configured."""
    return "admin" in spec.tags or "admin token" in spec.responses.get(404, "").lower()


def _error_schema(family: Family, status: int, description: str) -> tuple[str, dict[str, Any]]:
    if status in (413, 429):
        return "application/json", {"$ref": REF.format(name="MiddlewareError")}
    if family is Family.ENVELOPE:
        return "application/json", {"$ref": REF.format(name="EnvelopeError")}
    if family is Family.TEXT and not _CODE_ONLY.match(description):  # a bare code: a legacy JSON error
        return "text/plain", {"type": "string"}
    return "application/json", {"$ref": REF.format(name="LegacyError")}


def _success_content(spec: RouteSpec, description: str, refs: dict[type, dict[str, Any]]) -> dict[str, Any] | None:
    if spec.response is not None:
        schema = refs[spec.response]
        if spec.family is Family.ENVELOPE:
            schema = {
                "type": "object", "required": ["data", "metadata"],
                "properties": {"data": schema, "metadata": {"$ref": REF.format(name="Metadata")}},
            }
        return {"application/json": {"schema": schema}}
    media = _MEDIA_TYPE.match(description)
    if media:
        return {media.group(0): {"schema": {"type": "string"}}}
    if spec.family is Family.TEXT:
        return {"text/plain": {"schema": {"type": "string"}}}
    return None


def _query_parameters(query: type | None, refs: dict[type, dict[str, Any]],
                      components: dict[str, Any]) -> list[dict[str, Any]]:
    if query is None:
        return []
    ref = refs[query].get("$ref", "")
    schema = components.get(ref.rsplit("/", 1)[-1]) or refs[query]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(spec: RouteSpec, method: str, path: str, refs: dict[type, dict[str, Any]],
               components: dict[str, Any]) -> dict[str, Any]:
    _, placeholders = openapi_path(spec.path)
    parameters = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer"} if conv == "int" else {"type": "string"}}
        for name, conv in placeholders
    ] + _query_parameters(spec.query, refs, components)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{slug}",
        "summary": spec.summary or f"{method} {path}",
        "tags": list(spec.tags) or ["default"],
        "x-body-family": spec.family.value,
    }
    if spec.websocket is not None:
        operation["x-websocket"] = True
        operation["description"] = (
            "WebSocket endpoint: a GET with `Upgrade: websocket` is switched to the WebSocket protocol (101); "
            "a plain GET is answered without upgrading."
        )
    if parameters:
        operation["parameters"] = parameters
    if spec.request is not None and method in ("POST", "PUT", "PATCH", "DELETE"):
        media = getattr(spec.request, "media_type", None)  # a ClassVar on a form's Struct
        media = media if isinstance(media, str) else "application/json"
        operation["requestBody"] = {"required": True, "content": {media: {"schema": refs[spec.request]}}}
    declared = dict(spec.responses)
    successes = sorted(s for s in declared if s < 400) or [101 if spec.websocket is not None else 200]
    responses: dict[str, Any] = {}
    for status in successes:
        description = declared.get(status) or ("Switching Protocols" if status == 101 else "Success")
        answer: dict[str, Any] = {"description": description}
        content = _success_content(spec, description, refs) if status not in (101, 204) else None
        if content:
            answer["content"] = content
        responses[str(status)] = answer
    errors = {s: d for s, d in declared.items() if s >= 400}
    if spec.rate_limit is not None:
        errors.setdefault(429, "RATE_LIMIT_EXCEEDED")
    if spec.request is not None or spec.body_limit is not None:
        errors.setdefault(413, "PAYLOAD_TOO_LARGE")
    if spec.websocket is None:
        errors.setdefault(500, "INTERNAL_ERROR")
    for status in sorted(errors):
        media, schema = _error_schema(spec.family, status, errors[status])
        responses[str(status)] = {"description": errors[status] or "Error", "content": {media: {"schema": schema}}}
    operation["responses"] = responses
    if is_admin(spec):  # the session cookie is scoped to /admin (the dashboard's routes)
        admin = [{"adminBearer": []}]
        operation["security"] = admin + [{"adminSession": []}] if path.startswith("/admin/") else admin
    return operation


def _schemas(types: list[Any]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """Each type's schema (a ``$ref`` for Structs) and the shared components. A type msgspec cannot
    describe is documented as any JSON rather than failing the whole document."""
    usable = []
    for t in types:
        try:
            msgspec.json.schema(t)
            usable.append(t)
        except (TypeError, ValueError):
            pass
    schemas, components = msgspec.json.schema_components(usable, ref_template=REF)
    refs: dict[Any, dict[str, Any]] = {t: {} for t in types}
    refs.update(zip(usable, schemas, strict=True))
    return refs, components


def build_document(specs: Iterable[RouteSpec]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``specs``."""
    specs = list(specs)
    types = sorted(
        {t for spec in specs for t in (spec.query, spec.request, spec.response) if t is not None},
        key=repr,
    )
    refs, components = _schemas(types)
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for spec in specs:
        path, _ = openapi_path(spec.path)
        item = paths.setdefault(path, {})
        for method in spec.methods:
            if method.lower() in item:  # one operation per (path, method): the first declaration
                continue
            item[method.lower()] = _operation(spec, method, path, refs, components)
        tags.update(dict.fromkeys(spec.tags or ("default",)))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "BooksTrack",
            "version": __version__,
            "description": "Book-metadata server: search, canonical records, long jobs with live progress. "
                           "Generated from the route declarations.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name} for name in tags],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {**components, **ERROR_COMPONENTS},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


@routes.get("/openapi.json", family=Family.RAW, responses={200: "The OpenAPI 3.1 document"})
async def openapi_json() -> quart.Response:
    """The OpenAPI 3.1 document of every route."""
    app = quart.current_app
    body = app.extensions.get(_CACHE_KEY)
    if body is None:
        body = app.extensions[_CACHE_KEY] = msgspec.json.encode(build_document(app.route_specs))  # type: ignore[attr-defined]
    return quart.Response(body, content_type="application/json")


@routes.get("/docs", family=Family.TEXT, responses={200: "text/html: the API reference page"})
async def docs() -> quart.Response:
    """The API reference, rendered from /openapi.json without external assets."""
    return quart.Response(docs_page(), content_type="text/html; charset=utf-8",
                          headers={"X-Content-Type-Options": "nosniff"})
