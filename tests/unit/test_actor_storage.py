"""Per-actor storage: the turn's view (reads see its own writes) and the two backends, which must agree."""

from __future__ import annotations

import msgspec
import pytest

from actors import ActorStorage, MemoryStorage, SqliteExecutor, SqliteStorage
from actors.storage import Commit


class Book(msgspec.Struct, frozen=True):
    title: str
    isbns: list[str]
    year: int | None = None


@pytest.fixture(params=["memory", "sqlite"])
async def backend(request, tmp_path):
    if request.param == "memory":
        yield MemoryStorage()
        return
    executor = SqliteExecutor(str(tmp_path / "storage.db"))
    await executor.start()
    storage = SqliteStorage(executor)
    await storage.setup()
    await storage.setup()  # idempotent
    yield storage
    await executor.close()


async def commit(view: ActorStorage, backend) -> Commit | None:
    """What the runtime does at the end of a turn."""
    change = view._take()
    if change is not None:
        await backend.commit(change)
    return change


async def test_values_round_trip_with_their_types(backend):
    view = ActorStorage(backend, "Shelf", "s1")
    book = Book("Dune", ["9780441172719"], 1965)
    view.put("book", book)
    view.put("count", 3)
    view.put("tags", {"sf": 1.5})
    await commit(view, backend)

    fresh = ActorStorage(backend, "Shelf", "s1")
    assert await fresh.get("book", Book) == book
    assert await fresh.get("count", int) == 3
    assert await fresh.get("tags") == {"sf": 1.5}
    assert await fresh.get("missing", int) is None
    with pytest.raises(msgspec.ValidationError):
        await fresh.get("count", str)


async def test_reads_see_the_turns_own_writes_before_commit(backend):
    view = ActorStorage(backend, "Shelf", "s1")
    view.put("a", 1)
    await commit(view, backend)

    view.put("a", 2)
    view.put("b", 3)
    view.delete("c")
    assert await view.get("a", int) == 2
    assert await view.get("b", int) == 3
    assert await backend.get("Shelf", "s1", "a") == msgspec.msgpack.encode(1)  # not committed yet
    assert await backend.get("Shelf", "s1", "b") is None

    view.delete("a")
    assert await view.get("a", int) is None
    await commit(view, backend)
    assert await backend.get("Shelf", "s1", "a") is None
    assert await backend.get("Shelf", "s1", "b") == msgspec.msgpack.encode(3)


async def test_a_turn_without_writes_commits_nothing(backend):
    view = ActorStorage(backend, "Shelf", "s1")
    assert await view.get("a") is None
    assert not view.dirty
    assert await commit(view, backend) is None


async def test_discarded_writes_never_reach_the_backend(backend):
    view = ActorStorage(backend, "Shelf", "s1")
    view.put("a", 1)
    view.set_alarm(123.0)
    view._discard()
    assert not view.dirty
    assert await view.get("a") is None
    assert await commit(view, backend) is None
    assert await backend.alarms() == []


async def test_list_merges_the_turns_writes_in_key_order_and_takes_prefixes_literally(backend):
    view = ActorStorage(backend, "Job", "j1")
    for key in ["event:002", "event:001", "event:010", "eventual", "meta", "50%_off", "50x_off"]:
        view.put(key, key.upper())
    await commit(view, backend)

    view.put("event:005", "NEW")
    view.delete("event:002")
    assert list(await view.list("event:")) == ["event:001", "event:005", "event:010"]
    assert await view.list("event:0", str) == {"event:001": "EVENT:001", "event:005": "NEW", "event:010": "EVENT:010"}
    assert list(await view.list("50%")) == ["50%_off"]  # no LIKE wildcards
    assert list(await view.list()) == ["50%_off", "50x_off", "event:001", "event:005", "event:010", "eventual", "meta"]
    assert await ActorStorage(backend, "Job", "j2").list() == {}  # namespaces are per actor


async def test_delete_all_forgets_every_key_and_the_alarm(backend):
    view = ActorStorage(backend, "Job", "j1")
    view.put("a", 1)
    view.put("b", 2)
    view.set_alarm(1_700_000_100.0)
    await commit(view, backend)
    other = ActorStorage(backend, "Job", "j2")
    other.put("a", 1)
    await commit(other, backend)

    view.delete_all()
    assert await view.get("a") is None
    assert await view.list() == {}
    view.put("c", 3)  # written after delete_all in the same turn: kept
    assert await view.list() == {"c": 3}
    await commit(view, backend)

    fresh = ActorStorage(backend, "Job", "j1")
    assert await fresh.list() == {"c": 3}
    assert await backend.alarms() == []
    assert await ActorStorage(backend, "Job", "j2").list() == {"a": 1}


async def test_alarm_is_committed_with_the_turn_and_can_be_replaced_or_removed(backend):
    view = ActorStorage(backend, "Job", "j1")
    view.set_alarm(1_700_000_100.0)
    change = await commit(view, backend)
    assert change is not None
    assert (change.alarm_set, change.alarm, change.writes) == (True, 1_700_000_100.0, {})
    assert await backend.alarms() == [("Job", "j1", 1_700_000_100.0)]

    view.set_alarm(1_700_000_200.0)
    await commit(view, backend)
    assert await backend.alarms() == [("Job", "j1", 1_700_000_200.0)]

    view.put("x", 1)  # a turn that does not touch the alarm leaves it alone
    change = await commit(view, backend)
    assert change is not None
    assert not change.alarm_set
    assert await backend.alarms() == [("Job", "j1", 1_700_000_200.0)]

    view.set_alarm(None)
    await commit(view, backend)
    assert await backend.alarms() == []
