"""Wikidata author enrichment through the search routes: facts of humans only, the region table, the
deadline (authors resolved in the background appear in later responses), placeholders not looked up."""

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
