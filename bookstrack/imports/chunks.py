"""Splitting CSV text into chunks of data rows, each with the header line again (for a model whose output
limits how many rows one call may carry). Pure: no I/O, no decoding — the caller decodes first."""

from __future__ import annotations

import csv
import io

__all__ = ["csv_chunks"]


def csv_chunks(text: str, rows_per_chunk: int) -> list[str]:
    """``text`` as CSV chunks of at most ``rows_per_chunk`` data rows, each starting with the header row."""
    if rows_per_chunk < 1:
        raise ValueError("rows_per_chunk must be >= 1")
    records = list(csv.reader(io.StringIO(text)))
    header, body = (records[0], records[1:]) if records else ([], [])
    out = []
    for start in range(0, len(body), rows_per_chunk):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(body[start:start + rows_per_chunk])
        out.append(buffer.getvalue())
    return out
