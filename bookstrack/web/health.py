"""``GET /health`` (any method): the monitor's last report, as pre-encoded bytes."""

from __future__ import annotations

import quart

from bookstrack.health import HealthReport
from bookstrack.web.envelope import Family, json_response
from bookstrack.web.routing import RouteTable

routes = RouteTable(tags=["operations"])


@routes.route(
    ("GET", "POST", "PUT", "PATCH", "DELETE"), "/health", family=Family.RAW, response=HealthReport,
    responses={503: "The database check failed."},
)
async def health() -> quart.Response:
    """Service health: version, endpoint list and checks (database, providers)."""
    monitor = quart.current_app.services.health  # type: ignore[attr-defined]
    return json_response(monitor.body, monitor.status_code)
