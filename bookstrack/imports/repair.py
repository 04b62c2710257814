"""ISBN cells as spreadsheets leave them: what to keep, what can be repaired, what is lost.

ISBN logic itself (cleaning, check digits, 10 → 13) is ``bookstrack.books.isbn``'s; this module only
decides what a damaged cell still proves:

* ``9780439023481.0`` (a number formatted with a decimal) → the ``.0`` is dropped;
* ``439023483`` → ``0439023483``: an all-digit cell (``X`` allowed last) of 7 to 9 characters is padded
  with leading zeros to 10 and kept only if the check digit then holds (note ``"repaired"``). At most three
  zeros: English-language ISBN-10s start with group 0 or 1, and group 0's ``00`` publishers give
  ``000…`` (``0006479898``); the check digit leaves a 1-in-11 chance of a false repair, so shorter numbers
  are not guessed at. ISBN-13s start with 978/979 and cannot lose zeros;
* scientific notation (``9.78044E+12``, ``9,78E+12``) → note ``"unrecoverable"`` and no ISBN, unless the
  mantissa still carries all the digits of a valid ISBN (``9.780439023481E+12``, note ``"repaired"``);
* an ISBN-shaped cell with a wrong check digit keeps its digits with note ``"invalid"``; text that is not
  ISBN-shaped at all gives note ``"invalid"`` and no ISBN.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final, NamedTuple

from bookstrack.books.isbn import clean_isbn, is_valid_isbn10, is_valid_isbn13, isbn10_to_13
from bookstrack.imports.model import IsbnNote

__all__ = ["NO_ISBN", "IsbnReading", "best_isbn", "best_of", "read_isbn"]

_SCIENTIFIC: Final = re.compile(r"\d+(?:[.,]\d*)?[eE]\+?\d{1,2}")
_DECIMAL_ZERO: Final = re.compile(r"(\d+)\.0+")
_RANK: Final[dict[IsbnNote | None, int]] = {None: 0, "repaired": 1, "invalid": 2, "unrecoverable": 3}


class IsbnReading(NamedTuple):
    """What one ISBN cell says: the cleaned ISBN as found, its ISBN-13 when valid, and a note."""

    isbn: str | None
    isbn13: str | None
    note: IsbnNote | None


NO_ISBN: Final = IsbnReading(None, None, None)


def _valid(isbn: str, note: IsbnNote | None) -> IsbnReading | None:
    if len(isbn) == 13 and is_valid_isbn13(isbn):
        return IsbnReading(isbn, isbn, note)
    if len(isbn) == 10 and is_valid_isbn10(isbn):
        return IsbnReading(isbn, isbn10_to_13(isbn), note)
    return None


def _scientific(cell: str) -> IsbnReading:
    try:
        value = Decimal(cell.replace(",", "."))
    except InvalidOperation:
        return IsbnReading(None, None, "unrecoverable")
    if value == value.to_integral_value():
        return _valid(str(int(value)), "repaired") or IsbnReading(None, None, "unrecoverable")
    return IsbnReading(None, None, "unrecoverable")


def read_isbn(cell: str) -> IsbnReading:
    """The ISBN in one cell (already unwrapped from ``="…"`` or ``[…]``); ``NO_ISBN`` for a blank cell."""
    cell = cell.strip()
    if not cell:
        return NO_ISBN
    if _SCIENTIFIC.fullmatch(cell):
        return _scientific(cell)
    m = _DECIMAL_ZERO.fullmatch(cell)
    if m:
        cell = m[1]
    isbn = cell if cell.isdigit() and cell.isascii() else clean_isbn(cell)
    found = _valid(isbn, None)
    if found is not None:
        return found
    body = isbn[:-1] if isbn.endswith("X") else isbn
    if body.isascii() and body.isdigit():
        if 7 <= len(isbn) <= 9:
            repaired = _valid(isbn.rjust(10, "0"), "repaired")
            if repaired is not None:
                return repaired
        if len(isbn) in (10, 13):
            return IsbnReading(isbn, None, "invalid")
    return IsbnReading(None, None, "invalid")


def best_isbn(*readings: IsbnReading) -> IsbnReading:
    """The most useful of several cells' readings: valid before repaired before invalid before
    unrecoverable, an ISBN-13 as written before an ISBN-10; blank cells do not count."""
    best = NO_ISBN
    best_key = (9, 9)
    for reading in readings:
        if reading is NO_ISBN or reading == NO_ISBN:
            continue
        key = (_RANK[reading.note], 0 if reading.isbn is not None and len(reading.isbn) == 13 else 1)
        if key < best_key:
            best, best_key = reading, key
    return best


def best_of(cells: list[str]) -> IsbnReading:
    """``best_isbn`` of the readings of ``cells``, reading as few as needed: distinct cells only, 13-character
    ones first, stopping at the first valid ISBN-13 (nothing can beat it)."""
    readings = []
    for cell in sorted(dict.fromkeys(cells), key=lambda c: len(c) != 13):
        reading = read_isbn(cell)
        if reading.note is None and reading.isbn is not None and len(reading.isbn) == 13:
            return reading
        readings.append(reading)
    return best_isbn(*readings)
