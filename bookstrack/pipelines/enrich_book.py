"""Enriching one book from what a user's library knows of it (reference §8.7.2 with its FIXes).

Owns the strategy: the ISBN first (our merged lookup asks every provider, so Open Library's ISBN route
is the fallback the original lacked), then title and author, taking a work only when its title matches
what was asked (a wrong match is worse than none). "Not found" (every provider answered, none knew the
book) is told apart from "provider error" (no provider could answer). It uses the search service and its
cache; it must not call providers directly or know about jobs.
"""

from __future__ import annotations

import enum

import msgspec

from bookstrack.books.dto import AuthorDTO, EditionDTO, WorkDTO
from bookstrack.books.isbn import is_valid_isbn
from bookstrack.books.keys import author_key
from bookstrack.books.matching import similarity
from bookstrack.errors import ProviderError
from bookstrack.search.service import SearchResponse, SearchResult, SearchService, title_matches

__all__ = ["BookInput", "Enriched", "Outcome", "Enrichment", "BookEnricher", "author_matches"]


class BookInput(msgspec.Struct, omit_defaults=True):
    title: str
    author: str | None = None
    isbn: str | None = None


class Enriched(msgspec.Struct, omit_defaults=True):
    """The matched work with the edition paired to it, and what the answering search said besides."""

    work: WorkDTO
    authors: list[AuthorDTO]
    edition: EditionDTO | None = None
    editions: list[EditionDTO] = msgspec.field(default_factory=list)  # every edition of the answer
    provider: str | None = None
    cached: bool = False


class Outcome(enum.Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    PROVIDER_ERROR = "provider_error"


class Enrichment(msgspec.Struct):
    outcome: Outcome
    enriched: Enriched | None = None
    error: str | None = None


class BookEnricher:
    def __init__(self, search: SearchService) -> None:
        self.search = search

    async def enrich(self, book: BookInput) -> Enrichment:
        errors: list[str] = []
        if book.isbn and is_valid_isbn(book.isbn):
            try:
                found = _first(await self.search.isbn(book.isbn), None)
            except ProviderError as exc:
                errors.append(f"ISBN lookup: {exc.message}")
            else:
                if found is not None:
                    return Enrichment(Outcome.FOUND, found)
        if book.title.strip():
            try:
                found = _first(await self.search.advanced(book.title, book.author or ""), book.title, book.author)
            except ProviderError as exc:
                errors.append(f"title search: {exc.message}")
            else:
                if found is not None:
                    return Enrichment(Outcome.FOUND, found)
                if not errors:
                    return Enrichment(Outcome.NOT_FOUND)
        if errors:
            return Enrichment(Outcome.PROVIDER_ERROR, error="; ".join(errors))
        return Enrichment(Outcome.NOT_FOUND)


def author_matches(authors: list[AuthorDTO], wanted: str | None) -> bool:
    """Whether one of ``authors`` is ``wanted`` (Unicode-aware keys; the same surname and a close full
    name, so "J. R. R. Tolkien" is "John Ronald Reuel Tolkien" but "Anne Tyler" is not "Anne Rice").
    An answer without authors cannot be checked, and a row without an author asks for no check."""
    wanted_key = author_key(wanted or "")
    if not wanted_key or not authors:
        return True
    wanted_last = wanted_key.split()[-1]
    for author in authors:
        key = author_key(author.name)
        if not key:
            continue
        if key == wanted_key or (key.split()[-1] == wanted_last and similarity(key, wanted_key) >= 0.5):
            return True
        if similarity(key, wanted_key) >= 0.85:
            return True
    return False


def _first(result: SearchResult, wanted_title: str | None, wanted_author: str | None = None) -> Enriched | None:
    """The first work of a search answer (whose title matches ``wanted_title`` and whose authors include
    ``wanted_author``, when given), with the edition paired to it by index and the answer's authors."""
    data: SearchResponse = result.data
    if wanted_title is not None and not author_matches(data.authors, wanted_author):
        return None
    for index, work in enumerate(data.works):
        if wanted_title is None or title_matches(work.title, wanted_title):
            edition = data.editions[index] if index < len(data.editions) else None
            return Enriched(work=work, authors=list(data.authors), edition=edition, editions=list(data.editions),
                            provider=result.provider, cached=result.cached)
    return None
