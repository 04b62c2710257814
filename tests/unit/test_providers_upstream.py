"""One provider's request pipeline against ``httpx.MockTransport``: budgets at the "network", retries with
backoff, Retry-After pauses, timeouts, redirects, error mapping, single-flight, metrics and health.

Times are virtual (autojump MockClock: nothing here touches a socket or a thread); the mock upstream records
the trio time each request reaches it.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from bookstrack.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from tests.unit.provider_support import max_in_window, running

ROOT = Path(__file__).resolve().parents[2]
OL = "openlibrary.org"


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"docs": [], "path": request.url.path})


def fail(caught: list):
    """A caller that records its ProviderError instead of raising it."""

    async def call(fn, *args) -> None:
        try:
            caught.append(await fn(*args))
        except ProviderError as error:
            caught.append(error)

    return call


# -- budgets, measured at the upstream ---------------------------------------------------------------


async def test_200_distinct_lookups_never_exceed_the_rate_and_the_rest_fail_with_budget(autojump_clock):
    async with running(ok) as (providers, upstream, metrics, _):
        results: list = []
        call = fail(results)
        async with trio.open_nursery() as nursery:
            for i in range(200):
                nursery.start_soon(call, providers.openlibrary.search_isbn, f"978000000{i:04d}")
    times = upstream.times()
    assert max_in_window(times) == 3  # Open Library: 3/s
    refused = [r for r in results if isinstance(r, ProviderError)]
    # budget_wait is 5 s: the slots at 0, 1/3, …, 5 were used, every other caller failed fast with "budget"
    assert len(times) == 16
    assert len(refused) == 184
    assert {r.reason for r in refused} == {"budget"}
    assert trio.current_time() <= 5.0 + 1e-9
    assert metrics.value("bookstrack_provider_errors_total", {"provider": "openlibrary", "reason": "budget"}) == 184
    assert metrics.value("bookstrack_provider_requests_total", {"provider": "openlibrary", "status": "200"}) == 16


async def test_200_distinct_lookups_all_pass_at_the_rate_when_callers_may_wait(autojump_clock):
    overrides = {"providers": {"isbndb": {"budget_wait": 1_000.0, "deadline": 1_000.0}}}
    async with running(ok, overrides=overrides) as (providers, upstream, _, _):
        async with trio.open_nursery() as nursery:
            for i in range(200):
                nursery.start_soon(providers.isbndb.book, f"978000000{i:04d}")
    times = upstream.times()
    assert len(times) == 200
    assert max_in_window(times) == 1  # ISBNdb: 1/s
    assert max_in_window(times, window=10.0) == 10
    assert trio.current_time() == pytest.approx(199.0)


async def test_providers_have_separate_budgets(autojump_clock):
    async with running(ok) as (providers, upstream, _, _):
        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(providers.openlibrary.search, f"q{i}")
                nursery.start_soon(providers.google_books.search, f"q{i}")
    assert max_in_window(upstream.times(OL)) == 3
    assert upstream.times("www.googleapis.com") == pytest.approx([0.0, 0.2, 0.4])  # 5/s


async def test_a_429_with_retry_after_2_pauses_the_provider_for_2_seconds(autojump_clock):
    answered_429 = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answered_429
        if request.url.params.get("q") == "first" and not answered_429:
            answered_429 = True
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"})
        return ok(request)

    async with running(handler) as (providers, upstream, metrics, _):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(providers.openlibrary.search, "first")
            await trio.sleep(0.5)
            # other callers of the same provider wait for the pause too
            nursery.start_soon(providers.openlibrary.search, "second")
            nursery.start_soon(providers.openlibrary.search, "third")
        assert [(s.params["q"], s.at) for s in upstream.seen[:2]] == [("first", 0.0), ("first", 2.0)]
        # (second and third start together: trio does not order tasks started in the same instant)
        assert {s.params["q"] for s in upstream.seen[2:]} == {"second", "third"}
        assert upstream.times()[2:] == pytest.approx([2 + 1 / 3, 2 + 2 / 3])
        assert providers.budget("openlibrary").paused_until() == pytest.approx(2.0)
        assert metrics.value("bookstrack_provider_requests_total", {"provider": "openlibrary", "status": "429"}) == 1
        # another provider is not paused
        await providers.google_books.search("x")
        assert upstream.seen[-1].at == pytest.approx(2 + 2 / 3)


async def test_retry_after_as_an_http_date_pauses_until_then(autojump_clock):
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:  # the clock says Tue, 14 Nov 2023 22:13:20 GMT at t=0
            return httpx.Response(503, headers={"Retry-After": "Tue, 14 Nov 2023 22:13:23 GMT"})
        return ok(request)

    async with running(handler) as (providers, upstream, _, _):
        await providers.openlibrary.search("x")
    assert upstream.times() == [0.0, 3.0]


async def test_a_pause_longer_than_the_budget_wait_fails_at_once_as_rate_limited(autojump_clock):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "60"})

    async with running(handler) as (providers, upstream, _, _):
        with pytest.raises(ProviderError) as caught:
            await providers.openlibrary.search("x")
        assert caught.value.reason == "rate_limited"
        assert caught.value.details == {"provider": "openlibrary", "reason": "rate_limited", "status": 429}
        assert len(upstream.seen) == 1
        assert trio.current_time() == 0.0
        # meanwhile the provider stays paused: the next call is refused without a request
        with pytest.raises(ProviderError) as refused:
            await providers.openlibrary.search("y")
        assert refused.value.reason == "budget"
        assert len(upstream.seen) == 1


async def test_a_429_without_retry_after_still_pauses_the_provider_for_a_backoff(autojump_clock):
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(429) if calls == 1 else ok(request)

    async with running(handler) as (providers, upstream, _, _):
        await providers.openlibrary.search("x")
        paused = providers.budget("openlibrary").paused_until()
    assert 0.25 <= paused <= 0.5  # the first backoff: 0.5 s with equal jitter
    assert upstream.times() == [0.0, max(paused, 1 / 3)]  # the pause, or the next 3/s slot if later


# -- retries ---------------------------------------------------------------------------------------


async def test_5xx_is_retried_with_backoff_then_succeeds(autojump_clock):
    statuses = iter([500, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return ok(request) if status == 200 else httpx.Response(status, text="oops")

    async with running(handler) as (providers, upstream, metrics, _):
        assert (await providers.openlibrary.search("x"))["docs"] == []
    first, second, third = upstream.times()
    assert 0.25 <= second - first <= 0.5  # backoff after attempt 1
    assert 0.5 <= third - second <= 1.0  # after attempt 2
    labels = {"provider": "openlibrary"}
    assert metrics.value("bookstrack_provider_calls_total", {**labels, "outcome": "ok"}) == 1
    assert metrics.value("bookstrack_provider_requests_total", {**labels, "status": "500"}) == 1
    assert metrics.value("bookstrack_provider_requests_total", {**labels, "status": "502"}) == 1
    assert metrics.value("bookstrack_provider_request_duration_seconds_count", labels) == 3


async def test_attempts_are_bounded_and_the_last_error_is_raised(autojump_clock):
    async with running(lambda request: httpx.Response(503)) as (providers, upstream, metrics, _):
        with pytest.raises(ProviderError, match=r"openlibrary answered GET /search.json with HTTP 503") as caught:
            await providers.openlibrary.search("x")
    assert caught.value.reason == "http_5xx"
    assert caught.value.status == 503
    assert caught.value.code == "PROVIDER_ERROR"
    assert len(upstream.seen) == 3  # max_attempts
    assert metrics.value("bookstrack_provider_errors_total", {"provider": "openlibrary", "reason": "http_5xx"}) == 1


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_other_4xx_are_not_retried(autojump_clock, status):
    async with running(lambda request: httpx.Response(status)) as (providers, upstream, _, _):
        with pytest.raises(ProviderError) as caught:
            await providers.google_books.search("x")
    assert caught.value.reason == "rejected"
    assert caught.value.details["status"] == status
    assert len(upstream.seen) == 1


async def test_a_404_is_not_found_where_the_endpoint_means_it_and_rejected_elsewhere(autojump_clock):
    async with running(lambda request: httpx.Response(404, json={"errorMessage": "Book not found"})) as (
        providers, upstream, metrics, _,
    ):
        assert await providers.isbndb.book("9780439708180") is None
        assert await providers.openlibrary.edition_by_isbn("9780439708180") is None
        with pytest.raises(ProviderError) as caught:
            await providers.openlibrary.search("x")
        assert caught.value.reason == "rejected"
        assert metrics.value("bookstrack_provider_calls_total", {"provider": "isbndb", "outcome": "not_found"}) == 1
        assert providers.status("isbndb").probe() == "ok"


async def test_a_body_that_is_not_json_is_a_bad_response_and_not_retried(autojump_clock):
    async with running(lambda request: httpx.Response(200, text="<html>maintenance</html>")) as (
        providers, upstream, _, _,
    ):
        with pytest.raises(ProviderError, match="not JSON") as caught:
            await providers.wikidata.search_entities("Tolkien")
    assert caught.value.reason == "bad_response"
    assert len(upstream.seen) == 1


# -- timeouts, transport errors, the overall deadline ----------------------------------------------


async def test_a_hung_provider_times_out_per_attempt_and_is_retried(autojump_clock):
    async def hang(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    overrides = {"providers": {"openlibrary": {"timeout": 2.0}}}
    async with running(hang, overrides=overrides) as (providers, upstream, metrics, _):
        with pytest.raises(ProviderTimeout, match=r"did not answer GET /search.json within 2 s") as caught:
            await providers.openlibrary.search("x")
    assert caught.value.code == "PROVIDER_TIMEOUT"
    assert caught.value.status == 504
    assert caught.value.reason == "timeout"
    assert len(upstream.seen) == 3
    assert upstream.times()[1] - upstream.times()[0] >= 2.0
    assert metrics.value("bookstrack_provider_requests_total", {"provider": "openlibrary", "status": "error"}) == 3


async def test_the_overall_deadline_bounds_the_whole_call(autojump_clock):
    async def slow(request: httpx.Request) -> httpx.Response:
        await trio.sleep(100)
        raise AssertionError  # pragma: no cover

    overrides = {"providers": {"openlibrary": {"timeout": 10.0, "deadline": 12.0, "max_attempts": 5}}}
    async with running(slow, overrides=overrides) as (providers, upstream, _, _):
        with pytest.raises(ProviderTimeout):
            await providers.openlibrary.search("x")
    assert trio.current_time() <= 12.0 + 1e-9
    assert len(upstream.seen) == 2  # 10 s, then the 2 s that were left


@pytest.mark.parametrize(
    ("exception", "reason", "error_type"),
    [
        (httpx.ConnectError("refused"), "unreachable", ProviderError),
        (httpx.ReadTimeout("slow"), "timeout", ProviderTimeout),
        (httpx.RemoteProtocolError("garbage"), "unreachable", ProviderError),
        (httpx.DecodingError("bad gzip"), "bad_response", ProviderError),
    ],
)
async def test_httpx_exceptions_become_provider_errors_with_the_cause_kept(
    autojump_clock, exception, reason, error_type
):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    async with running(handler) as (providers, upstream, _, _):
        with pytest.raises(error_type) as caught:
            await providers.openlibrary.search("x")
    assert caught.value.reason == reason
    assert caught.value.__cause__ is exception
    assert not isinstance(caught.value, httpx.HTTPError)
    assert len(upstream.seen) == (1 if reason == "bad_response" else 3)


def test_nothing_outside_providers_catches_an_httpx_exception():
    offending = []
    for path in (ROOT / "bookstrack").rglob("*.py"):
        if "providers" in path.relative_to(ROOT / "bookstrack").parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            # httpx.InvalidURL is URL parsing (the cover proxy vets URLs), not a transport failure
            if re.search(r"except\s*\(?[^:]*\bhttpx\.(?!InvalidURL\b)", line):
                offending.append(f"{path.relative_to(ROOT)}:{number}")
    assert offending == []


# -- redirects -------------------------------------------------------------------------------------


async def test_a_redirect_on_the_same_host_is_followed_with_its_own_budget_slot(autojump_clock):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/isbn/9780261103344.json":
            return httpx.Response(302, headers={"Location": "/books/OL7353617M.json"})
        return httpx.Response(200, json={"key": "/books/OL7353617M", "title": "The Hobbit"})

    async with running(handler) as (providers, upstream, _, _):
        assert (await providers.openlibrary.edition_by_isbn("9780261103344"))["title"] == "The Hobbit"
    assert [(s.path, s.at) for s in upstream.seen] == [
        ("/isbn/9780261103344.json", 0.0), ("/books/OL7353617M.json", pytest.approx(1 / 3)),
    ]
    assert "user-agent" in upstream.seen[1].request.headers


async def test_a_redirect_to_another_host_is_refused(autojump_clock):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://evil.example/books/OL1M.json"})

    async with running(handler) as (providers, upstream, _, _):
        with pytest.raises(ProviderError, match="another host") as caught:
            await providers.openlibrary.edition_by_isbn("9780261103344")
    assert caught.value.reason == "bad_response"
    assert len(upstream.seen) == 1


# -- single-flight through the pipeline ------------------------------------------------------------


async def test_fifty_concurrent_identical_requests_make_one_upstream_call(autojump_clock):
    async def slow(request: httpx.Request) -> httpx.Response:
        await trio.sleep(0.2)
        return ok(request)

    async with running(slow) as (providers, upstream, metrics, _):
        results: list = []

        async def lookup() -> None:
            results.append(await providers.google_books.search_isbn("9780261103344"))

        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(lookup)
        assert len(upstream.seen) == 1
        assert len(results) == 50
        assert all(r == results[0] for r in results)
        assert metrics.value("bookstrack_provider_coalesced_total", {"provider": "google_books"}) == 49
        assert metrics.value("bookstrack_provider_calls_total", {"provider": "google_books", "outcome": "ok"}) == 1


async def test_cancelling_the_first_caller_does_not_cancel_the_request_for_the_others(autojump_clock):
    async def slow(request: httpx.Request) -> httpx.Response:
        await trio.sleep(1.0)
        return ok(request)

    async with running(slow) as (providers, upstream, _, _):
        results: list = []
        first = trio.CancelScope()

        async def first_caller() -> None:
            with first:
                await providers.openlibrary.search("same")

        async def second_caller() -> None:
            results.append(await providers.openlibrary.search("same"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_caller)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(second_caller)
            await trio.sleep(0.5)
            first.cancel()
        assert len(upstream.seen) == 1
        assert results
        assert results[0]["path"] == "/search.json"


# -- keys, health ----------------------------------------------------------------------------------


async def test_a_provider_without_its_key_is_skipped_without_a_request(autojump_clock):
    async with running(ok, env={}) as (providers, upstream, metrics, health):
        for call in (
            providers.google_books.search("x"), providers.google_books.search_isbn("1"),
            providers.google_books.volume("abc"), providers.isbndb.book("1"), providers.isbndb.books(["1"]),
            providers.isbndb.search("x"), providers.isbndb.search_books("x"),
        ):
            with pytest.raises(ProviderUnavailable, match=r"is not configured: set BOOKSTRACK_\w+_API_KEY") as caught:
                await call
            assert caught.value.reason == "unconfigured"
            assert caught.value.code == "PROVIDER_ERROR"
        assert upstream.seen == []
        assert not providers.google_books.configured
        assert not providers.isbndb.configured
        assert providers.openlibrary.configured
        assert providers.wikidata.configured
        report = await health.refresh()
        assert report.checks.providers == {
            "google_books": "unconfigured", "openlibrary": "ok", "isbndb": "unconfigured", "wikidata": "ok",
            "gemini": "unconfigured",
        }
        assert providers.status("google_books").probe() == "unconfigured"
        assert metrics.value("bookstrack_provider_errors_total", {"provider": "isbndb", "reason": "unconfigured"}) == 4


async def test_repeated_failures_make_the_provider_degraded_until_a_success(autojump_clock):
    broken = True

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500) if broken else ok(request)

    overrides = {"providers": {"wikidata": {"max_attempts": 1}}}
    async with running(handler, overrides=overrides) as (providers, _, _, health):
        for i in range(2):
            with pytest.raises(ProviderError):
                await providers.wikidata.search_entities(f"a{i}")
        assert (await health.refresh()).checks.providers["wikidata"] == "ok"  # two failures are not a trend
        with pytest.raises(ProviderError):
            await providers.wikidata.search_entities("a3")
        assert (await health.refresh()).checks.providers["wikidata"] == "degraded"
        assert (await health.refresh()).checks.providers["openlibrary"] == "ok"
        broken = False
        await providers.wikidata.search_entities("a4")
        assert (await health.refresh()).checks.providers["wikidata"] == "ok"


async def test_degraded_fades_after_five_quiet_minutes_and_budget_refusals_do_not_count(autojump_clock):
    overrides = {"providers": {"wikidata": {"max_attempts": 1}}}
    async with running(lambda request: httpx.Response(502), overrides=overrides) as (providers, _, _, _):
        status = providers.status("wikidata")
        for i in range(3):
            with pytest.raises(ProviderError):
                await providers.wikidata.search_entities(f"a{i}")
        assert status.probe() == "degraded"
        await trio.sleep(301)
        assert status.probe() == "ok"
        status.failed(ProviderError("x", provider="wikidata", reason="budget"))
        assert status.consecutive_failures == 3


async def test_budget_waits_are_measured(autojump_clock):
    async with running(ok) as (providers, _, metrics, _):
        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(providers.isbndb.book, f"97800000000{i}")
    labels = {"provider": "isbndb"}
    assert metrics.value("bookstrack_provider_budget_wait_seconds_count", labels) == 4
    assert metrics.value("bookstrack_provider_budget_wait_seconds_sum", labels) == pytest.approx(0 + 1 + 2 + 3)
    assert metrics.value("bookstrack_provider_budget_used_today", labels) == 4
