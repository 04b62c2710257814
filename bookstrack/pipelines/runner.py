"""The pipeline runner: starts each job's work in the jobs nursery, cancels it, and resumes at start-up.

Owns the live side of a job: the task doing its items, the cancel scope a cancel request trips (so
in-flight upstream calls are cancelled and no new one starts), and the process-wide cap on items in
progress across every job. At start-up it asks storage which jobs were still running when the process
stopped and resumes each with the items it has not finished (item results are committed one by one, so
nothing is processed twice and nothing is lost).

A job's state lives in its ``JobActor``; this module only reports to it (``JobContext``). It must not
answer HTTP or hold subscribers. Shutdown is not cancellation: a job cut short by the process stopping
stays "running" and is resumed by the next start, while a job whose cancel was requested ends
``canceled`` with its partial results.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import trio

from actors import ActorSystem, Clock
from actors.job import (
    ACTIVE_KEY,
    FinishJob,
    GetResults,
    ItemDone,
    JobActor,
    JobResults,
    JobState,
    ReportProgress,
    ResumeJob,
)
from bookstrack.cache import abandon_flights_when
from bookstrack.config import JobsConfig
from bookstrack.metrics import Metrics

__all__ = ["JobRunner", "JobContext", "JobSummary", "Pipeline", "PipelineFailed"]

log = logging.getLogger("bookstrack.pipelines")

_encoder = msgspec.json.Encoder()


class Pipeline(Protocol):
    """One kind of job. ``run`` processes the items not in ``job.done`` and returns; the runner then calls
    ``finish``. An exception out of ``run`` fails the job with ``error_code``."""

    name: str
    error_code: str
    throttle: tuple[int, float]  # persist progress every N updates or S seconds (reference §4.8)

    async def run(self, job: JobContext) -> None: ...

    async def finish(self, job: JobContext, *, canceled: bool) -> None: ...

    def results_data(self, results: JobResults) -> Any:
        """``data`` of the results route for a finished job of this pipeline."""
        ...


@dataclass(eq=False)
class JobContext:
    """What a pipeline sees of its job: the input, the items already done, and the ways to report."""

    job_id: str
    state: JobState
    input: bytes
    done: set[int]
    clock: Clock
    config: JobsConfig
    items: trio.CapacityLimiter  # process-wide: hold one while an item does upstream work
    _actor: Any = None
    canceled: bool = False  # a cancel was requested: stop between items
    outcome: str | None = None  # how the job ended ("complete", "failed", "canceled"), once recorded
    _scope: trio.CancelScope | None = field(default=None, repr=False)

    async def item_done(
        self, index: int, result: Any, *, success: bool, status: str, current_item: str | None = None
    ) -> None:
        """Hand item ``index``'s result to the job's actor, which commits it and then announces the progress.
        Not waiting for the commit lets the next item start meanwhile (the mailbox still pushes back when
        full); the runner checks after the run that every result landed (``JobRunner._work``)."""
        await self._actor.tell(ItemDone(
            index=index, result=_encoder.encode(result), success=success, status=status, current_item=current_item,
        ))
        self.done.add(index)

    async def progress(self, progress: float, status: str, *, processed: int | None = None,
                       current_item: str | None = None, total: int | None = None) -> None:
        await self._actor.ask(ReportProgress(progress=progress, status=status, processed=processed,
                                             current_item=current_item, total=total))
        if total is not None:
            self.state.total_count = total

    async def results(self) -> JobResults:
        results: JobResults = await self._actor.ask(GetResults())
        return results

    def expires_at(self) -> float:
        """When results stored now expire (epoch seconds)."""
        return self.clock.wall() + self.config.retention

    def duration_ms(self) -> int:
        return max(0, int(self.clock.wall() * 1000) - self.state.start_time)

    async def finish(self, outcome: str, payload: Any, *, expires_at: float, result: Any = None,
                     error: str | None = None) -> None:
        await self._actor.ask(FinishJob(
            outcome=outcome,  # type: ignore[arg-type]
            payload=_encoder.encode(payload), expires_at=expires_at,
            result=None if result is None else _encoder.encode(result), error=error,
        ))
        self.outcome = outcome


class PipelineFailed(Exception):
    """Raised by a pipeline to fail its job with this ``code`` (else the pipeline's ``error_code``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JobSummary(msgspec.Struct, rename="camel"):
    """One job as the operations dashboard lists it (times in epoch ms)."""

    job_id: str
    pipeline: str
    status: str
    processed: int
    total: int
    start_time: int
    end_time: int | None = None


class _ErrorPayload(msgspec.Struct):
    type: str
    code: str
    message: str
    retryable: bool


class JobRunner:
    def __init__(self, system: ActorSystem, clock: Clock, config: JobsConfig, pipelines: Mapping[str, Pipeline],
                 *, resume: bool = True, metrics: Metrics | None = None, recent: int = 50) -> None:
        self.resume_at_start = resume
        self.system = system
        self.clock = clock
        self.config = config
        self.pipelines = dict(pipelines)
        self.items = trio.CapacityLimiter(config.max_concurrent_items)
        self._live: dict[str, JobContext] = {}
        self._nursery: trio.Nursery | None = None
        self.resumed = 0
        # Jobs by pipeline and status (API.md §6), and the last ``recent`` ended jobs for the dashboard.
        metrics = metrics or Metrics()
        self._started = metrics.counter("bookstrack_jobs_started_total", "Jobs started or resumed.", ["pipeline"])
        self._finished = metrics.counter(
            "bookstrack_jobs_finished_total", "Jobs ended, by pipeline and status.", ["pipeline", "status"]
        )
        self._running = metrics.gauge("bookstrack_jobs_running", "Jobs running in this process.", ["pipeline"])
        self._recent: deque[JobSummary] = deque(maxlen=recent)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The jobs nursery: report started, resume the jobs a previous process left running, and keep
        running jobs until cancelled (shutdown: they stay "running" for the next start)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                task_status.started()
                active = await self.system.storage.ids_with(JobActor.kind, ACTIVE_KEY) if self.resume_at_start else []
                for job_id in active:
                    if await self.resume(job_id):
                        self.resumed += 1
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def is_running(self, job_id: str) -> bool:
        return job_id in self._live

    def launch(self, job_id: str, state: JobState, input: bytes, done: set[int] | None = None) -> None:
        """Start the work of a job whose ``StartJob`` was committed."""
        if self._nursery is None:
            raise RuntimeError("the job runner is not running")
        pipeline = self.pipelines[state.pipeline]
        job = JobContext(job_id, state, input, set(done or ()), self.clock, self.config, self.items,
                         self.system.ref(JobActor, job_id))
        self._live[job_id] = job
        self._started.labels(state.pipeline).inc()
        self._running.labels(state.pipeline).inc()
        self._nursery.start_soon(self._drive, pipeline, job, name=f"job {job_id}")

    async def resume(self, job_id: str) -> bool:
        """Resume a job that is active in storage but has no task here (after a restart); False if none."""
        if job_id in self._live:
            return False
        info = await self.system.ref(JobActor, job_id).ask(ResumeJob())
        if info is None or info.state.pipeline not in self.pipelines:
            return False
        log.info("resuming job %s (%s): %d of %d items done", job_id, info.state.pipeline, len(info.done),
                 info.state.total_count)
        self.launch(job_id, info.state, info.input, set(info.done))
        return True

    def cancel(self, job_id: str) -> bool:
        """Stop a running job's work now (its cancel flag is already committed); False if none runs here."""
        job = self._live.get(job_id)
        if job is None:
            return False
        job.canceled = True
        if job._scope is not None:
            job._scope.cancel()
        return True

    async def _lost_items(self, job: JobContext) -> bool:
        """Whether results sent without waiting failed to land (a failed commit restarts the actor from
        storage); if so ``job.done`` becomes what storage holds, so a second run redoes the rest."""
        stored = await job._actor.ask(ResumeJob())
        if stored is None or set(stored.done) == job.done:
            return False
        log.warning("job %s: %d item results did not land; redoing them", job.job_id,
                    len(job.done - set(stored.done)))
        job.done = set(stored.done)
        return True

    async def _drive(self, pipeline: Pipeline, job: JobContext) -> None:
        try:
            await self._work(pipeline, job)
        except Exception:
            # Reporting the end failed (storage trouble, say): the job stays active in storage and is
            # resumed by the next start. One job's trouble must never take the jobs nursery down.
            log.exception("job %s (%s): could not record its end; it resumes at the next start",
                          job.job_id, pipeline.name)
        finally:
            self._live.pop(job.job_id, None)
            self._running.labels(job.state.pipeline).dec()
            if job.outcome is not None:  # not a shutdown: the job ended
                self._finished.labels(job.state.pipeline, job.outcome).inc()
                self._recent.appendleft(self._summary(job, job.outcome, int(self.clock.wall() * 1000)))

    @staticmethod
    def _summary(job: JobContext, status: str, end_time: int | None = None) -> JobSummary:
        return JobSummary(job.job_id, job.state.pipeline, status, len(job.done), job.state.total_count,
                          job.state.start_time, end_time)

    def recent_jobs(self) -> list[JobSummary]:
        """The jobs running here, then the most recently ended ones (newest first)."""
        return [self._summary(job, "running") for job in self._live.values()] + list(self._recent)

    async def _work(self, pipeline: Pipeline, job: JobContext) -> None:
        canceled = job.state.canceled  # a cancel that arrived while no task ran (before a restart)
        if not canceled:
            with trio.CancelScope() as scope:
                job._scope = scope
                if job.canceled:
                    scope.cancel()
                try:
                    # Shared cache lookups this job started are dropped with it once it is canceled.
                    with abandon_flights_when(lambda: job.canceled):
                        await pipeline.run(job)
                        if not job.canceled and await self._lost_items(job):
                            await pipeline.run(job)  # redo the items whose results did not land
                except Exception as exc:
                    if isinstance(exc, PipelineFailed):  # an expected end, told to the client: no traceback
                        log.warning("job %s (%s) failed: %s", job.job_id, pipeline.name, exc)
                    else:
                        log.exception("job %s (%s) failed", job.job_id, pipeline.name)
                    message = str(exc) or type(exc).__name__
                    code = exc.code if isinstance(exc, PipelineFailed) else pipeline.error_code
                    with trio.CancelScope(shield=True):
                        await job.finish("failed", _ErrorPayload("error", code, message, True),
                                         expires_at=job.expires_at(), error=message)
                    return
            canceled = job.canceled
        # Shutdown cancels from outside this scope and never gets here; a cancel request does.
        with trio.CancelScope(shield=canceled):
            await pipeline.finish(job, canceled=canceled)
