"""The batch-enrichment pipeline (API.md §4, reference §3.3.1, §8.7.2–8.8 with their FIXes).

Owns the job's shape: its input (the validated books), a bounded worker pool per job under the runner's
process-wide cap, one committed result per book (``EnrichedBook``, reference §5.5) with progress whose
``currentItem`` is the title, and the completion payload — a superset that the snapshot-era iOS client
(top-level counts and ``enrichedBooks``, clients.md §4.3) and later clients (``summary``, ``resultsUrl``,
``expiresAt``) both decode, with no ai_scan keys. The results route's document is ``{enrichedBooks,
summary}``. Per-book work is ``BookEnricher``'s; this module must not call providers itself.
"""

from __future__ import annotations

import logging

import msgspec
import trio

from actors.job import JobResults
from bookstrack.books.dto import AuthorDTO, EditionDTO, WorkDTO
from bookstrack.pipelines.completion import Summary, expires_iso, resource_id, results_url
from bookstrack.pipelines.enrich_book import BookEnricher, BookInput, Outcome
from bookstrack.pipelines.runner import JobContext

__all__ = ["EnrichmentInput", "EnrichedBook", "EnrichmentPipeline", "PIPELINE", "NOT_FOUND"]

log = logging.getLogger("bookstrack.pipelines.enrichment")

PIPELINE = "batch_enrichment"
NOT_FOUND = "Book not found in any provider"


class EnrichmentInput(msgspec.Struct):
    books: list[BookInput]


class EnrichedData(msgspec.Struct, omit_defaults=True):
    work: WorkDTO
    authors: list[AuthorDTO]
    edition: EditionDTO | None = None


class EnrichedBook(msgspec.Struct, omit_defaults=True):
    """One book's result: found (``enriched``), not found (``error``), or failed (``enrichmentError``)."""

    title: str
    success: bool
    author: str | None = None
    isbn: str | None = None
    error: str | None = None
    enriched: EnrichedData | None = None
    enrichmentError: str | None = None  # noqa: N815 - wire name


class _Complete(msgspec.Struct):
    type: str
    pipeline: str
    summary: Summary
    resultsUrl: str  # noqa: N815 - wire names
    expiresAt: str  # noqa: N815
    totalProcessed: int  # noqa: N815
    successCount: int  # noqa: N815
    failureCount: int  # noqa: N815
    duration: int
    enrichedBooks: list[msgspec.Raw]  # noqa: N815
    canceled: bool


class _Results(msgspec.Struct):
    enrichedBooks: list[msgspec.Raw]  # noqa: N815 - wire names
    summary: msgspec.Raw


class EnrichmentPipeline:
    name = PIPELINE
    error_code = "E_BATCH_PROCESSING_FAILED"
    throttle = (5, 10.0)

    def __init__(self, enricher: BookEnricher) -> None:
        self.enricher = enricher

    async def run(self, job: JobContext) -> None:
        books = msgspec.json.decode(job.input, type=EnrichmentInput).books
        pending = iter([i for i in range(len(books)) if i not in job.done])

        async def worker() -> None:
            for index in pending:  # shared: each index is taken by exactly one worker
                if job.canceled:
                    return
                book = books[index]
                async with job.items:
                    result = await self._one(book)
                suffix = " [failed]" if result.enrichmentError else ""
                await job.item_done(index, result, success=result.success,
                                    status=f"Enriching ({{processed}}/{{total}}): {book.title}{suffix}",
                                    current_item=book.title)

        async with trio.open_nursery() as nursery:
            for _ in range(min(job.config.workers_per_job, len(books) - len(job.done))):
                nursery.start_soon(worker)

    async def _one(self, book: BookInput) -> EnrichedBook:
        base = {"title": book.title, "author": book.author, "isbn": book.isbn}
        try:
            found = await self.enricher.enrich(book)
        except Exception as exc:  # one book's failure is that book's result, never the job's
            log.exception("enriching %r failed", book.title)
            return EnrichedBook(**base, success=False, error=str(exc), enrichmentError=str(exc) or type(exc).__name__)
        if found.outcome is Outcome.FOUND and found.enriched is not None:
            e = found.enriched
            return EnrichedBook(**base, success=True, enriched=EnrichedData(e.work, e.authors, e.edition))
        if found.outcome is Outcome.PROVIDER_ERROR:
            message = f"Provider error: {found.error}"
            return EnrichedBook(**base, success=False, error=message, enrichmentError=message)
        return EnrichedBook(**base, success=False, error=NOT_FOUND)

    async def finish(self, job: JobContext, *, canceled: bool) -> None:
        results = await job.results()
        state = results.state
        expires_at = job.expires_at()
        summary = Summary(
            totalProcessed=state.processed_count, successCount=state.success_count,
            failureCount=state.failure_count, duration=job.duration_ms(), resourceId=resource_id(job.job_id),
            canceled=canceled,
        )
        payload = _Complete(
            "job_complete", PIPELINE, summary, results_url(PIPELINE, job.job_id), expires_iso(expires_at),
            summary.totalProcessed, summary.successCount, summary.failureCount, summary.duration,
            [msgspec.Raw(item) for item in results.items], canceled,
        )
        await job.finish("canceled" if canceled else "complete", payload, expires_at=expires_at,
                         result=summary)

    def results_data(self, results: JobResults) -> _Results:
        # The stored result document is the summary.
        return _Results([msgspec.Raw(item) for item in results.items], msgspec.Raw(results.result or b"{}"))
