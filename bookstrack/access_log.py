"""The access log: one line per HTTP request, written in batches off the request path.

Owns the cost of logging on the hot path. A request appends one small tuple (well under a
microsecond); the lines are built and written later, either when ``batch`` entries are waiting or by
``run``'s timer, in one write to the stream of the handler that ``configure_logging`` installed, by
that handler's formatter from plain values (text or JSON lines, with the fields as keys), without a
``LogRecord`` per line. Without such a handler (tests
capturing logs, an embedding application) each record goes through ``logging`` as usual. Lines may
reach the log up to ``interval`` seconds late; ``flush`` on shutdown writes the rest.
"""

from __future__ import annotations

import logging
import time

import trio

from bookstrack.logs import ACCESS_LOGGER, JsonFormatter, TextFormatter

__all__ = ["AccessLog"]

_logger = logging.getLogger(ACCESS_LOGGER)

Entry = tuple[float, str, str, str, int, float, str, str | None]


class AccessLog:
    def __init__(self, *, enabled: bool = True, batch: int = 64, interval: float = 0.25) -> None:
        self.enabled = enabled
        self._batch = batch
        self._interval = interval
        self._pending: list[Entry] = []

    def record(
        self, method: str, path: str, route: str, status: int, seconds: float, request_id: str, client: str | None
    ) -> None:
        if not self.enabled:
            return
        self._pending.append((time.time(), method, path, route, status, seconds, request_id, client))
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        entries, self._pending = self._pending, []
        if not entries or not _logger.isEnabledFor(logging.INFO):
            return
        handler = _bookstrack_handler()
        formatter = handler.formatter if handler is not None else None
        if not isinstance(formatter, (TextFormatter, JsonFormatter)) or _logger.handlers or not _logger.propagate:
            for entry in entries:
                _logger.handle(_record(entry))
            return
        assert handler is not None
        text = "".join(_line(formatter, entry) + handler.terminator for entry in entries)
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        except Exception:
            handler.handleError(_record(entries[0]))
        finally:
            handler.release()

    async def run(self) -> None:
        """Flush every ``interval`` seconds until cancelled, then flush what is left."""
        try:
            while True:
                await trio.sleep(self._interval)
                self.flush()
        finally:
            self.flush()


def _line(formatter: TextFormatter | JsonFormatter, entry: Entry) -> str:
    created, method, path, route, status, seconds, request_id, client = entry
    message = f"{method} {path} {status} {seconds * 1000:.1f}ms"
    fields = {
        "method": method, "path": path, "route": route, "status": status,
        "duration_ms": round(seconds * 1000, 2), "request_id": request_id, "client": client,
    }
    return formatter.line(created, "INFO", ACCESS_LOGGER, message, fields)


def _record(entry: Entry) -> logging.LogRecord:
    created, method, path, route, status, seconds, request_id, client = entry
    record = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 0, "%s %s %d %.1fms", (method, path, status, seconds * 1000), None
    )
    record.created = created
    record.msecs = (created - int(created)) * 1000
    record.method = method
    record.path = path
    record.route = route
    record.status = status
    record.duration_ms = round(seconds * 1000, 2)
    record.request_id = request_id
    record.client = client
    return record


def _bookstrack_handler() -> logging.StreamHandler | None:  # type: ignore[type-arg]
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_bookstrack", False) and isinstance(handler, logging.StreamHandler):
            return handler
    return None
