"""Shared set-up of the job tests: the search stack plus helpers to start jobs and read progress streams.

Everything runs over real sockets on 127.0.0.1 under a ``MockClock`` moved by the search stack's ticker
(1 ms whenever every task is blocked). Tests hold the fake upstream (``hang_next``) to keep a job
running while they connect, then ``release`` it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from bookstrack.devtools import RunningFakeUpstream
from bookstrack.devtools.catalogue import load_catalogue
from tests.integration.conftest import Server

WS_TIMEOUT = 10.0


def catalogue_isbns(n: int, skip: int = 0) -> list[str]:
    return load_catalogue().isbn13s()[skip : skip + n]


def books_for(isbns: Iterable[str]) -> list[dict[str, str]]:
    return [{"title": f"Book {isbn}", "isbn": isbn} for isbn in isbns]


async def start_job(client: httpx.AsyncClient, job_id: str, books: list[dict[str, Any]]) -> str:
    response = await client.post("/v1/enrichment/batch", json={"jobId": job_id, "books": books})
    assert response.status_code == 202, response.text
    token: str = response.json()["data"]["token"]
    return token


def ws_url(server: Server, job_id: str, token: str | None = None, **params: str) -> str:
    query = httpx.QueryParams({"jobId": job_id, **({"token": token} if token else {}), **params})
    return f"{server.url.replace('http://', 'ws://')}/ws/progress?{query}"


@dataclass
class Stream:
    """What one WebSocket received: decoded frames, and how it was closed."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    code: int | None = None
    reason: str | None = None

    def types(self) -> list[str]:
        return [f["type"] for f in self.frames]


async def receive(ws: WebSocketConnection, stream: Stream, *, until: str | None = None) -> Stream:
    """Read frames into ``stream`` until the socket closes (or a frame of type ``until`` arrives)."""
    with trio.fail_after(WS_TIMEOUT):
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as closed:
                stream.code, stream.reason = closed.reason.code, closed.reason.reason
                return stream
            text = message if isinstance(message, str) else message.decode()
            stream.raw.append(text)
            stream.frames.append(msgspec.json.decode(text))
            if until is not None and stream.frames[-1]["type"] == until:
                return stream


async def held(fake: RunningFakeUpstream, count: int = 1) -> None:
    """Wait until ``count`` upstream requests are held by a ``hang_next`` (so a ``release`` frees them)."""
    with trio.fail_after(WS_TIMEOUT):
        while fake.faults.held < count:  # noqa: ASYNC110 - the fake has no event for this; poll it
            await trio.sleep(0.001)


async def wait_state(client: httpx.AsyncClient, job_id: str, token: str, *, status: str | None = None,
                     processed: int | None = None) -> dict[str, Any]:
    """Poll ``/api/job-state`` until the job has ``status`` / at least ``processed`` items."""
    with trio.fail_after(WS_TIMEOUT):
        while True:
            response = await client.get(f"/api/job-state/{job_id}", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            state: dict[str, Any] = response.json()
            if (status is None or state["status"] == status) and (
                processed is None or state["processedCount"] >= processed
            ):
                return state
            await trio.sleep(0.01)
