"""The baseline server: a bare Quart-trio app answering ``/health`` with the same JSON bytes as ours.

``python -m bench.bare_app --port P [--config bench/bench.toml] [--body-file FILE] [--hold-back-disconnect]``

No front door, no routing wrapper, no services, no access log: one route returning pre-encoded bytes, served
by Hypercorn with exactly our settings (``bookstrack.server.hypercorn_config`` on the same config) and our
interpreter tuning (``bookstrack.server.SERVER_TUNING``). The body is read from ``--body-file`` (the benchmark
fetches it once from our server) or, without one, built here with the same ``HealthReport`` our health monitor
encodes (database "ok").
``--hold-back-disconnect`` adds the one thing every response of ours does that the bare app does not
(see ``hold_back_disconnect``).
It prints "Running on http://127.0.0.1:PORT" on stderr once bound, so ``--port 0`` works; SIGINT or
SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import quart
import trio
from quart_trio import QuartTrio

from bookstrack.config import Config, load_config
from bookstrack.health import ENDPOINTS, KEYED_PROVIDERS, PROVIDERS, Checks, HealthReport
from bookstrack.logs import configure_logging
from bookstrack.server import SERVER_TUNING, hypercorn_config, serve
from bookstrack.web.middleware import FinalDisconnect

__all__ = ["create_bare_app", "health_body", "hold_back_disconnect", "main"]

DEFAULT_CONFIG = Path(__file__).with_name("bench.toml")


def health_body(config: Config) -> bytes:
    """What our monitor encodes when the database check passes, for this config's secrets."""
    from bookstrack import __version__

    providers = {
        name: "unconfigured"
        if name in KEYED_PROVIDERS and not getattr(config.secrets, KEYED_PROVIDERS[name])
        else "ok"
        for name in PROVIDERS
    }
    report = HealthReport(
        status="ok", worker="api-worker", version=__version__, endpoints=ENDPOINTS,
        checks=Checks(database="ok", providers=providers),  # type: ignore[arg-type]
    )
    return msgspec.json.encode(report)


def create_bare_app(body: bytes) -> QuartTrio:
    app = QuartTrio(__name__)

    @app.route("/health")
    async def health() -> quart.Response:
        return quart.Response(body, status=200, content_type="application/json")

    return app


def hold_back_disconnect(app: Any) -> Any:
    """Wrap an ASGI app so that a disconnect arriving during the last body message's send is held back
    until that send has returned.

    Nothing else: this is the minimum decision 0010 gives every response of ours, with the front door's own
    ``FinalDisconnect``. Without it, Quart-trio cancels the request when Hypercorn hands it
    ``http.disconnect`` from inside the last send, which cuts Hypercorn's end of the exchange short (the
    connection is not marked idle again, and now and then a ``BusyResourceError`` is logged): cheaper, but
    not what a correct server may do, so this variant is the fairer baseline.
    """

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        final = FinalDisconnect()

        async def send_marked(message: dict[str, Any]) -> None:
            if final.is_last(message):
                await final.send_last(send, message)
            else:
                await send(message)

        await app(scope, partial(final.receive, receive), send_marked)

    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (see the 'Running on' line)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="the config whose [server] values we copy")
    parser.add_argument("--body-file", default=None, help="serve these bytes (default: built from HealthReport)")
    parser.add_argument("--hold-back-disconnect", action="store_true",
                        help="finish each exchange as ours does (decision 0010)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    configure_logging(config.log.level, config.log.format)  # as ``bookstrack serve`` does (Hypercorn logs here)
    body = Path(args.body_file).read_bytes() if args.body_file else health_body(config)
    app = create_bare_app(body)
    if args.hold_back_disconnect:
        app.asgi_app = hold_back_disconnect(app.asgi_app)  # type: ignore[method-assign]
    # Same Hypercorn settings as ``bookstrack serve`` (its access log is off there too).
    hc = hypercorn_config(config, port=args.port)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            # ``bookstrack serve``'s interpreter tuning too: a baseline on CPython's defaults would credit
            # ours with what is only a collector setting.
            urls = await nursery.start(partial(serve, app, hc, tuning=SERVER_TUNING))
            print(f"bare_app: Running on {' '.join(urls)}", file=sys.stderr, flush=True)

    trio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
