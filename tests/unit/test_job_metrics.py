"""The job runner's figures for /metrics and the dashboard: jobs started, running and ended by pipeline and
status, and the bounded list of recent jobs."""

from __future__ import annotations

import trio

from actors.job import GetState, JobActor, StartJob
from actors.testing import memory_system
from bookstrack.config import JobsConfig
from bookstrack.metrics import Metrics
from bookstrack.pipelines.runner import JobContext, JobRunner


class Counting:
    name = "counting"
    error_code = "E_COUNTING_FAILED"
    throttle = (5, 10.0)

    def __init__(self) -> None:
        self.gate = trio.Event()

    async def run(self, job: JobContext) -> None:
        await self.gate.wait()
        if job.job_id.startswith("bad"):
            raise ValueError("unreadable")
        for index in range(job.state.total_count):
            await job.item_done(index, {"i": index}, success=True, status="{processed}/{total}")

    async def finish(self, job: JobContext, *, canceled: bool) -> None:
        await job.finish("complete", {"type": "job_complete"}, expires_at=job.expires_at())

    def results_data(self, results):  # pragma: no cover - not used here
        return None


async def test_jobs_are_counted_by_pipeline_and_status_and_listed(autojump_clock):
    metrics = Metrics()
    pipeline = Counting()
    async with memory_system(JobActor) as system, trio.open_nursery() as nursery:
        runner = JobRunner(system, system.clock, JobsConfig(), {"counting": pipeline}, metrics=metrics, recent=2)
        await nursery.start(runner.run)
        for job_id in ("good-1", "bad-1", "good-2"):
            ref = system.ref(JobActor, job_id)
            await ref.ask(StartJob(pipeline="counting", total=2, input=b"{}", token="t", token_ttl=60))
            runner.launch(job_id, await ref.ask(GetState()), b"{}")
        await trio.testing.wait_all_tasks_blocked()
        assert metrics.value("bookstrack_jobs_running", {"pipeline": "counting"}) == 3
        assert [j.status for j in runner.recent_jobs()] == ["running"] * 3
        pipeline.gate.set()
        while runner.is_running("good-1") or runner.is_running("bad-1") or runner.is_running("good-2"):  # noqa: ASYNC110
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()

    assert metrics.value("bookstrack_jobs_started_total", {"pipeline": "counting"}) == 3
    assert metrics.value("bookstrack_jobs_running", {"pipeline": "counting"}) == 0
    assert metrics.value("bookstrack_jobs_finished_total", {"pipeline": "counting", "status": "complete"}) == 2
    assert metrics.value("bookstrack_jobs_finished_total", {"pipeline": "counting", "status": "failed"}) == 1
    recent = runner.recent_jobs()
    assert len(recent) == 2  # bounded
    assert {j.status for j in recent} <= {"complete", "failed"}
    assert all(j.end_time is not None and j.total == 2 for j in recent)
