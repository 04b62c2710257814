"""``POST /api/harvest-covers`` (admin; reference §3.13, API.md §8): run the cover harvest now.

The admin token is accepted as ``Authorization: Bearer …`` or, for the original's callers, as
``X-Harvest-Secret``; there is no built-in secret (the original's ``test-local-dev`` bypass is gone), and
without a configured token the route does not exist (404). Success is the reference's raw
``{success: true, stats, message: "Harvest completed successfully"}``; a failed harvest is the legacy 500
``Harvest failed: {error}``. The harvest itself lives in ``bookstrack/tasks/harvest.py``; it runs through
the scheduler, so it never overlaps a scheduled harvest.
"""

from __future__ import annotations

import logging

import msgspec
import quart

from bookstrack.errors import InternalError
from bookstrack.tasks.harvest import HarvestStats
from bookstrack.web.admin import require_admin
from bookstrack.web.current import services
from bookstrack.web.envelope import Family, raw
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "HarvestResponse"]

log = logging.getLogger("bookstrack.web.harvest")

routes = RouteTable(tags=["operations"])


class HarvestResponse(msgspec.Struct):
    success: bool
    stats: HarvestStats
    message: str


@routes.post(
    "/api/harvest-covers", family=Family.LEGACY, response=HarvestResponse,
    responses={401: "Missing or wrong admin token.", 404: "No admin token is configured.", 500: "Harvest failed."},
)
async def harvest_covers() -> quart.Response:
    """Run the cover harvest now (admin)."""
    require_admin(extra_header="X-Harvest-Secret")
    maintenance = services().scheduler
    if maintenance is None:
        raise InternalError("Harvest failed: the scheduler is not running (the server is starting or stopping)")
    try:
        run = await maintenance.harvest_now()
    except Exception as exc:
        log.warning("harvest requested by an admin failed: %r", exc)
        raise InternalError(f"Harvest failed: {exc}") from exc
    return raw(HarvestResponse(success=True, stats=run.stats, message="Harvest completed successfully"))
