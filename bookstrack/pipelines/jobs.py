"""The job service: what the job routes and the progress streams call (start, cancel, tokens, state,
results, subscriptions). It joins the two owners of a job — its ``JobActor`` (state, token, subscribers)
and the ``JobRunner`` (the work) — so that routes never talk to either directly.

It must not validate requests (routes do) or shape responses (routes do).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Literal

import msgspec

from actors import ActorSystem, Clock
from actors.job import (
    CancelJob,
    CancelOutcome,
    Catchup,
    CheckToken,
    GetResults,
    GetState,
    JobActor,
    JobExistsError,
    JobResults,
    JobState,
    Refreshed,
    RefreshToken,
    StartJob,
    Subscribe,
    Subscriber,
    Unsubscribe,
)
from bookstrack.config import JobsConfig
from bookstrack.errors import JobExists
from bookstrack.pipelines.runner import JobRunner

__all__ = ["JobService", "JOB_ID", "Started"]

JOB_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # API.md §8

_encoder = msgspec.json.Encoder()


class Started(msgspec.Struct):
    token: str
    state: JobState


class JobService:
    def __init__(self, system: ActorSystem, runner: JobRunner, config: JobsConfig, clock: Clock,
                 new_token: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.system = system
        self.runner = runner
        self.config = config
        self.clock = clock
        self.new_token = new_token

    def _ref(self, job_id: str):  # type: ignore[no-untyped-def]
        return self.system.ref(JobActor, job_id)

    async def start(self, job_id: str, pipeline: str, input: msgspec.Struct, total: int) -> Started:
        """Create the job (state and token committed) and start its work at once. ``JobExists`` (409) if
        a job with this id is still queued or running."""
        count, seconds = self.runner.pipelines[pipeline].throttle
        raw = _encoder.encode(input)
        token = self.new_token()
        try:
            state = await self._ref(job_id).ask(StartJob(
                pipeline=pipeline, total=total, input=raw, token=token, token_ttl=self.config.token_ttl,
                throttle_count=count, throttle_seconds=seconds,
            ))
        except JobExistsError:
            raise JobExists(f"Job {job_id} is already running", details={"jobId": job_id}) from None
        self.runner.launch(job_id, state, raw)
        return Started(token, state)

    async def cancel(self, job_id: str, reason: str) -> CancelOutcome:
        """Flag the job canceled (committed), then stop its work: in-flight calls are cancelled, no new
        one starts; the pipeline stores partial results and ends the job ``canceled``."""
        outcome: CancelOutcome = await self._ref(job_id).ask(CancelJob(reason))
        if outcome.active and not self.runner.cancel(job_id):
            await self.runner.resume(job_id)  # no task here (queued, or not resumed yet): it finishes canceled
        return outcome

    async def check_token(self, job_id: str, token: str) -> Literal["ok", "invalid", "expired"]:
        if not token:
            return "invalid"
        result: Literal["ok", "invalid", "expired"] = await self._ref(job_id).ask(CheckToken(token))
        return result

    async def refresh(self, job_id: str, old: str) -> Refreshed:
        refreshed: Refreshed = await self._ref(job_id).ask(RefreshToken(
            old=old, new=self.new_token(), ttl=self.config.token_ttl, window=self.config.refresh_window,
        ))
        return refreshed

    async def state(self, job_id: str) -> JobState | None:
        state: JobState | None = await self._ref(job_id).ask(GetState())
        return state

    async def results(self, job_id: str) -> JobResults | None:
        results: JobResults | None = await self._ref(job_id).ask(GetResults())
        return results

    def subscriber(self) -> Subscriber:
        return Subscriber(self.config.subscriber_queue)

    async def subscribe(self, job_id: str, subscriber: Subscriber, *, reconnect: bool = False,
                        after_seq: int | None = None, epoch: int | None = None) -> Catchup | None:
        catchup: Catchup | None = await self._ref(job_id).ask(
            Subscribe(subscriber=subscriber, reconnect=reconnect, after_seq=after_seq, epoch=epoch)
        )
        return catchup

    async def unsubscribe(self, job_id: str, subscriber: Subscriber) -> None:
        await self._ref(job_id).tell(Unsubscribe(subscriber.id))
