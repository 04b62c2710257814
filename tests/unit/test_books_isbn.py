"""ISBNs: cleaning what people type, check digits, 10 ↔ 13, the INVALID_ISBN error, and finding ISBNs in
free text. The check digits are recomputed here independently of the module."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bookstrack.books.isbn import (
    canonical_isbn,
    clean_isbn,
    find_isbns,
    is_valid_isbn,
    is_valid_isbn10,
    is_valid_isbn13,
    isbn10_to_13,
    isbn13_to_10,
    isbn_key,
    isbn_variants,
    parse_isbn,
)
from bookstrack.errors import ClientError, InvalidIsbn


def check10(first9: str) -> str:
    value = -sum(w * int(d) for w, d in zip(range(10, 1, -1), first9, strict=True)) % 11
    return "X" if value == 10 else str(value)


def check13(first12: str) -> str:
    return str(-sum((1, 3)[i % 2] * int(d) for i, d in enumerate(first12)) % 10)


digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
isbn10s = digits.map(lambda d: d + check10(d))
isbn13s = st.builds(lambda p, d: p + d + check13(p + d), st.sampled_from(["978", "979"]), digits)
any_isbns = st.one_of(isbn10s, isbn13s)


def formatted(isbn: str, separators: list[str]) -> str:
    """``isbn`` with ``separators[i]`` between its characters i and i + 1."""
    return isbn[0] + "".join(s + c for s, c in zip(separators, isbn[1:], strict=False))


DASHES = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\uff0d", " ", "\u00a0", ""]


# --- cleaning --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("0-306-40615-2", "0306406152"),
        ("978-0-306-40615-7", "9780306406157"),
        ("978 0 306 40615 7", "9780306406157"),
        ("  9780306406157\n", "9780306406157"),
        ("978\u20100\u2011306\u201240615\u20137", "9780306406157"),
        ("978\u20140\u2015306\u221240615\uff0d7", "9780306406157"),
        ("\uff19\uff17\uff18\uff10\uff13\uff10\uff16\uff14\uff10\uff16\uff11\uff15\uff17", "9780306406157"),
        ("٩٧٨٠٣٠٦٤٠٦١٥٧", "9780306406157"),  # Arabic-Indic digits
        ("080442957x", "080442957X"),
        ("08044\u200b2957X", "080442957X"),  # zero-width space
        ("ISBN 0-306-40615-2", "0306406152"),
        ("ISBN-13: 978-0-306-40615-7", "9780306406157"),
        ("isbn10:0306406152", "0306406152"),
        ("ISBN 1346406152", "1346406152"),  # an ISBN starting 13 is not a label
    ],
)
def test_clean(text: str, cleaned: str) -> None:
    assert clean_isbn(text) == cleaned


def test_clean_keeps_what_is_not_an_isbn_character() -> None:
    assert clean_isbn("978-0-306-4O615-7") == "97803064O6157"  # a letter O stays, so it will not validate
    assert clean_isbn("²³") == "²³"  # superscripts are not decimal digits


# --- validation and conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize("isbn", ["0306406152", "080442957X", "9780306406157", "9780804429573", "9791034567898"])
def test_valid(isbn: str) -> None:
    assert is_valid_isbn(isbn)
    assert parse_isbn(isbn) == isbn


@pytest.mark.parametrize(
    "text", ["0306406153", "9780306406158", "X306406152", "9770306406157", "1234567890123", "03064061520"]
)
def test_invalid(text: str) -> None:
    assert not is_valid_isbn(text)


def test_conversion_known_pairs() -> None:
    assert isbn10_to_13("0306406152") == "9780306406157"
    assert isbn10_to_13("080442957X") == "9780804429573"
    assert isbn13_to_10("9780306406157") == "0306406152"
    assert isbn13_to_10("9780804429573") == "080442957X"
    assert isbn13_to_10("9791034567898") is None


def test_conversion_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"^not an ISBN-10: '12345'$"):
        isbn10_to_13("12345")
    with pytest.raises(ValueError, match=r"^not an ISBN-13: '0306406152'$"):
        isbn13_to_10("0306406152")


def test_canonical_and_variants() -> None:
    assert canonical_isbn("0-306-40615-2") == "9780306406157"
    assert canonical_isbn("978-0-306-40615-7") == "9780306406157"
    assert isbn_variants("0306406152") == ["9780306406157", "0306406152"]
    assert isbn_variants("979-10-345-6789-8") == ["9791034567898"]


def test_isbn_key_is_lenient_about_check_digits() -> None:
    assert isbn_key("0306406153") == "9780306406157"  # wrong check digit, same book
    assert isbn_key("978-0-306-40615-7") == "9780306406157"
    assert isbn_key("B00ABC1234") is None
    assert isbn_key("") is None
    assert isbn_key(None) is None


# --- the error ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ISBN is required"),
        ("   ", "ISBN is required"),
        ("12345", "Invalid ISBN format. Must be valid ISBN-10 or ISBN-13"),
        ("9770306406157", "Invalid ISBN format. Must be valid ISBN-10 or ISBN-13"),
        ("97803064O6157", "Invalid ISBN format. Must be valid ISBN-10 or ISBN-13"),
        ("978-0-306-40615-8", "Invalid ISBN check digit. Must be valid ISBN-10 or ISBN-13"),
        ("0-306-40615-X", "Invalid ISBN check digit. Must be valid ISBN-10 or ISBN-13"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidIsbn, match=rf"^INVALID_ISBN: {message}$") as caught:
        parse_isbn(text)
    assert caught.value.message == message
    assert caught.value.details == {"isbn": text}
    assert caught.value.status == 400
    assert isinstance(caught.value, ClientError)


# --- properties --------------------------------------------------------------------------------------------


@given(isbn10s)
def test_every_isbn10_round_trips_through_13(isbn10: str) -> None:
    isbn13 = isbn10_to_13(isbn10)
    assert is_valid_isbn13(isbn13)
    assert isbn13.startswith("978")
    assert isbn13_to_10(isbn13) == isbn10
    assert canonical_isbn(isbn10) == canonical_isbn(isbn13) == isbn13


@given(isbn13s)
def test_every_isbn13_round_trips_through_10_when_it_has_one(isbn13: str) -> None:
    isbn10 = isbn13_to_10(isbn13)
    if isbn13.startswith("979"):
        assert isbn10 is None
    else:
        assert isbn10 is not None
        assert is_valid_isbn10(isbn10)
        assert isbn10_to_13(isbn10) == isbn13


@given(any_isbns, st.data())
def test_any_single_character_change_is_detected(isbn: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(isbn) - 1))
    alphabet = "0123456789X" if len(isbn) == 10 and position == 9 else "0123456789"
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != isbn[position]))
    tampered = isbn[:position] + replacement + isbn[position + 1 :]
    assume(not (len(isbn) == 13 and position < 3))  # a changed prefix is a format error, tested below
    assert not is_valid_isbn(tampered)
    with pytest.raises(InvalidIsbn, match=r"check digit"):
        parse_isbn(tampered)


@given(isbn10s, st.integers(0, 8))
def test_isbn10_detects_every_adjacent_transposition(isbn: str, position: int) -> None:
    a, b = isbn[position], isbn[position + 1]
    assume(a != b)
    assert not is_valid_isbn10(isbn[:position] + b + a + isbn[position + 2 :])


@given(any_isbns, st.lists(st.sampled_from(DASHES), min_size=12, max_size=12), st.booleans())
def test_separators_anywhere_are_accepted(isbn: str, separators: list[str], lower: bool) -> None:
    text = formatted(isbn, separators)
    if lower:
        text = text.lower()
    assert parse_isbn(text) == isbn


@given(any_isbns)
def test_fullwidth_and_other_script_digits_are_accepted(isbn: str) -> None:
    fullwidth = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in isbn)
    devanagari = "".join(chr(0x0966 + int(c)) if c.isdigit() else c for c in isbn)
    assert parse_isbn(fullwidth) == parse_isbn(devanagari) == isbn


# --- finding ISBNs in text ---------------------------------------------------------------------------------


def test_find_in_prose() -> None:
    text = "Orwell, 1984 (Signet, ISBN 978-0-451-52493-5), also sold as 0451524934; see p. 12-14."
    assert find_isbns(text) == ["9780451524935"]  # the ISBN-10 is the same book


def test_find_several_in_order() -> None:
    text = "0-306-40615-2 / 9791034567898, ISBN: 978 0 804 42957 3"
    assert find_isbns(text) == ["0306406152", "9791034567898", "9780804429573"]


def test_find_ignores_invalid_and_glued_digits() -> None:
    assert find_isbns("9780306406158 97803064061571 19780306406157") == []
    assert find_isbns("call 555-0100") == []


def test_find_among_stray_numbers() -> None:
    assert find_isbns("volume 2 0306406152") == ["0306406152"]
    assert find_isbns("9780 0-306-40615-2") == ["0306406152"]  # a dashed token is not cut for a longer reading
    assert find_isbns("97 9742374155 9") == ["9797423741559"]  # the reading that explains every digit
    assert find_isbns("p.12-978-0-306-40615-7") == ["9780306406157"]  # cut only when nothing else reads


def test_find_trailing_x() -> None:
    assert find_isbns("isbn 080442957X.") == ["080442957X"]
    assert find_isbns("isbn 080442957x,") == ["080442957X"]


# characters that cannot continue a number: an ISBN between two of them is always found
delimiters = st.sampled_from(list(",;:/()[]#abcé!?.") + ["、", "。", "·"])


@given(
    st.text(max_size=30),
    delimiters,
    any_isbns,
    st.lists(st.sampled_from(["", "", "", "-", "\u2013", "\u2212"]), min_size=12, max_size=12),
    delimiters,
    st.text(max_size=30),
)
def test_an_isbn_in_any_noise_is_found(
    before: str, left: str, isbn: str, separators: list[str], right: str, after: str
) -> None:
    text = before + left + formatted(isbn, separators) + right + after
    assert isbn_key(isbn) in {isbn_key(found) for found in find_isbns(text)}


@given(st.text(max_size=20), delimiters, any_isbns, delimiters, st.text(max_size=20))
def test_an_isbn_between_spaces_is_found(before: str, left: str, isbn: str, right: str, after: str) -> None:
    text = before + left + " \t" + isbn + "\n " + right + after
    assert isbn_key(isbn) in {isbn_key(found) for found in find_isbns(text)}


@given(st.text(max_size=60))
def test_find_returns_only_valid_isbns_without_repeats(text: str) -> None:
    found = find_isbns(text)
    assert all(is_valid_isbn(isbn) and clean_isbn(isbn) == isbn for isbn in found)
    keys = [isbn_key(isbn) for isbn in found]
    assert len(keys) == len(set(keys))


@given(
    st.text(max_size=30),
    st.sampled_from(list(",;:/()[]#abc!?")),
    any_isbns,
    st.lists(st.sampled_from(["", "", " ", "-", "\u2010"]), min_size=12, max_size=12),
    st.sampled_from(list(",;:/()[]#abc!?")),
    st.text(max_size=30),
)
def test_a_space_formatted_isbn_between_punctuation_is_found(
    before: str, left: str, isbn: str, separators: list[str], right: str, after: str
) -> None:
    text = before + left + formatted(isbn, separators) + right + after
    assert isbn_key(isbn) in {isbn_key(found) for found in find_isbns(text)}
