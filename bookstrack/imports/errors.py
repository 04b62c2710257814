"""The two ways a whole export can fail to parse; a single bad row never raises (it becomes a ``RowError``).

Both are ``ValueError``s about the caller's file, not HTTP errors: the CSV pipeline decides what the
client sees (``EmptyExport`` → "CSV file is empty"; ``UnknownLayout`` → try the model-based parser).
"""

from __future__ import annotations

__all__ = ["EmptyExport", "ExportError", "UnknownLayout"]


class ExportError(ValueError):
    """The export as a whole cannot be read deterministically."""


class EmptyExport(ExportError):
    """No non-blank line at all (after decoding)."""


class UnknownLayout(ExportError):
    """Neither the header nor the shape of the rows matches a known export; the message names what was seen."""
