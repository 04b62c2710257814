"""LibraryThing's export, as CSV or tab-separated text, in both header generations.

Current exports: ``Book Id``, ``Title``, ``Primary Author`` ("Last, First"), ``Secondary Author`` and
``Secondary Author Roles`` (``|``-separated), ``Publication`` ("Publisher (1995), Edition: …"), ``Date``
(publication year), ``Rating`` (half stars allowed), ``Page Count``, ``Date Started``, ``Date Read``,
``Entry Date``, ``Tags``, ``Collections``, ``Media``, ``ISBN`` (``[0345391802]``), ``ISBNs``
(``9780345391803, 0345391802``), ``LCCN``, ``OCLC``, ``Work id``, …. Older tab-delimited exports quote
their header names in capitals (``'TITLE'``, ``'AUTHOR (last, first)'``, ``'PUBLICATION INFO'``,
``'ENTRY DATE'``). The status comes from ``Collections`` (Currently reading, To read, Wishlist, Read but
unowned …), else "read" when a read date is set. Collections and tags are both kept as ``shelves``.
"""

from __future__ import annotations

import re
from typing import Final

from bookstrack.imports.cells import (
    flip_name,
    parse_date,
    parse_int,
    parse_rating,
    parse_status,
    parse_year,
    split_list,
    text,
)
from bookstrack.imports.columns import Columns
from bookstrack.imports.formats.base import FormatSpec, RowReader, signature_score
from bookstrack.imports.model import Contributor, ImportRow, Status
from bookstrack.imports.repair import best_of

__all__ = ["HEADER", "SPEC"]

HEADER: Final = [
    "Book Id", "Title", "Sort Character", "Primary Author", "Primary Author Role", "Secondary Author",
    "Secondary Author Roles", "Publication", "Date", "Review", "Rating", "Comment", "Private Comment", "Summary",
    "Media", "Physical Description", "Weight", "Height", "Thickness", "Length", "Dimensions", "Page Count",
    "LCCN", "Acquired", "Date Started", "Date Read", "Barcode", "BCID", "Tags", "Collections", "Languages",
    "Original Languages", "LC Classification", "ISBN", "ISBNs", "Subjects", "Dewey Decimal", "Dewey Wording",
    "Other Call Number", "Copies", "Source", "Entry Date", "From Where", "OCLC", "Work id", "Lending Patron",
    "Lending Status", "Lending Start", "Lending End",
]

_REQUIRED: Final = frozenset({"title"})
_DISTINCTIVE: Final = frozenset({
    "primary author", "primary author role", "secondary author", "secondary author roles", "sort character",
    "lc classification", "dewey decimal", "dewey wording", "work id", "bcid", "collections", "isbns",
    "entry date", "from where", "private comment", "physical description", "lending patron", "other call number",
    "author (last, first)", "author (first, last)", "publication info", "lcc", "ddc",
})
_ISBN_SPLIT: Final = re.compile(r"[\s,;|\[\]]+")
_PUBLISHER_END: Final = re.compile(r"\s*[(,;]")
# Collections that say something about reading, in order of precedence.
_COLLECTION_ORDER: Final[tuple[Status, ...]] = ("currently-reading", "did-not-finish", "read", "to-read")


def score(columns: Columns) -> int:
    return signature_score(columns, _REQUIRED, _DISTINCTIVE, 2)


def isbn_cells(*cells: str) -> list[str]:
    """The ISBN candidates of ``[0345391802]`` / ``9780345391803, 0345391802`` cells, in order."""
    return [part for cell in cells for part in _ISBN_SPLIT.split(cell) if part]


def publisher(cell: str) -> str | None:
    """``"Del Rey (1995), Edition: 1st, Paperback"`` → ``"Del Rey"``."""
    return text(_PUBLISHER_END.split(cell, maxsplit=1)[0])


def _status(collections: list[str], date_read: str | None) -> tuple[Status | None, str | None]:
    found = {parse_status(name): name for name in collections}
    for status in _COLLECTION_ORDER:
        if status in found:
            return status, found[status]
    return ("read", None) if date_read else (None, None)


def make_reader(columns: Columns, rows: list[list[str]]) -> RowReader:
    p = columns.pick
    c_id, c_title, c_primary, c_first_last, c_secondary, c_roles = (
        p("book id"), p("title"), p("primary author", "author (last, first)", "author"), p("author (first, last)"),
        p("secondary author"), p("secondary author roles"))
    c_publication, c_date, c_review, c_rating, c_media, c_pages = (
        p("publication", "publication info"), p("date"), p("review"), p("rating"), p("media"), p("page count"))
    c_started, c_read, c_entry, c_tags, c_collections = (
        p("date started"), p("date read"), p("entry date"), p("tags"), p("collections"))
    c_isbn, c_isbns, c_lccn, c_oclc, c_work = p("isbn"), p("isbns"), p("lccn"), p("oclc"), p("work id")

    def read(cells: list[str], row: int, line: int) -> ImportRow:
        isbn = best_of(isbn_cells(cells[c_isbn], cells[c_isbns]))
        names = [flip_name(name) for name in split_list(cells[c_secondary], "|")]
        roles = split_list(cells[c_roles], "|")
        secondary = [Contributor(name, roles[i] if i < len(roles) else "") for i, name in enumerate(names)]
        rating, exact = parse_rating(cells[c_rating])
        collections = split_list(cells[c_collections])
        date_read = parse_date(cells[c_read])
        status, shelf = _status(collections, date_read)
        identifiers = {
            key: value for key, value in (
                ("librarything_work", cells[c_work].strip()), ("lccn", cells[c_lccn].strip()),
                ("oclc", cells[c_oclc].strip()),
            ) if value
        }
        return ImportRow(
            row=row,
            line=line,
            title=cells[c_title].strip(),
            author=flip_name(cells[c_primary]) or cells[c_first_last].strip(),
            additional_authors=[c.name for c in secondary if c.role.casefold() in ("", "author")],
            contributors=[c for c in secondary if c.role.casefold() not in ("", "author")],
            isbn=isbn.isbn,
            isbn13=isbn.isbn13,
            isbn_note=isbn.note,
            status=status,
            shelf=shelf,
            shelves=collections + split_list(cells[c_tags]),
            rating=rating,
            rating_exact=exact,
            date_read=date_read,
            date_started=parse_date(cells[c_started]),
            date_added=parse_date(cells[c_entry]),
            review=text(cells[c_review]),
            publisher=publisher(cells[c_publication]),
            publication_year=parse_year(cells[c_date]),
            page_count=parse_int(cells[c_pages]) or None,
            binding=text(cells[c_media]),
            librarything_id=text(cells[c_id]),
            identifiers=identifiers,
        )

    return read


SPEC: Final = FormatSpec("librarything", score, make_reader)
