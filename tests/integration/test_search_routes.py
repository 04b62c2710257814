"""The /v1 search routes over real sockets, against the fake upstream: shapes (the strict client mirror),
the user's text reaching the provider, validation messages and codes, editions, and the ISBN batch."""

from __future__ import annotations

import msgspec
import pytest

from tests.client_mirror import BookSearch, Envelope, assert_no_null, assert_search_response, decode
from tests.integration.search_support import search_stack


def _no_other_format(body: bytes) -> None:
    assert b'"format":"Other"' not in body


def _editions_response(body: bytes) -> BookSearch:
    """An editions answer: strict decoding, no nulls; ``works`` and ``authors`` are empty by contract."""
    data = decode(body, Envelope[BookSearch]).data
    assert_no_null(msgspec.json.decode(body)["data"], "$.data")
    assert data.works == []
    assert data.authors == []
    return data


def _envelope(body: bytes) -> dict:
    data = msgspec.json.decode(body)
    meta = data["metadata"]
    assert isinstance(meta["processingTime"], int)
    assert isinstance(meta["cached"], bool)
    return data


@pytest.mark.parametrize(
    ("query", "expected"),
    [("ノルウェイの森", "ノルウェイの森"), ("Les Misérables", "Les Misérables"), ("The Hobbit", "The Hobbit")],
)
async def test_title_search_finds_fixtures_and_sends_the_users_text(start_server, mock_clock, query, expected):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/v1/search/title", params={"q": f"  {query} "})
        assert response.status_code == 200, response.text
        _no_other_format(response.content)
        data = assert_search_response(response.content)
        assert data.works
        assert any(expected in w.title for w in data.works)
        _envelope(response.content)
        sent = [r.query.get("q") for r in stack.fake.requests.log("google_books")]
        assert [query] in sent


async def test_advanced_search_and_validation(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/v1/search/advanced", params={"title": "The Hobbit", "author": "Tolkien"})
        assert response.status_code == 200, response.text
        data = assert_search_response(response.content)
        assert data.works
        _no_other_format(response.content)
        names = [a.name for a in data.authors]
        assert len(names) == len(set(names))

        response = await client.get("/v1/search/advanced", params={"title": " ", "author": ""})
        assert response.status_code == 400
        body = msgspec.json.decode(response.content)
        assert body["error"] == {
            "message": "At least one of title or author is required", "code": "INVALID_QUERY",
            "details": {"title": " ", "author": ""},
        }
        assert body["data"] is None

        response = await client.get("/v1/search/title")
        assert response.status_code == 400
        assert msgspec.json.decode(response.content)["error"] == {
            "message": "Search query is required", "code": "INVALID_QUERY", "details": {"query": None},
        }


async def test_no_match_is_200_with_empty_arrays(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/v1/search/title", params={"q": "zzqx no such book qqzz"})
        assert response.status_code == 200, response.text
        data = assert_search_response(response.content)
        assert (data.works, data.editions, data.authors) == ([], [], [])
        assert _envelope(response.content)["metadata"]["provider"] == "none"


async def test_editions_search(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/v1/editions/search", params={"workTitle": "The Hobbit", "author": "Tolkien"})
        assert response.status_code == 200, response.text
        data = _editions_response(response.content)
        _no_other_format(response.content)
        assert data.editions
        assert all(e.isbn or e.isbns for e in data.editions)
        response = await client.get(
            "/v1/editions/search", params={"workTitle": "The Hobbit", "author": "Tolkien", "limit": "1"}
        )
        assert len(_editions_response(response.content).editions) == 1
        assert _envelope(response.content)["metadata"]["cached"] is True

        response = await client.get("/v1/editions/search", params={"workTitle": "Zzqx Nothing", "author": "Nobody"})
        assert response.status_code == 404
        error = msgspec.json.decode(response.content)["error"]
        assert error["code"] == "NOT_FOUND"
        assert error["message"] == 'No editions found for "Zzqx Nothing" by Nobody'

        response = await client.get("/v1/editions/search", params={"workTitle": "The Hobbit"})
        assert response.status_code == 400
        assert msgspec.json.decode(response.content)["error"]["message"] == "author parameter is required"
        response = await client.get("/v1/editions/search", params={"author": "Tolkien"})
        assert msgspec.json.decode(response.content)["error"]["message"] == "workTitle parameter is required"


async def test_isbn_batch(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        isbns = ["978-0-547-92822-7", "0345339681", "9780000000002", "not an isbn"]
        response = await client.post("/v1/search/isbn/batch", json={"isbns": isbns})
        assert response.status_code == 200, response.text
        assert "X-RateLimit-Limit" in response.headers
        _no_other_format(response.content)
        body = _envelope(response.content)
        results = body["data"]["results"]
        assert [r["isbn"] for r in results] == isbns
        assert [r["found"] for r in results] == [True, True, False, False]
        assert results[0]["edition"]["isbn"] == "9780547928227"
        assert "work" not in results[2]
        assert results[2]["authors"] == []
        assert body["metadata"]["cached"] is False
        assert stack.fake.requests.count("openlibrary", route="GET /api/books") == 1
        assert stack.fake.requests.count("isbndb", route="POST /books") == 1

        calls = stack.book_calls()
        response = await client.post("/v1/search/isbn/batch", json={"isbns": isbns[:2]})
        assert [r["found"] for r in response.json()["data"]["results"]] == [True, True]
        assert response.json()["metadata"]["cached"] is True
        assert stack.book_calls() == calls

        # every provider failing: cached ISBNs are still answered; with none cached, 503
        stack.fake.faults.set(error_rate=1.0, status=500)
        response = await client.post("/v1/search/isbn/batch", json={"isbns": [isbns[0], "9780141393599"]})
        assert response.status_code == 200, response.text
        assert [r["found"] for r in response.json()["data"]["results"]] == [True, False]
        response = await client.post("/v1/search/isbn/batch", json={"isbns": ["9780141393599"]})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "PROVIDER_ERROR"
        stack.fake.faults.set(error_rate=0.0)
        response = await client.post("/v1/search/isbn/batch", json={"isbns": ["9780141393599"]})
        assert [r["found"] for r in response.json()["data"]["results"]] == [True]  # the failure was not cached

        response = await client.post("/v1/search/isbn/batch", json={"isbns": ["9780547928227"] * 101})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "INVALID_REQUEST"
