"""The one shared ``httpx.AsyncClient`` of every provider, and the boundary where httpx's exceptions and
statuses become ours.

Owns building the client (identifying ``User-Agent`` from ``[providers] user_agent``, ``Accept: application/
json``, pooled connections (``pool.py``: one-connection pools behind the one client), an injectable
transport: tests pass ``httpx.MockTransport`` or point the base URLs at the fake upstream) and the
translation of everything httpx can raise into ``ProviderError`` / ``ProviderTimeout``
(``translate_errors``), of an unwanted status into a ``ProviderError`` (``status_error``) and of a body
into JSON (``decode_json``). This module and ``upstream.py`` are the only places that catch an httpx
exception: nothing above ``providers/`` sees an httpx type (aesthetics habit 5).

Timeouts are per request (each provider has its own, and the last attempt of a call gets what is left of
its deadline), so the client's own default is only a backstop. Redirects are not followed here: the
caller follows them so that every hop spends a slot of the provider's budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import msgspec

from bookstrack.config import ProvidersConfig
from bookstrack.errors import ProviderError, ProviderTimeout
from bookstrack.providers.pool import ShardedTransport

__all__ = ["build_client", "translate_errors", "status_error", "decode_json", "describe"]

# Per origin, each connection in a pool of its own (pool.py). An ISBN batch sends up to 102 requests at once
# (100 Google Books, one Open Library, one ISBNdb); where providers share an origin (a gateway, the fake
# upstream) a limit of 100 queued Open Library's and ISBNdb's calls behind Google's, on the critical path.
MAX_CONNECTIONS = 128


def build_client(
    config: ProvidersConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The process's one client for every provider. Close it with ``aclose()`` (or ``async with``)."""
    return httpx.AsyncClient(
        headers={"User-Agent": config.user_agent, "Accept": "application/json"},
        transport=transport or ShardedTransport(connections=MAX_CONNECTIONS),
        timeout=httpx.Timeout(60.0),
        follow_redirects=False,
    )


def describe(request: httpx.Request) -> str:
    """``GET /books/v1/volumes``: method and path, never the query (it may carry an API key)."""
    return f"{request.method} {request.url.path}"


@contextmanager
def translate_errors(provider: str, what: str) -> Iterator[None]:
    """Turn any httpx exception raised inside into our ``ProviderError`` family (``raise … from``)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(
            f"{provider} did not answer {what} in time", provider=provider, reason="timeout"
        ) from exc
    except httpx.TransportError as exc:  # connect, read/write, protocol, proxy, unsupported scheme
        raise ProviderError(
            f"{provider} could not be reached for {what} ({type(exc).__name__})", provider=provider,
            reason="unreachable",
        ) from exc
    except (httpx.DecodingError, httpx.TooManyRedirects) as exc:
        raise ProviderError(
            f"{provider} sent an unreadable answer to {what} ({type(exc).__name__})", provider=provider,
            reason="bad_response",
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        # Anything else httpx may raise (a malformed base URL in the config, a stream misuse) is still a
        # failure of this provider's call, never an httpx type escaping the boundary.
        raise ProviderError(
            f"{provider} request {what} failed ({type(exc).__name__}: {exc})", provider=provider,
            reason="unreachable",
        ) from exc


def status_error(provider: str, response: httpx.Response, what: str) -> ProviderError:
    """The error for a response we cannot use: 429 → "rate_limited", 5xx → "http_5xx", else "rejected"."""
    status = response.status_code
    if status == 429:
        reason = "rate_limited"
    elif status >= 500:
        reason = "http_5xx"
    else:
        reason = "rejected"
    return ProviderError(
        f"{provider} answered {what} with HTTP {status}", provider=provider, reason=reason,
        details={"status": status},
    )


def decode_json(provider: str, response: httpx.Response, what: str) -> Any:
    """The body as JSON (any shape: normalizers extract defensively), or a "bad_response" error."""
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError as exc:
        raise ProviderError(
            f"{provider} answered {what} with a body that is not JSON", provider=provider, reason="bad_response",
            details={"status": response.status_code},
        ) from exc
