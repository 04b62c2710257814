"""The seven /external/* passthrough routes over real sockets, against the fake upstream: the normalised
shape for a hit, ``null`` for a miss (reference §3.10), legacy 400 ``MISSING_PARAM`` with the documented
messages, any method accepted, and provider failures as legacy 503s."""

from __future__ import annotations

import msgspec
import pytest

from tests.integration.search_support import search_stack

MISSING = [
    ("/external/google-books", "Missing query parameter"),
    ("/external/google-books-isbn", "Missing isbn parameter"),
    ("/external/openlibrary", "Missing query parameter"),
    ("/external/openlibrary-author", "Missing author parameter"),
    ("/external/isbndb", "Missing title parameter"),
    ("/external/isbndb-editions", "Missing title or author parameter"),
    ("/external/isbndb-isbn", "Missing isbn parameter"),
]


def _json(response):
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content)


def _normalized(body: dict) -> None:
    assert set(body) == {"works", "editions", "authors"}
    assert body["works"]
    assert len(body["works"]) == len(body["editions"])
    for work in body["works"]:
        assert isinstance(work["title"], str)
        assert isinstance(work["authors"], list)  # /external works carry their authors
    for edition in body["editions"]:
        assert edition["format"] != "Other"
    assert b"null" not in msgspec.json.encode(body)


async def test_search_passthroughs_hit_and_miss(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        for path, params in (
            ("/external/google-books", {"q": "The Hobbit", "maxResults": "3"}),
            ("/external/openlibrary", {"q": "ノルウェイの森"}),
            ("/external/isbndb", {"title": "The Hobbit", "author": "Tolkien"}),
            ("/external/google-books-isbn", {"isbn": "978-0-547-92822-7"}),
        ):
            response = await client.post(path, params=params)  # any method
            body = _json(response)
            _normalized(body)
            assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert [["ノルウェイの森"]] == [r.query.get("q") for r in stack.fake.requests.log("openlibrary")]

        for path, params in (
            ("/external/google-books", {"q": "zzqx no such book qqzz"}),
            ("/external/openlibrary", {"q": "zzqx no such book qqzz"}),
            ("/external/isbndb", {"title": "zzqx no such book qqzz"}),
            ("/external/google-books-isbn", {"isbn": "9780000000002"}),
            ("/external/isbndb-isbn", {"isbn": "9780000000002"}),
            ("/external/isbndb-editions", {"title": "zzqx no such book", "author": "Nobody"}),
            ("/external/openlibrary-author", {"author": "Zzqx Nobody"}),
        ):
            response = await client.get(path, params=params)
            assert response.status_code == 200, (path, response.text)
            assert response.content == b"null", path


async def test_isbndb_and_author_passthroughs(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        body = _json(await client.get("/external/isbndb-isbn", params={"isbn": "9780547928227"}))
        assert set(body) == {"work", "edition", "authors", "book"}
        assert body["edition"]["isbn"] == "9780547928227"
        assert body["book"]["isbn13"] == "9780547928227"  # the raw ISBNdb book
        assert [a["name"] for a in body["authors"]] == ["J. R. R. Tolkien"]

        params = {"title": "The Hobbit", "author": "Tolkien"}
        editions = _json(await client.put("/external/isbndb-editions", params=params))
        assert isinstance(editions, list)
        assert len(editions) >= 2
        qualities = [e["isbndbQuality"] for e in editions]
        assert qualities == sorted(qualities, reverse=True)

        body = _json(await client.delete("/external/openlibrary-author", params={"author": "村上春樹"}))
        assert body["author"] == {"name": "Haruki Murakami", "openLibraryKey": "OL1433006A"}
        assert body["works"]
        for work in body["works"]:
            assert work["openLibraryWorkKey"].startswith("/works/")
            assert work["editions"] == []
        assert stack.searches("wikidata") == 0


@pytest.mark.parametrize(("path", "message"), MISSING)
async def test_missing_parameters(start_server, mock_clock, path, message):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.post(path)
        assert response.status_code == 400
        assert response.headers["X-Error-Type"] == "MISSING_PARAM"
        assert msgspec.json.decode(response.content) == {
            "success": False, "error": {"code": "MISSING_PARAM", "message": message},
        }
        assert stack.book_calls() == 0


async def test_invalid_isbn_and_provider_failure(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/external/isbndb-isbn", params={"isbn": "9780547928228"})
        assert response.status_code == 400
        assert response.headers["X-Error-Type"] == "INVALID_ISBN"

        stack.fake.faults.set(error_rate=1.0, status=500)
        response = await client.get("/external/google-books", params={"q": "Dune"})
        assert response.status_code == 503
        assert response.headers["X-Error-Type"] == "PROVIDER_ERROR"
        assert msgspec.json.decode(response.content)["success"] is False
