"""Jobs end to end over real sockets (issue 4 acceptance): WebSocket and SSE progress, late and repeated
connections, cancel, restart, tokens — against the fake upstream on 127.0.0.1 under a MockClock."""

from __future__ import annotations

import logging

import httpx
import msgspec
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionRejected, open_websocket_url

from tests import client_mirror as mirror
from tests.integration.jobs_support import (
    Stream,
    books_for,
    catalogue_isbns,
    held,
    receive,
    start_job,
    wait_state,
    ws_url,
)
from tests.integration.search_support import search_stack

READY = '{"type":"ready"}'


def subscribers(server, transport: str) -> float | None:
    """The open-streams gauge (API.md §6) for ``transport``."""
    return server.app.services.metrics.value("bookstrack_progress_subscribers", {"transport": transport})


def assert_frames_decode(stream: Stream, job_id: str) -> None:
    for raw in stream.raw:
        frame = msgspec.json.decode(raw, type=mirror.Frame)
        assert frame.jobId == job_id
        assert frame.version == "1.0.0"
        assert '"type":"ready_ack"' in raw or frame.type != "ready_ack"  # compact JSON (clients.md §3.1)
    seqs = [f["seq"] for f in stream.frames if f["type"] not in ("ready_ack", "pong")]
    assert seqs == sorted(seqs)


async def test_full_flow_over_a_websocket(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        isbns = catalogue_isbns(3)
        books = [*books_for(isbns), {"title": "Zzqx Vrmblt Nonexistent Tome", "author": "Nobody Atall"}]
        stack.fake.faults.hang_next(1, provider="google_books")  # holds the job while we connect
        token = await start_job(client, "flow-1", books)
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "flow-1", token)) as ws:
            await ws.send_message('{"type":"ready","timestamp":1731700000000.5}')  # extra keys, float
            await receive(ws, stream, until="ready_ack")
            await held(stack.fake)
            stack.fake.faults.release()
            await receive(ws, stream)
        types = stream.types()
        assert types[0] == "ready_ack"
        assert stream.frames[0]["pipeline"] == "batch_enrichment"
        assert types[-1] == "job_complete"
        assert types.count("job_complete") == 1
        assert set(types[1:-1]) == {"job_progress"}
        assert len(types) >= 3
        assert (stream.code, stream.reason) == (1000, "Job completed")
        assert_frames_decode(stream, "flow-1")
        last_progress = stream.frames[-2]["payload"]
        assert last_progress["processedCount"] == 4
        assert last_progress["progress"] == 1.0
        assert isinstance(last_progress["currentItem"], str)

        payload = msgspec.json.encode(stream.frames[-1]["payload"])
        old = msgspec.json.decode(payload, type=mirror.EnrichmentComplete)
        new = msgspec.json.decode(payload, type=mirror.SummaryComplete)
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(payload, type=mirror.AiScanComplete)
        assert (old.totalProcessed, old.successCount, old.failureCount) == (4, 3, 1)
        assert new.summary.resourceId == "job-results:flow-1"
        assert new.summary.totalProcessed == 4
        missing = old.enrichedBooks[3]
        assert not missing.success
        assert missing.error == "Book not found in any provider"
        assert all(b.success and b.enriched is not None for b in old.enrichedBooks[:3])

        results = await client.get("/v1/jobs/flow-1/results")
        assert results.status_code == 200
        data = results.json()["data"]
        assert data["enrichedBooks"] == stream.frames[-1]["payload"]["enrichedBooks"]
        assert data["summary"]["totalProcessed"] == 4
        assert results.json()["metadata"]["cached"] is True


async def test_a_client_connecting_after_the_end_gets_the_terminal_frame(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        token = await start_job(client, "late-1", books_for(catalogue_isbns(2)))
        await wait_state(client, "late-1", token, status="complete")
        mock_clock.jump(3.0)
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "late-1", token)) as ws:
            await ws.send_message(READY)
            await receive(ws, stream)
        assert stream.types() == ["ready_ack", "job_complete"]
        assert (stream.code, stream.reason) == (1000, "Job completed")
        assert stream.frames[1]["payload"]["totalProcessed"] == 2


async def test_two_subscribers_each_get_every_event(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(1, provider="google_books")
        token = await start_job(client, "two-1", books_for(catalogue_isbns(4)))
        streams = [Stream(), Stream()]
        async with open_websocket_url(ws_url(stack.server, "two-1", token)) as a, \
                open_websocket_url(ws_url(stack.server, "two-1", token)) as b:
            for ws, stream in zip((a, b), streams, strict=True):
                await ws.send_message(READY)
                await receive(ws, stream, until="ready_ack")
            # Both are subscribed once their catch-up is in: wait for it, then let the job go on.
            await wait_state(client, "two-1", token, processed=3)
            assert subscribers(stack.server, "websocket") == 2
            await held(stack.fake)
            stack.fake.faults.release()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive, a, streams[0])
                nursery.start_soon(receive, b, streams[1])
        await trio.testing.wait_all_tasks_blocked()
        assert subscribers(stack.server, "websocket") == 0
        live = [[f["seq"] for f in s.frames if f["type"] in ("job_progress", "job_complete")][-2:] for s in streams]
        assert live[0] == live[1]
        assert all(s.types()[-1] == "job_complete" and s.code == 1000 for s in streams)


async def test_reconnect_mid_job_gets_a_snapshot_then_the_rest(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(1, provider="google_books")
        token = await start_job(client, "re-1", books_for(catalogue_isbns(4)))
        await wait_state(client, "re-1", token, processed=3)
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "re-1", token, reconnect="true")) as ws:
            await ws.send_message(READY)
            await receive(ws, stream, until="reconnected")
            await held(stack.fake)
            stack.fake.faults.release()
            await receive(ws, stream)
        assert stream.types()[:2] == ["ready_ack", "reconnected"]
        snapshot = stream.frames[1]["payload"]
        assert snapshot["processedCount"] == 3
        assert snapshot["totalCount"] == 4
        assert snapshot["status"] == "running"
        assert stream.types()[-2:] == ["job_progress", "job_complete"]


async def test_last_seq_replays_the_events_after_it(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(1, provider="google_books")
        token = await start_job(client, "seq-1", books_for(catalogue_isbns(4)))
        await wait_state(client, "seq-1", token, processed=3)
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "seq-1", token)) as ws:
            await ws.send_message(READY)
            await receive(ws, stream, until="job_progress")
        latest = stream.frames[-1]["seq"]
        replay = Stream()
        async with open_websocket_url(ws_url(stack.server, "seq-1", token, lastSeq=str(latest - 2))) as ws:
            await ws.send_message(READY)
            await receive(ws, replay, until="job_progress")
            await receive(ws, replay, until="job_progress")
        assert [f["seq"] for f in replay.frames[1:]] == [latest - 1, latest]
        await held(stack.fake)
        stack.fake.faults.release()


async def test_a_bad_frame_closes_1002_and_the_token_still_works(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(1, provider="google_books")
        token = await start_job(client, "bad-1", books_for(catalogue_isbns(2)))
        for frame, reason in [("not json", "Invalid JSON"), ("[1]", "Invalid message format"),
                              ('{"t":1}', "Missing message type"), ('{"type":"hello"}', "Unknown message type: hello")]:
            stream = Stream()
            async with open_websocket_url(ws_url(stack.server, "bad-1", token)) as ws:
                await ws.send_message(READY)
                await receive(ws, stream, until="ready_ack")
                await ws.send_message(frame)
                await receive(ws, stream)
            assert (stream.code, stream.reason) == (1002, reason)
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "bad-1", token)) as ws:
            await ws.send_message(READY)
            await ws.send_message('{"type":"ping"}')
            await receive(ws, stream, until="pong")
            await ws.ping()  # a control-frame ping is answered (trio-websocket waits for the pong)
        assert stream.types()[0] == "ready_ack"
        assert stream.types()[-1] == "pong"
        assert stream.frames[-1]["payload"]["type"] == "pong"
        await held(stack.fake)
        stack.fake.faults.release()


async def test_handshake_checks(start_server, mock_clock, caplog):
    caplog.set_level(logging.INFO, logger="bookstrack.access")
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        no_id = await client.get("/ws/progress")
        assert no_id.status_code == 400
        assert no_id.json()["error"]["code"] == "MISSING_PARAM"
        assert no_id.json()["error"]["message"] == "Missing jobId parameter"
        plain = await client.get("/ws/progress", params={"jobId": "x"})
        assert (plain.status_code, plain.text) == (426, "Expected Upgrade: websocket")
        token = await start_job(client, "hs-1", books_for(catalogue_isbns(1)))
        base = stack.server.url.replace("http://", "ws://")
        for url, status, body in [
            (f"{base}/ws/progress", 400, None),
            (ws_url(stack.server, "hs-1", "wrong"), 401, b"Unauthorized"),
            (ws_url(stack.server, "hs-1"), 401, b"Unauthorized"),
            (ws_url(stack.server, "nobody", token), 401, b"Unauthorized"),
        ]:
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket_url(url):
                    pass
            assert rejected.value.status_code == status
            if body is not None:
                assert rejected.value.body == body
        # The later clients' subprotocol carries the token, and the server echoes it.
        async with open_websocket_url(ws_url(stack.server, "hs-1"), subprotocols=[f"bookstrack-auth.{token}"]) as ws:
            assert ws.subprotocol == f"bookstrack-auth.{token}"
            await ws.send_message(READY)
            stream = await receive(ws, Stream())
        assert stream.types()[-1] == "job_complete"
        await trio.sleep(0.5)  # the access log is flushed in batches
    sessions = [(r.status, r.path) for r in caplog.records if getattr(r, "path", None) == "/ws/progress"]
    assert (101, "/ws/progress") in sessions  # one line per WebSocket session, with its outcome
    assert (401, "/ws/progress") in sessions


@pytest.mark.deadline(30)
async def test_token_rules_under_the_mock_clock(start_server, mock_clock):
    # No keep-alive: a jump past the server's keep-alive timeout would race a reused connection's close.
    fresh_connections = httpx.Limits(max_keepalive_connections=0)
    async with search_stack(start_server, mock_clock) as stack, stack.server.client(limits=fresh_connections) as client:
        token = await start_job(client, "tok-1", books_for(catalogue_isbns(1)))
        await wait_state(client, "tok-1", token, status="complete")
        early = await client.post("/api/token/refresh", json={"jobId": "tok-1", "oldToken": token})
        assert early.status_code == 401
        assert early.json()["error"] == {
            "code": "AUTH_ERROR", "message": "Refresh not allowed yet"}
        wrong = await client.post("/api/token/refresh", json={"jobId": "tok-1", "oldToken": "nope"})
        assert wrong.json()["error"]["message"] == "Invalid token"
        mock_clock.jump(7200 - 1800 + 1)
        fresh = await client.post("/api/token/refresh", json={"jobId": "tok-1", "oldToken": token})
        assert fresh.status_code == 200
        body = fresh.json()
        assert body["jobId"] == "tok-1"
        assert body["expiresIn"] == 7200
        assert body["token"] != token
        old = await client.get("/api/job-state/tok-1", headers={"Authorization": f"Bearer {token}"})
        assert old.status_code == 401
        assert old.json()["error"]["message"] == "Invalid or expired token"
        await wait_state(client, "tok-1", body["token"], status="complete")
        mock_clock.jump(7201)
        expired = await client.get("/api/job-state/tok-1", headers={"Authorization": f"Bearer {body['token']}"})
        assert expired.status_code == 401
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(ws_url(stack.server, "tok-1", body["token"])):
                pass
        assert (rejected.value.status_code, rejected.value.body) == (401, b"Token expired")
        late = await client.post("/api/token/refresh", json={"jobId": "tok-1", "oldToken": body["token"]})
        assert late.json()["error"]["message"] == "Token expired"
        # Results outlive the token (no token needed by default).
        assert (await client.get("/v1/jobs/tok-1/results")).status_code == 200


async def test_cancel_mid_job_stops_upstream_calls_and_keeps_partial_results(start_server, mock_clock):
    settings = {"jobs": {"workers_per_job": 1}}
    async with search_stack(start_server, mock_clock, settings=settings) as stack, stack.server.client() as client:
        isbns = catalogue_isbns(6)
        token = await start_job(client, "cancel-1", books_for(isbns))
        await wait_state(client, "cancel-1", token, processed=2)
        stack.fake.faults.hang_next(1, provider="google_books")
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "cancel-1", token)) as ws:
            await ws.send_message(READY)
            await receive(ws, stream, until="ready_ack")
            await held(stack.fake)
            canceled = await client.post("/api/enrichment/cancel", json={"jobId": "cancel-1"})
            calls_at_cancel = stack.book_calls()
            assert canceled.status_code == 200
            assert canceled.json() == {
                "jobId": "cancel-1", "status": "canceled", "message": "Enrichment job canceled successfully"}
            await receive(ws, stream)
            stack.fake.faults.release()
        assert (stream.code, stream.reason) == (1001, "Job canceled")
        complete = stream.frames[-1]
        assert complete["type"] == "job_complete"
        payload = complete["payload"]
        assert payload["canceled"] is True
        assert payload["summary"]["canceled"] is True
        done = payload["summary"]["totalProcessed"]
        assert 2 <= done < 6
        assert len(payload["enrichedBooks"]) == done
        await trio.sleep(1.0)  # virtual: anything the job would still do has had time to happen
        assert stack.book_calls() == calls_at_cancel
        state = await wait_state(client, "cancel-1", token, status="canceled")
        assert state["processedCount"] == done
        results = (await client.get("/v1/jobs/cancel-1/results")).json()["data"]
        assert len(results["enrichedBooks"]) == done


async def test_cancel_frame_over_the_websocket(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(1, provider="google_books")
        token = await start_job(client, "cancel-2", books_for(catalogue_isbns(3)))
        stream = Stream()
        async with open_websocket_url(ws_url(stack.server, "cancel-2", token)) as ws:
            await ws.send_message(READY)
            await receive(ws, stream, until="ready_ack")
            await ws.send_message('{"type":"cancel"}')
            await receive(ws, stream)
        stack.fake.faults.release()
        assert stream.code == 1001
        assert stream.frames[-1]["payload"]["canceled"] is True


async def test_sse_resumes_after_last_event_id(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        stack.fake.faults.hang_next(2, provider="google_books")
        token = await start_job(client, "sse-1", books_for(catalogue_isbns(4)))
        await wait_state(client, "sse-1", token, processed=2)
        headers = {"Authorization": f"Bearer {token}"}
        async with client.stream("GET", "/v1/jobs/sse-1/events", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            first = await _next_event(response.aiter_lines())
            assert subscribers(stack.server, "sse") == 1
        await trio.testing.wait_all_tasks_blocked()
        assert subscribers(stack.server, "sse") == 0  # the client went away: the stream ended with it
        assert first["event"] == "job_progress"
        epoch, seq = (int(part) for part in first["id"].split("."))
        # A resume from the event before replays it, then goes on live to the end.
        async with client.stream("GET", "/v1/jobs/sse-1/events", params={"token": token},
                                 headers={"Last-Event-ID": f"{epoch}.{seq - 1}"}) as response:
            lines = response.aiter_lines()
            events = [await _next_event(lines)]
            await held(stack.fake, 2)
            stack.fake.faults.release()
            while events[-1]["event"] != "job_complete":
                events.append(await _next_event(lines))
        ids = [int(e["id"].split(".")[1]) for e in events]
        assert ids == list(range(seq, seq + len(ids)))
        assert len(ids) == 4
        assert all(e["id"].startswith(f"{epoch}.") for e in events)
        assert [e["event"] for e in events] == ["job_progress"] * 3 + ["job_complete"]
        stale = await _first_event(client, "sse-1", token, "1.1")  # another epoch: a snapshot, not a resume
        assert stale["event"] == "job_complete"
        bad = await client.get("/v1/jobs/sse-1/events", params={"token": "nope"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "AUTH_ERROR"


async def _first_event(client, job_id: str, token: str, last_id: str) -> dict[str, str]:
    async with client.stream("GET", f"/v1/jobs/{job_id}/events", params={"token": token},
                             headers={"Last-Event-ID": last_id}) as response:
        return await _next_event(response.aiter_lines())


async def _next_event(lines) -> dict[str, str]:
    event: dict[str, str] = {}
    with trio.fail_after(10):
        async for line in lines:
            if not line:
                if "data" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            event[name] = value
    raise AssertionError(f"stream ended before an event: {event}")
