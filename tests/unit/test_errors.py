"""The error tree: stable unique codes, statuses by branch, every code documented in docs/errors.md, and
each error drawn in the body families (web/envelope.py)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import msgspec
import pytest

import bookstrack
from actors import Clock
from bookstrack.errors import (
    BookstrackError,
    ClientError,
    ConfigError,
    InternalError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
)
from bookstrack.web.envelope import Family, error_body, error_response

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(\d{3})\s*\|")


def _import_everything() -> None:
    """Import every bookstrack module, so subclasses declared anywhere are registered."""
    for module in pkgutil.walk_packages(bookstrack.__path__, "bookstrack."):
        if module.name not in {"bookstrack.__main__"}:
            importlib.import_module(module.name)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def concrete_errors() -> list[type[BookstrackError]]:
    """Subclasses that declare their own code (ClientError and ServerError are branches, not errors)."""
    _import_everything()
    return [cls for cls in _subclasses(BookstrackError) if "code" in vars(cls)]


def documented() -> dict[str, int]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is listed twice in docs/errors.md"
            rows[match.group(1)] = int(match.group(2))
    return rows


def test_the_known_errors_are_found():
    names = {cls.__name__ for cls in concrete_errors()}
    assert {"InvalidRequest", "NotFound", "PayloadTooLarge", "RateLimited", "InternalError", "ConfigError"} <= names


def test_every_code_is_unique():
    codes: dict[str, str] = {}
    for cls in concrete_errors():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", cls.code), cls
        assert cls.code not in codes, f"{cls.__name__} reuses {cls.code} of {codes.get(cls.code)}"
        codes[cls.code] = cls.__name__


def test_every_code_is_listed_in_docs_errors_md_with_its_status():
    rows = documented()
    for cls in concrete_errors():
        assert cls.code in rows, f"{cls.code} ({cls.__name__}) is missing from docs/errors.md"
        assert rows[cls.code] == cls.status, f"docs/errors.md gives {cls.code} status {rows[cls.code]}"
    # and the table lists nothing that does not exist
    assert set(rows) == {cls.code for cls in concrete_errors()}


def test_statuses_follow_the_branch():
    for cls in concrete_errors():
        if issubclass(cls, ClientError):
            assert 400 <= cls.status < 500, cls
        if issubclass(cls, ServerError):
            assert 500 <= cls.status < 600, cls


def test_the_families_pinned_by_the_error_itself():
    assert PayloadTooLarge.family == "middleware"
    assert RateLimited.family == "middleware"
    for cls in (InvalidRequest, NotFound, InternalError):
        assert cls.family is None  # drawn in the route's family


def test_message_details_and_headers():
    error = InvalidRequest("Bad field", details={"field": "jobId"}, headers={"X-A": "1"})
    assert error.message == "Bad field"
    assert str(error) == "INVALID_REQUEST: Bad field"
    assert error.details == {"field": "jobId"}
    assert error.headers == {"X-A": "1"}
    assert InvalidRequest("x").headers == {}
    assert PayloadTooLarge.for_limit(1024).details == {"limit": 1024}
    assert "1024" in PayloadTooLarge.for_limit(1024).message


def test_config_error_is_never_a_client_error():
    assert not issubclass(ConfigError, ClientError)
    assert ConfigError("x").code == "CONFIG_ERROR"


# -- drawn in the families -------------------------------------------------------------------------

def clock() -> Clock:
    return Clock(epoch=1_700_000_000.0)  # anchored in the running trio.run at first use


async def test_envelope_family():
    body, headers = error_body(NotFound("No such job", details={"jobId": "j1"}), Family.ENVELOPE, clock())
    decoded = msgspec.json.decode(body)
    assert decoded == {
        "data": None,
        "metadata": {"timestamp": "2023-11-14T22:13:20.000Z"},
        "error": {"message": "No such job", "code": "NOT_FOUND", "details": {"jobId": "j1"}},
    }
    assert headers == {}
    # without details the key is omitted
    body, _ = error_body(NotFound("gone"), Family.ENVELOPE, clock())
    assert "details" not in msgspec.json.decode(body)["error"]


@pytest.mark.parametrize("family", [Family.LEGACY, Family.RAW])
async def test_legacy_family_and_raw_routes_errors(family):
    body, headers = error_body(InvalidRequest("Missing jobId"), family, clock())
    assert body == b'{"success":false,"error":{"code":"INVALID_REQUEST","message":"Missing jobId"}}'
    assert headers == {"X-Error-Type": "INVALID_REQUEST"}


@pytest.mark.parametrize("family", list(Family))
async def test_middleware_errors_ignore_the_route_family(family):
    body, headers = error_body(PayloadTooLarge.for_limit(10), family, clock())
    assert msgspec.json.decode(body) == {
        "error": "Request body too large. Maximum 10 bytes allowed.",
        "code": "PAYLOAD_TOO_LARGE",
        "details": {"limit": 10},
    }
    assert "X-Error-Type" not in headers


async def test_text_family_and_response_status():
    response = error_response(NotFound("nothing"), Family.TEXT, clock())
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert await response.get_data() == b"nothing"
    response = error_response(RateLimited("slow down", headers={"Retry-After": "3"}), Family.ENVELOPE, clock())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.mimetype == "application/json"
