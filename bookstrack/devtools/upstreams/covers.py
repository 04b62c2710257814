"""A fake cover-image host for the image proxy's tests and offline demos (prefix ``/covers``).

Not a provider (it has no base URL in the config; the proxy is pointed at it by URL), but it is counted
and takes faults like one. Every answer is deterministic:

    GET /b/{name}.png         a valid PNG (1x1, its colour from the name); ETag
    GET /b/{name}.jpg         JPEG bytes (SOI, JFIF header, the name's hash, EOI); ETag
    GET /redirect?to=URL      302 to URL (``&status=301|303|307|308`` for another status)
    GET /text                 200 text/html: not an image
    GET /lying.png            200 image/png whose bytes are HTML: an image by its header only
    GET /huge.png?bytes=N     a PNG-looking body of N bytes (default 5 MiB + 1: over the default cap)
    GET /missing.png          404
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import ClassVar

from bookstrack.devtools.upstreams.base import Request, Response, Route, Upstream, route

__all__ = ["Covers", "png_bytes", "jpeg_bytes", "DEFAULT_HUGE"]

DEFAULT_HUGE = 5 * 1024 * 1024 + 1
_MAX_HUGE = 64 * 1024 * 1024


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(name: str) -> bytes:
    """A valid 1x1 RGB PNG whose colour is derived from ``name``."""
    red, green, blue = hashlib.sha256(name.encode()).digest()[:3]
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, red, green, blue]))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def jpeg_bytes(name: str) -> bytes:
    """Bytes that start and end like a JPEG (SOI + JFIF APP0 … EOI), unique per ``name``."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = hashlib.sha256(name.encode()).digest()
    com = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return b"\xff\xd8" + app0 + com + b"\xff\xd9"


def _etag(data: bytes) -> list[tuple[str, str]]:
    return [("etag", f'"{hashlib.sha1(data).hexdigest()[:16]}"')]


class Covers(Upstream):
    name: ClassVar[str] = "covers"
    prefix: ClassVar[str] = "/covers"
    routes: ClassVar[list[Route]] = [
        route("GET", r"/b/(?P<name>[A-Za-z0-9_.-]+)\.png", "png", "/b/{name}.png"),
        route("GET", r"/b/(?P<name>[A-Za-z0-9_.-]+)\.jpg", "jpeg", "/b/{name}.jpg"),
        route("GET", r"/redirect", "redirect"),
        route("GET", r"/text", "text"),
        route("GET", r"/lying\.png", "lying", "/lying.png"),
        route("GET", r"/huge\.png", "huge", "/huge.png"),
    ]

    def png(self, request: Request, name: str) -> Response:
        data = png_bytes(name)
        return Response(200, data, "image/png", _etag(data))

    def jpeg(self, request: Request, name: str) -> Response:
        data = jpeg_bytes(name)
        return Response(200, data, "image/jpeg", _etag(data))

    def redirect(self, request: Request) -> Response:
        target = request.arg("to") or "/"
        status = request.int_arg("status", 302, low=300, high=399)
        return Response(status, b"", "text/plain", [("location", target)])

    def text(self, request: Request) -> Response:
        return Response(200, b"<html><body>not an image</body></html>", "text/html; charset=utf-8")

    def lying(self, request: Request) -> Response:
        return Response(200, b"<html><script>alert(1)</script></html>", "image/png")

    def huge(self, request: Request) -> Response:
        size = request.int_arg("bytes", DEFAULT_HUGE, low=8, high=_MAX_HUGE)
        return Response(200, b"\x89PNG\r\n\x1a\n" + bytes(size - 8), "image/png")

    def not_found(self, request: Request) -> Response:
        return Response(404, b"not found", "text/plain")
