"""Every error BooksTrack answers with, as exceptions that carry a stable code and an HTTP status.

The tree (whose fault it is decides the branch)::

    BookstrackError                 code, status, message (args[0]), details
    ├── ClientError                 the request is wrong; the client can fix it (4xx)
    │   ├── InvalidRequest          INVALID_REQUEST 400 (malformed JSON, wrong types)
    │   ├── InvalidIsbn             INVALID_ISBN 400 (not an ISBN-10/13, or a wrong check digit)
    │   ├── InvalidQuery            INVALID_QUERY 400 (a search's required query parameter is blank)
    │   ├── MissingParam            MISSING_PARAM 400 (legacy routes: a required parameter is absent)
    │   ├── InvalidParam            INVALID_PARAM 400 (legacy routes: a parameter out of range)
    │   ├── MethodNotAllowed        METHOD_NOT_ALLOWED 405 (only ``/search/advanced``)
    │   ├── NotFound                NOT_FOUND 404
    │   ├── PayloadTooLarge         PAYLOAD_TOO_LARGE 413 (middleware family)
    │   ├── EmptyBatch              EMPTY_BATCH 400 (a batch job with no items)
    │   ├── BatchTooLarge           BATCH_TOO_LARGE 400 (a batch job over its limit)
    │   ├── MissingParameter        MISSING_PARAMETER 400 (CSV import without a file)
    │   ├── FileTooLarge            FILE_TOO_LARGE 413 (a file inside the body over its limit)
    │   ├── AuthError               AUTH_ERROR 401 (a job's token missing, wrong or expired)
    │   ├── JobExists               JOB_EXISTS 409 (the job id belongs to a running job)
    │   ├── InvalidImageUrl         INVALID_IMAGE_URL 400 (image proxy: url missing or unparsable)
    │   ├── ImageRefused            IMAGE_REFUSED 403 (image proxy: scheme, host or address not allowed)
    │   └── RateLimited             RATE_LIMIT_EXCEEDED 429 (middleware family)
    ├── ServerError                 our fault (5xx), or an upstream's we could not hide
    │   ├── InternalError           INTERNAL_ERROR 500
    │   ├── ImageFetchFailed        IMAGE_FETCH_FAILED 502 (image proxy: the upstream's answer is unusable)
    │   └── ProviderError           PROVIDER_ERROR 503 (details: provider, reason; or providers)
    │       ├── ProviderTimeout     PROVIDER_TIMEOUT 504 (reason "timeout")
    │       └── ProviderUnavailable PROVIDER_ERROR 503 (reason "unconfigured": no API key)
    └── ConfigError                 bad configuration at start-up (never reaches a client)

How an error is drawn on the wire (which body family) is the web layer's job (``web/envelope.py``);
``family`` here only pins the two errors whose family never depends on the route. Later issues add
their classes here, each with a unique code listed in ``docs/errors.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

__all__ = [
    "BookstrackError",
    "ClientError",
    "ConfigError",
    "ImageFetchFailed",
    "ImageRefused",
    "InternalError",
    "InvalidImageUrl",
    "InvalidIsbn",
    "InvalidQuery",
    "InvalidParam",
    "InvalidRequest",
    "MethodNotAllowed",
    "MissingParam",
    "NotFound",
    "PayloadTooLarge",
    "ProviderError",
    "ProviderReason",
    "ProviderTimeout",
    "ProviderUnavailable",
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


class InvalidIsbn(ClientError):
    """The text is not an ISBN-10 or ISBN-13, or its check digit is wrong (``books/isbn.py``)."""

    code = "INVALID_ISBN"
    status = 400


class InvalidQuery(ClientError):
    """A search route's required query parameter is missing or blank (reference §3.1)."""

    code = "INVALID_QUERY"
    status = 400


class MissingParam(ClientError):
    """A legacy route's required parameter is absent (reference §3.9–3.10; legacy family)."""

    code = "MISSING_PARAM"
    status = 400


class InvalidParam(ClientError):
    """A legacy route's parameter is out of range (reference §3.9.3)."""

    code = "INVALID_PARAM"
    status = 400


class MethodNotAllowed(ClientError):
    """The one 405 we answer: ``/search/advanced`` with a method other than GET or POST (reference §3.9.4)."""

    code = "METHOD_NOT_ALLOWED"
    status = 405


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


class EmptyBatch(ClientError):
    """A batch job was asked for with no items (reference §3.3.1)."""

    code = "EMPTY_BATCH"


class BatchTooLarge(ClientError):
    """A batch job was asked for with more items than allowed (reference §3.3.1)."""

    code = "BATCH_TOO_LARGE"


class MissingParameter(ClientError):
    """The CSV import's multipart body has no ``file`` field (reference §3.5)."""

    code = "MISSING_PARAMETER"


class FileTooLarge(ClientError):
    """An uploaded file inside a body is over its limit (reference §3.4.2, §3.5), in the route's family."""

    code = "FILE_TOO_LARGE"
    status = 413


class AuthError(ClientError):
    """A job's token is missing, wrong or expired (reference §3.7–3.8, §4.2)."""

    code = "AUTH_ERROR"
    status = 401


class JobExists(ClientError):
    """A job with this id is still queued or running (API.md §8)."""

    code = "JOB_EXISTS"
    status = 409


class InvalidImageUrl(ClientError):
    """``GET /images/proxy``: ``url`` is missing (``Missing url parameter``) or unparsable (``Invalid URL``)."""

    code = "INVALID_IMAGE_URL"
    status = 400


class ImageRefused(ClientError):
    """``GET /images/proxy``: the URL (or a redirect's target) has a scheme, host or address the proxy must
    not fetch (reference §3.14 ``Domain not allowed``; API.md §6)."""

    code = "IMAGE_REFUSED"
    status = 403


class RateLimited(ClientError):
    code = "RATE_LIMIT_EXCEEDED"
    status = 429
    family = "middleware"


class ServerError(BookstrackError):
    status = 500


class InternalError(ServerError):
    code = "INTERNAL_ERROR"
    status = 500


class ImageFetchFailed(ServerError):
    """``GET /images/proxy``: the upstream failed or answered something unusable (an error status, no image,
    too large, too many redirects, too slow). The message starts with what the reference says where it
    says anything (``Failed to fetch image``)."""

    code = "IMAGE_FETCH_FAILED"
    status = 502


# Why a provider call failed (``details.reason``). "budget" is our own refusal: no request slot within the
# call's wait (API.md §5); "rate_limited" is the upstream's 429; "rejected" is any other 4xx (a bad or
# exhausted key: Google reports a spent quota as 400/403); "unreachable" is a connection that failed.
ProviderReason = Literal[
    "timeout", "http_5xx", "rate_limited", "budget", "bad_response", "unreachable", "rejected", "unconfigured"
]


class ProviderError(ServerError):
    """An upstream provider failed after our retries, or was not asked (no budget, no key).

    Raised by ``bookstrack/providers`` (``provider`` and ``reason`` set: ``details`` is
    ``{"provider", "reason", ...}``); a route whose every provider failed raises it with
    ``details={"providers": {...}}`` instead. Never a "not found": callers must not cache it as one.
    """

    code = "PROVIDER_ERROR"
    status = 503

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        reason: ProviderReason | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if provider is not None or reason is not None:
            extra = details if isinstance(details, dict) else {}
            details = {"provider": provider, "reason": reason, **extra}
        super().__init__(message, details=details, headers=headers)
        self.provider = provider
        self.reason = reason


class ProviderTimeout(ProviderError):
    """The provider did not answer within its timeout (on the last attempt)."""

    code = "PROVIDER_TIMEOUT"
    status = 504


class ProviderUnavailable(ProviderError):
    """The provider cannot be called at all: its API key is not configured. Callers skip it."""


class ConfigError(BookstrackError):
    """Raised at start-up; the message names the key to change."""

    code = "CONFIG_ERROR"
    status = 500
