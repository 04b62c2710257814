"""The pipeline runner with stand-in pipelines (in memory, MockClock): failure, cancel, shutdown, resume."""

from __future__ import annotations

import json

import trio

from actors import MemoryStorage
from actors.job import (
    CLOSE_FAILED,
    CancelJob,
    GetResults,
    GetState,
    ItemDone,
    JobActor,
    JobStatus,
    StartJob,
    Subscribe,
    Subscriber,
)
from actors.testing import memory_system
from bookstrack.config import JobsConfig
from bookstrack.pipelines.jobs import JobService
from bookstrack.pipelines.runner import JobContext, JobRunner


class Steps:
    """Items are indexes 0..n-1; each waits on ``gate`` (when set up) and records what ran."""

    name = "steps"
    error_code = "E_STEPS_FAILED"
    throttle = (5, 10.0)

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.ran: list[int] = []
        self.gate: trio.Event | None = None
        self.finished: list[bool] = []

    async def run(self, job: JobContext) -> None:
        if self.fail:
            raise ValueError("the input cannot be read")
        for index in range(job.state.total_count):
            if index in job.done or job.canceled:
                continue
            if self.gate is not None:
                await self.gate.wait()
            self.ran.append(index)
            await job.item_done(index, {"i": index}, success=True, status="{processed}/{total}")

    async def finish(self, job: JobContext, *, canceled: bool) -> None:
        self.finished.append(canceled)
        await job.finish("canceled" if canceled else "complete", {"type": "job_complete"},
                         expires_at=job.expires_at())

    def results_data(self, results):  # pragma: no cover - not used here
        return None


def _service(system, steps: Steps) -> tuple[JobRunner, JobService]:
    config = JobsConfig()
    runner = JobRunner(system, system.clock, config, {"steps": steps})
    return runner, JobService(system, runner, config, system.clock)


async def _wait_status(system, job_id: str, status: JobStatus) -> None:
    while (await system.ref(JobActor, job_id).ask(GetState())).status is not status:  # noqa: ASYNC110
        await trio.sleep(0.01)


async def test_a_failing_pipeline_ends_the_job_with_an_error_frame_and_1011(autojump_clock):
    steps = Steps(fail=True)
    async with memory_system(JobActor) as system, trio.open_nursery() as nursery:
        runner, jobs = _service(system, steps)
        await nursery.start(runner.run)
        ref = system.ref(JobActor, "f-1")
        await ref.ask(StartJob(pipeline="steps", total=2, input=b"{}", token="t", token_ttl=60))
        subscriber = Subscriber()
        await ref.ask(Subscribe(subscriber=subscriber))
        runner.launch("f-1", await ref.ask(GetState()), b"{}")
        event = await subscriber.receive.receive()
        nursery.cancel_scope.cancel()
    assert event.type == "error"
    assert event.close == CLOSE_FAILED
    payload = json.loads(event.text)["payload"]
    assert payload == {"type": "error", "code": "E_STEPS_FAILED", "message": "the input cannot be read",
                       "retryable": True}


async def test_cancel_stops_between_items_and_finishes_canceled(autojump_clock):
    steps = Steps()
    steps.gate = trio.Event()
    async with memory_system(JobActor) as system, trio.open_nursery() as nursery:
        runner, jobs = _service(system, steps)
        await nursery.start(runner.run)
        ref = system.ref(JobActor, "c-1")
        state = await ref.ask(StartJob(pipeline="steps", total=5, input=b"{}", token="t", token_ttl=60))
        runner.launch("c-1", state, b"{}")
        await trio.testing.wait_all_tasks_blocked()
        outcome = await jobs.cancel("c-1", "user")
        assert outcome.active
        await _wait_status(system, "c-1", JobStatus.CANCELED)
        nursery.cancel_scope.cancel()
    assert steps.ran == []
    assert steps.finished == [True]


async def test_shutdown_leaves_the_job_running_and_the_next_start_resumes_the_rest(autojump_clock):
    storage = MemoryStorage()
    first = Steps()
    first.gate = trio.Event()
    async with memory_system(JobActor, storage=storage) as system, trio.open_nursery() as nursery:
        runner, jobs = _service(system, first)
        await nursery.start(runner.run)
        ref = system.ref(JobActor, "r-1")
        state = await ref.ask(StartJob(pipeline="steps", total=4, input=b"{}", token="t", token_ttl=60))
        runner.launch("r-1", state, b"{}")
        await trio.testing.wait_all_tasks_blocked()
        # Two items finish before the stop (the stand-in waits on its gate): their results are committed.
        for index in (0, 1):
            await ref.ask(ItemDone(index=index, result=b"{}", success=True, status="s"))
        nursery.cancel_scope.cancel()  # shutdown, not a cancel request
    assert first.finished == []
    second = Steps()
    async with memory_system(JobActor, storage=storage) as system, trio.open_nursery() as nursery:
        runner, jobs = _service(system, second)
        await nursery.start(runner.run)
        await _wait_status(system, "r-1", JobStatus.COMPLETE)
        assert runner.resumed == 1
        nursery.cancel_scope.cancel()
    assert second.ran == [2, 3]
    assert second.finished == [False]


async def test_a_cancel_recorded_before_a_restart_finishes_the_job_canceled_at_start(autojump_clock):
    storage = MemoryStorage()
    async with memory_system(JobActor, storage=storage) as system:
        ref = system.ref(JobActor, "q-1")
        await ref.ask(StartJob(pipeline="steps", total=3, input=b"{}", token="t", token_ttl=60))
        await ref.ask(CancelJob("user"))  # no runner here: the process stops before it could act
    steps = Steps()
    async with memory_system(JobActor, storage=storage) as system, trio.open_nursery() as nursery:
        runner, _ = _service(system, steps)
        await nursery.start(runner.run)
        await _wait_status(system, "q-1", JobStatus.CANCELED)
        nursery.cancel_scope.cancel()
    assert steps.ran == []
    assert steps.finished == [True]


class FlakyStorage(MemoryStorage):
    """Fails the first commit that writes item 2's result (a full disk for a moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def commit(self, commit):  # type: ignore[no-untyped-def]
        if not self.failed and "item:00000002" in commit.writes:
            self.failed = True
            raise OSError("disk full")
        await super().commit(commit)


async def test_a_result_that_did_not_land_is_redone_before_the_job_ends(autojump_clock, caplog):
    storage = FlakyStorage()
    steps = Steps()
    async with memory_system(JobActor, storage=storage) as system, trio.open_nursery() as nursery:
        runner, _ = _service(system, steps)
        await nursery.start(runner.run)
        ref = system.ref(JobActor, "flaky")
        state = await ref.ask(StartJob(pipeline="steps", total=4, input=b"{}", token="t", token_ttl=60))
        runner.launch("flaky", state, b"{}")
        await _wait_status(system, "flaky", JobStatus.COMPLETE)
        results = await ref.ask(GetResults())
        nursery.cancel_scope.cancel()
    assert storage.failed
    assert steps.ran.count(2) == 2  # item 2 was done again
    assert [json.loads(item)["i"] for item in results.items] == [0, 1, 2, 3]
    assert "did not land" in caplog.text
