"""The StoryGraph's library export CSV.

``Authors`` is a comma-separated list in "First Last" order (the first is the primary author);
``Contributors`` holds ``Name (Role)`` items (``Jane Doe (Translator), John Roe (Illustrator)``);
``ISBN/UID`` is an ISBN, or StoryGraph's own id for an edition without one (kept as ``uid``); ``Read
Status`` is read | currently-reading | to-read | did-not-finish | paused (paused reads as
currently-reading, ``shelf`` keeps "paused"); ``Star Rating`` may be fractional (``4.25``); dates are
``YYYY/MM/DD``; ``Dates Read`` is a list of ``start-end`` ranges, used when ``Last Date Read`` is blank.
"""

from __future__ import annotations

import re
from typing import Final

from bookstrack.imports.cells import (
    parse_date,
    parse_int,
    parse_rating,
    parse_status,
    split_list,
    split_top_level,
    text,
    unwrap,
    yes_no,
)
from bookstrack.imports.columns import Columns
from bookstrack.imports.formats.base import FormatSpec, RowReader, signature_score
from bookstrack.imports.model import Contributor, ImportRow
from bookstrack.imports.repair import NO_ISBN, IsbnReading, read_isbn

__all__ = ["HEADER", "SPEC"]

HEADER: Final = [
    "Title", "Authors", "Contributors", "ISBN/UID", "Format", "Read Status", "Date Added", "Last Date Read",
    "Dates Read", "Read Count", "Moods", "Pace", "Character- or Plot-Driven?", "Strong Character Development?",
    "Loveable Characters?", "Diverse Characters?", "Flawed Characters?", "Star Rating", "Review",
    "Content Warnings", "Content Warning Description", "Tags", "Owned?",
]

_REQUIRED: Final = frozenset({"title"})
_DISTINCTIVE: Final = frozenset({
    "isbn/uid", "read status", "star rating", "moods", "pace", "last date read", "dates read",
    "character or plot driven?", "contributors", "content warnings", "content warning description", "owned?",
    "strong character development?", "loveable characters?", "diverse characters?", "flawed characters?",
})
_ROLE: Final = re.compile(r"(.*?)\s*\(([^()]*)\)\s*$")
_ISBNISH: Final = re.compile(r"[\d\s\-.,Xx+Ee=\"]+")


def score(columns: Columns) -> int:
    return signature_score(columns, _REQUIRED, _DISTINCTIVE, 2)


def contributors(cell: str) -> list[Contributor]:
    """``"Jane Doe (Translator), John Roe"`` → ``[Contributor("Jane Doe", "Translator"), Contributor("John Roe")]``."""
    found = []
    for item in split_top_level(cell):
        m = _ROLE.match(item)
        found.append(Contributor(m[1], m[2].strip()) if m and m[1] else Contributor(item))
    return found


def isbn_or_uid(cell: str) -> tuple[IsbnReading, str | None]:
    """An ISBN-looking cell is read as an ISBN; anything else is StoryGraph's own id."""
    cell = unwrap(cell)
    if not cell:
        return NO_ISBN, None
    if _ISBNISH.fullmatch(cell):
        return read_isbn(cell), None
    return NO_ISBN, cell


def _last_read(cell: str) -> str | None:
    ranges = split_list(cell)
    if not ranges:
        return None
    last = ranges[-1].rsplit("-", 1)[-1] if "/" in ranges[-1] else ranges[-1]
    return parse_date(last)


def make_reader(columns: Columns, rows: list[list[str]]) -> RowReader:
    p = columns.pick
    c_title, c_authors, c_contributors, c_isbn, c_format = (
        p("title"), p("authors", "author"), p("contributors"), p("isbn/uid", "isbn"), p("format"))
    c_status, c_added, c_last, c_dates, c_count = (
        p("read status"), p("date added"), p("last date read"), p("dates read"), p("read count"))
    c_rating, c_review, c_tags, c_owned = p("star rating"), p("review"), p("tags"), p("owned?")

    def read(cells: list[str], row: int, line: int) -> ImportRow:
        authors = split_list(cells[c_authors])
        isbn, uid = isbn_or_uid(cells[c_isbn])
        rating, exact = parse_rating(cells[c_rating])
        shelf = text(cells[c_status])
        return ImportRow(
            row=row,
            line=line,
            title=cells[c_title].strip(),
            author=authors[0] if authors else "",
            additional_authors=authors[1:],
            contributors=contributors(cells[c_contributors]),
            isbn=isbn.isbn,
            isbn13=isbn.isbn13,
            isbn_note=isbn.note,
            status=parse_status(shelf) if shelf else None,
            shelf=shelf,
            shelves=split_list(cells[c_tags]),
            rating=rating,
            rating_exact=exact,
            date_read=parse_date(cells[c_last]) or _last_read(cells[c_dates]),
            date_added=parse_date(cells[c_added]),
            read_count=parse_int(cells[c_count]),
            owned=yes_no(cells[c_owned]),
            review=text(cells[c_review]),
            binding=text(cells[c_format]),
            uid=uid,
        )

    return read


SPEC: Final = FormatSpec("storygraph", score, make_reader)
