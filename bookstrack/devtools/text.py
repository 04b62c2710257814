"""Text matching and ISBN arithmetic for the fake upstream (its own: the fake must not share the code it tests).

``fold`` is the comparison form of a string: compatibility-decomposed, combining marks dropped, case-folded,
everything that is not a letter or digit turned into one space. ``contains`` is a word-prefix match on folded
text (``hobbit`` finds "The Hobbits"; ``war`` does not find "toward"), except for scripts written without
spaces (CJK, kana, Thai), where any substring matches. ``parse_query`` splits a Google/Open Library style
query into ``field:value`` terms and free words, honouring double quotes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field

__all__ = [
    "Term",
    "clean_isbn",
    "contains",
    "fold",
    "is_valid_isbn",
    "isbn10_to_13",
    "isbn13_to_10",
    "isbn_forms",
    "parse_query",
]

_NOT_WORD = re.compile(r"[\W_]+")
_UNSPACED = re.compile("[\u0e00-\u0e7f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    folded = unicodedata.normalize("NFKC", stripped.casefold())
    return _NOT_WORD.sub(" ", folded).strip()


def contains(haystack: str, needle: str) -> bool:
    """Whether folded ``needle`` occurs in folded ``haystack`` at the start of a word (anywhere, for
    scripts written without spaces). An empty needle matches everything."""
    if not needle:
        return True
    if _UNSPACED.search(needle):
        return needle in haystack
    return haystack.startswith(needle) or f" {needle}" in haystack


@dataclass(frozen=True, slots=True)
class Term:
    field: str | None  # None: free text
    value: str  # as written (unfolded), quotes removed
    folded: str = dataclass_field(init=False, compare=False, repr=False)
    isbn: str = dataclass_field(init=False, compare=False, repr=False)  # the value as an ISBN (cleaned)
    isbns: frozenset[str] = dataclass_field(init=False, compare=False, repr=False)  # and its other form

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", fold(self.value))
        object.__setattr__(self, "isbn", clean_isbn(self.value))
        object.__setattr__(self, "isbns", frozenset(isbn_forms(self.value)))


_TOKEN = re.compile(r'([A-Za-z_]+):"([^"]*)"?|([A-Za-z_]+):(\S+)|"([^"]*)"?|(\S+)')


def parse_query(query: str, fields: frozenset[str] | set[str]) -> list[Term]:
    """Split ``query`` into terms; ``name:value`` is a field term only when ``name`` is in ``fields``
    (lower-cased), otherwise the whole token is free text."""
    terms: list[Term] = []
    for match in _TOKEN.finditer(query.replace("+", " ")):
        qname, qvalue, name, value, phrase, word = match.groups()
        if qname is not None:
            if qname.lower() in fields:
                terms.append(Term(qname.lower(), qvalue))
            else:
                terms.append(Term(None, f"{qname} {qvalue}"))
        elif name is not None:
            if name.lower() in fields:
                terms.append(Term(name.lower(), value))
            else:
                terms.append(Term(None, f"{name} {value}"))
        elif phrase is not None:
            terms.append(Term(None, phrase))
        elif word is not None:
            terms.append(Term(None, word))
    return [t for t in terms if t.value.strip()]


# -- ISBNs ------------------------------------------------------------------------------------------

_ISBN_JUNK = re.compile(r"[\s\-\u2010-\u2015\u2212]")


def clean_isbn(text: str) -> str:
    return _ISBN_JUNK.sub("", text).upper()


def _check13(first12: str) -> str:
    total = sum((1 if i % 2 == 0 else 3) * int(d) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def _check10(first9: str) -> str:
    total = sum((10 - i) * int(d) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def is_valid_isbn(isbn: str) -> bool:
    if re.fullmatch(r"\d{13}", isbn):
        return isbn[:3] in ("978", "979") and _check13(isbn[:12]) == isbn[12]
    if re.fullmatch(r"\d{9}[\dX]", isbn):
        return _check10(isbn[:9]) == isbn[9]
    return False


def isbn10_to_13(isbn10: str) -> str:
    first12 = "978" + isbn10[:9]
    return first12 + _check13(first12)


def isbn13_to_10(isbn13: str) -> str | None:
    if not isbn13.startswith("978"):
        return None
    return isbn13[3:12] + _check10(isbn13[3:12])


def isbn_forms(isbn: str) -> set[str]:
    """``isbn`` (cleaned) and, when it is a valid ISBN, its other length."""
    isbn = clean_isbn(isbn)
    forms = {isbn}
    if is_valid_isbn(isbn):
        other = isbn10_to_13(isbn) if len(isbn) == 10 else isbn13_to_10(isbn)
        if other:
            forms.add(other)
    return forms
