"""Reading one cell: spreadsheet wrappers, dates, numbers, ratings, lists, names, reading statuses.

Every function takes the raw cell text and returns ``None`` (or an empty list) for what it cannot read;
none raises. Dates come back as ISO ``YYYY-MM-DD``: year-first dates with ``-``, ``/`` or ``.`` (an
optional time part is ignored), and day-month-year or month-day-year only when one of the first two parts
is over 12 (``25/12/2020``, ``12/25/2020``); ``03/04/2020`` is ambiguous and reads as ``None``.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

from bookstrack.imports.model import Status

__all__ = [
    "flip_name",
    "parse_date",
    "parse_int",
    "parse_rating",
    "parse_status",
    "parse_year",
    "split_list",
    "split_top_level",
    "text",
    "unwrap",
    "yes_no",
]

_YEAR_FIRST: Final = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d])")
_YEAR_LAST: Final = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?![\d])")
_YEAR: Final = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_INT: Final = re.compile(r"\d[\d,]*(?:\.0*)?")
_SUFFIXES: Final = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "phd", "ph.d.", "md", "m.d."})

_STATUSES: Final[dict[str, Status]] = {}
for _status, _words in (
    ("read", ("read", "finished", "completed", "complete", "done", "read but unowned")),
    ("currently-reading", ("currently reading", "reading", "current", "in progress", "started", "paused",
                           "on hold")),
    ("to-read", ("to read", "want to read", "tbr", "wishlist", "wish list", "planned", "plan to read",
                 "unread", "to be read")),
    ("did-not-finish", ("did not finish", "dnf", "abandoned", "dropped", "gave up", "unfinished",
                        "not finished")),
):
    for _word in _words:
        _STATUSES[_word] = _status  # type: ignore[assignment]


def text(cell: str) -> str | None:
    """The trimmed cell, or ``None`` when blank."""
    cell = cell.strip()
    return cell or None


def unwrap(cell: str) -> str:
    """A cell without the spreadsheet text wrapper Goodreads writes: ``="0439023483"`` → ``0439023483``."""
    cell = cell.strip()
    if cell.startswith('="') and cell.endswith('"') and len(cell) >= 3:
        return cell[2:-1].strip()
    if cell.startswith("=") and cell[1:].strip().isdigit():
        return cell[1:].strip()
    return cell


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        return None


def parse_date(cell: str) -> str | None:
    """An ISO date from ``2023/01/15``, ``2023-01-15T10:00:00+00:00``, ``25/12/2020`` …; ``None`` otherwise."""
    cell = cell.strip()
    if not cell:
        return None
    m = _YEAR_FIRST.match(cell)
    if m:
        return _iso(int(m[1]), int(m[2]), int(m[3]))
    m = _YEAR_LAST.match(cell)
    if m:
        first, second, year = int(m[1]), int(m[2]), int(m[3])
        if first > 12 >= second:
            return _iso(year, second, first)
        if second > 12 >= first:
            return _iso(year, first, second)
    return None


def parse_int(cell: str) -> int | None:
    """A non-negative whole number: ``320``, ``320.0``, ``1,024``; ``None`` otherwise."""
    cell = cell.strip()
    if cell.isdigit():
        return int(cell)
    if _INT.fullmatch(cell):
        return int(cell.split(".")[0].replace(",", ""))
    return None


def parse_year(cell: str) -> int | None:
    """The first four-digit year in the cell (``1995``, ``c1995``, ``2005-06-01T…``); years before 1000 (calibre's
    "undefined" date is year 101) and after 2999 read as ``None``."""
    m = _YEAR.search(cell)
    if m is None:
        return None
    year = int(m[1])
    return year if 1000 <= year <= 2999 else None


def parse_rating(cell: str, scale: float = 5.0) -> tuple[int | None, float | None]:
    """``(whole stars, stars as given)`` from a rating out of ``scale``; 0, blank and out-of-range read as
    unrated. A fractional rating rounds half up (4.5 → 5) for the whole stars."""
    cell = cell.strip()
    if not cell:
        return None, None
    try:
        value = float(cell.replace(",", "."))
    except ValueError:
        return None, None
    if not 0 < value <= scale:  # also rejects nan
        return None, None
    stars = value * 5.0 / scale
    return max(1, min(5, int(stars + 0.5))), stars


def parse_status(cell: str) -> Status | None:
    """A reading status from a shelf or status word (``read``, ``Currently Reading``, ``dnf``, ``paused``)."""
    key = " ".join(cell.replace("-", " ").replace("_", " ").casefold().split())
    return _STATUSES.get(key)


def split_list(cell: str, sep: str = ",") -> list[str]:
    """The non-blank trimmed items of a separated list."""
    if not cell:
        return []
    return [item for item in (part.strip() for part in cell.split(sep)) if item]


def split_top_level(cell: str, sep: str = ",") -> list[str]:
    """Like ``split_list`` but not splitting inside parentheses: ``A (Editor, Translator), B``."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(cell):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            items.append(cell[start:i])
            start = i + 1
    items.append(cell[start:])
    return [item for item in (part.strip() for part in items) if item]


def _east_asian(name: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in name)


def flip_name(name: str) -> str:
    """``"Last, First"`` as ``"First Last"`` (``"King, Martin Luther, Jr."`` → ``"Martin Luther King Jr."``);
    a name without exactly that shape is returned trimmed. Chinese, Japanese and Korean names keep the
    family name first, as written in those languages: ``"村上, 春樹"`` → ``"村上春樹"`` (Korean with a space)."""
    parts = [part.strip() for part in name.split(",")]
    if len(parts) == 2 and parts[0] and parts[1] and _east_asian(name):
        korean = any("\uac00" <= ch <= "\ud7af" for ch in name)
        return f"{parts[0]} {parts[1]}" if korean else parts[0] + parts[1]
    if len(parts) == 3 and parts[2].casefold() in _SUFFIXES:
        return f"{parts[1]} {parts[0]} {parts[2]}" if parts[1] else name.strip()
    if len(parts) == 2 and parts[0] and parts[1]:
        return f"{parts[1]} {parts[0]}"
    return name.strip()


def yes_no(cell: str) -> bool | None:
    """``Yes``/``No``-like cells; a positive number counts as yes (Goodreads' "Owned Copies")."""
    key = cell.strip().casefold()
    if key in ("yes", "y", "true", "1", "owned", "x"):
        return True
    if key in ("no", "n", "false", "0"):
        return False
    if key.isdigit():
        return int(key) > 0
    return None
