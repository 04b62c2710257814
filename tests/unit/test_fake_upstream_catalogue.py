"""The fake upstream's fixture catalogue: it loads, it is big enough, every ISBN has a valid check digit
(computed here, independently of ``bookstrack.books.isbn``), the providers' records agree with each other,
and it holds the special cases the provider tests need (non-Latin titles, multiple authors, missing
fields, ISBN-10-only records, several editions of one work, a 979 ISBN, Wikidata humans and a non-human
namesake)."""

from __future__ import annotations

import re
import unicodedata

import pytest

from bookstrack.devtools.catalogue import load_catalogue


def check13(first12: str) -> str:
    return str((10 - sum((3 if i % 2 else 1) * int(d) for i, d in enumerate(first12)) % 10) % 10)


def check10(first9: str) -> str:
    c = (11 - sum((10 - i) * int(d) for i, d in enumerate(first9)) % 11) % 11
    return "X" if c == 10 else str(c)


def valid(isbn: str) -> bool:
    if re.fullmatch(r"97[89]\d{10}", isbn):
        return check13(isbn[:12]) == isbn[12]
    if re.fullmatch(r"\d{9}[\dX]", isbn):
        return check10(isbn[:9]) == isbn[9]
    return False


def to13(isbn10: str) -> str:
    return "978" + isbn10[:9] + check13("978" + isbn10[:9])


def test_the_check_digit_helpers_themselves():
    assert valid("9780547928227")
    assert valid("054792822X")
    assert valid("038549081X")
    assert not valid("9780547928228")
    assert not valid("0547928229")
    assert not valid("9770547928227")
    assert to13("0345339681") == "9780345339683"


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def google_isbns(volume):
    return {
        i["type"]: i["identifier"]
        for i in volume["volumeInfo"].get("industryIdentifiers", [])
        if i["type"] in ("ISBN_10", "ISBN_13")
    }


def all_isbns(cat):
    for volume in cat.google_volumes:
        for value in google_isbns(volume).values():
            yield "google", volume["id"], value
    for edition in cat.ol_editions.values():
        for value in edition.get("isbn_10", []) + edition.get("isbn_13", []):
            yield "openlibrary", edition["key"], value
    for book in cat.isbndb_books:
        for field in ("isbn", "isbn10", "isbn13"):
            if book.get(field):
                yield "isbndb", book["title"], book[field]


def test_it_loads_once_and_is_big_enough(cat):
    assert load_catalogue() is cat
    assert len(cat.ol_works) >= 60
    assert len(cat.google_volumes) >= 60
    assert len(cat.isbndb_books) >= 60
    assert len(cat.isbn13s()) >= 80
    assert len(cat.wikidata_entities) >= 60


def test_every_isbn_has_a_valid_check_digit(cat):
    seen = list(all_isbns(cat))
    assert len(seen) > 200
    bad = [s for s in seen if not valid(s[2])]
    assert bad == []


def test_the_two_forms_of_an_isbn_agree_wherever_both_are_given(cat):
    for volume in cat.google_volumes:
        ids = google_isbns(volume)
        if "ISBN_10" in ids and "ISBN_13" in ids:
            assert to13(ids["ISBN_10"]) == ids["ISBN_13"], volume["id"]
    for edition in cat.ol_editions.values():
        if edition.get("isbn_10") and edition.get("isbn_13"):
            assert to13(edition["isbn_10"][0]) == edition["isbn_13"][0], edition["key"]
    for book in cat.isbndb_books:
        assert book.get("isbn13"), book  # ISBNdb always has the ISBN-13
        if book.get("isbn10"):
            assert to13(book["isbn10"]) == book["isbn13"]
        if book.get("isbn") and len(book["isbn"]) == 10:
            assert to13(book["isbn"]) == book["isbn13"]


def test_the_open_library_records_reference_each_other(cat):
    for edition in cat.ol_editions.values():
        assert re.fullmatch(r"/books/OL\d+M", edition["key"])
        assert [w["key"] for w in edition["works"]]
        assert all(w["key"] in cat.ol_works for w in edition["works"])
        assert all(a["key"] in cat.ol_authors for a in edition.get("authors", []))
        for google_id in edition.get("identifiers", {}).get("google", []):
            volume = cat.google_by_id[google_id]  # the Google volume of the same edition
            shared = set(google_isbns(volume).values()) & set(edition.get("isbn_10", []) + edition.get("isbn_13", []))
            assert shared or not google_isbns(volume), (edition["key"], google_id)
    for work in cat.ol_works.values():
        assert re.fullmatch(r"/works/OL\d+W", work["key"])
        assert cat.ol_editions_by_work.get(work["key"]), work["key"]
        assert all(a["author"]["key"] in cat.ol_authors for a in work.get("authors", []))
    for author in cat.ol_authors.values():
        assert re.fullmatch(r"/authors/OL\d+A", author["key"])
        if "wikidata" in author.get("remote_ids", {}):
            assert author["remote_ids"]["wikidata"] in cat.wikidata_entities


def test_the_google_volumes_have_the_api_shape(cat):
    ids = [v["id"] for v in cat.google_volumes]
    assert len(ids) == len(set(ids))
    for volume in cat.google_volumes:
        assert volume["kind"] == "books#volume"
        assert re.fullmatch(r"[A-Za-z0-9_-]{12}", volume["id"])
        assert volume["volumeInfo"]["title"]
        assert isinstance(volume["saleInfo"]["isEbook"], bool)
        links = volume["volumeInfo"].get("imageLinks")
        if links:
            assert "&zoom=1" in links["thumbnail"]
            assert links["thumbnail"].startswith("http://books.google.com/")


def titles(cat):
    found = {v["volumeInfo"]["title"] for v in cat.google_volumes}
    found |= {w["title"] for w in cat.ol_works.values()} | {e["title"] for e in cat.ol_editions.values()}
    return found | {b["title"] for b in cat.isbndb_books}


def script_of(text: str) -> set[str]:
    return {unicodedata.name(ch).split()[0] for ch in text if ch.isalpha()}


def test_the_required_titles_are_there(cat):
    work = next(w for w in cat.ol_works.values() if w["title"] == "ノルウェイの森")
    assert cat.ol_authors[work["authors"][0]["author"]["key"]]["name"] == "Haruki Murakami"
    japanese = [v for v in cat.google_volumes if v["volumeInfo"]["title"].startswith("ノルウェイの森")]
    assert japanese
    assert all(v["volumeInfo"]["authors"] == ["村上春樹"] for v in japanese)
    for title, author in (("Les Misérables", "Victor Hugo"), ("The Hobbit", "J.R.R. Tolkien")):
        work = next(w for w in cat.ol_works.values() if w["title"] == title)
        assert cat.ol_authors[work["authors"][0]["author"]["key"]]["name"] == author
        assert any(v["volumeInfo"]["title"] == title for v in cat.google_volumes)
        assert any(b["title"] == title for b in cat.isbndb_books)
    scripts = set().union(*(script_of(t) for t in titles(cat)))
    assert {"CYRILLIC", "ARABIC", "CJK", "HIRAGANA", "KATAKANA", "HANGUL"} <= scripts


def test_multiple_authors(cat):
    assert len([v for v in cat.google_volumes if len(v["volumeInfo"].get("authors", [])) >= 2]) >= 5
    assert any(len(w.get("authors", [])) >= 4 for w in cat.ol_works.values())  # Design Patterns
    assert len([b for b in cat.isbndb_books if len(b.get("authors", [])) >= 2]) >= 5


def test_records_with_missing_fields(cat):
    info = [v["volumeInfo"] for v in cat.google_volumes]
    assert any(not google_isbns(v) for v in cat.google_volumes)  # no ISBN (an OTHER identifier)
    assert any("imageLinks" not in i for i in info)
    assert any("authors" not in i for i in info)
    assert any("publishedDate" not in i for i in info)
    assert any("pageCount" not in i for i in info)
    editions = list(cat.ol_editions.values())
    assert any(not e.get("isbn_10") and not e.get("isbn_13") for e in editions)
    assert any("covers" not in e for e in editions)
    assert any("authors" not in w for w in cat.ol_works.values())
    books = cat.isbndb_books
    assert any("image" not in b for b in books)
    assert any(not b.get("authors") for b in books)
    assert any("date_published" not in b for b in books)
    assert any(set(b) == {"title", "isbn13"} for b in books)  # the minimal record


def test_isbn10_only_records_and_a_979_isbn(cat):
    ten_only_google = [v for v in cat.google_volumes if set(google_isbns(v)) == {"ISBN_10"}]
    ten_only_ol = [e for e in cat.ol_editions.values() if e.get("isbn_10") and not e.get("isbn_13")]
    assert len(ten_only_google) >= 5
    assert len(ten_only_ol) >= 5
    isbns = {s[2] for s in all_isbns(cat)}
    assert any(i.startswith("979") for i in isbns)
    book = next(b for b in cat.isbndb_books if b["isbn13"].startswith("979"))
    assert "isbn10" not in book
    assert book["isbn"] == book["isbn13"]


def test_several_editions_of_one_work(cat):
    hobbit = next(w for w in cat.ol_works.values() if w["title"] == "The Hobbit")
    editions = cat.ol_editions_by_work[hobbit["key"]]
    assert len(editions) >= 3
    assert len({e.get("physical_format") for e in editions}) >= 2
    hobbit_isbndb = [b for b in cat.isbndb_books if b["title"] == "The Hobbit"]
    assert len({b.get("binding") for b in hobbit_isbndb}) >= 3
    assert len([w for w in cat.ol_works if len(cat.ol_editions_by_work[w]) >= 2]) >= 20
    # the same ISBN in two Google volumes, as Google has it
    assert any(len(v) > 1 for v in cat.google_by_isbn.values())


def test_not_every_book_is_in_every_provider(cat):
    google = {to13(i) if len(i) == 10 else i for v in cat.google_volumes for i in google_isbns(v).values()}
    ol = {
        to13(i) if len(i) == 10 else i
        for e in cat.ol_editions.values()
        for i in e.get("isbn_10", []) + e.get("isbn_13", [])
    }
    isbndb = {b["isbn13"] for b in cat.isbndb_books}
    assert google - ol - isbndb
    assert ol - google - isbndb
    assert isbndb - google - ol
    assert len(google & ol & isbndb) >= 40


def claim(entity, prop):
    snaks = entity["claims"].get(prop, [])
    return snaks[0]["mainsnak"].get("datavalue", {}).get("value") if snaks else None


def test_wikidata_humans_and_a_namesake(cat):
    entities = cat.wikidata_entities
    humans = [e for e in entities.values() if (claim(e, "P31") or {}).get("id") == "Q5"]
    assert len(humans) >= 40
    genders = {claim(e, "P21")["id"] for e in humans if claim(e, "P21")}
    assert {"Q6581097", "Q6581072", "Q48270"} <= genders
    assert any(claim(e, "P21") is None for e in humans)  # gender not recorded
    countries = {claim(e, "P27")["id"] for e in humans if claim(e, "P27")}
    assert len(countries) >= 20
    for country in countries:
        assert entities[country]["labels"]["en"]["value"]
    born = [claim(e, "P569") for e in humans if claim(e, "P569")]
    assert all(re.fullmatch(r"[+-]\d{1,4}-\d\d-\d\dT00:00:00Z", b["time"]) for b in born)
    assert any(e["claims"].get("P569", [{}])[0].get("mainsnak", {}).get("snaktype") == "somevalue" for e in humans)
    # a non-human whose label is an author's name
    human_labels = {e["labels"]["en"]["value"].casefold() for e in humans}
    namesakes = [
        e
        for e in entities.values()
        if (claim(e, "P31") or {}).get("id") not in ("Q5", None)
        and e["labels"].get("en", {}).get("value", "").casefold() in human_labels
    ]
    assert namesakes
