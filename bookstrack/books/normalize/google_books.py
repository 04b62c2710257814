"""Google Books volumes → ``BookRecord``\\ s (reference §8.1, §5.2–5.4, with the FIXes of API.md §2).

One volume (an item of ``/volumes`` or the answer of ``/volumes/{id}``) gives one record: work and
edition of the same item, and its authors (each name with gender ``Unknown``; none → ``"Unknown
Author"``). Items without a ``volumeInfo.title`` are skipped. FIX: an edition's ``format`` is ``E-book``
when ``saleInfo.isEbook`` is true, else ``Paperback`` — never the original's ``Other``. Cover: the
thumbnail over https, its first ``&zoom=N`` removed and ``zoom=3`` appended (reference §8.1, Issue #418).

Any JSON never raises: every field is read through ``_fields`` and unusable items are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from bookstrack.books.dto import BookRecord, DataProvider, EditionDTO, EditionFormat, WorkDTO
from bookstrack.books.genres import normalize_genres
from bookstrack.books.normalize._fields import (
    authors_from_names,
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

__all__ = ["normalize_volumes", "normalize_volume", "cover_url"]

PROVIDER = DataProvider.GOOGLE_BOOKS
_ZOOM = re.compile(r"&zoom=\d")


def normalize_volumes(data: Any) -> list[BookRecord]:
    """Every usable item of a ``/volumes`` answer (``{"items": [...]}``; no ``items`` → ``[]``)."""
    records = []
    for item in sequence(mapping(data).get("items")):
        record = normalize_volume(item)
        if record is not None:
            records.append(record)
    return records


def cover_url(thumbnail: Any) -> str | None:
    """``http://…&zoom=1&edge=curl…`` → ``https://…&edge=curl…&zoom=3``; ``None`` if not an http(s) URL."""
    url = https(thumbnail)
    if url is None:
        return None
    url = _ZOOM.sub("", url, count=1)
    return url + ("&" if "?" in url else "?") + "zoom=3"


def normalize_volume(item: Any) -> BookRecord | None:
    """One volume as a record, or ``None`` without a title."""
    volume = mapping(item)
    info = mapping(volume.get("volumeInfo"))
    title = text(info.get("title"))
    if title is None:
        return None
    volume_id = text(volume.get("id"))
    volume_ids = [volume_id] if volume_id else []
    isbn_13, isbn_10 = _identifiers(info.get("industryIdentifiers"))
    description = text(info.get("description"))
    language = text(info.get("language"))
    published = text(info.get("publishedDate"))
    cover = cover_url(mapping(info.get("imageLinks")).get("thumbnail"))
    is_ebook = mapping(volume.get("saleInfo")).get("isEbook") is True

    work = WorkDTO(
        title=title,
        subjectTags=normalize_genres(strings(info.get("categories")), PROVIDER),
        originalLanguage=language,
        firstPublicationYear=lead_year(published),
        description=description,
        coverImageURL=cover,
        synthetic=False,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        googleBooksVolumeIDs=list(volume_ids),
    )
    edition = EditionDTO(
        isbn=isbn_13 or isbn_10,
        isbns=[i for i in (isbn_13, isbn_10) if i],
        title=title,
        publisher=text(info.get("publisher")),
        publicationDate=published,
        pageCount=positive_int(info.get("pageCount")),
        format=EditionFormat.EBOOK if is_ebook else EditionFormat.PAPERBACK,
        coverImageURL=cover,
        editionDescription=description,
        language=language,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        googleBooksVolumeIDs=list(volume_ids),
    )
    return BookRecord(work=work, edition=edition, authors=authors_from_names(strings(info.get("authors"))))


def _identifiers(value: Any) -> tuple[str | None, str | None]:
    """The first ISBN-13 and the first ISBN-10 of ``industryIdentifiers`` (other types ignored)."""
    found_13: str | None = None
    found_10: str | None = None
    for entry in sequence(value):
        identifier = mapping(entry)
        kind = identifier.get("type")
        if kind == "ISBN_13" and found_13 is None:
            found_13 = isbn13(identifier.get("identifier"))
        elif kind == "ISBN_10" and found_10 is None:
            found_10 = isbn10(identifier.get("identifier"))
    return found_13, found_10
