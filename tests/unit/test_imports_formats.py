"""Every fixture export parses to exactly the expected rows and errors (tests/fixtures/imports/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookstrack.imports import Contributor, ImportRow, ParsedExport, RowError, parse_export

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"


def parse(name: str, format: str = "auto") -> ParsedExport:
    return parse_export((FIXTURES / name).read_bytes(), format)


def summary(parsed: ParsedExport) -> list[tuple[int, str, str, str | None, str | None]]:
    return [(r.row, r.title, r.author, r.isbn, r.isbn_note) for r in parsed.rows]


@pytest.mark.parametrize(
    ("name", "format", "encoding", "delimiter", "total", "imported", "skipped"),
    [
        ("goodreads.csv", "goodreads", "utf-8", ",", 10, 9, 1),
        ("goodreads_headerless_lost_zeros.csv", "goodreads", "utf-8", ",", 7, 7, 0),
        ("storygraph.csv", "storygraph", "utf-8", ",", 8, 7, 1),
        ("storygraph_mangled.csv", "storygraph", "utf-8-sig", ",", 6, 4, 2),
        ("librarything.tsv", "librarything", "cp1252", "\t", 6, 5, 1),
        ("librarything.csv", "librarything", "utf-8", ",", 4, 4, 0),
        ("calibre.csv", "calibre", "utf-8", ",", 4, 4, 0),
        ("generic.csv", "generic", "utf-8", ";", 5, 4, 1),
        ("bom.csv", "generic", "utf-8-sig", ",", 3, 3, 0),
        ("crlf.csv", "generic", "utf-8", ",", 3, 3, 0),
    ],
)
def test_fixture_counts(name, format, encoding, delimiter, total, imported, skipped):
    parsed = parse(name)
    assert (parsed.format, parsed.encoding, parsed.delimiter) == (format, encoding, delimiter)
    assert (parsed.total_rows, len(parsed.rows), len(parsed.errors)) == (total, imported, skipped)
    # every data row ends in exactly one place, in file order
    numbers = sorted([r.row for r in parsed.rows] + [e.row for e in parsed.errors])
    assert numbers == list(range(1, total + 1))
    assert [r.row for r in parsed.rows] == sorted(r.row for r in parsed.rows)
    # forcing the detected format gives the same result
    assert parse(name, format) == parsed


def test_goodreads():
    parsed = parse("goodreads.csv")
    assert not parsed.headerless
    assert parsed.header[0] == "Book Id"
    assert len(parsed.header) == 24
    assert summary(parsed) == [
        (1, "The Hunger Games (The Hunger Games, #1)", "Suzanne Collins", "9780439023481", None),
        (2, "The Hobbit, or There and Back Again", "J.R.R. Tolkien", "9780618260300", None),
        (3, 'Eats, Shoots & Leaves: The "Zero Tolerance" Approach to Punctuation', "Lynne Truss", "9781592400874",
         None),
        (4, "Beowulf", "Unknown", None, None),
        (5, "Good Omens: The Nice and Accurate Prophecies of Agnes Nutter, Witch", "Terry Pratchett",
         "9780060853983", None),
        (6, "Ulysses", "James Joyce", "9780679722762", None),
        (7, "Good Omens: The Nice and Accurate Prophecies of Agnes Nutter, Witch", "Terry Pratchett",
         "9780060853983", None),
        (9, "Foundation (Foundation, #1)", "Isaac Asimov", "0553293354", None),
        (10, "A Book With A Bad Check Digit", "Jane Doe", "0439023484", "invalid"),
    ]
    assert parsed.errors == [RowError(row=8, title="", error="No title")]
    hunger, hobbit, eats, beowulf, omens, ulysses, omens_again, foundation, bad = parsed.rows
    assert hunger == ImportRow(
        row=1, line=2, title="The Hunger Games (The Hunger Games, #1)", author="Suzanne Collins",
        isbn="9780439023481", isbn13="9780439023481", status="read", shelf="read",
        shelves=["favorites", "young-adult"], rating=5, rating_exact=5.0, date_read="2023-01-15",
        date_added="2022-12-01", read_count=1, owned=True,
        review='Loved it.\nSecond paragraph, with "quotes", and commas.', publisher="Scholastic Press",
        publication_year=2008, original_publication_year=2008, page_count=374, binding="Hardcover",
        goodreads_id="2767052",
    )
    assert hobbit.line == 4  # the review above spans two physical lines
    assert (hobbit.status, hobbit.rating, hobbit.publication_year, hobbit.original_publication_year) == (
        "currently-reading", None, 2002, 1937)
    assert (eats.status, eats.rating) == ("to-read", None)
    assert (beowulf.additional_authors, beowulf.isbn13, beowulf.isbn_note) == (["Seamus Heaney"], None, None)
    assert omens.additional_authors == ["Neil Gaiman"]
    assert omens_again.rating == 4
    assert (ulysses.status, ulysses.shelf) == ("did-not-finish", "did-not-finish")
    assert (foundation.isbn, foundation.isbn13) == ("0553293354", "9780553293357")
    assert bad.isbn13 is None


def test_goodreads_headerless_with_lost_zeros():
    parsed = parse("goodreads_headerless_lost_zeros.csv")
    assert parsed.headerless
    assert parsed.header[:3] == ["Book Id", "Title", "Author"]
    assert [(r.row, r.line, r.title, r.isbn, r.isbn13, r.isbn_note) for r in parsed.rows] == [
        (1, 1, "The Hunger Games", "0439023483", "9780439023481", "repaired"),
        (2, 2, "The Catcher in the Rye", "9780316769488", "9780316769488", None),
        (3, 3, "Good Omens", None, None, "unrecoverable"),
        (4, 4, "The Hobbit", "9780618260300", "9780618260300", None),
        (5, 5, "A Spanish Grammar", "080442957X", "9780804429573", "repaired"),
        (6, 6, "The Thin Man", "0006479898", "9780006479895", "repaired"),
        (7, 7, "Some Zine", None, None, "invalid"),
    ]
    catcher = parsed.rows[1]
    assert (catcher.author, catcher.date_read, catcher.date_added) == ("J.D. Salinger", "2023-01-15", "2022-12-20")
    assert parsed.rows[2].author == "Terry Pratchett"  # matched later by title + author


def test_storygraph():
    parsed = parse("storygraph.csv")
    assert summary(parsed) == [
        (1, "The Left Hand of Darkness", "Ursula K. Le Guin", "9780441478125", None),
        (2, "One Hundred Years of Solitude", "Gabriel García Márquez", "9780060883287", None),
        (3, "The Little Prince", "Antoine de Saint-Exupéry", "0156012197", None),
        (4, "Stories from the Archive", "A. Writer", None, None),
        (5, "Middlemarch", "George Eliot", "9780141439549", None),
        (6, "Piranesi", "Susanna Clarke", "9781635575637", None),
        (8, "Anonymous Chronicle", "", None, None),
    ]
    assert parsed.errors == [RowError(row=7, title="", error="No title")]
    left, solitude, prince, archive, middlemarch, piranesi, anonymous = parsed.rows
    assert (left.rating, left.rating_exact, left.date_read, left.date_added) == (5, 4.5, "2022-03-20", "2022-02-10")
    assert (left.shelves, left.owned, left.binding) == (["sci-fi", "classics"], True, "paperback")
    assert solitude.contributors == [Contributor("Gregory Rabassa", "Translator")]
    assert solitude.date_read == "2021-02-01"  # from "Dates Read" when "Last Date Read" is blank
    assert prince.contributors == [
        Contributor("Richard Howard", "Translator"), Contributor("Antoine de Saint-Exupéry", "Illustrator")]
    assert prince.isbn13 == "9780156012195"
    assert (archive.uid, archive.additional_authors) == ("c9a1f8e2-5b3d-4f6a-9e7c-1d2b3a4c5e6f", ["B. Writer"])
    assert (archive.status, archive.rating, archive.rating_exact) == ("did-not-finish", 1, 1.25)
    assert (middlemarch.status, middlemarch.shelf) == ("currently-reading", "paused")
    assert piranesi.status == "currently-reading"
    assert anonymous.author == ""


def test_storygraph_mangled():
    parsed = parse("storygraph_mangled.csv")
    assert [(r.row, r.line, r.title, r.author, r.isbn) for r in parsed.rows] == [
        (1, 2, "Circe", "Madeline Miller", "9780316556347"),
        (2, 4, "Normal People", "Sally Rooney", "9781984822178"),
        (3, 5, "Klara and the Sun", "Kazuo Ishiguro", None),
        (5, 10, "The Overstory", "Richard Powers", "9780393635522"),
    ]
    assert parsed.errors == [
        RowError(row=4, title="", error="No title"),
        RowError(row=6, title="", error="Unreadable row: unclosed quote"),
    ]
    assert parsed.header[0] == "Title"  # the BOM is gone
    assert parsed.rows[1].status == "read"
    assert parsed.rows[2].status is None


def test_librarything_tsv_windows_1252():
    parsed = parse("librarything.tsv")
    assert summary(parsed) == [
        (1, "Les Misérables", "Victor Hugo", "9780451525260", None),
        (2, "Cien años de soledad", "Gabriel García Márquez", "9780307474728", None),
        (3, "The \u201cBest\u201d Essays \u2014 Volume 1", "Jane Doe", None, None),
        (4, "Über Kafka", "Max Brod", None, None),
        (6, "Naïve. Super", "Erlend Loe", "9781841957104", None),
    ]
    assert parsed.errors == [RowError(row=5, title="", error="No title")]
    les, cien, best, kafka, naive = parsed.rows
    assert les.contributors == [
        Contributor("Lee Fahnestock", "Translator"), Contributor("Norman MacAfee", "Translator")]
    assert (les.publisher, les.publication_year, les.page_count, les.librarything_id) == (
        "Signet Classics", 1862, 1463, "101")
    assert (les.status, les.date_started, les.date_read, les.date_added) == (
        "read", "2019-06-01", "2019-08-01", "2018-05-12")
    assert les.identifiers == {"librarything_work": "2366", "lccn": "87060707", "oclc": "16042361"}
    assert (cien.status, cien.shelf, cien.rating, cien.rating_exact) == (
        "currently-reading", "Currently reading", 5, 4.5)
    assert (best.status, kafka.status, kafka.shelf) == ("to-read", "read", "Read but unowned")
    assert naive.shelves == ["Your library", "norway", "café"]


def test_librarything_csv_utf8():
    parsed = parse("librarything.csv")
    assert summary(parsed) == [
        (1, "Foundation", "Isaac Asimov", "9780553293357", None),
        (2, "Solaris", "Stanisław Lem", "9780156027601", None),
        (3, "ノルウェイの森", "村上春樹", None, None),
        (4, "Pride and Prejudice, Annotated", "Jane Austen", "9780674049161", None),
    ]
    assert parsed.rows[3].contributors == [Contributor("Patricia Meyer Spacks", "Editor")]
    assert parsed.rows[1].status == "to-read"


def test_calibre():
    parsed = parse("calibre.csv")
    assert summary(parsed) == [
        (1, "The Name of the Wind", "Patrick Rothfuss", "9780756404741", None),
        (2, "Good Omens", "Terry Pratchett", "9780060853983", None),
        (3, "Untitled Manuscript Notes", "Unknown", None, None),
        (4, "Dracula", "Bram Stoker", None, None),
    ]
    wind, omens, notes, dracula = parsed.rows
    assert (wind.goodreads_id, wind.google_books_id, wind.identifiers) == (
        "186074", "BcG2dVRXKukC", {"amazon": "0756404746"})
    assert (wind.rating, wind.rating_exact, wind.series, wind.calibre_id) == (5, 4.5, "The Kingkiller Chronicle", "12")
    assert (wind.publication_year, wind.date_added, wind.shelves) == (2007, "2021-03-04", ["Fantasy", "Favorites"])
    assert wind.uid == "7c1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
    assert (omens.additional_authors, omens.openlibrary_id) == (["Neil Gaiman"], "OL7353617M")
    assert (notes.publication_year, notes.rating) == (None, None)  # calibre's undefined date, unrated
    assert dracula.identifiers == {"mobi-asin": "B000FC1PJI"}


def test_calibre_rating_scale_follows_the_file():
    head = "title,authors,author_sort,identifiers,rating\n"
    stars = parse_export((head + "A,X,\"X\",,4\nB,Y,\"Y\",,2.5\n").encode())
    internal = parse_export((head + "A,X,\"X\",,8\nB,Y,\"Y\",,5\n").encode())
    assert [(r.rating, r.rating_exact) for r in stars.rows] == [(4, 4.0), (3, 2.5)]
    assert [(r.rating, r.rating_exact) for r in internal.rows] == [(4, 4.0), (3, 2.5)]


def test_generic():
    parsed = parse("generic.csv")
    assert summary(parsed) == [
        (1, "The Road", "Cormac McCarthy", "9780307387899", None),
        (2, "Good Omens", "Terry Pratchett", "9780060853983", None),
        (3, "Infinite Jest", "David Foster Wallace", None, None),
        (5, "Beloved", "Toni Morrison", "1400033411", None),
    ]
    road, omens, jest, beloved = parsed.rows
    assert (road.status, road.rating, road.date_read, road.publication_year) == ("read", 4, "2019-11-02", 2006)
    assert (omens.additional_authors, omens.date_read) == (["Neil Gaiman"], "2020-12-25")
    assert (jest.status, beloved.status) == ("did-not-finish", "to-read")


def test_bom_and_crlf():
    assert [r.title for r in parse("bom.csv").rows] == ["Crime and Punishment", "Ficciones", "The Stranger"]
    assert parse("bom.csv").header == ["Title", "Author", "ISBN"]
    crlf = parse("crlf.csv")
    assert [(r.row, r.line, r.title) for r in crlf.rows] == [(1, 2, "Beloved"), (2, 4, "Song of Solomon"),
                                                              (3, 5, "Sula")]


def test_rows_encode_as_json():
    import msgspec

    encoded = msgspec.json.decode(msgspec.json.encode(parse("storygraph.csv").rows[0]))
    assert encoded["title"] == "The Left Hand of Darkness"
    assert "additional_authors" not in encoded
