"""Hypothesis strategies for the book records: any value each field's type allows (``None`` for optionals
included), so properties hold for records no provider would produce too.

Two flavours: ``rich`` draws any text and integer (for the wire tests); the default draws from small
pools, which is much cheaper for these wide structs and makes records collide, as merge tests want."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import msgspec
from hypothesis import strategies as st

from bookstrack.books.dto import AuthorDTO, BookRecord, BoundingBox, DataProvider, EditionDTO, WorkDTO

texts = st.text(max_size=12)
ints = st.integers(min_value=-(2**31), max_value=2**31)
text_pool = st.sampled_from(["", " ", "a", "b", "Unknown", "Ünï", "ノルウェイの森", "https://books.google.com/c"])
int_pool = st.sampled_from([0, 1, 85, 1949, 2003, -1, 2**31])
# ISBN-ish strings: a small pool, so records share ISBNs often
isbn_pool = st.sampled_from(
    ["9780306406157", "0306406152", "9780451524935", "0451524934", "9791034567898", "080442957X", "9780804429573"]
)


def for_type(tp: Any, name: str = "", rich: bool = False) -> st.SearchStrategy[Any]:
    """A strategy for one field type of the DTOs."""
    if name in ("isbn", "isbns"):
        return isbn_pool if name == "isbn" else st.lists(isbn_pool, max_size=3)
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return st.one_of([for_type(arg, name, rich) for arg in typing.get_args(tp)])
    if tp is type(None):
        return st.none()
    if typing.get_origin(tp) is list:
        return st.lists(for_type(typing.get_args(tp)[0], name, rich), max_size=3)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if tp is bool:
        return st.booleans()
    if tp is int:
        return ints if rich else int_pool
    if tp is float:
        return st.floats(min_value=0, max_value=1)
    if tp is str:
        return texts if rich else text_pool
    if tp is BoundingBox:
        return structs(BoundingBox, rich=rich)
    raise NotImplementedError(tp)


def structs(
    cls: type[msgspec.Struct], rich: bool = False, **overrides: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    fields = {f.name: overrides.get(f.name, for_type(f.type, f.name, rich)) for f in msgspec.structs.fields(cls)}
    return st.builds(cls, **fields)


works = structs(WorkDTO, rich=True)
editions = structs(EditionDTO, rich=True)
rich_authors = structs(AuthorDTO, rich=True)
authors = structs(AuthorDTO, name=st.sampled_from(["Ann Leckie", "ann leckie", "Unknown Author", "N. K. Jemisin", ""]))


_pooled_works = structs(WorkDTO)
_pooled_editions = structs(EditionDTO)


@st.composite
def records(draw: st.DrawFn, provider: st.SearchStrategy[DataProvider] = st.sampled_from(list(DataProvider))) -> Any:
    """A record as one provider would give it: work and edition carry the same ``primaryProvider``."""
    source = draw(provider)
    return BookRecord(
        work=msgspec.structs.replace(draw(_pooled_works), primaryProvider=source),
        edition=msgspec.structs.replace(draw(_pooled_editions), primaryProvider=source),
        authors=draw(st.lists(authors, max_size=3)),
    )
