"""The canonical book records the clients decode (reference §5): ``WorkDTO``, ``EditionDTO``,
``AuthorDTO`` and their enums, field for field, with the wire names as attribute names.

Invariant (API.md §2): encoding any of these with plain ``msgspec.json.encode`` (also nested inside an
envelope) never writes ``null`` and always writes every required field. Two mechanisms keep it:

* optional fields default to ``None`` and the structs set ``omit_defaults=True``, so an unknown value is
  omitted, never ``null``;
* required fields that have a default (the ID arrays, ``isbndbQuality``, ``reviewStatus``, ``format``,
  ``gender``) take it from ``_always()``: a ``default_factory`` msgspec cannot compare against, so
  ``omit_defaults`` never drops them (msgspec only recognises empty ``list``/``dict``/``set``/... built by
  the builtin type itself as defaults). ``tests/unit/test_books_dto.py`` pins this.

Enums are ``StrEnum``: msgspec encodes the value and rejects any other value when decoding, and the
values compare equal to plain strings. ``EditionFormat`` has no ``Other`` (a strict client rejects it).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import msgspec

__all__ = [
    "AuthorDTO",
    "AuthorGender",
    "BookRecord",
    "BoundingBox",
    "CulturalRegion",
    "DataProvider",
    "EditionDTO",
    "EditionFormat",
    "ReviewStatus",
    "WorkDTO",
    "WorkWithAuthors",
]


class EditionFormat(StrEnum):
    HARDCOVER = "Hardcover"
    PAPERBACK = "Paperback"
    EBOOK = "E-book"
    AUDIOBOOK = "Audiobook"
    MASS_MARKET = "Mass Market"


class AuthorGender(StrEnum):
    FEMALE = "Female"
    MALE = "Male"
    NON_BINARY = "Non-binary"
    OTHER = "Other"
    UNKNOWN = "Unknown"


class CulturalRegion(StrEnum):
    AFRICA = "Africa"
    ASIA = "Asia"
    EUROPE = "Europe"
    NORTH_AMERICA = "North America"
    SOUTH_AMERICA = "South America"
    OCEANIA = "Oceania"
    MIDDLE_EAST = "Middle East"
    CARIBBEAN = "Caribbean"
    CENTRAL_ASIA = "Central Asia"
    INDIGENOUS = "Indigenous"
    INTERNATIONAL = "International"


class ReviewStatus(StrEnum):
    VERIFIED = "verified"
    NEEDS_REVIEW = "needsReview"
    USER_EDITED = "userEdited"


class DataProvider(StrEnum):
    GOOGLE_BOOKS = "google-books"
    OPENLIBRARY = "openlibrary"
    ISBNDB = "isbndb"
    GEMINI = "gemini"


def _always(make: Callable[[], Any]) -> Any:
    """A default for a *required* field: built by a wrapper msgspec cannot see through, so the field is
    encoded even when it holds its default (empty array, 0, ``verified`` ...)."""
    return msgspec.field(default_factory=lambda: make())


def _empty() -> list[Any]:
    return []


class _DTO(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Shared configuration: keyword-only construction, ``None`` optionals omitted on the wire."""


class BoundingBox(_DTO):
    """Where a scanned book sits in its photo, as fractions of the image (0–1)."""

    x: float
    y: float
    width: float
    height: float


class WorkDTO(_DTO):
    """The abstract work (reference §5.2)."""

    title: str
    subjectTags: list[str] = _always(_empty)
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
    goodreadsWorkIDs: list[str] = _always(_empty)
    amazonASINs: list[str] = _always(_empty)
    librarythingIDs: list[str] = _always(_empty)
    googleBooksVolumeIDs: list[str] = _always(_empty)
    lastISBNDBSync: str | None = None
    isbndbQuality: int = _always(int)
    reviewStatus: ReviewStatus = _always(lambda: ReviewStatus.VERIFIED)
    originalImagePath: str | None = None
    boundingBox: BoundingBox | None = None


class EditionDTO(_DTO):
    """One manifestation of a work (reference §5.3)."""

    isbn: str | None = None
    isbns: list[str] = _always(_empty)
    title: str | None = None
    publisher: str | None = None
    publicationDate: str | None = None
    pageCount: int | None = None
    format: EditionFormat = _always(lambda: EditionFormat.PAPERBACK)
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
    amazonASINs: list[str] = _always(_empty)
    googleBooksVolumeIDs: list[str] = _always(_empty)
    librarythingIDs: list[str] = _always(_empty)
    isbndbQuality: int = _always(int)


class AuthorDTO(_DTO):
    """A person credited on a work (reference §5.4)."""

    name: str
    gender: AuthorGender = _always(lambda: AuthorGender.UNKNOWN)
    culturalRegion: CulturalRegion | None = None
    nationality: str | None = None
    birthYear: int | None = None
    deathYear: int | None = None
    openLibraryID: str | None = None
    isbndbID: str | None = None
    googleBooksID: str | None = None
    goodreadsID: str | None = None
    bookCount: int | None = None


class WorkWithAuthors(WorkDTO):
    """A work with its ``authors`` attached: the shape of batch-enrichment results (``enriched.work``) and
    the ``/external/*`` routes (reference §5.2, "internal/transient"). ``/v1`` search sends plain works."""

    authors: list[AuthorDTO] = _always(_empty)


class BookRecord(msgspec.Struct, kw_only=True):
    """What one provider says about one book: the unit that ``merge`` combines and the cache stores.

    ``work`` and ``edition`` describe the same item (they become ``works[i]`` and ``editions[i]``)."""

    work: WorkDTO
    edition: EditionDTO
    authors: list[AuthorDTO] = msgspec.field(default_factory=list)
