"""The one entry point: ``parse_export(bytes) -> ParsedExport``.

Decode (``decode``), split into records (``table``), choose the format (``detect``), then read each data
record with the format's reader. Every data record ends in exactly one place, in file order: ``rows``
when it has a title (an author is not required: the row is kept with ``author == ""`` and matched on
its title and ISBN later), else ``errors`` ("No title", or "Unreadable row: …" for a record the CSV layer
could not read). Duplicates stay separate rows. Short records are padded with blank cells, extra cells
are ignored.
"""

from __future__ import annotations

from bookstrack.imports.decode import decode
from bookstrack.imports.detect import detect
from bookstrack.imports.errors import EmptyExport
from bookstrack.imports.model import FORMATS, ImportRow, ParsedExport, RowError
from bookstrack.imports.table import read_table

__all__ = ["parse_export"]

NO_TITLE = "No title"


def parse_export(data: bytes, format: str = "auto") -> ParsedExport:
    """Parse a library export. ``format``: ``"auto"`` (detect) or one of ``FORMATS`` (force it).

    Raises ``EmptyExport`` when there is no non-blank line, ``UnknownLayout`` when the layout is not
    recognised (or not the forced format's), ``ValueError`` for an unknown ``format`` name; nothing else."""
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected 'auto' or one of {', '.join(FORMATS)}")
    text, encoding = decode(data)
    table = read_table(text)
    if not table.records:
        raise EmptyExport("the file has no non-blank line")
    layout = detect(table.records, format, table.delimiter)
    records = table.records[layout.start :]
    width = layout.columns.width
    read = layout.spec.make_reader(layout.columns, [r.cells for r in records if r.cells is not None])
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    for number, record in enumerate(records, 1):
        cells = record.cells
        if cells is None:
            errors.append(RowError(row=number, title="", error=record.error or "Unreadable row"))
            continue
        size = len(cells)
        if size == width:
            cells.append("")
        elif size < width:
            cells.extend([""] * (width + 1 - size))
        else:
            del cells[width + 1 :]
            cells[width] = ""
        try:
            item = read(cells, number, record.line)
        except Exception as exc:  # a reader must not raise; if one does, the row is lost, not the file
            errors.append(RowError(row=number, title="", error=f"Unreadable row: {type(exc).__name__}: {exc}"))
            continue
        if item.title:
            rows.append(item)
        else:
            errors.append(RowError(row=number, title="", error=NO_TITLE))
    return ParsedExport(
        format=layout.spec.name,
        encoding=encoding,
        delimiter=table.delimiter,
        header=list(layout.columns.header),
        rows=rows,
        errors=errors,
        total_rows=len(records),
        headerless=layout.headerless,
    )
