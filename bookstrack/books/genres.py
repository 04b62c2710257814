"""Genre normalisation: provider categories and subjects → the ``subjectTags`` of a work (reference §8.10).

For each raw genre, in this order: preprocess (trim; for Open Library also upper-case the first
character and lower-case the rest) → exact lookup in ``PROVIDER_MAPPINGS`` → case-insensitive match
against a canonical genre's variations → fuzzy match against the canonical *names* (Levenshtein
similarity ``1 - distance / max(len)`` ≥ 0.85, case-insensitive, the best wins, the first on a tie) →
else the cleaned string passes through. The result is a set, sorted (code point order).

One deliberate difference from the original: a genre that is blank after trimming (or not a string) is
skipped; the original passed ``""`` through as a tag.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Final

from bookstrack.books.matching import levenshtein

__all__ = ["CANONICAL_GENRES", "FUZZY_THRESHOLD", "PROVIDER_MAPPINGS", "normalize_genres"]

FUZZY_THRESHOLD: Final = 0.85

CANONICAL_GENRES: Final[dict[str, tuple[str, ...]]] = {
    "Science Fiction": ("Sci-Fi", "Science Fiction", "SF", "Scifi"),
    "Fantasy": ("Fantasy", "Fantasie"),
    "Mystery": ("Mystery", "Detective", "Whodunit", "Mystrey"),
    "Thriller": ("Thriller", "Suspense"),
    "Romance": ("Romance", "Love Story"),
    "Horror": ("Horror", "Scary"),
    "Literary Fiction": ("Literary", "Literature", "Literary Fiction"),
    "Historical Fiction": ("Historical Fiction", "Historical Novel"),
    "Biography": ("Biography", "Memoir", "Autobiography"),
    "History": ("History", "Historical"),
    "Science": ("Science", "Popular Science"),
    "Philosophy": ("Philosophy", "Philosophical"),
    "Self-Help": ("Self-Help", "Self Improvement", "Personal Development"),
    "Business": ("Business", "Economics", "Entrepreneurship"),
    "True Crime": ("True Crime", "Crime"),
    "Young Adult": ("Young Adult", "YA", "Teen"),
    "Children's": ("Children's", "Kids", "Juvenile"),
    "Middle Grade": ("Middle Grade", "MG"),
    "Classics": ("Classic", "Classics", "Classical"),
    "Contemporary": ("Contemporary", "Modern"),
    "Graphic Novels": ("Graphic Novel", "Comics", "Manga"),
    "Poetry": ("Poetry", "Poems", "Verse"),
    "Dystopian": ("Dystopian", "Dystopia"),
    "Fiction": ("Fiction",),
}

PROVIDER_MAPPINGS: Final[dict[str, tuple[str, ...]]] = {
    # Google Books hierarchical categories
    "Fiction / Science Fiction / General": ("Science Fiction", "Fiction"),
    "Fiction / Science Fiction / Dystopian": ("Science Fiction", "Dystopian", "Fiction"),
    "Fiction / Fantasy / General": ("Fantasy", "Fiction"),
    "Fiction / Fantasy / Epic": ("Fantasy", "Fiction"),
    "Fiction / Mystery & Detective / General": ("Mystery", "Fiction"),
    "Fiction / Thrillers / General": ("Thriller", "Fiction"),
    "Fiction / Romance / General": ("Romance", "Fiction"),
    "Fiction / Horror": ("Horror", "Fiction"),
    "Fiction / Literary": ("Literary Fiction", "Fiction"),
    "Fiction / Historical / General": ("Historical Fiction", "Fiction"),
    # ISBNdb "&" subjects
    "Science Fiction & Fantasy": ("Science Fiction", "Fantasy"),
    "Mystery & Thriller": ("Mystery", "Thriller"),
    "Romance & Fiction": ("Romance", "Fiction"),
    # Open Library descriptive subjects (after preprocessing)
    "Dystopian fiction": ("Dystopian", "Science Fiction"),
    "Science fiction": ("Science Fiction",),
    "Classic Literature": ("Classics", "Literary Fiction"),
    "Fantasy fiction": ("Fantasy",),
    "Detective and mystery stories": ("Mystery",),
    # Gemini free-form genres
    "Sci-fi dystopia": ("Science Fiction", "Dystopian"),
    "Post-apocalyptic fiction": ("Science Fiction", "Dystopian"),
    "Epic fantasy": ("Fantasy",),
}


def _variation_index() -> dict[str, str]:
    """Lower-cased variation → canonical name; the first canonical genre listing a variation wins."""
    index: dict[str, str] = {}
    for canonical, variations in CANONICAL_GENRES.items():
        for variation in variations:
            index.setdefault(variation.lower(), canonical)
    return index


_VARIATIONS: Final = _variation_index()


@functools.lru_cache(maxsize=8192)
def _fuzzy(genre: str) -> str | None:
    """The canonical genre within ``FUZZY_THRESHOLD`` similarity, or None. Cached: providers repeat their
    subject strings endlessly, and each miss costs a Levenshtein per canonical genre."""
    lower = genre.lower()
    best, best_similarity = None, 0.0
    for canonical in CANONICAL_GENRES:
        # ``similarity`` with a bound: a distance above ``limit`` cannot reach the threshold, so the
        # Levenshtein may stop early (a cold server meets hundreds of new subject strings per batch).
        other = canonical.lower()
        longest = max(len(lower), len(other))
        if abs(len(lower) - len(other)) > (1 - FUZZY_THRESHOLD) * longest:
            continue  # the length difference alone keeps it under the threshold
        limit = int((1 - FUZZY_THRESHOLD) * longest) + 1
        distance = levenshtein(lower, other, limit)
        if distance > limit:
            continue
        score = 1 - distance / longest
        if score > best_similarity and score >= FUZZY_THRESHOLD:
            best, best_similarity = canonical, score
    return best


def _preprocess(raw: str, provider: str) -> str:
    cleaned = raw.strip()
    if provider == "openlibrary":
        return cleaned[:1].upper() + cleaned[1:].lower()
    return cleaned


def normalize_genres(raw_genres: Iterable[object], provider: str) -> list[str]:
    """The sorted, de-duplicated ``subjectTags`` for one provider's genres (``provider`` is a
    ``DataProvider`` value; only ``openlibrary`` changes the preprocessing)."""
    tags: set[str] = set()
    for raw in raw_genres:
        if not isinstance(raw, str):
            continue
        cleaned = _preprocess(raw, str(provider))
        if not cleaned:
            continue
        mapped = PROVIDER_MAPPINGS.get(cleaned)
        if mapped:
            tags.update(mapped)
            continue
        tags.add(_VARIATIONS.get(cleaned.lower()) or _fuzzy(cleaned) or cleaned)
    return sorted(tags)
