"""Logging: JSON lines with the extra fields, plain text for people, one handler however often configured."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bookstrack.logs import ACCESS_LOGGER, JsonFormatter, configure_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def record(message: str = "hello %s", args: tuple = ("world",), **extra) -> logging.LogRecord:
    rec = logging.LogRecord("bookstrack.test", logging.WARNING, __file__, 10, message, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_formatter_emits_one_object_per_line_with_extra_fields():
    line = JsonFormatter().format(record(method="GET", status=200, duration_ms=1.25, request_id="abc"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "bookstrack.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert (entry["method"], entry["status"], entry["duration_ms"], entry["request_id"]) == ("GET", 200, 1.25, "abc")
    # the LogRecord's own attributes are not repeated as fields
    for standard in ("args", "msg", "levelno", "pathname", "lineno", "created", "msecs", "process"):
        assert standard not in entry
    assert line == json.dumps(entry, separators=(",", ":"), ensure_ascii=False)  # compact


def test_json_formatter_keeps_newlines_inside_one_line():
    line = JsonFormatter().format(record("two\nlines", ()))
    assert "\n" not in line
    assert json.loads(line)["message"] == "two\nlines"


def test_json_formatter_includes_the_exception():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = record("failed", ())
        rec.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exception"]
    assert "Traceback" in entry["exception"]


def test_configure_logging_json_writes_json_lines(restore_root_logger):
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger(ACCESS_LOGGER).info("GET /health 200", extra={"route": "/health", "status": 200})
    logging.getLogger("bookstrack.x").debug("hidden at INFO")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert (entry["logger"], entry["route"], entry["status"]) == (ACCESS_LOGGER, "/health", 200)


def test_httpx_request_lines_never_reach_the_log(restore_root_logger):
    # httpx logs each request's full URL at INFO: a Google Books key in the query would be written out.
    stream = io.StringIO()
    configure_logging("DEBUG", "text", stream=stream)
    logging.getLogger("httpx").info('HTTP Request: GET https://example.test/v?key=secret "HTTP/1.1 200 OK"')
    logging.getLogger("httpcore.http11").debug("send_request_headers.started")
    logging.getLogger("httpx").warning("kept")
    assert "secret" not in stream.getvalue()
    assert "send_request_headers" not in stream.getvalue()
    assert "kept" in stream.getvalue()


def test_configure_logging_text_and_replacing_its_own_handler(restore_root_logger):
    first, second = io.StringIO(), io.StringIO()
    configure_logging("WARNING", "text", stream=first)
    configure_logging("WARNING", "text", stream=second)  # replaces, does not add
    logging.getLogger("bookstrack.x").warning("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
    assert "WARNING bookstrack.x: once" in second.getvalue()
    assert logging.getLogger().level == logging.WARNING


def test_json_formatter_survives_fields_json_cannot_hold():
    from pathlib import Path

    class Opaque:
        def __str__(self) -> str:
            return "opaque-thing"

    line = JsonFormatter().format(record(path=Path("/tmp/x"), thing=Opaque(), error=ValueError("bad")))
    entry = json.loads(line)
    assert entry["path"] == "/tmp/x"
    assert entry["thing"] == "opaque-thing"
    assert entry["error"] == "bad"
