"""Connections on the real server (``bookstrack.tcp_connection``): a keep-alive connection stays usable, an
idle one is closed after the keep-alive timeout and never while a request is in progress, and one the client
closes while idle is let go at once rather than after that timeout. MockClock: the timeout is jumped over."""

from __future__ import annotations

import trio
import trio.testing

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
WAIT = b"GET /test/wait HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def read_response(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    """One whole response (headers and a Content-Length body) from ``stream``; the rest stays in ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive_some()
        assert chunk, "the server closed the connection mid-response"
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
    length = int(next(value for name, value in fields.items() if name.lower() == b"content-length"))
    end = len(head) + 4 + length
    while len(buffer) < end:
        buffer += await stream.receive_some()
    response = bytes(buffer[:end])
    del buffer[:end]
    return response


async def open_stream(url: str) -> trio.SocketStream:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return await trio.open_tcp_stream(host, int(port))


async def test_a_keep_alive_connection_answers_several_requests(start_server, mock_clock):
    async with start_server() as server:
        stream = await open_stream(server.url)
        buffer = bytearray()
        for _ in range(3):
            await stream.send_all(REQUEST)
            assert (await read_response(stream, buffer)).startswith(b"HTTP/1.1 200")
        await stream.aclose()


async def test_a_connection_closed_by_the_client_while_idle_is_closed_at_once(start_server, mock_clock):
    # On a MockClock the 75 s keep-alive timer never fires by itself: the server's side closes only if
    # it lets the connection go when the client's end closes. Hypercorn's own trio handler held it (its
    # socket and task) until that timer fired.
    async with start_server() as server:
        stream = await open_stream(server.url)
        await stream.send_all(REQUEST)
        assert (await read_response(stream, bytearray())).startswith(b"HTTP/1.1 200")
        await trio.testing.wait_all_tasks_blocked()  # the server is back to waiting: the connection is idle
        await stream.send_eof()
        assert await stream.receive_some() == b""  # the server closed its end too
        await stream.aclose()


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout_and_not_before(start_server, mock_clock):
    async with start_server() as server:
        timeout = server.config.server.keep_alive_timeout
        stream = await open_stream(server.url)
        buffer = bytearray()
        for _ in range(2):  # each exchange starts the idle time afresh
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.jump(timeout - 1)
            await trio.testing.wait_all_tasks_blocked()
            await stream.send_all(REQUEST)
            assert (await read_response(stream, buffer)).startswith(b"HTTP/1.1 200")
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(timeout + 1)
        assert await stream.receive_some() == b""  # the server closed it
        await stream.aclose()


async def test_a_request_in_progress_outlives_the_keep_alive_timeout(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server:
        stream = await open_stream(server.url)
        await stream.send_all(WAIT)
        await test_routes.entered.wait()
        mock_clock.jump(server.config.server.keep_alive_timeout * 3)
        await trio.testing.wait_all_tasks_blocked()
        test_routes.release.set()
        assert (await read_response(stream, bytearray())).startswith(b"HTTP/1.1 200")
        await stream.send_all(REQUEST)  # and the connection is still good for the next one
        assert (await read_response(stream, bytearray())).startswith(b"HTTP/1.1 200")
        await stream.aclose()
