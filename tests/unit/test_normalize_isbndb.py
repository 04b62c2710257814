"""ISBNdb → records (reference §8.3, §5): a complete book field by field, the binding mapping, the quality
score, the ISBN-10-only and minimal samples of the original's fixtures, and robustness to any JSON."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookstrack.books.dto import AuthorDTO, DataProvider, EditionFormat
from bookstrack.books.normalize.isbndb import (
    natural_order,
    normalize_book,
    normalize_book_response,
    normalize_books,
    quality,
)
from tests.unit.normalize_support import (
    as_json,
    check_record,
    isbnish,
    json_values,
    loose,
    objects,
    plausible_text,
    typed,
    urlish,
)

# GET /book/9780439708180 as the real API answers (tests/mocks/handlers/isbndb.js, with the real "synopsis").
BOOK = {
    "book": {
        "title": "Harry Potter and the Sorcerer's Stone",
        "title_long": "Harry Potter and the Sorcerer's Stone (Harry Potter, Book 1)",
        "isbn": "0439708184",
        "isbn13": "9780439708180",
        "dewey_decimal": "[Fic]",
        "binding": "Paperback",
        "publisher": "Scholastic",
        "language": "en",
        "date_published": "1998-09-01",
        "edition": "1st",
        "pages": 320,
        "dimensions": "Height: 7.5 Inches, Length: 5.25 Inches",
        "image": "https://images.isbndb.com/covers/81/80/9780439708180.jpg",
        "msrp": 10.99,
        "synopsis": "Harry Potter has never even heard of Hogwarts when the letters start dropping on the doormat.",
        "authors": ["J.K. Rowling", "Mary GrandPré"],
        "subjects": ["Fantasy fiction", "Wizards", "Science Fiction & Fantasy"],
        "reviews": [],
        "prices": [{"condition": "New", "merchant": "x", "price": "8.99"}],
        "related": {"type": "print"},
    }
}


def test_a_complete_book_maps_field_by_field():
    record = normalize_book_response(BOOK)
    work, edition = record.work, record.edition
    assert work.title == "Harry Potter and the Sorcerer's Stone"
    assert work.subjectTags == ["Fantasy", "Science Fiction", "Wizards"]
    assert work.originalLanguage == "en"
    assert work.firstPublicationYear == 1998
    assert work.description.startswith("Harry Potter has never")
    assert work.coverImageURL is None  # ISBNdb's image belongs to the edition only
    assert work.isbndbID == "9780439708180"
    assert work.isbndbQuality == 100
    assert work.primaryProvider == DataProvider.ISBNDB
    assert work.contributors == [DataProvider.ISBNDB]
    assert edition.isbn == "9780439708180"
    assert edition.isbns == ["9780439708180", "0439708184"]
    assert edition.publisher == "Scholastic"
    assert edition.publicationDate == "1998-09-01"
    assert edition.pageCount == 320
    assert edition.format == EditionFormat.PAPERBACK
    assert edition.coverImageURL == "https://images.isbndb.com/covers/81/80/9780439708180.jpg"
    assert edition.editionTitle == "Harry Potter and the Sorcerer's Stone (Harry Potter, Book 1)"
    assert edition.editionDescription == work.description
    assert edition.isbndbID == "9780439708180"
    assert edition.isbndbQuality == 100
    assert (edition.amazonASINs, edition.googleBooksVolumeIDs, edition.librarythingIDs) == ([], [], [])
    assert record.authors == [AuthorDTO(name="J.K. Rowling"), AuthorDTO(name="Mary GrandPré")]
    check_record(record)


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        ("Hardcover", EditionFormat.HARDCOVER),
        ("hardback", EditionFormat.HARDCOVER),
        ("Library Binding, Hardcover", EditionFormat.HARDCOVER),
        ("Paperback", EditionFormat.PAPERBACK),
        ("Mass Market Paperback", EditionFormat.PAPERBACK),
        ("Trade Paper", EditionFormat.PAPERBACK),
        ("Kindle Edition", EditionFormat.EBOOK),
        ("ebook", EditionFormat.EBOOK),
        ("E-Book", EditionFormat.EBOOK),
        ("Digital", EditionFormat.EBOOK),
        ("Audio CD", EditionFormat.AUDIOBOOK),
        ("Audible Audiobook", EditionFormat.AUDIOBOOK),
        ("Board book", EditionFormat.PAPERBACK),
        ("", EditionFormat.PAPERBACK),
        (None, EditionFormat.PAPERBACK),
        (7, EditionFormat.PAPERBACK),
    ],
)
def test_binding_mapping(binding, expected):
    assert normalize_book({"title": "T", "binding": binding}).edition.format == expected


def test_quality_score():
    assert quality({}) == 50
    assert quality({"image": "https://i/1.jpg"}) == 70
    assert quality({"synopsis": "x" * 50}) == 50  # longer than 50 characters only
    assert quality({"synopsis": "x" * 51}) == 60
    assert quality({"pages": 0, "publisher": "P", "subjects": [], "authors": ["A"]}) == 60
    assert quality(BOOK["book"]) == 100
    assert quality("not a book") == 50


def test_the_minimal_and_isbn10_only_samples():
    minimal = normalize_book({"title": "Minimal Book", "isbn13": "9780000000002"})
    assert minimal.edition.isbns == ["9780000000002"]
    assert minimal.work.isbndbQuality == 50
    assert minimal.authors == []  # ISBNdb never had a placeholder author
    assert minimal.edition.editionTitle is None
    check_record(minimal)
    ten = normalize_book({"title": "Old Book", "isbn": "080442957X", "title_long": "Old Book"})
    assert ten.edition.isbns == ["9780804429573", "080442957X"]
    assert ten.edition.editionTitle is None  # same as the title
    assert ten.work.isbndbID == "9780804429573"
    no_isbn = normalize_book({"title": "No ISBN"})
    assert no_isbn.edition.isbns == []
    assert no_isbn.work.isbndbID is None


def test_lists_of_books_in_every_answer_shape():
    books = [BOOK["book"], {"title": ""}, {"isbn13": "9780000000002"}, "junk"]
    assert len(normalize_books({"total": 4, "books": books})) == 1  # GET /books/{query}, /search/books
    assert len(normalize_books({"total": 4, "requested": 4, "data": books})) == 1  # POST /books
    assert len(normalize_books(books)) == 1
    assert normalize_books({"errorMessage": "Not Found"}) == []
    assert normalize_book_response({"errorMessage": "Book not found"}) is None


def test_an_http_image_is_upgraded_and_a_bad_one_dropped():
    assert normalize_book({"title": "T", "image": "http://images.isbndb.com/c.jpg"}).edition.coverImageURL == (
        "https://images.isbndb.com/c.jpg"
    )
    record = normalize_book({"title": "T", "image": "data:image/png;base64,AAAA"})
    assert record.edition.coverImageURL is None
    assert record.work.isbndbQuality == 50


# -- any JSON ------------------------------------------------------------------------------------------

def books(value):
    return objects({
        "title": value(plausible_text),
        "title_long": value(plausible_text),
        "isbn": value(isbnish),
        "isbn13": value(isbnish),
        "binding": value(st.sampled_from(["Hardcover", "Paperback", "Kindle Edition", "Audio CD", "Unknown"])),
        "publisher": value(plausible_text),
        "date_published": value(st.sampled_from(["1998-09-01", "1998", "n.d.", ""]), st.integers(1000, 2100)),
        "pages": value(st.integers(-5, 5000)),
        "image": value(urlish),
        "synopsis": value(plausible_text, st.text(min_size=51, max_size=80)),
        "language": value(st.sampled_from(["en", "ja"])),
        "subjects": value(st.lists(plausible_text, max_size=3)),
        "authors": value(st.lists(plausible_text, max_size=3)),
    }, required=("title",))


@settings(max_examples=200)
@given(st.one_of(
    json_values,
    objects({"book": books(typed)}, required=("book",)),
    objects({"book": loose(books(loose))}, required=("book",)),
))
def test_any_book_answer_never_raises(data):
    record = normalize_book_response(as_json(data))
    if record is not None:
        check_record(record)


@settings(max_examples=200)
@given(st.one_of(
    json_values,
    objects({"books": typed(st.lists(books(typed), max_size=3)), "total": json_values}),
    objects({"data": loose(st.lists(books(loose), max_size=3))}),
    st.lists(books(typed), max_size=3),
))
def test_any_list_answer_never_raises(data):
    for record in normalize_books(as_json(data)):
        check_record(record)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Tolkien, J. R. R.", "J. R. R. Tolkien"),
        ("J. R. R. Tolkien", "J. R. R. Tolkien"),
        ("King, Martin Luther, Jr.", "King, Martin Luther, Jr."),
        ("Plato", "Plato"),
        (", Anonymous", ", Anonymous"),
    ],
)
def test_isbndb_last_first_names_are_turned_around(given, expected):
    assert natural_order(given) == expected
