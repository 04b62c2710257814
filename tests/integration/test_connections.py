"""Connections on the real server: a keep-alive connection stays usable, and one the client closes while
idle is let go at once rather than after the keep-alive timeout (``bookstrack.tcp_connection``)."""

from __future__ import annotations

import trio
import trio.testing

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


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
