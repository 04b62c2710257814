"""Per-actor transactional key/value storage and its two backends.

An actor sees ``ActorStorage``: reads go to the backend (and see the turn's own writes), writes are
buffered for the turn and committed as one transaction by the runtime when the turn ends, before the
asker gets its answer. Values are msgspec-encoded (msgpack), so Structs round-trip with their types.

Backends (``StorageBackend``) hold the bytes: ``MemoryStorage`` for tests and embedded use,
``SqliteStorage`` on the ``SqliteExecutor`` (concurrent commits of many actors share one transaction).
A backend also keeps each actor's alarm time, committed in the same transaction as the turn's writes.
This module knows nothing of any actor kind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import msgspec

from actors.sqlite import SqliteExecutor

__all__ = ["ActorStorage", "MemoryStorage", "SqliteStorage", "StorageBackend", "Commit"]

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()
_UNSET: Any = object()


class Commit(msgspec.Struct, frozen=True):
    """One turn's changes for one actor: key writes (None deletes) and the alarm change, if any.

    ``alarm`` is ``_UNSET``-free on the wire: ``alarm_set`` says whether the turn touched the alarm,
    and ``alarm`` is then the new time (epoch seconds) or None for "deleted".
    """

    kind: str
    id: str
    writes: dict[str, bytes | None]
    alarm_set: bool = False
    alarm: float | None = None
    delete_all: bool = False


class StorageBackend(Protocol):
    """Where actors' bytes live. Every method is safe to call concurrently from many tasks."""

    async def get(self, kind: str, id: str, key: str) -> bytes | None: ...

    async def list(self, kind: str, id: str, prefix: str) -> list[tuple[str, bytes]]: ...

    async def commit(self, commit: Commit) -> None: ...

    async def ids_with(self, kind: str, key: str) -> list[str]:
        """The ids of every actor of ``kind`` that has ``key`` stored (say, the jobs still running)."""
        ...

    async def alarms(self, until: float | None = None) -> list[tuple[str, str, float]]:
        """The stored alarms due at or before ``until`` (all without it) as (kind, id, epoch seconds)."""
        ...


class MemoryStorage:
    """A dict-backed backend. Sharing one instance between two ``ActorSystem`` s simulates a restart."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], dict[str, bytes]] = {}
        self._alarms: dict[tuple[str, str], float] = {}
        self.commits = 0

    async def get(self, kind: str, id: str, key: str) -> bytes | None:
        return self._data.get((kind, id), {}).get(key)

    async def list(self, kind: str, id: str, prefix: str) -> list[tuple[str, bytes]]:
        items = self._data.get((kind, id), {})
        return sorted((k, v) for k, v in items.items() if k.startswith(prefix))

    async def commit(self, commit: Commit) -> None:
        ns = (commit.kind, commit.id)
        if commit.delete_all:
            self._data.pop(ns, None)
        bucket = self._data.setdefault(ns, {})
        for key, value in commit.writes.items():
            if value is None:
                bucket.pop(key, None)
            else:
                bucket[key] = value
        if not bucket:
            del self._data[ns]
        if commit.alarm_set:
            if commit.alarm is None:
                self._alarms.pop(ns, None)
            else:
                self._alarms[ns] = commit.alarm
        self.commits += 1

    async def ids_with(self, kind: str, key: str) -> list[str]:
        return sorted(id for (k, id), items in self._data.items() if k == kind and key in items)

    async def alarms(self, until: float | None = None) -> list[tuple[str, str, float]]:
        return [(kind, id, at) for (kind, id), at in self._alarms.items() if until is None or at <= until]


SCHEMA = """
CREATE TABLE IF NOT EXISTS actor_state (
    kind TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (kind, id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actor_alarms (
    kind TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS actor_alarms_at ON actor_alarms (at);
"""


class SqliteStorage:
    """Actor state in two tables of the database behind a ``SqliteExecutor``.

    The tables are created here (idempotently) rather than by the application's migrations, because
    this package must not depend on the application.
    """

    def __init__(self, executor: SqliteExecutor) -> None:
        self.executor = executor

    async def setup(self) -> None:
        def run(conn: sqlite3.Connection) -> None:
            # Not executescript: it would commit the executor's shared transaction.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

        await self.executor.write(run)

    async def get(self, kind: str, id: str, key: str) -> bytes | None:
        def run(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT value FROM actor_state WHERE kind=? AND id=? AND key=?", (kind, id, key)
            ).fetchone()
            return None if row is None else row[0]

        return await self.executor.read(run)

    async def list(self, kind: str, id: str, prefix: str) -> list[tuple[str, bytes]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, bytes]]:
            # Range scan instead of LIKE, so prefixes with % or _ stay literal.
            rows = conn.execute(
                "SELECT key, value FROM actor_state WHERE kind=? AND id=? AND key>=? AND key<? ORDER BY key",
                (kind, id, prefix, prefix + "\U0010ffff"),
            ).fetchall()
            return [(k, v) for k, v in rows]

        return await self.executor.read(run)

    async def commit(self, commit: Commit) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if commit.delete_all:
                conn.execute("DELETE FROM actor_state WHERE kind=? AND id=?", (commit.kind, commit.id))
            upserts = [(commit.kind, commit.id, k, v) for k, v in commit.writes.items() if v is not None]
            deletes = [(commit.kind, commit.id, k) for k, v in commit.writes.items() if v is None]
            if upserts:
                conn.executemany(
                    "INSERT INTO actor_state (kind, id, key, value) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (kind, id, key) DO UPDATE SET value=excluded.value",
                    upserts,
                )
            if deletes:
                conn.executemany("DELETE FROM actor_state WHERE kind=? AND id=? AND key=?", deletes)
            if commit.alarm_set:
                if commit.alarm is None:
                    conn.execute("DELETE FROM actor_alarms WHERE kind=? AND id=?", (commit.kind, commit.id))
                else:
                    conn.execute(
                        "INSERT INTO actor_alarms (kind, id, at) VALUES (?, ?, ?) "
                        "ON CONFLICT (kind, id) DO UPDATE SET at=excluded.at",
                        (commit.kind, commit.id, commit.alarm),
                    )

        await self.executor.write(run)

    async def ids_with(self, kind: str, key: str) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT id FROM actor_state WHERE kind=? AND key=? ORDER BY id", (kind, key)
            ).fetchall()
            return [id for (id,) in rows]

        return await self.executor.read(run)

    async def alarms(self, until: float | None = None) -> list[tuple[str, str, float]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, str, float]]:
            if until is None:
                rows = conn.execute("SELECT kind, id, at FROM actor_alarms")
            else:
                rows = conn.execute("SELECT kind, id, at FROM actor_alarms WHERE at <= ?", (until,))
            return [(k, i, a) for k, i, a in rows]

        return await self.executor.read(run)


class ActorStorage:
    """One actor's view of its storage: reads see the turn's own writes; the runtime commits the turn."""

    __slots__ = ("_backend", "_kind", "_id", "_writes", "_alarm", "_delete_all")

    def __init__(self, backend: StorageBackend, kind: str, id: str) -> None:
        self._backend = backend
        self._kind = kind
        self._id = id
        self._writes: dict[str, bytes | None] = {}
        self._alarm: Any = _UNSET
        self._delete_all = False

    async def get(self, key: str, type: type[T] = Any) -> T | None:  # type: ignore[assignment]
        """The value stored under ``key`` (decoded as ``type``), or None."""
        if key in self._writes:
            raw = self._writes[key]
        elif self._delete_all:
            raw = None
        else:
            raw = await self._backend.get(self._kind, self._id, key)
        return None if raw is None else msgspec.msgpack.decode(raw, type=type)

    async def list(self, prefix: str = "", type: type[T] = Any) -> dict[str, T]:  # type: ignore[assignment]
        """Every key starting with ``prefix``, in key order, decoded as ``type``."""
        stored: Mapping[str, bytes] = {} if self._delete_all else dict(
            await self._backend.list(self._kind, self._id, prefix)
        )
        merged = {**stored, **{k: v for k, v in self._writes.items() if k.startswith(prefix)}}
        return {k: msgspec.msgpack.decode(v, type=type) for k, v in sorted(merged.items()) if v is not None}

    def put(self, key: str, value: Any) -> None:
        """Write ``value`` (anything msgspec encodes) under ``key``; committed at the end of the turn."""
        self._writes[key] = _encoder.encode(value)

    def delete(self, key: str) -> None:
        self._writes[key] = None

    def delete_all(self) -> None:
        """Forget every key of this actor (and its alarm) at the end of the turn."""
        self._writes.clear()
        self._delete_all = True
        self._alarm = None

    def set_alarm(self, at: float | None) -> None:
        """Set (or with None, delete) this actor's one alarm, in epoch seconds."""
        self._alarm = at

    def _mark(self) -> tuple[dict[str, bytes | None], Any, bool]:
        """The turn's changes so far, to ``_rewind`` to if the next message of a batched turn fails."""
        return dict(self._writes), self._alarm, self._delete_all

    def _rewind(self, mark: tuple[dict[str, bytes | None], Any, bool]) -> None:
        self._writes, self._alarm, self._delete_all = dict(mark[0]), mark[1], mark[2]

    @property
    def dirty(self) -> bool:
        return bool(self._writes) or self._alarm is not _UNSET or self._delete_all

    def _take(self) -> Commit | None:
        """The turn's changes as a ``Commit`` (and forget them), or None if the turn wrote nothing."""
        if not self.dirty:
            return None
        commit = Commit(
            self._kind,
            self._id,
            self._writes,
            alarm_set=self._alarm is not _UNSET,
            alarm=None if self._alarm is _UNSET else self._alarm,
            delete_all=self._delete_all,
        )
        self._discard()
        return commit

    def _discard(self) -> None:
        self._writes = {}
        self._alarm = _UNSET
        self._delete_all = False
