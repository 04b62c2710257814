"""The cold tier: archival of KV entries nobody read for a while into a FilesystemBlobStore, the cold index,
rehydration on a read, supersession, expiry and damaged blobs.

Time: ``mock_clock`` without autojump (the tests wait on the SQLite thread and on blob I/O threads).
"""

from __future__ import annotations

import base64

import msgspec
import pytest

from actors import Clock
from actors.testing import EPOCH
from bookstrack.cache.cold import ColdTier, blob_key_for
from bookstrack.cache.kv import KVStore
from bookstrack.store.blobs import FilesystemBlobStore, check_key
from tests.unit.cache_support import DAY, migrated_database, rows


@pytest.fixture
async def executor(tmp_path):
    async with migrated_database(tmp_path / "cache.sqlite3") as executor:
        yield executor


@pytest.fixture
def blobs(tmp_path):
    return FilesystemBlobStore(tmp_path / "blobs")


@pytest.fixture
def tiers(executor, blobs):
    clock = Clock(epoch=EPOCH)
    kv = KVStore(executor, clock)
    return kv, ColdTier(executor, blobs, kv, clock, archive_batch=2)


def test_blob_keys_follow_the_documented_layout():
    at = EPOCH + 0.25  # 2023-11-14
    key = blob_key_for("search:isbn:isbn=9780261103344", at)
    name = base64.urlsafe_b64encode(b"search:isbn:isbn=9780261103344").decode().rstrip("=")
    assert key == f"cold-cache/2023/11/{name}.{int(EPOCH * 1000) + 250}.json"
    assert check_key(key) == key
    unicode_key = blob_key_for("v1:advanced:title=ノルウェイの森", at)
    assert check_key(unicode_key) == unicode_key
    long_key = blob_key_for("t" * 500, at)
    assert long_key.startswith("cold-cache/2023/11/sha256.")
    assert check_key(long_key) == long_key
    assert len(long_key.rsplit("/", 1)[1]) < 100
    assert blob_key_for("k", at) != blob_key_for("k", at + 1)  # every archived copy is its own blob


async def test_entries_not_read_for_the_age_move_to_blobs(tiers, executor, blobs, mock_clock):
    kv, cold = tiers
    await kv.put("idle", b'{"title":"Idle"}', ttl=90 * DAY, quality=0.5)
    await kv.put("read", b'{"title":"Read"}', ttl=90 * DAY)
    await kv.put("negative", b"null", ttl=90 * DAY, negative=True)
    await kv.put("expiring", b"1", ttl=20 * DAY)
    mock_clock.jump(20 * DAY)
    await kv.get("read")  # buffered: archive() flushes first
    mock_clock.jump(11 * DAY)
    assert await cold.archive(30 * DAY) == 1
    assert rows(executor, "SELECT key FROM cache_kv ORDER BY key") == [("expiring",), ("negative",), ("read",)]
    ((key, blob_key, stored_at, expires_at, archived_at, hits, quality, size),) = rows(
        executor, "SELECT key, blob_key, stored_at, expires_at, archived_at, hits, quality, size FROM cache_cold"
    )
    assert (key, stored_at, expires_at, archived_at, hits, quality) == (
        "idle", EPOCH, EPOCH + 90 * DAY, EPOCH + 31 * DAY, 0, 0.5
    )
    assert blob_key == blob_key_for("idle", EPOCH + 31 * DAY)
    assert blob_key.startswith("cold-cache/2023/12/")
    blob = await blobs.get(blob_key)
    assert blob.content_type == "application/json"
    assert size == len(blob.data)
    assert msgspec.json.decode(blob.data) == {
        "key": "idle",
        "data": {"title": "Idle"},
        "cachedAt": int(EPOCH * 1000),
        "ttl": 90 * DAY,
        "archivedAt": int((EPOCH + 31 * DAY) * 1000),
        "quality": 0.5,
    }
    assert await cold.count() == 1
    assert await cold.archive(30 * DAY) == 0  # nothing left to move


async def test_a_cold_read_returns_the_entry_and_rehydration_moves_it_back(tiers, executor, blobs, mock_clock):
    kv, cold = tiers
    await kv.put("k", b'{"n":1}', ttl=90 * DAY)
    mock_clock.jump(31 * DAY)
    assert await cold.archive(30 * DAY) == 1
    assert await kv.get("k") is None
    (blob_key,) = await blobs.list("cold-cache/")
    mock_clock.jump(DAY)
    hit = await cold.get("k")
    assert hit is not None
    assert hit.blob_key == blob_key
    assert hit.archived_at == EPOCH + 31 * DAY
    assert hit.entry.data == b'{"n":1}'
    assert (hit.entry.stored_at, hit.entry.expires_at) == (EPOCH, EPOCH + 90 * DAY)  # its own age and expiry
    entry = await cold.rehydrate(hit)
    assert entry.hits == 1
    assert rows(executor, "SELECT key, stored_at, expires_at, last_read_at, hits FROM cache_kv") == [
        ("k", EPOCH, EPOCH + 90 * DAY, EPOCH + 32 * DAY, 1)
    ]
    assert rows(executor, "SELECT * FROM cache_cold") == []
    assert await blobs.list() == []
    assert await cold.get("k") is None


async def test_archival_pages_through_many_candidates(tiers, executor, blobs, mock_clock):
    kv, cold = tiers  # archive_batch=2
    for i in range(5):
        await kv.put(f"k{i}", b"1", ttl=90 * DAY)
        mock_clock.jump(1)
    mock_clock.jump(31 * DAY)
    assert await cold.archive(30 * DAY) == 5
    assert rows(executor, "SELECT count(*) FROM cache_kv") == [(0,)]
    assert len(await blobs.list("cold-cache/")) == 5


async def test_a_key_rewritten_while_it_is_archived_stays_in_kv(executor, tmp_path, mock_clock):
    clock = Clock(epoch=EPOCH)
    kv = KVStore(executor, clock)

    class RewritingBlobs(FilesystemBlobStore):
        async def put(self, key, data, content_type="application/octet-stream"):
            blob = await super().put(key, data, content_type)
            await kv.put("k", b'"new"', ttl=90 * DAY)  # a fresh value arrives mid-archival
            return blob

    blobs = RewritingBlobs(tmp_path / "blobs")
    cold = ColdTier(executor, blobs, kv, clock)
    await kv.put("k", b'"old"', ttl=90 * DAY)
    mock_clock.jump(31 * DAY)
    assert await cold.archive(30 * DAY) == 0
    assert (await kv.get("k")).data == b'"new"'
    assert rows(executor, "SELECT * FROM cache_cold") == []
    assert await blobs.list() == []  # the copy written for it was deleted


async def test_a_write_supersedes_an_archived_copy(tiers, executor, blobs, mock_clock):
    kv, cold = tiers
    await kv.put("k", b'"old"', ttl=90 * DAY)
    mock_clock.jump(31 * DAY)
    await cold.archive(30 * DAY)
    assert len(await blobs.list()) == 1
    await kv.put("k", b'"new"', ttl=DAY)
    assert rows(executor, "SELECT * FROM cache_cold") == []
    assert await blobs.list() == []
    assert await cold.get("k") is None
    assert (await kv.get("k")).data == b'"new"'
    await kv.delete("k")
    mock_clock.jump(31 * DAY)
    assert await cold.archive(30 * DAY) == 0


async def test_delete_removes_an_archived_copy_too(tiers, executor, blobs, mock_clock):
    kv, cold = tiers
    await kv.put("k", b"1", ttl=90 * DAY)
    mock_clock.jump(31 * DAY)
    await cold.archive(30 * DAY)
    assert await kv.delete("k")
    assert await cold.get("k") is None
    assert await blobs.list() == []


async def test_expired_cold_entries_are_misses_and_purged_with_their_blobs(tiers, executor, blobs, mock_clock):
    kv, cold = tiers
    await kv.put("a", b"1", ttl=40 * DAY)
    await kv.put("b", b"1", ttl=90 * DAY)
    mock_clock.jump(31 * DAY)
    assert await cold.archive(30 * DAY) == 2
    mock_clock.jump(10 * DAY)
    assert await cold.get("a") is None
    assert await cold.get("b") is not None
    assert await cold.purge_expired() == 1
    assert rows(executor, "SELECT key FROM cache_cold") == [("b",)]
    assert len(await blobs.list()) == 1


async def test_a_missing_or_damaged_blob_is_a_miss_and_drops_the_index_entry(tiers, executor, blobs, mock_clock):
    kv, cold = tiers
    await kv.put("gone", b"1", ttl=90 * DAY)
    await kv.put("damaged", b"1", ttl=90 * DAY)
    mock_clock.jump(31 * DAY)
    assert await cold.archive(30 * DAY) == 2
    index = dict(rows(executor, "SELECT key, blob_key FROM cache_cold"))
    await blobs.delete(index["gone"])
    await blobs.put(index["damaged"], b"{not json", "application/json")
    assert await cold.get("gone") is None
    assert await cold.get("damaged") is None
    assert rows(executor, "SELECT * FROM cache_cold") == []


async def test_archival_with_an_unwritable_blob_store_leaves_entries_in_kv(tiers, executor, tmp_path, mock_clock):
    kv, _ = tiers
    (tmp_path / "file").write_bytes(b"")
    broken = ColdTier(executor, FilesystemBlobStore(tmp_path / "file"), kv, Clock(epoch=EPOCH))
    await kv.put("k", b"1", ttl=90 * DAY)
    mock_clock.jump(31 * DAY)
    assert await broken.archive(30 * DAY) == 0
    assert (await kv.get("k")).data == b"1"
    assert rows(executor, "SELECT * FROM cache_cold") == []
