"""Logging set-up: plain text for people, JSON lines for machines, and the access-log record.

Owns the format of every log line. The access log is one line per request (``bookstrack.access``),
emitted by the front-door middleware with structured fields; in JSON mode each field is a key (a value
JSON cannot hold is written as its ``str()``, so no line is ever dropped for its fields).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

__all__ = ["configure_logging", "JsonFormatter", "ACCESS_LOGGER"]

ACCESS_LOGGER = "bookstrack.access"

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_encoder = msgspec.json.Encoder(enc_hook=str)  # a field JSON cannot hold (a Path, an exception) as its str()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra={...}`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


def configure_logging(level: str = "INFO", fmt: str = "text", stream: Any = None) -> None:
    """Install one handler on the root logger (replacing earlier ones set up by this function)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._bookstrack = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_bookstrack", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
