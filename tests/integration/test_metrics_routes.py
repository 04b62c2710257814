"""``/metrics`` (Prometheus text and ``format=json``), ``/api/cache/metrics``, ``/openapi.json``, ``/docs``
and the admin dashboard's gate (404 without a token, 401 with a wrong one, bearer and session cookie)."""

from __future__ import annotations

import re

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from bookstrack.metrics import CONTENT_TYPE
from bookstrack.web.dashboard import COOKIE, SESSION_SECONDS, session_cookie
from bookstrack.web.openapi import openapi_path

from .conftest import EPOCH

TOKEN = "admin-secret-for-tests"
ADMIN_ENV = {"BOOKSTRACK_ADMIN_TOKEN": TOKEN}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def health_requests(parsed: dict) -> float:
    key = ("bookstrack_http_requests_total", (("method", "GET"), ("route", "/health"), ("status", "200")))
    return parsed.get(key, 0.0)


async def test_metrics_is_prometheus_text_and_its_counters_move(start_server):
    async with start_server() as server, server.client() as client:
        first = await client.get("/metrics")
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
        await client.get("/no/such/route")
        second = await client.get("/metrics")

    assert first.status_code == 200
    assert first.headers["content-type"] == CONTENT_TYPE  # prometheus_client's CONTENT_TYPE_LATEST
    before, after = samples(first.text), samples(second.text)
    assert health_requests(after) - health_requests(before) == 3
    unmatched = sum(v for (name, labels), v in after.items()
                    if name == "bookstrack_http_requests_total" and ("route", "unmatched") in labels)
    assert unmatched >= 1
    histogram = ("bookstrack_http_request_duration_seconds_count", (("route", "/health"),))
    assert after[histogram] >= 3
    families = {name for name, _ in after}
    # The families API.md §6 asks for that exist before any traffic of their kind.
    assert "bookstrack_queue_depth" in families  # the durable queues' figures, read at scrape time
    assert "bookstrack_queue_dead_letters" in families
    assert any(name.startswith("bookstrack_cache_") for name in families)


async def test_metrics_json_has_the_reference_shape_with_real_numbers(start_server):
    async with start_server() as server, server.client() as client:
        cache = server.app.services.cache

        async def load() -> str:
            return "value"

        for _ in range(2):  # a miss (the loader runs), then a memory hit
            await cache.get_or_load("test:metrics", load, type=str, ttl=60.0, negative_ttl=60.0)
        await client.get("/health")
        response = await client.get("/metrics", params={"format": "json", "period": "24h"})
        cache_response = await client.get("/api/cache/metrics", params={"period": "1h"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["period"] == "24h"
    assert body["window"] == "since-start"
    assert set(body["hitRates"]) == {"edge", "kv", "r2_cold", "api", "combined"}
    assert body["hitRates"]["edge"] == 0.5
    assert body["hitRates"]["api"] == 0.5
    assert body["hitRates"]["combined"] == 0.5
    assert body["volume"] == {"total_requests": 2, "edge_hits": 1, "kv_hits": 0, "r2_rehydrations": 0, "api_misses": 1}
    assert set(body["costs"]) == {"kv_reads_estimate", "r2_reads", "total_estimate"}
    assert re.fullmatch(r"\$\d+\.\d{4}/period", body["costs"]["total_estimate"])
    assert body["latency"]["count"] >= 1
    assert isinstance(body["latency"]["p95Ms"], int)
    assert body["health"]["status"] in ("healthy", "degraded")
    assert isinstance(body["health"]["issues"], list)
    assert body["http"]["requests"] >= 1
    assert body["providers"]["openlibrary"]["status"] == "ok"
    assert body["providers"]["isbndb"]["status"] == "unconfigured"
    assert all(set(q) == {"depth", "inFlight", "deadLetters"} for q in body["queues"].values())

    assert cache_response.status_code == 200
    stats = cache_response.json()
    assert stats["period"] == "1h"
    assert stats["running"] is True
    assert stats["stats"]["results"]["memory"] == 1
    assert stats["stats"]["results"]["miss"] == 1
    assert stats["stats"]["hitRates"]["combined"] == 0.5


async def test_an_unknown_metrics_format_is_a_legacy_400(start_server):
    async with start_server() as server, server.client() as client:
        response = await client.get("/metrics", params={"format": "xml"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PARAM"


async def test_openapi_json_lists_every_route_and_docs_is_self_contained(start_server):
    async with start_server() as server, server.client() as client:
        document = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    for spec in server.app.route_specs:
        assert openapi_path(spec.path)[0] in document["paths"]
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "<script src" not in docs.text


async def test_admin_routes_are_404_without_a_configured_token(start_server):
    async with start_server() as server, server.client() as client:
        page = await client.get("/admin/harvest-dashboard", headers={"Authorization": f"Bearer {TOKEN}"})
        data = await client.get("/admin/harvest-dashboard/data")
        login = await client.post("/admin/login", data={"token": TOKEN})
    for response in (page, data, login):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_the_dashboard_wants_the_admin_token(start_server):
    async with start_server(env=ADMIN_ENV) as server, server.client() as client:
        anonymous = await client.get("/admin/harvest-dashboard")
        wrong = await client.get("/admin/harvest-dashboard", headers={"Authorization": "Bearer nope"})
        wrong_data = await client.get("/admin/harvest-dashboard/data", headers={"Authorization": "Bearer nope"})
        right = await client.get("/admin/harvest-dashboard", headers={"Authorization": f"Bearer {TOKEN}"})
        data = await client.get("/admin/harvest-dashboard/data", headers={"Authorization": f"Bearer {TOKEN}"})

    assert anonymous.status_code == 401  # a browser: the sign-in form
    assert anonymous.headers["content-type"].startswith("text/html")
    assert 'action="/admin/login"' in anonymous.text
    for response in (wrong, wrong_data):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "AUTH_ERROR"
    assert right.status_code == 200
    assert right.headers["content-type"] == "text/html; charset=utf-8"
    assert right.headers["cache-control"] == "no-store"
    assert "script-src 'sha256-" in right.headers["content-security-policy"]
    assert 'id="initial"' in right.text
    assert "http://" not in right.text  # no external assets
    assert "https://" not in right.text
    body = data.json()
    assert set(body) >= {"report", "database", "cache", "jobs", "scheduler", "alerts", "harvest", "refreshSeconds"}
    assert body["database"] == "ok"
    assert body["report"]["providers"]["openlibrary"]["status"] == "ok"


async def test_signing_in_sets_a_strict_httponly_session_cookie(start_server):
    async with start_server(env=ADMIN_ENV) as server, server.client() as client:
        refused = await client.post("/admin/login", data={"token": "guess"})
        assert refused.status_code == 401
        assert "not the admin token" in refused.text
        assert COOKIE not in client.cookies

        signed_in = await client.post("/admin/login", data={"token": TOKEN, "next": "https://evil.example/"})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/admin/harvest-dashboard"  # no open redirect
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/admin" in cookie
        assert TOKEN not in cookie
        page = await client.get("/admin/harvest-dashboard")
        data = await client.get("/admin/harvest-dashboard/data")

        signed_out = await client.post("/admin/logout")
        assert signed_out.status_code == 303
        after = await client.get("/admin/harvest-dashboard/data")

    assert page.status_code == 200
    assert "BooksTrack operations" in page.text
    assert data.status_code == 200
    assert after.status_code == 401


async def test_a_forged_or_stale_session_is_refused(start_server):
    now = int(EPOCH)
    async with start_server(env=ADMIN_ENV) as server, server.client() as client:
        good = session_cookie(TOKEN, now)
        forged = session_cookie("another-token", now)
        stale = session_cookie(TOKEN, now - SESSION_SECONDS - 1)
        results = {}
        for name, value in (("good", good), ("forged", forged), ("stale", stale), ("junk", "x.y")):
            client.cookies.set(COOKIE, value, path="/admin")
            results[name] = (await client.get("/admin/harvest-dashboard/data")).status_code
            client.cookies.clear()
    assert results == {"good": 200, "forged": 401, "stale": 401, "junk": 401}


async def test_job_and_subscriber_families_are_exposed_once_counted(start_server):
    async with start_server() as server, server.client() as client:
        metrics = server.app.services.metrics
        metrics.counter("bookstrack_jobs_finished_total", "Jobs ended, by pipeline and status.",
                        ["pipeline", "status"]).labels("csv_import", "complete").inc()
        body = msgspec.json.decode((await client.get("/metrics", params={"format": "json"})).content)
    assert body["jobs"]["finished"] == {"csv_import": {"complete": 1}}
