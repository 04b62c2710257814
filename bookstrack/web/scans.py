"""Bookshelf-scan routes (API.md §4, §8; reference §3.2.1, §3.4): start a single or batch scan, cancel it,
read its results.

Validation, codes and bodies are the reference's with API.md's changes: a single scan takes images up to
10 MiB (its own 413), the batch scan's 202 carries the envelope *and* the same fields at top level, both
cancel routes set the same cancel flag, malformed JSON is a 400. Photos go to the blob store before the
job starts (decoding the batch's base64 runs off the event loop). The work is ``pipelines/scan.py``'s.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from typing import Any

import msgspec
import quart

from bookstrack.errors import (
    BatchTooLarge,
    BookstrackError,
    FileTooLarge,
    InvalidRequest,
    MissingParam,
    PayloadTooLarge,
    ProviderUnavailable,
)
from bookstrack.pipelines.jobs import JOB_ID
from bookstrack.pipelines.scan import PIPELINE, start_scan
from bookstrack.web.bodies import decode_json, read_body
from bookstrack.web.current import job_service, services
from bookstrack.web.envelope import Family, envelope, json_response, raw
from bookstrack.web.jobs import stored_results
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "SINGLE_LIMIT", "BATCH_LIMIT", "MAX_PHOTOS"]

routes = RouteTable(tags=["scans"])

MiB = 1024 * 1024
SINGLE_LIMIT = 10 * MiB  # API.md §4: a single scan takes images up to 10 MiB
BATCH_LIMIT = 70 * MiB  # API.md §8: five base64 photos of 10 MB and the JSON around them
MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 10_000_000  # reference §3.4.2, per decoded photo
RESULTS_GONE = "Scan results not found or expired. Results are stored for 24 hours after job completion."


def _image_too_large(limit: int) -> BookstrackError:
    error = PayloadTooLarge("Image too large. Maximum 10MB allowed.", details={"limit": limit, "resourceType": "image"})
    return error


class Stage(msgspec.Struct):
    name: str
    typicalDuration: int  # noqa: N815 - wire names
    progress: float


class ScanStarted(msgspec.Struct):
    jobId: str  # noqa: N815
    token: str
    status: str
    websocketReady: bool  # noqa: N815
    message: str
    stages: list[Stage]
    estimatedRange: list[int]  # noqa: N815


STAGES = [Stage("Image Quality Analysis", 3, 0.1), Stage("AI Processing", 25, 0.5),
          Stage("Metadata Enrichment", 12, 1.0)]


class BatchScanStarted(msgspec.Struct):
    jobId: str  # noqa: N815
    token: str
    totalPhotos: int  # noqa: N815
    status: str


class _BatchScanResponse(msgspec.Struct):
    """The envelope with the same fields at top level (API.md §4: clients read either)."""

    data: BatchScanStarted
    metadata: dict[str, str]
    jobId: str  # noqa: N815
    token: str
    totalPhotos: int  # noqa: N815
    status: str


class BatchPhoto(msgspec.Struct):
    index: int
    data: str


class BatchScanRequest(msgspec.Struct):
    jobId: str  # noqa: N815
    images: list[BatchPhoto]



def _require_gemini() -> None:
    providers = services().providers
    if providers is None or not providers.gemini.configured:
        raise ProviderUnavailable(
            "Bookshelf scanning needs a Gemini API key (set BOOKSTRACK_GEMINI_API_KEY)",
            provider="gemini", reason="unconfigured",
        )


@routes.post("/api/scan-bookshelf", family=Family.RAW, response=ScanStarted, rate_limit="default",
             body_limit=SINGLE_LIMIT, too_large=_image_too_large,
             responses={202: "Scan started", 400: "INVALID_REQUEST", 409: "JOB_EXISTS", 413: "PAYLOAD_TOO_LARGE",
                        503: "PROVIDER_ERROR (no Gemini key)"})
async def scan_bookshelf() -> quart.Response:
    """Scan one bookshelf photo (raw image body, Content-Type image/*; optional ?jobId=)."""
    request = quart.request
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise InvalidRequest("Invalid content type: image/* required")
    job_id = request.args.get("jobId") or str(uuid.uuid4())
    if not JOB_ID.fullmatch(job_id):
        raise InvalidRequest("Invalid jobId: 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
                             details={"jobId": job_id})
    image = await read_body()
    if not image:
        raise InvalidRequest("Empty image: send the photo's bytes as the request body")
    _require_gemini()
    token = await start_scan(job_service(), services().blobs, job_id, [(image, content_type, 0)], single=True)
    return raw(ScanStarted(
        jobId=job_id, token=token, status="started", websocketReady=False,
        message=f"AI scan started. Connect to /ws/progress?jobId={job_id} for real-time updates.",
        stages=STAGES, estimatedRange=[32, 48],
    ), status=202)


def _decode_photos(images: list[BatchPhoto]) -> list[tuple[bytes, str, int]]:
    """Base64 → bytes for every photo (on a worker thread: up to 50 MB of base64)."""
    out = []
    for image in images:
        if len(image.data) * 3 // 4 > MAX_PHOTO_BYTES:
            raise FileTooLarge(f"Image {image.index} exceeds maximum size of 10MB", details={"index": image.index})
        try:
            data = base64.b64decode(image.data.split(",", 1)[-1] if image.data.startswith("data:") else image.data,
                                    validate=False)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"Image {image.index} is not valid base64") from None
        out.append((data, _sniff(data), image.index))
    return out


def _sniff(data: bytes) -> str:
    """The photo's type from its first bytes (clients send JPEG; others are declared as they are)."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image/heic"
    return "image/jpeg"


def _validate_batch(body: Any) -> tuple[str, list[BatchPhoto]]:
    fields = body if isinstance(body, dict) else {}
    images = fields.get("images")
    if not fields.get("jobId") or not isinstance(images, list):
        raise InvalidRequest("Invalid request: jobId and images array required")
    job_id = fields["jobId"]
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvalidRequest("Invalid jobId: 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
                             details={"jobId": job_id})
    if not images:
        raise InvalidRequest("At least one image required")
    if len(images) > MAX_PHOTOS:
        raise BatchTooLarge(f"Batch size exceeds maximum {MAX_PHOTOS} photos")
    photos = []
    for image in images:
        index = image.get("index") if isinstance(image, dict) else None
        data = image.get("data") if isinstance(image, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(data, str) or not data:
            raise InvalidRequest("Each image must have index and data fields")
        photos.append(BatchPhoto(index, data))
    return job_id, photos


@routes.post("/api/scan-bookshelf/batch", family=Family.ENVELOPE, request=BatchScanRequest,
             response=BatchScanStarted, rate_limit="default", body_limit=BATCH_LIMIT,
             responses={202: "Scan started", 400: "INVALID_REQUEST, BATCH_TOO_LARGE", 409: "JOB_EXISTS",
                        413: "FILE_TOO_LARGE", 503: "PROVIDER_ERROR (no Gemini key)"})
async def scan_bookshelf_batch() -> quart.Response:
    """Scan 1–5 photos ({jobId, images:[{index, data: base64}]}); one job, progress per photo."""
    offload = services().offload
    body = await offload.run(decode_json, await read_body())
    job_id, images = _validate_batch(body)
    _require_gemini()
    photos = await offload.run(_decode_photos, images)
    token = await start_scan(job_service(), services().blobs, job_id, photos, single=False)
    data = BatchScanStarted(job_id, token, len(photos), "processing")
    meta = {"timestamp": services().clock.iso()}
    return json_response(_BatchScanResponse(data, meta, job_id, token, len(photos), "processing"), status=202)


class CancelScan(msgspec.Struct):
    jobId: str  # noqa: N815


@routes.post("/api/scan-bookshelf/cancel", family=Family.LEGACY, request=CancelScan,
             responses={200: '{"success": true} or {"error": "Job not found"}', 400: "MISSING_PARAM"})
async def scan_cancel() -> quart.Response:
    """Cancel a scan: it stops between photos and keeps what it found."""
    body = decode_json(await read_body())
    job_id = body.get("jobId") if isinstance(body, dict) else None
    if not job_id or not isinstance(job_id, str):
        raise MissingParam("jobId required")
    outcome = await job_service().cancel(job_id, "Canceled by client") if JOB_ID.fullmatch(job_id) else None
    if outcome is None or not outcome.known:
        return raw({"error": "Job not found"})
    return raw({"success": True})


@routes.get("/v1/scan/results/<jobId>", family=Family.ENVELOPE,
            responses={200: "The scan's results", 401: "AUTH_ERROR (results_require_token)", 404: "NOT_FOUND"})
async def scan_results(jobId: str) -> quart.Response:  # noqa: N803 - the path's name
    """A finished scan's results: detected books with bounding boxes and enrichment (24 h)."""
    started = time.perf_counter()
    results = await stored_results(jobId, resource="scan-results", gone=RESULTS_GONE, pipeline=PIPELINE)
    return envelope(msgspec.Raw(results.result or b"{}"), clock=services().clock,
                    processing_ms=int((time.perf_counter() - started) * 1000), provider="kv_cache", cached=True)
