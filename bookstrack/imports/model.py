"""The data an export parses into: one ``ImportRow`` per data row with a title, one ``RowError`` per row
that could not be read or has none, and the ``ParsedExport`` that holds them in file order.

Plain msgspec Structs and nothing else: no parsing, no validation beyond the types.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

__all__ = ["FORMATS", "Contributor", "ImportRow", "IsbnNote", "ParsedExport", "RowError", "Status"]

Format = Literal["goodreads", "storygraph", "librarything", "calibre", "generic"]
FORMATS: Final[tuple[Format, ...]] = ("goodreads", "storygraph", "librarything", "calibre", "generic")

Status = Literal["read", "currently-reading", "to-read", "did-not-finish"]

# None: the ISBN was read as written. "repaired": a spreadsheet dropped leading zeros and padding them back
# gave a valid check digit (or scientific notation still held every digit). "unrecoverable": the digits are
# gone (``9.78044E+12``); match the row by title and author. "invalid": an ISBN cell that is not a valid ISBN.
IsbnNote = Literal["repaired", "unrecoverable", "invalid"]


class Contributor(msgspec.Struct, frozen=True):
    """A secondary contributor with the role the export gave (``"Translator"``), or ``""`` if none."""

    name: str
    role: str = ""


class ImportRow(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One data row that has a title, with what its format says about the book and the reader."""

    row: int  # 1-based data-row number in file order (header and blank lines not counted)
    line: int  # physical line (1-based) where the row's record starts
    title: str
    author: str = ""  # primary author, "First Last"; "" when the export names none
    additional_authors: list[str] = msgspec.field(default_factory=list)
    contributors: list[Contributor] = msgspec.field(default_factory=list)
    isbn: str | None = None  # cleaned, as found: the ISBN-13 if the row has a usable one, else the ISBN-10
    isbn13: str | None = None  # canonical ISBN-13 when ``isbn`` is valid
    isbn_note: IsbnNote | None = None
    status: Status | None = None
    shelf: str | None = None  # the raw shelf / read-status text that ``status`` was read from
    shelves: list[str] = msgspec.field(default_factory=list)
    rating: int | None = None  # whole stars 1–5 (half up from a fractional rating); unrated is None
    rating_exact: float | None = None  # the rating in stars as the export gave it (4.5), when rated
    date_read: str | None = None  # ISO YYYY-MM-DD
    date_started: str | None = None
    date_added: str | None = None
    read_count: int | None = None
    owned: bool | None = None
    review: str | None = None
    publisher: str | None = None
    publication_year: int | None = None
    original_publication_year: int | None = None
    page_count: int | None = None
    binding: str | None = None  # format / media as the export names it ("Paperback", "audio")
    series: str | None = None
    goodreads_id: str | None = None
    openlibrary_id: str | None = None
    google_books_id: str | None = None
    librarything_id: str | None = None
    calibre_id: str | None = None
    uid: str | None = None  # a StoryGraph UID or a calibre uuid
    identifiers: dict[str, str] = msgspec.field(default_factory=dict)  # others: amazon, lccn, oclc …


class RowError(msgspec.Struct, kw_only=True):
    """A data row that could not be read, or has no title."""

    row: int
    title: str
    error: str


class ParsedExport(msgspec.Struct, kw_only=True):
    """A whole export: every data row ends in ``rows`` or ``errors`` (``total_rows`` = both together)."""

    format: Format
    encoding: str  # what the bytes were decoded as: utf-8, utf-8-sig, utf-16, cp1252
    delimiter: str
    header: list[str]  # as written (for a headerless export: the columns it was read with)
    rows: list[ImportRow]
    errors: list[RowError]
    total_rows: int
    headerless: bool = False
