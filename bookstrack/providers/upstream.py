"""One provider's way out: every HTTP request to a provider goes through its ``Upstream``.

Owns the pipeline of a call, in this order:

1. single-flight: an identical request already in flight (same provider, method, URL with query, body) is
   joined, not repeated;
2. per attempt: a slot from the provider's ``Budget`` (waiting at most ``budget_wait``), then the request
   on the shared client, bounded by ``timeout`` and by what is left of the call's ``deadline``; redirects
   (Open Library's ``/isbn/{isbn}.json``) are followed on the same host, each hop with its own slot;
3. the answer: 2xx → JSON; 404 → "not found" where the endpoint means it; a ``Retry-After`` on an error
   (or a 429 without one) pauses the whole provider; 5xx, 429, timeouts and refused connections are
   retried with backoff and jitter, up to ``max_attempts`` and never past the deadline; anything else
   fails at once;
4. bookkeeping: metrics (calls, errors by reason, request latency, budget waits) and the health status.

Every failure leaves as a ``ProviderError`` (``ProviderTimeout`` for timeouts) carrying the provider and a
reason; httpx types stay in here and ``http.py``. All waiting is on trio's clock.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from actors import Clock
from bookstrack.config import ProviderConfig
from bookstrack.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from bookstrack.providers.budget import Budget
from bookstrack.providers.http import decode_json, describe, status_error, translate_errors
from bookstrack.providers.metrics import ProviderMetrics
from bookstrack.providers.retry import Backoff, parse_retry_after
from bookstrack.providers.singleflight import SingleFlight
from bookstrack.providers.status import ProviderStatus

__all__ = ["Upstream", "RETRYABLE", "MAX_REDIRECTS"]

# Reasons worth another attempt: the provider may answer next time. ("rejected" and "bad_response" would
# fail the same way again; "budget" already waited as long as the caller allowed.)
RETRYABLE = frozenset({"timeout", "unreachable", "http_5xx", "rate_limited"})
MAX_REDIRECTS = 3

Params = Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class _Spec:
    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    content: bytes | None
    headers: tuple[tuple[str, str], ...]
    not_found: bool
    what: str
    target: httpx.URL  # the URL with its query, parsed once per call (httpx parses a string on every use)


class _NotFound:
    """The endpoint answered 404 where that means "no such record"."""


_NOT_FOUND = _NotFound()


class Upstream:
    """The request pipeline of one provider (see the module docstring).

    ``params`` and ``headers`` are added to every request (Google's ``key``, ISBNdb's ``Authorization``);
    they are part of the request, never of a message or a metric.
    """

    def __init__(
        self,
        provider: str,
        settings: ProviderConfig,
        *,
        client: httpx.AsyncClient,
        budget: Budget,
        flights: SingleFlight,
        metrics: ProviderMetrics,
        status: ProviderStatus,
        clock: Clock,
        rng: random.Random | None = None,
        backoff: Backoff = Backoff(),
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.budget = budget
        self.status = status
        self._base = settings.base_url.rstrip("/")
        self._base_path = httpx.URL(self._base).path.rstrip("/")
        self._client = client
        self._flights = flights
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff = backoff
        self._params = tuple((k, str(v)) for k, v in (params or {}).items())
        self._headers = tuple((headers or {}).items())

    # -- the public surface of a provider client --------------------------------------------------

    async def get(self, path: str, params: Params | None = None, *, not_found: bool = False) -> Any:
        """GET ``path`` (appended to the base URL) and return its JSON; ``None`` on 404 if ``not_found``."""
        return await self.request("GET", path, params, not_found=not_found)

    async def post_form(self, path: str, body: str, params: Params | None = None) -> Any:
        """POST ``body`` (already ``application/x-www-form-urlencoded``) and return the JSON answer."""
        return await self.request(
            "POST", path, params, content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        not_found: bool = False,
    ) -> Any:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        url = self._base + path
        all_params = tuple((k, str(v)) for k, v in (params or {}).items()) + self._params
        spec = _Spec(
            method=method,
            url=url,
            params=all_params,
            content=content,
            headers=tuple((headers or {}).items()) + self._headers,
            not_found=not_found,
            what=f"{method} {self._base_path}{path}",
            target=httpx.URL(url, params=all_params) if all_params else httpx.URL(url),
        )
        key = (self.provider, spec.method, spec.url, spec.params, spec.content)
        if self._flights.in_flight(key):
            self._metrics.coalesced()
        result = await self._flights.do(key, lambda: self._call(spec))
        return None if result is _NOT_FOUND else result

    def unconfigured(self, secret: str) -> ProviderUnavailable:
        """The error for a call to a provider whose key is missing (counted; raise it)."""
        self._metrics.call("error")
        self._metrics.error("unconfigured")
        return ProviderUnavailable(
            f"{self.provider} is not configured: set {secret} to use it",
            provider=self.provider, reason="unconfigured",
        )

    # -- one call (shared by the callers of one flight) -------------------------------------------

    async def _call(self, spec: _Spec) -> Any:
        try:
            result = await self._attempts(spec)
        except ProviderError as error:
            self._metrics.call("error")
            self._metrics.error(error.reason or "unknown")
            self.status.failed(error)
            raise
        self._metrics.call("not_found" if result is _NOT_FOUND else "ok")
        self.status.succeeded()
        return result

    async def _attempts(self, spec: _Spec) -> Any:
        deadline = self._clock.monotonic() + self.settings.deadline
        previous: ProviderError | None = None
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return await self._attempt(spec, attempt, deadline)
            except ProviderError as error:
                if error.reason == "budget" and previous is not None:
                    # A retry that found no slot in time (the provider asked for a longer pause than we
                    # may wait): the provider's own refusal is the better answer.
                    raise previous from error
                if error.reason not in RETRYABLE or attempt == self.settings.max_attempts:
                    raise
                previous = error
            now = self._clock.monotonic()
            if self.budget.paused_until() > now:
                continue  # the provider asked for a pause: the next slot waits for it
            delay = self._backoff.delay(attempt, self._rng)
            if now + delay >= deadline:
                raise previous
            await trio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def _attempt(self, spec: _Spec, attempt: int, deadline: float) -> Any:
        request = self._client.build_request(spec.method, spec.target, content=spec.content, headers=spec.headers)
        for _hop in range(MAX_REDIRECTS + 1):
            response = await self._send(request, deadline)
            location = response.headers.get("location")
            if not (response.is_redirect and location and spec.method == "GET"):
                break
            target = request.url.join(location)
            if (target.scheme, target.host, target.port) != (request.url.scheme, request.url.host, request.url.port):
                raise ProviderError(
                    f"{self.provider} redirected {spec.what} to another host", provider=self.provider,
                    reason="bad_response", details={"status": response.status_code},
                )
            request = self._client.build_request("GET", target, headers=spec.headers)
        else:
            raise ProviderError(
                f"{self.provider} redirected {spec.what} more than {MAX_REDIRECTS} times", provider=self.provider,
                reason="bad_response",
            )
        return self._interpret(response, spec, attempt)

    async def _send(self, request: httpx.Request, deadline: float) -> httpx.Response:
        """One HTTP request with its budget slot and timeout; any failure as a ``ProviderError``."""
        now = self._clock.monotonic()
        waited = await self.budget.acquire(min(deadline, now + self.settings.budget_wait))
        self._metrics.budget_wait(waited, self.budget.used_today())
        started = self._clock.monotonic()
        # The timeout is ours (a cancel scope), so it holds for every transport, mock ones included;
        # httpx gets the same figure so that it gives up on the connection itself too.
        until = min(deadline, started + self.settings.timeout)
        what = describe(request)
        if until <= started:
            self._metrics.request(None, 0.0)
            raise ProviderTimeout(
                f"{self.provider} was out of time before {what}", provider=self.provider, reason="timeout"
            )
        request.extensions["timeout"] = httpx.Timeout(until - started).as_dict()
        response: httpx.Response | None = None
        try:
            with trio.move_on_at(until), translate_errors(self.provider, what):
                response = await self._client.send(request)
        finally:
            elapsed = self._clock.monotonic() - started
            self._metrics.request(None if response is None else response.status_code, elapsed)
        if response is None:
            raise ProviderTimeout(
                f"{self.provider} did not answer {what} within {until - started:.3g} s", provider=self.provider,
                reason="timeout",
            )
        return response

    def _interpret(self, response: httpx.Response, spec: _Spec, attempt: int) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            return decode_json(self.provider, response, spec.what)
        if status >= 400:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock.wall())
            if retry_after is None and status == 429:
                retry_after = self._backoff.delay(attempt, self._rng)
            if retry_after is not None:
                self.budget.pause(retry_after)
        if status == 404 and spec.not_found:
            return _NOT_FOUND
        raise status_error(self.provider, response, spec.what)
