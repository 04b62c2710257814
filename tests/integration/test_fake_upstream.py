"""The fake upstream over real sockets (127.0.0.1, ephemeral port): each provider's endpoints answer a hit
and a miss in the provider's own shape; faults (latency on trio's clock, errors, 429 with Retry-After,
timeouts) and the request counters work, in-process and through the control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
import trio.testing

from bookstrack.devtools import FakeUpstream, RunningFakeUpstream, run_fake_upstream
from bookstrack.devtools.fake_upstream import ENV_NAMES

ISBNDB_KEY = {"Authorization": "test-key"}


@asynccontextmanager
async def served(**settings) -> AsyncIterator[tuple[RunningFakeUpstream, httpx.AsyncClient]]:
    async with run_fake_upstream(**settings) as fake, httpx.AsyncClient(timeout=10) as client:
        yield fake, client


# -- the server and its helper --------------------------------------------------------------------------


async def test_it_serves_every_provider_under_its_prefix_on_loopback():
    async with served() as (fake, client):
        assert fake.url.startswith("http://127.0.0.1:")
        assert fake.base_urls == {
            "google_books": f"{fake.url}/google",
            "openlibrary": f"{fake.url}/openlibrary",
            "isbndb": f"{fake.url}/isbndb",
            "wikidata": f"{fake.url}/wikidata",
            "gemini": f"{fake.url}/gemini",
        }
        assert fake.env()[ENV_NAMES["isbndb"]] == f"{fake.url}/isbndb"
        assert fake.env()["BOOKSTRACK_ISBNDB_API_KEY"]
        assert fake.config_overrides()["providers"]["wikidata"]["base_url"] == f"{fake.url}/wikidata"
        unknown = await client.get(f"{fake.url}/amazon/books")
        assert unknown.status_code == 404
        assert fake.requests.count() == 0  # neither unknown prefixes nor control calls are counted


async def test_the_config_overrides_load():
    from bookstrack.config import load_config

    async with served() as (fake, _):
        config = load_config(env=fake.env(), overrides={})
        assert config.providers.google_books.base_url == f"{fake.url}/google"
        assert config.secrets  # the placeholder keys count as keys
        config = load_config(env={}, overrides=fake.config_overrides())
        assert config.providers.openlibrary.base_url == f"{fake.url}/openlibrary"


# -- Google Books ---------------------------------------------------------------------------------------


async def google(client, fake, q=None, **params):
    if q is not None:
        params["q"] = q
    return await client.get(f"{fake.base_urls['google_books']}/books/v1/volumes", params=params)


def titles_of(response) -> list[str]:
    return [item["volumeInfo"]["title"] for item in response.json().get("items", [])]


async def test_google_search_hits_in_the_volumes_shape():
    async with served() as (fake, client):
        response = await google(client, fake, "ノルウェイの森")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["kind"] == "books#volumes"
        assert body["totalItems"] == len(body["items"]) == 2
        item = body["items"][0]
        assert item["kind"] == "books#volume"
        assert item["volumeInfo"]["authors"] == ["村上春樹"]
        assert {i["type"] for i in item["volumeInfo"]["industryIdentifiers"]} == {"ISBN_10", "ISBN_13"}
        assert "textSnippet" in item["searchInfo"]
        assert isinstance(item["saleInfo"]["isEbook"], bool)
        # accent- and case-insensitive, and the fields of q
        assert set(titles_of(await google(client, fake, "les miserables"))) == {"Les Misérables"}
        assert set(titles_of(await google(client, fake, "LES MISÉRABLES"))) == {"Les Misérables"}
        hobbits = titles_of(await google(client, fake, 'intitle:"the hobbit" inauthor:tolkien'))
        assert len(hobbits) >= 3
        assert set(hobbits) == {"The Hobbit"}
        assert titles_of(await google(client, fake, "intitle:hobbit inauthor:austen")) == []
        assert titles_of(await google(client, fake, "the hobbit"))[0] == "The Hobbit"


async def test_google_miss_omits_items():
    async with served() as (fake, client):
        response = await google(client, fake, "intitle:zzzyzzx")
        assert response.status_code == 200
        assert response.json() == {"kind": "books#volumes", "totalItems": 0}


async def test_google_isbn_search_is_literal():
    async with served() as (fake, client):
        both = await google(client, fake, "isbn:978-0-547-92822-7")
        assert {item["volumeInfo"]["title"] for item in both.json()["items"]} == {"The Hobbit"}
        assert both.json()["totalItems"] == 2  # Google has two volumes for this ISBN
        # the Del Rey edition lists only its ISBN-10: its ISBN-13 finds nothing at Google
        assert (await google(client, fake, "isbn:0345339681")).json()["totalItems"] == 1
        assert (await google(client, fake, "isbn:9780345339683")).json()["totalItems"] == 0


async def test_google_paging_and_errors():
    async with served() as (fake, client):
        everything = (await google(client, fake, "fiction", maxResults=40)).json()
        assert everything["totalItems"] > 10
        assert len((await google(client, fake, "fiction")).json()["items"]) == 10  # default maxResults
        second = (await google(client, fake, "fiction", maxResults=5, startIndex=5)).json()
        assert [i["id"] for i in second["items"]] == [i["id"] for i in everything["items"][5:10]]
        too_many = await google(client, fake, "fiction", maxResults=41)
        assert too_many.status_code == 400
        assert too_many.json()["error"]["code"] == 400
        missing = await google(client, fake)
        assert missing.status_code == 400
        assert missing.json()["error"]["errors"][0]["reason"] == "queryRequired"
        with_key = await google(client, fake, "dune", key="any-key")
        assert with_key.status_code == 200
        assert with_key.json()["totalItems"] >= 1


async def test_google_volume_by_id():
    async with served() as (fake, client):
        volume_id = fake.catalogue.google_volumes[0]["id"]
        base = f"{fake.base_urls['google_books']}/books/v1/volumes"
        hit = await client.get(f"{base}/{volume_id}")
        assert hit.status_code == 200
        assert hit.json()["id"] == volume_id
        miss = await client.get(f"{base}/notavolume0")
        assert miss.status_code == 404
        assert miss.json()["error"]["code"] == 404


async def test_a_configured_google_key_refuses_another():
    async with served(google_key="right") as (fake, client):
        assert (await google(client, fake, "dune", key="right")).status_code == 200
        assert (await google(client, fake, "dune")).status_code == 200  # the key is optional
        wrong = await google(client, fake, "dune", key="wrong")
        assert wrong.status_code == 400
        assert "API key not valid" in wrong.json()["error"]["message"]


# -- Open Library ---------------------------------------------------------------------------------------


async def test_openlibrary_search_hits_in_the_search_shape():
    async with served() as (fake, client):
        base = fake.base_urls["openlibrary"]
        body = (await client.get(f"{base}/search.json", params={"q": "Les Misérables", "limit": 20})).json()
        assert body["numFound"] == 1
        assert body["start"] == 0
        assert body["numFoundExact"] is True
        doc = body["docs"][0]
        assert doc["key"].startswith("/works/OL")
        assert doc["key"].endswith("W")
        assert doc["title"] == "Les Misérables"
        assert doc["author_name"] == ["Victor Hugo"]
        assert doc["author_key"][0].startswith("OL")
        assert doc["first_publish_year"] == 1862
        assert "9780141393599" in doc["isbn"]
        assert doc["edition_count"] >= 3
        for field in ("publisher", "language", "cover_i", "number_of_pages_median", "id_goodreads", "subject"):
            assert field in doc, field
        by_fields = await client.get(f"{base}/search.json", params={"title": "the hobbit", "author": "tolkien"})
        assert [d["title"] for d in by_fields.json()["docs"]] == ["The Hobbit"]
        japanese = await client.get(f"{base}/search.json", params={"q": "ノルウェイの森"})
        assert [d["title"] for d in japanese.json()["docs"]] == ["ノルウェイの森"]
        # both forms of an ISBN find the work (the Del Rey edition lists only its ISBN-10)
        for isbn in ("0345339681", "9780345339683"):
            hit = await client.get(f"{base}/search.json", params={"q": isbn, "fields": "key,title"})
            assert hit.json()["docs"] == [{"key": doc_key(fake, "The Hobbit"), "title": "The Hobbit"}]


def doc_key(fake, title):
    return next(w["key"] for w in fake.catalogue.ol_works.values() if w["title"] == title)


async def test_openlibrary_search_miss():
    async with served() as (fake, client):
        body = (await client.get(f"{fake.base_urls['openlibrary']}/search.json", params={"q": "zzzyzzx"})).json()
        assert body["numFound"] == 0
        assert body["docs"] == []


async def test_openlibrary_isbn_redirects_to_the_edition():
    async with served() as (fake, client):
        base = fake.base_urls["openlibrary"]
        redirect = await client.get(f"{base}/isbn/9780547928227.json")
        assert redirect.status_code == 302
        assert redirect.headers["location"].startswith("/openlibrary/books/OL")
        edition = (await client.get(f"{base}/isbn/9780547928227.json", follow_redirects=True)).json()
        assert edition["key"].startswith("/books/OL")
        assert edition["title"] == "The Hobbit"
        assert edition["works"][0]["key"] == doc_key(fake, "The Hobbit")
        assert edition["authors"][0]["key"].startswith("/authors/OL")
        for field in ("publishers", "publish_date", "number_of_pages", "isbn_10", "isbn_13", "covers"):
            assert field in edition, field
        # an ISBN-10-only edition, asked for by its ISBN-13
        signet = await client.get(f"{base}/isbn/9780451525260.json", follow_redirects=True)
        assert signet.status_code == 200
        assert "isbn_13" not in signet.json()
        miss = await client.get(f"{base}/isbn/9780000000002.json")
        assert miss.status_code == 404
        assert miss.json() == {"error": "notfound", "key": "/isbn/9780000000002"}
        assert fake.requests.count("openlibrary", route="GET /isbn/{isbn}.json") == 4
        assert fake.requests.count("openlibrary", route="GET /books/{olid}.json") == 2


async def test_openlibrary_works_and_authors():
    async with served() as (fake, client):
        base = fake.base_urls["openlibrary"]
        key = doc_key(fake, "The Hobbit")
        work = (await client.get(f"{base}{key}.json")).json()
        assert work["key"] == key
        assert work["authors"][0]["author"]["key"] == "/authors/OL26320A"
        author = (await client.get(f"{base}/authors/OL26320A.json")).json()
        assert author["name"] == "J.R.R. Tolkien"
        assert author["remote_ids"]["wikidata"] == "Q892"
        works = (await client.get(f"{base}/authors/OL26320A/works.json", params={"limit": 1})).json()
        assert works["size"] >= 2
        assert len(works["entries"]) == 1
        assert "next" in works["links"]
        editions = (await client.get(f"{base}{key}/editions.json")).json()
        assert editions["size"] >= 3
        found = (await client.get(f"{base}/search/authors.json", params={"q": "tolkien"})).json()
        assert found["docs"][0]["key"] == "OL26320A"
        for missing in ("/works/OL1W.json", "/authors/OL1A.json", "/books/OL1M.json"):
            response = await client.get(f"{base}{missing}")
            assert response.status_code == 404
            assert response.json()["error"] == "notfound"


async def test_openlibrary_books_api():
    async with served() as (fake, client):
        url = f"{fake.base_urls['openlibrary']}/api/books"
        keys = "ISBN:9780547928227,ISBN:0-345-33968-1,ISBN:9780000000002"
        data = (await client.get(url, params={"bibkeys": keys, "format": "json", "jscmd": "data"})).json()
        assert set(data) == {"ISBN:9780547928227", "ISBN:0-345-33968-1"}  # the miss is left out
        record = data["ISBN:9780547928227"]
        assert record["key"].startswith("/books/OL")
        assert record["title"] == "The Hobbit"
        assert record["authors"][0]["name"] == "J.R.R. Tolkien"
        assert record["identifiers"]["isbn_13"] == ["9780547928227"]
        assert record["cover"]["medium"].endswith("-M.jpg")
        assert record["publishers"] == [{"name": "Houghton Mifflin Harcourt"}]
        miss = await client.get(url, params={"bibkeys": "ISBN:9780000000002", "format": "json", "jscmd": "data"})
        assert miss.json() == {}
        view = await client.get(url, params={"bibkeys": "ISBN:9780547928227"})
        assert view.text.startswith("var _OLBookInfo = {")
        assert '"bib_key":"ISBN:9780547928227"' in view.text


# -- ISBNdb ---------------------------------------------------------------------------------------------


async def test_isbndb_needs_an_authorization_header():
    async with served() as (fake, client):
        response = await client.get(f"{fake.base_urls['isbndb']}/book/9780547928227")
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized"}
        assert fake.requests.count("isbndb") == 1


async def test_isbndb_book_hit_and_miss():
    async with served() as (fake, client):
        base = fake.base_urls["isbndb"]
        for isbn in ("9780547928227", "054792822X"):
            book = (await client.get(f"{base}/book/{isbn}", headers=ISBNDB_KEY)).json()["book"]
            assert book["isbn13"] == "9780547928227"
            assert book["title"] == "The Hobbit"
            for field in (
                "title_long",
                "authors",
                "publisher",
                "date_published",
                "pages",
                "binding",
                "synopsis",
                "image",
                "subjects",
                "language",
                "isbn",
            ):
                assert field in book, field
        miss = await client.get(f"{base}/book/9780000000002", headers=ISBNDB_KEY)
        assert miss.status_code == 404
        assert miss.json() == {"errorMessage": "Not Found"}


async def test_isbndb_post_books():
    async with served() as (fake, client):
        url = f"{fake.base_urls['isbndb']}/books"
        form = await client.post(url, headers=ISBNDB_KEY, data={"isbns": "9780547928227,0345339681,9780000000002"})
        body = form.json()
        assert (body["total"], body["requested"]) == (2, 3)
        assert [b["isbn13"] for b in body["data"]] == ["9780547928227", "9780345339683"]
        as_json = await client.post(url, headers=ISBNDB_KEY, json={"isbns": ["9780000000002"]})
        assert as_json.json() == {"total": 0, "requested": 1, "data": []}
        assert (await client.post(url, headers=ISBNDB_KEY, content=b"")).status_code == 400


async def test_isbndb_searches():
    async with served() as (fake, client):
        base = fake.base_urls["isbndb"]
        found = await client.get(
            f"{base}/books/the hobbit",
            headers=ISBNDB_KEY,
            params={"column": "title", "shouldMatchAll": 1, "pageSize": 3},
        )
        body = found.json()
        assert body["total"] >= 4
        assert len(body["books"]) == 3
        assert all(b["title"] == "The Hobbit" for b in body["books"])
        miss = await client.get(f"{base}/books/zzzyzzx", headers=ISBNDB_KEY)
        assert miss.status_code == 404
        assert miss.json() == {"errorMessage": "Not Found"}
        by_author = (await client.get(f"{base}/author/Tolkien", headers=ISBNDB_KEY)).json()
        assert by_author["author"] == "Tolkien"
        assert len(by_author["books"]) >= 4
        search = await client.get(
            f"{base}/search/books", headers=ISBNDB_KEY, params={"text": "good omens", "author": "gaiman"}
        )
        assert [b["title"] for b in search.json()["books"]] == ["Good Omens"]


# -- Wikidata -------------------------------------------------------------------------------------------


async def test_wikidata_search_and_entities():
    async with served() as (fake, client):
        api = f"{fake.base_urls['wikidata']}/w/api.php"
        params = {"action": "wbsearchentities", "language": "en", "type": "item", "limit": 1, "format": "json"}
        hit = (await client.get(api, params={**params, "search": "Victor Hugo"})).json()
        assert hit["searchinfo"] == {"search": "Victor Hugo"}
        assert hit["success"] == 1
        assert hit["search"][0]["id"] == "Q535"
        assert hit["search"][0]["label"] == "Victor Hugo"
        assert (await client.get(api, params={**params, "search": "zzzyzzx"})).json()["search"] == []
        # a namesake that is not a human comes first: the caller must check P31
        sapphire = (await client.get(api, params={**params, "search": "Sapphire", "limit": 5})).json()["search"]
        assert [s["description"] for s in sapphire][0].startswith("gemstone")
        assert any(s["id"] == "Q263076" for s in sapphire)
        data = await client.get(f"{fake.base_urls['wikidata']}/wiki/Special:EntityData/Q535.json")
        entity = data.json()["entities"]["Q535"]
        assert entity["claims"]["P31"][0]["mainsnak"]["datavalue"]["value"]["id"] == "Q5"
        assert entity["claims"]["P21"][0]["mainsnak"]["datavalue"]["value"]["id"] == "Q6581097"
        assert entity["claims"]["P27"][0]["mainsnak"]["datavalue"]["value"]["id"] == "Q142"
        assert entity["claims"]["P569"][0]["mainsnak"]["datavalue"]["value"]["time"] == "+1802-02-26T00:00:00Z"
        missing = await client.get(f"{fake.base_urls['wikidata']}/wiki/Special:EntityData/Q999999999.json")
        assert missing.status_code == 404
        batch = await client.get(
            api,
            params={
                "action": "wbgetentities",
                "ids": "Q142|Q999999999",
                "props": "labels",
                "languages": "en",
                "format": "json",
            },
        )
        assert batch.json()["entities"] == {
            "Q142": {"type": "item", "id": "Q142", "labels": {"en": {"language": "en", "value": "France"}}},
            "Q999999999": {"id": "Q999999999", "missing": ""},
        }
        error = await client.get(api, params={"action": "wbsearchentities", "language": "en", "format": "json"})
        assert error.status_code == 200
        assert error.json()["error"]["code"] == "paramrequired"


# -- faults ---------------------------------------------------------------------------------------------


async def test_latency_is_slept_on_trios_clock(mock_clock):
    async with served(latency_ms=500) as (fake, client):
        done = trio.Event()
        responses = []

        async def ask() -> None:
            responses.append(await google(client, fake, "dune"))
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await fake.requests.wait_for(1)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()
            mock_clock.jump(0.499)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()
            mock_clock.jump(0.001)
            await done.wait()
        assert responses[0].status_code == 200


async def test_a_429_with_retry_after_then_normal_answers():
    async with served() as (fake, client):
        fake.faults.fail_next(2, status=429, retry_after=2, provider="isbndb")
        url = f"{fake.base_urls['isbndb']}/book/9780547928227"
        first, second, third = [await client.get(url, headers=ISBNDB_KEY) for _ in range(3)]
        assert (first.status_code, first.headers["retry-after"]) == (429, "2")
        assert first.json() == {"message": "Too Many Requests"}
        assert second.status_code == 429
        assert third.status_code == 200
        assert "retry-after" not in third.headers
        assert (await google(client, fake, "dune")).status_code == 200  # other providers are unaffected
        assert [r.status for r in fake.requests.log("isbndb")] == [429, 429, 200]


async def test_the_control_api_sets_faults_per_provider():
    async with served() as (fake, client):
        control = f"{fake.url}/_control"
        set_ = await client.post(control, json={"provider": "google", "fail_next": 1, "status": 503, "retry_after": 7})
        assert set_.status_code == 200
        assert set_.json()["providers"]["google_books"]["fail_next"] == 1
        failed = await google(client, fake, "dune")
        assert failed.status_code == 503
        assert failed.headers["retry-after"] == "7"
        assert failed.json()["error"]["status"] == "UNAVAILABLE"
        assert (await google(client, fake, "dune")).status_code == 200
        await client.post(control, json={"provider": "openlibrary", "fail_next": 1, "status": 500})
        html = await client.get(f"{fake.base_urls['openlibrary']}/works/OL262758W.json")
        assert html.status_code == 500
        assert html.headers["content-type"].startswith("text/html")
        assert (await client.post(control, json={"provider": "amazon", "latency_ms": 1})).status_code == 400
        assert (await client.post(control, json={"error_rate": 2})).status_code == 400
        assert (await client.post(control, content=b"not json")).status_code == 400
        assert (await client.get(control)).json()["global"]["error_rate"] == 0.0


async def test_a_seeded_error_rate_is_repeatable():
    async with served() as (fake, client):
        control = f"{fake.url}/_control"

        async def pattern() -> list[int]:
            await client.post(f"{control}/reset")
            await client.post(control, json={"error_rate": 0.5, "seed": 3})
            return [(await google(client, fake, "dune")).status_code for _ in range(30)]

        first = await pattern()
        assert first == await pattern()
        assert set(first) == {200, 503}
        assert 5 <= first.count(503) <= 25


async def test_a_timeout_never_answers_until_the_client_gives_up(mock_clock):
    async with served() as (fake, client):
        fake.faults.set("openlibrary", timeout=True)
        outcome = []

        async def ask() -> None:
            try:
                await client.get(f"{fake.base_urls['openlibrary']}/search.json", params={"q": "dune"}, timeout=5)
            except httpx.TimeoutException as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await fake.requests.wait_for(1, "openlibrary")
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.jump(4.9)
            await trio.testing.wait_all_tasks_blocked()
            assert outcome == []
            mock_clock.jump(0.1)
        assert isinstance(outcome[0], httpx.ReadTimeout)
        await trio.testing.wait_all_tasks_blocked()
        [entry] = fake.requests.log("openlibrary")
        assert (entry.fault, entry.status) == ("hang", None)
        assert (await google(client, fake, "dune")).status_code == 200  # only Open Library hangs


async def test_a_held_request_answers_when_released():
    async with served() as (fake, client):
        fake.faults.hang_next(1, provider="wikidata")
        url = f"{fake.base_urls['wikidata']}/wiki/Special:EntityData/Q5.json"
        responses = []
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                responses.append(await client.get(url))

            nursery.start_soon(ask)
            await fake.requests.wait_for(1)
            await trio.testing.wait_all_tasks_blocked()
            assert responses == []
            assert (await client.post(f"{fake.url}/_control/release")).status_code == 200
        assert responses[0].status_code == 200
        assert (await client.get(url)).status_code == 200  # hang_next was one request


async def test_leaving_the_block_with_a_request_held_is_clean():
    app = FakeUpstream()
    app.faults.set(timeout=True)
    async with run_fake_upstream(app) as fake, httpx.AsyncClient(timeout=10) as client, trio.open_nursery() as nursery:

        async def ask() -> None:
            with pytest.raises(httpx.HTTPError):
                await client.get(f"{fake.base_urls['google_books']}/books/v1/volumes", params={"q": "x"})

        nursery.start_soon(ask)
        await fake.requests.wait_for(1)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


# -- counters -------------------------------------------------------------------------------------------


async def test_request_counters():
    async with served() as (fake, client):
        for isbn in ("9780547928227", "9780547928227", "9780000000002"):
            await client.get(f"{fake.base_urls['isbndb']}/book/{isbn}", headers=ISBNDB_KEY)
        await google(client, fake, "dune")
        assert fake.requests.count() == 4
        assert fake.requests.count("isbndb") == 3
        assert fake.requests.count("isbndb", route="GET /book/{isbn}") == 3
        assert fake.requests.count("isbndb", path="/book/9780547928227") == 2
        counts = (await client.get(f"{fake.url}/_control/requests", params={"log": 1})).json()
        assert counts["total"] == 4
        assert counts["providers"] == {"isbndb": 3, "google_books": 1}
        assert counts["routes"]["isbndb"] == {"GET /book/{isbn}": 3}
        assert counts["paths"]["isbndb"]["/book/9780000000002"] == 1
        assert counts["log"][0]["query"] == {"q": ["dune"]}
        assert counts["log"][0]["status"] == 200
        assert fake.requests.log("isbndb")[0].headers["authorization"] == "test-key"
        await client.post(f"{fake.url}/_control/reset", json={"faults": False})
        assert fake.requests.count() == 0
