"""Errors the framework would answer by itself, answered in our families (reference §1.2-1.3, API.md §2, §8):
404 for unknown paths and method mismatches, 413 for oversized bodies (with and without a length), 400
for malformed JSON in the route's family, 500 without internals. Never HTML."""

from __future__ import annotations

import pytest

NOT_FOUND_BODY = {
    "success": False,
    "error": {
        "code": "NOT_FOUND",
        "message": "The requested endpoint does not exist. Use /health to see available endpoints.",
    },
}


def assert_json(response) -> None:
    assert response.headers["content-type"].startswith("application/json")
    assert "<html" not in response.text.lower()
    assert "<!doctype" not in response.text.lower()


def assert_legacy_not_found(response) -> None:
    assert response.status_code == 404
    assert_json(response)
    assert response.json() == NOT_FOUND_BODY
    assert response.headers["x-error-type"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/no/such/path"), ("POST", "/api/nothing-here"), ("DELETE", "/"), ("GET", "/health/extra")],
)
async def test_unknown_path_is_the_legacy_404(start_server, method, path):
    async with start_server() as server, server.client() as client:
        response = await client.request(method, path)
    assert_legacy_not_found(response)
    assert response.text.startswith('{"success":false,')  # compact


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_method_mismatch_on_a_known_path_is_the_same_404(start_server, test_routes, method):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        mismatch = await client.request(method, "/test/post-only")
        match = await client.post("/test/post-only")
    assert_legacy_not_found(mismatch)
    assert "allow" not in mismatch.headers
    assert match.status_code == 200


async def test_an_unknown_http_method_is_the_legacy_404(start_server):
    async with start_server() as server, server.client() as client:
        response = await client.request("PROPFIND", "/test/post-only")
    assert_legacy_not_found(response)


# -- 413 ------------------------------------------------------------------------------------------


def assert_payload_too_large(response, limit: int) -> None:
    assert response.status_code == 413
    assert_json(response)
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert body["code"] == "PAYLOAD_TOO_LARGE"
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["details"] == {"limit": limit}


async def chunks(total: int, size: int = 1000):
    """An async iterator body: httpx sends it with Transfer-Encoding: chunked, no Content-Length."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part


@pytest.mark.parametrize(("path", "limit"), [("/test/body/1k", 1024), ("/test/body/default", 1024 * 1024)])
async def test_an_oversized_body_with_a_content_length_is_413(start_server, test_routes, path, limit):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        response = await client.post(path, content=b"x" * (limit + 1))
        assert response.request.headers["content-length"] == str(limit + 1)
        at_limit = await client.post(path, content=b"x" * limit)
    assert_payload_too_large(response, limit)
    assert at_limit.status_code == 200
    assert at_limit.json() == {"received": limit}


@pytest.mark.parametrize(("path", "limit"), [("/test/body/1k", 1024), ("/test/body/default", 1024 * 1024)])
async def test_an_oversized_chunked_body_is_413(start_server, test_routes, path, limit):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        response = await client.post(path, content=chunks(limit + 1, size=min(limit, 64 * 1024)))
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.request.headers
        at_limit = await client.post(path, content=chunks(limit))
    assert_payload_too_large(response, limit)
    assert at_limit.json() == {"received": limit}


async def test_a_chunked_body_that_arrives_before_the_route_runs_is_still_limited(start_server, test_routes):
    # The rate-limit check awaits an actor before the route's body limit is installed: by then a small
    # chunked body (here one 2000-byte chunk) has fully arrived, and the limit must still apply to it
    # (without the check it reached the JSON decoder: 400 instead of 413).
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        responses = [
            await client.post("/test/protected/json", content=chunks(2000, size=2000)) for _ in range(5)
        ]
    for response in responses:
        assert_payload_too_large(response, 1024)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_connection_stays_usable_after_a_large_rejected_body(start_server, test_routes, chunked):
    # A 413 sent before the body was read: the rest must not wedge the connection (the next request on
    # the same client must be answered, on this connection or a fresh one).
    size = 3 * 1024 * 1024
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        for _ in range(3):
            content = chunks(size, size=64 * 1024) if chunked else b"x" * size
            rejected = await client.post("/test/body/1k", content=content)
            assert_payload_too_large(rejected, 1024)
            after = await client.get("/health")
            assert after.status_code == 200


# -- 400 and 500 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2", b'{"name": 5}', b'{"count": 2}', b"\xff\xfe", b"null"],
    ids=["garbage", "empty", "truncated", "wrong-type", "missing-field", "not-utf8", "null"],
)
async def test_malformed_json_is_400_in_the_envelope_family(start_server, test_routes, content):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        response = await client.post("/test/json/envelope", content=content)
    assert response.status_code == 400
    assert_json(response)
    body = response.json()
    assert set(body) == {"data", "metadata", "error"}
    assert body["data"] is None
    assert body["metadata"]["timestamp"].endswith("Z")
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["message"]
    assert "x-error-type" not in response.headers


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"name": []}'], ids=["garbage", "empty", "wrong-type"])
async def test_malformed_json_is_400_in_the_legacy_family(start_server, test_routes, content):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        response = await client.post("/test/json/legacy", content=content)
    assert response.status_code == 400
    assert_json(response)
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["message"]
    assert response.headers["x-error-type"] == "INVALID_REQUEST"


async def test_well_formed_json_is_served(start_server, test_routes):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        env = await client.post("/test/json/envelope", json={"name": "Dune", "count": 3})
        legacy = await client.post("/test/json/legacy", json={"name": "Dune"})
    assert env.status_code == 200
    assert env.json()["data"] == {"name": "Dune", "count": 3}
    assert "error" not in env.json()
    assert legacy.json() == {"name": "Dune", "count": 1}


@pytest.mark.parametrize(
    ("path", "family"), [("/test/crash/legacy", "legacy"), ("/test/crash/envelope", "envelope")]
)
async def test_an_unhandled_error_is_a_500_without_internals(start_server, test_routes, path, family, caplog):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        response = await client.get(path)
    assert response.status_code == 500
    assert_json(response)
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    body = response.json()
    if family == "legacy":
        assert body["success"] is False
        assert body["error"]["code"] == "INTERNAL_ERROR"
        assert response.headers["x-error-type"] == "INTERNAL_ERROR"
    else:
        assert body["data"] is None
        assert body["error"]["code"] == "INTERNAL_ERROR"
    # ...while the log keeps the detail for the operator
    assert any("secret detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)
