"""Parsing a buffered ``multipart/form-data`` body into its fields and files, off the event loop.

Owns the parse of an upload that the route has already read (within its body limit): werkzeug's sans-IO
``MultipartDecoder`` turns the bytes into fields (text) and files (name, type, bytes). It is a pure function,
so the route runs it on the CPU offload threads: Quart's own form parsing runs on the event loop, where a
10 MiB export took about 80 ms during which nothing else was answered. A body that is not well-formed
multipart (no boundary, a part cut short, a malformed header) is ``InvalidRequest``, never a 500.

It must not read the request or apply size limits (routing does both).
"""

from __future__ import annotations

import msgspec
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from bookstrack.errors import InvalidRequest

__all__ = ["FormData", "UploadedFile", "parse_multipart"]


class UploadedFile(msgspec.Struct, frozen=True):
    filename: str
    content_type: str
    data: bytes


class FormData(msgspec.Struct, frozen=True):
    fields: dict[str, str]
    files: dict[str, UploadedFile]


def parse_multipart(body: bytes, boundary: str) -> FormData:
    """The fields and files of ``body``; the first part of a name wins, as Werkzeug's ``.get`` does."""
    if not boundary:
        raise InvalidRequest("multipart/form-data without a boundary")
    decoder = MultipartDecoder(boundary.encode("latin-1"))
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    part: Field | File | None = None
    chunks: list[bytes] = []
    try:
        decoder.receive_data(body)
        decoder.receive_data(None)
        while True:
            event = decoder.next_event()
            if isinstance(event, Epilogue):
                break
            if isinstance(event, NeedData):  # the body ended inside a part or before the closing boundary
                raise InvalidRequest("Malformed multipart body: it ends before its closing boundary")
            if isinstance(event, (Field, File)):
                part, chunks = event, []
            elif isinstance(event, Data) and part is not None:
                chunks.append(event.data)
                if not event.more_data:
                    data = b"".join(chunks)
                    if isinstance(part, File):
                        content_type = part.headers.get("content-type", "application/octet-stream")
                        files.setdefault(part.name, UploadedFile(part.filename or "", content_type, data))
                    else:
                        fields.setdefault(part.name, data.decode("utf-8", "replace"))
                    part = None
    except ValueError as exc:  # werkzeug's word for a malformed or cut-short body
        raise InvalidRequest(f"Malformed multipart body: {exc}") from None
    return FormData(fields, files)
