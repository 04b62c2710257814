"""The CSV-import pipeline (``csv_import``; API.md §4, §8; reference §3.5, §9.2 with their FIXes).

Owns the job's shape. The uploaded file (in the blob store) is decoded and parsed deterministically on a
worker thread (``bookstrack/imports``); only a layout no parser recognises goes to Gemini, and only with a
key, in chunks of rows that fit the model's output. The parsed rows are kept beside the upload, so a
resumed job reads the same rows. Each row is one item: a row with a title is looked up (ISBN first, then
title + author, matched conservatively: a wrong match is worse than none) and ends imported (with the
matched record) or not matched (``enrichmentError``); a row that could not be read or has no title ends in
``errors`` with its reason. The results document is ``{books, errors, successRate, timestamp}`` with every
titled row in file order; the completion payload carries ``summary``, ``resultsUrl``, ``expiresAt`` and the
client's ``books``/``errors``/``successRate`` (``books`` capped at 512 KiB of JSON in the frame,
``truncated: true`` beyond). No ai_scan keys.

It must not parse HTTP or touch providers other than through the search service and the Gemini client.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
import trio

from actors.job import JobResults
from bookstrack.books.dto import AuthorDTO, EditionDTO, WorkDTO
from bookstrack.errors import ProviderError
from bookstrack.imports import parse_export
from bookstrack.imports.chunks import csv_chunks
from bookstrack.imports.decode import decode
from bookstrack.imports.errors import EmptyExport, ExportError, UnknownLayout
from bookstrack.imports.model import ImportRow
from bookstrack.offload import CpuOffload
from bookstrack.pipelines.completion import Summary, expires_iso, resource_id, results_url
from bookstrack.pipelines.enrich_book import BookEnricher, BookInput, Outcome
from bookstrack.pipelines.jobs import JobService
from bookstrack.pipelines.runner import JobContext, PipelineFailed
from bookstrack.providers.gemini import CSV_ROWS_PER_CALL
from bookstrack.store.blobs import BlobStore

__all__ = [
    "CsvInput", "CsvImportPipeline", "CsvResults", "PIPELINE", "upload_key", "rows_key", "start_import",
    "FRAME_BOOKS_LIMIT",
]

log = logging.getLogger("bookstrack.pipelines.csv_import")

PIPELINE = "csv_import"
ERROR_CODE = "E_CSV_PROCESSING_FAILED"
FRAME_BOOKS_LIMIT = 512 * 1024  # bytes of ``books`` JSON in the completion frame (API.md §4)
NOT_MATCHED = "No match found in any provider"


async def start_import(jobs: JobService, blobs: BlobStore, data: bytes, *, filename: str = "",
                       format: str = "auto", job_id: str | None = None) -> tuple[str, str]:
    """Store the upload and start its job: (job id, token). The route and ``bookstrack import`` share it."""
    job_id = job_id or str(uuid.uuid4())
    key = upload_key(job_id)
    await blobs.put(key, data, content_type="text/csv")
    started = await jobs.start(job_id, PIPELINE, CsvInput(key, filename, format), total=0)
    return job_id, started.token


def upload_key(job_id: str) -> str:
    return f"imports/job-{job_id}/upload"


def rows_key(job_id: str) -> str:
    return f"imports/job-{job_id}/rows.json"


class CsvInput(msgspec.Struct):
    key: str  # the upload in the blob store
    filename: str = ""
    format: str = "auto"


class Row(msgspec.Struct, omit_defaults=True):
    """One data row as the job works on it: a readable row, or the reason it is not."""

    row: int
    title: str = ""
    author: str = ""
    isbn: str | None = None
    isbn13: str | None = None
    isbn_note: str | None = None
    error: str | None = None  # unreadable, or no title: goes to ``errors``
    reading: dict[str, Any] = msgspec.field(default_factory=dict)  # the row's own reading fields
    ids: dict[str, str] = msgspec.field(default_factory=dict)


class ParsedRows(msgspec.Struct):
    format: str
    encoding: str
    rows: list[Row]


class Matched(msgspec.Struct, omit_defaults=True):
    work: WorkDTO
    authors: list[AuthorDTO]
    edition: EditionDTO | None = None


class ImportedBook(msgspec.Struct, omit_defaults=True):
    """A titled row in the flat shape of clients.md §4.5, plus the row number, the row's reading fields
    and the matched record."""

    title: str
    author: str
    row: int
    isbn: str | None = None
    coverUrl: str | None = None  # noqa: N815 - wire names
    publisher: str | None = None
    publicationYear: int | None = None  # noqa: N815
    enrichmentError: str | None = None  # noqa: N815
    isbnNote: str | None = None  # noqa: N815
    status: str | None = None
    shelf: str | None = None
    shelves: list[str] | None = None
    rating: int | None = None
    dateRead: str | None = None  # noqa: N815
    dateAdded: str | None = None  # noqa: N815
    matched: Matched | None = None


class RowProblem(msgspec.Struct):
    row: int
    title: str
    error: str


class _Item(msgspec.Struct, omit_defaults=True):
    book: ImportedBook | None = None
    problem: RowProblem | None = None


class CsvResults(msgspec.Struct):
    books: list[msgspec.Raw]
    errors: list[RowProblem]
    successRate: str  # noqa: N815
    timestamp: int  # ms
    format: str
    encoding: str
    imported: int
    notMatched: int  # noqa: N815


class _Complete(msgspec.Struct, omit_defaults=True):
    type: str
    pipeline: str
    summary: Summary
    resultsUrl: str  # noqa: N815
    expiresAt: str  # noqa: N815
    books: list[msgspec.Raw]
    errors: list[RowProblem]
    successRate: str  # noqa: N815
    canceled: bool
    truncated: bool = False


def _row(parsed: ImportRow) -> Row:
    reading = {
        "status": parsed.status, "shelf": parsed.shelf, "shelves": parsed.shelves or None,
        "rating": parsed.rating, "dateRead": parsed.date_read, "dateAdded": parsed.date_added,
    }
    ids = {k: v for k, v in (("goodreads", parsed.goodreads_id), ("openlibrary", parsed.openlibrary_id),
                             ("google_books", parsed.google_books_id)) if v}
    return Row(row=parsed.row, title=parsed.title, author=parsed.author, isbn=parsed.isbn, isbn13=parsed.isbn13,
               isbn_note=parsed.isbn_note, reading={k: v for k, v in reading.items() if v is not None}, ids=ids)


def parse_rows(data: bytes, format: str) -> ParsedRows:
    """The deterministic parse (a worker thread runs this): every data row, readable or not, in order."""
    parsed = parse_export(data, format)
    rows = [_row(r) for r in parsed.rows] + [Row(row=e.row, title=e.title, error=e.error) for e in parsed.errors]
    rows.sort(key=lambda r: r.row)
    return ParsedRows(parsed.format, parsed.encoding, rows)


class CsvImportPipeline:
    name = PIPELINE
    error_code = ERROR_CODE
    throttle = (20, 30.0)  # reference §4.8

    def __init__(self, enricher: BookEnricher, blobs: BlobStore, offload: CpuOffload, gemini: Any) -> None:
        self.enricher = enricher
        self.blobs = blobs
        self.offload = offload
        self.gemini = gemini

    async def _parsed(self, job: JobContext) -> ParsedRows:
        stored = await self.blobs.get(rows_key(job.job_id))
        if stored is not None:  # a resumed job reads the rows it was working on
            return msgspec.json.decode(stored.data, type=ParsedRows)
        spec = msgspec.json.decode(job.input, type=CsvInput)
        upload = await self.blobs.get(spec.key)
        if upload is None:
            raise PipelineFailed(ERROR_CODE, "The uploaded file is no longer stored")
        await job.progress(0.02, "Reading CSV file...", processed=0)
        try:
            parsed = await self.offload.run(parse_rows, upload.data, spec.format)
        except UnknownLayout as exc:
            if spec.format != "auto":  # the user named a layout and the file is not it: say so
                raise PipelineFailed(ERROR_CODE, f"Invalid CSV: {exc}") from None
            parsed = await self._with_gemini(job, upload.data, str(exc))
        except EmptyExport:
            raise PipelineFailed(ERROR_CODE, "Invalid CSV: CSV file is empty") from None
        except ExportError as exc:
            raise PipelineFailed(ERROR_CODE, f"Invalid CSV: {exc}") from None
        await self.blobs.put(rows_key(job.job_id), msgspec.json.encode(parsed), content_type="application/json")
        return parsed

    async def _with_gemini(self, job: JobContext, data: bytes, why: str) -> ParsedRows:
        if self.gemini is None or not self.gemini.configured:
            raise PipelineFailed(ERROR_CODE, f"Unrecognised CSV layout ({why}); no Gemini API key is configured to"
                                 " read it. Export from Goodreads, StoryGraph, LibraryThing or Calibre, or name"
                                 " the columns Title, Author and ISBN.")
        text, encoding = await self.offload.run(decode, data)
        chunks = await self.offload.run(csv_chunks, text, CSV_ROWS_PER_CALL)
        rows: list[Row] = []
        for number, chunk in enumerate(chunks):
            await job.progress(0.05 * (number + 1) / max(1, len(chunks)),
                               f"Reading an unrecognised layout with Gemini ({number + 1}/{len(chunks)})...",
                               processed=0)
            try:
                answer = await self.gemini.parse_csv(chunk)
            except ProviderError as exc:
                raise PipelineFailed(ERROR_CODE, f"Gemini could not read the CSV: {exc.message}") from None
            for found in answer.rows:
                title = (found.title or "").strip()
                row = len(rows) + 1
                if title:
                    rows.append(Row(row=row, title=title, author=(found.author or "").strip(),
                                    isbn=(found.isbn or None)))
                else:
                    rows.append(Row(row=row, error="No title"))
        return ParsedRows("gemini", encoding, rows)

    async def run(self, job: JobContext) -> None:
        parsed = await self._parsed(job)
        rows = parsed.rows
        if job.state.total_count != len(rows):
            await job.progress(0.05, f"Parsed {len(rows)} rows ({parsed.format}), matching books...",
                               processed=len(job.done), total=len(rows))
        pending = iter([i for i in range(len(rows)) if i not in job.done])

        async def worker() -> None:
            for index in pending:
                if job.canceled:
                    return
                row = rows[index]
                if row.error is not None:
                    item = _Item(problem=RowProblem(row.row, row.title, row.error))
                    status = f"Skipped row {row.row}: {row.error}"
                else:
                    async with job.items:
                        item = _Item(book=await self._match(row))
                    status = f"Imported ({{processed}}/{{total}}): {row.title}"
                await job.item_done(index, item, success=item.book is not None and item.book.matched is not None,
                                    status=status, current_item=row.title or f"Row {row.row}")

        async with trio.open_nursery() as nursery:
            for _ in range(min(job.config.workers_per_job, len(rows) - len(job.done))):
                nursery.start_soon(worker)

    async def _match(self, row: Row) -> ImportedBook:
        reading = row.reading
        base = ImportedBook(
            title=row.title, author=row.author, row=row.row, isbn=row.isbn13 or row.isbn, isbnNote=row.isbn_note,
            status=reading.get("status"), shelf=reading.get("shelf"), shelves=reading.get("shelves"),
            rating=reading.get("rating"), dateRead=reading.get("dateRead"), dateAdded=reading.get("dateAdded"),
        )
        isbn = row.isbn13 if row.isbn_note != "unrecoverable" else None
        try:
            found = await self.enricher.enrich(BookInput(title=row.title, author=row.author or None, isbn=isbn))
        except Exception as exc:  # one row's failure is that row's result
            log.exception("matching row %d failed", row.row)
            return msgspec.structs.replace(base, enrichmentError=str(exc) or type(exc).__name__)
        if found.outcome is Outcome.FOUND and found.enriched is not None:
            e = found.enriched
            edition = e.edition
            return msgspec.structs.replace(
                base, isbn=base.isbn or (edition.isbn if edition else None),
                coverUrl=e.work.coverImageURL or (edition.coverImageURL if edition else None),
                publisher=edition.publisher if edition else None,
                publicationYear=e.work.firstPublicationYear,
                matched=Matched(e.work, e.authors, edition),
            )
        error = f"Provider error: {found.error}" if found.outcome is Outcome.PROVIDER_ERROR else NOT_MATCHED
        return msgspec.structs.replace(base, enrichmentError=error)

    async def finish(self, job: JobContext, *, canceled: bool) -> None:
        parsed = await self._parsed(job)
        results = await job.results()
        items = [msgspec.json.decode(raw, type=_Item) for raw in results.items]
        books = [i.book for i in items if i.book is not None]
        problems = [i.problem for i in items if i.problem is not None]
        imported = sum(1 for b in books if b.matched is not None)
        encoded = [msgspec.Raw(msgspec.json.encode(b)) for b in books]
        expires_at = job.expires_at()
        rate = f"{len(books)}/{len(parsed.rows)}"
        summary = Summary(
            totalProcessed=len(items), successCount=imported, failureCount=len(items) - imported,
            duration=job.duration_ms(), resourceId=resource_id(job.job_id), canceled=canceled,
        )
        frame_books, size = [], 0
        for raw in encoded:
            size += len(raw) + 1
            if size > FRAME_BOOKS_LIMIT:
                break
            frame_books.append(raw)
        payload = _Complete(
            "job_complete", PIPELINE, summary, results_url(PIPELINE, job.job_id), expires_iso(expires_at),
            frame_books, problems, rate, canceled, truncated=len(frame_books) < len(encoded),
        )
        stored = CsvResults(encoded, problems, rate, int(job.clock.wall() * 1000), parsed.format, parsed.encoding,
                            imported, len(books) - imported)
        await job.finish("canceled" if canceled else "complete", payload, expires_at=expires_at, result=stored)
        spec = msgspec.json.decode(job.input, type=CsvInput)
        for key in (spec.key, rows_key(job.job_id)):  # the upload and its rows served their purpose
            try:
                await self.blobs.delete(key)
            except OSError:
                log.warning("import %s: could not delete %s", job.job_id, key, exc_info=True)

    def results_data(self, results: JobResults) -> msgspec.Raw:
        return msgspec.Raw(results.result or b"{}")
