"""The providers' per-day request counts, kept in SQLite so that a restart does not spend a day's quota twice.

Owns the table ``provider_day_usage`` (migration 6): one row per (provider, UTC day number) with the slots
its ``Budget`` handed out that day, and whether the row was written by a clean shutdown. ``restore`` (at
start) gives each budget today's stored count; ``run`` writes the counts that changed every
``flush_interval`` seconds and once more, marked clean, when it is cancelled (shutdown).

A crash loses the slots taken since the last write. So that a restart never counts fewer than were spent,
a count not written by a clean shutdown is restored with a margin: what the provider's rate allows in one
write interval and a second more (capped at the day's quota). Restoring marks the rows as not clean again,
so the margin also covers a crash before the next write. Only the count of the current UTC day matters; rows
older than ``KEEP_DAYS`` are deleted at start.

It must not decide anything about slots (``Budget`` does) or make requests.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Mapping

import trio

from actors import Clock, SqliteExecutor
from bookstrack.providers.budget import Budget, utc_day_number

__all__ = ["DayUsageLedger", "KEEP_DAYS"]

log = logging.getLogger("bookstrack.providers.day_usage")

KEEP_DAYS = 31  # a month of daily counts stays readable in the database

_UPSERT = (
    "INSERT INTO provider_day_usage (provider, day, used, clean) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (provider, day) DO UPDATE SET used = excluded.used, clean = excluded.clean"
)


class DayUsageLedger:
    def __init__(
        self, database: SqliteExecutor, clock: Clock, budgets: Mapping[str, Budget], *, flush_interval: float = 5.0
    ) -> None:
        self._database = database
        self._clock = clock
        self._budgets = dict(budgets)
        self._interval = flush_interval
        self._written: dict[str, tuple[int, int]] = {}  # provider -> (day, used) last written
        self.flushes = 0  # transactions written (tests read it)

    def margin(self, budget: Budget) -> int:
        """Slots a crash may have taken unwritten: one write interval and a second at the budget's rate."""
        lost = math.ceil(budget.rate_per_second * (self._interval + 1.0))
        return min(lost, budget.per_day) if budget.per_day else lost

    async def restore(self) -> dict[str, int]:
        """Give every budget today's stored count (plus the margin after a crash); returns each one's count."""
        today = utc_day_number(self._clock.wall())
        names = [(name, today) for name in self._budgets]

        def load(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
            conn.execute("DELETE FROM provider_day_usage WHERE day < ?", (today - KEEP_DAYS,))
            rows = conn.execute(
                "SELECT provider, used, clean FROM provider_day_usage WHERE day = ?", (today,)
            ).fetchall()
            # From here until a clean shutdown, every row of today says "maybe more was spent": a crash
            # before the first write still gets the margin, also for a provider not called yet today.
            conn.executemany(
                "INSERT INTO provider_day_usage (provider, day, used, clean) VALUES (?, ?, 0, 0) "
                "ON CONFLICT (provider, day) DO UPDATE SET clean = 0", names,
            )
            return rows

        for provider, used, clean in await self._database.write(load):
            budget = self._budgets.get(provider)
            if budget is None:
                continue
            budget.restore(today, int(used) if clean else int(used) + self.margin(budget))
            if not clean and budget.per_day:  # where a quota is at stake, say why the count went up
                log.warning(
                    "%s: the last run did not stop cleanly; counting %d requests today (%d written + up to %d "
                    "unwritten)", provider, budget.usage()[1], used, self.margin(budget),
                )
        self._written = {name: budget.usage() for name, budget in self._budgets.items()}
        return {name: used for name, (_, used) in self._written.items()}

    async def flush(self, *, clean: bool = False) -> int:
        """Write the counts that changed since the last write (all of them when ``clean``); returns rows."""
        current = {name: budget.usage() for name, budget in self._budgets.items()}
        # A clean write covers every budget: restore left a not-clean row of today for each.
        changed = current if clean else {
            name: usage for name, usage in current.items() if self._written.get(name, (usage[0], 0)) != usage
        }
        if not changed:
            return 0
        rows = [(name, day, used, int(clean)) for name, (day, used) in changed.items()]
        await self._database.write(lambda conn: conn.executemany(_UPSERT, rows))
        self._written.update(changed)
        self.flushes += 1
        return len(rows)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write every ``flush_interval`` seconds until cancelled; then write once more, marked clean."""
        task_status.started()
        try:
            while True:
                await trio.sleep(self._interval)
                try:
                    await self.flush()
                except Exception as exc:  # the next write carries the same counts
                    log.warning("writing providers' day counts failed: %r", exc)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10.0):
                try:
                    await self.flush(clean=True)
                except Exception as exc:
                    log.warning("final write of providers' day counts failed: %r", exc)
