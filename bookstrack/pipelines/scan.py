"""The bookshelf-scan pipeline (``ai_scan``; API.md §4, §8; reference §4.7, §9.1 with their FIXes).

Owns the job's shape. Items are photos, in order: each photo is read from the blob store, sent to Gemini
for detection (one call), and its detected books are enriched through the search service (concurrently,
bounded by ``[scans] enrich_concurrency``); the photo's result — its books with bounding boxes and
enrichment, or its error — is committed as one item. Progress is monotonic: a single scan reports the
original's stages (0.1 image, 0.3 Gemini, 0.5 detected, 0.7–0.95 enrichment, 1.0), a batch splits the
range between photos. At the end the books of every photo are de-duplicated (ISBN, else title + author,
keeping the higher confidence), classified approved / needs review by ``[scans] confidence_threshold``,
stored as the clients.md §4.4 results document, and announced with a completion payload that is a
superset of what every client decodes (``summary``, flat ``total_detected``/``approved``/``needs_review``
and camelCase twins, ``metadata`` in both cases, ``books``, ``resultsUrl``/``results_url``).

A single scan whose detection fails ends the job with ``E_AI_SCAN_FAILED``; a batch records that photo as
failed and goes on, failing only if every photo failed (``E_BATCH_SCAN_FAILED``). Photos are deleted from
the blob store when the job ends. Providers are the Gemini client and the search service; this module
must not parse HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import trio

from actors.job import JobResults
from bookstrack.books.dto import AuthorDTO, EditionDTO, WorkDTO
from bookstrack.books.keys import author_key, title_key
from bookstrack.config import ScansConfig
from bookstrack.errors import ProviderError
from bookstrack.pipelines.completion import Summary, expires_iso, resource_id, results_url
from bookstrack.pipelines.enrich_book import BookEnricher, BookInput, Outcome
from bookstrack.pipelines.jobs import JobService
from bookstrack.pipelines.runner import JobContext, PipelineFailed
from bookstrack.store.blobs import BlobStore

__all__ = ["ScanInput", "ScanPhoto", "ScanPipeline", "PIPELINE", "photo_key", "start_scan"]

log = logging.getLogger("bookstrack.pipelines.scan")

PIPELINE = "ai_scan"
SINGLE_FAILED = "E_AI_SCAN_FAILED"
BATCH_FAILED = "E_BATCH_SCAN_FAILED"


async def start_scan(jobs: JobService, blobs: BlobStore, job_id: str, photos: list[tuple[bytes, str, int]], *,
                     single: bool) -> str:
    """Store the photos ``(bytes, mime type, client index)`` and start the scan's job; answers its token."""
    stored = []
    for position, (data, mime_type, index) in enumerate(photos):
        key = photo_key(job_id, position, mime_type)
        await blobs.put(key, data, content_type=mime_type)
        stored.append(ScanPhoto(key, mime_type, index))
    started = await jobs.start(job_id, PIPELINE, ScanInput(stored, single), total=len(stored))
    return started.token


def photo_key(job_id: str, position: int, mime_type: str) -> str:
    """Where photo ``position`` of a job is kept (``job-`` keeps ids like ``..`` from being path parts)."""
    extension = {"image/png": "png", "image/webp": "webp", "image/heic": "heic", "image/gif": "gif"}.get(
        mime_type, "jpg"
    )
    return f"bookshelf-scans/job-{job_id}/photo-{position}.{extension}"


class ScanPhoto(msgspec.Struct):
    key: str  # in the blob store
    mime_type: str
    index: int  # the client's index (batch), 0 for a single scan


class ScanInput(msgspec.Struct):
    photos: list[ScanPhoto]
    single: bool


class BoundingBox(msgspec.Struct):
    x1: float
    y1: float
    x2: float
    y2: float


class Enrichment(msgspec.Struct, omit_defaults=True):
    status: str  # success | not_found | error
    work: WorkDTO | None = None
    editions: list[EditionDTO] = msgspec.field(default_factory=list)
    authors: list[AuthorDTO] = msgspec.field(default_factory=list)
    provider: str | None = None
    cachedResult: bool = False  # noqa: N815 - wire names
    error: str | None = None


class ScanBook(msgspec.Struct, omit_defaults=True):
    """One detected book (clients.md §4.4; DetectedBookDTO of reference §5.5 with the FIX boxes)."""

    title: str
    author: str  # "" when not visible: the client requires a string
    boundingBox: BoundingBox  # noqa: N815
    enrichmentStatus: str  # noqa: N815
    enrichment: Enrichment
    photoIndex: int  # noqa: N815
    isbn: str | None = None
    format: str | None = None
    confidence: float = 0.0
    coverUrl: str | None = None  # noqa: N815
    publisher: str | None = None
    publicationYear: int | None = None  # noqa: N815


_WHOLE_PHOTO = BoundingBox(0.0, 0.0, 1.0, 1.0)


class PhotoResult(msgspec.Struct, omit_defaults=True):
    index: int
    status: str  # complete | error
    books: list[ScanBook] = msgspec.field(default_factory=list)
    model: str | None = None
    error: str | None = None


class ScanMetadata(msgspec.Struct):
    processingTime: int  # noqa: N815
    enrichedCount: int  # noqa: N815
    timestamp: str
    modelUsed: str  # noqa: N815


class ScanResults(msgspec.Struct):
    """The stored document and ``data`` of both results routes (clients.md §4.4)."""

    totalDetected: int  # noqa: N815
    approved: int
    needsReview: int  # noqa: N815
    books: list[ScanBook]
    metadata: ScanMetadata
    photos: list[dict[str, Any]]  # per photo: {index, status, booksFound | error}


class _CompletionMetadata(msgspec.Struct):
    modelUsed: str  # noqa: N815
    processingTime: int  # noqa: N815
    model_used: str
    processing_time: int


class _ScanSummary(Summary, omit_defaults=True):
    totalDetected: int = 0  # noqa: N815
    approved: int = 0
    needsReview: int = 0  # noqa: N815


class _Complete(msgspec.Struct):
    type: str
    pipeline: str
    summary: _ScanSummary
    resultsUrl: str  # noqa: N815
    results_url: str
    expiresAt: str  # noqa: N815
    total_detected: int
    approved: int
    needs_review: int
    totalDetected: int  # noqa: N815
    needsReview: int  # noqa: N815
    metadata: _CompletionMetadata
    books: list[ScanBook]
    canceled: bool


def _progress(single: bool, photo: int, photos: int, stage: float) -> float:
    """Overall progress for ``stage`` (0–1) of photo ``photo``: monotonic across photos."""
    if single:
        return stage
    return min(1.0, (photo + stage) / photos)


class ScanPipeline:
    name = PIPELINE
    error_code = BATCH_FAILED
    throttle = (1, 60.0)  # reference §4.8: every ai_scan update is persisted

    def __init__(self, gemini: Any, enricher: BookEnricher, blobs: BlobStore, config: ScansConfig) -> None:
        self.gemini = gemini
        self.enricher = enricher
        self.blobs = blobs
        self.config = config

    async def run(self, job: JobContext) -> None:
        scan = msgspec.json.decode(job.input, type=ScanInput)
        n = len(scan.photos)
        if not scan.single:
            await job.progress(0.05, "Photos uploaded, starting AI processing...", processed=len(job.done),
                               current_item=f"Uploaded {n} photos")
        for position, photo in enumerate(scan.photos):
            if position in job.done:
                continue
            if job.canceled:
                return
            result = await self._photo(job, scan, position, photo)
            found = len(result.books)
            if result.status == "complete":
                status = (f"Detected and enriched {found} books" if scan.single
                          else f"Completed photo {position + 1} of {n} - Found {found} books")
                item = f"{found} books detected" if scan.single else f"Photo {position + 1}: {found} books"
            else:
                status = f"Error processing photo {position + 1}: {result.error}"
                item = f"Photo {position + 1}: Error"
            await job.item_done(position, result, success=result.status == "complete", status=status,
                                current_item=item)

    async def _photo(self, job: JobContext, scan: ScanInput, position: int, photo: ScanPhoto) -> PhotoResult:
        n, single = len(scan.photos), scan.single

        async def stage(at: float, status: str, item: str) -> None:
            await job.progress(_progress(single, position, n, at), status, processed=len(job.done), current_item=item)

        if single:
            await stage(0.1, "Analyzing image quality...", "Image quality check")
        else:
            await stage(0.1, f"Processing photo {position + 1} of {n}...", f"Photo {position + 1}")
        blob = await self.blobs.get(photo.key)
        if blob is None:
            return self._failed(single, photo, "The photo is no longer stored")
        if single:
            await stage(0.3, "Processing with Gemini AI...", "Gemini AI processing")
        try:
            async with job.items:
                detections = await self.gemini.detect_books(blob.data, mime_type=photo.mime_type)
        except ProviderError as exc:
            return self._failed(single, photo, exc.message)
        books = detections.books
        if single:
            await stage(0.5, f"Detected {len(books)} books, enriching data...", f"{len(books)} books detected")
        enriched: list[ScanBook | None] = [None] * len(books)
        done = 0
        limiter = trio.CapacityLimiter(self.config.enrich_concurrency)

        async def one(i: int) -> None:
            nonlocal done
            async with limiter, job.items:
                enriched[i] = await self._enrich(books[i], photo.index)
            done += 1
            book = enriched[i]
            failed = "" if book is None or book.enrichmentStatus != "error" else f" ({book.title} failed)"
            if single:
                await stage(0.7 + 0.25 * done / len(books), f"Enriched {done}/{len(books)} books{failed}",
                            f"Enriching: {books[i].title}")
            else:
                await stage(0.5 + 0.45 * done / len(books),
                            f"Enriching books of photo {position + 1}... ({done}/{len(books)}){failed}", books[i].title)

        async with trio.open_nursery() as nursery:
            for i in range(len(books)):
                nursery.start_soon(one, i)
        return PhotoResult(photo.index, "complete", [b for b in enriched if b is not None], model=detections.model)

    @staticmethod
    def _failed(single: bool, photo: ScanPhoto, message: str) -> PhotoResult:
        if single:
            raise PipelineFailed(SINGLE_FAILED, message)
        return PhotoResult(photo.index, "error", error=message)

    async def _enrich(self, detected: Any, photo_index: int) -> ScanBook:
        box = detected.bounding_box or _WHOLE_PHOTO  # the schema requires one; a model may still omit it
        base = {
            "title": detected.title, "author": detected.author or "", "isbn": detected.isbn,
            # The client requires a number; a detection the model gave no confidence goes to review.
            "format": detected.format, "confidence": detected.confidence if detected.confidence is not None else 0.0,
            "photoIndex": photo_index,
            "boundingBox": BoundingBox(box.x1, box.y1, box.x2, box.y2),
        }
        found = await self.enricher.enrich(BookInput(title=detected.title, author=detected.author, isbn=detected.isbn))
        if found.outcome is Outcome.FOUND and found.enriched is not None:
            e = found.enriched
            editions = e.editions or ([e.edition] if e.edition else [])
            enrichment = Enrichment("success", e.work, editions, e.authors, e.provider, e.cached)
            first = e.edition or (editions[0] if editions else None)
            return ScanBook(
                **base, enrichmentStatus="success", enrichment=enrichment,
                coverUrl=e.work.coverImageURL or (first.coverImageURL if first else None),
                publisher=first.publisher if first else None,
                publicationYear=e.work.firstPublicationYear,
            )
        if found.outcome is Outcome.PROVIDER_ERROR:
            return ScanBook(**base, enrichmentStatus="error", enrichment=Enrichment("error", error=found.error))
        return ScanBook(**base, enrichmentStatus="not_found", enrichment=Enrichment("not_found"))

    async def finish(self, job: JobContext, *, canceled: bool) -> None:
        scan = msgspec.json.decode(job.input, type=ScanInput)
        results = await job.results()
        photos = [msgspec.json.decode(item, type=PhotoResult) for item in results.items]
        books = _dedupe([b for p in photos for b in p.books])
        threshold = self.config.confidence_threshold
        approved = sum(1 for b in books if b.confidence >= threshold)
        review = len(books) - approved
        model = next((p.model for p in photos if p.model), getattr(self.gemini, "vision_model", "gemini"))
        duration = job.duration_ms()
        expires_at = job.expires_at()
        try:
            for photo in scan.photos:  # the photos served their purpose
                await self.blobs.delete(photo.key)
        except OSError:
            log.warning("scan %s: could not delete its photos", job.job_id, exc_info=True)
        if photos and not canceled and all(p.status == "error" for p in photos) and not scan.single:
            reasons = "; ".join(f"photo {p.index}: {p.error}" for p in photos)
            await job.finish("failed", {"type": "error", "code": BATCH_FAILED, "retryable": True,
                                        "message": f"Every photo failed: {reasons}"},
                             expires_at=expires_at, error=reasons)
            return
        stored = ScanResults(
            totalDetected=len(books), approved=approved, needsReview=review, books=books,
            metadata=ScanMetadata(duration, sum(1 for b in books if b.enrichmentStatus == "success"),
                                  job.clock.iso(), model),
            photos=[_photo_summary(p) for p in photos],
        )
        summary = _ScanSummary(
            totalProcessed=len(books), successCount=approved, failureCount=review, duration=duration,
            resourceId=resource_id(job.job_id), canceled=canceled, totalDetected=len(books), approved=approved,
            needsReview=review,
        )
        url = results_url(PIPELINE, job.job_id)
        payload = _Complete(
            "job_complete", PIPELINE, summary, url, url, expires_iso(expires_at), len(books), approved, review,
            len(books), review, _CompletionMetadata(model, duration, model, duration), books, canceled,
        )
        await job.finish("canceled" if canceled else "complete", payload, expires_at=expires_at, result=stored)

    def results_data(self, results: JobResults) -> msgspec.Raw:
        return msgspec.Raw(results.result or b"{}")


def _photo_summary(photo: PhotoResult) -> dict[str, Any]:
    if photo.status == "complete":
        return {"index": photo.index, "status": "complete", "booksFound": len(photo.books)}
    return {"index": photo.index, "status": "error", "error": photo.error}


def _dedupe(books: list[ScanBook]) -> list[ScanBook]:
    """One entry per book across photos (reference §9.1.3): ISBN, else title + author; the higher confidence
    wins, in first-seen order."""
    kept: dict[str, int] = {}
    out: list[ScanBook] = []
    for book in books:
        key = f"isbn:{book.isbn}" if book.isbn else f"{title_key(book.title)}::{author_key(book.author)}"
        at = kept.get(key)
        if at is None:
            kept[key] = len(out)
            out.append(book)
        elif book.confidence > out[at].confidence:
            out[at] = book
    return out
