"""The shared client's transport (``providers/pool.py``) over real sockets, against the fake upstream:
concurrent requests spread over one-connection pools, counted in flight until their responses close,
kept-alive connections reused, and a lone request always on the same pool."""

from __future__ import annotations

import httpx
import trio

from bookstrack.devtools import run_fake_upstream
from bookstrack.providers.pool import ShardedTransport


def _connections(transport: ShardedTransport) -> int:
    return sum(
        len(pool._pool.connections) for origin in transport._origins.values() for pool in origin.pools if pool
    )


async def test_concurrent_requests_spread_over_pools_and_reuse_connections():
    transport = ShardedTransport(connections=4)
    async with run_fake_upstream() as fake, httpx.AsyncClient(transport=transport, timeout=10) as client:
        url = f"{fake.base_urls['google_books']}/books/v1/volumes"
        fake.faults.hang_next(6, provider="google_books")
        statuses: list[int] = []

        async def one(i: int) -> None:
            response = await client.get(url, params={"q": f"isbn:97805479282{i:02d}", "key": "k"})
            statuses.append(response.status_code)

        async with trio.open_nursery() as nursery:
            for i in range(6):
                nursery.start_soon(one, i)
            with trio.fail_after(10):
                await fake.requests.wait_for(4, "google_books")  # four pools of one connection: four at once
            assert list(transport.in_flight().values()) == [6]  # one origin; two wait for a connection
            assert _connections(transport) == 4
            await trio.sleep(0.01)  # the held requests reach their hold
            fake.faults.release()
            with trio.fail_after(10):
                await fake.requests.wait_for(6, "google_books")
            await trio.sleep(0.01)
            fake.faults.release()
        assert statuses == [200] * 6
        assert sum(transport.in_flight().values()) == 0
        assert _connections(transport) == 4  # kept alive

        for _ in range(3):  # a lone request: the first pool, its kept-alive connection
            assert (await client.get(url, params={"q": "isbn:9780547928227", "key": "k"})).status_code == 200
        assert _connections(transport) == 4
    assert transport._origins == {}  # closed with the client
