"""Provider answers → canonical records: one module per provider (``google_books``, ``openlibrary``,
``isbndb``), each a set of pure functions from the provider's decoded JSON (untrusted, any shape) to
``BookRecord``\\ s. ``_fields`` holds the lenient readers they share: no input raises.
"""
