"""The baseline for progress fan-out: a bare Quart-trio app broadcasting pre-encoded frames to N WebSockets.

``python -m bench.bare_broadcast --port P [--config bench/bench.toml] [--queue 256]``

``/ws?...&frames=PATH`` sends the frames listed in that JSON file (texts, the last one terminal) instead of
K + 1 padded ones, each re-stamped with the broadcast's epoch ms: ``bench.jobs`` passes the frames one of
our subscribers received, so both servers send the same texts (what a frame costs to send depends on its
characters: wsproto encodes a non-ASCII str to UTF-8 some fifty times slower than an ASCII one).

The same stack as ours (``quart_trio.QuartTrio`` served by Hypercorn's trio worker with
``bookstrack.server.hypercorn_config`` on the same config, and ``bookstrack serve``'s interpreter tuning
``SERVER_TUNING``: the collector frozen once up, its thresholds, the GIL switch interval) and the same shape
as our job fan-out, with nothing else: one WebSocket route, ``/ws?round=R&n=N&k=K&size=S&final=F``. Each
connection waits for the client's first frame (our clients send ``{"type":"ready"}``), answers a ``ready_ack``
frame, registers its own bounded queue (a trio memory channel of ``--queue`` frames, as ``[jobs]
subscriber_queue``) and drains it from its own task, writing each frame with ``websocket.send(data.decode())``
as our progress socket does. When the N-th subscriber of round R has registered, one broadcaster task encodes
K ``job_progress``-shaped frames of S bytes and one ``job_complete``-shaped frame of F bytes (each stamped
with the server's epoch ms, as ours are) and puts every frame into every queue with ``send_nowait``, one trio
checkpoint between frames, as our job actor's fan-out does for each event. A subscriber whose queue is full is
closed with 1013, as ours is; after the final frame each connection closes with 1000 "Job completed".

No token check, no actor, no job, no logging per frame. It prints "Running on http://127.0.0.1:PORT" on
stderr once bound; SIGINT or SIGTERM stops it. ``GET /health`` answers 200 (for readiness).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import quart
import trio
from quart_trio import QuartTrio

from bookstrack.config import load_config
from bookstrack.logs import configure_logging
from bookstrack.server import SERVER_TUNING, hypercorn_config, serve

__all__ = ["create_broadcast_app", "progress_frame", "main"]

DEFAULT_CONFIG = Path(__file__).with_name("bench.toml")
CLOSE_COMPLETED = (1000, "Job completed")
_TIMESTAMP = re.compile(r'"timestamp":\d+')  # the envelope's, the first in a frame
CLOSE_LAGGING = (1013, "Subscriber lagging: reconnect to catch up")


def _frame(kind: str, round_id: str, timestamp_ms: int, seq: int, size: int) -> bytes:
    """A frame in our envelope's shape, padded (in its payload's status) to exactly ``size`` bytes when
    ``size`` allows."""
    head = (
        f'{{"type":"{kind}","jobId":"{round_id}","pipeline":"batch_enrichment","timestamp":{timestamp_ms},'
        f'"seq":{seq},"version":"1.0.0","payload":{{"type":"{kind}","status":"'
    ).encode()
    tail = b'"}}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


def progress_frame(round_id: str, timestamp_ms: int, seq: int, size: int) -> bytes:
    return _frame("job_progress", round_id, timestamp_ms, seq, size)


class _Round:
    __slots__ = ("expected", "frames", "size", "final", "frames_file", "queues", "started")

    def __init__(self, expected: int, frames: int, size: int, final: int, frames_file: str | None = None) -> None:
        self.expected, self.frames, self.size, self.final = expected, frames, size, final
        self.frames_file = frames_file  # a JSON list of frames to send as they are (re-stamped)
        self.queues: list[trio.MemorySendChannel[tuple[str, bool]]] = []
        self.started = False

    async def stamped(self, round_id: str) -> list[tuple[str, bool]]:
        """Every frame of the round, stamped with the epoch ms now, each decoded once (as our job encodes
        each event once); the last one ends the connection."""
        given = None
        if self.frames_file is not None:
            given = json.loads(await trio.Path(self.frames_file).read_text(encoding="utf-8"))
        now = int(time.time() * 1000)
        if given is not None:
            texts = [_TIMESTAMP.sub(f'"timestamp":{now}', t, count=1) for t in given]
        else:
            texts = [progress_frame(round_id, now, i + 1, self.size).decode() for i in range(self.frames)]
            texts.append(_frame("job_complete", round_id, now, self.frames + 1, self.final).decode())
        return [(t, i == len(texts) - 1) for i, t in enumerate(texts)]


def create_broadcast_app(queue_size: int = 256) -> QuartTrio:
    app = QuartTrio(__name__)
    rounds: dict[str, _Round] = {}

    async def broadcast(round_id: str, r: _Round) -> None:
        for item in await r.stamped(round_id):
            for q in list(r.queues):
                try:
                    q.send_nowait(item)
                except trio.WouldBlock:  # lagging: as ours, close its queue (the writer closes 1013)
                    r.queues.remove(q)
                    q.close()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    r.queues.remove(q)
            await trio.lowlevel.checkpoint()
        for q in r.queues:
            q.close()
        rounds.pop(round_id, None)

    @app.route("/health")
    async def health() -> quart.Response:
        return quart.Response(b'{"status":"ok"}', status=200, content_type="application/json")

    @app.websocket("/ws")
    async def ws() -> None:
        websocket = quart.websocket
        args = websocket.args
        round_id = args.get("round", "r")
        r = rounds.get(round_id)
        if r is None:
            r = rounds[round_id] = _Round(int(args.get("n", "1")), int(args.get("k", "100")),
                                          int(args.get("size", "240")), int(args.get("final", "240")),
                                          args.get("frames"))
        await websocket.accept()
        await websocket.receive()  # the client's "ready"
        now = int(time.time() * 1000)
        await websocket.send(_frame("ready_ack", round_id, now, 0, 177).decode())
        send, receive = trio.open_memory_channel[tuple[str, bool]](queue_size)
        r.queues.append(send)
        if len(r.queues) >= r.expected and not r.started:
            r.started = True
            app.nursery.start_soon(broadcast, round_id, r)
        async with receive:
            async for text, final in receive:
                await websocket.send(text)
                if final:
                    await websocket.close(*CLOSE_COMPLETED)
                    return
        await websocket.close(*CLOSE_LAGGING)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_broadcast", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (see the 'Running on' line)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="the config whose [server] values we copy")
    parser.add_argument("--queue", type=int, default=256, help="frames buffered per subscriber")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    configure_logging(config.log.level, config.log.format)
    app = create_broadcast_app(args.queue)
    hc = hypercorn_config(config, port=args.port)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                lambda task_status: serve(app, hc, tuning=SERVER_TUNING, task_status=task_status)
            )
            print(f"bare_broadcast: Running on {' '.join(urls)}", file=sys.stderr, flush=True)

    trio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
