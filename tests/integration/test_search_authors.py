"""Wikidata author enrichment through the search routes: facts of humans only, the region table, the
deadline (authors resolved in the background appear in later responses), placeholders not looked up, and
the ISBN batch, which never waits for Wikidata (decision 0016)."""

from __future__ import annotations

import trio

from tests.client_mirror import assert_search_response
from tests.integration.search_support import search_stack


def _tolkien(data):
    return next(a for a in data.authors if "Tolkien" in a.name)


async def test_authors_are_enriched_from_wikidata(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/v1/search/isbn", params={"isbn": "9780547928227"})
        data = assert_search_response(response.content)
        tolkien = _tolkien(data)
        assert [a.name for a in data.authors] == ["J. R. R. Tolkien"]  # ISBNdb's "Tolkien, J. R. R." merged
        assert tolkien.gender == "Male"
        assert tolkien.birthYear == 1892
        assert tolkien.deathYear == 1973
        assert tolkien.culturalRegion == "Europe"  # United Kingdom: the original found no region
        searched = [r.query.get("search") for r in stack.fake.requests.log("wikidata")]
        assert ["Unknown Author"] not in searched

        calls = stack.fake.requests.count("wikidata")
        await client.get("/v1/search/title", params={"q": "The Hobbit"})
        assert stack.fake.requests.count("wikidata") >= calls  # other authors may be new; Tolkien is cached
        assert [r.query.get("search") for r in stack.fake.requests.log("wikidata")].count(["J. R. R. Tolkien"]) <= 1


async def test_author_deadline_answers_first_and_resolves_in_the_background(start_server, mock_clock):
    overrides = {"wikidata": {"author_deadline": 0.05}}
    async with search_stack(start_server, mock_clock, **overrides) as stack, stack.server.client() as client:
        stack.fake.faults.set("wikidata", latency_ms=500)
        response = await client.get("/v1/search/isbn", params={"isbn": "9780547928227"})
        assert response.status_code == 200
        assert _tolkien(assert_search_response(response.content)).gender == "Unknown"
        stack.fake.faults.set("wikidata", latency_ms=0)
        with trio.fail_after(10):
            while True:  # the lookup goes on without the response that started it
                response = await client.get("/v1/search/isbn", params={"isbn": "9780547928227"})
                if _tolkien(assert_search_response(response.content)).gender == "Male":
                    break
                await trio.sleep(0.1)
        assert response.json()["metadata"]["cached"] is True


async def test_isbn_batch_does_not_wait_for_authors(start_server, mock_clock):
    # Decision 0016: the batch answers with the author facts cached so far and starts the missing lookups
    # behind it. Wikidata hangs here, and the stack's author deadline is 30 s: waiting for it would trip
    # the fail_after (virtual time).
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.set("wikidata", timeout=True)
        with trio.fail_after(5):
            response = await client.post("/v1/search/isbn/batch", json={"isbns": ["9780547928227"]})
        assert response.status_code == 200, response.text
        (result,) = response.json()["data"]["results"]
        assert result["found"] is True
        tolkien = next(a for a in result["authors"] if "Tolkien" in a["name"])
        assert tolkien["gender"] == "Unknown"
        with trio.fail_after(5):
            await stack.fake.requests.wait_for(1, "wikidata")  # the lookup was started all the same

        await trio.sleep(0.01)  # the held request reaches its hold (a release before that would miss it)
        stack.fake.faults.set("wikidata", timeout=False)  # and releases it
        with trio.fail_after(5):  # the lookup goes on without the response that started it
            await stack.fake.requests.wait_for(3, "wikidata")  # search, entity, country label
        await trio.sleep(1)  # (virtual time) its facts reach the cache
        calls = stack.fake.requests.count("wikidata")
        response = await client.post("/v1/search/isbn/batch", json={"isbns": ["9780547928227"]})
        (result,) = response.json()["data"]["results"]
        tolkien = next(a for a in result["authors"] if "Tolkien" in a["name"])
        assert tolkien["gender"] == "Male"
        assert tolkien["birthYear"] == 1892
        assert response.json()["metadata"]["cached"] is True
        assert stack.fake.requests.count("wikidata") == calls  # from the cache the background lookup filled
        # the single lookup sees the same cached facts at once
        response = await client.get("/v1/search/isbn", params={"isbn": "9780547928227"})
        assert _tolkien(assert_search_response(response.content)).gender == "Male"
