"""CORS (reference §11.1 with its FIX, API.md §8): preflight on any path, allow-list echo, no blanket "*"."""

from __future__ import annotations

import pytest

ALLOWED = "https://bookstrack.app"
ALSO_ALLOWED = "https://books.oooefam.net"  # API.md §8 adds it to the reference's list
UNKNOWN = "https://evil.example"


@pytest.mark.parametrize("path", ["/health", "/v1/search/title", "/no/such/path", "/ws/progress", "/"])
async def test_options_on_any_path_is_an_empty_204_with_cors(start_server, path):
    async with start_server() as server, server.client() as client:
        response = await client.options(path, headers={"Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers  # never together with "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Content-Type" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "86400"


@pytest.mark.parametrize("origin", [ALLOWED, ALSO_ALLOWED, "capacitor://localhost", "http://localhost:3000"])
async def test_an_allow_listed_origin_is_echoed_with_credentials(start_server, origin):
    async with start_server() as server, server.client() as client:
        preflight = await client.options("/v1/enrichment/batch", headers={"Origin": origin})
        response = await client.get("/health", headers={"Origin": origin})
    for r in (preflight, response):
        assert r.headers["access-control-allow-origin"] == origin
        assert r.headers["access-control-allow-credentials"] == "true"
        assert "Origin" in r.headers["vary"]


async def test_no_origin_gets_a_star_without_credentials(start_server):
    async with start_server() as server, server.client() as client:
        response = await client.get("/health")
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("origin", [UNKNOWN, "https://bookstrack.app.evil.example", "null", "HTTPS://BOOKSTRACK.APP"])
async def test_an_unknown_origin_gets_no_allow_origin(start_server, origin):
    async with start_server() as server, server.client() as client:
        preflight = await client.options("/health", headers={"Origin": origin})
        response = await client.get("/health", headers={"Origin": origin})
    assert preflight.status_code == 204
    for r in (preflight, response):
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
    assert response.status_code == 200  # CORS is for browsers; the request itself is still served


async def test_the_allow_list_comes_from_config(start_server):
    overrides = {"server": {"cors_allowed_origins": ["https://mine.example"]}}
    async with start_server(overrides=overrides) as server, server.client() as client:
        mine = await client.get("/health", headers={"Origin": "https://mine.example"})
        default = await client.get("/health", headers={"Origin": ALLOWED})
    assert mine.headers["access-control-allow-origin"] == "https://mine.example"
    assert "access-control-allow-origin" not in default.headers


async def test_error_responses_carry_cors_too(start_server, test_routes):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        responses = [
            await client.get("/no/such/path", headers={"Origin": ALLOWED}),
            await client.post("/test/body/1k", content=b"x" * 4096, headers={"Origin": ALLOWED}),
            await client.get("/test/crash/legacy", headers={"Origin": ALLOWED}),
        ]
    assert [r.status_code for r in responses] == [404, 413, 500]
    for r in responses:
        assert r.headers["access-control-allow-origin"] == ALLOWED
