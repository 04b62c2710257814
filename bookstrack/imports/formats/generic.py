"""Any other CSV whose header names a title column: columns are found by alias, ignoring case, spaces,
underscores and hyphens (``Book Title`` = ``book_title`` = ``BOOKTITLE``).

Aliases: title ← title, book title, name, book name; author ← author, authors, author name, writer,
creator, by (several names split on ``;`` or ``&``; an ``author l-f`` / ``author (last, first)`` column
is flipped to "First Last"); ISBN ← isbn, isbn13, isbn10, isbn-13, isbn-10, ean (every such column is read
and the best kept); rating ← rating, my rating, stars, star rating, user rating; status ← status, read
status, reading status, shelf, exclusive shelf; date read ← date read, finished, date finished, finished
on, read date, last date read; date added ← date added, added, added on; publisher; year ← year,
publication year, published, year published, pub year, publication date, pubdate; pages ← pages, page
count, number of pages, num pages; shelves ← tags, shelves, bookshelves; review ← review, my review.
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
    unwrap,
)
from bookstrack.imports.columns import Columns
from bookstrack.imports.formats.base import FormatSpec, RowReader
from bookstrack.imports.model import ImportRow
from bookstrack.imports.repair import best_isbn, read_isbn

__all__ = ["ALIASES", "SPEC"]

ALIASES: Final[dict[str, frozenset[str]]] = {
    "title": frozenset({"title", "booktitle", "name", "bookname"}),
    "author": frozenset({"author", "authors", "authorname", "writer", "creator", "by", "primaryauthor"}),
    "author_lf": frozenset({"authorlf", "author(last,first)", "authorlastfirst"}),
    "isbn": frozenset({"isbn", "isbn13", "isbn10", "ean", "isbn/uid"}),
    "rating": frozenset({"rating", "myrating", "stars", "starrating", "userrating"}),
    "status": frozenset({"status", "readstatus", "readingstatus", "shelf", "exclusiveshelf"}),
    "date_read": frozenset({"dateread", "finished", "datefinished", "finishedon", "readdate", "lastdateread"}),
    "date_added": frozenset({"dateadded", "added", "addedon"}),
    "publisher": frozenset({"publisher"}),
    "year": frozenset({"year", "publicationyear", "published", "yearpublished", "pubyear", "publicationdate",
                       "pubdate"}),
    "pages": frozenset({"pages", "pagecount", "numberofpages", "numpages"}),
    "shelves": frozenset({"tags", "shelves", "bookshelves"}),
    "review": frozenset({"review", "myreview"}),
}
_AUTHOR_SPLIT: Final = re.compile(r"\s*(?:;|&|\band\b)\s*")


def score(columns: Columns) -> int:
    """1 when some column is a title alias (generic is the last resort), else 0."""
    return 1 if columns.pick_compact(ALIASES["title"]) != columns.MISSING else 0


def make_reader(columns: Columns, rows: list[list[str]]) -> RowReader:
    c = {field: columns.pick_compact(aliases) for field, aliases in ALIASES.items()}
    c_title, c_author, c_author_lf, c_rating, c_status = (
        c["title"], c["author"], c["author_lf"], c["rating"], c["status"])
    c_read, c_added, c_publisher, c_year, c_pages, c_shelves, c_review = (
        c["date_read"], c["date_added"], c["publisher"], c["year"], c["pages"], c["shelves"], c["review"])
    c_isbns = columns.all_compact(ALIASES["isbn"])

    def read(cells: list[str], row: int, line: int) -> ImportRow:
        authors = [name for name in _AUTHOR_SPLIT.split(cells[c_author].strip()) if name]
        if not authors and cells[c_author_lf].strip():
            authors = [flip_name(cells[c_author_lf])]
        isbn = best_isbn(*(read_isbn(unwrap(cells[i])) for i in c_isbns))
        rating, exact = parse_rating(cells[c_rating])
        shelf = text(cells[c_status])
        return ImportRow(
            row=row,
            line=line,
            title=cells[c_title].strip(),
            author=authors[0] if authors else "",
            additional_authors=authors[1:],
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
            review=text(cells[c_review]),
            publisher=text(cells[c_publisher]),
            publication_year=parse_year(cells[c_year]),
            page_count=parse_int(cells[c_pages]) or None,
        )

    return read


SPEC: Final = FormatSpec("generic", score, make_reader)
