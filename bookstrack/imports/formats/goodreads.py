"""Goodreads' "Export Library" CSV: 24 columns (31 in exports before 2020, which add purchase and condition
columns after Read Count). ISBN cells are spreadsheet formulas (``="0439023483"``, ``=""``); dates are
``YYYY/MM/DD``; ``My Rating`` 0 means unrated; ``Exclusive Shelf`` is read | currently-reading | to-read or
a custom exclusive shelf (``did-not-finish`` and the like are recognised, others give no status).
"""

from __future__ import annotations

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
    unwrap,
    yes_no,
)
from bookstrack.imports.columns import Columns
from bookstrack.imports.formats.base import FormatSpec, RowReader, signature_score
from bookstrack.imports.model import ImportRow
from bookstrack.imports.repair import best_of

__all__ = ["HEADER", "HEADER_2019", "SPEC"]

HEADER: Final = [
    "Book Id", "Title", "Author", "Author l-f", "Additional Authors", "ISBN", "ISBN13", "My Rating",
    "Average Rating", "Publisher", "Binding", "Number of Pages", "Year Published", "Original Publication Year",
    "Date Read", "Date Added", "Bookshelves", "Bookshelves with positions", "Exclusive Shelf", "My Review",
    "Spoiler", "Private Notes", "Read Count", "Owned Copies",
]
HEADER_2019: Final = [
    *HEADER[:23], "Recommended For", "Recommended By", "Owned Copies", "Original Purchase Date",
    "Original Purchase Location", "Condition", "Condition Description", "BCID",
]

_REQUIRED: Final = frozenset({"title"})
_DISTINCTIVE: Final = frozenset({
    "book id", "author l f", "additional authors", "isbn13", "my rating", "average rating", "exclusive shelf",
    "bookshelves", "bookshelves with positions", "owned copies", "year published", "original publication year",
    "number of pages", "my review", "private notes", "read count", "spoiler",
})


def score(columns: Columns) -> int:
    if not ("exclusive shelf" in columns or "bookshelves with positions" in columns or "author l f" in columns):
        return 0
    return signature_score(columns, _REQUIRED, _DISTINCTIVE, 3)


def make_reader(columns: Columns, rows: list[list[str]]) -> RowReader:
    p = columns.pick
    c_id, c_title, c_author, c_author_lf, c_more = (
        p("book id"), p("title"), p("author"), p("author l f"), p("additional authors"))
    c_isbn, c_isbn13, c_rating, c_publisher, c_binding = (
        p("isbn"), p("isbn13"), p("my rating"), p("publisher"), p("binding"))
    c_pages, c_year, c_original, c_read, c_added = (
        p("number of pages"), p("year published"), p("original publication year"), p("date read"), p("date added"))
    c_shelves, c_exclusive, c_review, c_count, c_owned = (
        p("bookshelves"), p("exclusive shelf"), p("my review"), p("read count"), p("owned copies"))

    def read(cells: list[str], row: int, line: int) -> ImportRow:
        isbn = best_of([unwrap(cells[c_isbn13]), unwrap(cells[c_isbn])])
        rating, exact = parse_rating(cells[c_rating])
        shelf = text(cells[c_exclusive])
        return ImportRow(
            row=row,
            line=line,
            title=cells[c_title].strip(),
            author=cells[c_author].strip() or flip_name(cells[c_author_lf]),
            additional_authors=split_list(cells[c_more]),
            isbn=isbn.isbn,
            isbn13=isbn.isbn13,
            isbn_note=isbn.note,
            status=parse_status(shelf) if shelf else None,
            shelf=shelf,
            shelves=split_list(cells[c_shelves]),
            rating=rating,
            rating_exact=exact,
            date_read=parse_date(cells[c_read]),
            date_added=parse_date(cells[c_added]),
            read_count=parse_int(cells[c_count]),
            owned=yes_no(cells[c_owned]),
            review=text(cells[c_review]),
            publisher=text(cells[c_publisher]),
            publication_year=parse_year(cells[c_year]) or parse_year(cells[c_original]),
            original_publication_year=parse_year(cells[c_original]),
            page_count=parse_int(cells[c_pages]) or None,
            binding=text(cells[c_binding]),
            goodreads_id=text(cells[c_id]),
        )

    return read


SPEC: Final = FormatSpec("goodreads", score, make_reader)
