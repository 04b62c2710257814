"""The fake upstream server: Google Books, Open Library, ISBNdb, Wikidata and Gemini on one port, each
under its own prefix, answering from the fixture catalogue, with fault injection and request counters.

Layout (``http://127.0.0.1:PORT`` + prefix + the provider's usual path)::

    /google       /books/v1/volumes?q=…, /books/v1/volumes/{id}
    /openlibrary  /search.json, /search/authors.json, /isbn/{isbn}.json (302 → /books/{id}.json),
                  /books/{id}.json, /works/{id}.json, /works/{id}/editions.json, /authors/{id}.json,
                  /authors/{id}/works.json, /api/books?bibkeys=…
    /isbndb       /book/{isbn}, POST /books, /books/{query}, /search/books, /author/{name}, /authors/{query}
    /wikidata     /w/api.php?action=wbsearchentities|wbgetentities, /wiki/Special:EntityData/{id}.json
    /gemini       POST /v1beta/models/{model}:generateContent (canned scans, CSV rows: upstreams/gemini.py)
    /covers       /b/{name}.png|.jpg, /redirect?to=…, /text, /lying.png, /huge.png (image proxy tests:
                  upstreams/covers.py; not a provider, so no base URL, but counted and faultable)

So a provider's ``base_url`` is ``http://127.0.0.1:PORT/google`` (and so on). The control API (not counted):

    GET  /_control               current fault settings
    POST /_control               {"provider"?, "latency_ms", "jitter_ms", "error_rate", "status",
                                  "retry_after", "timeout", "fail_next", "hang_next", "seed"} (null unsets)
    POST /_control/reset         {"faults"?: true, "requests"?: true}: clear settings and/or counters
    POST /_control/release       answer the requests held by a hang
    GET  /_control/requests      counts by provider, route and path; ?log=N adds the last N requests
    GET|POST /_control/gemini    Gemini's pinned answers: {"detections", "image_sha256"?, "rows",
                                  "answer_next", "count"?, "reset"?} (``Gemini.control``)

``FakeUpstream`` is the ASGI app (embed it, or drive ``.faults`` and ``.requests`` in-process);
``run_fake_upstream`` serves one on an ephemeral 127.0.0.1 port for a test; ``serve_fake_upstream`` is
what the ``bookstrack fake-upstream`` command runs.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import msgspec
import trio

from bookstrack.devtools.catalogue import Catalogue, load_catalogue
from bookstrack.devtools.faults import Faults, RecordedRequest, RequestLog
from bookstrack.devtools.http11 import serve_http11
from bookstrack.devtools.upstreams import (
    Gemini,
    GoogleBooks,
    Isbndb,
    OpenLibrary,
    Request,
    Response,
    Upstream,
    Wikidata,
)
from bookstrack.devtools.upstreams.covers import Covers

__all__ = [
    "ENV_NAMES",
    "FAKE_KEYS",
    "FakeUpstream",
    "RunningFakeUpstream",
    "is_loopback",
    "run_fake_upstream",
    "serve_fake_upstream",
    "wait_for_signal",
]

log = logging.getLogger("bookstrack.devtools.fake_upstream")

# config section name -> environment variable naming its base URL
ENV_NAMES = {
    "google_books": "BOOKSTRACK_PROVIDERS__GOOGLE_BOOKS__BASE_URL",
    "openlibrary": "BOOKSTRACK_PROVIDERS__OPENLIBRARY__BASE_URL",
    "isbndb": "BOOKSTRACK_PROVIDERS__ISBNDB__BASE_URL",
    "wikidata": "BOOKSTRACK_PROVIDERS__WIKIDATA__BASE_URL",
    "gemini": "BOOKSTRACK_PROVIDERS__GEMINI__BASE_URL",
}
# placeholder keys: the fake accepts any (ISBNdb needs one to be sent; BooksTrack skips keyless providers)
FAKE_KEYS = {
    "BOOKSTRACK_GOOGLE_BOOKS_API_KEY": "fake-google-key",
    "BOOKSTRACK_ISBNDB_API_KEY": "fake-isbndb-key",
    "BOOKSTRACK_GEMINI_API_KEY": "fake-gemini-key",
}
ALIASES = {"google": "google_books", "open_library": "openlibrary"}
_MAX_BODY = 20 << 20  # Gemini takes inline images in requests of up to 20 MB


class FakeUpstream:
    """The ASGI app. ``faults`` and ``requests`` may be driven directly when it runs in the same trio run."""

    def __init__(
        self,
        catalogue: Catalogue | None = None,
        *,
        latency_ms: float = 0.0,
        error_rate: float = 0.0,
        error_status: int = 503,
        seed: int = 0,
        google_key: str | None = None,
        isbndb_key: str | None = None,
        gemini_key: str | None = None,
        openlibrary_isbn_redirect: bool = True,
    ) -> None:
        self.catalogue = catalogue or load_catalogue()
        self.gemini = Gemini(self.catalogue, api_key=gemini_key)  # tests pin its answers: gemini.pin_detections
        upstreams: list[Upstream] = [
            GoogleBooks(self.catalogue, api_key=google_key),
            OpenLibrary(self.catalogue, isbn_redirect=openlibrary_isbn_redirect),
            Isbndb(self.catalogue, api_key=isbndb_key),
            Wikidata(self.catalogue),
            self.gemini,
        ]
        self.upstreams: dict[str, Upstream] = {u.name: u for u in upstreams}
        self.covers = Covers()  # cover images for the image proxy (not a provider: no base URL)
        self._by_prefix = {u.prefix: u for u in (*upstreams, self.covers)}
        self.faults = Faults((*self.upstreams, self.covers.name), seed=seed)
        self.faults.set(latency_ms=latency_ms, error_rate=error_rate, status=error_status)
        self.requests = RequestLog()

    def provider_name(self, name: str) -> str:
        """``google``, ``google_books``… → the config name; ``ValueError`` if unknown."""
        name = ALIASES.get(name, name)
        if name not in self.upstreams:
            raise ValueError(f"unknown provider {name!r} (one of {', '.join(self.upstreams)})")
        return name

    def base_urls(self, url: str) -> dict[str, str]:
        """Each provider's base URL when this app is served at ``url``."""
        return {name: f"{url.rstrip('/')}{u.prefix}" for name, u in self.upstreams.items()}

    # -- ASGI ----------------------------------------------------------------------------------------

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        body = await _read_body(receive)
        if body is None:
            await _send(send, Response(413, b'{"error":"body too large"}'))
            return
        query = parse_qs(scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if path == "/_control" or path.startswith("/_control/"):
            await _send(send, self._control(method, path, query, body))
            return
        prefix = "/" + path.split("/", 2)[1] if path.count("/") >= 1 else ""
        upstream = self._by_prefix.get(prefix)
        if upstream is None:
            await _send(send, Response(404, b'{"error":"unknown prefix"}'))
            return
        request = Request(method, path[len(prefix) :] or "/", query, headers, body)
        route, handler = upstream.resolve(request)
        arrived = trio.current_time()
        entry = RecordedRequest(arrived, upstream.name, route, method, request.path, query, headers, body)
        self.requests.record(entry)
        decision = self.faults.decide(upstream.name)
        if decision.action == "hang":
            entry.fault = "hang"
            await trio.sleep(decision.latency)
            if not await _hang(receive, self.faults):
                return  # the client gave up
        if decision.action == "error":
            entry.fault = "error"
            response = upstream.injected_error(decision.status)
            if decision.retry_after is not None:
                response.headers.append(("retry-after", decision.retry_after))
        else:
            response = handler()
        # The answer is made during the latency, not after it: a real upstream's own work is part of its
        # latency, and this one-threaded server would otherwise queue a burst of answers one behind the
        # other after a burst of requests, adding its CPU time to every client's wait.
        await trio.sleep_until(arrived + decision.latency)
        entry.status = response.status
        if method == "HEAD":
            response = Response(response.status, b"", response.content_type, response.headers)
        await _send(send, response)

    # -- the control API -----------------------------------------------------------------------------

    def _control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Response:
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return _json({"error": "body is not JSON"}, 400)
        if not isinstance(payload, dict):
            return _json({"error": "body must be a JSON object"}, 400)
        if path == "/_control" and method == "GET":
            return _json(self.faults.snapshot())
        if path == "/_control" and method == "POST":
            values = dict(payload)
            provider = values.pop("provider", None)
            seed = values.pop("seed", None)
            try:
                name = None if provider is None else self.provider_name(str(provider))
                if seed is not None:
                    if isinstance(seed, bool) or not isinstance(seed, int):
                        raise ValueError("seed must be an integer")
                    self.faults.seed(seed)
                self.faults.update(name, values)
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
            return _json(self.faults.snapshot())
        if path == "/_control/reset" and method == "POST":
            if payload.get("faults", True):
                self.faults.reset()
                self.gemini.reset()
            if payload.get("requests", True):
                self.requests.reset()
            return _json({"ok": True})
        if path == "/_control/release" and method == "POST":
            self.faults.release()
            return _json({"ok": True})
        if path == "/_control/gemini":
            return self.gemini.control(method, payload)
        if path == "/_control/requests" and method == "GET":
            try:
                count = int((query.get("log") or ["0"])[0] or 0)
            except ValueError:
                return _json({"error": "log must be an integer"}, 400)
            return _json(self.requests.snapshot(log=max(count, 0)))
        return _json({"error": f"no control route {method} {path}"}, 404)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(status, msgspec.json.encode(obj))


async def _lifespan(
    receive: Callable[[], Awaitable[dict[str, Any]]], send: Callable[[dict[str, Any]], Awaitable[None]]
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _hang(receive: Callable[[], Awaitable[dict[str, Any]]], faults: Faults) -> bool:
    """Hold the request until the client disconnects (False) or the faults release it (True)."""
    released = False
    async with trio.open_nursery() as nursery:

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            nursery.cancel_scope.cancel()

        async def until_released() -> None:
            nonlocal released
            await faults.hold()
            released = True
            nursery.cancel_scope.cancel()

        nursery.start_soon(until_disconnect)
        nursery.start_soon(until_released)
    return released


async def _send(send: Callable[[dict[str, Any]], Awaitable[None]], response: Response) -> None:
    headers = [(b"content-type", response.content_type.encode())]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):  # the client went away
        pass


# -- serving ------------------------------------------------------------------------------------------


async def wait_for_signal(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Return when SIGINT or SIGTERM arrives (the command's shutdown trigger)."""
    with trio.open_signal_receiver(*signals) as received:
        async for _ in received:
            return


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def serve_fake_upstream(
    app: FakeUpstream,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    graceful_timeout: float = 0.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` (``http11.py``: a lean HTTP/1.1 server, so that the fake is not the bottleneck of a
    benchmark) until ``shutdown_trigger`` returns (or forever); ``task_status.started`` receives the bound
    URLs. Open connections are cut after ``graceful_timeout`` (default: at once)."""
    await serve_http11(
        app, host=host, port=port, shutdown_trigger=shutdown_trigger, graceful_timeout=graceful_timeout,
        task_status=task_status,
    )


@dataclass
class RunningFakeUpstream:
    """A served ``FakeUpstream``: where it is, and its controls."""

    app: FakeUpstream
    url: str  # http://127.0.0.1:PORT

    @property
    def base_urls(self) -> dict[str, str]:
        """Config section name (``google_books``, ``openlibrary``, ``isbndb``, ``wikidata``, ``gemini``) → base
        URL."""
        return self.app.base_urls(self.url)

    @property
    def faults(self) -> Faults:
        return self.app.faults

    @property
    def requests(self) -> RequestLog:
        return self.app.requests

    @property
    def catalogue(self) -> Catalogue:
        return self.app.catalogue

    @property
    def gemini(self) -> Gemini:
        return self.app.gemini

    def env(self, *, keys: bool = True) -> dict[str, str]:
        """Environment variables pointing BooksTrack at this server (with placeholder keys)."""
        out = {ENV_NAMES[name]: url for name, url in self.base_urls.items()}
        return {**out, **FAKE_KEYS} if keys else out

    def config_overrides(self) -> dict[str, Any]:
        """``load_config(overrides=…)`` for the base URLs (keys come from ``env``: they are secrets)."""
        return {"providers": {name: {"base_url": url} for name, url in self.base_urls.items()}}


@asynccontextmanager
async def run_fake_upstream(
    app: FakeUpstream | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **settings: Any,
) -> AsyncIterator[RunningFakeUpstream]:
    """Serve ``app`` (or ``FakeUpstream(**settings)``) on ``host``:``port`` (default an ephemeral
    127.0.0.1 port) in a nursery of the caller's task until the block ends; held requests are released
    and open connections cut on the way out."""
    app = app if app is not None else FakeUpstream(**settings)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve_fake_upstream, app, host=host, port=port, shutdown_trigger=shutdown.wait)
        )
        try:
            yield RunningFakeUpstream(app, urls[0])
        finally:
            app.faults.release()
            shutdown.set()
