"""Per-day counts of searched ISBNs (API.md §3): what the cover harvest reads to pick the most-searched books.

Owns the table ``isbn_search_counts`` (migration 3): one row per (UTC day, ISBN-13) with a count. Counting
is on the request path, so ``record`` only bumps an in-memory tally (no I/O, no await); ``run`` writes the
tallies in one transaction every ``flush_interval`` seconds, sooner when ``max_pending`` distinct pairs
pile up, and once more when it is cancelled (shutdown). A crash loses at most one interval of counts: these
are popularity figures, not records. ``most_searched`` flushes first, so it sees every count so far.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sqlite3

import trio

from actors import Clock, SqliteExecutor
from bookstrack.books.isbn import isbn_key

__all__ = ["IsbnSearchCounts", "utc_day"]

log = logging.getLogger("bookstrack.providers.isbn_counts")

_UPSERT = (
    "INSERT INTO isbn_search_counts (day, isbn, count) VALUES (?, ?, ?) "
    "ON CONFLICT (day, isbn) DO UPDATE SET count = count + excluded.count"
)


def utc_day(epoch: float) -> str:
    """``2023-11-14`` for epoch seconds: the UTC day a count belongs to."""
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.UTC).date().isoformat()


class IsbnSearchCounts:
    def __init__(
        self,
        database: SqliteExecutor,
        clock: Clock,
        *,
        flush_interval: float = 5.0,
        max_pending: int = 10_000,
    ) -> None:
        self._database = database
        self._clock = clock
        self._interval = flush_interval
        self._max_pending = max_pending
        self._pending: dict[tuple[str, str], int] = {}
        self._full = trio.Event()
        self.flushes = 0  # transactions written (tests read it)

    def record(self, isbn: str) -> None:
        """Count one search of ``isbn`` (any ISBN form; stored as its ISBN-13) today; not ISBN-shaped → ignored."""
        key = isbn_key(isbn)
        if key is None:
            return
        pair = (utc_day(self._clock.wall()), key)
        self._pending[pair] = self._pending.get(pair, 0) + 1
        if len(self._pending) >= self._max_pending:
            self._full.set()

    @property
    def pending(self) -> int:
        """Distinct (day, ISBN) tallies not yet written."""
        return len(self._pending)

    async def flush(self) -> int:
        """Write the pending tallies in one transaction; returns how many rows it touched."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        rows = [(day, isbn, count) for (day, isbn), count in batch.items()]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(_UPSERT, rows)

        try:
            await self._database.write(write)
        except BaseException:
            # Not written (or not known to be): keep the counts for the next flush.
            for pair, count in batch.items():
                self._pending[pair] = self._pending.get(pair, 0) + count
            raise
        self.flushes += 1
        return len(rows)

    async def most_searched(self, day: str | _dt.date, n: int) -> list[tuple[str, int]]:
        """The ``n`` ISBN-13s searched most on ``day`` (``YYYY-MM-DD`` or a date), most first (ties: by ISBN)."""
        if n < 1:
            return []
        await self.flush()
        day_text = day.isoformat() if isinstance(day, _dt.date) else day

        def read(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            return conn.execute(
                "SELECT isbn, count FROM isbn_search_counts WHERE day = ? ORDER BY count DESC, isbn LIMIT ?",
                (day_text, int(n)),
            ).fetchall()

        return [(isbn, int(count)) for isbn, count in await self._database.read(read)]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every ``flush_interval`` seconds (or when ``max_pending`` is reached) until cancelled; then
        flush once more."""
        task_status.started()
        try:
            while True:
                with trio.move_on_after(self._interval):
                    await self._full.wait()
                self._full = trio.Event()
                try:
                    await self.flush()
                except Exception as exc:  # counts are kept for the next try
                    log.warning("writing ISBN search counts failed (%d pending): %r", len(self._pending), exc)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10.0):
                try:
                    await self.flush()
                except Exception as exc:
                    log.warning("final write of ISBN search counts failed (%d lost): %r", len(self._pending), exc)
