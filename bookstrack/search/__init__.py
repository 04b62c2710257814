"""Book search (API.md §3): the service the ``/v1`` search routes call; it calls the providers, the
tiered cache and ``bookstrack/books`` (``service.py``), and enriches authors from Wikidata (``authors.py``,
``regions.py``)."""

from bookstrack.search.authors import AuthorEnricher as AuthorEnricher
from bookstrack.search.service import SearchResult as SearchResult
from bookstrack.search.service import SearchService as SearchService

__all__ = ["AuthorEnricher", "SearchResult", "SearchService"]
