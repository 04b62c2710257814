"""Header names to column positions, compared loosely: case, surrounding quotes, a BOM, and runs of spaces,
underscores and hyphens do not matter (``Author l-f`` = ``author_l_f``; ``'TITLE'`` = ``Title``).

Readers pad every row to ``width + 1`` cells, so ``MISSING`` (= ``width``) is always an empty cell: a
column the header lacks reads as blank without a branch per cell.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Columns", "compact", "normalize"]

_SEPARATORS: Final = re.compile(r"[\s_\-]+")


def normalize(name: str) -> str:
    """``"  Author l-f "`` → ``"author l f"``; ``"\ufeffBook Id"`` → ``"book id"``; ``"'TITLE'"`` → ``"title"``."""
    name = name.strip().lstrip("\ufeff").strip().strip("'\"").casefold()
    return _SEPARATORS.sub(" ", name).strip()


def compact(name: str) -> str:
    """``normalize`` without spaces: ``"ISBN-13"`` → ``"isbn13"``, ``"Book Title"`` → ``"booktitle"``."""
    return normalize(name).replace(" ", "")


class Columns:
    """Positions of a header's columns by normalized name (the first of duplicates wins)."""

    __slots__ = ("header", "names", "width", "MISSING", "_index")

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.width = len(header)
        self.MISSING = self.width
        self.names = [normalize(name) for name in header]
        self._index: dict[str, int] = {}
        for i, name in enumerate(self.names):
            self._index.setdefault(name, i)

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def pick(self, *names: str) -> int:
        """The position of the first of ``names`` (normalized) the header has, else ``MISSING``."""
        for name in names:
            i = self._index.get(name)
            if i is not None:
                return i
        return self.MISSING

    def pick_compact(self, aliases: frozenset[str] | tuple[str, ...]) -> int:
        """The first column whose compact name is one of ``aliases``, in header order; else ``MISSING``."""
        for i, name in enumerate(self.names):
            if name.replace(" ", "") in aliases:
                return i
        return self.MISSING

    def all_compact(self, aliases: frozenset[str]) -> list[int]:
        """Every column whose compact name is one of ``aliases``, in header order."""
        return [i for i, name in enumerate(self.names) if name.replace(" ", "") in aliases]

    def count(self, names: frozenset[str]) -> int:
        return sum(1 for name in names if name in self._index)
