"""Merging records that share an ISBN, and de-duplicating result lists: the field policies on a worked
example, and the algebra the module docstring promises (a left fold, order-free across providers,
idempotent on repeats, alignment of works and editions kept)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookstrack.books.dto import (
    AuthorDTO,
    AuthorGender,
    BookRecord,
    DataProvider,
    EditionDTO,
    EditionFormat,
    WorkDTO,
)
from bookstrack.books.isbn import clean_isbn
from bookstrack.books.merge import (
    DEFAULT_PRIORITY,
    dedupe_by_isbn,
    merge_authors,
    merge_by_isbn,
    merge_records,
    record_isbn_keys,
    split_records,
)
from tests import client_mirror as client
from tests.unit.books_strategies import records

GOOGLE, OL, ISBNDB = DataProvider.GOOGLE_BOOKS, DataProvider.OPENLIBRARY, DataProvider.ISBNDB


def google() -> BookRecord:
    return BookRecord(
        work=WorkDTO(
            title="Nineteen Eighty-Four",
            primaryProvider=GOOGLE,
            contributors=[GOOGLE],
            description="A dystopian novel.",
            firstPublicationYear=2003,
            coverImageURL="https://books.google.com/books/content?id=kot&zoom=3",
            subjectTags=["Fiction"],
            googleBooksVolumeIDs=["kotPYEqx7kMC"],
            synthetic=False,
        ),
        edition=EditionDTO(
            isbn="9780451524935",
            isbns=["9780451524935", "0451524934"],
            primaryProvider=GOOGLE,
            contributors=[GOOGLE],
            format=EditionFormat.EBOOK,
            googleBooksVolumeIDs=["kotPYEqx7kMC"],
            language="en",
        ),
        authors=[AuthorDTO(name="George Orwell")],
    )


def openlibrary() -> BookRecord:
    return BookRecord(
        work=WorkDTO(
            title="1984",
            primaryProvider=OL,
            contributors=[OL],
            firstPublicationYear=1949,
            coverImageURL="https://covers.openlibrary.org/b/id/153541-L.jpg",
            subjectTags=["Dystopian", "Fiction"],
            openLibraryWorkID="OL1168083W",
            googleBooksVolumeIDs=["kotPYEqx7kMC", "olGoogle"],
            amazonASINs=["B003JTHWKU"],
        ),
        edition=EditionDTO(
            isbn="0451524934",
            isbns=["0451524934"],
            primaryProvider=OL,
            publisher="Signet Classic",
            publicationDate="1950",
            pageCount=328,
        ),
        authors=[AuthorDTO(name="george orwell", gender=AuthorGender.MALE), AuthorDTO(name="Unknown Author")],
    )


def isbndb() -> BookRecord:
    return BookRecord(
        work=WorkDTO(title="Unknown", primaryProvider=ISBNDB, isbndbQuality=85, isbndbID="9780451524935"),
        edition=EditionDTO(
            isbn="978-0-451-52493-5",
            isbns=["978-0-451-52493-5"],
            primaryProvider=ISBNDB,
            publisher="Signet",
            format=EditionFormat.PAPERBACK,
            isbndbQuality=85,
        ),
    )


def test_worked_example() -> None:
    merged = merge_records([openlibrary(), google(), isbndb()])
    work, edition = merged.work, merged.edition
    assert work.primaryProvider == ISBNDB  # ISBNdb ranks first
    assert work.contributors == [ISBNDB, GOOGLE, OL]
    assert work.title == "Nineteen Eighty-Four"  # ISBNdb's placeholder loses to Google's title
    assert work.description == "A dystopian novel."
    assert work.firstPublicationYear == 1949  # the earliest
    assert work.coverImageURL == "https://covers.openlibrary.org/b/id/153541-L.jpg"  # not Google's
    assert work.subjectTags == ["Dystopian", "Fiction"]
    assert work.googleBooksVolumeIDs == ["kotPYEqx7kMC", "olGoogle"]
    assert work.amazonASINs == ["B003JTHWKU"]
    assert work.isbndbQuality == 85
    assert work.openLibraryWorkID == "OL1168083W"
    assert work.synthetic is False
    assert edition.isbn == "9780451524935"
    assert edition.isbns == ["9780451524935", "0451524934"]
    assert edition.publisher == "Signet"  # ISBNdb's, before Open Library's
    assert edition.format == EditionFormat.EBOOK  # ISBNdb's Paperback is also the "don't know" value
    assert edition.pageCount == 328
    assert edition.language == "en"
    assert edition.contributors == [ISBNDB, GOOGLE, OL]
    assert merged.authors == [AuthorDTO(name="George Orwell", gender=AuthorGender.MALE)]


def test_google_cover_is_kept_when_it_is_the_only_one() -> None:
    assert merge_records([google(), isbndb()]).work.coverImageURL.startswith("https://books.google.com/")


def test_priority_can_be_changed() -> None:
    merged = merge_records([google(), openlibrary()], priority=[OL, GOOGLE])
    assert merged.work.primaryProvider == OL
    assert merged.work.title == "1984"


def test_placeholder_author_stays_when_alone() -> None:
    assert merge_authors([AuthorDTO(name="Unknown Author")]) == [AuthorDTO(name="Unknown Author")]
    assert merge_authors([AuthorDTO(name="unknown author"), AuthorDTO(name="Ann Leckie")]) == [
        AuthorDTO(name="Ann Leckie")
    ]


def test_merge_needs_records() -> None:
    with pytest.raises(ValueError, match=r"^merge_records needs at least one record$"):
        merge_records([])


def test_merge_by_isbn_groups_10_and_13_and_keeps_positions() -> None:
    other = BookRecord(work=WorkDTO(title="Dune", primaryProvider=GOOGLE), edition=EditionDTO(isbn="9780441172719"))
    no_isbn = BookRecord(work=WorkDTO(title="Zine", primaryProvider=OL), edition=EditionDTO())
    result = merge_by_isbn([google(), other, no_isbn, openlibrary()])
    assert [r.work.title for r in result] == ["Nineteen Eighty-Four", "Dune", "Zine"]
    assert result[0].work.contributors == [GOOGLE, OL]
    assert result[1] == other
    assert result[2] == no_isbn


def test_merge_by_isbn_is_transitive() -> None:
    a = BookRecord(work=WorkDTO(title="a", primaryProvider=GOOGLE), edition=EditionDTO(isbns=["0306406152"]))
    b = BookRecord(
        work=WorkDTO(title="b", primaryProvider=OL), edition=EditionDTO(isbns=["9780306406157", "9780451524935"])
    )
    c = BookRecord(work=WorkDTO(title="c", primaryProvider=ISBNDB), edition=EditionDTO(isbns=["0451524934"]))
    assert [r.edition.isbns for r in merge_by_isbn([a, c, b])] == [
        ["9780306406157", "9780451524935", "0451524934", "0306406152"]  # ISBN-13s first, then ISBNdb's before Google's
    ]


def test_dedupe_keeps_the_first_unchanged() -> None:
    first, second = google(), openlibrary()
    assert dedupe_by_isbn([first, second]) == [first]
    assert dedupe_by_isbn([second, first]) == [second]


def test_split_records_keeps_works_and_editions_aligned() -> None:
    recs = merge_by_isbn([google(), isbndb(), openlibrary()])
    works, editions, authors = split_records(recs)
    assert len(works) == len(editions) == 1
    assert authors == [AuthorDTO(name="George Orwell", gender=AuthorGender.MALE)]


# --- properties --------------------------------------------------------------------------------------------

RANK = {p: i for i, p in enumerate(DEFAULT_PRIORITY)}
# Records are wide (about 50 fields each): 50 examples of several records already draw ~25 000 values.
few = settings(max_examples=50)


def by_priority(recs: list[BookRecord]) -> list[BookRecord]:
    return sorted(recs, key=lambda r: RANK[r.work.primaryProvider])


@few
@given(st.lists(records(), min_size=2, max_size=6), st.data())
def test_merge_is_a_left_fold(recs: list[BookRecord], data: st.DataObject) -> None:
    recs = by_priority(recs)
    k = data.draw(st.integers(1, len(recs) - 1))
    xs, ys = recs[:k], recs[k:]
    assert merge_records([merge_records(xs), merge_records(ys)]) == merge_records(xs + ys)


@few
@given(st.tuples(*(records(st.just(p)) for p in DataProvider)), st.data())
def test_order_of_different_providers_does_not_matter(recs: tuple[BookRecord, ...], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(recs))
    assert merge_records(shuffled) == merge_records(list(recs))


@given(records())
def test_repeats_change_nothing(record: BookRecord) -> None:
    once = merge_records([record])
    assert merge_records([record, record]) == once
    assert merge_records([once]) == once


@few
@given(st.lists(records(), min_size=1, max_size=5))
def test_merged_record_keeps_every_source(recs: list[BookRecord]) -> None:
    merged = merge_records(recs)
    providers = {r.work.primaryProvider for r in recs}
    assert providers <= set(merged.work.contributors or [])
    assert merged.work.primaryProvider == by_priority(recs)[0].work.primaryProvider
    assert merged.work.isbndbQuality == max(r.work.isbndbQuality for r in recs)
    for field in ("googleBooksVolumeIDs", "amazonASINs", "librarythingIDs", "goodreadsWorkIDs", "subjectTags"):
        assert all(set(getattr(r.work, field)) <= set(getattr(merged.work, field)) for r in recs)
    cleaned = {clean_isbn(i) for r in recs for i in [*r.edition.isbns, *([r.edition.isbn] if r.edition.isbn else [])]}
    assert set(merged.edition.isbns) == cleaned
    assert merged.edition.isbn == (merged.edition.isbns[0] if merged.edition.isbns else None)
    body = msgspec.json.encode(merged)
    client.assert_no_null(msgspec.json.decode(body))
    client.decode(msgspec.json.encode(merged.work), client.Work)
    client.decode(msgspec.json.encode(merged.edition), client.Edition)


@few
@given(st.lists(records(), max_size=8))
def test_merge_by_isbn_leaves_no_shared_isbn_and_loses_none(recs: list[BookRecord]) -> None:
    result = merge_by_isbn(recs)
    keys = [set(record_isbn_keys(r)) for r in result]
    assert all(not (a & b) for i, a in enumerate(keys) for b in keys[i + 1 :])
    assert set().union(*keys) == {k for r in recs for k in record_isbn_keys(r)}
    assert len(result) <= len(recs)
    works, editions, _ = split_records(result)
    assert len(works) == len(editions) == len(result)


@few
@given(st.lists(records(), max_size=8))
def test_dedupe_keeps_a_subsequence_in_order(recs: list[BookRecord]) -> None:
    result = dedupe_by_isbn(recs)
    positions = [next(i for i, r in enumerate(recs) if r is kept) for kept in result]
    assert positions == sorted(positions)
    keys = [set(record_isbn_keys(r)) for r in result]
    assert all(not (a & b) for i, a in enumerate(keys) for b in keys[i + 1 :])


@given(st.lists(records(), min_size=1, max_size=5))
def test_a_merged_record_splits_alike_with_or_without_merging_its_authors_again(recs: list[BookRecord]) -> None:
    # ``split_records(merged=True)`` takes one merged record's authors as they are (the cached ISBN path).
    merged = [merge_records(recs)]
    assert split_records(merged, merged=True) == split_records(merged)
