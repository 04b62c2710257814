"""The admin gate (API.md §6, §8): admin routes need ``Authorization: Bearer <admin token>``.

Owns the one rule every admin route shares: with no ``BOOKSTRACK_ADMIN_TOKEN`` configured the admin routes
do not exist (404, as any unknown path); with one, a missing or wrong token is 401 ``AUTH_ERROR``. Tokens
are compared in constant time. There is no built-in default secret. Routes call ``require_admin()`` first.
"""

from __future__ import annotations

import hmac

import quart

from bookstrack.errors import AuthError, NotFound
from bookstrack.web.current import services

__all__ = ["require_admin", "admin_token_of", "NOT_FOUND_MESSAGE"]

NOT_FOUND_MESSAGE = "The requested endpoint does not exist. Use /health to see available endpoints."


def admin_token_of(request: quart.Request | quart.Websocket, *, extra_header: str | None = None) -> str:
    """The token a request presents: ``Authorization: Bearer …``, or ``extra_header`` (``X-Harvest-Secret``)."""
    header = request.headers.get("Authorization", "").strip()
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if extra_header is not None:
        return request.headers.get(extra_header, "").strip()
    return ""


def require_admin(*, extra_header: str | None = None) -> None:
    """Raise unless the current request carries the configured admin token."""
    configured = services().config.secrets.admin_token
    if not configured:
        raise NotFound(NOT_FOUND_MESSAGE)  # admin routes are off without a token
    presented = admin_token_of(quart.request, extra_header=extra_header)
    if not presented or not hmac.compare_digest(presented.encode(), configured.encode()):
        raise AuthError("Invalid or missing admin token")
