"""Upstream book-data providers: one shared HTTP client, budgets, retries, single-flight, per-provider clients.

Layout (one idea per module): ``http`` (the shared client and the httpx→``ProviderError`` boundary),
``retry`` (backoff, ``Retry-After``), ``budget`` (requests/s and per day, shared by every caller),
``singleflight``, ``upstream`` (one provider's request pipeline), ``metrics``, ``status`` (health probe),
the clients ``google_books``, ``openlibrary``, ``isbndb``, ``wikidata``, ``registry`` (``open_providers``:
everything wired for one app) and ``isbn_counts`` (per-day counts of searched ISBNs).

Clients return the providers' JSON as decoded (untrusted); ``bookstrack/books/normalize`` turns it into
records. Every failure is a ``ProviderError`` (``bookstrack/errors.py``); no httpx type leaves this package.
"""
