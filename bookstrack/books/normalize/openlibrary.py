"""Open Library answers → ``BookRecord``\\ s (reference §8.2, §5.2–5.4).

Three shapes:

* search docs (``search.json``; work-level): title, ``author_name``, ``first_publish_year``, ``subject``
  (genres), ``language[0]`` (3 letters, e.g. ``eng``), ``cover_i`` → ``https://covers.openlibrary.org/b/id/
  {cover_i}-L.jpg``, ``isbn[]`` (the first 13- and 10-character ones — or, FIX, the ISBN that was asked for
  when the doc holds it, so an ISBN lookup returns the edition asked for), ``publisher[0]``,
  ``publish_date[0]``, ``number_of_pages_median``, the ``id_*`` arrays; ``openLibraryWorkID`` from ``key``
  ``/works/{ID}``; format ``Paperback``;
* edition records (``/isbn/{isbn}.json`` → ``/books/{OLID}.json``): ``isbn_13``/``isbn_10``, ``publishers``,
  ``publish_date``, ``number_of_pages``, ``covers[0]``, ``physical_format`` (mapped like an ISBNdb binding),
  ``works[0].key`` and ``key`` (FIX 28: the edition id is set); author *names* are not in the record (only
  keys): the caller passes them when it has fetched them;
* ``/api/books?…&jscmd=data`` entries: like an edition, with author names, ``identifiers``,
  ``subjects[].name`` and ``cover.large``.

Any JSON never raises: every field is read through ``_fields`` and unusable items are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bookstrack.books.dto import BookRecord, DataProvider, EditionDTO, EditionFormat, WorkDTO
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

__all__ = ["normalize_search", "normalize_search_doc", "normalize_edition", "normalize_books_api", "cover_url"]

PROVIDER = DataProvider.OPENLIBRARY
_WORK_KEY = re.compile(r"^/works/(OL\d+W)$")
_EDITION_KEY = re.compile(r"^/books/(OL\d+M)$")
_LANGUAGE_KEY = re.compile(r"^/languages/([a-z]{2,3})$")


def cover_url(cover_id: Any) -> str | None:
    """``https://covers.openlibrary.org/b/id/{id}-L.jpg`` for a positive integer cover id."""
    number = positive_int(cover_id)
    return f"https://covers.openlibrary.org/b/id/{number}-L.jpg" if number is not None else None


def normalize_search(data: Any, *, isbn: str | None = None) -> list[BookRecord]:
    """Every usable doc of a ``search.json`` answer (``{"docs": [...]}``). ``isbn``: the ISBN asked for, if
    any, so each doc's edition carries it (a doc lists the ISBNs of all the work's editions)."""
    records = []
    for doc in sequence(mapping(data).get("docs")):
        record = normalize_search_doc(doc, isbn=isbn)
        if record is not None:
            records.append(record)
    return records


def normalize_search_doc(doc: Any, *, isbn: str | None = None) -> BookRecord | None:
    """One search doc as a record, or ``None`` without a title."""
    fields = mapping(doc)
    title = text(fields.get("title"))
    if title is None:
        return None
    isbn_13, isbn_10 = _doc_isbns(strings(fields.get("isbn")), isbn)
    cover = cover_url(fields.get("cover_i"))
    language = _first(fields.get("language"))
    amazon, google, librarything = (strings(fields.get(k)) for k in ("id_amazon", "id_google", "id_librarything"))
    work_key = _WORK_KEY.match(text(fields.get("key")) or "")
    work = WorkDTO(
        title=title,
        subjectTags=normalize_genres(strings(fields.get("subject")), PROVIDER),
        originalLanguage=language,
        firstPublicationYear=lead_year(fields.get("first_publish_year")),
        coverImageURL=cover,
        synthetic=False,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        openLibraryWorkID=work_key.group(1) if work_key else None,
        goodreadsWorkIDs=strings(fields.get("id_goodreads")),
        amazonASINs=amazon,
        librarythingIDs=librarything,
        googleBooksVolumeIDs=google,
    )
    edition = EditionDTO(
        isbn=isbn_13 or isbn_10,
        isbns=[i for i in (isbn_13, isbn_10) if i],
        title=title,
        publisher=_first(fields.get("publisher")),
        publicationDate=_first(fields.get("publish_date")),
        pageCount=positive_int(fields.get("number_of_pages_median")),
        format=EditionFormat.PAPERBACK,
        coverImageURL=cover,
        language=language,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        amazonASINs=list(amazon),
        googleBooksVolumeIDs=list(google),
        librarythingIDs=list(librarything),
    )
    return BookRecord(work=work, edition=edition, authors=authors_from_names(strings(fields.get("author_name"))))


def normalize_edition(
    record: Any, *, work: Any = None, author_names: Sequence[str] = ()
) -> BookRecord | None:
    """An edition record (``/isbn/{isbn}.json``) as a book record; ``work``: its ``/works/{id}.json``, if
    fetched (description, subjects, first publication); ``author_names``: the names behind its author keys."""
    fields = mapping(record)
    work_fields = mapping(work)
    title = text(fields.get("title")) or text(work_fields.get("title"))
    if title is None:
        return None
    isbn_13 = next((i for i in map(isbn13, sequence(fields.get("isbn_13"))) if i), None)
    isbn_10 = next((i for i in map(isbn10, sequence(fields.get("isbn_10"))) if i), None)
    if isbn_13 is None and isbn_10 is not None:
        isbn_13 = isbn_key(isbn_10)
    cover = cover_url(_first_raw(fields.get("covers"))) or cover_url(_first_raw(work_fields.get("covers")))
    language = _language(fields.get("languages"))
    identifiers = mapping(fields.get("identifiers"))
    amazon, google, librarything = (strings(identifiers.get(k)) for k in ("amazon", "google", "librarything"))
    work_key = _WORK_KEY.match(text(mapping(_first_raw(fields.get("works"))).get("key")) or "")
    edition_key = _EDITION_KEY.match(text(fields.get("key")) or "")
    description = _description(work_fields.get("description")) or _description(fields.get("description"))
    subjects = strings(work_fields.get("subjects")) or strings(fields.get("subjects"))
    published = text(fields.get("publish_date"))
    work_dto = WorkDTO(
        title=text(work_fields.get("title")) or title,
        subjectTags=normalize_genres(subjects, PROVIDER),
        originalLanguage=language,
        firstPublicationYear=lead_year(work_fields.get("first_publish_date")) or lead_year(published),
        description=description,
        coverImageURL=cover,
        synthetic=False,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        openLibraryWorkID=work_key.group(1) if work_key else None,
        goodreadsWorkIDs=strings(identifiers.get("goodreads")),
        amazonASINs=amazon,
        librarythingIDs=librarything,
        googleBooksVolumeIDs=google,
    )
    edition = EditionDTO(
        isbn=isbn_13 or isbn_10,
        isbns=[i for i in (isbn_13, isbn_10) if i],
        title=title,
        publisher=_first(fields.get("publishers")),
        publicationDate=published,
        pageCount=positive_int(fields.get("number_of_pages")),
        format=format_from_binding(fields.get("physical_format")),
        coverImageURL=cover,
        editionTitle=_edition_title(title, text(fields.get("subtitle"))),
        editionDescription=_description(fields.get("description")),
        language=language,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        openLibraryEditionID=edition_key.group(1) if edition_key else None,
        amazonASINs=list(amazon),
        googleBooksVolumeIDs=list(google),
        librarythingIDs=list(librarything),
    )
    names = [n for n in (text(name) for name in author_names) if n]
    return BookRecord(work=work_dto, edition=edition, authors=authors_from_names(list(dict.fromkeys(names))))


def normalize_books_api(data: Any) -> dict[str, BookRecord]:
    """A ``/api/books?bibkeys=ISBN:…&format=json&jscmd=data`` answer: ``{isbn13: record}`` for each usable
    entry, keyed by the canonical ISBN-13 of its bibkey (``"ISBN:0451526538"`` → ``"9780451526533"``)."""
    found: dict[str, BookRecord] = {}
    for bibkey, entry in mapping(data).items():
        key = isbn_key(bibkey.split(":", 1)[1]) if isinstance(bibkey, str) and ":" in bibkey else None
        record = _books_api_entry(entry, key)
        if key is not None and record is not None:
            found[key] = record
    return found


def _books_api_entry(entry: Any, asked: str | None) -> BookRecord | None:
    fields = mapping(entry)
    title = text(fields.get("title"))
    if title is None:
        return None
    identifiers = mapping(fields.get("identifiers"))
    isbn_13 = next((i for i in map(isbn13, sequence(identifiers.get("isbn_13"))) if i), None)
    isbn_10 = next((i for i in map(isbn10, sequence(identifiers.get("isbn_10"))) if i), None)
    if isbn_13 is None:
        isbn_13 = isbn_key(isbn_10) if isbn_10 else asked
    cover_links = mapping(fields.get("cover"))
    cover = https(cover_links.get("large")) or https(cover_links.get("medium"))
    amazon, google, librarything = (strings(identifiers.get(k)) for k in ("amazon", "google", "librarything"))
    edition_key = _EDITION_KEY.match(text(fields.get("key")) or "")
    subjects = [s for s in (text(mapping(s).get("name")) for s in sequence(fields.get("subjects"))) if s]
    publishers = [p for p in (text(mapping(p).get("name")) for p in sequence(fields.get("publishers"))) if p]
    names = [n for n in (text(mapping(a).get("name")) for a in sequence(fields.get("authors"))) if n]
    published = text(fields.get("publish_date"))
    work = WorkDTO(
        title=title,
        subjectTags=normalize_genres(subjects, PROVIDER),
        firstPublicationYear=lead_year(published),
        coverImageURL=cover,
        synthetic=False,
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        goodreadsWorkIDs=strings(identifiers.get("goodreads")),
        amazonASINs=amazon,
        librarythingIDs=librarything,
        googleBooksVolumeIDs=google,
    )
    edition = EditionDTO(
        isbn=isbn_13 or isbn_10,
        isbns=[i for i in (isbn_13, isbn_10) if i],
        title=title,
        publisher=publishers[0] if publishers else None,
        publicationDate=published,
        pageCount=positive_int(fields.get("number_of_pages")),
        format=EditionFormat.PAPERBACK,
        coverImageURL=cover,
        editionTitle=_edition_title(title, text(fields.get("subtitle"))),
        primaryProvider=PROVIDER,
        contributors=[PROVIDER],
        openLibraryEditionID=edition_key.group(1) if edition_key else None,
        amazonASINs=list(amazon),
        googleBooksVolumeIDs=list(google),
        librarythingIDs=list(librarything),
    )
    return BookRecord(work=work, edition=edition, authors=authors_from_names(list(dict.fromkeys(names))))


def _doc_isbns(isbns: list[str], asked: str | None) -> tuple[str | None, str | None]:
    """The doc's first 13- and 10-character ISBNs; if the asked-for ISBN is among them (in either form),
    that one and its other form instead."""
    thirteen = [i for i in map(isbn13, isbns) if i]
    ten = [i for i in map(isbn10, isbns) if i]
    wanted = isbn_key(asked) if asked else None
    if wanted is not None:
        if wanted in thirteen or any(isbn_key(t) == wanted for t in ten):
            matching_10 = next((t for t in ten if isbn_key(t) == wanted), None)
            return wanted, matching_10
    return (thirteen[0] if thirteen else None), (ten[0] if ten else None)


def _first(value: Any) -> str | None:
    found = strings(value)
    return found[0] if found else None


def _first_raw(value: Any) -> Any:
    items = sequence(value)
    return items[0] if items else None


def _language(value: Any) -> str | None:
    """``[{"key": "/languages/eng"}]`` → ``eng``."""
    match = _LANGUAGE_KEY.match(text(mapping(_first_raw(value)).get("key")) or "")
    return match.group(1) if match else None


def _description(value: Any) -> str | None:
    """A description as Open Library writes it: a string, or ``{"type": "/type/text", "value": "…"}``."""
    return text(value) or text(mapping(value).get("value"))


def _edition_title(title: str, subtitle: str | None) -> str | None:
    return f"{title}: {subtitle}" if subtitle else None
