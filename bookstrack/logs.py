"""Logging set-up: plain text for people, JSON lines for machines.

Owns the format of every log line: ``TextFormatter`` (``<local time> LEVEL logger: message``) and
``JsonFormatter`` (one object per line: time, level, logger, message and any ``extra`` fields; a value
JSON cannot hold is written as its ``str()``, so no line is ever dropped for its fields). Each formatter
can also render a line from plain values (``line``), which the batched access log uses instead of
building a ``LogRecord`` per request.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

__all__ = ["configure_logging", "JsonFormatter", "TextFormatter", "ACCESS_LOGGER"]

ACCESS_LOGGER = "bookstrack.access"

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_encoder = msgspec.json.Encoder(enc_hook=str)  # a field JSON cannot hold (a Path, an exception) as its str()


class _SecondCache:
    """``strftime`` of one second, remembered: most lines of a busy second share it."""

    def __init__(self, fmt: str, convert: Any) -> None:
        self._fmt = fmt
        self._convert = convert
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime(self._fmt, self._convert(second))
        return self._text


class TextFormatter(logging.Formatter):
    """``2026-11-29 21:18:15,869 INFO bookstrack: message`` (local time, as logging's default)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._stamp = _SecondCache("%Y-%m-%d %H:%M:%S", time.localtime)

    def line(self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
        return f"{self._stamp(created)},{int((created % 1) * 1000):03d} {level} {logger}: {message}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra={...}`` fields."""

    def __init__(self) -> None:
        super().__init__()
        self._stamp = _SecondCache("%Y-%m-%dT%H:%M:%S", time.gmtime)

    def line(self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
        entry: dict[str, Any] = {
            "time": f"{self._stamp(created)}.{int((created % 1) * 1000):03d}Z",
            "level": level,
            "logger": logger,
            "message": message,
            **fields,
        }
        return _encoder.encode(entry).decode()

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)


QUIET_LIBRARIES = ("httpx", "httpcore")


def configure_logging(level: str = "INFO", fmt: str = "text", stream: Any = None) -> None:
    """Install one handler on the root logger (replacing earlier ones set up by this function)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._bookstrack = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_bookstrack", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO with its full URL, query included: Google Books' API key would reach
    # the logs, and a batch of 100 ISBNs would write 100 lines on its critical path. Our own provider
    # metrics and errors (``describe``: method and path only) say what is needed.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
