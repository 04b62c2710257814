"""ISBNs: cleaning what people type, check digits, ISBN-10 ↔ ISBN-13, and finding ISBNs in free text.

Two strengths, for two kinds of input:

* user input goes through ``parse_isbn`` / ``canonical_isbn``: strict, raising ``InvalidIsbn`` (400
  ``INVALID_ISBN``) for a blank text, a wrong shape or a wrong check digit;
* provider data goes through ``isbn_key``: lenient (the check digit is not checked, real catalogues hold
  a few wrong ones), returning ``None`` for what is not ISBN-shaped. It is the key for de-duplication
  and lookup.

The canonical form is the ISBN-13 (an ISBN-10 gets the 978 prefix and a recomputed check digit), so an
ISBN-10 query finds a record stored under its ISBN-13 and vice versa. Only 978 ISBN-13s have an ISBN-10.
An ISBN-13 must start with 978 or 979 (the "Bookland" prefixes): other EAN-13s are not ISBNs.

Cleaning drops spaces (any Unicode space), ASCII and Unicode dashes (U+2010–U+2015, U+2212, the small and
fullwidth hyphen-minus, the soft hyphen) and invisible format characters; maps any Unicode *decimal*
digit (fullwidth, Arabic-Indic, Devanagari ...) to its ASCII digit with ``unicodedata.decimal`` (not
``digit``, which would also take superscripts and circled numbers); and upper-cases ``x``. A leading
``ISBN``, ``ISBN-10:`` or ``ISBN-13:`` label is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, NamedTuple

from bookstrack.errors import InvalidIsbn

__all__ = [
    "canonical_isbn",
    "clean_isbn",
    "find_isbns",
    "is_valid_isbn",
    "is_valid_isbn10",
    "is_valid_isbn13",
    "isbn10_to_13",
    "isbn13_to_10",
    "isbn_key",
    "isbn_variants",
    "parse_isbn",
]

DASHES: Final = frozenset("-\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
_X: Final = frozenset("xX\uff58\uff38")  # with fullwidth ｘ Ｘ
_LABEL: Final = re.compile(r"^\s*isbn(?:[-\s\u2010-\u2015\u2212]?1[03](?!\d))?\s*[:：]?\s*", re.IGNORECASE)
_BOOKLAND: Final = ("978", "979")

MESSAGE_REQUIRED: Final = "ISBN is required"
MESSAGE_FORMAT: Final = "Invalid ISBN format. Must be valid ISBN-10 or ISBN-13"
MESSAGE_CHECK_DIGIT: Final = "Invalid ISBN check digit. Must be valid ISBN-10 or ISBN-13"


def _map_char(ch: str) -> str:
    """One character of an ISBN as ASCII: a digit, ``X``, ``-`` for any dash, ``" "`` for any space,
    ``""`` for an invisible format character, or the character itself (which then spoils the ISBN)."""
    if "0" <= ch <= "9":
        return ch
    if ch in DASHES:
        return "-"
    if ch in _X:
        return "X"
    if ch.isspace():
        return " "
    value = unicodedata.decimal(ch, None)
    if value is not None:
        return str(value)
    if unicodedata.category(ch) == "Cf":
        return ""
    return ch


def clean_isbn(text: str) -> str:
    """``text`` without its label, separators and invisible characters, with ASCII digits and ``X``.

    Not validated: ``clean_isbn("0-306-40615-2") == "0306406152"``, ``clean_isbn("abc") == "ABC"``."""
    if text.isdigit() and text.isascii():
        return text  # already clean (most provider data): merging a batch cleans thousands of these
    text = _LABEL.sub("", text, count=1)
    return "".join(c for c in map(_map_char, text) if c not in ("-", " "))


def _isbn10_check(first9: str) -> str:
    total = sum((10 - i) * int(d) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def _isbn13_check(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def _is_isbn10_shape(s: str) -> bool:
    return len(s) == 10 and s[:9].isascii() and s[:9].isdigit() and (s[9] == "X" or "0" <= s[9] <= "9")


def _is_isbn13_shape(s: str) -> bool:
    return len(s) == 13 and s.isascii() and s.isdigit() and s.startswith(_BOOKLAND)


def is_valid_isbn10(isbn: str) -> bool:
    """A cleaned ISBN-10 whose check digit (mod 11, ``X`` = 10) is right."""
    return _is_isbn10_shape(isbn) and _isbn10_check(isbn[:9]) == isbn[9]


def is_valid_isbn13(isbn: str) -> bool:
    """A cleaned 978/979 ISBN-13 whose check digit (mod 10, weights 1 and 3) is right."""
    return _is_isbn13_shape(isbn) and _isbn13_check(isbn[:12]) == isbn[12]


def is_valid_isbn(text: str) -> bool:
    """Whether ``text`` (uncleaned) is a valid ISBN-10 or ISBN-13."""
    isbn = clean_isbn(text)
    return is_valid_isbn10(isbn) or is_valid_isbn13(isbn)


def isbn10_to_13(isbn10: str) -> str:
    """The 978 ISBN-13 of a cleaned ISBN-10 (its own check digit is not needed, so not checked)."""
    if not _is_isbn10_shape(isbn10):
        raise ValueError(f"not an ISBN-10: {isbn10!r}")
    first12 = "978" + isbn10[:9]
    return first12 + _isbn13_check(first12)


def isbn13_to_10(isbn13: str) -> str | None:
    """The ISBN-10 of a cleaned 978 ISBN-13; ``None`` for a 979 ISBN-13, which has none."""
    if not _is_isbn13_shape(isbn13):
        raise ValueError(f"not an ISBN-13: {isbn13!r}")
    if not isbn13.startswith("978"):
        return None
    return isbn13[3:12] + _isbn10_check(isbn13[3:12])


def parse_isbn(text: str) -> str:
    """The cleaned, validated ISBN in ``text`` (10 or 13 characters, as given), or ``InvalidIsbn``."""
    details = {"isbn": text}
    if not text or not text.strip():
        raise InvalidIsbn(MESSAGE_REQUIRED, details=details)
    isbn = clean_isbn(text)
    if _is_isbn10_shape(isbn):
        valid = is_valid_isbn10(isbn)
    elif _is_isbn13_shape(isbn):
        valid = is_valid_isbn13(isbn)
    else:
        raise InvalidIsbn(MESSAGE_FORMAT, details=details)
    if not valid:
        raise InvalidIsbn(MESSAGE_CHECK_DIGIT, details=details)
    return isbn


def canonical_isbn(text: str) -> str:
    """The ISBN-13 of the valid ISBN in ``text``, or ``InvalidIsbn``: the form lookups and keys use."""
    isbn = parse_isbn(text)
    return isbn10_to_13(isbn) if len(isbn) == 10 else isbn


def isbn_variants(text: str) -> list[str]:
    """``[isbn13, isbn10]`` for a valid ISBN (just ``[isbn13]`` for 979), or ``InvalidIsbn``: every form
    a provider or the cache may hold the book under, canonical first."""
    isbn13 = canonical_isbn(text)
    isbn10 = isbn13_to_10(isbn13)
    return [isbn13] if isbn10 is None else [isbn13, isbn10]


def isbn_key(text: str | None) -> str | None:
    """Lenient canonical form of an ISBN from provider data: the ISBN-13 (an ISBN-10 converted) if
    ``text`` has an ISBN's shape, whatever its check digit; ``None`` otherwise."""
    if not text:
        return None
    isbn = clean_isbn(text)
    if _is_isbn10_shape(isbn):
        return isbn10_to_13(isbn)
    if _is_isbn13_shape(isbn):
        return isbn
    return None


# A run: digit groups joined by single dashes or spaces, optionally ending with X (all mapped to ASCII).
_RUN: Final = re.compile(r"[0-9]+(?:[- ][0-9]+)*(?:[- ]?X)?")
_GROUP: Final = re.compile(r"([- ]?)([0-9]+|X)")


class _Reading(NamedTuple):
    """A valid ISBN made of groups ``first``..``last`` of a run."""

    first: int
    last: int
    isbn: str
    spaces: int  # spaces inside it
    cuts: bool  # it starts or ends inside a dash-joined token


def _readings(groups: list[tuple[str, str]]) -> list[_Reading]:
    found = []
    for i in range(len(groups)):
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j][1]
            if len(digits) > 13:
                break
            if len(digits) in (10, 13) and (is_valid_isbn10(digits) or is_valid_isbn13(digits)):
                spaces = sum(sep == " " for sep, _ in groups[i + 1 : j + 1])
                cuts = groups[i][0] == "-" or (j + 1 < len(groups) and groups[j + 1][0] == "-")
                found.append(_Reading(i, j, digits, spaces, cuts))
    return found


def _best(readings: list[_Reading], size: int, blocked: set[int]) -> list[_Reading]:
    """Non-overlapping readings covering the most digits (then with the fewest spaces; then the leftmost),
    avoiding ``blocked`` groups: weighted interval scheduling over the run's groups."""
    best: list[tuple[int, int, list[_Reading]]] = [(0, 0, [])]
    for end in range(size):
        score = best[end]
        for r in readings:
            if r.last == end and not blocked.intersection(range(r.first, r.last + 1)):
                covered, spaces, chosen = best[r.first]
                candidate = (covered + len(r.isbn), spaces - r.spaces, [*chosen, r])
                if candidate[:2] > score[:2]:
                    score = candidate
        best.append(score)
    return best[-1][2]


def _find_in_run(run: str) -> list[_Reading]:
    """The ISBNs of one run. Readings made of whole dash-joined tokens come first (the most digits
    covered wins, so ``97 9742374155 9`` reads as one ISBN-13, not an ISBN-10 between strays); readings
    that cut into a token (``12-978-0-306-40615-7``) only fill what is left."""
    groups = [(m.group(1), m.group(2)) for m in _GROUP.finditer(run)]
    readings = _readings(groups)
    whole = _best([r for r in readings if not r.cuts], len(groups), set())
    taken = {g for r in whole for g in range(r.first, r.last + 1)}
    return whole + _best([r for r in readings if r.cuts], len(groups), taken)


def find_isbns(text: str) -> list[str]:
    """Every valid ISBN in free text, cleaned (10 or 13 characters as written), in order of appearance,
    without repeats of the same book (an ISBN-10 and its ISBN-13 count once: the first written wins).

    An ISBN is digit groups joined by single dashes or spaces (any Unicode ones), not glued to other
    digits. Guaranteed: an ISBN bounded by characters that cannot continue a number (not a digit, dash,
    space or ``X``) is found, whatever surrounds it. Where stray numbers sit next to an ISBN, separated
    only by spaces, the reading that accounts for the most digits wins."""
    mapped = "".join(map(_map_char, text))
    located = []
    for match in _RUN.finditer(mapped):
        located.extend((match.start(), r.first, r.isbn) for r in _find_in_run(match.group()))
    seen: set[str | None] = set()
    isbns = []
    for _, _, isbn in sorted(located):
        key = isbn_key(isbn)
        if key not in seen:
            seen.add(key)
            isbns.append(isbn)
    return isbns
