"""Cache-warming routes (API.md §5–6, §8; reference §3.11): feed the author-warming queue, manage its dead
letters.

``POST /api/warming/upload`` is public and rate-limited: ``{"csv": <base64 CSV>, "maxDepth": 1..3}`` → the
unique authors of the export (deterministic parsers first, Gemini only for an unknown layout and only with
a key), one queue message each, committed before the 202. Its errors keep the reference's raw
``{"error": …}`` body, with our ``code`` and ``details`` beside it (family D).
``GET /api/warming/dlq`` (the dead letters, with the real depth) and ``POST /api/warming/dlq``
(``{"action": "retry"|"drop", "ids": [...]}`` or ``"all": true``) are admin routes (decision 0025).
Routes only: reading the export and warming live in ``bookstrack/tasks/warming.py``.
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from typing import Any, Literal

import msgspec
import quart

from actors.clock import iso_utc
from bookstrack.errors import InvalidRequest
from bookstrack.tasks import DurableQueues
from bookstrack.tasks.warming import DLQ_NAME, QUEUE, WarmingMessage, authors_of_upload
from bookstrack.web.admin import require_admin
from bookstrack.web.bodies import decode_json, read_body
from bookstrack.web.current import services
from bookstrack.web.envelope import Family, raw
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "UPLOAD_LIMIT"]

routes = RouteTable(tags=["warming"])

UPLOAD_LIMIT = 14 * 1024 * 1024  # a 10 MiB CSV in base64 (4/3) plus the JSON around it
DEFAULT_DEPTH = 2
MAX_LISTED = 1000


class UploadBody(msgspec.Struct):
    csv: str | None = None
    maxDepth: int | None = None  # noqa: N815 - wire name
    priority: Any = None  # accepted and ignored, as the original did


class UploadAccepted(msgspec.Struct):
    jobId: str  # noqa: N815 - wire name
    authorsQueued: int  # noqa: N815 - wire name
    estimatedWorks: int  # noqa: N815 - wire name
    estimatedDuration: str  # noqa: N815 - wire name


class DeadLetterView(msgspec.Struct):
    id: int
    payload: Any
    error: str | None
    attempts: int
    enqueuedAt: str  # noqa: N815 - wire name
    deadAt: str  # noqa: N815 - wire name


class DeadLetters(msgspec.Struct):
    queue: str
    depth: int  # dead letters
    queueDepth: int  # noqa: N815 - wire name; live messages (ready, delayed, in flight)
    messages: list[DeadLetterView]


class DlqAction(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["retry", "drop"]
    ids: list[int] | None = None
    all: bool = False


class DlqActionResult(msgspec.Struct):
    action: str
    ids: list[int]  # the dead letters re-queued or dropped
    missing: list[int]  # requested ids that are not dead letters of this queue
    depth: int  # dead letters left


def _queues() -> DurableQueues:
    queues = services().queues
    if queues is None:  # only between shutdown and the last request
        raise RuntimeError("queues not running")
    return queues


def _decode_csv(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("csv must be base64-encoded") from None


def _estimate(authors: int) -> str:
    """How long the queue needs for ``authors`` at the providers' configured rates (one Open Library
    author search and works listing, then the title searches on Google Books), as words."""
    config = services().config
    per_author = (2 / config.providers.openlibrary.rate_per_second
                  + config.queues.author_warming.titles_per_author / config.providers.google_books.rate_per_second)
    minutes = math.ceil(authors * per_author / 60) if authors else 0
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = math.ceil(minutes / 60)
    return f"{hours} hours"


@routes.post("/api/warming/upload", family=Family.MIDDLEWARE, response=UploadAccepted, request=UploadBody,
             rate_limit="default", body_limit=UPLOAD_LIMIT,
             responses={202: "Authors queued", 400: "INVALID_REQUEST", 413: "PAYLOAD_TOO_LARGE",
                        503: "PROVIDER_ERROR (Gemini failed on an unknown layout)"})
async def upload() -> quart.Response:
    """Queue cache warming for every author of a library export (JSON: base64 CSV in "csv", "maxDepth")."""
    svc = services()
    body = decode_json(await read_body(), UploadBody)
    if not body.csv:
        raise InvalidRequest("Missing required field: csv (base64-encoded CSV file)")
    depth = body.maxDepth or DEFAULT_DEPTH
    if not 1 <= depth <= 3:
        raise InvalidRequest("maxDepth must be 1-3")
    data = await svc.offload.run(_decode_csv, body.csv)
    providers = svc.providers
    authors = await authors_of_upload(data, svc.offload, providers.gemini if providers is not None else None)
    authors = authors[: svc.config.queues.author_warming.max_authors_per_upload]
    job_id = str(uuid.uuid4())
    queued_at = svc.clock.iso()
    messages = [WarmingMessage(author=a, source="csv", depth=0, queuedAt=queued_at, jobId=job_id) for a in authors]
    await _queues().enqueue(QUEUE, [msgspec.to_builtins(m) for m in messages])
    titles = svc.config.queues.author_warming.titles_per_author
    return raw(UploadAccepted(job_id, len(authors), len(authors) * titles, _estimate(len(authors))), status=202)


async def _depths(queues: DurableQueues) -> tuple[int, int]:
    for stats in await queues.stats():
        if stats.queue == QUEUE:
            return stats.dead, stats.depth
    return 0, 0


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = quart.request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer") from None
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}")
    return number


@routes.get("/api/warming/dlq", family=Family.RAW, response=DeadLetters,
            responses={200: "Dead letters, most recent first", 401: "AUTH_ERROR", 404: "NOT_FOUND (no admin token)"})
async def dead_letters() -> quart.Response:
    """The author-warming queue's dead letters and depths (admin; ?limit=1..1000, ?offset=)."""
    require_admin()
    limit = _int_arg("limit", 100, 1, MAX_LISTED)
    offset = _int_arg("offset", 0, 0, 2**62)
    queues = _queues()
    letters = await queues.dead_letters(QUEUE, limit=limit, offset=offset)
    dead, live = await _depths(queues)
    views = [DeadLetterView(d.id, d.payload, d.error, d.attempts, iso_utc(d.enqueued_at), iso_utc(d.dead_at))
             for d in letters]
    return raw(DeadLetters(DLQ_NAME, dead, live, views))


@routes.post("/api/warming/dlq", family=Family.RAW, request=DlqAction, response=DlqActionResult,
             responses={200: "Done", 400: "INVALID_REQUEST", 401: "AUTH_ERROR", 404: "NOT_FOUND (no admin token)"})
async def dead_letter_action() -> quart.Response:
    """Retry (re-queue) or drop dead letters of the author-warming queue (admin)."""
    require_admin()
    body = decode_json(await read_body(), DlqAction)
    if body.all == (body.ids is not None):
        raise InvalidRequest('Give either "ids" (a list of dead-letter ids) or "all": true')
    queues = _queues()
    ids = None if body.all else body.ids
    done = await (queues.retry_dead if body.action == "retry" else queues.drop_dead)(QUEUE, ids)
    missing = [i for i in dict.fromkeys(body.ids or []) if i not in set(done)]
    dead, _live = await _depths(queues)
    return raw(DlqActionResult(body.action, done, missing, dead))
