"""What a format module provides: a score for a header and a row reader built for that header.

A reader is built once per file (column positions resolved up front) and then called per row with the
cells padded to ``Columns.width + 1``; it returns an ``ImportRow`` whose title may be ``""`` (the parse
loop turns that into a "No title" error). Readers do not raise on cell contents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from bookstrack.imports.columns import Columns
from bookstrack.imports.model import Format, ImportRow

__all__ = ["FormatSpec", "RowReader", "signature_score"]

RowReader = Callable[[list[str], int, int], ImportRow]  # (cells, row, line) -> ImportRow


class FormatSpec(NamedTuple):
    name: Format
    score: Callable[[Columns], int]  # 0: not this format; higher: a better match
    make_reader: Callable[[Columns, list[list[str]]], RowReader]  # (columns, all data rows' cells)


def signature_score(columns: Columns, required: frozenset[str], distinctive: frozenset[str], minimum: int) -> int:
    """0 unless every ``required`` column and at least ``minimum`` ``distinctive`` ones are present; then the
    number of the format's columns present (so the most specific format wins)."""
    if not all(name in columns for name in required):
        return 0
    hits = columns.count(distinctive)
    return len(required) + hits if hits >= minimum else 0
