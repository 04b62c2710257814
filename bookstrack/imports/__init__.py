"""Deterministic readers for library exports (Goodreads, StoryGraph, LibraryThing, calibre, generic CSV).

Pure and synchronous: bytes in, ``ParsedExport`` out, no I/O and no awaiting (the CSV-import pipeline runs
``parse_export`` in a worker thread). Nothing here looks a book up; matching rows to records is the
pipeline's job. A layout this package does not recognise raises ``UnknownLayout``, the pipeline's cue to
fall back to the model-based parser.
"""

from __future__ import annotations

from bookstrack.imports.errors import EmptyExport, ExportError, UnknownLayout
from bookstrack.imports.model import (
    FORMATS,
    Contributor,
    ImportRow,
    IsbnNote,
    ParsedExport,
    RowError,
    Status,
)
from bookstrack.imports.parse import parse_export

__all__ = [
    "FORMATS",
    "Contributor",
    "EmptyExport",
    "ExportError",
    "ImportRow",
    "IsbnNote",
    "ParsedExport",
    "RowError",
    "Status",
    "UnknownLayout",
    "parse_export",
]
