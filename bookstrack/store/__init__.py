"""Storage of the application: the SQLite database (executor + migrations) and the blob store."""
