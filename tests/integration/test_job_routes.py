"""The job routes over real HTTP (reference §3.3, §3.7–3.8; API.md §4, §8): validation row by row,
job ids, 409, rate limits, job state, results, the deprecated start route, and restart resume."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from bookstrack.devtools import run_fake_upstream
from tests.integration.jobs_support import books_for, catalogue_isbns, held, start_job, wait_state
from tests.integration.search_support import _ticker, provider_settings, search_stack

LONG = "x" * 501


def _row(i: int, **book: Any) -> dict[str, Any]:
    return {"jobId": f"v-{i}", "books": [{"title": "Ok"}, book]}


VALIDATION = [
    ({"jobId": "a"}, "INVALID_REQUEST", "Invalid books array"),
    ({"jobId": "a", "books": "nope"}, "INVALID_REQUEST", "Invalid books array"),
    ({"books": [{"title": "t"}]}, "INVALID_REQUEST", "Missing jobId"),
    ({"jobId": "", "books": [{"title": "t"}]}, "INVALID_REQUEST", "Missing jobId"),
    ({"jobId": "a", "books": []}, "EMPTY_BATCH", "Empty books array"),
    ({"jobId": "a", "books": [{"title": "t"}] * 101}, "BATCH_TOO_LARGE", "Batch size exceeds maximum of 100 books"),
    (_row(1), "INVALID_REQUEST", "Invalid title for book at index 1"),
    (_row(2, title=5), "INVALID_REQUEST", "Invalid title for book at index 1"),
    (_row(3, title=LONG), "INVALID_REQUEST", "Title exceeds maximum length of 500 characters at index 1"),
    (_row(4, title="t", author=7), "INVALID_REQUEST", "Invalid author for book at index 1"),
    (_row(5, title="t", author="a" * 301), "INVALID_REQUEST",
     "Author exceeds maximum length of 300 characters at index 1"),
    (_row(6, title="t", isbn=9780000000000), "INVALID_ISBN", "Invalid ISBN for book at index 1"),
    (_row(7, title="t", isbn="9" * 18), "INVALID_ISBN", "ISBN exceeds maximum length of 17 characters at index 1"),
    ({"jobId": "has space", "books": [{"title": "t"}]}, "INVALID_REQUEST", None),
    ({"jobId": "x" * 129, "books": [{"title": "t"}]}, "INVALID_REQUEST", None),
    ({"jobId": 12, "books": [{"title": "t"}]}, "INVALID_REQUEST", None),
]


@pytest.mark.parametrize(("body", "code", "message"), VALIDATION)
async def test_batch_validation_rows(start_server, body, code, message):
    overrides = {"rate_limit": {"enabled": False}}
    async with start_server(overrides=overrides) as server, server.client() as client:
        response = await client.post("/v1/enrichment/batch", json=body)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == code
        if message is not None:
            assert error["message"] == message
        assert response.json()["data"] is None
        assert "timestamp" in response.json()["metadata"]


async def test_malformed_json_is_a_400_not_a_500(start_server):
    async with start_server() as server, server.client() as client:
        for path in ("/v1/enrichment/batch", "/api/enrichment/start", "/api/token/refresh", "/api/enrichment/cancel"):
            response = await client.post(path, content=b"{nope", headers={"Content-Type": "application/json"})
            assert response.status_code == 400, path
            assert "INVALID_REQUEST" in response.text


async def test_the_eleventh_start_from_one_ip_is_rate_limited(start_server):
    async with start_server() as server, server.client() as client:
        statuses = [(await client.post("/v1/enrichment/batch", json={"jobId": f"r{i}"})).status_code
                    for i in range(11)]
        assert statuses == [400] * 10 + [429]  # rate limiting runs before validation, so bad requests count


async def test_a_running_job_id_conflicts_and_an_ended_one_is_replaced(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(1, provider="google_books")
        token = await start_job(client, "dup-1", books_for(catalogue_isbns(1)))
        again = await client.post("/v1/enrichment/batch", json={"jobId": "dup-1", "books": [{"title": "t"}]})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "JOB_EXISTS"
        await held(stack.fake)
        stack.fake.faults.release()
        await wait_state(client, "dup-1", token, status="complete")
        new_token = await start_job(client, "dup-1", books_for(catalogue_isbns(2, skip=1)))
        state = await wait_state(client, "dup-1", new_token, status="complete")
        assert state["totalCount"] == 2
        old = await client.get("/api/job-state/dup-1", headers={"Authorization": f"Bearer {token}"})
        assert old.status_code == 401


async def test_job_state_route(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        missing = await client.get("/api/job-state/none")
        assert missing.status_code == 401
        assert missing.json()["error"]["message"] == "Missing authorization token"
        unknown = await client.get("/api/job-state/none", headers={"Authorization": "Bearer x"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "Job not found or state not initialized"
        empty = await client.get("/api/job-state/")
        assert empty.status_code == 400
        token = await start_job(client, "st-1", books_for(catalogue_isbns(2)))
        state = await wait_state(client, "st-1", token, status="complete")
        assert state["pipeline"] == "batch_enrichment"
        assert state["processedCount"] == 2
        assert state["totalCount"] == 2
        assert isinstance(state["startTime"], int)
        assert isinstance(state["endTime"], int)
        bare = await client.get("/api/job-state/st-1", headers={"Authorization": token})  # no "Bearer ": accepted
        assert bare.status_code == 200
        wrong = await client.get("/api/job-state/st-1", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["message"] == "Invalid or expired token"


async def test_results_route_404s_and_the_token_option(start_server, mock_clock):
    settings = {"jobs": {"results_require_token": True}}
    async with search_stack(start_server, mock_clock, settings=settings) as stack, stack.server.client() as client:
        gone = await client.get("/v1/jobs/nothing-here/results")
        assert gone.status_code == 401  # the token is required here, and there is none
        token = await start_job(client, "res-1", books_for(catalogue_isbns(1)))
        await wait_state(client, "res-1", token, status="complete")
        assert (await client.get("/v1/jobs/res-1/results")).status_code == 401
        ok = await client.get("/v1/jobs/res-1/results", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert len(ok.json()["data"]["enrichedBooks"]) == 1
        mock_clock.jump(86400 + 60)  # the retention ends: the job and its results are deleted
        await trio.sleep(0.1)
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        gone = await client.get("/v1/jobs/unknown-job/results")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "NOT_FOUND"
        assert gone.json()["error"]["details"]["ttl"] == "24 hours"


async def test_results_are_deleted_after_the_retention(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        token = await start_job(client, "ret-1", books_for(catalogue_isbns(1)))
        await wait_state(client, "ret-1", token, status="complete")
        assert (await client.get("/v1/jobs/ret-1/results")).status_code == 200
    async with search_stack(start_server, mock_clock) as stack:
        mock_clock.jump(86400 + 60)
        await trio.sleep(0.1)  # the cleanup alarm fires (re-armed from storage at start-up)
        async with stack.server.client() as client:
            assert (await client.get("/v1/jobs/ret-1/results")).status_code == 404


async def test_deprecated_start_treats_work_ids_as_titles(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        bad = await client.post("/api/enrichment/start", json={"jobId": "d-1"})
        assert bad.status_code == 400
        assert bad.json() == {"success": False, "error": {
            "code": "INVALID_REQUEST", "message": "Invalid request: jobId and workIds (array) required"}}
        empty = await client.post("/api/enrichment/start", json={"jobId": "d-1", "workIds": []})
        assert empty.json()["error"]["message"] == "Invalid request: workIds array cannot be empty"
        too_many = await client.post("/api/enrichment/start", json={"jobId": "d-1", "workIds": ["w"] * 101})
        assert too_many.json()["error"]["code"] == "BATCH_TOO_LARGE"
        assert too_many.json()["data"] is None
        started = await client.post("/api/enrichment/start", json={"jobId": "d-1", "workIds": ["The Hobbit"]})
        assert started.status_code == 202
        body = started.json()["data"]
        assert body["totalCount"] == 1
        assert body["success"] is True
        state = await wait_state(client, "d-1", body["token"], status="complete")
        assert state["processedCount"] == 1
        results = (await client.get("/v1/jobs/d-1/results")).json()["data"]["enrichedBooks"]
        assert results[0]["title"] == "The Hobbit"


async def test_cancel_route_answers_200_for_unknown_jobs_and_400_without_an_id(start_server):
    async with start_server() as server, server.client() as client:
        unknown = await client.post("/api/enrichment/cancel", json={"jobId": "never-was"})
        assert unknown.status_code == 200
        assert unknown.json()["status"] == "canceled"
        missing = await client.post("/api/enrichment/cancel", json={})
        assert missing.status_code == 400
        assert missing.json()["error"]["message"] == "Invalid request: jobId required"
        refresh = await client.post("/api/token/refresh", json={"jobId": "x"})
        assert refresh.status_code == 400
        assert refresh.json()["error"]["message"] == "Invalid request: jobId and oldToken required"


@pytest.mark.deadline(40)
async def test_a_job_resumes_after_an_abrupt_stop_and_every_book_appears_once(start_server, mock_clock, tmp_path):
    isbns = catalogue_isbns(6)
    async with run_fake_upstream() as fake, trio.open_nursery() as nursery:
        nursery.start_soon(_ticker, mock_clock)
        fake.faults.set("google_books", latency_ms=200)
        providers = provider_settings(fake)
        overrides = {"providers": providers, "jobs": {"workers_per_job": 1}}
        with trio.CancelScope() as crash:
            async with start_server(env=fake.env(), overrides=overrides) as server, server.client() as client:
                token = await start_job(client, "crash-1", books_for(isbns))
                await wait_state(client, "crash-1", token, processed=2)
                crash.cancel()  # the process "dies" with the job mid-way
                await trio.sleep_forever()
        async with start_server(env=fake.env(), overrides=overrides) as server, server.client() as client:
            state = await wait_state(client, "crash-1", token, status="complete")
            assert server.app.services.runner.resumed == 1
            assert state["processedCount"] == 6
            results = (await client.get("/v1/jobs/crash-1/results")).json()["data"]
        nursery.cancel_scope.cancel()
    assert [b["isbn"] for b in results["enrichedBooks"]] == isbns
    assert results["summary"]["totalProcessed"] == 6
