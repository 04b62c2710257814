"""``GET /images/proxy`` and ``GET /covers/{isbn}`` on the real server, with the fake upstream's cover host.

With the default ``[images]`` settings the proxy refuses loopback, metadata and unlisted hosts before any
request leaves; the default-settings cases that need an upstream (a redirect to a private address, a
non-image, an oversized body) run with the app's fetcher given a fake resolver (allow-listed names →
public or private addresses) and a connector that reaches the fake upstream on 127.0.0.1 in plain text:
every rule is the shipped one, only DNS and TLS are stood in for. With API.md §6's test settings the
fake's cover is fetched over http from 127.0.0.1, stored in the blob store and served from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpcore
import httpx
import msgspec

from bookstrack.covers import CoverFetcher, CoverMeta, CoverProxy, url_key
from bookstrack.devtools import RunningFakeUpstream, run_fake_upstream
from bookstrack.devtools.upstreams.covers import png_bytes

TEST_SETTINGS = {"images": {"allowed_schemes": ["https", "http"], "allowed_hosts": ["127.0.0.1"],
                            "allow_private_addresses": True}}
DNS = {"covers.openlibrary.org": ["93.184.216.34"], "images.isbndb.com": ["10.0.0.7"]}


class _PlainText(httpcore.AsyncNetworkStream):
    """A connection to the fake whose ``start_tls`` is a no-op (the fake speaks plain HTTP)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:  # noqa: ASYNC109
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class ToFake(httpcore.AsyncNetworkBackend):
    """Connects every (vetted) address to the fake upstream; records the addresses asked for."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[str] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        self.asked.append(host)
        return _PlainText(await httpcore.TrioBackend().connect_tcp("127.0.0.1", self.port, timeout=timeout))


async def fake_dns(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(host)
    return DNS[host]


@asynccontextmanager
async def proxy_server(
    start_server: Any, **overrides: Any
) -> AsyncIterator[tuple[Any, RunningFakeUpstream, httpx.AsyncClient]]:
    async with run_fake_upstream() as fake, start_server(overrides=overrides) as server:
        async with server.client() as client:
            yield server, fake, client


def fake_dns_and_tls(server: Any, fake: RunningFakeUpstream) -> ToFake:
    """Give the app's proxy the fake resolver and the plain-text connector (default rules otherwise)."""
    connector = ToFake(int(fake.url.rsplit(":", 1)[1]))
    services = server.app.services
    fetcher = CoverFetcher(services.config.images, resolve=fake_dns, connector=connector)
    services.covers = CoverProxy(services.config.images, services.blobs, services.clock, fetcher=fetcher)
    return connector


def text_of(response: httpx.Response) -> tuple[int, str, str]:
    return response.status_code, response.headers["content-type"], response.text


TEXT = "text/plain; charset=utf-8"


# -- default settings: refusals -------------------------------------------------------------------------


async def test_with_defaults_loopback_metadata_and_unlisted_hosts_are_refused(start_server):
    async with proxy_server(start_server) as (_, fake, client):
        for url in (f"{fake.url}/covers/b/a.png", "http://127.0.0.1/covers/b/a.png",
                    "https://169.254.169.254/latest/meta-data/", "https://evil.example.com/a.png",
                    "https://[::1]/a.png"):
            response = await client.get("/images/proxy", params={"url": url})
            assert text_of(response) == (403, TEXT, "Domain not allowed"), url
        response = await client.get("/images/proxy", params={"url": "ftp://books.google.com/a.png"})
        assert text_of(response) == (403, TEXT, "URL scheme not allowed")
        assert text_of(await client.get("/images/proxy")) == (400, TEXT, "Missing url parameter")
        assert text_of(await client.get("/images/proxy", params={"url": "::nonsense"})) == (400, TEXT, "Invalid URL")
        assert fake.requests.count() == 0


async def test_with_defaults_a_redirect_to_a_private_address_is_refused(start_server):
    async with proxy_server(start_server) as (server, fake, client):
        connector = fake_dns_and_tls(server, fake)
        target = "https://images.isbndb.com/covers/b/a.png"
        url = f"https://covers.openlibrary.org/covers/redirect?to={target}"
        response = await client.get("/images/proxy", params={"url": url})
        assert text_of(response) == (
            403, TEXT, "Redirect refused: Address not allowed: images.isbndb.com resolves to a private address"
        )
        assert connector.asked == ["93.184.216.34"]  # never 10.0.0.7
        assert fake.requests.count(provider="covers") == 1
        to_loopback = "https://covers.openlibrary.org/covers/redirect?to=http://127.0.0.1/covers/b/a.png"
        response = await client.get("/images/proxy", params={"url": to_loopback})
        assert text_of(response) == (403, TEXT, "Redirect refused: Domain not allowed")
        direct = await client.get("/images/proxy", params={"url": target})
        assert text_of(direct) == (403, TEXT, "Address not allowed: images.isbndb.com resolves to a private address")
        assert await server.app.services.blobs.list("covers/") == []


async def test_with_defaults_non_images_and_oversized_bodies_are_refused(start_server):
    async with proxy_server(start_server) as (server, fake, client):
        fake_dns_and_tls(server, fake)
        base = "https://covers.openlibrary.org/covers"
        for path in ("/text", "/lying.png"):
            response = await client.get("/images/proxy", params={"url": base + path})
            assert text_of(response) == (502, TEXT, "Not an image"), path
        response = await client.get("/images/proxy", params={"url": base + "/huge.png"})
        assert text_of(response) == (502, TEXT, "Image too large (limit 5242880 bytes)")
        response = await client.get("/images/proxy", params={"url": base + "/missing.png"})
        assert text_of(response) == (502, TEXT, "Failed to fetch image")
        # and the same path serves a real image under the default rules
        ok = await client.get("/images/proxy", params={"url": base + "/b/default.png"})
        assert (ok.status_code, ok.content) == (200, png_bytes("default"))
        stats = server.app.services.covers.stats()
        assert (stats.failed, stats.fetched, stats.refused) == (4, 1, 0)


# -- test settings: serving and caching -----------------------------------------------------------------


async def test_an_allowed_cover_is_fetched_once_then_served_from_the_blob_store(start_server):
    async with proxy_server(start_server, **TEST_SETTINGS) as (server, fake, client):
        url = f"{fake.url}/covers/b/dune.png?id=7&zoom=1"
        first = await client.get("/images/proxy", params={"url": url, "size": "small"})
        assert first.status_code == 200
        assert first.content == png_bytes("dune")
        assert first.headers["content-type"] == "image/png"
        assert first.headers["cache-control"] == "public, max-age=2592000, immutable"
        assert first.headers["x-cache-status"] == "MISS"
        assert first.headers["x-content-type-options"] == "nosniff"
        assert (first.headers["cf-image-width"], first.headers["cf-image-height"]) == ("128", "192")
        etag = first.headers["etag"]
        [recorded] = fake.requests.log(provider="covers")
        assert recorded.query == {"id": ["7"], "zoom": ["1"]}  # the query string is kept
        assert recorded.headers["user-agent"] == "BooksTrack/3.0 (book-cover-proxy)"

        second = await client.get("/images/proxy", params={"url": url})
        assert (second.status_code, second.content, second.headers["etag"]) == (200, first.content, etag)
        assert second.headers["x-cache-status"] == "HIT"
        assert second.headers["cf-image-width"] == "256"  # no size: medium
        assert fake.requests.count(provider="covers") == 1

        not_modified = await client.get("/images/proxy", params={"url": url}, headers={"If-None-Match": etag})
        assert (not_modified.status_code, not_modified.content) == (304, b"")
        assert not_modified.headers["etag"] == etag
        weak = await client.get("/images/proxy", params={"url": url}, headers={"If-None-Match": f'"x", W/{etag}'})
        assert weak.status_code == 304
        other_query = await client.get("/images/proxy", params={"url": url.replace("id=7", "id=8")})
        assert other_query.status_code == 200
        assert fake.requests.count(provider="covers") == 2  # a different query is a different cover

        blobs = server.app.services.blobs
        stored = await blobs.get(url_key(url))
        assert stored is not None
        assert (stored.content_type, f'"{stored.etag}"') == ("image/png", etag)
        meta = await server.app.services.covers.meta(url)
        assert isinstance(meta, CoverMeta)
        assert (meta.url, meta.final_url, meta.size, meta.etag) == (url, url, len(first.content), stored.etag)
        assert meta.fetched_at[:10] == server.app.services.clock.iso()[:10]
        assert await server.app.services.covers.cached_count() == 2
        assert msgspec.structs.asdict(server.app.services.covers.stats()) == {
            "requests": 5, "cache_hits": 3, "fetched": 2, "fetched_bytes": 2 * len(first.content), "refused": 0,
            "failed": 0, "harvested_served": 0, "harvested_missing": 0, "in_flight": 0,
        }


async def test_redirects_are_followed_and_limited(start_server):
    async with proxy_server(start_server, **TEST_SETTINGS) as (_, fake, client):
        target = f"{fake.url}/covers/b/moved.jpg"
        response = await client.get("/images/proxy", params={"url": f"{fake.url}/covers/redirect?to={target}"})
        assert (response.status_code, response.headers["content-type"]) == (200, "image/jpeg")
        assert fake.requests.count(provider="covers") == 2
    async with proxy_server(start_server, images={**TEST_SETTINGS["images"], "max_redirects": 0}) as (_, fake, client):
        response = await client.get("/images/proxy", params={"url": f"{fake.url}/covers/redirect?to=/covers/b/x.png"})
        assert text_of(response) == (502, TEXT, "Failed to fetch image: too many redirects")


# -- harvested covers -----------------------------------------------------------------------------------


async def test_harvested_covers_are_served_from_the_store(start_server):
    async with start_server() as server, server.client() as client:
        png = png_bytes("harvested")
        await server.app.services.blobs.put("covers/isbn/9780306406157", png, "image/png")
        for isbn in ("9780306406157", "0-306-40615-2"):
            response = await client.get(f"/covers/{isbn}")
            assert (response.status_code, response.content, response.headers["content-type"]) == (200, png, "image/png")
            assert response.headers["cache-control"] == "public, max-age=2592000, immutable"
        etag = response.headers["etag"]
        assert (await client.get("/covers/9780306406157", headers={"If-None-Match": etag})).status_code == 304
        assert text_of(await client.get("/covers/9780141036144")) == (404, TEXT, "Cover not found")
        assert text_of(await client.get("/covers/12345")) == (400, TEXT, "Invalid ISBN")
