"""One module per export format, each owning its column names and how its cells read; this package only
lists them. Detection order is this tuple's order: specific formats first, ``generic`` last."""

from __future__ import annotations

from typing import Final

from bookstrack.imports.formats import calibre, generic, goodreads, librarything, storygraph
from bookstrack.imports.formats.base import FormatSpec, RowReader

__all__ = ["SPECS", "FormatSpec", "RowReader"]

SPECS: Final[dict[str, FormatSpec]] = {
    spec.name: spec for spec in (goodreads.SPEC, storygraph.SPEC, librarything.SPEC, calibre.SPEC, generic.SPEC)
}
