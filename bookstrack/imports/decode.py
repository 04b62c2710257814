"""Bytes of an uploaded export to text, deciding one encoding per file and never raising.

The rule, in order: a UTF-8 BOM → ``utf-8-sig``; a UTF-16 BOM → ``utf-16``; NUL bytes in every other
position of the first bytes (UTF-16 saved without a BOM) → ``utf-16-le``/``utf-16-be``; text that decodes
as strict UTF-8 → ``utf-8``; anything else → ``cp1252`` (Windows-1252, what Excel and LibraryThing's
older exports write), where the five bytes cp1252 leaves undefined decode to the C1 control of the same
value, so every byte string decodes.

Why no charset-detection library: real exports are UTF-8 or Windows-1252, and strict UTF-8 almost never
accepts Windows-1252 text by accident (an accented letter would have to be followed by exactly the right
continuation bytes). A detector would be slower on a 10 MiB file, could change its guess between versions,
and would sometimes pick an exotic code page for a short file.
"""

from __future__ import annotations

import codecs
from typing import Final

__all__ = ["decode"]

_HANDLER: Final = "bookstrack.cp1252-undefined"


def _latin1_for_undefined(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_HANDLER, _latin1_for_undefined)


def _utf16_without_bom(data: bytes) -> str | None:
    head = data[:64]
    if len(head) < 4 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    if not any(head[1::2]) and all(head[0::2]):
        return "utf-16-le"
    if not any(head[0::2]) and all(head[1::2]):
        return "utf-16-be"
    return None


def decode(data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` for the bytes of an export; the encoding is the name of the codec used."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return data.decode(utf16, errors="replace"), utf16
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors=_HANDLER), "cp1252"
