"""BooksTrack: a self-hostable book-metadata backend (search, canonical records, jobs with live progress).

The application package. It builds on ``actors`` (the runtime); ``actors`` never imports it.
"""

__version__ = "0.1.0"
