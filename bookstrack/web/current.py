"""The running app's services, as a route sees them (inside a request or WebSocket context).

Owns the two look-ups every job route makes, and the one error for the window between shutdown and the
last request, when a service is already gone. Routes only; services never reach back up here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import quart

if TYPE_CHECKING:
    from bookstrack.app import Services
    from bookstrack.pipelines.jobs import JobService

__all__ = ["services", "job_service"]


def services() -> Services:
    return quart.current_app.services  # type: ignore[attr-defined, no-any-return]


def job_service() -> JobService:
    jobs = services().jobs
    if jobs is None:  # only between shutdown and the last request
        raise RuntimeError("job service not running")
    return jobs
