"""Vetted fetching of one cover image: the URL policy, the address check at connect time, redirects
followed by hand, a size cap while streaming, ``image/*`` only.

Owns the one place the proxy touches the network. A fetch runs on httpx's engine (an
``httpcore.AsyncConnectionPool`` per fetch, no proxies from the environment, one shared SSL context) with
a network backend of ours, ``VettingBackend``: it resolves the host itself, refuses the connection if
*any* resolved address is not public unicast (``addresses.py``; unless ``allow_private_addresses``), and
connects to the vetted address. TLS is then started by httpcore with the URL's host as SNI and for the
certificate check, and the ``Host`` header is the URL's. There is no second resolution between the check
and the connect, so DNS rebinding cannot slip a private address in (decision 0027).

Redirects are not followed by the engine: each ``Location`` is resolved against the current URL and
checked again (scheme, host allow-list, then the addresses at connect), at most ``max_redirects`` times.
The whole fetch (DNS, connects, redirects, body) runs under ``[images] timeout``.

It must not cache, nor know about routes: it returns a ``FetchedImage`` or raises ``InvalidImageUrl``
(400), ``ImageRefused`` (403) or ``ImageFetchFailed`` (502). Like ``providers/http.py`` for the
providers, it is the boundary where httpx/httpcore exceptions become ours: none escapes it.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx
import msgspec
import trio

from bookstrack.config import ImagesConfig
from bookstrack.covers.addresses import parse_address, refusal_reason
from bookstrack.covers.formats import sniff
from bookstrack.errors import ImageFetchFailed, ImageRefused, InvalidImageUrl

__all__ = [
    "CoverFetcher",
    "FetchedImage",
    "Resolver",
    "UrlPolicy",
    "VettingBackend",
    "system_resolve",
    "MISSING_URL",
    "INVALID_URL",
    "DOMAIN_NOT_ALLOWED",
    "SCHEME_NOT_ALLOWED",
    "FETCH_FAILED",
    "NOT_AN_IMAGE",
    "REDIRECT_REFUSED",
]

log = logging.getLogger("bookstrack.covers")

# The reference's texts (§3.14) and ours for the refusals it did not have.
MISSING_URL = "Missing url parameter"
INVALID_URL = "Invalid URL"
DOMAIN_NOT_ALLOWED = "Domain not allowed"
SCHEME_NOT_ALLOWED = "URL scheme not allowed"
FETCH_FAILED = "Failed to fetch image"
NOT_AN_IMAGE = "Not an image"
REDIRECT_REFUSED = "Redirect refused: "

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ACCEPT = b"image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1"

Resolver = Callable[[str, int], Awaitable[list[str]]]  # host, port -> addresses as text


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the OS resolver, on a worker thread), first-seen order."""
    infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class FetchedImage(msgspec.Struct, frozen=True, kw_only=True):
    url: str  # the URL asked for (normalised)
    final_url: str  # where the bytes came from, after redirects
    content_type: str  # sniffed from the bytes, one of formats.SERVED_TYPES
    data: bytes
    upstream_etag: str | None = None
    redirects: int = 0


class UrlPolicy:
    """Which URLs may be fetched: parse and normalise, then check scheme and host (``[images]``)."""

    def __init__(self, config: ImagesConfig) -> None:
        self.schemes = frozenset(config.allowed_schemes)
        hosts = [h.strip().lower().rstrip(".") for h in config.allowed_hosts if h.strip()]
        self.exact = frozenset(h for h in hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))  # "*.x.org" -> ".x.org"

    def parse(self, raw: str | None) -> httpx.URL:
        """``raw`` as a normalised absolute URL, or ``InvalidImageUrl`` (400). Not yet checked."""
        if raw is None or not raw.strip():
            raise InvalidImageUrl(MISSING_URL)
        try:
            url = httpx.URL(raw.strip())
        except (httpx.InvalidURL, ValueError, TypeError):
            raise InvalidImageUrl(INVALID_URL) from None
        return self.normalise(url)

    def normalise(self, url: httpx.URL) -> httpx.URL:
        """Lower-case host without a trailing dot, no fragment; ``InvalidImageUrl`` without a host or with user info."""
        if not url.is_absolute_url or not url.raw_host or url.userinfo:
            raise InvalidImageUrl(INVALID_URL)
        try:
            host = url.raw_host.decode("ascii").lower().rstrip(".")
            url = url.copy_with(host=host, fragment=None)  # the query stays: Google's covers need it
        except (httpx.InvalidURL, UnicodeDecodeError, ValueError):
            raise InvalidImageUrl(INVALID_URL) from None
        return url

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.exact or any(host.endswith(suffix) for suffix in self.suffixes)

    def check(self, url: httpx.URL, *, prefix: str = "") -> httpx.URL:
        """The URL to fetch (http upgraded to https when only https is allowed), or ``ImageRefused`` (403)."""
        scheme = url.scheme
        if scheme == "http" and "http" not in self.schemes and "https" in self.schemes:
            url, scheme = url.copy_with(scheme="https"), "https"  # as the original did (reference §3.14)
        if scheme not in self.schemes:
            raise ImageRefused(prefix + SCHEME_NOT_ALLOWED)
        if not self.host_allowed(url.raw_host.decode("ascii")):
            raise ImageRefused(prefix + DOMAIN_NOT_ALLOWED)
        return url

    def resolve(self, raw: str | None) -> httpx.URL:
        """``parse`` then ``check``: the normalised URL to fetch and to key the cache on."""
        return self.check(self.parse(raw))


class _AddressRefused(Exception):
    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"Address not allowed: {host} resolves to a {reason} address")


class _Unresolved(Exception):
    def __init__(self, host: str) -> None:
        super().__init__(f"{host} does not resolve")


class VettingBackend(httpcore.AsyncNetworkBackend):
    """Resolve, vet every address, connect to a vetted one (module docstring). ``connector`` makes the
    TCP connection to an address (default: httpcore's trio backend); tests replace it and ``resolve``."""

    def __init__(
        self,
        resolve: Resolver,
        *,
        allow_private: bool,
        connector: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._resolve = resolve
        self._allow_private = allow_private
        self._connector = connector or httpcore.TrioBackend()
        self.connected: list[tuple[str, str, int]] = []  # (host, address, port) of each connection made

    async def vetted(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` to connect to; raises if any of them is not public (unless allowed)."""
        try:
            texts = [str(parse_address(host))]  # an address literal is not resolved
        except ValueError:
            try:
                texts = await self._resolve(host, port)
            except OSError:
                raise _Unresolved(host) from None
        if not texts:
            raise _Unresolved(host)
        addresses = []
        for text in texts:
            try:
                address = parse_address(text)
            except ValueError:
                raise _AddressRefused(host, "malformed") from None
            reason = refusal_reason(address)
            if reason is not None and not self._allow_private:
                raise _AddressRefused(host, reason)
            addresses.append(str(address))
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in await self.vetted(host, port):
            try:
                stream = await self._connector.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            self.connected.append((host, address, port))
            return stream
        assert last is not None
        raise last

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


class CoverFetcher:
    """Fetches one image under the ``[images]`` rules. ``resolve`` and ``connector`` are for tests."""

    def __init__(
        self,
        config: ImagesConfig,
        *,
        resolve: Resolver | None = None,
        connector: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.config = config
        self.policy = UrlPolicy(config)
        self._resolve = resolve or system_resolve
        self._connector = connector
        self._ssl: ssl.SSLContext | None = None  # built on first use: loading the CA bundle takes milliseconds

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def fetch(self, url: httpx.URL) -> FetchedImage:
        """Fetch ``url`` (already through ``policy.resolve``) within ``[images] timeout``."""
        result: FetchedImage | None = None
        with trio.move_on_after(self.config.timeout):
            result = await self._fetch(url)
        if result is None:
            raise ImageFetchFailed(f"{FETCH_FAILED}: timed out")
        return result

    async def _fetch(self, url: httpx.URL) -> FetchedImage:
        backend = VettingBackend(
            self._resolve, allow_private=self.config.allow_private_addresses, connector=self._connector
        )
        headers = [(b"User-Agent", self.config.user_agent.encode("latin-1", "replace")), (b"Accept", _ACCEPT)]
        pool = httpcore.AsyncConnectionPool(
            ssl_context=self._ssl_context(), network_backend=backend, max_connections=2, retries=0
        )
        current = url
        async with pool:
            for hop in range(self.config.max_redirects + 1):
                prefix = REDIRECT_REFUSED if hop else ""
                try:
                    async with pool.stream("GET", str(current), headers=headers) as response:
                        if response.status in _REDIRECTS:
                            current = self._next(current, response, prefix=REDIRECT_REFUSED)
                            await _drain(response)  # so that the connection can be used again
                            continue
                        return await self._read(url, current, response, hop)
                except _AddressRefused as exc:
                    raise ImageRefused(prefix + str(exc)) from None
                except _Unresolved as exc:
                    raise ImageFetchFailed(f"{FETCH_FAILED}: {exc}") from None
                except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                        httpcore.UnsupportedProtocol, httpcore.ConnectionNotAvailable, OSError) as exc:
                    log.info("cover fetch %s failed: %s: %s", _shown(current), type(exc).__name__, exc)
                    raise ImageFetchFailed(FETCH_FAILED) from None
        raise ImageFetchFailed(f"{FETCH_FAILED}: too many redirects")

    def _next(self, current: httpx.URL, response: httpcore.Response, *, prefix: str) -> httpx.URL:
        location = _header(response, b"location")
        if not location:
            raise ImageFetchFailed(f"{FETCH_FAILED}: redirect without a Location")
        try:
            target = self.policy.normalise(current.join(location))
        except (httpx.InvalidURL, InvalidImageUrl, ValueError):
            raise ImageFetchFailed(f"{FETCH_FAILED}: redirect to an invalid URL") from None
        return self.policy.check(target, prefix=prefix)

    async def _read(self, url: httpx.URL, current: httpx.URL, response: httpcore.Response, hops: int) -> FetchedImage:
        if response.status != 200:
            log.info("cover fetch %s answered HTTP %d", _shown(current), response.status)
            raise ImageFetchFailed(FETCH_FAILED)
        declared = _header(response, b"content-type").split(";", 1)[0].strip().lower()
        if not declared.startswith("image/"):
            raise ImageFetchFailed(NOT_AN_IMAGE)
        limit = self.config.max_bytes
        too_large = ImageFetchFailed(f"Image too large (limit {limit} bytes)")
        length = _header(response, b"content-length")
        if length.isdigit() and int(length) > limit:
            raise too_large
        body = bytearray()
        async for chunk in response.aiter_stream():
            body += chunk
            if len(body) > limit:
                raise too_large
        content_type = sniff(bytes(body[:16]))
        if content_type is None:
            raise ImageFetchFailed(NOT_AN_IMAGE)
        return FetchedImage(
            url=str(url), final_url=str(current), content_type=content_type, data=bytes(body),
            upstream_etag=_header(response, b"etag") or None, redirects=hops,
        )



async def _drain(response: httpcore.Response, limit: int = 64 * 1024) -> None:
    """Read a redirect's (small) body to its end; a large one is left (its connection is then closed)."""
    read = 0
    async for chunk in response.aiter_stream():
        read += len(chunk)
        if read > limit:
            return

def _header(response: httpcore.Response, name: bytes) -> str:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return ""


def _shown(url: httpx.URL) -> str:
    """Scheme, host and path only: a query may carry a key."""
    return f"{url.scheme}://{url.host}{url.path}"
