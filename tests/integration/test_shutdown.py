"""Graceful shutdown on SIGTERM: stop accepting, finish the in-flight request, then stop the services and
close the database cleanly (``bookstrack.server.serve`` with its default trigger, ``wait_for_signal``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from tests.integration.conftest import assert_closed_cleanly, has_wal


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_lets_the_in_flight_request_finish_then_stops(start_server, test_routes, signum):
    results: list[httpx.Response] = []
    served_until = trio.Event()
    handler_before = signal.getsignal(signum)

    async with start_server(routes=[test_routes.table], signals=True) as server:
        database = Path(server.config.storage.path)
        async with server.client() as client, trio.open_nursery() as nursery:

            async def in_flight() -> None:
                results.append(await client.get("/test/wait"))

            nursery.start_soon(in_flight)
            await test_routes.entered.wait()
            await trio.testing.wait_all_tasks_blocked()
            # serve's signal receiver is installed (never kill the test run with the default action)
            assert signal.getsignal(signum) not in (handler_before, signal.SIG_DFL, signal.SIG_IGN)
            os.kill(os.getpid(), signum)
            await trio.testing.wait_all_tasks_blocked()

            # it no longer accepts connections, while the request is still being served
            async with server.client() as late:
                with pytest.raises(httpx.ConnectError):
                    await late.get("/health")
            assert results == []
            assert server.app.services.database._closed is False

            test_routes.release.set()
    # leaving start_server's block waited for serve to return
    served_until.set()

    assert len(results) == 1
    assert results[0].status_code == 200
    assert results[0].json() == {"waited": True}
    assert served_until.is_set()
    assert server.app.services.database._closed is True
    assert_closed_cleanly(database)
    # and trio gave the signal back: the handler is the one from before serve
    assert signal.getsignal(signum) == handler_before


async def test_idle_keep_alive_connections_do_not_hold_up_shutdown(start_server, mock_clock):
    # On a MockClock the graceful timeout never runs out by itself: serve returns only if every
    # connection closes when shutdown starts, including idle keep-alive ones after their response.
    async with start_server(overrides={"server": {"graceful_timeout": 10.0}}) as server:
        client = server.client()
        for _ in range(5):
            assert (await client.get("/health")).status_code == 200
        # the block ends with the client still open and its connection idle
    assert server.app.services.database._closed is True
    await client.aclose()


async def test_stopping_closes_the_database_after_serving(start_server):
    async with start_server() as server, server.client() as client:
        assert (await client.get("/health")).status_code == 200
        database = Path(server.config.storage.path)
        assert has_wal(database)  # open in WAL mode while serving
    assert_closed_cleanly(database)
