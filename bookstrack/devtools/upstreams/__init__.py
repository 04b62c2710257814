"""The five providers the fake upstream imitates, one module each, on a shared request/response model.

Each ``Upstream`` subclass maps a request path (after its prefix) to a named route and a handler, answers
from the catalogue in the provider's own format, and shapes injected errors the way that provider does.
"""

from __future__ import annotations

from bookstrack.devtools.upstreams.base import Request, Response, Upstream
from bookstrack.devtools.upstreams.gemini import Gemini
from bookstrack.devtools.upstreams.google_books import GoogleBooks
from bookstrack.devtools.upstreams.isbndb import Isbndb
from bookstrack.devtools.upstreams.openlibrary import OpenLibrary
from bookstrack.devtools.upstreams.wikidata import Wikidata

__all__ = ["Gemini", "GoogleBooks", "Isbndb", "OpenLibrary", "Request", "Response", "Upstream", "Wikidata"]
