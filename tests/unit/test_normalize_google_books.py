"""Google Books volumes → records (reference §8.1, §5): a realistic sample field by field, the FIXes (format
from saleInfo.isEbook, never "Other"; https covers with zoom=3), and robustness to any JSON."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from bookstrack.books.dto import AuthorDTO, DataProvider, EditionFormat, ReviewStatus
from bookstrack.books.normalize.google_books import cover_url, normalize_volume, normalize_volumes
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

# The shape of tests/mocks/handlers/google-books.js in the original (reference §13.8), with saleInfo as the
# real API sends it.
VOLUMES = {
    "kind": "books#volumes",
    "totalItems": 1,
    "items": [
        {
            "kind": "books#volume",
            "id": "zyTCAlFPjgYC",
            "etag": "f0zKg75Mx/I",
            "selfLink": "https://www.googleapis.com/books/v1/volumes/zyTCAlFPjgYC",
            "volumeInfo": {
                "title": "The Google story",
                "authors": ["David A. Vise", "Mark Malseed"],
                "publisher": "Random House Digital, Inc.",
                "publishedDate": "2005-11-15",
                "description": "Here is the story behind one of the most remarkable Internet successes of our time.",
                "industryIdentifiers": [
                    {"type": "ISBN_13", "identifier": "9780739314821"},
                    {"type": "ISBN_10", "identifier": "0739314823"},
                ],
                "readingModes": {"text": False, "image": False},
                "pageCount": 207,
                "printType": "BOOK",
                "categories": ["Business & Economics"],
                "averageRating": 3.5,
                "ratingsCount": 136,
                "maturityRating": "NOT_MATURE",
                "language": "en",
                "imageLinks": {
                    "smallThumbnail": "http://books.google.com/books/content?id=zyTCAlFPjgYC&printsec=frontcover"
                    "&img=1&zoom=5&edge=curl&source=gbs_api",
                    "thumbnail": "http://books.google.com/books/content?id=zyTCAlFPjgYC&printsec=frontcover"
                    "&img=1&zoom=1&edge=curl&source=gbs_api",
                },
            },
            "saleInfo": {"country": "US", "saleability": "NOT_FOR_SALE", "isEbook": False},
        }
    ],
}
COVER = (
    "https://books.google.com/books/content?id=zyTCAlFPjgYC&printsec=frontcover&img=1&edge=curl&source=gbs_api&zoom=3"
)


def test_the_sample_maps_field_by_field():
    (record,) = normalize_volumes(VOLUMES)
    work, edition = record.work, record.edition
    assert work.title == "The Google story"
    assert work.subjectTags == ["Business & Economics"]
    assert work.originalLanguage == "en"
    assert work.firstPublicationYear == 2005
    assert work.description.startswith("Here is the story")
    assert work.coverImageURL == COVER
    assert work.synthetic is False
    assert work.primaryProvider == DataProvider.GOOGLE_BOOKS
    assert work.contributors == [DataProvider.GOOGLE_BOOKS]
    assert work.googleBooksVolumeIDs == ["zyTCAlFPjgYC"]
    assert (work.goodreadsWorkIDs, work.amazonASINs, work.librarythingIDs) == ([], [], [])
    assert work.isbndbQuality == 0
    assert work.reviewStatus == ReviewStatus.VERIFIED
    assert work.openLibraryWorkID is None
    assert work.isbndbID is None

    assert edition.isbn == "9780739314821"
    assert edition.isbns == ["9780739314821", "0739314823"]
    assert edition.title == "The Google story"
    assert edition.publisher == "Random House Digital, Inc."
    assert edition.publicationDate == "2005-11-15"
    assert edition.pageCount == 207
    assert edition.format == EditionFormat.PAPERBACK
    assert edition.coverImageURL == COVER
    assert edition.editionDescription == work.description
    assert edition.language == "en"
    assert edition.googleBooksVolumeIDs == ["zyTCAlFPjgYC"]
    assert (edition.amazonASINs, edition.librarythingIDs, edition.isbndbQuality) == ([], [], 0)
    assert record.authors == [AuthorDTO(name="David A. Vise"), AuthorDTO(name="Mark Malseed")]
    check_record(record)


def test_an_ebook_is_an_e_book_and_nothing_is_ever_other():
    volumes = copy.deepcopy(VOLUMES)
    volumes["items"][0]["saleInfo"]["isEbook"] = True
    assert normalize_volumes(volumes)[0].edition.format == EditionFormat.EBOOK
    for sale_info in ({}, {"isEbook": "true"}, {"isEbook": 1}, None, []):
        volumes["items"][0]["saleInfo"] = sale_info
        assert normalize_volumes(volumes)[0].edition.format == EditionFormat.PAPERBACK


def test_the_cover_rule_of_the_reference():
    thumbnail = "http://books.google.com/books/content?id=X&printsec=frontcover&img=1&zoom=1&edge=curl&source=gbs_api"
    assert cover_url(thumbnail) == (
        "https://books.google.com/books/content?id=X&printsec=frontcover&img=1&edge=curl&source=gbs_api&zoom=3"
    )
    assert cover_url("https://books.google.com/books/content?id=X") == "https://books.google.com/books/content?id=X&zoom=3"
    assert cover_url("https://example.com/cover.jpg") == "https://example.com/cover.jpg?zoom=3"
    for bad in (None, "", "javascript:alert(1)", "ftp://x", 42, {"url": "http://x"}):
        assert cover_url(bad) is None


def test_an_empty_answer_and_items_without_a_title():
    assert normalize_volumes({"kind": "books#volumes", "totalItems": 0}) == []
    assert normalize_volumes({"items": []}) == []
    assert normalize_volumes({"items": [{"id": "a", "volumeInfo": {"title": "  "}}, {"id": "b"}, None, 7]}) == []


def test_a_minimal_volume_gets_the_placeholder_author_and_no_optional_fields():
    record = normalize_volume({"volumeInfo": {"title": "Minimal"}})
    assert record is not None
    assert record.authors == [AuthorDTO(name="Unknown Author")]
    assert record.edition.isbns == []
    assert record.edition.isbn is None
    assert record.work.googleBooksVolumeIDs == []
    check_record(record)


def test_isbn10_only_and_odd_identifiers():
    record = normalize_volume({"id": "v", "volumeInfo": {"title": "T", "industryIdentifiers": [
        {"type": "OTHER", "identifier": "UOM:39015061430834"},
        {"type": "ISBN_13", "identifier": "not-an-isbn"},
        {"type": "ISBN_10", "identifier": "0-8044-2957-x"},
        {"type": "ISBN_13", "identifier": "978-0-8044-2957-3"},
    ]}})
    assert record.edition.isbns == ["9780804429573", "080442957X"]


def test_google_categories_go_through_the_genre_normalizer():
    record = normalize_volume({"volumeInfo": {"title": "T", "categories": ["Fiction / Fantasy / General", 5]}})
    assert record.work.subjectTags == ["Fantasy", "Fiction"]


def test_wrong_types_are_unknowns_not_errors():
    record = normalize_volume({"id": 12, "volumeInfo": {
        "title": "T", "authors": "Solo Author", "pageCount": "207", "publishedDate": 2005, "language": ["en"],
        "imageLinks": "http://x", "categories": {"a": 1}, "description": 3.5,
    }})
    assert record.authors == [AuthorDTO(name="Solo Author")]
    assert record.edition.pageCount == 207
    assert record.edition.publicationDate is None
    assert record.work.firstPublicationYear is None
    assert record.work.originalLanguage is None
    assert record.work.coverImageURL is None
    assert record.work.googleBooksVolumeIDs == []
    assert record.work.description is None
    check_record(record)


# -- any JSON ------------------------------------------------------------------------------------------

def volumes(value):
    """A volume strategy: ``value`` wraps each field's plausible strategy (``typed`` or ``loose``)."""
    identifier = objects({
        "type": value(st.sampled_from(["ISBN_13", "ISBN_10", "OTHER"])), "identifier": value(isbnish),
    }, required=("type", "identifier"))
    info = objects({
        "title": value(plausible_text),
        "authors": value(st.lists(plausible_text, max_size=3)),
        "publisher": value(plausible_text),
        "publishedDate": value(st.sampled_from(["2005", "2005-11", "2005-11-15", "c. 1999", "0000", "+1949"])),
        "description": value(plausible_text),
        "industryIdentifiers": value(st.lists(identifier, max_size=3)),
        "pageCount": value(st.integers(-5, 5000), st.floats(0, 5000)),
        "categories": value(st.lists(plausible_text, max_size=3)),
        "language": value(st.sampled_from(["en", "ja", "fr"])),
        "imageLinks": value(objects({"thumbnail": value(urlish)})),
    }, required=("title",))
    return objects({
        "id": value(plausible_text), "volumeInfo": value(info), "saleInfo": value(objects({"isEbook": st.booleans()})),
    }, required=("volumeInfo",))


def answers(value):
    return objects({"kind": st.just("books#volumes"), "items": value(st.lists(volumes(value), max_size=4))},
                   required=("items",))


@settings(max_examples=200)
@given(st.one_of(json_values, answers(typed), answers(loose)))
def test_any_json_google_might_send_never_raises(data):
    for record in normalize_volumes(as_json(data)):
        check_record(record)


@settings(max_examples=200)
@given(st.one_of(volumes(typed), volumes(loose)))
def test_any_single_volume_never_raises(item):
    record = normalize_volume(as_json(item))
    if record is not None:
        check_record(record)
