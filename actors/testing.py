"""Test helpers for the actor runtime and for code built on it: ready-made actor systems.

Owns the harnesses that tests share: ``memory_system`` (an ``ActorSystem`` on ``MemoryStorage``) and
``sqlite_system`` (``SqliteExecutor`` + ``SqliteStorage`` + ``ActorSystem`` on one database file, all
closed on exit). Both default to a ``Clock`` anchored at ``EPOCH``, so that under
``trio.testing.MockClock`` every wall time a test sees is deterministic. Production code never imports
this module.

Time: use ``MockClock(autojump_threshold=0)`` only with ``memory_system``. With ``sqlite_system`` use a
``MockClock()`` without autojump and move it with ``clock.jump(...)`` and
``trio.testing.wait_all_tasks_blocked()``: autojump would take a hop to the SQLite thread for idleness and
leap to the next deadline.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from actors.clock import Clock
from actors.runtime import Actor, ActorSystem
from actors.sqlite import SqliteExecutor
from actors.storage import MemoryStorage, SqliteStorage

__all__ = ["EPOCH", "memory_system", "sqlite_system"]

EPOCH = 1_700_000_000.0  # 2023-11-14T22:13:20Z: the wall time at which test clocks start


@asynccontextmanager
async def memory_system(
    *kinds: type[Actor],
    clock: Clock | None = None,
    storage: MemoryStorage | None = None,
    idle_timeout: float = 60.0,
    restart_backoff: float = 0.5,
) -> AsyncIterator[ActorSystem]:
    """A running ``ActorSystem`` on ``storage`` (a fresh ``MemoryStorage`` by default) with ``kinds``
    registered. Pass the same ``MemoryStorage`` to a second ``memory_system`` to simulate a restart."""
    system = ActorSystem(
        storage=MemoryStorage() if storage is None else storage,
        clock=Clock(epoch=EPOCH) if clock is None else clock,
        idle_timeout=idle_timeout,
        restart_backoff=restart_backoff,
    )
    system.register(*kinds)
    async with system:
        yield system


@asynccontextmanager
async def sqlite_system(
    path: str | os.PathLike[str],
    *kinds: type[Actor],
    clock: Clock | None = None,
    idle_timeout: float = 60.0,
    restart_backoff: float = 0.5,
    synchronous: str = "NORMAL",
) -> AsyncIterator[ActorSystem]:
    """A running ``ActorSystem`` on a ``SqliteStorage`` of the database file ``path`` (tables created if
    needed) with ``kinds`` registered; ``system.storage.executor`` is its ``SqliteExecutor``. On exit
    the system stops, then the executor closes. Entering again on the same path is a restart."""
    executor = SqliteExecutor(os.fspath(path), synchronous=synchronous)
    await executor.start()
    try:
        storage = SqliteStorage(executor)
        await storage.setup()
        system = ActorSystem(
            storage=storage,
            clock=Clock(epoch=EPOCH) if clock is None else clock,
            idle_timeout=idle_timeout,
            restart_backoff=restart_backoff,
        )
        system.register(*kinds)
        async with system:
            yield system
    finally:
        with trio.CancelScope(shield=True):
            await executor.close()
