"""The layers under ``parse_export``: decoding, splitting records, ISBN repair, cells and detection; and a
property: no byte string makes ``parse_export`` raise anything but its own ``ExportError``s."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookstrack.imports import EmptyExport, ExportError, UnknownLayout, parse_export
from bookstrack.imports.cells import flip_name, parse_date, parse_rating, parse_status, unwrap
from bookstrack.imports.decode import decode
from bookstrack.imports.formats.goodreads import HEADER
from bookstrack.imports.repair import IsbnReading, best_isbn, read_isbn
from bookstrack.imports.table import read_table

# -- decode ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        ("Les Misérables".encode(), "Les Misérables", "utf-8"),
        (codecs.BOM_UTF8 + "Ünïcode".encode(), "Ünïcode", "utf-8-sig"),
        ("Cien años".encode("utf-16"), "Cien años", "utf-16"),
        ("Title,Author".encode("utf-16-le"), "Title,Author", "utf-16-le"),
        ("Les Misérables “quoted” — dash".encode("cp1252"), "Les Misérables “quoted” — dash", "cp1252"),
        (b"undefined \x81\x8d\x8f\x90\x9d bytes \xe9", "undefined \x81\x8d\x8f\x90\x9d bytes é", "cp1252"),
        (b"", "", "utf-8"),
    ],
)
def test_decode(data, text, encoding):
    assert decode(data) == (text, encoding)


# -- table -------------------------------------------------------------------------------------------------


def test_table_line_ends_quotes_and_blank_records():
    table = read_table('a,b\r\n\r\n"x, ""y""","two\nlines"\r,,,\n  \nlast,row')
    assert table.delimiter == ","
    assert [(r.line, r.cells) for r in table.records] == [
        (1, ["a", "b"]), (3, ['x, "y"', "two\nlines"]), (7, ["last", "row"])]


@pytest.mark.parametrize(
    ("first", "delimiter"),
    [("a\tb\tc", "\t"), ("a;b;c", ";"), ("a,b;c", ","), ('"x;y;z",b', ","), ("single", ",")],
)
def test_delimiter(first, delimiter):
    assert read_table(first + "\n1\n").delimiter == delimiter


def test_unclosed_quote_costs_one_row():
    table = read_table('t,a\n"broken,x\nnext,y\nlast,z\n')
    assert [(r.line, r.cells, r.error) for r in table.records] == [
        (1, ["t", "a"], None), (2, None, "Unreadable row: unclosed quote"), (3, ["next", "y"], None),
        (4, ["last", "z"], None)]
    # a stray literal quote is not an unclosed one
    assert read_table('t,a\n5" ruler,x\n').records[1].cells == ['5" ruler', "x"]


def test_ragged_rows_are_padded_and_trimmed():
    parsed = parse_export(b"Title,Author,ISBN\nOnly Title\nT2,A2,0439023483,extra,cells\n")
    assert [(r.title, r.author, r.isbn) for r in parsed.rows] == [("Only Title", "", None),
                                                                  ("T2", "A2", "0439023483")]


# -- ISBN repair -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "reading"),
    [
        ("9780439023481", IsbnReading("9780439023481", "9780439023481", None)),
        ("978-0-439-02348-1", IsbnReading("9780439023481", "9780439023481", None)),
        ("0439023483", IsbnReading("0439023483", "9780439023481", None)),
        ("439023483", IsbnReading("0439023483", "9780439023481", "repaired")),
        ("316769487", IsbnReading("0316769487", "9780316769488", "repaired")),
        ("6479898", IsbnReading("0006479898", "9780006479895", "repaired")),
        ("80442957X", IsbnReading("080442957X", "9780804429573", "repaired")),
        ("080442957x", IsbnReading("080442957X", "9780804429573", None)),
        ("9780439023481.0", IsbnReading("9780439023481", "9780439023481", None)),
        ("9.78044E+12", IsbnReading(None, None, "unrecoverable")),
        ("9,78E+12", IsbnReading(None, None, "unrecoverable")),
        ("9.780439023481E+12", IsbnReading("9780439023481", "9780439023481", "repaired")),
        ("439023484", IsbnReading(None, None, "invalid")),  # padding does not give a valid check digit
        ("0439023484", IsbnReading("0439023484", None, "invalid")),
        ("12345", IsbnReading(None, None, "invalid")),
        ("B00ABCDEFG", IsbnReading(None, None, "invalid")),
        ("", IsbnReading(None, None, None)),
    ],
)
def test_read_isbn(cell, reading):
    assert read_isbn(cell) == reading


def test_best_isbn_prefers_valid_then_isbn13():
    ten, thirteen = read_isbn("0439023483"), read_isbn("9780439023481")
    assert best_isbn(ten, thirteen) == thirteen
    assert best_isbn(read_isbn("9.78044E+12"), read_isbn("439023483")).note == "repaired"
    assert best_isbn(read_isbn(""), read_isbn("")) == IsbnReading(None, None, None)


# -- cells -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "iso"),
    [("2023/01/15", "2023-01-15"), ("2023-1-5", "2023-01-05"), ("2005-06-01T04:00:00+00:00", "2005-06-01"),
     ("25/12/2020", "2020-12-25"), ("12/25/2020", "2020-12-25"), ("03/04/2020", None), ("2023/02/30", None),
     ("", None), ("soon", None)],
)
def test_parse_date(cell, iso):
    assert parse_date(cell) == iso


def test_cells():
    assert unwrap('="0439023483"') == "0439023483"
    assert unwrap('=""') == ""
    assert unwrap("plain") == "plain"
    assert [parse_rating(c) for c in ("0", "", "4", "4.5", "4.25", "6", "nan", "x")] == [
        (None, None), (None, None), (4, 4.0), (5, 4.5), (4, 4.25), (None, None), (None, None), (None, None)]
    assert [parse_status(s) for s in ("read", "Currently Reading", "to_read", "DNF", "paused", "favorites")] == [
        "read", "currently-reading", "to-read", "did-not-finish", "currently-reading", None]
    assert flip_name("Le Guin, Ursula K.") == "Ursula K. Le Guin"
    assert flip_name("Homer") == "Homer"


# -- detection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "format"),
    [
        (",".join(HEADER), "goodreads"),
        ("\ufeffbook id,TITLE,author,author_l_f,exclusive shelf,my rating,extra column", "goodreads"),
        ("Title,Authors,Contributors,ISBN/UID,Format,Read Status,Star Rating", "storygraph"),
        ("Book Id\tTitle\tPrimary Author\tSecondary Author\tISBNs\tCollections", "librarything"),
        ("'TITLE'\t'AUTHOR (last, first)'\t'DATE'\t'ISBN'\t'ENTRY DATE'\t'PUBLICATION INFO'", "librarything"),
        ("title,authors,author_sort,identifiers,uuid,rating", "calibre"),
        ("Name;Author Name;EAN", "generic"),
    ],
)
def test_detect_by_header(header, format):
    assert parse_export((header + "\n").encode()).format == format


def test_old_librarything_header_reads_author():
    data = "'TITLE'\t'AUTHOR (last, first)'\t'DATE'\t'ISBN'\t'ENTRY DATE'\nDune\tHerbert, Frank\t1965\t[0441013597]\t\n"
    row = parse_export(data.encode()).rows[0]
    assert (row.title, row.author, row.isbn, row.publication_year) == ("Dune", "Frank Herbert", "0441013597", 1965)


def test_unknown_layout_names_what_was_seen():
    with pytest.raises(UnknownLayout, match=r"3 columns split on ',', first line: 'foo', 'bar', 'baz'"):
        parse_export(b"foo,bar,baz\n1,2,3\n")
    with pytest.raises(UnknownLayout, match="not a goodreads export"):
        parse_export(b"Name,Writer\nDune,Frank Herbert\n", "goodreads")  # forced: needs a "Title" column
    with pytest.raises(EmptyExport):
        parse_export(b"\n\r\n ,, \n")
    with pytest.raises(ValueError, match="unknown export format"):
        parse_export(b"Title\nx\n", "kindle")


def test_header_only_export_has_no_rows():
    parsed = parse_export((",".join(HEADER) + "\r\n").encode())
    assert (parsed.format, parsed.total_rows, parsed.rows, parsed.errors) == ("goodreads", 0, [], [])


def test_forced_generic_on_a_known_export():
    parsed = parse_export(b"Title,Authors,ISBN/UID,Read Status,Star Rating\nDune,Frank Herbert,0441013597,read,4\n",
                          "generic")
    assert parsed.format == "generic"
    assert parsed.rows[0].author == "Frank Herbert"


# -- never raises ------------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_parse_export_never_raises_on_bytes(data):
    try:
        parse_export(data)
    except ExportError:
        pass


_CELL = st.sampled_from(['="0439023483"', "9.78E+12", "", '"', "\r\n", "read", "Title", "4.5", ",", "\t", "é",
                         "2023/01/15", "Author l-f", "Exclusive Shelf", "x" * 5])


@settings(max_examples=200)
@given(st.lists(st.lists(_CELL, max_size=26), max_size=12), st.sampled_from([",", "\t", ";"]))
def test_parse_export_never_raises_on_csv_like_text(rows, delimiter):
    text = "\n".join(delimiter.join(row) for row in rows)
    try:
        parsed = parse_export(text.encode())
    except ExportError:
        return
    assert len(parsed.rows) + len(parsed.errors) == parsed.total_rows
