"""Fuzzy string matching for book data: edit distance and the similarity ratio built on it.

Owns the one Levenshtein implementation (genre normalisation and the editions title match both use it).
Pure functions, no I/O.
"""

from __future__ import annotations

__all__ = ["levenshtein", "similarity"]


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """The edit distance between ``a`` and ``b`` (insertions, deletions, substitutions). With ``limit``,
    a distance above it is only reported as some number above it: the rows stop as soon as every cell
    exceeds it (a row's minimum never decreases), which makes a threshold test against many candidates
    cheap."""
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """``1 - distance / longer length``: 1.0 for equal strings, 0.0 for nothing in common."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1 - levenshtein(a, b) / longest
