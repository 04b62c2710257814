"""Reading untrusted provider JSON: each helper takes any decoded JSON value and returns the expected type or
``None`` (or ``[]``), never raising.

The normalizers decode provider bodies into ``Any`` (``msgspec.json.decode`` without a type) and read them
only through these helpers, so a field of the wrong type, a ``null``, a missing key or a whole body of the
wrong shape degrades to "unknown" instead of an exception. Shared by the per-provider modules; cover and
ISBN rules that more than one provider needs live here too.
"""

from __future__ import annotations

import math
import re
from typing import Any

from bookstrack.books.dto import AuthorDTO, EditionFormat
from bookstrack.books.isbn import clean_isbn

__all__ = [
    "PLACEHOLDER_AUTHOR",
    "authors_from_names",
    "format_from_binding",
    "https",
    "integer",
    "isbn10",
    "isbn13",
    "lead_year",
    "mapping",
    "positive_int",
    "sequence",
    "strings",
    "text",
]

PLACEHOLDER_AUTHOR = "Unknown Author"
_YEAR = re.compile(r"\s*[+]?(\d{4})(?!\d)")
_MAX_TEXT = 100_000  # a provider string longer than this is not a field we can use


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def sequence(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else ``[]``."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A non-blank string, stripped; ``None`` for anything else (numbers are not silently turned into text)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped and len(stripped) <= _MAX_TEXT:
            return stripped
    return None


def strings(value: Any) -> list[str]:
    """The non-blank strings of an array (a lone string counts as an array of one), de-duplicated, in order."""
    items = [value] if isinstance(value, str) else sequence(value)
    return list(dict.fromkeys(s for s in (text(v) for v in items) if s is not None))


def integer(value: Any) -> int | None:
    """An integer from a JSON integer, an integral float (``207.0``) or a string of digits; never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 2**53 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if abs(value) < 2**53 else None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
        return number if number < 2**53 else None
    return None


def positive_int(value: Any) -> int | None:
    number = integer(value)
    return number if number is not None and number > 0 else None


def lead_year(value: Any) -> int | None:
    """The leading four digits of a date string (``"2005-11-15"``, ``"1998"``) or a plain integer year."""
    if isinstance(value, str):
        match = _YEAR.match(value)
        year = int(match.group(1)) if match else None
    else:
        year = integer(value)
    return year if year is not None and 0 < year <= 9999 else None


def isbn13(value: Any) -> str | None:
    """A string shaped like an ISBN-13 (13 digits once cleaned), cleaned; check digit not checked."""
    raw = text(value)
    if raw is None:
        return None
    cleaned = clean_isbn(raw)
    return cleaned if len(cleaned) == 13 and cleaned.isascii() and cleaned.isdigit() else None


def isbn10(value: Any) -> str | None:
    """A string shaped like an ISBN-10 (9 digits and a digit or ``X`` once cleaned), cleaned."""
    raw = text(value)
    if raw is None:
        return None
    cleaned = clean_isbn(raw)
    shaped = len(cleaned) == 10 and cleaned.isascii() and cleaned[:9].isdigit()
    return cleaned if shaped and (cleaned[9].isdigit() or cleaned[9] == "X") else None


def https(value: Any) -> str | None:
    """An absolute http(s) URL with ``http:`` upgraded to ``https:`` (clients load covers over https only)."""
    url = text(value)
    # ``text`` stripped it, so it splits into one piece unless whitespace is inside (``str.split`` and
    # ``str.isspace`` agree on whitespace; this is the C loop instead of a generator per character).
    if url is None or len(url.split()) != 1:
        return None
    lowered = url.lower()
    if lowered.startswith("http://"):
        url = "https://" + url[7:]
    elif lowered.startswith("//"):
        url = "https:" + url
    elif not lowered.startswith("https://"):
        return None
    return url if len(url) > len("https://") else None


# Binding words, compared without case, spaces or hyphens, in this order (reference §8.3).
_BINDINGS: tuple[tuple[tuple[str, ...], EditionFormat], ...] = (
    (("hardcover", "hardback"), EditionFormat.HARDCOVER),
    (("paperback", "tradepaper"), EditionFormat.PAPERBACK),
    (("ebook", "kindle", "digital"), EditionFormat.EBOOK),
    (("audio",), EditionFormat.AUDIOBOOK),
)


def format_from_binding(value: Any) -> EditionFormat:
    """ISBNdb's ``binding`` (or Open Library's ``physical_format``) as an ``EditionFormat``; ``Paperback``
    when unknown. "Mass Market Paperback" is ``Paperback``, as in the original (reference §5.1)."""
    binding = text(value)
    if binding is None:
        return EditionFormat.PAPERBACK
    compact = re.sub(r"[\s\-_]+", "", binding.lower())
    for words, edition_format in _BINDINGS:
        if any(word in compact for word in words):
            return edition_format
    return EditionFormat.PAPERBACK


def authors_from_names(names: list[str], *, placeholder: bool = True) -> list[AuthorDTO]:
    """One ``AuthorDTO`` per name (gender ``Unknown``); none → one ``"Unknown Author"`` if ``placeholder``."""
    if names:
        return [AuthorDTO(name=name) for name in names]
    return [AuthorDTO(name=PLACEHOLDER_AUTHOR)] if placeholder else []
