"""ISBNdb books → ``BookRecord``\\ s (reference §8.3, §5.2–5.4).

One book object gives one record. Work: ``title``, ``subjects`` (genres), ``language``, the leading year of
``date_published``, ``synopsis`` as description, ``isbndbID`` (``isbn13`` or ``isbn``), the quality score —
and no cover (ISBNdb's ``image`` belongs to the edition). Edition: ISBNs, ``publisher``, ``date_published``,
``pages``, format from ``binding`` (hardcover/hardback → Hardcover, paperback/trade paper → Paperback,
ebook/kindle/digital → E-book, audio → Audiobook, else Paperback), ``image`` over https, ``title_long`` as
``editionTitle`` when it differs from ``title``, ``synopsis`` as ``editionDescription``. Authors: the
``authors`` names (none → no authors: ISBNdb never had a placeholder), turned from ISBNdb's ``Last, First``
into the ``First Last`` every other provider (and the client) uses, so that merging sees one author; a
name with more than one comma (``King, Martin Luther, Jr.``) is left as written.

Quality (0–100): 50, +20 ``image``, +10 ``synopsis`` longer than 50 characters, +5 ``pages`` > 0, +5
``publisher``, +5 ``subjects``, +5 ``authors``.

Any JSON never raises: every field is read through ``_fields`` and unusable books are dropped.
"""

from __future__ import annotations

from typing import Any

from bookstrack.books.dto import BookRecord, DataProvider, EditionDTO, WorkDTO
from bookstrack.books.genres import normalize_genres
from bookstrack.books.isbn import isbn_key
from bookstrack.books.normalize._fields import (
    authors_from_names,
    format_from_binding,
    https,
    isbn10,
    isbn13,
    lead_year,
    mapping,
    positive_int,
    sequence,
    strings,
    text,
)

__all__ = ["normalize_book", "normalize_book_response", "normalize_books", "quality"]

PROVIDER = DataProvider.ISBNDB


def quality(book: Any) -> int:
    """ISBNdb's completeness score of one book (reference §8.3)."""
    fields = mapping(book)
    score = 50
    if https(fields.get("image")):
        score += 20
    synopsis = text(fields.get("synopsis"))
    if synopsis is not None and len(synopsis) > 50:
        score += 10
    if positive_int(fields.get("pages")):
        score += 5
    if text(fields.get("publisher")):
        score += 5
    if strings(fields.get("subjects")):
        score += 5
    if strings(fields.get("authors")):
        score += 5
    return max(0, min(100, score))


def normalize_book_response(data: Any) -> BookRecord | None:
    """A ``GET /book/{isbn}`` answer (``{"book": {...}}``)."""
    return normalize_book(mapping(data).get("book"))


def normalize_books(data: Any) -> list[BookRecord]:
    """The books of a ``GET /books/{query}`` or ``/search/books`` answer (``{"books": [...]}``), of a
    ``POST /books`` answer (``{"data": [...]}``), or a plain list of books."""
    if isinstance(data, list):
        items = data
    else:
        fields = mapping(data)
        items = sequence(fields.get("books")) or sequence(fields.get("data"))
    records = []
    for item in items:
        record = normalize_book(item)
        if record is not None:
            records.append(record)
    return records


def normalize_book(book: Any) -> BookRecord | None:
    """One ISBNdb book as a record, or ``None`` without a title."""
    fields = mapping(book)
    title = text(fields.get("title"))
    if title is None:
        return None
    isbn_13 = isbn13(fields.get("isbn13"))
    # ``isbn`` is ISBNdb's ISBN-10 (sometimes a 13): take each form where it fits.
    isbn_10 = isbn10(fields.get("isbn")) or isbn10(fields.get("isbn10"))
    if isbn_13 is None:
        isbn_13 = isbn13(fields.get("isbn")) or (isbn_key(isbn_10) if isbn_10 else None)
    isbndb_id = isbn_13 or isbn_10
    synopsis = text(fields.get("synopsis"))
    language = text(fields.get("language"))
    published = text(fields.get("date_published"))
    if published is None and positive_int(fields.get("date_published")):
        published = str(positive_int(fields.get("date_published")))
    title_long = text(fields.get("title_long"))
    score = quality(fields)
    work = WorkDTO(
        title=title,
        subjectTags=normalize_genres(strings(fields.get("subjects")), PROVIDER),
        originalLanguage=language,
        firstPublicationYear=lead_year(published),
        description=synopsis,
        synthetic=False,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        isbndbID=isbndb_id,
        isbndbQuality=score,
    )
    edition = EditionDTO(
        isbn=isbn_13 or isbn_10,
        isbns=[i for i in (isbn_13, isbn_10) if i],
        title=title,
        publisher=text(fields.get("publisher")),
        publicationDate=published,
        pageCount=positive_int(fields.get("pages")),
        format=format_from_binding(fields.get("binding")),
        coverImageURL=https(fields.get("image")),
        editionTitle=title_long if title_long and title_long != title else None,
        editionDescription=synopsis,
        language=language,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        isbndbID=isbndb_id,
        isbndbQuality=score,
    )
    authors = authors_from_names([natural_order(n) for n in strings(fields.get("authors"))], placeholder=False)
    return BookRecord(work=work, edition=edition, authors=authors)


def natural_order(name: str) -> str:
    """``Tolkien, J. R. R.`` → ``J. R. R. Tolkien``; anything without exactly one comma is unchanged."""
    last, comma, first = name.partition(",")
    if comma and "," not in first and first.strip() and last.strip():
        return f"{first.strip()} {last.strip()}"
    return name
