"""Opening the application's SQLite database: the executor, the actor tables and the migrations.

Owns start-up of the one database file (``[storage] path``; ``:memory:`` for tests): its folder is
created, the executor started, the app's migrations applied and the actor runtime's tables created,
in that order, before anything else may use it. On failure the executor is closed again.
"""

from __future__ import annotations

from pathlib import Path

from actors import SqliteExecutor, SqliteStorage
from bookstrack.store.migrations import migrate

__all__ = ["open_database"]


async def open_database(executor: SqliteExecutor, *, now: float) -> list[int]:
    """Start ``executor`` and bring its database up to date; returns the migrations applied."""
    if executor.path != ":memory:":
        Path(executor.path).parent.mkdir(parents=True, exist_ok=True)
    await executor.start()
    try:
        # Migrations first: they refuse a database from a newer release before anything writes to it.
        applied = await migrate(executor, now)
        await SqliteStorage(executor).setup()
        return applied
    except BaseException:
        await executor.close()
        raise
