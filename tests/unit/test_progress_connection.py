"""The WebSocket connection logic of ``web/progress.py`` against a stub socket: frame parsing, and the
lagging subscriber that is closed with 1013 (hard to provoke over a real socket: the kernel's buffers
would absorb thousands of frames first)."""

from __future__ import annotations

import json

import pytest
import trio

from actors.job import CLOSE_LAGGING, ItemDone, JobActor, StartJob
from actors.testing import memory_system
from bookstrack.config import JobsConfig
from bookstrack.pipelines.jobs import JobService
from bookstrack.web.progress import ProtocolError, _Connection, parse_client_frame


@pytest.mark.parametrize(("frame", "kind"), [
    ('{"type":"ready"}', "ready"), ('{"type":"ready","timestamp":1731700000000.5,"x":1}', "ready"),
    ('{"type":"ping"}', "ping"), (b'{"type":"cancel"}', "cancel"),
])
def test_client_frames_that_are_allowed(frame, kind):
    assert parse_client_frame(frame) == kind


@pytest.mark.parametrize(("frame", "reason"), [
    ("nope", "Invalid JSON"), ("null", "Invalid message format"), ("[]", "Invalid message format"),
    ('{"type":5}', "Missing message type"), ('{"type":"pong"}', "Unknown message type: pong"),
])
def test_client_frames_that_close_1002(frame, reason):
    with pytest.raises(ProtocolError, match=reason):
        parse_client_frame(frame)


class StubSocket:
    """Sends block until ``gate`` is set (a client that stopped reading); receive never returns."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.closed: tuple[int, str] | None = None
        self.gate = trio.Event()

    async def send(self, data: str) -> None:
        await self.gate.wait()
        self.sent.append(json.loads(data))

    async def receive(self) -> str:
        await trio.sleep_forever()
        raise AssertionError

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class NoRunner:
    pipelines: dict = {}

    def cancel(self, job_id: str) -> bool:
        return False


async def test_a_subscriber_that_falls_behind_is_closed_1013(autojump_clock):
    config = JobsConfig(ready_grace=0.0, subscriber_queue=2)
    async with memory_system(JobActor) as system:
        jobs = JobService(system, NoRunner(), config, system.clock)  # type: ignore[arg-type]
        ref = system.ref(JobActor, "lag-1")
        state = await ref.ask(StartJob(pipeline="batch_enrichment", total=10, input=b"{}", token="t", token_ttl=60))
        ws = StubSocket()
        connection = _Connection(ws, jobs, "lag-1", state.pipeline, state.seq)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connection.run, config.ready_grace, False, None)
            await trio.testing.wait_all_tasks_blocked()
            for index in range(6):  # the writer is stuck on its first send: the queue overflows
                await ref.ask(ItemDone(index=index, result=b"{}", success=True, status="s"))
            ws.gate.set()
    assert ws.closed == CLOSE_LAGGING
    assert 1 <= len(ws.sent) <= 3  # what was in flight and queued, not all six
