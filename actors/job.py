"""JobActor: one long job's record, tokens, subscribers, event log, cancel flag and stored results.

Owns, per job id (the Durable Objects model, API.md §4, reference §4):

* the job record (``JobState``: pipeline, status, counts, progress, timestamps), always current in memory
  and persisted throttled (every ``throttle_count`` updates or ``throttle_seconds``, reference §4.8),
  except that terminal states and every item result are committed before they are announced;
* the auth token with its expiry and the refresh rules (reference §4.3), compared in constant time, kept
  until it expires (not deleted at completion);
* the subscribers (in-process queues, one per WebSocket or SSE connection) and the fan-out: each event is
  encoded once and put into every queue with ``send_nowait``; a full queue marks its subscriber as lagging
  and closes it (the connection ends with 1013 and may reconnect and catch up). The actor never awaits a
  socket;
* an ordered, bounded event log with sequence numbers for catch-up (``lastSeq`` / ``Last-Event-ID``);
  the terminal event is always kept (and persisted);
* the cancel flag, and the items' results (``item:<index>``) plus the final result document.

Sequence numbers never go back for a job, across passivation and restarts: the persisted ``seq`` is at
most ``throttle_count`` events behind, so a new activation continues above it. ``epoch`` (the activation's
wall time in ms) tells a stale SSE ``Last-Event-ID`` from a current one.

It must not do the job's work (pipelines run outside and report by message), know what a book is, or
touch a socket. Payloads of pipeline-specific frames arrive pre-encoded (JSON bytes).
"""

from __future__ import annotations

import collections
import enum
import hmac
import itertools
from collections.abc import Iterable
from typing import Literal, TypeVar

import msgspec
import trio

from actors.alarms import Alarm
from actors.runtime import Actor, handler

__all__ = [
    "JobActor", "JobState", "JobStatus", "JobEvent", "Subscriber", "JobExistsError",
    "StartJob", "ReportProgress", "ItemDone", "FinishJob", "CancelJob", "CancelOutcome", "CheckToken",
    "RefreshToken", "Refreshed", "Subscribe", "Unsubscribe", "Catchup", "GetState", "GetResults",
    "JobResults", "ResumeJob", "ResumeInfo", "frame_bytes", "CLOSE_COMPLETED", "CLOSE_FAILED",
    "CLOSE_CANCELED", "CLOSE_LAGGING", "PROTOCOL_VERSION",
]

PROTOCOL_VERSION = "1.0.0"
LOG_LIMIT = 256  # events kept for replay while a job runs
ACTIVE_KEY = "active"  # present while the job is queued or running: the runner resumes these at start-up
ENDED_IDLE_TIMEOUT = 1.0  # an ended job without subscribers needs no memory: passivate it soon (0033)
KEEP_ALIVE = 1e9  # "never passivate": a job with subscribers must keep its registry
EVERY_ITEM_UP_TO = 200  # jobs this small announce every finished item
ANNOUNCED_STEPS = 200  # bigger ones announce at most one update per 1/200 of their items ...
ANNOUNCE_INTERVAL = 0.25  # ... or per this many seconds

CLOSE_COMPLETED = (1000, "Job completed")
CLOSE_FAILED = (1011, "Job failed")
CLOSE_CANCELED = (1001, "Job canceled")
CLOSE_LAGGING = (1013, "Subscriber lagging: reconnect to catch up")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        return self in (JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.CANCELED)


class JobExistsError(Exception):
    """A job with this id is still queued or running."""


class JobState(msgspec.Struct, omit_defaults=True, kw_only=True, rename="camel"):
    """The job record as ``GET /api/job-state`` shows it (times in epoch ms)."""

    # Counts have no default, so that ``omit_defaults`` never drops a zero.
    pipeline: str
    status: JobStatus
    total_count: int
    processed_count: int
    success_count: int
    failure_count: int
    progress: float
    message: str | None = None  # the latest progress status line
    current_item: str | None = None
    start_time: int
    last_update: int | None = None
    end_time: int | None = None
    expires_at: int | None = None  # when the results (and this record) are deleted
    canceled: bool = False  # a cancel was requested
    cancel_reason: str | None = None
    error: str | None = None
    version: int
    seq: int  # the latest event's sequence number


class _Token(msgspec.Struct):
    value: str
    expires_at: float  # epoch seconds


class _Settings(msgspec.Struct):
    throttle_count: int
    throttle_seconds: float


class JobEvent(msgspec.Struct, frozen=True):
    """One frame as the subscribers receive it: its JSON text (decoded once here, not once per
    subscriber), and the close that follows it (terminal)."""

    seq: int
    type: str
    text: str
    close: tuple[int, str] | None = None


class _Frame(msgspec.Struct):
    type: str
    jobId: str  # noqa: N815 - wire name
    pipeline: str
    timestamp: int
    seq: int
    version: str
    payload: msgspec.Raw


_encoder = msgspec.json.Encoder()


def frame_bytes(type: str, job_id: str, pipeline: str, timestamp_ms: int, seq: int, payload: bytes) -> bytes:
    """A frame in the reference §4.5 envelope (compact JSON: clients match ``"type":"ready_ack"``)."""
    return _encoder.encode(_Frame(type, job_id, pipeline, timestamp_ms, seq, PROTOCOL_VERSION, msgspec.Raw(payload)))


class _ProgressPayload(msgspec.Struct, omit_defaults=True):
    type: str
    progress: float
    status: str
    processedCount: int  # noqa: N815
    currentItem: str | None = None  # noqa: N815


class _Reconnected(msgspec.Struct):
    type: str
    progress: float
    status: str
    processedCount: int  # noqa: N815
    totalCount: int  # noqa: N815
    lastUpdate: int  # noqa: N815
    message: str


_subscriber_ids = itertools.count(1)


class Subscriber:
    """One connection's bounded queue of events. The actor only ever calls ``send_nowait`` on it."""

    __slots__ = ("id", "send", "receive", "lagging")

    def __init__(self, capacity: int = 256) -> None:
        self.id = next(_subscriber_ids)
        self.send, self.receive = trio.open_memory_channel[JobEvent](capacity)
        self.lagging = False


# -- messages ------------------------------------------------------------------------------------------


class StartJob(msgspec.Struct, kw_only=True):
    """Create the job (or replace an ended one): record, token, input. Answers the ``JobState``."""

    pipeline: str
    total: int
    input: bytes
    token: str
    token_ttl: float
    throttle_count: int = 5
    throttle_seconds: float = 10.0


class ReportProgress(msgspec.Struct, kw_only=True):
    """A progress step that is not an item (a stage of a scan, say). Persisted throttled. ``total`` sets
    the item count when the job learns it late (an import knows its rows once the file is parsed)."""

    progress: float
    status: str
    processed: int | None = None
    current_item: str | None = None
    total: int | None = None


class ItemDone(msgspec.Struct, kw_only=True):
    """Item ``index`` finished: its result (JSON) is committed, then progress is announced. In ``status``
    ``{processed}`` and ``{total}`` are replaced by the counts after this item. Answers the count."""

    index: int
    result: bytes
    success: bool
    status: str
    current_item: str | None = None


class FinishJob(msgspec.Struct, kw_only=True):
    """The terminal event: ``payload`` is the frame's payload (JSON), ``result`` the stored result
    document (JSON, optional); both are committed before anyone is told. Kept until ``expires_at``."""

    outcome: Literal["complete", "failed", "canceled"]
    payload: bytes
    expires_at: float
    result: bytes | None = None
    error: str | None = None


class CancelJob(msgspec.Struct):
    reason: str


class CancelOutcome(msgspec.Struct):
    known: bool  # such a job exists
    active: bool  # it was queued or running, and is now flagged


class CheckToken(msgspec.Struct):
    token: str


class RefreshToken(msgspec.Struct, kw_only=True):
    old: str
    new: str
    ttl: float
    window: float  # refresh allowed only within this many seconds of expiry


class Refreshed(msgspec.Struct):
    token: str | None = None
    error: str | None = None  # one of the reference §3.7 messages


class Subscribe(msgspec.Struct, kw_only=True):
    """Register ``subscriber`` and answer the catch-up (API.md §4): with ``after_seq`` the logged events
    after it (a snapshot if the log cannot say), with ``reconnect`` a ``reconnected`` snapshot, else the
    latest progress. For an ended job: the terminal event only, and no registration."""

    subscriber: Subscriber
    reconnect: bool = False
    after_seq: int | None = None
    epoch: int | None = None  # with after_seq: the epoch it belongs to (SSE); None trusts the seq (WS)


class Unsubscribe(msgspec.Struct):
    subscriber_id: int


class Catchup(msgspec.Struct):
    state: JobState
    epoch: int
    events: list[JobEvent]
    ended: bool


class GetState(msgspec.Struct):
    pass


class GetResults(msgspec.Struct):
    pass


class JobResults(msgspec.Struct):
    state: JobState
    items: list[bytes]  # in index order
    result: bytes | None


class ResumeJob(msgspec.Struct):
    pass


class ResumeInfo(msgspec.Struct):
    state: JobState
    input: bytes
    done: list[int]


# -- the actor -----------------------------------------------------------------------------------------


class JobActor(Actor):
    kind = "job"
    mailbox_size = 256
    batched = frozenset({ItemDone})  # items queued together are committed together

    async def on_start(self) -> None:
        # The small keys share a prefix, so activation is one read (not one per key).
        meta = await self.storage.list(_META, type=msgspec.Raw)
        self.state: JobState | None = _decode(meta.get(_STATE), JobState)
        self.token: _Token | None = _decode(meta.get(_TOKEN), _Token)
        self.settings = _decode(meta.get(_SETTINGS), _Settings) or _Settings(5, 10.0)
        self.terminal: JobEvent | None = _decode(meta.get(_TERMINAL), JobEvent)
        self.done: set[int] = set()  # indexes of the stored items (of a job that is not over)
        self.subscribers: dict[int, Subscriber] = {}
        self.log: collections.deque[JobEvent] = collections.deque(maxlen=LOG_LIMIT)
        self.epoch = self._now_ms()
        self.unpersisted = 0
        self.last_persist = self.clock.monotonic()
        self.announced = (0, float("-inf"))  # (processed count, monotonic time) of the last progress frame
        if self.state is not None and not self.state.status.ended:
            # Unpersisted progress is lost, but item results never are: recount from them, and move the
            # sequence past any number the previous activation may have used.
            items = await self.storage.list("item:", type=_Item)
            self.done = {int(key.removeprefix("item:")) for key in items}
            self.state.processed_count = len(items)
            self.state.success_count = sum(1 for i in items.values() if i.success)
            self.state.failure_count = len(items) - self.state.success_count
            if self.state.total_count:
                self.state.progress = max(self.state.progress, len(items) / self.state.total_count)
            self.state.seq += self.settings.throttle_count

    def idle_timeout(self) -> float:
        if self.subscribers:
            return KEEP_ALIVE
        if self.state is None or self.state.status.ended:
            return min(ENDED_IDLE_TIMEOUT, self.system.idle_timeout)
        return self.system.idle_timeout

    def _now_ms(self) -> int:
        return int(self.clock.wall() * 1000)

    # -- lifecycle ---------------------------------------------------------------------------------

    @handler
    async def on_start_job(self, msg: StartJob) -> JobState:
        if self.state is not None and not self.state.status.ended:
            raise JobExistsError(f"job {self.id} is {self.state.status.value}")
        if self.state is not None:
            self.storage.delete_all()  # an ended job with this id is replaced
        now = self._now_ms()
        seq = 0 if self.state is None else self.state.seq + 1  # never reuse a number a client saw
        self.state = JobState(
            pipeline=msg.pipeline, status=JobStatus.RUNNING, total_count=msg.total, processed_count=0,
            success_count=0, failure_count=0, progress=0.0, start_time=now, version=1, seq=seq,
        )
        self.token = _Token(msg.token, self.clock.wall() + msg.token_ttl)
        self.settings = _Settings(msg.throttle_count, msg.throttle_seconds)
        self.terminal = None
        self.done = set()
        self.log.clear()
        self.storage.put(_STATE, self.state)
        self.storage.put(_TOKEN, self.token)
        self.storage.put(_SETTINGS, self.settings)
        self.storage.put("input", msg.input)
        self.storage.put(ACTIVE_KEY, True)
        self.storage.set_alarm(None)
        self._persisted()
        return self.state

    @handler
    async def on_progress(self, msg: ReportProgress) -> None:
        state = self._running()
        state.progress = max(state.progress, min(1.0, msg.progress))  # progress never goes back
        state.message = msg.status
        if msg.processed is not None:
            state.processed_count = msg.processed
        if msg.total is not None:
            state.total_count = msg.total
        state.current_item = msg.current_item
        self._progress_event(state)
        self._throttled_persist()

    @handler
    async def on_item_done(self, msg: ItemDone) -> int:
        state = self._running()
        key = f"item:{msg.index:08d}"
        if msg.index not in self.done:  # at-least-once: a redone item counts once
            self.done.add(msg.index)
            state.processed_count += 1
            if msg.success:
                state.success_count += 1
            else:
                state.failure_count += 1
        self.storage.put(key, _Item(msg.success, msg.result))
        if state.total_count:
            state.progress = max(state.progress, min(1.0, state.processed_count / state.total_count))
        state.message = msg.status.replace("{processed}", str(state.processed_count)).replace(
            "{total}", str(state.total_count)
        )
        state.current_item = msg.current_item
        self._progress_event(state, item=True)
        self._throttled_persist()
        return state.processed_count

    @handler
    async def on_finish(self, msg: FinishJob) -> JobState:
        state = self._running()
        now = self._now_ms()
        state.status = {
            "complete": JobStatus.COMPLETE, "failed": JobStatus.FAILED, "canceled": JobStatus.CANCELED,
        }[msg.outcome]
        state.end_time = state.last_update = now
        state.expires_at = int(msg.expires_at * 1000)
        state.error = msg.error
        if msg.outcome == "complete":
            state.progress = 1.0
        state.seq += 1
        state.version += 1
        close = {"complete": CLOSE_COMPLETED, "failed": CLOSE_FAILED, "canceled": CLOSE_CANCELED}[msg.outcome]
        kind = "error" if msg.outcome == "failed" else "job_complete"
        self.terminal = JobEvent(
            state.seq, kind, frame_bytes(kind, self.id, state.pipeline, now, state.seq, msg.payload).decode(), close
        )
        self.storage.put(_STATE, state)
        self.storage.put(_TERMINAL, self.terminal)
        if msg.result is not None:
            self.storage.put("result", msg.result)
        self.storage.delete(ACTIVE_KEY)
        self.storage.set_alarm(msg.expires_at)  # the cleanup
        self.done = set()
        self.log.clear()  # an ended job's catch-up is its terminal frame alone
        self.after_commit(lambda: self._fan_out(self.terminal, final=True))  # type: ignore[arg-type]
        return state

    @handler
    async def on_cancel(self, msg: CancelJob) -> CancelOutcome:
        if self.state is None:
            return CancelOutcome(False, False)  # nothing is written for an unknown job
        if self.state.status.ended:
            return CancelOutcome(True, False)
        if not self.state.canceled:
            self.state.canceled = True
            self.state.cancel_reason = msg.reason
            self.state.version += 1
            self.storage.put(_STATE, self.state)
            self._persisted()
        return CancelOutcome(True, True)

    async def on_alarm(self, alarm: Alarm) -> None:
        """The retention has passed: forget the job (record, token, results)."""
        for subscriber in self.subscribers.values():
            subscriber.send.close()
        self.subscribers.clear()
        self.state = self.token = self.terminal = None
        self.log.clear()
        self.storage.delete_all()

    # -- tokens ------------------------------------------------------------------------------------

    @handler
    async def on_check_token(self, msg: CheckToken) -> Literal["ok", "invalid", "expired"]:
        if self.token is None or not _same(self.token.value, msg.token):
            return "invalid"
        if self.clock.wall() > self.token.expires_at:
            return "expired"
        return "ok"

    @handler
    async def on_refresh(self, msg: RefreshToken) -> Refreshed:
        # "Refresh in progress" (reference §4.3 rule 1) cannot happen here: turns never overlap.
        if self.token is None or not msg.old or not _same(self.token.value, msg.old):
            return Refreshed(error="Invalid token")
        now = self.clock.wall()
        if now > self.token.expires_at:
            return Refreshed(error="Token expired")
        if self.token.expires_at - now > msg.window:
            return Refreshed(error="Refresh not allowed yet")
        self.token = _Token(msg.new, now + msg.ttl)
        self.storage.put(_TOKEN, self.token)
        return Refreshed(token=msg.new)

    # -- subscribers -------------------------------------------------------------------------------

    @handler
    async def on_subscribe(self, msg: Subscribe) -> Catchup | None:
        state = self.state
        if state is None:
            return None
        if self.terminal is not None:
            return Catchup(state, self.epoch, [self.terminal], ended=True)
        events = self._catchup(state, msg)
        self.subscribers[msg.subscriber.id] = msg.subscriber
        return Catchup(state, self.epoch, events, ended=False)

    def _catchup(self, state: JobState, msg: Subscribe) -> list[JobEvent]:
        if msg.after_seq is not None and (msg.epoch is None or msg.epoch == self.epoch):
            if msg.after_seq >= state.seq:
                return []  # up to date
            first = self.log[0].seq if self.log else state.seq + 1
            if msg.after_seq >= first - 1:
                return [e for e in self.log if e.seq > msg.after_seq]
        if msg.reconnect:
            payload = _Reconnected(
                "reconnected", state.progress, state.status.value, state.processed_count, state.total_count,
                state.last_update or self._now_ms(), "Reconnected successfully - resuming job progress",
            )
            data = frame_bytes("reconnected", self.id, state.pipeline, self._now_ms(), state.seq,
                               _encoder.encode(payload))
            return [JobEvent(state.seq, "reconnected", data.decode())]
        if state.last_update is None:
            return []  # nothing has happened yet
        return [self._progress_frame(state)]  # progress is cumulative: the current record is the state

    @handler
    async def on_unsubscribe(self, msg: Unsubscribe) -> None:
        self.subscribers.pop(msg.subscriber_id, None)

    # -- reads -------------------------------------------------------------------------------------

    @handler
    async def on_get_state(self, msg: GetState) -> JobState | None:
        return self.state

    @handler
    async def on_get_results(self, msg: GetResults) -> JobResults | None:
        if self.state is None:
            return None
        items = await self.storage.list("item:", type=_Item)
        result = await self.storage.get("result", type=bytes)
        return JobResults(self.state, [i.result for i in items.values()], result)

    @handler
    async def on_resume(self, msg: ResumeJob) -> ResumeInfo | None:
        if self.state is None or self.state.status.ended:
            return None
        raw = await self.storage.get("input", type=bytes)
        return ResumeInfo(self.state, raw or b"", sorted(self.done))

    # -- inside ------------------------------------------------------------------------------------

    def _running(self) -> JobState:
        if self.state is None:
            raise LookupError(f"job {self.id} does not exist")
        if self.state.status.ended:
            raise RuntimeError(f"job {self.id} has ended ({self.state.status.value})")
        return self.state

    def _progress_frame(self, state: JobState) -> JobEvent:
        payload = _ProgressPayload(
            "job_progress", round(state.progress, 4), state.message or "", state.processed_count, state.current_item
        )
        data = frame_bytes("job_progress", self.id, state.pipeline, state.last_update or self._now_ms(), state.seq,
                           _encoder.encode(payload))
        return JobEvent(state.seq, "job_progress", data.decode())

    def _progress_event(self, state: JobState, *, item: bool = False) -> None:
        """Record a progress update and, unless it is an item of a big job that announced one a moment ago,
        announce it. A job of ``EVERY_ITEM_UP_TO`` items announces every item; a bigger one at most one
        update per ``1/ANNOUNCED_STEPS`` of its items or per ``ANNOUNCE_INTERVAL`` seconds (a 10,000-row
        import sends a few hundred frames, not 10,000). The record is current either way, and so is the
        catch-up a new subscriber gets; the last item is always announced."""
        state.last_update = self._now_ms()
        state.version += 1
        if item and not self._announce_item(state):
            return
        state.seq += 1
        self.announced = (state.processed_count, self.clock.monotonic())
        event = self._progress_frame(state)
        self.log.append(event)
        self.after_commit(lambda: self._fan_out(event))

    def _announce_item(self, state: JobState) -> bool:
        total, done = state.total_count, state.processed_count
        if total <= EVERY_ITEM_UP_TO or done >= total:
            return True
        last_count, last_at = self.announced
        return done - last_count >= total / ANNOUNCED_STEPS or self.clock.monotonic() - last_at >= ANNOUNCE_INTERVAL

    def _throttled_persist(self) -> None:
        assert self.state is not None
        self.unpersisted += 1
        elapsed = self.clock.monotonic() - self.last_persist
        if self.unpersisted >= self.settings.throttle_count or elapsed >= self.settings.throttle_seconds:
            self.storage.put(_STATE, self.state)
            self._persisted()

    def _persisted(self) -> None:
        self.unpersisted = 0
        self.last_persist = self.clock.monotonic()

    def _fan_out(self, event: JobEvent, *, final: bool = False) -> None:
        lagging: list[int] = []
        for sid, subscriber in self.subscribers.items():
            try:
                subscriber.send.send_nowait(event)
            except trio.WouldBlock:
                subscriber.lagging = True
                lagging.append(sid)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                lagging.append(sid)  # the connection is gone; its Unsubscribe is on the way
        for sid in _unique(lagging):
            self.subscribers.pop(sid).send.close()
        if final:
            for subscriber in self.subscribers.values():
                subscriber.send.close()
            self.subscribers.clear()


_META = "m:"
_STATE, _TOKEN, _SETTINGS, _TERMINAL = "m:state", "m:token", "m:settings", "m:terminal"

T = TypeVar("T")


def _decode(raw: msgspec.Raw | None, type: type[T]) -> T | None:
    return None if raw is None else msgspec.msgpack.decode(raw, type=type)


class _Item(msgspec.Struct, array_like=True):
    success: bool
    result: bytes  # JSON


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _unique(ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(ids))
