"""The ``bookstrack`` command: ``serve``, ``import`` and ``fake-upstream``.

Owns argument parsing and turning a bad config into one clear line on stderr (exit 2), never a trace:
that covers what only start-up finds out (a database written by a newer release); an address that
cannot be bound or a storage path that cannot be written is one line too (exit 1).
"""

from __future__ import annotations

import argparse
import errno
import sys
from functools import partial
from typing import TypeVar

import trio

from bookstrack.config import Config, load_config
from bookstrack.errors import ConfigError
from bookstrack.logs import configure_logging

__all__ = ["main"]

E = TypeVar("E", bound=BaseException)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bookstrack", description="BooksTrack book-metadata backend")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    serve.add_argument("--config", default=None, help="path to config.toml (default: built-in defaults)")
    serve.add_argument("--host", default=None, help="bind address (overrides [server] host)")
    serve.add_argument("--port", type=int, default=None, help="port (overrides [server] port; 0 = any free)")
    imp = sub.add_parser("import", help="import a library export (Goodreads, StoryGraph, LibraryThing, Calibre, CSV)")
    imp.add_argument("file", help="the export file")
    imp.add_argument("--format", default="auto",
                     choices=["auto", "goodreads", "storygraph", "librarything", "calibre", "generic"],
                     help="the export's layout (default: recognised from its header)")
    imp.add_argument("--report", default=None, help="where to write the per-row report (default: FILE.report.csv)")
    imp.add_argument("--config", default=None, help="path to config.toml (default: built-in defaults)")
    fake = sub.add_parser(
        "fake-upstream", help="run the fake Google Books / Open Library / ISBNdb / Wikidata / Gemini server"
    )
    fake.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    fake.add_argument("--port", type=int, default=8788, help="port (default 8788; 0 = any free)")
    fake.add_argument("--latency-ms", type=float, default=0.0, help="delay every answer by N ms")
    fake.add_argument("--error-rate", type=float, default=0.0, help="answer this fraction of requests with 503")
    fake.add_argument("--seed", type=int, default=0, help="seed of the error-rate draws")
    fake.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fake-upstream":  # a development tool: no configuration file, no database
        return _fake_upstream(args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(exc.message, 2)
    configure_logging(config.log.level, config.log.format)
    if args.command == "serve":
        return _serve(config, args)
    if args.command == "import":
        return _import(config, args)
    return 0


def _import(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bookstrack.import_command import run_import

    path = Path(args.file)
    if not path.is_file():
        return _fail(f"no such file: {path}", 2)
    report = Path(args.report) if args.report else None
    return trio.run(partial(run_import, config, path, format=args.format, report=report))


def _serve(config: Config, args: argparse.Namespace) -> int:
    from bookstrack.app import create_app
    from bookstrack.server import SERVER_TUNING, hypercorn_config, serve

    try:
        app = create_app(config)
    except ConfigError as exc:
        return _fail(exc.message, 2)
    hc = hypercorn_config(config, host=args.host, port=args.port)
    try:
        trio.run(partial(serve, app, hc, tuning=SERVER_TUNING))
    except Exception as exc:
        # A configuration the server cannot start with (a database from a newer release, a storage
        # path it may not write, an address it cannot bind) is one line, not a trace.
        cause = app.startup_error
        if isinstance(cause, ConfigError):
            return _fail(cause.message, 2)
        if isinstance(cause, OSError):
            return _fail(f"cannot start: {cause}", 1)
        bind_error = _find(exc, OSError)
        if bind_error is not None and bind_error.errno in _BIND_ERRORS:
            return _fail(f"cannot listen on {', '.join(hc.bind)}: {bind_error.strerror}", 1)
        raise
    return 0


_BIND_ERRORS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}


def _fake_upstream(args: argparse.Namespace) -> int:
    from bookstrack.devtools.fake_upstream import (
        ENV_NAMES,
        FAKE_KEYS,
        FakeUpstream,
        is_loopback,
        serve_fake_upstream,
        wait_for_signal,
    )

    if not is_loopback(args.host) and not args.allow_remote:
        return _fail(f"refusing to listen on {args.host}: not a loopback address (add --allow-remote to allow it)", 2)
    if args.latency_ms < 0 or not 0 <= args.error_rate <= 1:
        return _fail("--latency-ms must be >= 0 and --error-rate from 0 to 1", 2)
    configure_logging("INFO", "text")
    app = FakeUpstream(latency_ms=args.latency_ms, error_rate=args.error_rate, seed=args.seed)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(serve_fake_upstream, app, host=args.host, port=args.port, shutdown_trigger=wait_for_signal)
            )
            base = urls[0]
            lines = [f"# BooksTrack fake upstream on {base} (control API: {base}/_control). Configure with:"]
            lines += [f"{ENV_NAMES[name]}={url}" for name, url in app.base_urls(base).items()]
            lines += [f"{name}={value}" for name, value in FAKE_KEYS.items()]
            print("\n".join(lines), flush=True)

    try:
        trio.run(run)
    except Exception as exc:
        bind_error = _find(exc, OSError)
        if bind_error is not None and bind_error.errno in _BIND_ERRORS:
            return _fail(f"cannot listen on {args.host}:{args.port}: {bind_error.strerror}", 1)
        raise
    return 0


def _find(exc: BaseException, kind: type[E]) -> E | None:
    """The first ``kind`` among ``exc`` and, through exception groups, its leaves."""
    if isinstance(exc, kind):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _find(inner, kind)
        if found is not None:
            return found
    return None


def _fail(message: str, code: int) -> int:
    print(f"bookstrack: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
