"""Downloading one cover image for the harvest, inside the budget of the provider that hosts it.

Owns the rules of a harvest download: ``https`` only, only the hosts of ``[harvest] cover_hosts``, each
mapped to the provider whose request ``Budget`` the download spends (Open Library's covers spend Open
Library's slots; ISBNdb's image host ISBNdb's); no redirects followed; a 2xx ``image/*`` answer of at
most ``max_cover_bytes`` (read as a stream and abandoned past the cap). A provider whose day is already
``budget_share`` spent is not asked: the harvest is optional work and leaves the rest of the day to
searches. Failures leave as ``CoverRefused`` (nothing fetched: a rule said no) or ``ProviderError`` (the
download failed; ``reason="budget"`` when no slot was free); httpx's types are translated at the
boundary by ``providers.http.translate_errors``.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import msgspec
import trio

from actors import Clock
from bookstrack.config import HarvestConfig
from bookstrack.errors import ProviderError
from bookstrack.providers.budget import Budget
from bookstrack.providers.http import translate_errors

__all__ = ["CoverFetcher", "CoverRefused", "FetchedCover", "USER_AGENT"]

USER_AGENT = "BooksTrack-Harvest/1.0"


class CoverRefused(Exception):
    """The URL or the answer breaks a rule (host, scheme, type, size); ``reason`` says which."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class FetchedCover(msgspec.Struct, frozen=True):
    data: bytes
    content_type: str
    provider: str


class CoverFetcher:
    def __init__(
        self, client: httpx.AsyncClient, budgets: Mapping[str, Budget], config: HarvestConfig, clock: Clock
    ) -> None:
        self._client = client
        self._budgets = budgets
        self._config = config
        self._clock = clock

    def provider_of(self, url: str) -> str:
        """The provider whose budget a download of ``url`` spends; ``CoverRefused`` if it may not be fetched."""
        try:
            parsed = httpx.URL(url)
        except (TypeError, ValueError) as exc:  # httpx.InvalidURL is a ValueError
            raise CoverRefused(f"not a URL: {url!r}", reason="bad_url") from exc
        if parsed.scheme != "https":
            raise CoverRefused(f"only https covers are fetched: {url!r}", reason="scheme")
        provider = self._config.cover_hosts.get(parsed.host)
        if provider is None or provider not in self._budgets:
            raise CoverRefused(f"{parsed.host!r} is not a cover host", reason="host")
        return provider

    def spent(self, provider: str) -> bool:
        """Whether ``provider`` has used ``budget_share`` of its day (no daily cap: never)."""
        budget = self._budgets[provider]
        return bool(budget.per_day) and budget.used_today() >= self._config.budget_share * budget.per_day

    async def fetch(self, url: str) -> FetchedCover:
        provider = self.provider_of(url)
        if self.spent(provider):
            raise ProviderError(
                f"{provider} was not called: the harvest's share of its daily budget is spent",
                provider=provider, reason="budget",
            )
        budget = self._budgets[provider]
        now = self._clock.monotonic()
        await budget.acquire(now + self._config.timeout)
        cap = self._config.max_cover_bytes
        what = "GET cover"
        body = bytearray()
        content_type = ""
        status = 0
        with trio.move_on_after(self._config.timeout) as scope, translate_errors(provider, what):
            async with self._client.stream(
                "GET", url, headers={"Accept": "image/*", "User-Agent": USER_AGENT}
            ) as response:
                status = response.status_code
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if 200 <= status < 300 and content_type.startswith("image/"):
                    declared = response.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) > cap:
                        raise CoverRefused(f"cover is {declared} bytes, over {cap}", reason="too_large")
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > cap:
                            raise CoverRefused(f"cover is over {cap} bytes", reason="too_large")
        if scope.cancelled_caught:
            raise ProviderError(f"{provider} did not send the cover in time", provider=provider, reason="timeout")
        if not 200 <= status < 300:
            raise ProviderError(
                f"{provider} answered the cover request with HTTP {status}", provider=provider,
                reason="http_5xx" if status >= 500 else "rejected", details={"status": status},
            )
        if not content_type.startswith("image/"):
            raise CoverRefused(f"not an image: {content_type or 'no content type'}", reason="not_image")
        if not body:
            raise CoverRefused("empty cover", reason="empty")
        return FetchedCover(bytes(body), content_type, provider)
