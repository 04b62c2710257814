"""Developer tools: the fake upstream server (Google Books, Open Library, ISBNdb, Wikidata, Gemini) and its
fixture catalogue, for tests, benchmarks and offline demos. Nothing in the shipped server imports this."""

from __future__ import annotations

from bookstrack.devtools.catalogue import Catalogue, load_catalogue
from bookstrack.devtools.fake_upstream import FakeUpstream, RunningFakeUpstream, run_fake_upstream, serve_fake_upstream
from bookstrack.devtools.faults import Faults, RequestLog

__all__ = [
    "Catalogue",
    "FakeUpstream",
    "Faults",
    "RequestLog",
    "RunningFakeUpstream",
    "load_catalogue",
    "run_fake_upstream",
    "serve_fake_upstream",
]
