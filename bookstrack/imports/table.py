"""Text to records with the stdlib ``csv`` module: the delimiter, line numbers, and damage that must not
raise.

Handled: comma, tab or semicolon (whichever is most frequent outside quotes on the first non-blank line;
comma on a tie); CRLF, LF and lone-CR line ends; quoted fields with delimiters, newlines and ``""``
escapes. Records whose cells are all blank (empty lines, ``,,,,`` lines) are dropped. A record the
``csv`` module rejects (a field over its size limit) becomes a ``Record`` with an ``error``. An unclosed
quote makes ``csv`` swallow the rest of the file into one field: such a record (it runs to the end of the
text, still inside a quoted field) becomes an error ("unclosed quote"), and the lines after
its first are read again, so one stray quote costs one row, not the rest of the file.

Padding short rows and ignoring extra cells is the reader's business (it knows the header).
"""

from __future__ import annotations

import csv
import io
from typing import Final, NamedTuple

__all__ = ["Record", "Table", "detect_delimiter", "read_table"]

DELIMITERS: Final = (",", "\t", ";")


class Record(NamedTuple):
    """One record: its cells, or ``None`` and the reason it could not be read."""

    line: int  # physical line (1-based) where it starts
    cells: list[str] | None
    error: str | None = None


class Table(NamedTuple):
    delimiter: str
    records: list[Record]


def detect_delimiter(line: str) -> str:
    """The delimiter most frequent outside double quotes in ``line`` (comma, tab, semicolon; comma on a tie)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # first of equals wins: comma
    return best if counts[best] else ","


def _blank(cells: list[str]) -> bool:
    return not "".join(cells).strip()


def _ends_inside_quotes(lines: list[str], delimiter: str) -> bool:
    """Whether the record in ``lines`` (the last of the text) ends inside a quoted field: only a strict
    reader tells that apart from a stray literal quote (``5" ruler``)."""
    if '"' not in "".join(lines):
        return False
    try:
        list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _read(lines: list[str], first: int, delimiter: str, out: list[Record]) -> None:
    """Append the records of ``lines`` (``lines[0]`` is physical line ``first``) to ``out``."""
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    consumed = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            out.append(Record(first + consumed, None, f"Unreadable row: {exc}"))
            consumed = reader.line_num
            continue
        start, consumed = consumed, reader.line_num
        if not cells or _blank(cells):
            continue
        if consumed == len(lines) and _ends_inside_quotes(lines[start:], delimiter):
            out.append(Record(first + start, None, "Unreadable row: unclosed quote"))
            _read(lines[start + 1 :], first + start + 1, delimiter, out)
            return
        out.append(Record(first + start, cells))


def read_table(text: str) -> Table:
    """The records of ``text`` in file order (blank ones dropped), with the delimiter they were split on."""
    lines = io.StringIO(text, newline="").readlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = detect_delimiter(first)
    records: list[Record] = []
    _read(lines, 1, delimiter, records)
    return Table(delimiter, records)
