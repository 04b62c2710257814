"""The blob store: named byte objects (scan images, archived cache entries, covers) behind one interface.

``BlobStore`` is the interface (the R2 analogue; an object store can implement it for a multi-node
deployment). ``FilesystemBlobStore`` keeps each blob as a file under ``[storage] blobs`` with a small
JSON sidecar for its content type and ETag; each of the two files is written atomically (temp file + rename,
each temp name unique and containing ``~``, a character no key may use, so concurrent writers never share one
and no key is mistaken for one), data first, and a reader checks the sidecar against the bytes it read, so
after a crash between the two renames it gets the new bytes whole with ``application/octet-stream`` and an
ETag computed from them, never the old content type or ETag. File I/O runs on worker threads, and keys are
checked so that no key can name a path outside the root.
``MemoryBlobStore`` is for tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Protocol

import msgspec
import trio

__all__ = ["Blob", "BlobStore", "FilesystemBlobStore", "MemoryBlobStore", "InvalidBlobKey"]

_KEY = re.compile(r"^[A-Za-z0-9._:=-]+(/[A-Za-z0-9._:=-]+)*$")
_META = ".meta.json"
_TMP = "~"  # marks temporary files; not in the key alphabet
_FALLBACK_TYPE = "application/octet-stream"

log = logging.getLogger("bookstrack.store.blobs")


class InvalidBlobKey(ValueError):
    """A key that is empty, too long, has '..' segments or characters outside [A-Za-z0-9._:=-/]."""


class Blob(msgspec.Struct, frozen=True):
    key: str
    data: bytes
    content_type: str
    etag: str


class _Meta(msgspec.Struct):
    content_type: str
    etag: str
    size: int


def check_key(key: str) -> str:
    if len(key) > 512 or not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise InvalidBlobKey(f"invalid blob key {key!r}: use 1-512 characters of [A-Za-z0-9._:=-] and '/'")
    if key.endswith(_META):
        raise InvalidBlobKey(f"invalid blob key {key!r}: keys may not end in {_META}")
    return key


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> Blob: ...

    async def get(self, key: str) -> Blob | None: ...

    async def delete(self, key: str) -> bool: ...

    async def list(self, prefix: str = "") -> list[str]: ...


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, Blob] = {}

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> Blob:
        blob = Blob(check_key(key), bytes(data), content_type, _etag(data))
        self._blobs[key] = blob
        return blob

    async def get(self, key: str) -> Blob | None:
        return self._blobs.get(check_key(key))

    async def delete(self, key: str) -> bool:
        return self._blobs.pop(check_key(key), None) is not None

    async def list(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._blobs if k.startswith(prefix))


class FilesystemBlobStore:
    def __init__(self, root: str | Path, *, limiter: trio.CapacityLimiter | None = None) -> None:
        self.root = Path(root)
        self._limiter = limiter or trio.CapacityLimiter(4)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def _io(self, fn, *args):  # type: ignore[no-untyped-def]
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> Blob:
        path = self._path(key)
        blob = Blob(key, bytes(data), content_type, _etag(data))
        meta = msgspec.json.encode(_Meta(content_type, blob.etag, len(data)))

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            for target, payload in ((path, blob.data), (path.with_name(path.name + _META), meta)):
                tmp = target.with_name(f".{target.name}{_TMP}{uuid.uuid4().hex}.tmp")
                with open(tmp, "wb") as fh:
                    fh.write(payload)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)

        await self._io(write)
        return blob

    async def get(self, key: str) -> Blob | None:
        path = self._path(key)

        def read() -> Blob | None:
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                return None
            etag = _etag(data)
            try:
                meta = msgspec.json.decode(path.with_name(path.name + _META).read_bytes(), type=_Meta)
            except (FileNotFoundError, msgspec.DecodeError):
                return Blob(key, data, _FALLBACK_TYPE, etag)
            # The two files are not replaced together: a crash (or a concurrent put) between the data and
            # the sidecar leaves a sidecar describing other bytes, whose ETag would keep a wrong cached copy
            # alive and whose type may not fit. Only a sidecar matching these bytes is believed; hashing
            # costs ~0.1 ms per 200 KB, on a worker thread.
            if meta.size != len(data) or meta.etag != etag:
                log.warning(
                    "blobs: sidecar of %r does not match its data (interrupted write?); served as %s",
                    key,
                    _FALLBACK_TYPE,
                )
                return Blob(key, data, _FALLBACK_TYPE, etag)
            return Blob(key, data, meta.content_type, etag)

        return await self._io(read)

    async def delete(self, key: str) -> bool:
        path = self._path(key)

        def remove() -> bool:
            existed = path.is_file()
            # Data first: its removal is the delete's one visible step; a crash before the sidecar goes only
            # leaves an orphan sidecar, which get and list ignore and the next put of the key replaces.
            for target in (path, path.with_name(path.name + _META)):
                try:
                    target.unlink()
                except FileNotFoundError:
                    pass
            return existed

        return await self._io(remove)

    async def list(self, prefix: str = "") -> list[str]:
        def scan() -> list[str]:
            if not self.root.is_dir():
                return []
            keys = []
            for path in self.root.rglob("*"):
                if path.is_file() and not path.name.endswith(_META) and _TMP not in path.name:
                    key = path.relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
            return sorted(keys)

        return await self._io(scan)
