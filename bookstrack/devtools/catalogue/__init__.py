"""The fake upstream's fixture catalogue: about seventy books as the four providers publish them.

The data files are the source of truth, each in its provider's own format:

- ``google_books.json``: a Google Books ``volumes`` listing (``{kind, totalItems, items:[volume]}``);
- ``openlibrary.json``: Open Library records ``{works, editions, authors}`` as ``/works/{id}.json``,
  ``/books/{id}.json`` and ``/authors/{id}.json`` return them;
- ``isbndb.json``: ISBNdb v2 book objects (``{total, books}``);
- ``wikidata.json``: Wikidata entities as ``Special:EntityData`` returns them (``{entities}``).

Not every book is in every provider, and a provider's record may differ from another's (author spelling,
ISBN-10 only, missing cover) the way real records do. What Open Library and Wikidata compute on their side
(``search.json`` documents, search hits) is derived here, at load time, from those records.

The catalogue is read once per process (``load_catalogue``) and shared: treat every record as read-only.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from bookstrack.devtools.text import clean_isbn, fold, isbn10_to_13, isbn_forms

__all__ = ["Catalogue", "Searchable", "load_catalogue"]

Record = dict[str, Any]


@dataclass(slots=True)
class Searchable:
    """One record with its folded search fields (``"*"``: all of them; ``isbns``: the ISBNs it answers to)."""

    record: Record
    fields: dict[str, str]
    isbns: frozenset[str] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fields["*"] = " ".join(v for v in self.fields.values() if v)


def _read(name: str) -> Any:
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


@cache
def load_catalogue() -> Catalogue:
    """The packaged catalogue, read once per process."""
    return Catalogue(
        _read("google_books.json"), _read("openlibrary.json"), _read("isbndb.json"), _read("wikidata.json")
    )


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return "" if value is None else str(value)


def _year(text: str | None) -> int | None:
    digits = "".join(ch if ch.isdigit() else " " for ch in text or "").split()
    years = [int(d) for d in digits if len(d) == 4]
    return years[0] if years else None


def _join(values: Iterable[Any]) -> str:
    return fold(" ".join(_text(v) for v in values))


class Catalogue:
    """The records of every provider and the indexes the fake server answers from."""

    def __init__(self, google: Record, openlibrary: Record, isbndb: Record, wikidata: Record) -> None:
        # -- Google Books
        self.google_volumes: list[Record] = list(google.get("items", []))
        self.google_by_id: dict[str, Record] = {v["id"]: v for v in self.google_volumes}
        self.google_by_isbn: dict[str, list[Record]] = {}
        self.google_search: list[Searchable] = []
        for volume in self.google_volumes:
            info = volume.get("volumeInfo", {})
            isbns = frozenset(
                clean_isbn(i["identifier"])
                for i in info.get("industryIdentifiers", [])
                if i.get("type") in ("ISBN_10", "ISBN_13")
            )
            for isbn in isbns:  # literal: Google answers isbn: for the identifiers a volume lists
                self.google_by_isbn.setdefault(isbn, []).append(volume)
            self.google_search.append(
                Searchable(
                    volume,
                    {
                        "title": _join([info.get("title"), info.get("subtitle")]),
                        "author": _join(info.get("authors", [])),
                        "publisher": _join([info.get("publisher")]),
                        "subject": _join(info.get("categories", [])),
                        "description": _join([info.get("description")]),
                    },
                    isbns,
                    {"title": fold(_text(info.get("title"))), "language": info.get("language")},
                )
            )

        # -- Open Library
        self.ol_works: dict[str, Record] = {w["key"]: w for w in openlibrary.get("works", [])}
        self.ol_editions: dict[str, Record] = {e["key"]: e for e in openlibrary.get("editions", [])}
        self.ol_authors: dict[str, Record] = {a["key"]: a for a in openlibrary.get("authors", [])}
        self.ol_edition_by_isbn: dict[str, Record] = {}
        self.ol_editions_by_work: dict[str, list[Record]] = {}
        self.ol_works_by_author: dict[str, list[Record]] = {}
        for edition in self.ol_editions.values():
            # Open Library finds an edition by either form of its ISBN
            for isbn in edition.get("isbn_13", []) + edition.get("isbn_10", []):
                for form in isbn_forms(isbn):
                    self.ol_edition_by_isbn.setdefault(form, edition)
            for ref in edition.get("works", []):
                self.ol_editions_by_work.setdefault(ref["key"], []).append(edition)
        for work in self.ol_works.values():
            for ref in work.get("authors", []):
                self.ol_works_by_author.setdefault(ref["author"]["key"], []).append(work)
        self.ol_search: list[Searchable] = [self._ol_search_doc(w) for w in self.ol_works.values()]
        self.ol_author_search: list[Searchable] = [self._ol_author_doc(a) for a in self.ol_authors.values()]

        # -- ISBNdb
        self.isbndb_books: list[Record] = list(isbndb.get("books", []))
        self.isbndb_by_isbn: dict[str, Record] = {}
        self.isbndb_search: list[Searchable] = []
        for book in self.isbndb_books:
            isbns = frozenset(clean_isbn(book[k]) for k in ("isbn13", "isbn", "isbn10") if book.get(k))
            for isbn in isbns:
                self.isbndb_by_isbn.setdefault(isbn, book)
            self.isbndb_search.append(
                Searchable(
                    book,
                    {
                        "title": _join([book.get("title"), book.get("title_long")]),
                        "author": _join(book.get("authors", [])),
                        "subjects": _join(book.get("subjects", [])),
                        "publisher": _join([book.get("publisher")]),
                        "date_published": fold(_text(book.get("date_published"))),
                    },
                    isbns,
                    {"authors": [fold(a) for a in book.get("authors", [])]},
                )
            )

        # -- Wikidata
        self.wikidata_entities: dict[str, Record] = dict(wikidata.get("entities", {}))
        self.wikidata_search: list[Searchable] = []
        for entity in self.wikidata_entities.values():
            names: list[tuple[str, str, str, str]] = []  # (folded, text, language, match type)
            for lang, label in entity.get("labels", {}).items():
                names.append((fold(label["value"]), label["value"], lang, "label"))
            for lang, aliases in entity.get("aliases", {}).items():
                names.extend((fold(a["value"]), a["value"], lang, "alias") for a in aliases)
            self.wikidata_search.append(
                Searchable(entity, {}, frozenset(), {"names": names, "rank": len(entity.get("sitelinks", {}))})
            )

    # -- Open Library's search documents, as its search index builds them from the records -----------

    def _ol_search_doc(self, work: Record) -> Searchable:
        editions = self.ol_editions_by_work.get(work["key"], [])
        authors = [self.ol_authors.get(ref["author"]["key"]) for ref in work.get("authors", [])]
        authors = [a for a in authors if a is not None]
        isbns: list[str] = []
        for edition in editions:
            for isbn in edition.get("isbn_13", []) + edition.get("isbn_10", []):
                for form in sorted(isbn_forms(isbn)):
                    if form not in isbns:
                        isbns.append(form)
        years = sorted({y for e in editions if (y := _year(e.get("publish_date"))) is not None})
        first_year = _year(work.get("first_publish_date")) or (years[0] if years else None)
        pages = [e["number_of_pages"] for e in editions if isinstance(e.get("number_of_pages"), int)]
        languages: list[str] = []
        publishers: list[str] = []
        ids: dict[str, list[str]] = {}
        for edition in editions:
            for lang in edition.get("languages", []):
                code = lang["key"].rsplit("/", 1)[-1]
                if code not in languages:
                    languages.append(code)
            for publisher in edition.get("publishers", []):
                if publisher not in publishers:
                    publishers.append(publisher)
            for name, values in edition.get("identifiers", {}).items():
                bucket = ids.setdefault(name, [])
                bucket.extend(v for v in values if v not in bucket)
        covered = [e for e in editions if e.get("covers")]
        doc: Record = {
            "author_alternative_name": [n for a in authors for n in a.get("alternate_names", [])],
            "author_key": [a["key"].rsplit("/", 1)[-1] for a in authors],
            "author_name": [a["name"] for a in authors],
            "cover_edition_key": covered[0]["key"].rsplit("/", 1)[-1] if covered else None,
            "cover_i": work["covers"][0] if work.get("covers") else None,
            "ebook_access": "no_ebook",
            "edition_count": len(editions),
            "edition_key": [e["key"].rsplit("/", 1)[-1] for e in editions],
            "first_publish_year": first_year,
            "has_fulltext": False,
            "id_amazon": ids.get("amazon", []),
            "id_goodreads": ids.get("goodreads", []),
            "id_google": ids.get("google", []),
            "id_librarything": ids.get("librarything", []),
            "isbn": isbns,
            "key": work["key"],
            "language": languages,
            "number_of_pages_median": int(statistics.median_low(pages)) if pages else None,
            "public_scan_b": False,
            "publish_date": [e["publish_date"] for e in editions if e.get("publish_date")],
            "publish_year": years,
            "publisher": publishers,
            "subject": work.get("subjects", []),
            "subtitle": work.get("subtitle"),
            "title": work.get("title"),
            "title_sort": work.get("title"),
            "title_suggest": work.get("title"),
            "type": "work",
        }
        doc = {k: v for k, v in doc.items() if v is not None and v != []}
        titles = [work.get("title"), work.get("subtitle")]
        titles += [t for e in editions for t in (e.get("title"), e.get("subtitle"))]
        return Searchable(
            doc,
            {
                "title": _join(titles),
                "author": _join(doc.get("author_name", []) + doc.get("author_alternative_name", [])),
                "subject": _join(doc.get("subject", [])),
                "publisher": _join(publishers),
            },
            frozenset(isbns),
            {
                "title": fold(_text(work.get("title"))),
                "id_goodreads": set(ids.get("goodreads", [])),
                "id_librarything": set(ids.get("librarything", [])),
                "id_amazon": set(ids.get("amazon", [])),
                "id_google": set(ids.get("google", [])),
            },
        )

    def _ol_author_doc(self, author: Record) -> Searchable:
        works = self.ol_works_by_author.get(author["key"], [])
        subjects: list[str] = []
        for work in works:
            subjects.extend(s for s in work.get("subjects", []) if s not in subjects)
        doc: Record = {
            "alternate_names": author.get("alternate_names"),
            "birth_date": author.get("birth_date"),
            "death_date": author.get("death_date"),
            "key": author["key"].rsplit("/", 1)[-1],
            "name": author["name"],
            "top_subjects": subjects[:10] or None,
            "top_work": works[0]["title"] if works else None,
            "type": "author",
            "work_count": len(works),
        }
        doc = {k: v for k, v in doc.items() if v is not None}
        return Searchable(doc, {"name": _join([author["name"], *author.get("alternate_names", [])])})

    # -- summaries for tests and benchmarks -----------------------------------------------------------

    def isbn13s(self) -> list[str]:
        """Every ISBN any provider knows, as ISBN-13, sorted."""
        found: set[str] = set()
        for isbn in list(self.google_by_isbn) + list(self.ol_edition_by_isbn) + list(self.isbndb_by_isbn):
            found.add(isbn if len(isbn) == 13 else isbn10_to_13(isbn))
        return sorted(found)
