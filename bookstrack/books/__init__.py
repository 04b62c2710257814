"""Book data as pure values: the canonical records (``dto``), ISBNs (``isbn``), genres (``genres``), cache
keys (``keys``) and the merge of records from several providers (``merge``).

Nothing here does I/O or knows about HTTP: providers, the cache and the routes build on these modules,
never the other way round.
"""
