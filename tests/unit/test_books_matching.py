"""Edit distance and similarity: known distances, and the bounded distance agreeing with the full one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bookstrack.books.matching import levenshtein, similarity


def test_known_distances():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == levenshtein("abc", "") == 3
    assert levenshtein("same", "same") == 0
    assert similarity("", "") == 1.0
    assert similarity("abcd", "abce") == 0.75


@given(st.text("abc ", max_size=12), st.text("abc ", max_size=12), st.integers(0, 8))
def test_a_limit_only_cuts_distances_above_it(a, b, limit):
    full = levenshtein(a, b)
    bounded = levenshtein(a, b, limit)
    if full <= limit:
        assert bounded == full
    else:
        assert bounded > limit
