"""The ``bookstrack`` command: ``serve`` today; ``search``, ``import``, ``jobs``, ``fake-upstream`` and
``bench`` join as their issues land.

Owns argument parsing and turning a bad config into one clear line on stderr (exit 2), never a trace.
"""

from __future__ import annotations

import argparse
import sys

import trio

from bookstrack.config import load_config
from bookstrack.errors import ConfigError
from bookstrack.logs import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bookstrack", description="BooksTrack book-metadata backend")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    serve.add_argument("--config", default=None, help="path to config.toml (default: built-in defaults)")
    serve.add_argument("--host", default=None, help="bind address (overrides [server] host)")
    serve.add_argument("--port", type=int, default=None, help="port (overrides [server] port; 0 = any free)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"bookstrack: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(config.log.level, config.log.format)
    if args.command == "serve":
        from bookstrack.app import create_app
        from bookstrack.server import hypercorn_config, serve

        try:
            app = create_app(config)
        except ConfigError as exc:
            print(f"bookstrack: {exc.message}", file=sys.stderr)
            return 2
        trio.run(serve, app, hypercorn_config(config, host=args.host, port=args.port))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
