"""Which format a table is in, from its header, or from the shape of its rows when the header is lost.

By header (first record): every format module scores the normalized column names (required columns plus
enough distinctive ones; extra columns, case, a BOM and quoting do not matter) and the highest score wins;
``generic`` only when no specific format matched, and only if some column is a title alias.

Without a header, one shape is recognised: a Goodreads export whose header line was lost (typically cut
off in a spreadsheet). The first ten readable records are checked; all of them (all but one, from three
records on) must have 23 or more cells with a numeric ``Book Id`` first, a non-blank title second, ISBN
cells (positions 6 and 7) that are blank, ``="…"``, up to 13 digits (``X`` allowed), ``….0`` or scientific
notation, ``My Rating`` 0–5, ``Average Rating`` blank or a decimal, ``Date Read`` and ``Date Added`` blank
or date-like (``YYYY/MM/DD``, ``YYYY-MM-DD``, ``M/D/YYYY``), and an ``Exclusive Shelf`` that is one
shelf-like word. Records of 31 cells or more are read with the pre-2020 31-column header.

Anything else raises ``UnknownLayout`` naming the columns seen.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from bookstrack.imports.columns import Columns
from bookstrack.imports.errors import UnknownLayout
from bookstrack.imports.formats import SPECS, FormatSpec
from bookstrack.imports.formats.generic import ALIASES
from bookstrack.imports.formats.goodreads import HEADER, HEADER_2019
from bookstrack.imports.table import Record

__all__ = ["Layout", "detect", "looks_like_headerless_goodreads"]

_ISBN_CELL: Final = re.compile(r'|="[\dXx]*"|[\dXx]{1,13}(?:\.0+)?|\d+(?:[.,]\d*)?[eE]\+?\d{1,2}')
_AVERAGE: Final = re.compile(r"|\d(?:[.,]\d+)?")
_DATE_LIKE: Final = re.compile(r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}.*|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}.*")
_SHELF: Final = re.compile(r"[\w-]+")
_SAMPLE: Final = 10


class Layout(NamedTuple):
    spec: FormatSpec
    columns: Columns
    start: int  # index of the first data record
    headerless: bool


def _goodreads_record(cells: list[str]) -> bool:
    if len(cells) < 23:
        return False
    cell = [c.strip() for c in cells[:19]]
    return bool(
        cell[0].isdigit()
        and cell[1]
        and _ISBN_CELL.fullmatch(cell[5])
        and _ISBN_CELL.fullmatch(cell[6])
        and cell[7] in ("0", "1", "2", "3", "4", "5")
        and _AVERAGE.fullmatch(cell[8])
        and _DATE_LIKE.fullmatch(cell[14])
        and _DATE_LIKE.fullmatch(cell[15])
        and _SHELF.fullmatch(cell[18])
    )


def looks_like_headerless_goodreads(records: list[Record]) -> bool:
    """Whether the first readable records have the shape of Goodreads data rows (module docstring)."""
    sample = [r.cells for r in records if r.cells is not None][:_SAMPLE]
    if not sample:
        return False
    misses = sum(not _goodreads_record(cells) for cells in sample)
    return misses == 0 or (len(sample) >= 3 and misses <= 1 and _goodreads_record(sample[0]))


def _headerless(records: list[Record]) -> Layout:
    sample = [r.cells for r in records if r.cells is not None][:_SAMPLE]
    wide = sum(len(cells) >= 31 for cells in sample) * 2 > len(sample)
    return Layout(SPECS["goodreads"], Columns(list(HEADER_2019 if wide else HEADER)), 0, True)


def _has_title(spec: FormatSpec, columns: Columns) -> bool:
    if spec.name == "generic":
        return columns.pick_compact(ALIASES["title"]) != columns.MISSING
    return "title" in columns


def _describe(records: list[Record], delimiter: str) -> str:
    first = records[0]
    if first.cells is None:
        return f"the first line ({first.line}) cannot be read: {first.error}"
    shown = ", ".join(repr(c[:40]) for c in first.cells[:8]) + (", …" if len(first.cells) > 8 else "")
    return f"{len(first.cells)} columns split on {delimiter!r}, first line: {shown}"


def detect(records: list[Record], format: str = "auto", delimiter: str = ",") -> Layout:
    """The layout of a non-empty list of records: ``format`` is ``"auto"`` or a name in ``SPECS``."""
    header = records[0].cells
    columns = Columns(header) if header is not None else None
    if format != "auto":
        spec = SPECS[format]
        if columns is not None and _has_title(spec, columns) and (format == "generic" or spec.score(columns)):
            return Layout(spec, columns, 1, False)
        if format == "goodreads" and looks_like_headerless_goodreads(records):
            return _headerless(records)
        if columns is not None and _has_title(spec, columns):
            return Layout(spec, columns, 1, False)
        raise UnknownLayout(f"not a {format} export: {_describe(records, delimiter)}")
    if columns is not None:
        scored = [(spec.score(columns), -i, spec) for i, spec in enumerate(SPECS.values()) if spec.name != "generic"]
        best, _, spec = max(scored, key=lambda item: item[:2])
        if best > 0:
            return Layout(spec, columns, 1, False)
    if looks_like_headerless_goodreads(records):
        return _headerless(records)
    if columns is not None and SPECS["generic"].score(columns):
        return Layout(SPECS["generic"], columns, 1, False)
    raise UnknownLayout(f"unrecognised export layout: {_describe(records, delimiter)}")
