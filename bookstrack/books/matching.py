"""Fuzzy string matching for book data: edit distance and the similarity ratio built on it.

Owns the one Levenshtein implementation (genre normalisation and the editions title match both use it).
Pure functions, no I/O.
"""

from __future__ import annotations

__all__ = ["levenshtein", "similarity"]


def levenshtein(a: str, b: str) -> int:
    """The edit distance between ``a`` and ``b`` (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """``1 - distance / longer length``: 1.0 for equal strings, 0.0 for nothing in common."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1 - levenshtein(a, b) / longest
