"""Progress streams (API.md §4, reference §4): the WebSocket ``/ws/progress`` and the SSE
``/v1/jobs/{jobId}/events``.

Owns the protocol on the wire: the handshake checks and their HTTP answers (400 legacy JSON without a
``jobId``, 426 for a plain GET, 401 text for a bad or expired token; the token from the query or the
``bookstrack-auth.<token>`` subprotocol, which is echoed), the ``ready`` grace period and ``ready_ack``,
the catch-up the job's actor answers (latest progress, ``reconnected`` snapshot, ``lastSeq`` /
``Last-Event-ID`` replay, or the terminal frame of an ended job), ``ping``/``pong`` and ``cancel`` frames,
1002 for a bad frame (the token survives: the client may reconnect), terminal closes (1000 / 1011 / 1001)
and 1013 for a subscriber that fell behind. Control-frame pings are answered by Hypercorn itself.

Each connection is one subscriber with its own bounded queue, filled by the job's actor with
``send_nowait``; writing frames is paid for here, never inside the actor.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import quart
import trio

from actors.job import CLOSE_LAGGING, JobEvent, Subscriber, frame_bytes
from bookstrack.errors import AuthError, InvalidRequest, MissingParam, NotFound
from bookstrack.pipelines.jobs import JOB_ID, JobService
from bookstrack.web.current import job_service, services
from bookstrack.web.envelope import Family, error_response
from bookstrack.web.jobs import bearer_token
from bookstrack.web.routing import RouteTable

__all__ = ["routes", "SUBPROTOCOL_PREFIX", "CLIENT_CANCEL_REASON"]

log = logging.getLogger("bookstrack.web.progress")

routes = RouteTable(tags=["jobs"])

SUBPROTOCOL_PREFIX = "bookstrack-auth."
CLIENT_CANCEL_REASON = "Canceled by client"
CLOSE_PROTOCOL_ERROR = 1002

_encoder = msgspec.json.Encoder()


class _Control(msgspec.Struct):
    type: str
    timestamp: int



def _missing_job_id() -> quart.Response:
    return error_response(MissingParam("Missing jobId parameter"), Family.LEGACY, services().clock)


def _text(status: int, body: str) -> quart.Response:
    return quart.Response(body, status=status, content_type="text/plain; charset=utf-8")


async def plain_progress() -> quart.Response:
    """A plain GET (no upgrade): 400 without ``jobId`` (checked first, as the reference), else 426."""
    if not quart.request.args.get("jobId"):
        return _missing_job_id()
    return _text(426, "Expected Upgrade: websocket")


def _subscribers(transport: str) -> Any:
    """The open-streams gauge child of ``transport`` ("websocket" or "sse"), API.md §6."""
    return services().metrics.gauge(
        "bookstrack_progress_subscribers", "Open job-progress streams (subscribers) by transport.", ["transport"]
    ).labels(transport)


class ProtocolError(Exception):
    """A client frame the protocol does not allow; its message is the close reason."""


def parse_client_frame(data: str | bytes) -> str:
    """The ``type`` of a client frame (``ready``, ``ping`` or ``cancel``), or ``ProtocolError``."""
    try:
        message = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ProtocolError("Invalid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("Invalid message format")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("Missing message type")
    if kind not in ("ready", "ping", "cancel"):
        raise ProtocolError(f"Unknown message type: {kind}"[:120])
    return kind


class _Connection:
    """One accepted WebSocket: the handshake wait, the catch-up, then a reader and a writer."""

    def __init__(self, ws: Any, jobs: JobService, job_id: str, pipeline: str, seq: int) -> None:
        self.ws = ws
        self.jobs = jobs
        self.job_id = job_id
        self.pipeline = pipeline
        self.seq = seq  # the latest event this connection knows of: control frames carry it
        self.closed = False

    def _now_ms(self) -> int:
        return int(self.jobs.clock.wall() * 1000)

    # The reader (control replies) and the writer (events) both send. No lock of ours: Hypercorn serialises
    # the writes of one connection, and each frame is encoded in one synchronous wsproto call.
    async def _send(self, text: str) -> None:
        if not self.closed:
            await self.ws.send(text)

    async def _close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            await self.ws.close(code, reason)

    async def _control(self, kind: str) -> None:
        now = self._now_ms()
        await self._send(frame_bytes(kind, self.job_id, self.pipeline, now, self.seq,
                                     _encoder.encode(_Control(kind, now))).decode())

    async def _handle(self, kind: str) -> None:
        if kind == "ready":
            await self._control("ready_ack")
        elif kind == "ping":
            await self._control("pong")
        else:
            await self.jobs.cancel(self.job_id, CLIENT_CANCEL_REASON)

    async def _deliver(self, event: JobEvent) -> bool:
        """Send one event; True if it ended the connection."""
        self.seq = max(self.seq, event.seq)
        await self._send(event.text)
        if event.close is not None:
            await self._close(*event.close)
            return True
        return False

    async def run(self, grace: float, reconnect: bool, after_seq: int | None) -> None:
        subscriber = self.jobs.subscriber()
        try:
            first = None
            with trio.move_on_after(grace):  # some clients never send "ready": then go on without it
                first = await self.ws.receive()
            if first is not None:
                try:
                    kind = parse_client_frame(first)
                except ProtocolError as exc:
                    await self._close(CLOSE_PROTOCOL_ERROR, str(exc))
                    return
                await self._handle(kind)
            catchup = await self.jobs.subscribe(self.job_id, subscriber, reconnect=reconnect, after_seq=after_seq)
            if catchup is None:  # the job was deleted (its retention ended) since the token check
                await self._close(1000, "Job not found")
                return
            self.pipeline = catchup.state.pipeline
            for event in catchup.events:
                if await self._deliver(event):
                    return
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read, nursery.cancel_scope)
                await self._write(subscriber)
                nursery.cancel_scope.cancel()
        finally:
            subscriber.receive.close()  # the actor drops a closed subscriber at its next event
            with trio.CancelScope(shield=True):
                await self.jobs.unsubscribe(self.job_id, subscriber)

    async def _read(self, scope: trio.CancelScope) -> None:
        while True:
            data = await self.ws.receive()
            try:
                kind = parse_client_frame(data)
            except ProtocolError as exc:
                await self._close(CLOSE_PROTOCOL_ERROR, str(exc))
                scope.cancel()
                return
            await self._handle(kind)

    async def _write(self, subscriber: Subscriber) -> None:
        async for event in subscriber.receive:
            if await self._deliver(event):
                return
        # The actor closed our queue without a terminal event: we fell behind, or the job was deleted.
        if subscriber.lagging:
            await self._close(*CLOSE_LAGGING)
        else:
            await self._close(1000, "Job not found")


def _token_and_subprotocol(ws: Any) -> tuple[str, str | None]:
    chosen = None
    for proto in ws.requested_subprotocols or ():
        if proto.startswith(SUBPROTOCOL_PREFIX):
            chosen = proto
            break
    token = ws.args.get("token") or (chosen[len(SUBPROTOCOL_PREFIX):] if chosen else "")
    return token, chosen


def _int_arg(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except ValueError:
        return None


class ProgressQuery(msgspec.Struct):
    """``/ws/progress``'s query, as documented (the handler reads it itself; the token may come in
    ``Sec-WebSocket-Protocol: bookstrack-auth.<token>`` instead)."""

    jobId: str  # noqa: N815 - wire names
    token: str | None = None
    reconnect: bool = False
    lastSeq: int | None = None  # noqa: N815


@routes.websocket("/ws/progress", plain=plain_progress, query=ProgressQuery,
                  responses={101: "Switching Protocols", 400: "MISSING_PARAM", 401: "Unauthorized / Token expired",
                             426: "Not a WebSocket upgrade"})
async def progress_socket() -> quart.Response | None:
    """A job's progress over a WebSocket (``?jobId=&token=[&reconnect=true][&lastSeq=N]``)."""
    ws = quart.websocket._get_current_object()  # type: ignore[attr-defined]
    job_id = ws.args.get("jobId")
    if not job_id:
        return _missing_job_id()
    jobs = job_service()
    token, subprotocol = _token_and_subprotocol(ws)
    verdict = await jobs.check_token(job_id, token) if JOB_ID.fullmatch(job_id) else "invalid"
    if verdict != "ok":
        return _text(401, "Token expired" if verdict == "expired" else "Unauthorized")
    state = await jobs.state(job_id)
    if state is None:
        return _text(401, "Unauthorized")
    await ws.accept(subprotocol=subprotocol)
    connection = _Connection(ws, jobs, job_id, state.pipeline, state.seq)
    gauge = _subscribers("websocket")
    gauge.inc()
    try:
        await connection.run(
            jobs.config.ready_grace, ws.args.get("reconnect") == "true", _int_arg(ws.args.get("lastSeq"))
        )
    finally:
        gauge.dec()
    return None


# -- Server-Sent Events --------------------------------------------------------------------------------


def _sse(event: JobEvent, epoch: int) -> bytes:
    return f"id: {epoch}.{event.seq}\nevent: {event.type}\ndata: {event.text}\n\n".encode()


def _last_event_id(value: str | None) -> tuple[int | None, int | None]:
    """(epoch, seq) of an SSE id ``<epoch>.<seq>``; (None, None) when absent or unreadable."""
    if not value:
        return None, None
    epoch, _, seq = value.strip().partition(".")
    try:
        return int(epoch), int(seq)
    except ValueError:
        return None, None


@routes.get("/v1/jobs/<jobId>/events", family=Family.ENVELOPE,
            responses={200: "text/event-stream", 401: "AUTH_ERROR", 404: "NOT_FOUND"})
async def job_events(jobId: str) -> quart.Response:  # noqa: N803 - the path's name
    """A job's progress as Server-Sent Events (``id: <epoch>.<seq>``; ``Last-Event-ID`` resumes)."""
    jobs = job_service()
    if not JOB_ID.fullmatch(jobId):
        raise InvalidRequest("Invalid jobId", details={"jobId": jobId})
    verdict = await jobs.check_token(jobId, bearer_token() or "")
    if verdict != "ok":
        raise AuthError("Token expired" if verdict == "expired" else "Invalid or missing token")
    epoch, after = _last_event_id(quart.request.headers.get("Last-Event-ID") or quart.request.args.get("lastEventId"))
    subscriber = jobs.subscriber()
    catchup = await jobs.subscribe(jobId, subscriber, after_seq=after, epoch=epoch)
    if catchup is None:
        raise NotFound("Job not found", details={"jobId": jobId})
    keepalive = jobs.config.sse_keepalive

    gauge = _subscribers("sse")

    async def stream() -> AsyncIterator[bytes]:
        gauge.inc()
        try:
            yield b"retry: 2000\n\n"
            for event in catchup.events:
                yield _sse(event, catchup.epoch)
                if event.close is not None:
                    return
            while True:
                with trio.move_on_after(keepalive) as timer:
                    event = await subscriber.receive.receive()
                if timer.cancelled_caught:
                    yield b": keep-alive\n\n"
                    continue
                yield _sse(event, catchup.epoch)
                if event.close is not None:
                    return
        except trio.EndOfChannel:
            return  # fell behind or deleted: the client reconnects with Last-Event-ID
        finally:
            gauge.dec()
            subscriber.receive.close()

    response = quart.Response(stream(), content_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.timeout = None  # a stream lasts as long as the job
    return response
