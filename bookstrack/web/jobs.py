"""The job routes (API.md §4, §8; reference §3.3, §3.7, §3.8): start a batch enrichment (and its
deprecated forms), cancel it, refresh a token, read a job's state, read its results.

Validation follows reference §3.3.1 check by check, in its order and with its messages, except that a
malformed body is a 400 (never a 500) and job ids must be 1–128 characters of ``[A-Za-z0-9._:-]``. The
work is the job service's (``services.jobs``); this module only reads requests and shapes answers.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import quart

from actors.job import JobResults
from bookstrack.errors import (
    AuthError,
    BatchTooLarge,
    BookstrackError,
    EmptyBatch,
    InvalidIsbn,
    InvalidRequest,
    NotFound,
)
from bookstrack.pipelines.enrich_book import BookInput
from bookstrack.pipelines.enrichment import PIPELINE as ENRICHMENT
from bookstrack.pipelines.enrichment import EnrichmentInput
from bookstrack.pipelines.jobs import JOB_ID
from bookstrack.web.bodies import decode_json, read_body
from bookstrack.web.current import job_service, services
from bookstrack.web.envelope import Family, envelope, raw
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "MAX_BOOKS", "validate_batch", "bearer_token", "stored_results"]

routes = RouteTable(tags=["jobs"])

MAX_BOOKS = 100
MAX_TITLE = 500
MAX_AUTHOR = 300
MAX_ISBN = 17
CANCEL_REASON = "Canceled by iOS client during library reset"
RESULTS_GONE = "Job results not found or expired. Results are stored for 24 hours after job completion."


class BatchStarted(msgspec.Struct):
    success: bool
    processedCount: int  # noqa: N815 - wire names
    totalCount: int  # noqa: N815
    token: str


class Canceled(msgspec.Struct):
    jobId: str  # noqa: N815
    status: str
    message: str


class TokenRefreshed(msgspec.Struct):
    jobId: str  # noqa: N815
    token: str
    expiresIn: int  # noqa: N815


class EnrichmentRequest(msgspec.Struct):
    """The documented body (the route checks it field by field, in the reference's order)."""

    jobId: str  # noqa: N815
    books: list[BookInput]



def _text(value: Any, limit: int, name: str, index: int, error: type[BookstrackError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise error(f"Invalid {name} for book at index {index}")
    if len(value) > limit:
        label = "ISBN" if name == "ISBN" else name.capitalize()
        raise error(f"{label} exceeds maximum length of {limit} characters at index {index}")
    return value.strip()


def check_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvalidRequest("Invalid jobId: 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
                             details={"jobId": job_id})
    return job_id


def validate_batch(body: Any) -> tuple[str, list[BookInput]]:
    """Reference §3.3.1's checks in order; the trimmed books."""
    books = body.get("books") if isinstance(body, dict) else None
    if not isinstance(books, list):
        raise InvalidRequest("Invalid books array")
    job_id = body.get("jobId")
    if not job_id:
        raise InvalidRequest("Missing jobId")
    job_id = check_job_id(job_id)
    if not books:
        raise EmptyBatch("Empty books array")
    if len(books) > MAX_BOOKS:
        raise BatchTooLarge(f"Batch size exceeds maximum of {MAX_BOOKS} books")
    out = []
    for i, book in enumerate(books):
        fields = book if isinstance(book, dict) else {}
        title = fields.get("title")
        if not isinstance(title, str):
            raise InvalidRequest(f"Invalid title for book at index {i}")
        if len(title) > MAX_TITLE:
            raise InvalidRequest(f"Title exceeds maximum length of {MAX_TITLE} characters at index {i}")
        author = _text(fields.get("author"), MAX_AUTHOR, "author", i, InvalidRequest)
        isbn = _text(fields.get("isbn"), MAX_ISBN, "ISBN", i, InvalidIsbn)
        out.append(BookInput(title=title.strip(), author=author or None, isbn=isbn or None))
    return job_id, out


async def _start_enrichment(job_id: str, books: list[BookInput]) -> quart.Response:
    started = await job_service().start(job_id, ENRICHMENT, EnrichmentInput(books), total=len(books))
    return envelope(BatchStarted(True, 0, len(books), started.token), clock=services().clock, status=202)


@routes.post("/v1/enrichment/batch", family=Family.ENVELOPE, request=EnrichmentRequest, response=BatchStarted,
             rate_limit="default", responses={202: "Job started", 400: "INVALID_REQUEST, EMPTY_BATCH, BATCH_TOO_LARGE,"
                                              " INVALID_ISBN", 409: "JOB_EXISTS", 429: "RATE_LIMIT_EXCEEDED"})
async def enrichment_batch() -> quart.Response:
    """Start enriching up to 100 books; progress over /ws/progress, results at /v1/jobs/{jobId}/results."""
    job_id, books = validate_batch(decode_json(await read_body()))
    return await _start_enrichment(job_id, books)


@routes.post("/api/enrichment/batch", family=Family.ENVELOPE, request=EnrichmentRequest, response=BatchStarted,
             rate_limit="default", responses={202: "Job started", 409: "JOB_EXISTS"})
async def enrichment_batch_alias() -> quart.Response:
    """Alias of POST /v1/enrichment/batch."""
    return await enrichment_batch()


class StartRequest(msgspec.Struct):
    jobId: str  # noqa: N815
    workIds: list[str]  # noqa: N815


@routes.post("/api/enrichment/start", family=Family.LEGACY, request=StartRequest, response=BatchStarted,
             rate_limit="default", responses={202: "Job started", 400: "INVALID_REQUEST", 409: "JOB_EXISTS"})
async def enrichment_start() -> quart.Response:
    """Deprecated: start a batch enrichment whose work ids are treated as titles."""
    body = decode_json(await read_body())
    fields = body if isinstance(body, dict) else {}
    work_ids = fields.get("workIds")
    if not fields.get("jobId") or not isinstance(work_ids, list):
        raise InvalidRequest("Invalid request: jobId and workIds (array) required")
    if not work_ids:
        raise InvalidRequest("Invalid request: workIds array cannot be empty")
    # From here on it is the batch route's request, answered in the batch route's family.
    forwarded = {"jobId": fields["jobId"], "books": [{"title": str(w)} for w in work_ids]}
    try:
        job_id, books = validate_batch(forwarded)
        return await _start_enrichment(job_id, books)
    except BookstrackError as error:
        error.family = Family.ENVELOPE.value  # type: ignore[misc]
        raise


class CancelRequest(msgspec.Struct):
    jobId: str  # noqa: N815


@routes.post("/api/enrichment/cancel", family=Family.LEGACY, request=CancelRequest, response=Canceled,
             responses={400: "INVALID_REQUEST"})
async def enrichment_cancel() -> quart.Response:
    """Cancel a batch enrichment: it stops between books, keeps partial results and ends canceled."""
    body = decode_json(await read_body())
    job_id = body.get("jobId") if isinstance(body, dict) else None
    if not job_id or not isinstance(job_id, str):
        raise InvalidRequest("Invalid request: jobId required")
    if JOB_ID.fullmatch(job_id):
        await job_service().cancel(job_id, CANCEL_REASON)
    # Always 200, also for unknown jobs (reference §3.3.3).
    return raw(Canceled(job_id, "canceled", "Enrichment job canceled successfully"))


class RefreshRequest(msgspec.Struct):
    jobId: str  # noqa: N815
    oldToken: str  # noqa: N815


@routes.post("/api/token/refresh", family=Family.LEGACY, request=RefreshRequest, response=TokenRefreshed,
             rate_limit="default", responses={400: "INVALID_REQUEST", 401: "AUTH_ERROR"})
async def token_refresh() -> quart.Response:
    """Swap a job's token for a new one within the last 30 minutes of its validity."""
    body = decode_json(await read_body())
    fields = body if isinstance(body, dict) else {}
    job_id, old = fields.get("jobId"), fields.get("oldToken")
    if not job_id or not old or not isinstance(job_id, str) or not isinstance(old, str):
        raise InvalidRequest("Invalid request: jobId and oldToken required")
    if not JOB_ID.fullmatch(job_id):
        raise AuthError("Invalid token")
    refreshed = await job_service().refresh(job_id, old)
    if refreshed.token is None:
        raise AuthError(refreshed.error or "Invalid token")
    return raw(TokenRefreshed(job_id, refreshed.token, int(job_service().config.token_ttl)))


def header_token() -> str:
    """The token of ``Authorization: Bearer <t>`` (a bare token too, as the original); "" without one."""
    header = quart.request.headers.get("Authorization", "").strip()
    return header[7:].strip() if header[:7].lower() == "bearer " else header


def bearer_token() -> str | None:
    """``header_token()``, else ``?token=``."""
    return header_token() or quart.request.args.get("token") or None


@routes.get("/api/job-state/", family=Family.LEGACY, responses={400: "INVALID_REQUEST"})
async def job_state_without_id() -> quart.Response:
    """(No job id: 400.)"""
    raise InvalidRequest("Invalid request: jobId required")


@routes.get("/api/job-state/<jobId>", family=Family.LEGACY,
            responses={200: "The job's state", 401: "AUTH_ERROR", 404: "NOT_FOUND"})
async def job_state(jobId: str) -> quart.Response:  # noqa: N803 - the path's name
    """A job's current state: status, counts, progress, timestamps (needs the job's token)."""
    token = header_token()
    if not token:
        raise AuthError("Missing authorization token")
    state = await job_service().state(jobId) if JOB_ID.fullmatch(jobId) else None
    if state is None:
        raise NotFound("Job not found or state not initialized")
    if await job_service().check_token(jobId, token) != "ok":
        raise AuthError("Invalid or expired token")
    return raw(state)


async def stored_results(job_id: str, *, resource: str, gone: str, pipeline: str | None = None) -> JobResults:
    """A finished job's stored results (of ``pipeline``, when given), for the three results routes: the
    token rule of ``[jobs] results_require_token``, then 404 ``gone`` (details name the original's
    ``<resource>:<jobId>`` key) for an unknown, expired or foreign job, or one that stored nothing."""
    jobs = job_service()
    details = {"jobId": job_id, "resultsKey": f"{resource}:{job_id}", "ttl": "24 hours"}
    if not JOB_ID.fullmatch(job_id):
        raise NotFound(gone, details=details)
    # Without results_require_token a token is not checked at all: results outlive the token's 2 hours.
    if jobs.config.results_require_token and await jobs.check_token(job_id, bearer_token() or "") != "ok":
        raise AuthError("Invalid or expired token")
    results = await jobs.results(job_id)
    if results is None:
        raise NotFound(gone, details=details)
    if not results.state.status.ended:
        raise NotFound("Job has not finished yet", details={**details, "status": results.state.status.value})
    if pipeline is not None and (results.state.pipeline != pipeline or results.result is None):
        raise NotFound(gone, details=details)  # a failed scan or import stores no results
    return results


@routes.get("/v1/jobs/<jobId>/results", family=Family.ENVELOPE,
            responses={200: "The job's results", 401: "AUTH_ERROR", 404: "NOT_FOUND"})
async def job_results(jobId: str) -> quart.Response:  # noqa: N803
    """A finished job's results (any pipeline), kept for [jobs] retention after it ends."""
    started = time.perf_counter()
    jobs = job_service()
    results = await stored_results(jobId, resource="job-results", gone=RESULTS_GONE)
    data = jobs.runner.pipelines[results.state.pipeline].results_data(results)
    return envelope(data, clock=services().clock, processing_ms=int((time.perf_counter() - started) * 1000),
                    provider="job_results", cached=True)
