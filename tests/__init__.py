"""BooksTrack tests: unit/ (pure code and the actor runtime) and integration/ (the real app on sockets)."""
