"""calibre's CSV catalog (Convert books → Create catalog → CSV), whose columns are calibre's field names:
``title``, ``authors`` (``"A & B"``), ``author_sort``, ``isbn``, ``identifiers``
(``isbn:978…,goodreads:123,google:abc,amazon:B00…``), ``publisher``, ``pubdate``, ``rating``, ``tags``,
``series``, ``series_index``, ``id``, ``uuid``, ``timestamp`` (date added), ``comments``, ``languages`` ….

Ratings: calibre stores 0–10 (half stars) in its database, and the CSV catalog writes them halved, as 0–5
stars (``4``, ``4.5``). So the column is read as stars, unless some cell of the file is above 5, in which
case the whole file is taken to be on calibre's internal 0–10 scale (a hand-made or ``calibredb list``
export). Dates are ISO with a time part; calibre's "undefined" publication date (year 101) reads as none.
calibre has no reading status; tags become ``shelves``.
"""

from __future__ import annotations

from typing import Final

from bookstrack.imports.cells import parse_date, parse_year, split_list, text
from bookstrack.imports.cells import parse_rating as _rating
from bookstrack.imports.columns import Columns
from bookstrack.imports.formats.base import FormatSpec, RowReader, signature_score
from bookstrack.imports.model import ImportRow
from bookstrack.imports.repair import best_isbn, read_isbn

__all__ = ["HEADER", "SPEC", "identifiers"]

HEADER: Final = [
    "author_sort", "authors", "comments", "cover", "formats", "id", "identifiers", "isbn", "languages",
    "library_name", "pubdate", "publisher", "rating", "series", "series_index", "size", "tags", "timestamp",
    "title", "title_sort", "uuid",
]

_REQUIRED: Final = frozenset({"title", "authors"})
_DISTINCTIVE: Final = frozenset({
    "author sort", "identifiers", "uuid", "title sort", "series index", "timestamp", "formats", "library name",
    "ondevice", "pubdate", "cover", "size", "comments", "languages",
})
# identifier types with a field of their own
_NAMED: Final = {"goodreads": "goodreads_id", "google": "google_books_id", "openlibrary": "openlibrary_id",
                 "olid": "openlibrary_id", "librarything": "librarything_id"}


def score(columns: Columns) -> int:
    if not ("identifiers" in columns or "author sort" in columns or "uuid" in columns):
        return 0
    return signature_score(columns, _REQUIRED, _DISTINCTIVE, 2)


def identifiers(cell: str) -> dict[str, str]:
    """``"isbn:9780…,goodreads:123"`` → ``{"isbn": "9780…", "goodreads": "123"}`` (first of a type wins)."""
    found: dict[str, str] = {}
    for item in split_list(cell):
        key, sep, value = item.partition(":")
        if sep and key.strip() and value.strip():
            found.setdefault(key.strip().casefold(), value.strip())
    return found


def _scale(rows: list[list[str]], column: int) -> float:
    for cells in rows:
        if column < len(cells):
            try:
                if float(cells[column].strip().replace(",", ".") or 0) > 5:
                    return 10.0
            except ValueError:
                continue
    return 5.0


def make_reader(columns: Columns, rows: list[list[str]]) -> RowReader:
    p = columns.pick
    c_title, c_authors, c_isbn, c_ids, c_publisher, c_pubdate = (
        p("title"), p("authors"), p("isbn"), p("identifiers"), p("publisher"), p("pubdate"))
    c_rating, c_tags, c_series, c_id, c_uuid, c_added = (
        p("rating"), p("tags"), p("series"), p("id"), p("uuid"), p("timestamp"))
    scale = _scale(rows, c_rating)

    def read(cells: list[str], row: int, line: int) -> ImportRow:
        authors = split_list(cells[c_authors], "&")
        ids = identifiers(cells[c_ids])
        isbn = best_isbn(read_isbn(cells[c_isbn]), read_isbn(ids.pop("isbn", "")))
        named = {_NAMED[key]: ids.pop(key) for key in list(ids) if key in _NAMED}
        rating, exact = _rating(cells[c_rating], scale)
        return ImportRow(
            row=row,
            line=line,
            title=cells[c_title].strip(),
            author=authors[0] if authors else "",
            additional_authors=authors[1:],
            isbn=isbn.isbn,
            isbn13=isbn.isbn13,
            isbn_note=isbn.note,
            shelves=split_list(cells[c_tags]),
            rating=rating,
            rating_exact=exact,
            date_added=parse_date(cells[c_added]),
            publisher=text(cells[c_publisher]),
            publication_year=parse_year(cells[c_pubdate]),
            series=text(cells[c_series]),
            calibre_id=text(cells[c_id]),
            uid=text(cells[c_uuid]),
            identifiers=ids,
            **named,
        )

    return read


SPEC: Final = FormatSpec("calibre", score, make_reader)
