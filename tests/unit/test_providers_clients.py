"""Request formats, exactly as the real APIs take them: what each client method puts on the wire (method, URL
path, query parameters, headers, body), asserted on the request the mock transport receives."""

from __future__ import annotations

import httpx
import pytest

from tests.unit.provider_support import running

UA = "BooksTrack/0.1 (self-hosted; https://github.com/bookstrack)"


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/books" and request.method == "POST":
        isbns = request.content.decode().removeprefix("isbns=").split(",")
        data = [{"isbn13": i} for i in isbns]
        return httpx.Response(200, json={"total": len(isbns), "requested": len(isbns), "data": data})
    if request.url.path == "/api/books":
        keys = request.url.params["bibkeys"].split(",")
        return httpx.Response(200, json={key: {"title": key} for key in keys})
    return httpx.Response(200, json={"echo": request.url.path})


async def one_request(call):
    async with running(answer) as (providers, upstream, _, _):
        result = await call(providers)
    assert len(upstream.seen) == 1
    return upstream.seen[0], result


# -- every provider ---------------------------------------------------------------------------------


async def test_every_request_identifies_us_and_asks_for_json(autojump_clock):
    seen, _ = await one_request(lambda p: p.openlibrary.search("x"))
    assert seen.request.headers["user-agent"] == UA
    assert seen.request.headers["accept"] == "application/json"


async def test_base_urls_come_from_the_config_with_a_path_prefix_kept(autojump_clock):
    overrides = {"providers": {"openlibrary": {"base_url": "http://127.0.0.1:9100/openlibrary/"}}}
    async with running(answer, overrides=overrides) as (providers, upstream, _, _):
        await providers.openlibrary.search("x")
    assert str(upstream.seen[0].request.url).startswith("http://127.0.0.1:9100/openlibrary/search.json?")


# -- Google Books -------------------------------------------------------------------------------------


async def test_google_search_sends_the_users_text_max_results_and_the_key(autojump_clock):
    seen, _ = await one_request(lambda p: p.google_books.search("  ノルウェイの森 "))
    assert seen.request.method == "GET"
    assert seen.request.url.host == "www.googleapis.com"
    assert seen.path == "/books/v1/volumes"
    assert seen.params == {"q": "ノルウェイの森", "maxResults": "20", "key": "g-key"}


@pytest.mark.parametrize(("asked", "sent"), [(0, "1"), (5, "5"), (40, "40"), (500, "40")])
async def test_google_max_results_is_kept_within_1_to_40(autojump_clock, asked, sent):
    seen, _ = await one_request(lambda p: p.google_books.search("x", max_results=asked))
    assert seen.params["maxResults"] == sent


async def test_google_isbn_search_uses_the_isbn_qualifier_without_max_results(autojump_clock):
    seen, _ = await one_request(lambda p: p.google_books.search_isbn("9780261103344"))
    assert seen.params == {"q": "isbn:9780261103344", "key": "g-key"}
    assert "q=isbn%3A9780261103344" in str(seen.request.url)


async def test_google_field_search_quotes_title_and_each_author(autojump_clock):
    seen, _ = await one_request(
        lambda p: p.google_books.search_fields(title='The "Hobbit"', authors=["J.R.R. Tolkien", "  ", "Alan Lee"])
    )
    assert seen.params == {
        "q": 'intitle:"The Hobbit" inauthor:"J.R.R. Tolkien" inauthor:"Alan Lee"', "maxResults": "40", "key": "g-key",
    }


async def test_google_field_search_needs_something_to_search_for(autojump_clock):
    async with running(answer) as (providers, _, _, _):
        with pytest.raises(ValueError, match="needs a title or an author"):
            await providers.google_books.search_fields(title='""', authors=[])


async def test_google_volume_by_id(autojump_clock):
    seen, result = await one_request(lambda p: p.google_books.volume("zyTCAlFPjgYC"))
    assert seen.path == "/books/v1/volumes/zyTCAlFPjgYC"
    assert seen.params == {"key": "g-key"}
    assert result == {"echo": "/books/v1/volumes/zyTCAlFPjgYC"}


# -- Open Library -----------------------------------------------------------------------------------


async def test_openlibrary_search_sends_text_limit_and_the_fields_the_normalizer_reads(autojump_clock):
    seen, _ = await one_request(lambda p: p.openlibrary.search("Les Misérables", limit=5))
    assert seen.request.url.host == "openlibrary.org"
    assert seen.path == "/search.json"
    params = seen.params
    fields = params.pop("fields").split(",")
    assert params == {"q": "Les Misérables", "limit": "5"}
    assert {"key", "title", "author_name", "first_publish_year", "cover_i", "isbn", "subject", "language",
            "publisher", "publish_date", "number_of_pages_median", "id_goodreads", "id_amazon",
            "id_librarything", "id_google"} <= set(fields)
    assert "authorization" not in seen.request.headers


async def test_openlibrary_isbn_and_goodreads_searches(autojump_clock):
    seen, _ = await one_request(lambda p: p.openlibrary.search_isbn("9780261103344"))
    assert (seen.path, seen.params["isbn"], seen.params["limit"]) == ("/search.json", "9780261103344", "1")
    seen, _ = await one_request(lambda p: p.openlibrary.search_goodreads("5907"))
    assert (seen.params["goodreads"], seen.params["limit"]) == ("5907", "1")


@pytest.mark.parametrize(
    ("call", "path", "params"),
    [
        (lambda p: p.openlibrary.edition_by_isbn("0261103342"), "/isbn/0261103342.json", {}),
        (lambda p: p.openlibrary.work("OL45804W"), "/works/OL45804W.json", {}),
        (lambda p: p.openlibrary.work("/works/OL45804W"), "/works/OL45804W.json", {}),
        (lambda p: p.openlibrary.author("/authors/OL23919A"), "/authors/OL23919A.json", {}),
        (lambda p: p.openlibrary.search_authors("J. K. Rowling"), "/search/authors.json",
         {"q": "J. K. Rowling", "limit": "1"}),
        (lambda p: p.openlibrary.author_works("OL23919A"), "/authors/OL23919A/works.json", {"limit": "1000"}),
        (lambda p: p.openlibrary.author_works("OL23919A", limit=50, offset=100), "/authors/OL23919A/works.json",
         {"limit": "50", "offset": "100"}),
    ],
)
async def test_openlibrary_record_endpoints(autojump_clock, call, path, params):
    seen, _ = await one_request(call)
    assert (seen.request.method, seen.path, seen.params) == ("GET", path, params)


@pytest.mark.parametrize("bad", ["OL45804A", "45804", "../../admin", "OL1W/../x", ""])
async def test_openlibrary_ids_are_checked_before_they_go_in_a_path(autojump_clock, bad):
    async with running(answer) as (providers, upstream, _, _):
        with pytest.raises(ValueError, match="not an Open Library work id"):
            await providers.openlibrary.work(bad)
    assert upstream.seen == []


async def test_openlibrary_batch_uses_bibkeys_with_data_as_json(autojump_clock):
    seen, result = await one_request(
        lambda p: p.openlibrary.books_by_isbn(["9780261103344", "0451526538", "9780261103344", " "])
    )
    assert seen.path == "/api/books"
    assert seen.params == {"bibkeys": "ISBN:9780261103344,ISBN:0451526538", "format": "json", "jscmd": "data"}
    assert set(result) == {"ISBN:9780261103344", "ISBN:0451526538"}


async def test_openlibrary_batch_of_250_is_split_into_requests_within_the_budget(autojump_clock):
    isbns = [f"9780000{i:06d}" for i in range(250)]
    async with running(answer) as (providers, upstream, _, _):
        result = await providers.openlibrary.books_by_isbn(isbns)
    assert len(upstream.seen) == 3
    assert sorted(len(s.params["bibkeys"].split(",")) for s in upstream.seen) == [50, 100, 100]
    assert len(result) == 250
    assert sorted(upstream.times()) == pytest.approx([0, 1 / 3, 2 / 3])


# -- ISBNdb -----------------------------------------------------------------------------------------


async def test_isbndb_book_sends_the_raw_key_in_authorization(autojump_clock):
    seen, _ = await one_request(lambda p: p.isbndb.book("9780439708180"))
    assert seen.request.url.host == "api2.isbndb.com"
    assert (seen.request.method, seen.path, seen.params) == ("GET", "/book/9780439708180", {"with_prices": "0"})
    assert seen.request.headers["authorization"] == "i-key"  # no scheme
    assert "key" not in seen.params


async def test_isbndb_batch_posts_the_isbns_as_a_form_body(autojump_clock):
    seen, result = await one_request(lambda p: p.isbndb.books(["9780439708180", "9780261103344", "9780439708180"]))
    assert (seen.request.method, seen.path, seen.params) == ("POST", "/books", {})
    assert seen.request.content == b"isbns=9780439708180,9780261103344"
    assert seen.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.request.headers["authorization"] == "i-key"
    assert result == [{"isbn13": "9780439708180"}, {"isbn13": "9780261103344"}]


async def test_isbndb_batch_of_150_is_split_and_spaced_at_1_per_second(autojump_clock):
    async with running(answer) as (providers, upstream, _, _):
        await providers.isbndb.books([f"97800000000{i:02d}" for i in range(150)])
    assert sorted(len(s.request.content.decode().split(",")) for s in upstream.seen) == [50, 100]
    assert upstream.times() == [0.0, 1.0]  # 1/s


async def test_isbndb_search_by_column(autojump_clock):
    seen, _ = await one_request(
        lambda p: p.isbndb.search_books("Harry Potter/Stone", column="title", language="en", should_match_all=True,
                                        page_size=100)
    )
    # the query is one path segment: its slash is escaped, not a path separator
    assert seen.request.url.raw_path.startswith(b"/books/Harry%20Potter%2FStone?")
    assert seen.params == {"page": "1", "pageSize": "100", "column": "title", "language": "en", "shouldMatchAll": "1"}


async def test_isbndb_text_and_author_search(autojump_clock):
    seen, _ = await one_request(lambda p: p.isbndb.search("The Hobbit", author="Tolkien"))
    assert seen.path == "/search/books"
    assert seen.params == {"page": "1", "pageSize": "20", "text": "The Hobbit", "author": "Tolkien"}


# -- Wikidata ---------------------------------------------------------------------------------------


async def test_wikidata_search_entities(autojump_clock):
    seen, _ = await one_request(lambda p: p.wikidata.search_entities("Haruki Murakami"))
    assert seen.request.url.host == "www.wikidata.org"
    assert seen.path == "/w/api.php"
    assert seen.params == {
        "action": "wbsearchentities", "search": "Haruki Murakami", "language": "en", "type": "item", "limit": "1",
        "format": "json",
    }


async def test_wikidata_entity_data(autojump_clock):
    seen, _ = await one_request(lambda p: p.wikidata.entity("q892"))
    assert (seen.path, seen.params) == ("/wiki/Special:EntityData/Q892.json", {})


async def test_wikidata_several_entities_at_once(autojump_clock):
    seen, _ = await one_request(lambda p: p.wikidata.entities(["Q17", "Q30", "Q17"]))
    assert seen.params == {
        "action": "wbgetentities", "ids": "Q17|Q30", "props": "labels|claims", "languages": "en", "format": "json",
    }


@pytest.mark.parametrize("bad", ["Q0", "P21", "Q1/../x", "", "Q12a"])
async def test_wikidata_ids_are_checked(autojump_clock, bad):
    async with running(answer) as (providers, upstream, _, _):
        with pytest.raises(ValueError, match="not a Wikidata item id"):
            await providers.wikidata.entity(bad)
    assert upstream.seen == []


async def test_wikidata_entities_refuses_more_than_50_ids(autojump_clock):
    async with running(answer) as (providers, _, _, _):
        with pytest.raises(ValueError, match="at most 50 ids per request, not 51"):
            await providers.wikidata.entities([f"Q{i}" for i in range(1, 52)])
