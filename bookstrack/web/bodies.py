"""Reading request bodies into typed values: JSON into msgspec Structs, with errors a client can act on.

Owns the rule that a malformed or mistyped body is a 400 ``INVALID_REQUEST`` (never a 500), with
msgspec's own description of what was wrong and where (``Expected `str`, got `int` - at `$.jobId```).
The size limit is enforced before this runs (routing), and again by Quart while the body streams in.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import quart

from bookstrack.errors import InvalidRequest

__all__ = ["read_body", "read_json", "decode_json"]

T = TypeVar("T")


async def read_body() -> bytes:
    """The whole request body (bounded by the route's limit)."""
    return await quart.request.get_data(cache=True, as_text=False, parse_form_data=False)


def decode_json(data: bytes, type: type[T] = Any) -> T:  # type: ignore[assignment]
    """Decode ``data`` as JSON into ``type``; raises ``InvalidRequest`` with the reason."""
    if not data.strip():
        raise InvalidRequest("Request body is empty; expected a JSON object")
    try:
        return msgspec.json.decode(data, type=type)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Invalid JSON in request body: {exc}") from None


async def read_json(type: type[T] = Any) -> T:  # type: ignore[assignment]
    return decode_json(await read_body(), type)
