"""GET /health on a real Hypercorn at an ephemeral 127.0.0.1 port, and the headers every response carries."""

from __future__ import annotations

import re

import msgspec
import pytest
import trio.testing

from bookstrack import __version__

REQUIRED_ENDPOINTS = (
    "/search/title",
    "/search/isbn",
    "/search/advanced",
    "/api/enrichment/start",
    "/api/scan-bookshelf",
    "/ws/progress",
)
KEYED = ("google_books", "isbndb", "gemini")
KEYLESS = ("openlibrary", "wikidata")
RESPONSE_TIME = re.compile(r"^\d+(\.\d+)?ms$")


async def test_health_reports_status_version_endpoints_and_checks(start_server):
    async with start_server() as server, server.client() as client:
        assert server.url.startswith("http://127.0.0.1:")
        assert not server.url.endswith(":0")
        response = await client.get("/health")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["worker"] == "api-worker"
    assert body["version"]
    assert body["version"] == __version__
    joined = " ".join(body["endpoints"])
    for path in REQUIRED_ENDPOINTS:
        assert path in joined
    assert len(body["endpoints"]) == 17
    assert body["checks"]["database"] == "ok"
    providers = body["checks"]["providers"]
    for name in KEYED:
        assert providers[name] == "unconfigured"
    for name in KEYLESS:
        assert providers[name] == "ok"


async def test_health_providers_are_ok_when_their_keys_are_in_the_environment(start_server):
    env = {
        "BOOKSTRACK_GOOGLE_BOOKS_API_KEY": "g-key",
        "ISBNDB_API_KEY": "i-key",  # the original service's name is accepted too
        "GEMINI_API_KEY": "m-key",
    }
    async with start_server(env=env) as server, server.client() as client:
        body = (await client.get("/health")).json()
    assert {name: body["checks"]["providers"][name] for name in KEYED} == dict.fromkeys(KEYED, "ok")
    assert "g-key" not in str(body)


async def test_health_with_only_one_key_marks_only_that_provider(start_server):
    async with start_server(env={"GOOGLE_BOOKS_API_KEY": "g"}) as server, server.client() as client:
        providers = (await client.get("/health")).json()["checks"]["providers"]
    assert providers["google_books"] == "ok"
    assert providers["isbndb"] == providers["gemini"] == "unconfigured"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_health_answers_any_method(start_server, method):
    async with start_server() as server, server.client() as client:
        response = await client.request(method, "/health", content=b"{}" if method != "GET" else None)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_health_head_has_no_body(start_server):
    async with start_server() as server, server.client() as client:
        response = await client.head("/health")
    assert response.status_code == 200
    assert response.content == b""


async def test_health_json_is_compact(start_server):
    async with start_server() as server, server.client() as client:
        response = await client.get("/health")
    text = response.text
    assert '": ' not in text
    assert '", "' not in text
    assert text.startswith('{"status":"ok",')
    # and it is the same document, re-encoded compactly
    assert msgspec.json.encode(msgspec.json.decode(response.content)) == response.content


async def test_request_id_is_generated_and_unique(start_server):
    async with start_server() as server, server.client() as client:
        first = await client.get("/health")
        second = await client.get("/health")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(i) >= 16 for i in ids)
    assert ids[0] != ids[1]


async def test_request_id_is_echoed_when_sent(start_server):
    async with start_server() as server, server.client() as client:
        response = await client.get("/health", headers={"X-Request-ID": "client-chosen-id-42"})
    assert response.headers["x-request-id"] == "client-chosen-id-42"


async def test_an_unusable_request_id_is_replaced(start_server):
    async with start_server() as server, server.client() as client:
        response = await client.get("/health", headers={"X-Request-ID": "x" * 500})
    assert response.headers["x-request-id"] != "x" * 500
    assert 0 < len(response.headers["x-request-id"]) <= 128


async def test_every_response_carries_request_id_and_response_time(start_server, test_routes):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        responses = [
            await client.get("/health"),
            await client.options("/anything"),
            await client.get("/no/such/path"),
            await client.get("/test/post-only"),  # method mismatch
            await client.post("/test/body/1k", content=b"x" * 2048),  # 413
            await client.post("/test/json/legacy", content=b"{not json"),  # 400
            await client.get("/test/crash/legacy"),  # 500
            await client.post("/test/protected"),  # rate-limited route, allowed
        ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 204, 404, 404, 413, 400, 500, 200]
    for response in responses:
        assert response.headers.get("x-request-id"), response
        assert RESPONSE_TIME.match(response.headers.get("x-response-time", "")), response


async def test_health_is_counted_in_the_metrics(start_server):
    async with start_server() as server, server.client() as client:
        await client.get("/health")
        await client.get("/health")
        await client.get("/nope")
        await trio.testing.wait_all_tasks_blocked()  # the count is taken after the response is sent
        metrics = server.app.services.metrics
        labels = {"route": "/health", "method": "GET", "status": "200"}
        assert metrics.value("bookstrack_http_requests_total", labels) == 2
        unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
        assert metrics.value("bookstrack_http_requests_total", unmatched) == 1
