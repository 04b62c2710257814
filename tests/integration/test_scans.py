"""Bookshelf scans end to end over real sockets (issue 5): single and batch, WebSocket progress, results
decoding as the client requires, cancel between photos, failures — against the fake upstream's Gemini."""

from __future__ import annotations

import base64

import msgspec
import pytest
from trio_websocket import open_websocket_url

from tests import client_mirror as mirror
from tests.integration.jobs_support import Stream, held, receive, wait_state, ws_url
from tests.integration.search_support import search_stack

PHOTO = b"\xff\xd8\xff\xe0" + b"shelf-one" * 200  # any bytes: the fake picks its books by their hash
READY = '{"type":"ready","timestamp":1731700000000.5}'


def _book(title: str, author: str | None, confidence: float, x: float = 0.1, isbn: str | None = None) -> dict:
    return {"title": title, "author": author, "isbn": isbn, "format": "paperback", "confidence": confidence,
            "boundingBox": {"x1": x, "y1": 0.1, "x2": x + 0.1, "y2": 0.9}}


def _progress_values(stream: Stream) -> list[float]:
    return [f["payload"]["progress"] for f in stream.frames if f["type"] == "job_progress"]


async def test_single_scan_end_to_end(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(1, provider="gemini")  # holds the job while the client connects
        response = await client.post("/api/scan-bookshelf", content=PHOTO, headers={"Content-Type": "image/jpeg"})
        assert response.status_code == 202
        started = response.json()
        assert started["status"] == "started"
        assert started["stages"][0]["name"] == "Image Quality Analysis"
        job_id, token = started["jobId"], started["token"]
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, job_id, token)) as ws:
            await ws.send_message(READY)
            await receive(ws, stream, until="ready_ack")
            await held(stack.fake)
            stack.fake.faults.release()
            await receive(ws, stream)
        assert stream.frames[0]["pipeline"] == "ai_scan"
        assert stream.types()[-1] == "job_complete"
        assert (stream.code, stream.reason) == (1000, "Job completed")
        progress = _progress_values(stream)
        assert progress == sorted(progress)  # monotonic
        payload = msgspec.json.encode(stream.frames[-1]["payload"])
        complete = msgspec.json.decode(payload, type=mirror.AiScanCompleteFull)
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(payload, type=mirror.EnrichmentComplete)
        expected = stack.fake.app.gemini.detections_for(PHOTO)
        assert complete.total_detected == len(expected)
        assert complete.approved + complete.needs_review == complete.total_detected
        assert complete.results_url == f"/v1/scan/results/{job_id}"
        assert complete.metadata is not None
        assert complete.metadata["model_used"] == "gemini-2.5-flash"
        summary = msgspec.json.decode(payload, type=mirror.SummaryComplete).summary
        assert summary.totalDetected == len(expected)

        for path in (f"/v1/scan/results/{job_id}", f"/v1/jobs/{job_id}/results"):
            results = await client.get(path)
            assert results.status_code == 200, path
            data = mirror.decode(results.content, mirror.Envelope[mirror.ScanResults]).data
            assert data.totalDetected == len(expected)
            assert [b.title for b in data.books] == [d["title"] for d in expected]
            assert all(0.0 <= b.boundingBox.x1 <= b.boundingBox.x2 <= 1.0 for b in data.books)
            assert data.metadata.enrichedCount >= 1
            assert any(b.enrichment is not None and b.enrichment.status == "success" and b.enrichment.editions
                       for b in data.books)
        assert stack.fake.requests.count("gemini") == 1


async def test_batch_scan_dedupes_across_photos_and_answers_twice(start_server, mock_clock):
    settings = {"jobs": {"ready_grace": 0.05}}  # the batch screen never sends ready
    async with search_stack(start_server, mock_clock, settings=settings) as stack, stack.server.client() as client:
        gemini = stack.fake.app.gemini
        photos = [b"photo-a" * 50, b"photo-b" * 50, b"photo-c" * 50]
        gemini.pin_detections([_book("The Hobbit", "J.R.R. Tolkien", 0.5)], image=photos[0])
        gemini.pin_detections([_book("The Hobbit", "J.R.R. Tolkien", 0.9), _book("Dune", None, 0.8, 0.5)],
                              image=photos[1])
        gemini.pin_detections([_book("Nothing Known Here Zzq", "Nobody", 0.95)], image=photos[2])
        stack.fake.faults.hang_next(1, provider="gemini")
        body = {"jobId": "batch-1", "images": [{"index": i, "data": base64.b64encode(p).decode()}
                                                for i, p in enumerate(photos)]}
        response = await client.post("/api/scan-bookshelf/batch", json=body)
        assert response.status_code == 202
        started = response.json()
        assert started["data"]["totalPhotos"] == 3
        assert started["totalPhotos"] == 3
        assert started["jobId"] == started["data"]["jobId"] == "batch-1"
        assert started["status"] == "processing"
        assert "timestamp" in started["metadata"]
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "batch-1", started["token"])) as ws:
            await held(stack.fake)
            stack.fake.faults.release()
            await receive(ws, stream)
        assert stream.types()[-1] == "job_complete"
        assert stream.code == 1000
        progress = _progress_values(stream)
        assert progress == sorted(progress)
        data = (await client.get("/v1/scan/results/batch-1")).json()["data"]
        titles = [b["title"] for b in data["books"]]
        assert titles == ["The Hobbit", "Dune", "Nothing Known Here Zzq"]  # the Hobbit once
        hobbit = data["books"][0]
        assert hobbit["confidence"] == 0.9
        assert hobbit["enrichmentStatus"] == "success"
        assert data["books"][2]["enrichmentStatus"] == "not_found"
        assert (data["totalDetected"], data["approved"], data["needsReview"]) == (3, 3, 0)
        assert [p["status"] for p in data["photos"]] == ["complete"] * 3


async def test_cancel_between_photos_keeps_partial_results(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        gemini = stack.fake.app.gemini
        photos = [b"first" * 40, b"second" * 40, b"third" * 40]
        gemini.pin_detections([_book("The Hobbit", "J.R.R. Tolkien", 0.9)], image=photos[0])
        body = {"jobId": "cancel-scan", "images": [{"index": i, "data": base64.b64encode(p).decode()}
                                                    for i, p in enumerate(photos)]}
        stack.fake.faults.hang_next(2, provider="gemini")  # the first two photos' calls hang
        response = await client.post("/api/scan-bookshelf/batch", json=body)
        token = response.json()["token"]
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "cancel-scan", token)) as ws:
            await ws.send_message(READY)
            await receive(ws, stream, until="ready_ack")
            await held(stack.fake)
            stack.fake.faults.release()  # the first photo goes through
            await wait_state(client, "cancel-scan", token, processed=1)
            await held(stack.fake)  # the second one is held
            gemini_calls = stack.fake.requests.count("gemini")
            canceled = await client.post("/api/scan-bookshelf/cancel", json={"jobId": "cancel-scan"})
            assert canceled.json() == {"success": True}
            await receive(ws, stream)
            stack.fake.faults.release()
        assert (stream.code, stream.reason) == (1001, "Job canceled")
        payload = stream.frames[-1]["payload"]
        assert payload["canceled"] is True
        assert payload["total_detected"] == 1
        assert stack.fake.requests.count("gemini") == gemini_calls  # the third photo was never sent
        data = (await client.get("/v1/scan/results/cancel-scan")).json()["data"]
        assert [b["title"] for b in data["books"]] == ["The Hobbit"]
        unknown = await client.post("/api/scan-bookshelf/cancel", json={"jobId": "never"})
        assert unknown.json() == {"error": "Job not found"}


async def test_a_failed_single_scan_sends_an_error_frame_and_1011(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.app.gemini.answer_next("truncated")
        stack.fake.faults.hang_next(1, provider="gemini")
        response = await client.post("/api/scan-bookshelf?jobId=fail-1", content=PHOTO,
                                     headers={"Content-Type": "image/png"})
        token = response.json()["token"]
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "fail-1", token)) as ws:
            await ws.send_message(READY)
            await receive(ws, stream, until="ready_ack")
            await held(stack.fake)
            stack.fake.faults.release()
            await receive(ws, stream)
        assert (stream.code, stream.reason) == (1011, "Job failed")
        error = stream.frames[-1]["payload"]
        assert error["code"] == "E_AI_SCAN_FAILED"
        assert "cut off" in error["message"]
        assert (await client.get("/v1/scan/results/fail-1")).status_code == 404


async def test_a_batch_fails_only_when_every_photo_failed(start_server, mock_clock):
    settings = {"jobs": {"ready_grace": 0.05}}
    async with search_stack(start_server, mock_clock, settings=settings) as stack, stack.server.client() as client:
        gemini = stack.fake.app.gemini
        stack.fake.faults.hang_next(1, provider="gemini")
        gemini.answer_next("not_json", count=2)
        body = {"jobId": "allfail", "images": [{"index": i, "data": base64.b64encode(b"x%d" % i * 30).decode()}
                                               for i in range(2)]}
        token = (await client.post("/api/scan-bookshelf/batch", json=body)).json()["token"]
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "allfail", token)) as ws:
            await held(stack.fake)
            stack.fake.faults.release()
            await receive(ws, stream)
        assert stream.code == 1011
        assert stream.frames[-1]["payload"]["code"] == "E_BATCH_SCAN_FAILED"

        gemini.answer_next("empty")  # one of two photos fails: the job completes with the other
        body = {"jobId": "onefail", "images": [{"index": i, "data": base64.b64encode(b"y%d" % i * 30).decode()}
                                               for i in range(2)]}
        token = (await client.post("/api/scan-bookshelf/batch", json=body)).json()["token"]
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "onefail", token)) as ws:
            await receive(ws, stream)
        assert stream.code == 1000
        data = (await client.get("/v1/scan/results/onefail")).json()["data"]
        assert [p["status"] for p in data["photos"]] == ["error", "complete"]


BATCH_VALIDATION = [
    ({"images": []}, 400, "INVALID_REQUEST", "Invalid request: jobId and images array required"),
    ({"jobId": "v"}, 400, "INVALID_REQUEST", "Invalid request: jobId and images array required"),
    ({"jobId": "v", "images": []}, 400, "INVALID_REQUEST", "At least one image required"),
    ({"jobId": "v", "images": [{"index": i, "data": "AA=="} for i in range(6)]}, 400, "BATCH_TOO_LARGE",
     "Batch size exceeds maximum 5 photos"),
    ({"jobId": "v", "images": [{"index": "0", "data": "AA=="}]}, 400, "INVALID_REQUEST",
     "Each image must have index and data fields"),
    ({"jobId": "v", "images": [{"index": 0, "data": ""}]}, 400, "INVALID_REQUEST",
     "Each image must have index and data fields"),
    ({"jobId": "v", "images": [{"index": 3, "data": "A" * 13_400_000}]}, 413, "FILE_TOO_LARGE",
     "Image 3 exceeds maximum size of 10MB"),
]


@pytest.mark.parametrize(("body", "status", "code", "message"), BATCH_VALIDATION)
async def test_batch_scan_validation(start_server, body, status, code, message):
    overrides = {"rate_limit": {"enabled": False}}
    async with start_server(env={"BOOKSTRACK_GEMINI_API_KEY": "k"}, overrides=overrides) as server, \
            server.client() as client:
        response = await client.post("/api/scan-bookshelf/batch", json=body)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"] == message


async def test_single_scan_checks(start_server):
    overrides = {"rate_limit": {"enabled": False}}
    async with start_server(env={"BOOKSTRACK_GEMINI_API_KEY": "k"}, overrides=overrides) as server, \
            server.client() as client:
        wrong = await client.post("/api/scan-bookshelf", content=b"abc", headers={"Content-Type": "text/plain"})
        assert wrong.status_code == 400
        assert wrong.json()["error"] == {"code": "INVALID_REQUEST", "message": "Invalid content type: image/* required"}
        big = await client.post("/api/scan-bookshelf", content=b"\0" * (10 * 1024 * 1024 + 1),
                                headers={"Content-Type": "image/jpeg"})
        assert big.status_code == 413
        assert big.json()["error"] == "Image too large. Maximum 10MB allowed."
        assert big.json()["details"]["resourceType"] == "image"
        missing = await client.post("/api/scan-bookshelf/cancel", json={})
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == "MISSING_PARAM"
        gone = await client.get("/v1/scan/results/nothing")
        assert gone.status_code == 404
        assert gone.json()["error"]["details"]["resultsKey"] == "scan-results:nothing"
    async with start_server(overrides=overrides) as server, server.client() as client:
        no_key = await client.post("/api/scan-bookshelf", content=PHOTO, headers={"Content-Type": "image/jpeg"})
        assert no_key.status_code == 503
        assert no_key.json()["error"]["code"] == "PROVIDER_ERROR"
