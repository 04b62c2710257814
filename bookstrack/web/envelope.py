"""The response body families (reference §2) and the only place that writes their JSON.

Families: ``envelope`` (A, ``{data, metadata, error?}``), ``legacy`` (B, ``{success:false, error}`` with
``X-Error-Type``), ``raw`` (C, a handler's own object; its errors use B), ``middleware`` (D,
``{error, code, details}``: 429 and 413) and ``text`` (E, plain text). Every JSON body is compact
msgspec output. Routes build successes with ``envelope``/``raw``; errors are drawn from a
``BookstrackError`` by ``error_response`` with the family of the route that raised it.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec
from quart import Response

from actors.clock import Clock
from bookstrack.errors import BookstrackError

__all__ = ["Family", "encode", "json_response", "envelope", "raw", "error_response", "error_body"]

_encoder = msgspec.json.Encoder()
encode = _encoder.encode

JSON = "application/json"


class Family(enum.Enum):
    ENVELOPE = "envelope"
    LEGACY = "legacy"
    RAW = "raw"
    MIDDLEWARE = "middleware"
    TEXT = "text"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response of anything msgspec encodes (bytes pass through as-is)."""
    data = body if isinstance(body, bytes) else _encoder.encode(body)
    return Response(data, status=status, headers=headers, content_type=JSON)


class Metadata(msgspec.Struct, omit_defaults=True):
    timestamp: str
    processingTime: int | None = None  # noqa: N815 - wire name
    provider: str | None = None
    cached: bool | None = None


class _Envelope(msgspec.Struct, omit_defaults=True):
    data: Any
    metadata: Metadata


class _ErrorDetail(msgspec.Struct, omit_defaults=True):
    message: str
    code: str
    details: Any = None


class _EnvelopeError(msgspec.Struct):
    data: None
    metadata: Metadata
    error: _ErrorDetail


def envelope(
    data: Any,
    *,
    clock: Clock,
    status: int = 200,
    processing_ms: int | None = None,
    provider: str | None = None,
    cached: bool | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Family A success: ``{data, metadata}`` (no ``error`` key)."""
    meta = Metadata(clock.iso(), processing_ms, provider, cached)
    return json_response(_Envelope(data, meta), status, headers)


def raw(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Family C: the handler's own object, unwrapped."""
    return json_response(body, status, headers)


def error_body(error: BookstrackError, family: Family, clock: Clock) -> tuple[bytes | str, dict[str, str]]:
    """The body and extra headers of ``error`` drawn in ``family``."""
    fam = Family(error.family) if error.family else family
    headers = dict(error.headers)
    if fam is Family.ENVELOPE:
        body: Any = _EnvelopeError(None, Metadata(clock.iso()), _ErrorDetail(error.message, error.code, error.details))
    elif fam is Family.MIDDLEWARE:
        body = {"error": error.message, "code": error.code, "details": error.details or {}}
    elif fam is Family.TEXT:
        return error.message, headers
    else:  # LEGACY, and RAW routes, whose errors are legacy-shaped
        body = {"success": False, "error": {"code": error.code, "message": error.message}}
        headers["X-Error-Type"] = error.code
    return _encoder.encode(body), headers


def error_response(error: BookstrackError, family: Family, clock: Clock) -> Response:
    body, headers = error_body(error, family, clock)
    if isinstance(body, str):
        return Response(body, status=error.status, headers=headers, content_type="text/plain; charset=utf-8")
    return json_response(body, error.status, headers)
