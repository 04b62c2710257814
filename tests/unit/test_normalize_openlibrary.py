"""Open Library → records (reference §8.2, §5): search docs, edition records (``/isbn/{isbn}.json``) and
``/api/books`` entries, field by field, and robustness to any JSON."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bookstrack.books.dto import AuthorDTO, DataProvider, EditionFormat
from bookstrack.books.normalize.openlibrary import (
    cover_url,
    normalize_books_api,
    normalize_edition,
    normalize_search,
    normalize_search_doc,
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

# search.json as in the original's tests/mocks/handlers/openlibrary.js (reference §13.8), with the fields the
# real search returns for such a doc (cover_i, subject, id_* arrays).
SEARCH = {
    "numFound": 1,
    "start": 0,
    "numFoundExact": True,
    "docs": [
        {
            "key": "/works/OL45804W",
            "title": "The Google story",
            "author_name": ["David A. Vise", "Mark Malseed"],
            "author_key": ["OL1234A", "OL5678A"],
            "first_publish_year": 2005,
            "isbn": ["0739314823", "9780739314821", "9780553804577", "055380457X"],
            "publisher": ["Delacorte Press", "Bantam"],
            "publish_date": ["Nov 15, 2005", "2006"],
            "language": ["eng"],
            "number_of_pages_median": 207,
            "edition_count": 5,
            "cover_i": 12345,
            "subject": ["science fiction", "Internet industry", "Google (Firm)"],
            "id_goodreads": ["52561"],
            "id_amazon": ["0553804577"],
            "id_librarything": ["126584"],
            "id_google": ["zyTCAlFPjgYC"],
        }
    ],
}

# /isbn/9780261103344.json after the redirect to /books/OL7353617M.json (the real edition record shape).
EDITION = {
    "key": "/books/OL7353617M",
    "title": "The Hobbit",
    "subtitle": "or There and Back Again",
    "publishers": ["HarperCollins"],
    "publish_date": "1999",
    "number_of_pages": 310,
    "isbn_10": ["0261103342"],
    "isbn_13": ["9780261103344"],
    "covers": [8406786, -1],
    "physical_format": "Hardcover",
    "languages": [{"key": "/languages/eng"}],
    "works": [{"key": "/works/OL262758W"}],
    "authors": [{"key": "/authors/OL26320A"}],
    "identifiers": {"goodreads": ["5907"], "librarything": ["3332"], "amazon": ["0261103342"]},
    "type": {"key": "/type/edition"},
}
WORK = {
    "key": "/works/OL262758W",
    "title": "The Hobbit",
    "description": {"type": "/type/text", "value": "Bilbo Baggins is a hobbit who enjoys a comfortable life."},
    "subjects": ["Fantasy fiction", "Dragons"],
    "first_publish_date": "September 21, 1937",
}

# /api/books?bibkeys=ISBN:0451526538&format=json&jscmd=data
BOOKS_API = {
    "ISBN:0451526538": {
        "url": "https://openlibrary.org/books/OL1017798M/The_adventures_of_Tom_Sawyer",
        "key": "/books/OL1017798M",
        "title": "The adventures of Tom Sawyer",
        "authors": [{"url": "https://openlibrary.org/authors/OL18319A/Mark_Twain", "name": "Mark Twain"}],
        "number_of_pages": 216,
        "pagination": "216 p. ;",
        "identifiers": {"isbn_10": ["0451526538"], "lccn": ["93005405"], "openlibrary": ["OL1017798M"],
                        "librarything": ["2236"], "goodreads": ["1929684"]},
        "publishers": [{"name": "Signet Classic"}],
        "publish_date": "1997",
        "subjects": [{"name": "Juvenile fiction", "url": "https://openlibrary.org/subjects/juvenile_fiction"},
                     {"name": "Classic Literature", "url": "x"}],
        "cover": {"small": "https://covers.openlibrary.org/b/id/295577-S.jpg",
                  "medium": "https://covers.openlibrary.org/b/id/295577-M.jpg",
                  "large": "http://covers.openlibrary.org/b/id/295577-L.jpg"},
    },
    "ISBN:nope": {"title": "ignored: not an ISBN"},
    "ISBN:9780000000002": {"identifiers": {}},  # no title: skipped
}


def test_a_search_doc_maps_field_by_field():
    (record,) = normalize_search(SEARCH)
    work, edition = record.work, record.edition
    cover = "https://covers.openlibrary.org/b/id/12345-L.jpg"
    assert work.title == "The Google story"
    # Open Library subjects are preprocessed to "First-letter-upper, rest lower" (reference §8.10)
    assert work.subjectTags == ["Google (firm)", "Internet industry", "Science Fiction"]
    assert work.originalLanguage == "eng"  # 3 letters, as Open Library writes it
    assert work.firstPublicationYear == 2005
    assert work.description is None
    assert work.coverImageURL == cover
    assert work.openLibraryWorkID == "OL45804W"
    assert work.goodreadsWorkIDs == ["52561"]
    assert work.amazonASINs == ["0553804577"]
    assert work.librarythingIDs == ["126584"]
    assert work.googleBooksVolumeIDs == ["zyTCAlFPjgYC"]
    assert work.primaryProvider == DataProvider.OPENLIBRARY
    assert work.contributors == [DataProvider.OPENLIBRARY]
    assert work.isbndbQuality == 0
    # the first 13- and the first 10-character ISBNs
    assert edition.isbns == ["9780739314821", "0739314823"]
    assert edition.isbn == "9780739314821"
    assert edition.publisher == "Delacorte Press"
    assert edition.publicationDate == "Nov 15, 2005"
    assert edition.pageCount == 207
    assert edition.format == EditionFormat.PAPERBACK
    assert edition.coverImageURL == cover
    assert edition.language == "eng"
    assert edition.openLibraryEditionID is None  # search docs carry work keys only
    assert (edition.amazonASINs, edition.googleBooksVolumeIDs, edition.librarythingIDs) == (
        ["0553804577"], ["zyTCAlFPjgYC"], ["126584"],
    )
    assert record.authors == [AuthorDTO(name="David A. Vise"), AuthorDTO(name="Mark Malseed")]
    check_record(record)


def test_an_isbn_search_keeps_the_isbn_asked_for():
    (record,) = normalize_search(SEARCH, isbn="055380457X")
    assert record.edition.isbns == ["9780553804577", "055380457X"]
    (record,) = normalize_search(SEARCH, isbn="978-0-553-80457-7")
    assert record.edition.isbn == "9780553804577"
    # an ISBN the doc does not hold changes nothing
    (record,) = normalize_search(SEARCH, isbn="9780261103344")
    assert record.edition.isbn == "9780739314821"


def test_docs_without_title_are_skipped_and_without_authors_get_the_placeholder():
    assert normalize_search({"numFound": 0, "docs": []}) == []
    assert normalize_search({"docs": [{"key": "/works/OL1W"}, {"title": ""}, [], None]}) == []
    record = normalize_search_doc({"title": "Lonely"})
    assert record.authors == [AuthorDTO(name="Unknown Author")]
    assert record.work.coverImageURL is None
    check_record(record)


def test_cover_ids_must_be_positive_integers():
    assert cover_url(12345) == "https://covers.openlibrary.org/b/id/12345-L.jpg"
    for bad in (0, -1, "12345x", None, 1.5, True, [1]):
        assert cover_url(bad) is None


def test_an_edition_record_with_its_work_and_author_names():
    record = normalize_edition(EDITION, work=WORK, author_names=["J.R.R. Tolkien", "J.R.R. Tolkien", " "])
    work, edition = record.work, record.edition
    assert work.title == "The Hobbit"
    assert work.description.startswith("Bilbo Baggins")
    assert work.subjectTags == ["Dragons", "Fantasy"]
    assert work.firstPublicationYear == 1999  # the work's date has no leading year: the edition's
    assert work.openLibraryWorkID == "OL262758W"
    assert work.coverImageURL == "https://covers.openlibrary.org/b/id/8406786-L.jpg"
    assert work.goodreadsWorkIDs == ["5907"]
    assert edition.openLibraryEditionID == "OL7353617M"  # FIX 28
    assert edition.isbns == ["9780261103344", "0261103342"]
    assert edition.publisher == "HarperCollins"
    assert edition.pageCount == 310
    assert edition.format == EditionFormat.HARDCOVER  # physical_format, mapped like a binding
    assert edition.editionTitle == "The Hobbit: or There and Back Again"
    assert edition.language == "eng"
    assert record.authors == [AuthorDTO(name="J.R.R. Tolkien")]
    check_record(record)


def test_an_edition_record_alone_and_isbn10_only():
    record = normalize_edition({"title": "Old", "isbn_10": ["080442957X"], "physical_format": "Mass Market Paperback"})
    assert record.edition.isbns == ["9780804429573", "080442957X"]
    assert record.edition.format == EditionFormat.PAPERBACK
    assert record.authors == [AuthorDTO(name="Unknown Author")]
    check_record(record)
    assert normalize_edition({"key": "/books/OL1M"}) is None
    assert normalize_edition(None) is None


def test_the_books_api_answer_is_keyed_by_isbn13():
    found = normalize_books_api(BOOKS_API)
    assert list(found) == ["9780451526533"]
    record = found["9780451526533"]
    assert record.work.title == "The adventures of Tom Sawyer"
    # (the "Classic Literature" mapping cannot match after Open Library's preprocessing, as in the original)
    assert record.work.subjectTags == ["Classic literature", "Juvenile fiction"]
    assert record.work.coverImageURL == "https://covers.openlibrary.org/b/id/295577-L.jpg"  # upgraded to https
    assert record.edition.isbns == ["9780451526533", "0451526538"]
    assert record.edition.publisher == "Signet Classic"
    assert record.edition.pageCount == 216
    assert record.edition.openLibraryEditionID == "OL1017798M"
    assert record.work.goodreadsWorkIDs == ["1929684"]
    assert record.authors == [AuthorDTO(name="Mark Twain")]
    check_record(record)
    assert normalize_books_api({}) == {}
    assert normalize_books_api([1, 2]) == {}


# -- any JSON ------------------------------------------------------------------------------------------

def search_answers(value):
    doc = objects({
        "key": value(st.sampled_from(["/works/OL45804W", "/works/x", "OL1W"]), plausible_text),
        "title": value(plausible_text),
        "author_name": value(st.lists(plausible_text, max_size=3)),
        "first_publish_year": value(st.integers(-10, 3000)),
        "isbn": value(st.lists(isbnish, max_size=4)),
        "publisher": value(st.lists(plausible_text, max_size=2)),
        "publish_date": value(st.lists(plausible_text, max_size=2)),
        "language": value(st.lists(st.sampled_from(["eng", "jpn", ""]), max_size=2)),
        "number_of_pages_median": value(st.integers(-5, 3000)),
        "cover_i": value(st.integers(-5, 10**9)),
        "subject": value(st.lists(plausible_text, max_size=3)),
        "id_goodreads": value(st.lists(plausible_text, max_size=2)),
        "id_amazon": value(st.lists(plausible_text, max_size=2)),
        "id_google": value(st.lists(plausible_text, max_size=2)),
    }, required=("title",))
    return objects({"numFound": value(st.integers(0, 10)), "docs": value(st.lists(doc, max_size=4))},
                   required=("docs",))


def editions(value):
    return objects({
        "key": value(st.sampled_from(["/books/OL1M", "/books/x"])),
        "title": value(plausible_text),
        "subtitle": value(plausible_text),
        "publishers": value(st.lists(plausible_text, max_size=2)),
        "publish_date": value(plausible_text),
        "number_of_pages": value(st.integers(-5, 3000)),
        "isbn_10": value(st.lists(isbnish, max_size=2)),
        "isbn_13": value(st.lists(isbnish, max_size=2)),
        "covers": value(st.lists(st.integers(-5, 10**9), max_size=2)),
        "physical_format": value(st.sampled_from(["Hardcover", "Paperback", "E-book", "Audio CD", "Board book"])),
        "languages": value(st.lists(objects({"key": value(st.sampled_from(["/languages/eng", "/x"]))}), max_size=2)),
        "works": value(st.lists(objects({"key": value(st.sampled_from(["/works/OL1W", "x"]))}), max_size=2)),
        "identifiers": value(objects({"goodreads": value(st.lists(plausible_text, max_size=2))})),
        "description": value(plausible_text, objects({"value": value(plausible_text)})),
    }, required=("title",))


def books_api(value):
    entry = objects({
        "key": value(st.sampled_from(["/books/OL1M", "/books/x"])),
        "title": value(plausible_text),
        "authors": value(st.lists(objects({"name": value(plausible_text)}), max_size=2)),
        "number_of_pages": value(st.integers(-5, 3000)),
        "identifiers": value(objects({"isbn_10": value(st.lists(isbnish, max_size=2)),
                                      "isbn_13": value(st.lists(isbnish, max_size=2))})),
        "publishers": value(st.lists(objects({"name": value(plausible_text)}), max_size=2)),
        "subjects": value(st.lists(objects({"name": value(plausible_text)}), max_size=2)),
        "cover": value(objects({"large": value(urlish), "medium": value(urlish)})),
        "publish_date": value(plausible_text),
    }, required=("title",))
    keys = st.sampled_from(["ISBN:0451526538", "ISBN:9780261103344", "ISBN:", "OLID:OL1M", "ISBN:97800"])
    return st.dictionaries(keys, value(entry), max_size=3)


@settings(max_examples=200)
@given(st.one_of(json_values, search_answers(typed), search_answers(loose)), st.sampled_from([None, "0739314823"]))
def test_any_search_answer_never_raises(data, isbn):
    for record in normalize_search(as_json(data), isbn=isbn):
        check_record(record)


@settings(max_examples=200)
@given(st.one_of(json_values, editions(typed), editions(loose)), st.one_of(json_values, editions(typed)),
       st.lists(st.text(max_size=5), max_size=2))
def test_any_edition_record_never_raises(edition, work, names):
    record = normalize_edition(as_json(edition), work=as_json(work), author_names=names)
    if record is not None:
        check_record(record)


@settings(max_examples=200)
@given(st.one_of(json_values, books_api(typed), books_api(loose)))
def test_any_books_api_answer_never_raises(data):
    for key, record in normalize_books_api(as_json(data)).items():
        assert len(key) == 13
        check_record(record)
