"""Versioned schema migrations of the SQLite file, applied at start-up.

Owns the application's tables (the actor runtime creates its own two, see ``actors/storage.py``). The
schema version is SQLite's ``user_version``; each migration runs once, in order, all pending ones in
one transaction, and a re-run is a no-op. A database written by a newer BooksTrack (a higher version
than we know) is refused rather than guessed at. Add a migration by appending to ``MIGRATIONS``;
never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from actors import SqliteExecutor
from bookstrack.errors import ConfigError

__all__ = ["Migration", "MIGRATIONS", "migrate", "schema_version"]


class Migration(NamedTuple):
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "instance and migration log",
        (
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at REAL NOT NULL)",
            # One row: who this database is. /health reads it as its database check.
            "CREATE TABLE instance (id INTEGER PRIMARY KEY CHECK (id = 1), instance_id TEXT NOT NULL, "
            "created_at REAL NOT NULL)",
            "INSERT INTO instance (id, instance_id, created_at) VALUES (1, lower(hex(randomblob(16))), :now)",
        ),
    ),
    Migration(
        2,
        "cache: key/value tier and cold index",
        (
            # bookstrack/cache/kv.py: one wrapped value per key; times are epoch seconds.
            "CREATE TABLE cache_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, stored_at REAL NOT NULL, "
            "expires_at REAL NOT NULL, last_read_at REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0, "
            "quality REAL, negative INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX cache_kv_expires_at ON cache_kv (expires_at)",  # purge
            "CREATE INDEX cache_kv_last_read_at ON cache_kv (last_read_at)",  # archival
            # bookstrack/cache/cold.py: where each archived entry's blob is.
            "CREATE TABLE cache_cold (key TEXT PRIMARY KEY, blob_key TEXT NOT NULL, stored_at REAL NOT NULL, "
            "expires_at REAL NOT NULL, archived_at REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0, "
            "quality REAL, size INTEGER NOT NULL)",
            "CREATE INDEX cache_cold_expires_at ON cache_cold (expires_at)",
        ),
    ),
    Migration(
        3,
        "providers: searched ISBNs per day",
        (
            # bookstrack/providers/isbn_counts.py: how often each ISBN was searched per UTC day (the cover
            # harvest reads the most-searched ones). day is "YYYY-MM-DD"; isbn the canonical ISBN-13.
            "CREATE TABLE isbn_search_counts (day TEXT NOT NULL, isbn TEXT NOT NULL, count INTEGER NOT NULL, "
            "PRIMARY KEY (day, isbn)) WITHOUT ROWID",
            "CREATE INDEX isbn_search_counts_top ON isbn_search_counts (day, count DESC)",
        ),
    ),
    Migration(
        4,
        "queue: durable messages and dead letters",
        (
            # bookstrack/tasks/queue.py: one row per message until it is acknowledged (deleted). Times are
            # epoch seconds. A live message (dead_at NULL) may be leased once visible_at has passed; a lease
            # sets leased_until = visible_at = now + visibility timeout, so an unacknowledged message comes
            # back by itself. attempts counts deliveries since the last (re)queue; deliveries never goes
            # down and is the lease token (a stale ack or failure changes nothing). dead_at set: a dead
            # letter, kept with its last error until retried or dropped.
            "CREATE TABLE queue_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, "
            "payload BLOB NOT NULL, enqueued_at REAL NOT NULL, visible_at REAL NOT NULL, leased_until REAL, "
            "attempts INTEGER NOT NULL DEFAULT 0, deliveries INTEGER NOT NULL DEFAULT 0, last_error TEXT, "
            "dead_at REAL)",
            "CREATE INDEX queue_messages_ready ON queue_messages (queue, visible_at) WHERE dead_at IS NULL",
            "CREATE INDEX queue_messages_dead ON queue_messages (queue, dead_at) WHERE dead_at IS NOT NULL",
            # bookstrack/tasks/warming.py: authors whose works were looked up (a repeat within the
            # re-warm period is skipped). key is the Unicode-aware author key.
            "CREATE TABLE warmed_authors (key TEXT PRIMARY KEY, name TEXT NOT NULL, warmed_at REAL NOT NULL, "
            "depth INTEGER NOT NULL, works INTEGER NOT NULL, titles INTEGER NOT NULL, job_id TEXT)",
        ),
    ),
    Migration(
        5,
        "tasks: scheduler runs, alerts, cover harvest runs",
        (
            # bookstrack/tasks/scheduler.py: each scheduled task's last run (a run missed while the process
            # was down is caught up once at start). Times are epoch seconds.
            "CREATE TABLE scheduled_tasks (name TEXT PRIMARY KEY, first_seen_at REAL, last_started_at REAL, "
            "last_finished_at REAL, "
            "last_outcome TEXT, last_error TEXT, runs INTEGER NOT NULL DEFAULT 0, "
            "failures INTEGER NOT NULL DEFAULT 0)",
            # bookstrack/tasks/alerts.py: every alert raised (at most one per kind per period).
            "CREATE TABLE alerts (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, severity TEXT NOT NULL, "
            "value REAL NOT NULL, threshold REAL NOT NULL, message TEXT NOT NULL, raised_at REAL NOT NULL)",
            "CREATE INDEX alerts_kind_raised_at ON alerts (kind, raised_at)",
            # bookstrack/tasks/harvest.py: one row per cover harvest, its statistics as JSON.
            "CREATE TABLE harvest_runs (id INTEGER PRIMARY KEY, started_at REAL NOT NULL, "
            "finished_at REAL NOT NULL, stats BLOB NOT NULL)",
        ),
    ),
    Migration(
        6,
        "providers: requests per provider per UTC day",
        (
            # bookstrack/providers/day_usage.py: the slots each provider's budget handed out per UTC day
            # (day = epoch seconds // 86400), so that a restart does not spend a day's quota twice. clean is
            # 1 only when a clean shutdown wrote the row (otherwise a restart adds a margin).
            "CREATE TABLE provider_day_usage (provider TEXT NOT NULL, day INTEGER NOT NULL, "
            "used INTEGER NOT NULL, clean INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (provider, day)) WITHOUT ROWID",
        ),
    ),
)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _apply(conn: sqlite3.Connection, migrations: tuple[Migration, ...], now: float) -> list[int]:
    current = schema_version(conn)
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise ConfigError(
            f"the database is at schema version {current}, newer than this BooksTrack knows ({latest}). "
            "Hint: run the BooksTrack release that wrote it, or restore a backup"
        )
    applied = []
    for migration in migrations:
        if migration.version <= current:
            continue
        for statement in migration.statements:
            conn.execute(statement, {"now": now} if ":now" in statement else ())
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, now),
        )
        conn.execute(f"PRAGMA user_version = {int(migration.version)}")
        applied.append(migration.version)
    return applied


async def migrate(executor: SqliteExecutor, now: float, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply pending migrations; returns the versions applied (empty when up to date)."""
    return await executor.write(lambda conn: _apply(conn, migrations, now))
