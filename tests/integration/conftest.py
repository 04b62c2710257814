"""Integration fixtures: the real app on Hypercorn at 127.0.0.1:0, test-only routes, per-test deadlines.

``start_server`` (a fixture returning an async context manager) builds
``create_app(load_config(env=..., overrides=...), clock=..., extra_routes=...)`` with storage under the
test's ``tmp_path``, serves it with ``bookstrack.server.serve`` inside a nursery, yields a ``Server``
(base URL, app, config) and on exit sets the shutdown event and waits for ``serve`` to return.

``TestRoutes`` (fixture ``test_routes``) is a table of routes the shipped app does not serve (a
POST-only route, small body limits, JSON routes of two families, crashing routes, rate-limited routes, a
route that waits on an event), mounted with ``extra_routes=[test_routes.table]``.

Every async test in this directory runs under ``deadline`` (``trio.fail_after``, plus a wall-clock
watchdog on a ``MockClock``): 20 s unless marked ``@pytest.mark.deadline(seconds)``. Time-dependent
tests take pytest-trio's ``mock_clock`` fixture (a ``MockClock`` without autojump) and ``jump`` it; the
app's ``Clock(epoch=EPOCH)`` reads the same clock.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import quart
import trio
import trio.testing

from actors import Clock
from bookstrack.app import BooksTrackApp, create_app
from bookstrack.config import Config, load_config
from bookstrack.server import hypercorn_config, serve
from bookstrack.web.bodies import read_body, read_json
from bookstrack.web.envelope import Family, envelope, raw
from bookstrack.web.routing import RouteTable

EPOCH = 1_700_000_000.0  # wall time of every test app's clock at virtual time 0
DEADLINE = 20.0  # seconds per test unless marked @pytest.mark.deadline(seconds)
CLIENT_TIMEOUT = 10.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"deadline(seconds): the test's time limit (default {DEADLINE:g} s)")


# -- the per-test deadline ------------------------------------------------------------------------
#
# pytest-trio never runs an autouse async fixture that a test does not name, so the deadline wraps the
# test functions themselves, at collection.

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and HERE in item.path.parents:
            if inspect.iscoroutinefunction(item.obj):
                marker = item.get_closest_marker("deadline")
                item.obj = _under_deadline(item.obj, float(marker.args[0]) if marker else DEADLINE)


def _under_deadline(test: Callable[..., Awaitable[None]], seconds: float) -> Callable[..., Awaitable[None]]:
    @functools.wraps(test)
    async def run(**kwargs: Any) -> None:
        async with deadline(seconds):
            await test(**kwargs)

    return run


@asynccontextmanager
async def deadline(seconds: float) -> AsyncIterator[None]:
    """``trio.fail_after(seconds)``; on a ``MockClock``, where virtual time moves only when the test
    jumps it (so a hung test would never time out), a wall-clock watchdog thread as well."""
    if not isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock):
        with trio.fail_after(seconds):
            yield
        return
    expired = False
    async with trio.open_nursery() as nursery:

        async def watchdog() -> None:
            nonlocal expired
            stop = threading.Event()
            try:
                expired = not await trio.to_thread.run_sync(stop.wait, seconds, abandon_on_cancel=True)
            finally:
                stop.set()
            if expired:
                nursery.cancel_scope.cancel()

        nursery.start_soon(watchdog)
        yield
        nursery.cancel_scope.cancel()
    if expired:
        raise trio.TooSlowError(f"the test ran for more than {seconds} s of wall-clock time")


# -- test-only routes -----------------------------------------------------------------------------


class Item(msgspec.Struct):
    name: str
    count: int = 1


class TestRoutes:
    """Routes for tests, and the events they share with the test that mounted them."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        self.entered = trio.Event()  # set when /test/wait starts
        self.release = trio.Event()  # /test/wait answers once this is set
        table = self.table = RouteTable(tags=["test"])

        @table.post("/test/post-only", family=Family.LEGACY)
        async def post_only() -> quart.Response:
            return raw({"ok": True})

        @table.post("/test/body/1k", family=Family.LEGACY, body_limit=1024)
        async def body_1k() -> quart.Response:
            return raw({"received": len(await read_body())})

        @table.post("/test/body/default", family=Family.LEGACY)
        async def body_default() -> quart.Response:
            return raw({"received": len(await read_body())})

        @table.post("/test/json/envelope", family=Family.ENVELOPE)
        async def json_envelope() -> quart.Response:
            item = await read_json(Item)
            return envelope({"name": item.name, "count": item.count}, clock=_services().clock)

        @table.post("/test/json/legacy", family=Family.LEGACY)
        async def json_legacy() -> quart.Response:
            item = await read_json(Item)
            return raw({"name": item.name, "count": item.count})

        @table.get("/test/crash/legacy", family=Family.LEGACY)
        async def crash_legacy() -> quart.Response:
            raise RuntimeError("secret detail")

        @table.get("/test/crash/envelope", family=Family.ENVELOPE)
        async def crash_envelope() -> quart.Response:
            raise RuntimeError("secret detail")

        @table.post("/test/protected", family=Family.RAW, rate_limit="default")
        async def protected() -> quart.Response:
            return raw({"ok": True})

        @table.post("/test/protected/json", family=Family.ENVELOPE, rate_limit="default", body_limit=1024)
        async def protected_json() -> quart.Response:
            item = await read_json(Item)
            return envelope({"name": item.name}, clock=_services().clock)

        @table.get("/test/wait", family=Family.RAW)
        async def wait() -> quart.Response:
            self.entered.set()
            await self.release.wait()
            return raw({"waited": True})


def _services() -> Any:
    return quart.current_app.services  # type: ignore[attr-defined]


# -- the server -----------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    app: BooksTrackApp
    config: Config

    def client(self, *, local_address: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client for this server; ``local_address`` binds its sockets (a distinct peer)."""
        if local_address is not None:
            kwargs["transport"] = httpx.AsyncHTTPTransport(local_address=local_address)
        kwargs.setdefault("timeout", CLIENT_TIMEOUT)
        return httpx.AsyncClient(base_url=self.url, **kwargs)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def storage_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"storage": {"path": str(tmp_path / "db" / "bookstrack.sqlite3"), "blobs": str(tmp_path / "blobs")}}


@asynccontextmanager
async def running_server(
    tmp_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    routes: Iterable[RouteTable] = (),
    signals: bool = False,
) -> AsyncIterator[Server]:
    """Serve a fresh app on 127.0.0.1:0 until the block ends (or, with ``signals=True``, until
    SIGINT/SIGTERM: ``serve``'s default trigger). Leaving the block waits until ``serve`` returned."""
    config = load_config(env=dict(env or {}), overrides=_merge(storage_overrides(tmp_path), overrides or {}))
    app = create_app(config, clock=clock or Clock(epoch=EPOCH), extra_routes=list(routes))
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            functools.partial(
                serve,
                app,
                hypercorn_config(config, host="127.0.0.1", port=0),
                shutdown_trigger=None if signals else shutdown.wait,
            )
        )
        try:
            yield Server(urls[0], app, config)
        finally:
            shutdown.set()


def has_wal(path: Path) -> bool:
    return Path(f"{path}-wal").exists()


def assert_closed_cleanly(path: Path) -> None:
    # The last connection to a WAL database checkpoints it and removes the -wal file when it closes;
    # a file left behind means the executor never closed its connection.
    assert path.exists()
    assert not has_wal(path)
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT id, instance_id FROM instance").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    assert row is not None
    assert row[0] == 1
    assert len(row[1]) == 32


StartServer = Callable[..., AbstractAsyncContextManager[Server]]


@pytest.fixture
def start_server(tmp_path: Path) -> StartServer:
    """``async with start_server(routes=[...], overrides={...}) as server:``; storage under tmp_path."""
    return functools.partial(running_server, tmp_path)


@pytest.fixture
def test_routes() -> TestRoutes:
    return TestRoutes()
