"""The canonical records on the wire (API.md §2, reference §5): field names exactly as the reference,
``null`` never written, required fields always written (even empty or at their default), enum values
strict, and every encoding decodes under the client's strict rules (``tests/client_mirror.py``)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookstrack.books.dto import (
    AuthorDTO,
    AuthorGender,
    BookRecord,
    CulturalRegion,
    DataProvider,
    EditionDTO,
    EditionFormat,
    ReviewStatus,
    WorkDTO,
    WorkWithAuthors,
)
from tests import client_mirror as client
from tests.unit.books_strategies import editions, records, rich_authors, works

WORK_FIELDS = (
    "title subjectTags originalLanguage firstPublicationYear description coverImageURL synthetic primaryProvider "
    "contributors openLibraryID openLibraryWorkID isbndbID googleBooksVolumeID goodreadsID goodreadsWorkIDs "
    "amazonASINs librarythingIDs googleBooksVolumeIDs lastISBNDBSync isbndbQuality reviewStatus originalImagePath "
    "boundingBox"
).split()
WORK_REQUIRED = (
    "title subjectTags goodreadsWorkIDs amazonASINs librarythingIDs googleBooksVolumeIDs isbndbQuality reviewStatus"
).split()
EDITION_FIELDS = (
    "isbn isbns title publisher publicationDate pageCount format coverImageURL editionTitle editionDescription "
    "language primaryProvider contributors openLibraryID openLibraryEditionID isbndbID googleBooksVolumeID "
    "goodreadsID lastISBNDBSync amazonASINs googleBooksVolumeIDs librarythingIDs isbndbQuality"
).split()
EDITION_REQUIRED = "isbns format amazonASINs googleBooksVolumeIDs librarythingIDs isbndbQuality".split()
AUTHOR_FIELDS = (
    "name gender culturalRegion nationality birthYear deathYear openLibraryID isbndbID googleBooksID goodreadsID "
    "bookCount"
).split()
AUTHOR_REQUIRED = ["name", "gender"]


def field_names(cls: type[msgspec.Struct]) -> list[str]:
    return [f.name for f in msgspec.structs.fields(cls)]


@pytest.mark.parametrize(
    ("cls", "expected"), [(WorkDTO, WORK_FIELDS), (EditionDTO, EDITION_FIELDS), (AuthorDTO, AUTHOR_FIELDS)]
)
def test_fields_are_the_references(cls: type[msgspec.Struct], expected: list[str]) -> None:
    assert sorted(field_names(cls)) == sorted(expected)


def test_enum_values_are_exactly_the_references() -> None:
    assert [f.value for f in EditionFormat] == ["Hardcover", "Paperback", "E-book", "Audiobook", "Mass Market"]
    assert [g.value for g in AuthorGender] == ["Female", "Male", "Non-binary", "Other", "Unknown"]
    assert [r.value for r in CulturalRegion] == [
        "Africa",
        "Asia",
        "Europe",
        "North America",
        "South America",
        "Oceania",
        "Middle East",
        "Caribbean",
        "Central Asia",
        "Indigenous",
        "International",
    ]
    assert [s.value for s in ReviewStatus] == ["verified", "needsReview", "userEdited"]
    assert [p.value for p in DataProvider] == ["google-books", "openlibrary", "isbndb", "gemini"]
    assert "Other" not in {f.value for f in EditionFormat}


@pytest.mark.parametrize(
    ("dto", "required"),
    [(WorkDTO(title="Dune"), WORK_REQUIRED), (EditionDTO(), EDITION_REQUIRED), (AuthorDTO(name="X"), AUTHOR_REQUIRED)],
)
def test_minimal_record_writes_every_required_field_and_nothing_else(dto: msgspec.Struct, required: list[str]) -> None:
    """The required fields at their defaults (empty arrays, 0, verified, Paperback, Unknown) survive
    ``omit_defaults``; every optional ``None`` is omitted."""
    encoded = msgspec.json.decode(msgspec.json.encode(dto))
    assert sorted(encoded) == sorted(required)


def test_minimal_encodings_exactly() -> None:
    assert msgspec.json.encode(WorkDTO(title="Dune")) == (
        b'{"title":"Dune","subjectTags":[],"goodreadsWorkIDs":[],"amazonASINs":[],"librarythingIDs":[],'
        b'"googleBooksVolumeIDs":[],"isbndbQuality":0,"reviewStatus":"verified"}'
    )
    assert msgspec.json.encode(EditionDTO()) == (
        b'{"isbns":[],"format":"Paperback","amazonASINs":[],"googleBooksVolumeIDs":[],"librarythingIDs":[],'
        b'"isbndbQuality":0}'
    )
    assert msgspec.json.encode(AuthorDTO(name="Ann Leckie")) == b'{"name":"Ann Leckie","gender":"Unknown"}'


def test_defaults_are_fresh_per_instance() -> None:
    a, b = WorkDTO(title="a"), WorkDTO(title="b")
    a.subjectTags.append("Fiction")
    assert b.subjectTags == []


def test_integers_stay_integers() -> None:
    edition = EditionDTO(pageCount=328, isbndbQuality=85)
    assert b'"pageCount":328' in msgspec.json.encode(edition)
    assert b'"firstPublicationYear":1949' in msgspec.json.encode(WorkDTO(title="1984", firstPublicationYear=1949))


def test_present_but_false_or_zero_optionals_are_written() -> None:
    encoded = msgspec.json.encode(WorkDTO(title="t", synthetic=False, firstPublicationYear=0))
    assert b'"synthetic":false' in encoded
    assert b'"firstPublicationYear":0' in encoded


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"isbns":[],"format":"Other"}', "$.format"),
        (b'{"name":"x","gender":"female"}', "$.gender"),
        (b'{"name":"x","culturalRegion":"Europa"}', "$.culturalRegion"),
    ],
)
def test_decoding_rejects_values_outside_the_enums(body: bytes, where: str) -> None:
    cls = EditionDTO if b"isbns" in body else AuthorDTO
    with pytest.raises(msgspec.ValidationError, match=rf"^Invalid enum value .* - at `\{where}`$"):
        msgspec.json.decode(body, type=cls)


def test_work_with_authors_carries_them() -> None:
    work = WorkWithAuthors(title="Ancillary Justice", authors=[AuthorDTO(name="Ann Leckie")])
    decoded = msgspec.json.decode(msgspec.json.encode(work))
    assert decoded["authors"] == [{"name": "Ann Leckie", "gender": "Unknown"}]
    assert msgspec.json.decode(msgspec.json.encode(WorkWithAuthors(title="x")))["authors"] == []
    client.decode(msgspec.json.encode(work), client.Work)


def check_wire(dto: msgspec.Struct, mirror: type, required: list[str]) -> None:
    body = msgspec.json.encode(dto)
    decoded = msgspec.json.decode(body)
    client.assert_no_null(decoded)
    assert set(required) <= set(decoded)
    client.decode(body, mirror)
    assert msgspec.json.decode(body, type=type(dto)) == dto


@given(works)
def test_any_work_encodes_for_the_client(work: WorkDTO) -> None:
    check_wire(work, client.Work, WORK_REQUIRED)


@given(editions)
def test_any_edition_encodes_for_the_client(edition: EditionDTO) -> None:
    check_wire(edition, client.Edition, EDITION_REQUIRED)


@given(rich_authors)
def test_any_author_encodes_for_the_client(author: AuthorDTO) -> None:
    check_wire(author, client.Author, AUTHOR_REQUIRED)


@given(st.lists(records(), max_size=4))
def test_a_search_response_of_any_records_decodes_strictly(recs: list[BookRecord]) -> None:
    data = {"works": [r.work for r in recs], "editions": [r.edition for r in recs], "authors": []}
    body = msgspec.json.encode({"data": data, "metadata": {"timestamp": "2025-01-01T00:00:00Z", "cached": False}})
    decoded = client.assert_search_response(body)
    assert [w.title for w in decoded.works] == [r.work.title for r in recs]


def test_book_record_round_trips() -> None:
    record = BookRecord(work=WorkDTO(title="t"), edition=EditionDTO(isbn="9780306406157"))
    assert msgspec.json.decode(msgspec.json.encode(record), type=BookRecord) == record
