"""Cache keys for titles and author names: Unicode-aware, so every script gets a key (API.md §3).

The original's ``normalizeTitle`` kept only ``[a-z0-9]``: ``Les Misérables`` became ``les misrables`` and
``ノルウェイの森`` the empty string. Here a key is built in this order:

1. NFKC (fullwidth and compatibility forms fold: ``ＡＢＣ`` → ``abc``, ``ﬁ`` → ``fi``), then case-fold
   (``ß`` → ``ss``), then NFKC again (case-folding can leave unnormalised text);
2. accents are stripped where they are accents: a combining mark is dropped when its base letter is
   Latin, Greek, Cyrillic, Armenian, Hebrew or Arabic (``é`` → ``e``, pointing and harakat go). Elsewhere the mark
   is part of the letter and stays (Japanese ``ガ`` ≠ ``カ``, Devanagari and Thai vowel signs), because
   stripping it would make different titles share a key. In the folded scripts some distinct letters
   share a key too (``ñ``/``n``, ``й``/``и``): the price of matching what people type without accents;
3. apostrophes are deleted (``Sorcerer's`` → ``sorcerers``, as people type it); every other character
   that is not a letter, digit or kept mark becomes a space; decimal digits of any script become ASCII;
4. whitespace is collapsed and trimmed;
5. titles only: leading English articles (``the``, ``a``, ``an``) are dropped while a word follows, as
   the original did for ``The Hobbit`` → ``hobbit``. Unlike the original (one article) every leading
   article goes, so that a key is its own key (``title_key`` is idempotent). Other languages' articles
   stay: ``Les Misérables`` → ``les miserables``.

A text with no letter or digit at all (``!!!``, an emoji) does not get the empty key, which all such
texts would share: its key is step 1 with whitespace collapsed. A blank text's key is ``""``.

Keys are for caches and de-duplication only. Providers receive the user's trimmed text, never a key.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Final

__all__ = ["author_key", "fold", "title_key"]

_ARTICLES: Final = frozenset({"the", "a", "an"})
_APOSTROPHES: Final = frozenset("'\u2018\u2019\u02bc\u0060\u00b4\u2032")

# Scripts whose combining marks are accents or optional vocalisation (code point ranges of the bases).
_ACCENTED_BASES: Final = (
    (0x0000, 0x058F),  # Basic Latin … Latin Extended-B, IPA, Greek and Coptic, Cyrillic, Armenian
    (0x0590, 0x06FF),  # Hebrew, Arabic
    (0x0750, 0x077F),  # Arabic Supplement
    (0x1D00, 0x1DBF),  # Phonetic Extensions
    (0x1E00, 0x1FFF),  # Latin Extended Additional (Vietnamese), Greek Extended
    (0x2C60, 0x2C7F),  # Latin Extended-C
    (0x2DE0, 0x2DFF),  # Cyrillic Extended-A
    (0xA640, 0xA69F),  # Cyrillic Extended-B
    (0xA720, 0xA7FF),  # Latin Extended-D
    (0xAB30, 0xAB6F),  # Latin Extended-E
)


def _accented(base: str) -> bool:
    code = ord(base)
    return any(lo <= code <= hi for lo, hi in _ACCENTED_BASES)


def _compat_fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def _words(folded: str) -> list[str]:
    """Steps 2–4 on case-folded text: decompose, keep letters and digits (and the marks of letters
    outside the accented scripts), recompose, split on everything else."""
    out: list[str] = []
    keep_marks = False  # whether the current base letter keeps its combining marks
    for ch in unicodedata.normalize("NFD", folded):
        if _is_mark(ch):
            if keep_marks:
                out.append(ch)
            continue
        if ch in _APOSTROPHES:
            keep_marks = False
            continue
        category = unicodedata.category(ch)
        if category == "Nd":
            out.append(str(unicodedata.decimal(ch)))
            keep_marks = False
        elif category[0] in "LN":
            out.append(ch)
            keep_marks = not _accented(ch)
        else:
            out.append(" ")
            keep_marks = False
    return unicodedata.normalize("NFC", "".join(out)).split()


# Cached: the same names and titles are folded again and again (every merge, de-duplication and author
# lookup of a batch folds each name several times), and a fold walks the text character by character.
@functools.lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """Steps 1–4: the Unicode-aware, case- and accent-insensitive form of ``text`` (no article rule)."""
    folded = _compat_fold(text)
    words = _words(folded)
    if words:
        return " ".join(words)
    return " ".join(folded.split())


def title_key(title: str) -> str:
    """The cache key of a title: ``fold`` without leading English articles (module docstring)."""
    words = fold(title).split(" ")
    while len(words) > 1 and words[0] in _ARTICLES:
        words.pop(0)
    return " ".join(words)


def author_key(name: str) -> str:
    """The cache and de-duplication key of an author name: ``fold`` (``J.R.R. Tolkien`` and
    ``j. r. r. tolkien`` share ``j r r tolkien``)."""
    return fold(name)
