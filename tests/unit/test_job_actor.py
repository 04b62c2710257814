"""JobActor: record, tokens, fan-out, catch-up, results, cancel, resume and cleanup (in memory, MockClock)."""

from __future__ import annotations

import json

import pytest
import trio
from trio.testing import MockClock

from actors import MemoryStorage
from actors.job import (
    CLOSE_CANCELED,
    CLOSE_COMPLETED,
    CLOSE_FAILED,
    CancelJob,
    CheckToken,
    FinishJob,
    GetResults,
    GetState,
    ItemDone,
    JobActor,
    JobExistsError,
    JobStatus,
    RefreshToken,
    ReportProgress,
    ResumeJob,
    StartJob,
    Subscribe,
    Subscriber,
    Unsubscribe,
)
from actors.testing import EPOCH, memory_system


@pytest.fixture
def autojump_clock() -> MockClock:
    return MockClock(autojump_threshold=0)


def start(total: int = 3, token: str = "tok-1", **kw) -> StartJob:
    return StartJob(pipeline="batch_enrichment", total=total, input=b'{"books":[]}', token=token,
                    token_ttl=7200.0, **kw)


def item(index: int, success: bool = True, title: str = "T") -> ItemDone:
    return ItemDone(index=index, result=json.dumps({"i": index}).encode(), success=success,
                    status=f"Enriching ({{processed}}/{{total}}): {title}", current_item=title)


def finish(outcome: str = "complete") -> FinishJob:
    return FinishJob(outcome=outcome, payload=b'{"type":"job_complete","pipeline":"batch_enrichment"}',
                     expires_at=EPOCH + 86400, result=b'{"summary":{}}')


def frames(sub: Subscriber) -> list[dict]:
    out = []
    while True:
        try:
            out.append(json.loads(sub.receive.receive_nowait().text))
        except (trio.WouldBlock, trio.EndOfChannel):
            return out


async def test_start_answers_the_running_state_and_a_second_start_conflicts(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        state = await ref.ask(start())
        assert state.status is JobStatus.RUNNING
        assert state.pipeline == "batch_enrichment"
        assert state.total_count == 3
        with pytest.raises(JobExistsError):
            await ref.ask(start())


async def test_an_ended_job_is_replaced_and_its_sequence_goes_on(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=1))
        await ref.ask(item(0))
        ended = await ref.ask(finish())
        again = await ref.ask(start(total=2, token="tok-2"))
        assert again.processed_count == 0
        assert again.seq > ended.seq
        results = await ref.ask(GetResults())
        assert results.items == []
        assert results.result is None
        assert await ref.ask(CheckToken("tok-1")) == "invalid"


async def test_items_count_once_and_progress_is_announced_with_counts(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=2))
        sub = Subscriber()
        await ref.ask(Subscribe(subscriber=sub))
        assert await ref.ask(item(0, title="Dune")) == 1
        assert await ref.ask(item(0, title="Dune")) == 1  # redelivered: not counted twice
        assert await ref.ask(item(1, success=False, title="Emma")) == 2
        got = frames(sub)
        assert [f["type"] for f in got] == ["job_progress"] * 3
        last = got[-1]
        assert last["payload"] == {"type": "job_progress", "progress": 1.0, "status": "Enriching (2/2): Emma",
                                   "processedCount": 2, "currentItem": "Emma"}
        assert last["pipeline"] == "batch_enrichment"
        assert last["version"] == "1.0.0"
        assert isinstance(last["timestamp"], int)
        assert [f["seq"] for f in got] == sorted({f["seq"] for f in got})
        state = await ref.ask(GetState())
        assert (state.success_count, state.failure_count) == (1, 1)


async def test_finish_is_committed_before_it_is_announced(autojump_clock):
    storage = MemoryStorage()
    async with memory_system(JobActor, storage=storage) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=1))
        sub = Subscriber()
        await ref.ask(Subscribe(subscriber=sub))
        commits_before = storage.commits
        seen_at_commit: list[int] = []
        original = storage.commit

        async def spy(commit):
            seen_at_commit.append(len(frames_peek(sub)))
            await original(commit)

        storage.commit = spy  # type: ignore[method-assign]
        await ref.ask(finish())
        assert storage.commits == commits_before + 1
        assert seen_at_commit == [0]  # nothing was announced when the commit ran
        event = sub.receive.receive_nowait()
        assert event.type == "job_complete"
        assert event.close == CLOSE_COMPLETED
        with pytest.raises(trio.EndOfChannel):
            sub.receive.receive_nowait()  # the terminal event ends the subscription


def frames_peek(sub: Subscriber) -> list[object]:
    return [None] * sub.receive.statistics().current_buffer_used


@pytest.mark.parametrize(("outcome", "kind", "close"), [
    ("complete", "job_complete", CLOSE_COMPLETED), ("failed", "error", CLOSE_FAILED),
    ("canceled", "job_complete", CLOSE_CANCELED),
])
async def test_a_late_subscriber_gets_the_terminal_frame_only(autojump_clock, outcome, kind, close):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=1))
        await ref.ask(item(0))
        await ref.ask(finish(outcome))
        catchup = await ref.ask(Subscribe(subscriber=Subscriber(), after_seq=0))
        assert catchup.ended
        assert [e.type for e in catchup.events] == [kind]
        assert catchup.events[0].close == close
        assert catchup.state.status.value == {"complete": "complete", "failed": "failed",
                                               "canceled": "canceled"}[outcome]


async def test_catchup_latest_progress_reconnected_snapshot_and_replay(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=4))
        for i in range(3):
            await ref.ask(item(i, title=f"B{i}"))
        latest = await ref.ask(Subscribe(subscriber=Subscriber()))
        assert [json.loads(e.text)["payload"]["processedCount"] for e in latest.events] == [3]
        snap = await ref.ask(Subscribe(subscriber=Subscriber(), reconnect=True))
        payload = json.loads(snap.events[0].text)["payload"]
        assert payload["type"] == "reconnected"
        assert payload["processedCount"] == 3
        assert payload["totalCount"] == 4
        first_seq = json.loads(latest.events[0].text)["seq"] - 2
        replay = await ref.ask(Subscribe(subscriber=Subscriber(), after_seq=first_seq))
        assert [e.seq for e in replay.events] == [first_seq + 1, first_seq + 2]
        stale = await ref.ask(Subscribe(subscriber=Subscriber(), after_seq=first_seq, epoch=replay.epoch - 1))
        assert [e.type for e in stale.events] == ["job_progress"]  # a stale epoch gets a snapshot


async def test_a_full_queue_marks_the_subscriber_lagging_and_closes_it(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=10))
        slow, fast = Subscriber(capacity=2), Subscriber(capacity=100)
        await ref.ask(Subscribe(subscriber=slow))
        await ref.ask(Subscribe(subscriber=fast))
        for i in range(5):
            await ref.ask(item(i))
        assert slow.lagging
        assert not fast.lagging
        assert len(frames(slow)) == 2  # what fitted, then the end of the channel
        assert len(frames(fast)) == 5


async def test_unsubscribe_stops_delivery(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=2))
        sub = Subscriber()
        await ref.ask(Subscribe(subscriber=sub))
        await ref.ask(Unsubscribe(sub.id))
        await ref.ask(item(0))
        assert frames(sub) == []


async def test_token_refresh_rules(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(token="old"))

        def refresh(old: str, new: str) -> RefreshToken:
            return RefreshToken(old=old, new=new, ttl=7200.0, window=1800.0)

        assert (await ref.ask(refresh("nope", "n1"))).error == "Invalid token"
        assert (await ref.ask(refresh("old", "n1"))).error == "Refresh not allowed yet"
        await trio.sleep(7200 - 1800 + 1)
        done = await ref.ask(refresh("old", "n1"))
        assert done.token == "n1"
        assert done.error is None
        assert await ref.ask(CheckToken("old")) == "invalid"  # the old token stops at once
        assert await ref.ask(CheckToken("n1")) == "ok"
        await trio.sleep(7201)
        assert await ref.ask(CheckToken("n1")) == "expired"
        assert (await ref.ask(refresh("n1", "n2"))).error == "Token expired"


async def test_the_token_outlives_completion(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=1))
        await ref.ask(item(0))
        await ref.ask(finish())
        assert await ref.ask(CheckToken("tok-1")) == "ok"


async def test_cancel_flags_an_active_job_only(autojump_clock):
    storage = MemoryStorage()
    async with memory_system(JobActor, storage=storage) as system:
        unknown = await system.ref(JobActor, "nobody").ask(CancelJob("x"))
        assert (unknown.known, unknown.active) == (False, False)
        assert await storage.ids_with("job", "m:state") == []  # nothing written for an unknown job
        ref = system.ref(JobActor, "j1")
        await ref.ask(start())
        outcome = await ref.ask(CancelJob("user"))
        assert outcome.active
        state = await ref.ask(GetState())
        assert state.canceled
        assert state.cancel_reason == "user"
        assert state.status is JobStatus.RUNNING


async def test_restart_resumes_with_the_done_items_and_a_higher_sequence(autojump_clock):
    storage = MemoryStorage()
    async with memory_system(JobActor, storage=storage) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=5, throttle_count=5, throttle_seconds=10.0))
        await ref.ask(item(0))
        await ref.ask(item(3))
        seq_before = (await ref.ask(GetState())).seq
    assert await storage.ids_with("job", "active") == ["j1"]
    async with memory_system(JobActor, storage=storage) as system:
        ref = system.ref(JobActor, "j1")
        info = await ref.ask(ResumeJob())
        assert sorted(info.done) == [0, 3]
        assert info.input == b'{"books":[]}'
        assert info.state.processed_count == 2  # recounted from the stored items
        await ref.ask(item(1))
        assert (await ref.ask(GetState())).seq > seq_before
        await ref.ask(item(2))
        await ref.ask(item(4))
        await ref.ask(finish())
        assert await storage.ids_with("job", "active") == []
        results = await ref.ask(GetResults())
        assert [json.loads(i)["i"] for i in results.items] == [0, 1, 2, 3, 4]


async def test_cleanup_alarm_forgets_the_job_after_retention(autojump_clock):
    storage = MemoryStorage()
    async with memory_system(JobActor, storage=storage) as system:
        ref = system.ref(JobActor, "j1")
        await ref.ask(start(total=1))
        await ref.ask(item(0))
        await ref.ask(finish())
        await trio.sleep(86400 + 1)
        assert await ref.ask(GetState()) is None
        assert await ref.ask(GetResults()) is None
        assert storage._data == {}


async def test_progress_never_goes_back_and_reports_outside_a_running_job_fail(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "j1")
        with pytest.raises(LookupError):
            await ref.ask(ReportProgress(progress=0.1, status="x"))
        await ref.ask(start())
        await ref.ask(ReportProgress(progress=0.5, status="half"))
        await ref.ask(ReportProgress(progress=0.3, status="back"))
        assert (await ref.ask(GetState())).progress == 0.5
        await ref.ask(finish())
        with pytest.raises(RuntimeError):
            await ref.ask(item(0))


async def test_a_big_job_announces_a_bounded_number_of_progress_frames(autojump_clock):
    async with memory_system(JobActor) as system:
        ref = system.ref(JobActor, "big")
        await ref.ask(start(total=1000))
        sub = Subscriber(capacity=2000)
        await ref.ask(Subscribe(subscriber=sub))
        for i in range(999):
            await ref.ask(item(i))
        state = await ref.ask(GetState())
        assert state.processed_count == 999  # the record is current ...
        late = await ref.ask(Subscribe(subscriber=Subscriber()))
        assert json.loads(late.events[0].text)["payload"]["processedCount"] == 999  # ... and so is a catch-up
        await ref.ask(item(999))
        got = frames(sub)
        assert len(got) == 201  # the first, then one per 5 items (no virtual time passed between them)
        assert got[-1]["payload"]["processedCount"] == 1000  # the last item is always announced
        assert [f["seq"] for f in got] == list(range(got[0]["seq"], got[0]["seq"] + 201))
