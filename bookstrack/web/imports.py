"""CSV-import routes (API.md §4, §8; reference §3.2.2, §3.5): upload a library export, read its results.

The upload is ``multipart/form-data`` with a file field named ``file`` (≤ 10 MiB; parsed on the CPU offload
threads, ``web/multipart.py``); ``format`` (form field or query) may name the layout, ``auto`` by default. The
server makes the job id. Reading the file happens in the job (``pipelines/csv_import.py``), so the 202
comes back at once and every problem with the file arrives over the progress stream.
"""

from __future__ import annotations

import time

import msgspec
import quart

from bookstrack.errors import BookstrackError, FileTooLarge, InvalidRequest, MissingParameter, PayloadTooLarge
from bookstrack.imports import FORMATS
from bookstrack.pipelines.csv_import import PIPELINE, start_import
from bookstrack.web.bodies import read_body
from bookstrack.web.current import job_service, services
from bookstrack.web.envelope import Family, envelope
from bookstrack.web.jobs import stored_results
from bookstrack.web.multipart import parse_multipart
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "CSV_LIMIT"]

routes = RouteTable(tags=["imports"])

CSV_LIMIT = 10 * 1024 * 1024
RESULTS_GONE = "CSV import results not found or expired. Results are stored for 24 hours after job completion."
SPLIT_HINT = "Try splitting your CSV into smaller files or removing unnecessary columns"


def _csv_too_large(limit: int) -> BookstrackError:
    return PayloadTooLarge("CSV file too large. Maximum 10MB allowed.",
                           details={"limit": limit, "resourceType": "CSV file"})


class ImportStarted(msgspec.Struct):
    jobId: str  # noqa: N815 - wire name
    token: str



@routes.post("/api/import/csv-gemini", family=Family.ENVELOPE, response=ImportStarted, rate_limit="default",
             body_limit=CSV_LIMIT, too_large=_csv_too_large,
             responses={202: "Import started", 400: "INVALID_REQUEST, MISSING_PARAMETER",
                        413: "PAYLOAD_TOO_LARGE, FILE_TOO_LARGE"})
async def import_csv() -> quart.Response:
    """Import a Goodreads, StoryGraph, LibraryThing, Calibre or generic CSV export (multipart field "file")."""
    request = quart.request
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise InvalidRequest('Expected multipart/form-data with the export in a file field named "file"')
    form = await services().offload.run(parse_multipart, await read_body(), request.mimetype_params.get("boundary", ""))
    upload = form.files.get("file")
    if upload is None:
        raise MissingParameter("No file provided")
    data = upload.data
    if len(data) > CSV_LIMIT:
        raise FileTooLarge("CSV file too large (max 10MB)", details={"suggestion": SPLIT_HINT})
    format = (form.fields.get("format") or request.args.get("format") or "auto").strip().lower()
    if format != "auto" and format not in FORMATS:
        raise InvalidRequest(f"Unknown format {format!r}: one of auto, {', '.join(FORMATS)}")
    job_id, token = await start_import(job_service(), services().blobs, data, filename=upload.filename or "",
                                       format=format)
    return envelope(ImportStarted(job_id, token), clock=services().clock, status=202)


@routes.get("/v1/csv/results/<jobId>", family=Family.ENVELOPE,
            responses={200: "The import's results", 401: "AUTH_ERROR (results_require_token)",
                       404: "NOT_FOUND"})
async def csv_results(jobId: str) -> quart.Response:  # noqa: N803 - the path's name
    """A finished import's results: every titled row in file order, the unreadable rows, the success rate."""
    started = time.perf_counter()
    results = await stored_results(jobId, resource="csv-results", gone=RESULTS_GONE, pipeline=PIPELINE)
    return envelope(msgspec.Raw(results.result or b"{}"), clock=services().clock,
                    processing_ms=int((time.perf_counter() - started) * 1000), provider="kv_cache", cached=True)
