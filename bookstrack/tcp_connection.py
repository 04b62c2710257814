"""The per-connection handler Hypercorn's trio worker runs, closing as soon as the client has gone.

Hypercorn's trio ``TCPServer`` (0.18) runs an idle-timeout task beside each connection and, once the
client's end is read to its close, still waits for that task: a connection the client closed while idle
(how keep-alive clients and pools end every connection) keeps its socket, task and buffers for the whole
``keep_alive_timeout`` (75 s by default, decision 0032). A client that opens connections at a steady rate
then holds rate × 75 s sockets open in the server, and the memory bench counted their tasks as growth.
``ClosingTCPServer`` stops the idle task when reading ends, which is what Hypercorn's asyncio worker does;
``install`` puts it where Hypercorn's trio worker builds its handlers (decision 0033).

Owns only when a finished connection is let go; it must not change what is read, sent or timed out.
"""

from __future__ import annotations

import hypercorn.trio.run
from hypercorn.trio.tcp_server import TCPServer

__all__ = ["ClosingTCPServer", "install"]


class ClosingTCPServer(TCPServer):
    async def _read_data(self) -> None:
        await super()._read_data()
        # Nothing more can arrive: what is left is to finish the requests in flight and close. The idle
        # timer would only hold the connection open until it fires.
        await self.idle_task.stop()


def install() -> None:
    """Make Hypercorn's trio worker build ``ClosingTCPServer`` handlers (idempotent)."""
    # worker_serve offers no argument for the handler class; it names TCPServer from its module globals.
    hypercorn.trio.run.TCPServer = ClosingTCPServer  # type: ignore[misc]
