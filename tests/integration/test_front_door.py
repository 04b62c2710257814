"""The front door (``FrontDoor``, plain ASGI) around a bare ASGI app on a real Hypercorn: what it adds to
every response, and the 500 it answers when an exception escapes the app entirely."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio
import trio.testing
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from bookstrack.access_log import AccessLog
from bookstrack.metrics import Metrics
from bookstrack.web.cors import CorsPolicy
from bookstrack.web.middleware import FrontDoor


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["path"] == "/crash":
        raise RuntimeError("secret detail")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


@asynccontextmanager
async def front_door() -> AsyncIterator[tuple[str, Metrics]]:
    metrics = Metrics()
    app = FrontDoor(bare_app, cors=CorsPolicy(["https://bookstrack.app"]), metrics=metrics, access_log=AccessLog())
    hc = HypercornConfig()
    hc.bind = ["127.0.0.1:0"]
    hc.accesslog = None
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(functools.partial(serve, app, hc, shutdown_trigger=stop.wait))
        try:
            yield urls[0], metrics
        finally:
            stop.set()


async def test_an_exception_escaping_the_app_is_a_legacy_500_with_the_usual_headers():
    async with front_door() as (url, metrics), httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/crash", headers={"Origin": "https://bookstrack.app", "X-Request-ID": "r-1"})
        again = await client.get("/fine")  # the connection is still good
        await trio.testing.wait_all_tasks_blocked()
        labels = {"route": "unmatched", "method": "GET", "status": "500"}
        counted = metrics.value("bookstrack_http_requests_total", labels)
    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": {"code": "INTERNAL_ERROR", "message": "Internal server error"},
    }
    assert "secret detail" not in response.text
    assert response.headers["x-error-type"] == "INTERNAL_ERROR"
    assert response.headers["x-request-id"] == "r-1"
    assert response.headers["x-response-time"].endswith("ms")
    assert response.headers["access-control-allow-origin"] == "https://bookstrack.app"
    assert again.status_code == 200
    assert again.text == "hello"
    assert counted == 1


async def test_headers_are_added_to_whatever_the_app_answers():
    async with front_door() as (url, _), httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/fine")
        preflight = await client.options("/crash")
    assert response.text == "hello"
    assert response.headers["access-control-allow-origin"] == "*"
    assert len(response.headers["x-request-id"]) == 24
    assert preflight.status_code == 204  # answered without reaching the app (which would crash)
