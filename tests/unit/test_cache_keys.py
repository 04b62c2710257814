"""Cache key syntax: sorted parameters, escaped separators, any script kept as is."""

from __future__ import annotations

import pytest

from bookstrack.cache.keys import cache_key


def test_parameters_are_sorted_by_name():
    assert cache_key("v1:advanced", title="hobbit", author="tolkien") == "v1:advanced:author=tolkien&title=hobbit"
    assert cache_key("search:isbn", isbn="9780261103344") == "search:isbn:isbn=9780261103344"
    assert cache_key("search:title", maxresults=20, title="dune") == "search:title:maxresults=20&title=dune"


def test_separators_inside_values_cannot_make_two_queries_share_a_key():
    a = cache_key("k", title="a&author=b")
    b = cache_key("k", title="a", author="b")
    assert a != b
    assert a == "k:title=a%26author%3Db"
    assert cache_key("k", title="100%") == "k:title=100%25"


def test_none_values_are_left_out_and_other_scripts_kept():
    assert cache_key("k", title="ノルウェイの森", author=None) == "k:title=ノルウェイの森"
    assert cache_key("k") == "k:"


def test_a_kind_is_required():
    with pytest.raises(ValueError, match="kind"):
        cache_key("")
