"""A strict mirror of what the iOS client decodes (clients.md §4.1–4.2), for tests to decode our JSON with.

Written from the client's rules, not from ``bookstrack.books.dto``, so drift on either side shows up:
enum values are spelled out here; integers are ``int`` (msgspec rejects ``1.0`` for ``int``); unknown keys
are ignored, as the client ignores them. Stricter than the client on purpose: the arrays the client
would default by hand, and the enum fields it would default when missing, are required here, because our
contract (API.md §2) always sends them. Optional fields accept ``null`` (the client does); tests that
forbid ``null`` check the raw JSON separately (``assert_no_null``).
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import msgspec

T = TypeVar("T")

EditionFormat = Literal["Hardcover", "Paperback", "E-book", "Audiobook", "Mass Market"]
AuthorGender = Literal["Female", "Male", "Non-binary", "Other", "Unknown"]
CulturalRegion = Literal[
    "Africa",
    "Asia",
    "Europe",
    "North America",
    "South America",
    "Oceania",
    "Middle East",
    "Caribbean",
    "Central Asia",
    "Indigenous",
    "International",
]
ReviewStatus = Literal["verified", "needsReview", "userEdited"]
DataProvider = Literal["google-books", "openlibrary", "isbndb", "gemini"]


class BoundingBox(msgspec.Struct):
    x: float
    y: float
    width: float
    height: float


class Work(msgspec.Struct):
    title: str
    subjectTags: list[str]
    goodreadsWorkIDs: list[str]
    amazonASINs: list[str]
    librarythingIDs: list[str]
    googleBooksVolumeIDs: list[str]
    isbndbQuality: int
    reviewStatus: ReviewStatus
    originalLanguage: str | None = None
    firstPublicationYear: int | None = None
    description: str | None = None
    coverImageURL: str | None = None
    synthetic: bool | None = None
    primaryProvider: DataProvider | None = None
    contributors: list[DataProvider] | None = None
    openLibraryID: str | None = None
    openLibraryWorkID: str | None = None
    isbndbID: str | None = None
    googleBooksVolumeID: str | None = None
    goodreadsID: str | None = None
    lastISBNDBSync: str | None = None
    originalImagePath: str | None = None
    boundingBox: BoundingBox | None = None


class Edition(msgspec.Struct):
    isbns: list[str]
    format: EditionFormat
    amazonASINs: list[str]
    googleBooksVolumeIDs: list[str]
    librarythingIDs: list[str]
    isbndbQuality: int
    isbn: str | None = None
    title: str | None = None
    publisher: str | None = None
    publicationDate: str | None = None
    pageCount: int | None = None
    coverImageURL: str | None = None
    editionTitle: str | None = None
    editionDescription: str | None = None
    language: str | None = None
    primaryProvider: DataProvider | None = None
    contributors: list[DataProvider] | None = None
    openLibraryID: str | None = None
    openLibraryEditionID: str | None = None
    isbndbID: str | None = None
    googleBooksVolumeID: str | None = None
    goodreadsID: str | None = None
    lastISBNDBSync: str | None = None


class Author(msgspec.Struct):
    name: str
    gender: AuthorGender
    culturalRegion: CulturalRegion | None = None
    nationality: str | None = None
    birthYear: int | None = None
    deathYear: int | None = None
    openLibraryID: str | None = None
    isbndbID: str | None = None
    googleBooksID: str | None = None
    goodreadsID: str | None = None
    bookCount: int | None = None


class BookSearch(msgspec.Struct):
    """``data`` of the ``/v1`` search routes; ``works[i]`` pairs with ``editions[i]``."""

    works: list[Work]
    editions: list[Edition]
    authors: list[Author]


class Metadata(msgspec.Struct):
    timestamp: str
    traceId: str | None = None
    processingTime: int | None = None
    provider: str | None = None
    cached: bool | None = None


class ErrorBody(msgspec.Struct):
    message: str
    code: str | None = None
    details: Any = None


class Envelope(msgspec.Struct, Generic[T]):
    data: T | None
    metadata: Metadata
    error: ErrorBody | None = None


# -- WebSocket frames and completions (clients.md §3.1, §3.4, §4.3) ------------------------------------

FrameType = Literal["ready_ack", "reconnected", "job_started", "job_progress", "job_complete", "error", "ping", "pong"]
Pipeline = Literal["batch_enrichment", "csv_import", "ai_scan"]


class Frame(msgspec.Struct):
    """The unified envelope every iOS flow decodes: ``pipeline`` non-null, ``timestamp`` an integer."""

    type: FrameType
    jobId: str
    pipeline: Pipeline
    timestamp: int
    version: str
    payload: dict[str, Any]
    seq: int  # ours (API.md §4); the client ignores it


class EnrichedPayload(msgspec.Struct):
    work: Work
    authors: list[Author]
    edition: Edition | None = None


class EnrichedBook(msgspec.Struct):
    title: str
    success: bool
    author: str | None = None
    isbn: str | None = None
    error: str | None = None
    enriched: EnrichedPayload | None = None


class EnrichmentComplete(msgspec.Struct):
    """What the snapshot-era client decodes (clients.md §4.3)."""

    type: str
    pipeline: str
    totalProcessed: int
    successCount: int
    failureCount: int
    duration: int
    enrichedBooks: list[EnrichedBook]


class CompletionSummary(msgspec.Struct):
    totalProcessed: int
    successCount: int
    failureCount: int
    duration: int
    resourceId: str | None = None
    totalDetected: int | None = None
    approved: int | None = None
    needsReview: int | None = None


class SummaryComplete(msgspec.Struct):
    """What later clients decode (clients.md §3.4): ``summary`` and ``expiresAt``."""

    type: str
    pipeline: str
    summary: CompletionSummary
    expiresAt: str


class AiScanComplete(msgspec.Struct):
    """The shape the client tries first; an enrichment completion must *not* decode as this."""

    type: str
    pipeline: str
    total_detected: int
    approved: int
    needs_review: int


class Corners(msgspec.Struct):
    x1: float
    y1: float
    x2: float
    y2: float


class ScanEnrichment(msgspec.Struct):
    status: str
    work: Work | None = None
    editions: list[Edition] | None = None
    authors: list[Author] | None = None
    provider: str | None = None
    cachedResult: bool | None = None


class ScanBook(msgspec.Struct):
    title: str
    author: str
    confidence: float
    boundingBox: Corners  # required (clients.md §4.4)
    isbn: str | None = None
    format: str | None = None
    enrichment: ScanEnrichment | None = None


class ScanMetadata(msgspec.Struct):
    processingTime: int
    enrichedCount: int
    timestamp: str
    modelUsed: str


class ScanResults(msgspec.Struct):
    """``data`` of the scan results routes (clients.md §4.4)."""

    totalDetected: int
    approved: int
    needsReview: int
    books: list[ScanBook]
    metadata: ScanMetadata


class AiScanCompleteFull(msgspec.Struct):
    """The snapshot-era AI-scan completion with its optional fields (clients.md §4.4)."""

    type: str
    pipeline: str
    total_detected: int
    approved: int
    needs_review: int
    results_url: str | None = None
    books: list[ScanBook] | None = None
    metadata: dict[str, Any] | None = None


class CsvBook(msgspec.Struct):
    title: str
    author: str
    isbn: str | None = None
    coverUrl: str | None = None
    publisher: str | None = None
    publicationYear: int | None = None
    enrichmentError: str | None = None


class CsvError(msgspec.Struct):
    title: str
    error: str


class CsvComplete(msgspec.Struct):
    """The CSV completion the snapshot-era client decodes (clients.md §4.5)."""

    type: str
    pipeline: str
    books: list[CsvBook]
    errors: list[CsvError]
    successRate: str


def decode(data: bytes, type: Any) -> Any:
    """Decode ``data`` as the client would (raises ``msgspec.ValidationError`` where the client throws)."""
    return msgspec.json.decode(data, type=type)


def assert_no_null(value: Any, path: str = "$") -> None:
    """Fail if ``null`` appears anywhere in decoded JSON ``value`` (DTOs never carry ``null``)."""
    assert value is not None, f"null at {path}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_null(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_no_null(item, f"{path}[{i}]")


def assert_search_response(body: bytes) -> BookSearch:
    """Decode a ``/v1`` search envelope strictly and check ``works[i]``↔``editions[i]`` line up."""
    envelope = decode(body, Envelope[BookSearch])
    assert envelope.data is not None
    assert len(envelope.data.works) == len(envelope.data.editions)
    assert_no_null(msgspec.json.decode(body)["data"], "$.data")
    return envelope.data
