"""The legacy /search/* routes over real sockets, against the fake upstream: raw shapes for a hit and a
miss (reference §3.9), legacy-family validation errors with ``X-Error-Type``, any-method routes, the
``/search/advanced`` 405, CJK author names, pagination after caching, and provider failures not cached."""

from __future__ import annotations

import msgspec

from tests.integration.search_support import search_stack


def _json(response) -> dict:
    return msgspec.json.decode(response.content)


def _legacy_error(response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["X-Error-Type"] == code
    assert _json(response) == {"success": False, "error": {"code": code, "message": message}}


def _assert_item(item: dict) -> None:
    assert item["kind"] == "books#volume"
    assert isinstance(item["id"], str)
    assert item["id"]
    info = item["volumeInfo"]
    for name, kind in (("title", str), ("subtitle", str), ("authors", list), ("publisher", str),
                       ("publishedDate", str), ("description", str), ("industryIdentifiers", list),
                       ("pageCount", int), ("categories", list)):
        assert isinstance(info[name], kind), name
    assert "imageLinks" not in info or set(info["imageLinks"]) == {"thumbnail", "smallThumbnail"}


async def test_title_hit_miss_and_cache(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.post("/search/title", params={"q": "The Hobbit", "maxResults": "5"})
        assert response.status_code == 200, response.text
        body = _json(response)
        assert body["kind"] == "books#volumes"
        assert body["provider"] == "orchestrated:google+openlibrary"
        assert body["cached"] is False
        assert isinstance(body["responseTime"], int)
        assert 1 <= len(body["items"]) <= 5
        assert body["totalItems"] >= len(body["items"])
        for item in body["items"]:
            _assert_item(item)
        assert any("Hobbit" in i["volumeInfo"]["title"] for i in body["items"])
        assert response.headers["X-Cache-Status"] == "MISS"
        assert response.headers["X-Cache-TTL"] == "21600"
        assert response.headers["X-Image-Quality"] in {"high", "medium", "low", "missing"}
        assert 0 <= int(response.headers["X-Data-Completeness"]) <= 100
        # both providers asked, in parallel, with the user's text
        assert [["The Hobbit"]] == [r.query.get("q") for r in stack.fake.requests.log("google_books")]
        assert stack.fake.requests.count("openlibrary") == 1

        calls = stack.book_calls()
        response = await client.get("/search/title", params={"q": "the hobbit ", "maxResults": "5"})
        body = _json(response)
        assert body["cached"] is True
        assert body["cacheSource"] == "KV"
        assert response.headers["X-Cache-Status"] == "HIT"
        assert stack.book_calls() == calls

        response = await client.get("/search/title", params={"q": "zzqx no such book qqzz"})
        assert response.status_code == 200
        body = _json(response)
        assert body["items"] == []
        assert body["totalItems"] == 0

        _legacy_error(await client.get("/search/title"), 400, "MISSING_PARAM", 'Missing query parameter "q"')


async def test_title_provider_failure_is_not_cached(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.set(error_rate=1.0, status=500)
        response = await client.get("/search/title", params={"q": "Dune"})
        assert response.status_code == 200
        body = _json(response)
        assert body["error"] == "Title search failed"
        assert body["items"] == []
        assert isinstance(body["details"], str)
        stack.fake.faults.set(error_rate=0.0)
        response = await client.get("/search/title", params={"q": "Dune"})
        assert _json(response)["cached"] is False


async def test_isbn_hit_miss_and_validation(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.put("/search/isbn", params={"isbn": "978-0-547-92822-7"})
        assert response.status_code == 200, response.text
        body = _json(response)
        assert body["kind"] == "books#volumes"
        assert len(body["items"]) == 1
        item = body["items"][0]
        _assert_item(item)
        assert {"type": "ISBN_13", "identifier": "9780547928227"} in item["volumeInfo"]["industryIdentifiers"]
        assert response.headers["X-Cache-Status"] == "MISS"
        assert stack.searches("isbndb") == 0  # legacy ISBN: Google ∥ Open Library only

        calls = stack.book_calls()
        response = await client.get("/search/isbn", params={"isbn": "054792822x"})  # same book, ISBN-10
        assert _json(response).get("cached") is True, response.text
        assert stack.book_calls() == calls

        response = await client.get("/search/isbn", params={"isbn": "9780000000002"})
        assert response.status_code == 200
        assert _json(response)["items"] == []

        _legacy_error(await client.get("/search/isbn"), 400, "MISSING_PARAM", "Missing ISBN parameter")
        response = await client.get("/search/isbn", params={"isbn": "9780547928228"})
        assert response.status_code == 400
        assert response.headers["X-Error-Type"] == "INVALID_ISBN"
        assert _json(response)["success"] is False


async def test_author_hit_miss_pagination_and_cjk(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.post("/search/author", params={"q": "J.R.R. Tolkien", "limit": "1"})
        assert response.status_code == 200, response.text
        body = _json(response)
        assert body["success"] is True
        assert body["provider"] == "openlibrary"
        assert body["author"]["name"] == "J.R.R. Tolkien"
        assert body["author"]["openLibraryKey"] == "OL26320A"
        total = body["author"]["totalWorks"]
        assert total >= 1
        assert len(body["works"]) == 1
        work = body["works"][0]
        assert work["openLibraryWorkKey"].startswith("/works/")
        assert work["editions"] == []
        assert body["pagination"] == {
            "total": total, "limit": 1, "offset": 0, "hasMore": total > 1, "nextOffset": 1 if total > 1 else None,
        }
        assert response.headers["X-Provider"] == "openlibrary"
        assert response.headers["X-Cache"] == "MISS"
        assert response.headers["Cache-Control"] == "public, max-age=21600"
        years = [w.get("firstPublicationYear") for w in body["works"]]
        assert all(y is None or isinstance(y, int) for y in years)

        if total > 1:  # a later page after caching is that page, not page one (original bug)
            response = await client.get("/search/author", params={"q": "J.R.R. Tolkien", "limit": "1", "offset": "1"})
            again = _json(response)
            assert again["cached"] is True
            assert response.headers["X-Cache"] == "HIT"
            assert again["pagination"]["offset"] == 1
            assert again["works"] != body["works"]

        response = await client.get("/search/author", params={"q": "村上春樹"})
        assert response.status_code == 200, response.text
        body = _json(response)
        assert body["success"] is True
        assert body["author"]["name"] == "村上春樹"
        assert body["author"]["openLibraryKey"] == "OL1433006A"
        assert body["works"]

        response = await client.get("/search/author", params={"q": "Zzqx Nobody"})
        assert response.status_code == 200
        assert _json(response) == {
            "success": False, "error": "Author not found in OpenLibrary", "works": [], "pagination": None,
        }


async def test_author_validation(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        _legacy_error(await client.get("/search/author"), 400, "MISSING_PARAM", 'Missing query parameter "q"')
        for params, message in (
            ({"limit": "0"}, "Limit must be between 1 and 100"),
            ({"maxResults": "101"}, "Limit must be between 1 and 100"),
            ({"offset": "-1"}, "Offset must be >= 0"),
            ({"sortBy": "rating"}, "sortBy must be one of: publicationYear, publicationYearAsc, title, popularity"),
        ):
            response = await client.get("/search/author", params={"q": "Tolkien", **params})
            _legacy_error(response, 400, "INVALID_PARAM", message)
        assert stack.book_calls() == 0


async def test_advanced_get_post_and_405(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        response = await client.get("/search/advanced", params={"title": "The Hobbit", "author": "Tolkien"})
        assert response.status_code == 200, response.text
        body = _json(response)
        assert body["success"] is True
        assert body["provider"] in {"google", "openlibrary"}
        assert body["cached"] is False
        assert body["items"]
        for item in body["items"]:
            _assert_item(item)
        assert response.headers["Cache-Control"] == "public, max-age=21600"

        response = await client.post("/search/advanced", json={"bookTitle": "The Hobbit", "authorName": "Tolkien"})
        assert response.status_code == 200, response.text
        body = _json(response)
        assert body["success"] is True
        assert body["items"]
        assert body["cached"] is True

        response = await client.post("/search/advanced", json={"title": "zzqx no such book qqzz"})
        assert _json(response) == {"success": True, "provider": "none", "items": [], "cached": False}

        response = await client.put("/search/advanced", params={"title": "The Hobbit"})
        _legacy_error(response, 405, "METHOD_NOT_ALLOWED", "Use GET with query parameters or POST with JSON body")
        assert response.headers["Allow"] == "GET, POST"

        _legacy_error(await client.get("/search/advanced"), 400, "MISSING_PARAM",
                      "At least one search parameter required (title or author)")
        _legacy_error(await client.post("/search/advanced", json={"title": " "}), 400, "MISSING_PARAM",
                      "At least one search parameter required (title or author)")
        headers = {"Content-Type": "application/json"}
        response = await client.post("/search/advanced", content=b"{not json", headers=headers)
        assert response.status_code == 400
        assert response.headers["X-Error-Type"] == "INVALID_REQUEST"


async def test_advanced_provider_failure(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.set(error_rate=1.0, status=500)
        response = await client.get("/search/advanced", params={"title": "Dune"})
        assert response.status_code == 200
        body = _json(response)
        assert body["success"] is False
        assert body["items"] == []
        assert isinstance(body["error"], str)
        stack.fake.faults.set(error_rate=0.0)
        response = await client.get("/search/advanced", params={"title": "Dune"})
        assert _json(response)["cached"] is False
