"""Schema migrations: applied once, in order, idempotent; a database from a newer release is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from actors import SqliteExecutor
from bookstrack.errors import ConfigError
from bookstrack.store.database import open_database
from bookstrack.store.migrations import MIGRATIONS, Migration, migrate, schema_version

NOW = 1_700_000_000.0
LATEST = MIGRATIONS[-1].version


def read(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_migrations_are_numbered_from_one_without_gaps():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.name for m in MIGRATIONS)


async def test_a_new_database_is_migrated_once(tmp_path):
    path = tmp_path / "sub" / "dir" / "db.sqlite3"  # its folder is created
    executor = SqliteExecutor(str(path))
    try:
        assert await open_database(executor, now=NOW) == [m.version for m in MIGRATIONS]
        assert await executor.read(schema_version) == LATEST
    finally:
        await executor.close()
    assert read(path, "PRAGMA user_version") == [(LATEST,)]
    assert read(path, "SELECT version, applied_at FROM schema_migrations") == [(m.version, NOW) for m in MIGRATIONS]
    ((row_id, instance_id, created_at),) = read(path, "SELECT id, instance_id, created_at FROM instance")
    assert (row_id, created_at) == (1, NOW)
    assert len(instance_id) == 32
    assert int(instance_id, 16) >= 0
    # the actor runtime's tables are there too
    tables = {name for (name,) in read(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_migrations", "instance"} <= tables
    assert len(tables) > 2


async def test_re_running_is_a_no_op(tmp_path):
    path = tmp_path / "db.sqlite3"
    for attempt in range(3):
        executor = SqliteExecutor(str(path))
        try:
            applied = await open_database(executor, now=NOW + attempt)
            assert applied == ([m.version for m in MIGRATIONS] if attempt == 0 else [])
            assert await migrate(executor, NOW + 10) == []
        finally:
            await executor.close()
    assert read(path, "SELECT count(*) FROM schema_migrations") == [(len(MIGRATIONS),)]
    assert read(path, "SELECT count(*), min(created_at) FROM instance") == [(1, NOW)]


async def test_only_pending_migrations_run_in_order(tmp_path):
    extra = (
        *MIGRATIONS,
        Migration(LATEST + 1, "notes", ("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",)),
        Migration(LATEST + 2, "a note", ("INSERT INTO notes (body) VALUES ('written at ' || :now)",)),
    )
    executor = SqliteExecutor(":memory:")
    await executor.start()
    try:
        assert await migrate(executor, NOW) == [m.version for m in MIGRATIONS]
        assert await migrate(executor, NOW, extra) == [LATEST + 1, LATEST + 2]
        assert await migrate(executor, NOW, extra) == []
        rows = await executor.read(lambda c: c.execute("SELECT body FROM notes").fetchall())
        assert rows == [(f"written at {NOW}",)]
        assert await executor.read(schema_version) == LATEST + 2
    finally:
        await executor.close()


async def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path):
    broken = (
        *MIGRATIONS,
        Migration(LATEST + 1, "half", ("CREATE TABLE half (id INTEGER)", "THIS IS NOT SQL")),
    )
    executor = SqliteExecutor(str(tmp_path / "db.sqlite3"))
    await executor.start()
    try:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(executor, NOW, broken)
        # all pending migrations run in one transaction: none of them stuck
        assert await executor.read(schema_version) == 0
        tables = await executor.read(lambda c: c.execute("SELECT name FROM sqlite_master").fetchall())
        assert ("half",) not in tables
        assert ("instance",) not in tables
        assert await migrate(executor, NOW) == [m.version for m in MIGRATIONS]
    finally:
        await executor.close()


async def test_a_database_from_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    executor = SqliteExecutor(str(path))
    with pytest.raises(ConfigError) as caught:
        await open_database(executor, now=NOW)
    message = caught.value.message
    assert "99" in message
    assert f"({LATEST})" in message
    assert "newer" in message
    # open_database closed the executor again, and nothing was written
    assert executor._closed
    assert read(path, "PRAGMA user_version") == [(99,)]
    assert ("schema_migrations",) not in read(path, "SELECT name FROM sqlite_master")
