"""Shared by the normalizer tests: a strict client-side check of a record, and hypothesis strategies for
"any JSON a provider might send" (arbitrary JSON values, and objects with the provider's real keys holding
either plausible or arbitrary values), always passed through a real JSON encode/decode first."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import strategies as st

from bookstrack.books.dto import BookRecord
from tests import client_mirror

# Any JSON value (what msgspec.json.decode can return).
json_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
isbnish = st.sampled_from(
    ["9780739314821", "0739314823", "978-0-7393-1482-1", "080442957X", "080442957x", "9791034567898", "12345", ""]
)
urlish = st.sampled_from(
    ["http://books.google.com/books/content?id=X&zoom=1&source=gbs_api", "https://images.isbndb.com/covers/1.jpg",
     "//covers.openlibrary.org/b/id/1-L.jpg", "ftp://x/y", "javascript:alert(1)", "http://", "not a url", ""]
)
plausible_text = st.text(max_size=30) | st.sampled_from(
    ["The Hobbit", "ノルウェイの森", "Les Misérables", "  ", "2005-11-15"]
)


def typed(*likely: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value of a plausible type (contents still arbitrary)."""
    return st.one_of(*likely)


def loose(*likely: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: a plausible one or any JSON at all."""
    return st.one_of(*likely, json_values)


def objects(
    fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the ``required`` keys and any subset of the other ``fields`` (real key names), plus a
    stray key now and then."""
    return st.fixed_dictionaries(
        {k: fields[k] for k in required},
        optional={**{k: v for k, v in fields.items() if k not in required}, "unexpected": json_values},
    )


def as_json(value: Any) -> Any:
    """What the provider's bytes would decode to: only JSON-representable values survive."""
    return msgspec.json.decode(msgspec.json.encode(value))


def check_record(record: BookRecord) -> None:
    """The record as the strict client decodes it: enum values, integer fields, required arrays, no null."""
    for part, mirror in ((record.work, client_mirror.Work), (record.edition, client_mirror.Edition)):
        body = msgspec.json.encode(part)
        client_mirror.decode(body, mirror)
        client_mirror.assert_no_null(msgspec.json.decode(body))
    for author in record.authors:
        body = msgspec.json.encode(author)
        client_mirror.decode(body, client_mirror.Author)
        client_mirror.assert_no_null(msgspec.json.decode(body))
        assert author.name.strip()
    edition = record.edition
    assert edition.format != "Other"
    assert record.work.title.strip()
    assert all(isinstance(i, str) and len(i) in (10, 13) for i in edition.isbns)
    assert edition.isbn is None or edition.isbn == edition.isbns[0]
    assert edition.pageCount is None or edition.pageCount > 0
    for url in (record.work.coverImageURL, edition.coverImageURL):
        assert url is None or url.startswith("https://")
    assert 0 <= record.work.isbndbQuality <= 100
    assert 0 <= edition.isbndbQuality <= 100
