"""Merging what several providers say about one book, and de-duplicating result lists by ISBN.

``merge_records`` combines records field by field (reference §8.4, API.md §3 "merges records that share an
ISBN"). Records are first put in provider priority order (``DEFAULT_PRIORITY``, stable: records of one
provider keep their order), then each field follows its policy:

* most fields: the first non-empty value (``None``, ``""``, blank strings and ``[]`` are empty);
* ``title``: the first that is not the ``"Unknown"`` placeholder; authors named ``"Unknown Author"`` are
  dropped when the book has a real author;
* ``coverImageURL``: the first not hosted by Google, else the first (Google's scans are the weakest
  covers, anchors A.3 §9); decided from the URL itself, so it holds after any number of merges;
* ID arrays, ``isbns`` and ``subjectTags``: the union, de-duplicated, in order (``isbns``: ISBN-13s first,
  ``subjectTags``: sorted); ``isbn`` is then the first of ``isbns`` (an ISBN-13 when there is one);
* ``contributors``: every source (each record's ``primaryProvider`` and ``contributors``), in order;
  ``primaryProvider``: the first record's;
* ``isbndbQuality``: the maximum; ``firstPublicationYear``: the minimum (the *first* publication; providers
  that only know an edition's year report a later one);
* ``format``: the first that is not ``Paperback`` (``Paperback`` is also what a source says when it does
  not know), else ``Paperback``;
* ``synthetic``: ``False`` if any source has direct data, ``True`` if all are synthetic;
  ``gender``: the first that is not ``Unknown``.

Why this order: ISBNdb is publisher-fed and keyed by ISBN (binding, pages, publisher, date are
edition-exact); Google Books has good descriptions and languages; Open Library *search* documents are
work-level, so their publisher and date belong to an arbitrary edition; Gemini only guesses.

Properties the tests check: merging is a left fold, so ``merge(xs + ys) == merge([merge(xs), merge(ys)])``
whenever no provider in ``ys`` ranks before one in ``xs``; the result does not depend on the input order
of records from different providers; ``merge([r, r]) == merge([r])``.

``merge_by_isbn`` and ``dedupe_by_isbn`` work on whole records, so ``works[i]`` and ``editions[i]`` of
``split_records`` still describe the same item.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import msgspec

from bookstrack.books.dto import (
    AuthorDTO,
    AuthorGender,
    BookRecord,
    DataProvider,
    EditionDTO,
    EditionFormat,
    WorkDTO,
)
from bookstrack.books.isbn import clean_isbn, isbn_key
from bookstrack.books.keys import author_key

__all__ = [
    "DEFAULT_PRIORITY",
    "PLACEHOLDER_AUTHOR",
    "PLACEHOLDER_TITLE",
    "dedupe_by_isbn",
    "merge_authors",
    "merge_by_isbn",
    "merge_editions",
    "merge_records",
    "merge_works",
    "record_isbn_keys",
    "split_records",
]

DEFAULT_PRIORITY: Final = (
    DataProvider.ISBNDB,
    DataProvider.GOOGLE_BOOKS,
    DataProvider.OPENLIBRARY,
    DataProvider.GEMINI,
)
PLACEHOLDER_TITLE: Final = "Unknown"
PLACEHOLDER_AUTHOR: Final = "Unknown Author"
_PLACEHOLDER_AUTHOR_KEY: Final = author_key(PLACEHOLDER_AUTHOR)
_GOOGLE_COVER_HOSTS: Final = ("books.google.com", "googleusercontent.com", "googleapis.com")

S = TypeVar("S", bound=msgspec.Struct)
Policy = Callable[[list[Any]], Any]


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return not value
    return False


def _first(values: list[Any]) -> Any:
    # ``next(v for v in values if not _empty(v))`` unrolled: the default policy of most fields, run for
    # every field of every merged record (a batch merges hundreds).
    for value in values:
        if value is None:
            continue
        if isinstance(value, str):
            if value.strip():
                return value
        elif isinstance(value, list):
            if value:
                return value
        else:
            return value
    return None


def _first_preferred(prefer: Callable[[Any], bool]) -> Policy:
    def policy(values: list[Any]) -> Any:
        present = [v for v in values if not _empty(v)]
        if len(present) < 2:
            return present[0] if present else None  # nothing to choose between: ``prefer`` not asked
        return next((v for v in present if prefer(v)), present[0])

    return policy


def _union(values: list[list[Any] | None]) -> list[Any]:
    return list(dict.fromkeys(item for value in values if value for item in value))


def _min(values: list[Any]) -> Any:
    return min((v for v in values if v is not None), default=None)


def _max(values: list[Any]) -> Any:
    return max((v for v in values if v is not None), default=0)


def _synthetic(values: list[bool | None]) -> bool | None:
    known = [v for v in values if v is not None]
    return all(known) if known else None


def _not_google(url: str) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # not a URL at all: no reason to prefer it
        return False
    return not any(host == h or host.endswith("." + h) for h in _GOOGLE_COVER_HOSTS)


def _isbns(values: list[list[str]]) -> list[str]:
    cleaned = list(dict.fromkeys(clean_isbn(v) for value in values for v in value if not _empty(v)))
    return [v for v in cleaned if len(v) == 13] + [v for v in cleaned if len(v) != 13]


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    # msgspec.structs.fields re-reads the type annotations on every call: once per class is enough.
    return tuple(f.name for f in msgspec.structs.fields(cls))


def _merge_structs(cls: type[S], items: Sequence[S], policies: dict[str, Policy]) -> S:
    merged: dict[str, Any] = {}
    for name in _field_names(cls):
        value = policies.get(name, _first)([getattr(item, name) for item in items])
        if value is not None:
            merged[name] = value
    return cls(**merged)


def _contributors(items: Sequence[WorkDTO] | Sequence[EditionDTO]) -> list[DataProvider] | None:
    sources = [[item.primaryProvider] if item.primaryProvider else [] for item in items]
    merged = _union([source + (item.contributors or []) for source, item in zip(sources, items, strict=True)])
    return merged or None


_SHARED: Final[dict[str, Policy]] = {
    "amazonASINs": _union,
    "googleBooksVolumeIDs": _union,
    "librarythingIDs": _union,
    "isbndbQuality": _max,
    "coverImageURL": _first_preferred(_not_google),
}

_WORK: Final[dict[str, Policy]] = {
    **_SHARED,
    "title": lambda values: _first_preferred(lambda t: t != PLACEHOLDER_TITLE)(values) or PLACEHOLDER_TITLE,
    "subjectTags": lambda values: sorted(_union(values)),
    "goodreadsWorkIDs": _union,
    "firstPublicationYear": _min,
    "synthetic": _synthetic,
}

_EDITION: Final[dict[str, Policy]] = {
    **_SHARED,
    "format": _first_preferred(lambda f: f != EditionFormat.PAPERBACK),
}

_AUTHOR: Final[dict[str, Policy]] = {
    "name": lambda values: _first(values) or values[0],
    "gender": _first_preferred(lambda g: g != AuthorGender.UNKNOWN),
}


def merge_works(works: Sequence[WorkDTO]) -> WorkDTO:
    """The works, in the order given (highest priority first), merged field by field."""
    merged = _merge_structs(WorkDTO, works, _WORK)
    merged.contributors = _contributors(works)
    return merged


def merge_editions(editions: Sequence[EditionDTO]) -> EditionDTO:
    """The editions, in the order given (highest priority first), merged field by field."""
    merged = _merge_structs(EditionDTO, editions, _EDITION)
    merged.isbns = _isbns([[*e.isbns, *([e.isbn] if e.isbn else [])] for e in editions])
    merged.isbn = merged.isbns[0] if merged.isbns else None
    merged.contributors = _contributors(editions)
    return merged


def merge_authors(authors: Iterable[AuthorDTO]) -> list[AuthorDTO]:
    """Authors de-duplicated by ``author_key`` (first seen first), each merged field by field; the
    ``Unknown Author`` placeholder only when there is no other author."""
    groups: dict[str, list[AuthorDTO]] = {}
    for author in authors:
        groups.setdefault(author_key(author.name), []).append(author)
    merged = [_merge_structs(AuthorDTO, group, _AUTHOR) for group in groups.values()]
    real = [a for a in merged if author_key(a.name) != _PLACEHOLDER_AUTHOR_KEY]
    return real or merged


def _provider(record: BookRecord) -> DataProvider | None:
    return record.work.primaryProvider or record.edition.primaryProvider


def _ordered(records: Sequence[BookRecord], priority: Sequence[DataProvider]) -> list[BookRecord]:
    rank = {provider: i for i, provider in enumerate(priority)}
    return sorted(records, key=lambda r: rank.get(_provider(r), len(rank)))  # type: ignore[arg-type]


def merge_records(records: Sequence[BookRecord], priority: Sequence[DataProvider] = DEFAULT_PRIORITY) -> BookRecord:
    """One record from several that describe the same book (see the module docstring for each field)."""
    if not records:
        raise ValueError("merge_records needs at least one record")
    ordered = _ordered(records, priority)
    return BookRecord(
        work=merge_works([r.work for r in ordered]),
        edition=merge_editions([r.edition for r in ordered]),
        authors=merge_authors(a for r in ordered for a in r.authors),
    )


def record_isbn_keys(record: BookRecord) -> list[str]:
    """The canonical (ISBN-13) keys of a record's edition ISBNs, in order, without repeats."""
    candidates = [record.edition.isbn, *record.edition.isbns]
    return list(dict.fromkeys(k for k in map(isbn_key, candidates) if k))


def _isbn_groups(records: Sequence[BookRecord]) -> list[list[int]]:
    """Indices of records that share an ISBN, directly or through others; groups in order of their first
    record, records in input order. A record without an ISBN is a group of its own."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, record in enumerate(records):
        for key in record_isbn_keys(record):
            if key in owner:
                a, b = find(owner[key]), find(i)
                parent[max(a, b)] = min(a, b)
            else:
                owner[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def merge_by_isbn(
    records: Sequence[BookRecord], priority: Sequence[DataProvider] = DEFAULT_PRIORITY
) -> list[BookRecord]:
    """Records that share an ISBN (10 and 13 count as the same) merged into one, placed where the first
    of them was; records without an ISBN are kept as they are."""
    return [
        records[group[0]] if len(group) == 1 else merge_records([records[i] for i in group], priority)
        for group in _isbn_groups(records)
    ]


def dedupe_by_isbn(records: Sequence[BookRecord]) -> list[BookRecord]:
    """The records in order, without any that shares an ISBN with an earlier one (the first is kept
    unchanged; use ``merge_by_isbn`` to fold the later ones into it)."""
    seen: set[str] = set()
    kept = []
    for record in records:
        keys = record_isbn_keys(record)
        if not seen.intersection(keys):
            kept.append(record)
        seen.update(keys)
    return kept


def split_records(
    records: Sequence[BookRecord], *, merged: bool = False
) -> tuple[list[WorkDTO], list[EditionDTO], list[AuthorDTO]]:
    """``(works, editions, authors)`` for a search response: ``works[i]`` and ``editions[i]`` come from
    ``records[i]``; authors of every record, merged and de-duplicated by name. ``merged``: the records come
    from ``merge_records``, whose authors are already merged, so one record's are taken as they are
    (merging is idempotent; an ISBN lookup answers one record on every cached request)."""
    authors = (
        list(records[0].authors) if merged and len(records) == 1
        else merge_authors(a for r in records for a in r.authors)
    )
    return [r.work for r in records], [r.edition for r in records], authors
