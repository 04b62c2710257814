"""Rate limiting of protected routes over real sockets (API.md §5, reference §6.1 with its FIXes).

Every test here runs on ``trio.testing.MockClock`` (pytest-trio's ``mock_clock`` fixture; no autojump):
virtual time stands still while real sockets and the SQLite thread do their work, and moves only when
a test calls ``clock.jump``. The app's ``Clock(epoch=EPOCH)`` reads that clock, so wall time is EPOCH
until a jump. Distinct clients are distinct loopback source addresses (127.0.0.2, 127.0.0.3, ...).
"""

from __future__ import annotations

import re

import httpx
import trio
import trio.testing

from actors.rate_limit import RateLimitBucket
from tests.integration.conftest import EPOCH

LIMIT = 10
WINDOW = 60
PATH = "/test/protected"
RATE_LIMIT_FIELD = re.compile(r'^"default";r=(\d+);t=(\d+)$')


async def burst(client: httpx.AsyncClient, n: int, path: str = PATH, **kwargs) -> list[httpx.Response]:
    """``n`` requests at once (one connection each), all at the same virtual instant."""
    responses: list[httpx.Response] = []

    async def one() -> None:
        responses.append(await client.post(path, **kwargs))

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one)
    return responses


def wide_client(server, **kwargs) -> httpx.AsyncClient:
    return server.client(limits=httpx.Limits(max_connections=200, max_keepalive_connections=200), **kwargs)


async def settle() -> None:
    """Let the server finish what a jump of the clock set off (idle connections closing, passivation)."""
    await trio.testing.wait_all_tasks_blocked()


def assert_rate_limit_headers(response: httpx.Response, *, remaining: int) -> None:
    headers = response.headers
    assert headers["x-ratelimit-limit"] == str(LIMIT)
    assert headers["x-ratelimit-remaining"] == str(remaining)
    reset = int(headers["x-ratelimit-reset"])
    assert EPOCH < reset <= EPOCH + WINDOW + 1  # epoch seconds, not milliseconds
    assert headers["ratelimit-policy"] == f'"default";q={LIMIT};w={WINDOW}'
    match = RATE_LIMIT_FIELD.match(headers["ratelimit"])
    assert match, headers["ratelimit"]
    assert int(match.group(1)) == remaining
    assert 0 <= int(match.group(2)) <= WINDOW


def assert_429(response: httpx.Response, *, client_ip: str) -> int:
    """The reference's 429 (family D) plus CORS and every rate-limit header; returns Retry-After."""
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert body["code"] == "RATE_LIMIT_EXCEEDED"
    details = body["details"]
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert details["retryAfter"] == retry_after
    assert body["error"] == f"Rate limit exceeded. Please try again in {retry_after} seconds."
    assert details["clientIP"] == f"{client_ip[:8]}..."
    assert details["requestsRemaining"] == 0
    assert details["requestsLimit"] == LIMIT
    assert_rate_limit_headers(response, remaining=0)
    assert response.headers["ratelimit"] == f'"default";r=0;t={retry_after}'
    assert response.headers["access-control-allow-origin"] == "*"
    return retry_after


async def test_a_distinct_loopback_source_address_is_a_distinct_peer(start_server, mock_clock, test_routes):
    # the premise of the per-client tests below: binding the client socket to 127.0.0.x works here,
    # and the server keys its buckets by that peer address
    async with start_server(routes=[test_routes.table]) as server:
        for address in ("127.0.0.2", "127.0.0.3"):
            async with server.client(local_address=address) as client:
                assert (await client.post(PATH)).status_code == 200
        system = server.app.services.system
        assert system.is_live(RateLimitBucket, "default|127.0.0.2")
        assert system.is_live(RateLimitBucket, "default|127.0.0.3")
        assert not system.is_live(RateLimitBucket, "default|127.0.0.1")


async def test_of_100_concurrent_requests_exactly_the_limit_pass(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server, wide_client(server) as client:
        responses = await burst(client, 100)
        allowed = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 429]
        assert len(allowed) == LIMIT
        assert len(refused) == 100 - LIMIT
        # allowed responses carry the same headers; each saw a different remaining count
        remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in allowed)
        assert remaining == list(range(LIMIT))
        for response in allowed:
            assert response.json() == {"ok": True}
            assert_rate_limit_headers(response, remaining=int(response.headers["x-ratelimit-remaining"]))
            assert "retry-after" not in response.headers
        retry_afters = {assert_429(r, client_ip="127.0.0.1") for r in refused}
        assert len(retry_afters) == 1  # nothing moved: all refusals agree
        metrics = server.app.services.metrics
        assert metrics.value("bookstrack_rate_limit_rejections_total", {"policy": "default"}) == 90


async def test_another_client_is_unaffected(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server:
        async with wide_client(server) as client:
            await burst(client, LIMIT)
            assert (await client.post(PATH)).status_code == 429
        async with server.client(local_address="127.0.0.2") as other:
            response = await other.post(PATH)
        assert response.status_code == 200
        assert_rate_limit_headers(response, remaining=LIMIT - 1)


async def test_retry_after_is_when_a_request_passes_again(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server, wide_client(server) as client:
        await burst(client, LIMIT)
        retry_after = assert_429(await client.post(PATH), client_ip="127.0.0.1")
        reset = int((await client.post(PATH)).headers["x-ratelimit-reset"])
        assert retry_after <= reset - EPOCH

        mock_clock.jump(retry_after - 0.5)
        await settle()
        async with server.client() as fresh:
            still = await fresh.post(PATH)
        assert still.status_code == 429
        assert int(still.headers["retry-after"]) == 1  # counts down, never below 1

        mock_clock.jump(0.5)
        await settle()
        async with server.client() as fresh:
            assert (await fresh.post(PATH)).status_code == 200


async def test_after_the_window_the_client_is_served_again(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server:
        async with wide_client(server) as client:
            first = await burst(client, 20)
        assert sorted(r.status_code for r in first) == [200] * LIMIT + [429] * LIMIT

        mock_clock.jump(WINDOW + 1)
        await settle()

        async with wide_client(server) as client:
            second = await burst(client, 20)
        assert sorted(r.status_code for r in second) == [200] * LIMIT + [429] * LIMIT
        for response in second:
            reset = int(response.headers["x-ratelimit-reset"])
            assert EPOCH + WINDOW + 1 < reset <= EPOCH + 2 * WINDOW + 1


async def test_refused_requests_do_not_extend_the_wait(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server, wide_client(server) as client:
        await burst(client, LIMIT)
        first = int((await client.post(PATH)).headers["retry-after"])
        await burst(client, 30)  # hammering while refused
        again = int((await client.post(PATH)).headers["retry-after"])
    assert again == first


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server, wide_client(server) as client:
        headers = {"X-Forwarded-For": "203.0.113.7", "CF-Connecting-IP": "198.51.100.9"}
        spoofed = await burst(client, 20, headers=headers)
        assert sorted(r.status_code for r in spoofed) == [200] * LIMIT + [429] * LIMIT
        refused = next(r for r in spoofed if r.status_code == 429)
        assert_429(refused, client_ip="127.0.0.1")
        # a fresh spoofed address does not buy a fresh bucket either
        assert (await client.post(PATH, headers={"X-Forwarded-For": "192.0.2.1"})).status_code == 429


async def test_forwarded_for_from_a_trusted_proxy_selects_the_bucket(start_server, mock_clock, test_routes):
    overrides = {"server": {"trusted_proxies": ["127.0.0.1"]}}
    async with start_server(routes=[test_routes.table], overrides=overrides) as server:
        async with wide_client(server) as proxy:
            behind = await burst(proxy, 20, headers={"X-Forwarded-For": "203.0.113.7"})
            assert sorted(r.status_code for r in behind) == [200] * LIMIT + [429] * LIMIT
            assert_429(next(r for r in behind if r.status_code == 429), client_ip="203.0.113.7")

            # another client behind the same proxy has its own bucket...
            other = await proxy.post(PATH, headers={"X-Forwarded-For": "198.51.100.20"})
            assert other.status_code == 200
            assert_rate_limit_headers(other, remaining=LIMIT - 1)
            # ...the right-most untrusted hop is the client (a client-supplied left part is ignored)
            chained = await proxy.post(PATH, headers={"X-Forwarded-For": "10.1.1.1, 203.0.113.7"})
            assert chained.status_code == 429
            # CF-Connecting-IP from the trusted proxy is believed too
            cf = await proxy.post(PATH, headers={"CF-Connecting-IP": "203.0.113.7"})
            assert cf.status_code == 429
            # and the proxy's own requests (no header) are the proxy's
            own = await proxy.post(PATH)
            assert own.status_code == 200

        # a peer that is not the trusted proxy cannot use the header
        async with server.client(local_address="127.0.0.2") as untrusted:
            response = await untrusted.post(PATH, headers={"X-Forwarded-For": "203.0.113.7"})
        assert response.status_code == 200


async def test_a_refused_request_never_reaches_the_route(start_server, mock_clock, test_routes):
    # the limiter runs first: a malformed body on a protected route still counts, and when refused the
    # client gets the 429, not a 400
    async with start_server(routes=[test_routes.table]) as server, wide_client(server) as client:
        bad = await burst(client, LIMIT, path="/test/protected/json", content=b"{broken")
        assert [r.status_code for r in bad] == [400] * LIMIT
        refused = await client.post("/test/protected/json", content=b"{broken")
    assert_429(refused, client_ip="127.0.0.1")


async def test_allowed_error_responses_on_protected_routes_carry_the_headers(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server, server.client() as client:
        invalid = await client.post("/test/protected/json", content=b"{broken")
        too_large = await client.post("/test/protected/json", content=b"x" * 5000)
        fine = await client.post("/test/protected/json", json={"name": "x"})
    assert invalid.status_code == 400
    assert_rate_limit_headers(invalid, remaining=LIMIT - 1)
    assert too_large.status_code == 413
    assert_rate_limit_headers(too_large, remaining=LIMIT - 2)
    assert fine.status_code == 200
    assert_rate_limit_headers(fine, remaining=LIMIT - 3)


async def test_unprotected_routes_carry_no_rate_limit_headers(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server, wide_client(server) as client:
        responses = await burst(client, 30, path="/test/post-only")
    assert {r.status_code for r in responses} == {200}
    assert not any(h.startswith(("x-ratelimit", "ratelimit")) for r in responses for h in r.headers)


async def test_limits_come_from_config(start_server, mock_clock, test_routes):
    overrides = {"rate_limit": {"classes": {"default": {"limit": 3, "window": 30.0}}}}
    async with start_server(routes=[test_routes.table], overrides=overrides) as server, wide_client(server) as client:
        responses = await burst(client, 10)
    assert sorted(r.status_code for r in responses) == [200] * 3 + [429] * 7
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["ratelimit-policy"] == '"default";q=3;w=30'
    assert refused.json()["details"]["requestsLimit"] == 3


async def test_rate_limiting_can_be_switched_off(start_server, mock_clock, test_routes):
    overrides = {"rate_limit": {"enabled": False}}
    async with start_server(routes=[test_routes.table], overrides=overrides) as server, wide_client(server) as client:
        responses = await burst(client, 30)
    assert {r.status_code for r in responses} == {200}


async def test_the_client_ip_in_the_body_is_truncated(start_server, mock_clock, test_routes):
    async with start_server(routes=[test_routes.table]) as server:
        async with server.client(local_address="127.0.0.2", limits=httpx.Limits(max_connections=50)) as client:
            responses = await burst(client, LIMIT + 1)
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 1
    assert refused[0].json()["details"]["clientIP"] == "127.0.0...."
