"""ISBN lookups (forms, check digits, 10↔13, merging), caching (hits make no upstream call; 50 concurrent
cold searches make one), and provider failures (never cached; all failed → 503/504 with details.providers)."""

from __future__ import annotations

import msgspec
import pytest
import trio

from tests.client_mirror import assert_search_response
from tests.integration.search_support import search_stack

HOBBIT_13 = "9780547928227"


@pytest.mark.parametrize(
    "isbn",
    ["978-0-547-92822-7", "978 0 547 92822 7", "978\u20100\u2010547\u201092822\u20107", "054792822x", "0-547-92822-X"],
)
async def test_isbn_forms_find_the_book(start_server, mock_clock, isbn):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/v1/search/isbn", params={"isbn": isbn})
        assert response.status_code == 200, response.text
        data = assert_search_response(response.content)
        assert b'"format":"Other"' not in response.content
        assert len(data.works) == 1
        assert HOBBIT_13 in data.editions[0].isbns
        assert len(data.works[0].contributors or []) >= 2  # merged from several providers
        assert stack.server.app.services.providers.isbn_counts.pending == 1


async def test_isbn_validation_and_10_13_conversion(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/v1/search/isbn", params={"isbn": "9780547928228"})
        assert response.status_code == 400
        body = msgspec.json.decode(response.content)
        assert body["error"]["code"] == "INVALID_ISBN"
        assert body["error"]["details"] == {"isbn": "9780547928228"}
        response = await client.get("/v1/search/isbn", params={"isbn": ""})
        assert response.json()["error"]["message"] == "ISBN is required"
        response = await client.get("/v1/search/isbn", params={"isbn": "12345"})
        assert response.json()["error"]["message"] == "Invalid ISBN format. Must be valid ISBN-10 or ISBN-13"

        # listed only under its ISBN-10 at Google; asked by ISBN-13
        response = await client.get("/v1/search/isbn", params={"isbn": "978-0-345-33968-3"})
        assert response.status_code == 200, response.text
        data = assert_search_response(response.content)
        assert data.works
        assert any(
            "0345339681" in e.isbns or e.isbn in ("0345339681", "9780345339683") for e in data.editions
        )
        # listed under its ISBN-13, asked by ISBN-10: the same cache entry
        response = await client.get("/v1/search/isbn", params={"isbn": "0547928227"})
        assert response.status_code == 400  # wrong check digit (the ISBN-10's is X)
        calls = stack.book_calls()
        first = await client.get("/v1/search/isbn", params={"isbn": "054792822X"})
        second = await client.get("/v1/search/isbn", params={"isbn": HOBBIT_13})
        assert first.json()["data"] == second.json()["data"]
        assert second.json()["metadata"]["cached"] is True
        assert stack.book_calls() > calls


async def test_second_identical_search_makes_no_upstream_call(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        first = await client.get("/v1/search/title", params={"q": "The Hobbit"})
        assert first.json()["metadata"]["cached"] is False
        calls = stack.book_calls()
        second = await client.get("/v1/search/title", params={"q": "the hobbit"})  # same key
        assert second.status_code == 200
        assert second.json()["metadata"]["cached"] is True
        assert second.json()["data"]["works"] == first.json()["data"]["works"]
        assert stack.book_calls() == calls


@pytest.mark.deadline(40)
async def test_50_concurrent_cold_searches_make_one_upstream_call(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        statuses: list[int] = []

        async def one() -> None:
            response = await client.get("/v1/search/advanced", params={"title": "Les Misérables", "author": "Hugo"})
            statuses.append(response.status_code)

        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(one)
        assert statuses == [200] * 50
        assert stack.fake.requests.count("google_books") == 1
        assert stack.book_calls() == 1


async def test_provider_errors_are_not_cached_and_all_failing_is_503(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        faults = stack.fake.faults
        faults.fail_next(1, status=500, provider="google_books")
        faults.fail_next(1, status=500, provider="openlibrary")
        response = await client.get("/v1/search/title", params={"q": "The Hobbit"})
        assert response.status_code == 503
        body = msgspec.json.decode(response.content)
        assert body["data"] is None
        assert body["error"]["code"] == "PROVIDER_ERROR"
        assert body["error"]["details"] == {"providers": {"google_books": "http_5xx", "openlibrary": "http_5xx"}}

        calls = stack.book_calls()
        response = await client.get("/v1/search/title", params={"q": "The Hobbit"})
        assert response.status_code == 200
        assert assert_search_response(response.content).works
        assert response.json()["metadata"]["cached"] is False
        assert stack.book_calls() > calls

        # one provider failing: the others still answer (ISBN asks all three at once)
        faults.fail_next(1, status=500, provider="google_books")
        response = await client.get("/v1/search/isbn", params={"isbn": HOBBIT_13})
        assert response.status_code == 200
        assert assert_search_response(response.content).works


async def test_all_providers_timing_out_is_504(start_server, mock_clock):
    timeouts = {name: {"timeout": 0.05} for name in ("google_books", "openlibrary", "isbndb")}
    async with search_stack(start_server, mock_clock, **timeouts) as stack, stack.server.client() as client:
        stack.fake.faults.set(timeout=True)
        response = await client.get("/v1/search/isbn", params={"isbn": HOBBIT_13})
        stack.fake.faults.set(timeout=False)
        assert response.status_code == 504, response.text
        error = response.json()["error"]
        assert error["code"] == "PROVIDER_TIMEOUT"
        assert set(error["details"]["providers"]) == {"google_books", "openlibrary", "isbndb"}
