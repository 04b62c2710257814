"""The blob store: FilesystemBlobStore (and MemoryBlobStore, its stand-in) behind one interface."""

from __future__ import annotations

import logging
import os

import pytest
import trio

from bookstrack.store.blobs import Blob, FilesystemBlobStore, InvalidBlobKey, MemoryBlobStore


@pytest.fixture(params=["filesystem", "memory"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryBlobStore()
    return FilesystemBlobStore(tmp_path / "blobs")


async def test_put_then_get_keeps_bytes_content_type_and_etag(store):
    put = await store.put("scans/job-1/0.jpg", b"\xff\xd8jpeg bytes", "image/jpeg")
    assert isinstance(put, Blob)
    got = await store.get("scans/job-1/0.jpg")
    assert got == put
    assert got.data == b"\xff\xd8jpeg bytes"
    assert got.content_type == "image/jpeg"
    assert got.etag
    assert got.etag == put.etag


async def test_the_etag_follows_the_content(store):
    a = await store.put("a", b"one")
    b = await store.put("b", b"one")
    c = await store.put("c", b"two")
    assert a.etag == b.etag != c.etag
    assert a.content_type == "application/octet-stream"


async def test_get_of_a_missing_key_is_none(store):
    assert await store.get("nope") is None
    assert await store.get("no/such/dir/key") is None


async def test_put_replaces(store):
    await store.put("k", b"old", "text/plain")
    await store.put("k", b"new", "application/json")
    got = await store.get("k")
    assert (got.data, got.content_type) == (b"new", "application/json")


async def test_delete(store):
    await store.put("dir/k", b"x")
    assert await store.delete("dir/k") is True
    assert await store.get("dir/k") is None
    assert await store.delete("dir/k") is False
    assert await store.list() == []


async def test_list_is_sorted_and_filtered_by_prefix(store):
    for key in ("covers/b.jpg", "covers/a.jpg", "scans/1/0.jpg", "archive/x.json", "covers2/z"):
        await store.put(key, b"x")
    assert await store.list() == ["archive/x.json", "covers/a.jpg", "covers/b.jpg", "covers2/z", "scans/1/0.jpg"]
    assert await store.list("covers/") == ["covers/a.jpg", "covers/b.jpg"]
    assert await store.list("covers") == ["covers/a.jpg", "covers/b.jpg", "covers2/z"]
    assert await store.list("nothing") == []


async def test_keys_may_look_like_temporary_or_hidden_files(store):
    keys = ["export.tmp", ".hidden", "a/.b.c.tmp", "x.meta", "v=1:2-3_4.json"]
    for key in keys:
        await store.put(key, key.encode())
    assert await store.list() == sorted(keys)
    for key in keys:
        assert (await store.get(key)).data == key.encode()


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "a/../b",
        "/abs",
        "a/./b",
        ".",
        "..",
        "",
        "a//b",
        "a/",
        "a\\b",
        "..\\x",
        "a b",
        "é",
        "a\x00b",
        "x" * 513,
        "k.meta.json",
        "~tmp",
    ],
)
async def test_keys_that_could_escape_the_root_or_collide_are_rejected(store, key):
    with pytest.raises(InvalidBlobKey):
        await store.put(key, b"x")
    with pytest.raises(InvalidBlobKey):
        await store.get(key)
    with pytest.raises(InvalidBlobKey):
        await store.delete(key)


async def test_files_stay_under_the_root(tmp_path):
    root = tmp_path / "blobs"
    store = FilesystemBlobStore(root)
    await store.put("a/b/c.bin", b"data", "application/x-test")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert all(f.startswith("blobs/a/b/") for f in files)
    assert (root / "a" / "b" / "c.bin").read_bytes() == b"data"
    assert not (tmp_path / "x").exists()


async def test_filesystem_blobs_survive_a_new_store_instance(tmp_path):
    await FilesystemBlobStore(tmp_path).put("k", b"persisted", "text/csv")
    got = await FilesystemBlobStore(tmp_path).get("k")
    assert (got.data, got.content_type) == (b"persisted", "text/csv")


async def test_a_blob_without_its_metadata_is_still_readable(tmp_path):
    (tmp_path / "dropped-in.bin").write_bytes(b"raw")
    store = FilesystemBlobStore(tmp_path)
    got = await store.get("dropped-in.bin")
    assert (got.data, got.content_type) == (b"raw", "application/octet-stream")
    assert got.etag == (await store.put("other", b"raw")).etag


@pytest.mark.parametrize("new", [b"\x89PNG samelen", b"\x89PNG different length"], ids=["same-size", "new-size"])
async def test_a_sidecar_left_by_an_older_write_is_not_believed(tmp_path, caplog, new):
    # A crash between put's two renames: the new data landed, the old sidecar stayed. Same-size bytes
    # show that the ETag check, not only the size, catches it.
    store = FilesystemBlobStore(tmp_path)
    old = await store.put("covers/k.jpg", b"\xff\xd8jpeg bytes", "image/jpeg")
    (tmp_path / "covers" / "k.jpg").write_bytes(new)
    with caplog.at_level(logging.WARNING, logger="bookstrack.store.blobs"):
        got = await store.get("covers/k.jpg")
    assert got.data == new
    assert got.etag == (await MemoryBlobStore().put("x", new)).etag != old.etag
    assert got.content_type == "application/octet-stream"
    warnings = [r for r in caplog.records if r.name == "bookstrack.store.blobs" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "covers/k.jpg" in warnings[0].getMessage()


async def test_a_consistent_sidecar_gives_the_stored_type_and_etag_without_warning(tmp_path, caplog):
    store = FilesystemBlobStore(tmp_path)
    put = await store.put("covers/k.jpg", b"\xff\xd8jpeg bytes", "image/jpeg")
    with caplog.at_level(logging.WARNING, logger="bookstrack.store.blobs"):
        got = await FilesystemBlobStore(tmp_path).get("covers/k.jpg")
    assert (got.content_type, got.etag) == ("image/jpeg", put.etag)
    assert [r for r in caplog.records if r.name == "bookstrack.store.blobs"] == []


async def test_an_orphan_sidecar_is_ignored_by_get_and_list(tmp_path):
    # A crash inside delete, after the data went and before the sidecar did.
    store = FilesystemBlobStore(tmp_path)
    await store.put("covers/gone.jpg", b"x", "image/jpeg")
    await store.put("covers/kept.jpg", b"y", "image/jpeg")
    (tmp_path / "covers" / "gone.jpg").unlink()
    assert (tmp_path / "covers" / "gone.jpg.meta.json").exists()
    assert await store.get("covers/gone.jpg") is None
    assert await store.list() == ["covers/kept.jpg"]
    assert await store.list("covers/gone") == []
    # The next put of the key replaces the orphan.
    again = await store.put("covers/gone.jpg", b"zz", "image/png")
    assert await store.get("covers/gone.jpg") == again


async def test_writes_are_atomic_no_partial_or_temporary_files_remain(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    await store.put("k", b"x" * 100_000)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["k", "k.meta.json"]
    assert await store.list() == ["k"]


async def test_concurrent_puts_of_one_key_all_succeed_and_one_wins_whole(tmp_path):
    store = FilesystemBlobStore(tmp_path, limiter=trio.CapacityLimiter(8))
    payloads = {i: bytes([i]) * (50_000 + i) for i in range(16)}
    errors: list[BaseException] = []

    async def put(i: int) -> None:
        try:
            await store.put("same/key", payloads[i], f"application/x-{i}")
        except Exception as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for i in payloads:
            nursery.start_soon(put, i)
    assert errors == []
    got = await store.get("same/key")
    assert got.data in payloads.values()
    assert await store.list() == ["same/key"]
    assert not [name for name in os.listdir(tmp_path / "same") if "tmp" in name]


async def test_reads_during_writes_see_a_whole_blob(tmp_path):
    store = FilesystemBlobStore(tmp_path, limiter=trio.CapacityLimiter(8))
    old, new = b"o" * 200_000, b"n" * 300_000
    await store.put("k", old)
    seen: list[bytes] = []

    async def read() -> None:
        for _ in range(20):
            seen.append((await store.get("k")).data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        for _ in range(10):
            nursery.start_soon(store.put, "k", new)
    assert set(seen) <= {old, new}
