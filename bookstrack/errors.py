"""Every error BooksTrack answers with, as exceptions that carry a stable code and an HTTP status.

The tree (whose fault it is decides the branch)::

    BookstrackError                 code, status, message (args[0]), details
    ├── ClientError                 the request is wrong; the client can fix it (4xx)
    │   ├── InvalidRequest          INVALID_REQUEST 400 (malformed JSON, wrong types)
    │   ├── NotFound                NOT_FOUND 404
    │   ├── PayloadTooLarge         PAYLOAD_TOO_LARGE 413 (middleware family)
    │   └── RateLimited             RATE_LIMIT_EXCEEDED 429 (middleware family)
    ├── ServerError                 our fault (5xx)
    │   └── InternalError           INTERNAL_ERROR 500
    └── ConfigError                 bad configuration at start-up (never reaches a client)

How an error is drawn on the wire (which body family) is the web layer's job (``web/envelope.py``);
``family`` here only pins the two errors whose family never depends on the route. Later issues add
their classes here, each with a unique code listed in ``docs/errors.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BookstrackError",
    "ClientError",
    "ConfigError",
    "InternalError",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
]


class BookstrackError(Exception):
    """Base of every BooksTrack error: ``code`` for machines, ``args[0]`` for people."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    family: ClassVar[str | None] = None  # None: the route's own body family

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.details = details
        self.headers = headers or {}

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ClientError(BookstrackError):
    status = 400


class InvalidRequest(ClientError):
    code = "INVALID_REQUEST"
    status = 400


class NotFound(ClientError):
    code = "NOT_FOUND"
    status = 404


class PayloadTooLarge(ClientError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    family = "middleware"

    @classmethod
    def for_limit(cls, limit: int) -> PayloadTooLarge:
        return cls(f"Request body too large. Maximum {limit} bytes allowed.", details={"limit": limit})


class RateLimited(ClientError):
    code = "RATE_LIMIT_EXCEEDED"
    status = 429
    family = "middleware"


class ServerError(BookstrackError):
    status = 500


class InternalError(ServerError):
    code = "INTERNAL_ERROR"
    status = 500


class ConfigError(BookstrackError):
    """Raised at start-up; the message names the key to change."""

    code = "CONFIG_ERROR"
    status = 500
