"""Cache keys: every script gets a non-empty key, accents and case fold away, the key of a key is itself."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookstrack.books.keys import author_key, fold, title_key


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("ノルウェイの森", "ノルウェイの森"),
        ("Les Misérables", "les miserables"),
        ("LES MISERABLES", "les miserables"),
        ("The Hobbit", "hobbit"),
        ("  the   HOBBIT ", "hobbit"),
        ("Ｔｈｅ　Ｈｏｂｂｉｔ", "hobbit"),
        ("A Game of Thrones", "game of thrones"),
        ("An Instance of the Fingerpost", "instance of the fingerpost"),
        ("The", "the"),
        ("Harry Potter & the Sorcerer's Stone", "harry potter the sorcerers stone"),
        ("Harry Potter and the Sorcerer’s Stone", "harry potter and the sorcerers stone"),
        ("Straße", "strasse"),
        ("Ελληνικά", "ελληνικα"),
        ("Война и мир", "воина и мир"),  # й folds to и like é to e: accents of these scripts fold
        ("Truyện Kiều", "truyen kieu"),
        ("한국어", "한국어"),
        ("हिन्दी", "हिन्दी"),
        ("١٩٨٤", "1984"),
        ("Nineteen Eighty-Four", "nineteen eighty four"),
        ("🐉", "🐉"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_title_key(title: str, key: str) -> None:
    assert title_key(title) == key


def test_kana_voicing_marks_are_kept() -> None:
    assert title_key("ガ") != title_key("カ")
    assert title_key("ガ") == title_key("ｶﾞ")  # halfwidth kana fold to the same key


def test_only_english_articles_are_dropped() -> None:
    assert title_key("Les Misérables").startswith("les ")
    assert title_key("Der Process") == "der process"


def test_author_key_keeps_articles_and_folds_punctuation() -> None:
    assert author_key("J.R.R. Tolkien") == author_key("j. r. r. tolkien") == "j r r tolkien"
    assert author_key("A. A. Milne") == "a a milne"
    assert author_key("Gabriel García Márquez") == "gabriel garcia marquez"
    assert author_key("村上 春樹") == "村上 春樹"


@given(st.text())
def test_keys_are_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)
    assert title_key(title_key(text)) == title_key(text)
    assert author_key(author_key(text)) == author_key(text)


@given(st.text())
def test_only_blank_text_has_the_empty_key(text: str) -> None:
    assert (title_key(text) == "") == (text.strip() == "")
    assert (author_key(text) == "") == (text.strip() == "")


@given(st.text())
def test_keys_have_single_spaces_and_no_edges(text: str) -> None:
    key = title_key(text)
    assert key == key.strip()
    assert "  " not in key
    assert not any(c.isspace() and c != " " for c in key)


@given(st.text())
def test_canonically_equivalent_texts_share_a_key(text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    assert title_key(nfc) == title_key(nfd)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,'-"))
def test_ascii_keys_ignore_case(text: str) -> None:
    assert title_key(text.upper()) == title_key(text.lower())


@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Nd"]), min_size=1))
def test_letters_and_digits_of_any_script_give_a_key_of_letters_and_digits(text: str) -> None:
    key = title_key(text)
    assert key
    assert all(unicodedata.category(c)[0] in "LNM" for c in key.replace(" ", ""))
