"""Which image formats the cover proxy serves, told by their bytes (magic numbers), never by a header.

Owns ``sniff(data)``: the canonical content type of JPEG, PNG, GIF, WebP or AVIF bytes, else ``None``.
SVG is deliberately absent (it is a document that can carry script), as is everything a browser might
sniff into HTML. What the proxy serves goes out with the sniffed type and ``nosniff``. Pure: no I/O.
"""

from __future__ import annotations

__all__ = ["SERVED_TYPES", "sniff"]

SERVED_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif")

_AVIF_BRANDS = (b"avif", b"avis")


def sniff(data: bytes) -> str | None:
    """The content type the bytes are (one of ``SERVED_TYPES``), or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _AVIF_BRANDS:
        return "image/avif"
    return None
