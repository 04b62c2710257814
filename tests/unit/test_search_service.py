"""The search service's pure parts: fuzzy title matching, edition order, ISBNdb name order, and how
provider outcomes decide what is cached (``_Attempts``)."""

from __future__ import annotations

import pytest

from bookstrack.books.dto import EditionDTO, EditionFormat
from bookstrack.cache import Negative
from bookstrack.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from bookstrack.search.service import _FAILED, _Attempts, _Uncached, sort_editions, title_matches


def test_title_matches():
    assert title_matches("The Hobbit, or There and Back Again", "the hobbit")
    assert title_matches("Les Miserables", "Les Misérables")
    assert title_matches("ノルウェイの森 上", "ノルウェイの森")
    assert title_matches("The Hobit", "The Hobbit")  # Levenshtein ≥ 0.7
    assert not title_matches("Dune", "The Hobbit")
    assert not title_matches(None, "The Hobbit")


def test_sort_editions():
    editions = [
        EditionDTO(isbn="1", format=EditionFormat.MASS_MARKET),
        EditionDTO(isbn="2", format=EditionFormat.PAPERBACK, isbndbQuality=10, publicationDate="2001"),
        EditionDTO(isbn="3", format=EditionFormat.PAPERBACK, isbndbQuality=10, publicationDate="2010"),
        EditionDTO(isbn="4", format=EditionFormat.PAPERBACK, isbndbQuality=50),
        EditionDTO(isbn="5", format=EditionFormat.HARDCOVER),
    ]
    assert [e.isbn for e in sort_editions(editions)] == ["5", "4", "3", "2", "1"]


async def _ok() -> str:
    return "answer"


async def _fail(reason: str) -> None:
    cls = ProviderTimeout if reason == "timeout" else ProviderError
    raise cls("x", provider="p", reason=reason)  # type: ignore[arg-type]


async def _unconfigured() -> None:
    raise ProviderUnavailable("no key", provider="isbndb", reason="unconfigured")


async def test_attempts_decide_what_is_cached():
    attempts = _Attempts()
    assert await attempts.call("a", _ok) == "answer"
    assert attempts.settle("full", empty=False) == "full"
    assert isinstance(attempts.settle("empty", empty=True), Negative)  # a real no-match: cached briefly

    attempts = _Attempts()
    assert await attempts.call("a", _fail, "http_5xx") is _FAILED
    assert await attempts.call("b", _ok) == "answer"
    assert isinstance(attempts.settle("partial", empty=False), Negative)  # incomplete: cached briefly
    with pytest.raises(_Uncached):  # empty, maybe because a provider failed: not cached
        attempts.settle("empty", empty=True)

    attempts = _Attempts()
    assert await attempts.call("isbndb", _unconfigured) is _FAILED  # skipped, not a failure
    await attempts.call("a", _fail, "timeout")
    await attempts.call("b", _fail, "timeout")
    with pytest.raises(ProviderTimeout) as timeout:
        attempts.settle("x", empty=True)
    assert timeout.value.details == {"providers": {"a": "timeout", "b": "timeout"}}
    await attempts.call("c", _fail, "http_5xx")
    with pytest.raises(ProviderError) as error:
        attempts.raise_if_all_failed()
    assert type(error.value) is ProviderError
    assert error.value.status == 503
