"""``GET /admin/harvest-dashboard``: the operations page (admin), its data route, and its sign-in.

Owns the dashboard's admin gate for browsers. A browser cannot add ``Authorization`` to a navigation, so
besides the bearer token (API.md §8, for scripts) the dashboard routes accept a session cookie: the login
form posts the token to ``POST /admin/login``, which compares it in constant time and sets
``bookstrack_admin=<issued>.<HMAC-SHA256(admin token, issued)>`` (HttpOnly, SameSite=Strict, Path=/admin,
Secure over https, 12 h). The cookie holds no secret: it proves that whoever got it knew the token at
``issued``, and it stops working when the token changes or the 12 h pass. ``POST /admin/logout`` clears it.
The token never travels in a URL (no ``?token=``: URLs end up in logs and histories).

As every admin route: 404 when no admin token is configured; a wrong bearer token is 401 ``AUTH_ERROR``;
a browser without a session gets the sign-in form (401, HTML). The page is inline HTML/CSS/JS (see
``templates``), renders the data route's JSON and fetches it again every ``REFRESH_SECONDS``. Figures
come from the same ``collect_report`` as ``/metrics?format=json``; the scheduler, alerts and harvest
sections show what ``services.scheduler`` exposes when there is one, and say so when there is none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import logging
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import quart

from bookstrack.errors import AuthError, NotFound
from bookstrack.pipelines.runner import JobSummary
from bookstrack.web.admin import NOT_FOUND_MESSAGE, admin_token_of, require_admin
from bookstrack.web.current import services
from bookstrack.web.envelope import Family, raw
from bookstrack.web.metrics import OpsReport, collect_report
from bookstrack.web.routing import RouteTable
from bookstrack.web.templates import DASHBOARD_SCRIPT, dashboard_page, login_page

if TYPE_CHECKING:
    from bookstrack.app import Services

__all__ = ["routes", "DashboardData", "session_cookie", "COOKIE", "REFRESH_SECONDS"]

log = logging.getLogger("bookstrack.web")

routes = RouteTable(tags=["admin"])

COOKIE = "bookstrack_admin"
COOKIE_PATH = "/admin"
SESSION_SECONDS = 12 * 3600
REFRESH_SECONDS = 10
DASHBOARD = "/admin/harvest-dashboard"
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(DASHBOARD_SCRIPT.encode()).digest()).decode()
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class DashboardData(msgspec.Struct):
    """What the dashboard renders (``GET /admin/harvest-dashboard/data``)."""

    report: OpsReport
    database: str
    cache: dict[str, Any] | None
    jobs: list[JobSummary]
    queuesAvailable: bool  # noqa: N815 - wire names
    scheduler: Any
    alerts: Any
    harvest: Any
    refreshSeconds: int  # noqa: N815


class LoginForm(msgspec.Struct):
    """``POST /admin/login`` (application/x-www-form-urlencoded)."""

    media_type: ClassVar[str] = "application/x-www-form-urlencoded"

    token: str
    next: str = DASHBOARD


# -- the session --------------------------------------------------------------------------------------


def _signature(token: str, issued: int) -> str:
    return hmac.new(token.encode(), f"bookstrack-admin-session:{issued}".encode(), hashlib.sha256).hexdigest()


def session_cookie(token: str, issued: int) -> str:
    """The cookie value for a session started at ``issued`` (epoch seconds)."""
    return f"{issued}.{_signature(token, issued)}"


def _session_ok(value: str, token: str, now: float) -> bool:
    issued_text, _, signature = value.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    if not (issued <= now + 60 and now - issued < SESSION_SECONDS):
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, issued).encode())


def _configured_token() -> str:
    token = services().config.secrets.admin_token
    if not token:
        raise NotFound(NOT_FOUND_MESSAGE)  # admin routes are off without a token
    return token


def authorized() -> bool:
    """True for the admin (bearer token or session cookie); ``AuthError`` for a wrong bearer token; False
    when the request presents nothing valid; ``NotFound`` when no admin token is configured."""
    token = _configured_token()
    if admin_token_of(quart.request):
        require_admin()  # a presented bearer token must be right: 401 otherwise
        return True
    cookie = quart.request.cookies.get(COOKIE, "")
    return bool(cookie) and _session_ok(cookie, token, services().clock.wall())


def _html(body: str, status: int = 200) -> quart.Response:
    return quart.Response(body, status=status, content_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def _safe_next(path: str) -> str:
    return path if path.startswith("/admin/") and not path.startswith("//") and "\\" not in path else DASHBOARD


# -- the data -----------------------------------------------------------------------------------------


async def _read(source: Any, *paths: str) -> Any:
    """The first of ``paths`` (dotted attribute paths) found on ``source``: called if callable, awaited if
    awaitable, returned as plain data. None when none exists."""
    for path in paths:
        value = source
        for name in path.split("."):
            value = getattr(value, name, None)
        if value is None:
            continue
        try:
            if callable(value):
                value = value()
            if inspect.isawaitable(value):
                value = await value
            return msgspec.to_builtins(value, enc_hook=str)
        except Exception:  # one section failing must not take the page down
            log.warning("dashboard: scheduler %s failed", path, exc_info=True)
            return {"error": f"{path} unavailable"}
    return None


async def collect_dashboard(svc: Services) -> DashboardData:
    report = await collect_report(svc)
    scheduler = getattr(svc, "scheduler", None)
    status = await _read(scheduler, "status") if scheduler is not None else None
    alerts = await _read(scheduler, "alerts.recent", "recent_alerts") if scheduler is not None else None
    harvest = await _read(scheduler, "harvest.last_results", "harvest_results") if scheduler is not None else None
    if isinstance(status, dict):  # a status that carries its own alerts / harvest sections
        alerts = alerts if alerts is not None else status.pop("alerts", None)
        harvest = harvest if harvest is not None else status.pop("harvest", None)
    health = svc.health.report
    return DashboardData(
        report=report,
        database=health.checks.database if health is not None else "unknown",
        cache=svc.cache.stats() if svc.cache is not None else None,
        jobs=svc.runner.recent_jobs() if svc.runner is not None else [],
        queuesAvailable=getattr(svc, "queues", None) is not None,
        scheduler=status,
        alerts=alerts,
        harvest=harvest,
        refreshSeconds=REFRESH_SECONDS,
    )


# -- routes -------------------------------------------------------------------------------------------


@routes.get(DASHBOARD, family=Family.LEGACY,
            responses={200: "text/html: the dashboard", 401: "AUTH_ERROR (bearer), or the sign-in form (HTML)",
                       404: "NOT_FOUND: no admin token configured"})
async def harvest_dashboard() -> quart.Response:
    """Operations dashboard: cache hit rates, provider health, queues, recent jobs, harvest and scheduler."""
    if not authorized():
        return _html(login_page(next_path=DASHBOARD), 401)
    data = await collect_dashboard(services())
    return _html(dashboard_page(msgspec.json.encode(data)))


@routes.get(f"{DASHBOARD}/data", family=Family.LEGACY, response=DashboardData,
            responses={401: "AUTH_ERROR", 404: "NOT_FOUND: no admin token configured"})
async def harvest_dashboard_data() -> quart.Response:
    """The dashboard's figures as JSON (what the page fetches to refresh itself)."""
    if not authorized():
        raise AuthError("Invalid or missing admin token")
    return raw(await collect_dashboard(services()), headers={"Cache-Control": "no-store"})


@routes.post("/admin/login", family=Family.LEGACY, rate_limit="default", request=LoginForm, tags=("admin-session",),
             responses={303: "Signed in: the session cookie is set", 401: "text/html: the form, token refused",
                        404: "NOT_FOUND: the admin routes are off"})
async def admin_login() -> quart.Response:
    """Sign in to the dashboard with the admin token (form post); sets the session cookie."""
    token = _configured_token()
    form = await quart.request.form
    presented = form.get("token", "").strip()
    next_path = _safe_next(form.get("next", DASHBOARD))
    if not presented or not hmac.compare_digest(presented.encode(), token.encode()):
        log.warning("dashboard sign-in refused")
        return _html(login_page(error="That is not the admin token.", next_path=next_path), 401)
    response = quart.Response("", status=303, headers={"Location": next_path, "Cache-Control": "no-store"})
    issued = int(services().clock.wall())
    response.set_cookie(COOKIE, session_cookie(token, issued), max_age=SESSION_SECONDS, path=COOKIE_PATH,
                        httponly=True, samesite="Strict", secure=quart.request.scheme == "https")
    return response


@routes.post("/admin/logout", family=Family.LEGACY, tags=("admin-session",),
             responses={303: "Signed out: the session cookie is cleared", 404: "NOT_FOUND: the admin routes are off"})
async def admin_logout() -> quart.Response:
    """Sign out of the dashboard (clears the session cookie)."""
    _configured_token()
    response = quart.Response("", status=303, headers={"Location": DASHBOARD, "Cache-Control": "no-store"})
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict")
    return response
