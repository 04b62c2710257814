"""The archival task (reference §7.5, §10.2): the cache's cold-tier move and purge, as one scheduled run.

Owns nothing but the order: expired entries are purged first (no point archiving what is already dead),
then KV entries not read for ``[cache] archive_after`` move to the cold tier (``TieredCache.archive``).
The original never archived anything (its candidates needed KV metadata no writer set); ours moves real
entries and says how many.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

__all__ = ["ArchivalResult", "Archivable", "run_archival"]

log = logging.getLogger("bookstrack.tasks.archival")


class Archivable(Protocol):
    async def archive(self, older_than_seconds: float | None = None) -> int: ...

    async def purge_expired(self) -> dict[str, int]: ...


class ArchivalResult(msgspec.Struct, kw_only=True):
    archived: int
    purged: dict[str, int]


async def run_archival(cache: Archivable) -> ArchivalResult:
    """Purge expired entries from every tier, then archive the cold ones; returns the counts."""
    purged = await cache.purge_expired()
    archived = await cache.archive()
    log.info("archival: %d entries moved to the cold tier; purged %s", archived, purged)
    return ArchivalResult(archived=archived, purged=purged)
