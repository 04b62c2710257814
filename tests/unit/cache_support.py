"""Helpers shared by the cache tests: a migrated SQLite file and direct reads of its tables."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import trio
import trio.testing

from actors import SqliteExecutor
from actors.testing import EPOCH
from bookstrack.store.database import open_database

DAY = 86400.0


@asynccontextmanager
async def migrated_database(path: Path) -> AsyncIterator[SqliteExecutor]:
    """A started executor on ``path`` with every migration applied; closed on exit."""
    executor = SqliteExecutor(str(path))
    await open_database(executor, now=EPOCH)
    try:
        yield executor
    finally:
        with trio.CancelScope(shield=True):
            await executor.close()


def rows(executor: SqliteExecutor, sql: str, *params: Any) -> list[tuple]:
    """Read through a second connection: what is committed."""
    with closing(sqlite3.connect(executor.path)) as conn:
        return conn.execute(sql, params).fetchall()


async def settle(executor: SqliteExecutor) -> None:
    """Wait until every write already queued on the executor has committed (a no-op write queued after
    them commits with or after them)."""
    await trio.testing.wait_all_tasks_blocked()
    await executor.write(lambda conn: None)
