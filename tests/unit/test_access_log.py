"""The access log: one line per request, batched, in the configured format."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bookstrack.access_log import AccessLog
from bookstrack.logs import configure_logging


def _configured(fmt: str):
    root = logging.getLogger()
    before = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in before[0]:
        root.addHandler(handler)
    root.setLevel(before[1])


@pytest.fixture
def json_stream():
    yield from _configured("json")


@pytest.fixture
def text_stream():
    yield from _configured("text")


def test_text_lines_look_like_every_other_text_log_line(text_stream):
    log = AccessLog(batch=1)
    log.record("GET", "/health", "/health", 200, 0.00042, "req-1", "127.0.0.1")
    logging.getLogger("bookstrack.test").info("an ordinary line")
    access, ordinary = text_stream.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" INFO bookstrack\.access: GET /health 200 0\.4ms", access)
    assert re.fullmatch(stamp + r" INFO bookstrack\.test: an ordinary line", ordinary)


def test_lines_are_written_in_batches_as_json_with_their_fields(json_stream):
    log = AccessLog(batch=3)
    log.record("GET", "/health", "/health", 200, 0.00042, "req-1", "127.0.0.1")
    log.record("POST", "/x", "unmatched", 404, 0.001, "req-2", None)
    assert json_stream.getvalue() == ""  # nothing on the request path until a batch is full

    log.record("GET", "/health", "/health", 503, 0.002, "req-3", "127.0.0.2")
    lines = json_stream.getvalue().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["logger"] == "bookstrack.access"
    assert first["message"] == "GET /health 200 0.4ms"
    assert {k: first[k] for k in ("method", "path", "route", "status", "request_id", "client")} == {
        "method": "GET", "path": "/health", "route": "/health", "status": 200, "request_id": "req-1",
        "client": "127.0.0.1",
    }
    assert first["duration_ms"] == 0.42
    assert [json.loads(line)["request_id"] for line in lines] == ["req-1", "req-2", "req-3"]

    log.record("GET", "/a", "unmatched", 404, 0.0, "req-4", None)
    log.flush()
    assert json.loads(json_stream.getvalue().splitlines()[-1])["request_id"] == "req-4"


def test_a_disabled_log_writes_nothing(json_stream):
    log = AccessLog(enabled=False, batch=1)
    log.record("GET", "/health", "/health", 200, 0.001, "req-1", None)
    log.flush()
    assert json_stream.getvalue() == ""


def test_without_the_configured_handler_records_go_through_logging(caplog):
    log = AccessLog(batch=1)
    with caplog.at_level(logging.INFO, logger="bookstrack.access"):
        log.record("GET", "/health", "/health", 200, 0.001, "req-9", "127.0.0.1")
    (record,) = [r for r in caplog.records if r.name == "bookstrack.access"]
    assert record.getMessage() == "GET /health 200 1.0ms"
    assert record.request_id == "req-9"
