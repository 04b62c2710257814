"""Book covers: the image proxy (vetted fetching, cached in the blob store) and harvested covers.

``CoverProxy`` is what routes and the dashboard use; ``CoverFetcher`` fetches one image under the
``[images]`` rules (decision 0027); ``addresses`` and ``formats`` hold the pure checks.
"""

from __future__ import annotations

from bookstrack.covers.addresses import is_public as is_public
from bookstrack.covers.addresses import refusal_reason as refusal_reason
from bookstrack.covers.fetch import CoverFetcher as CoverFetcher
from bookstrack.covers.fetch import FetchedImage as FetchedImage
from bookstrack.covers.fetch import UrlPolicy as UrlPolicy
from bookstrack.covers.fetch import VettingBackend as VettingBackend
from bookstrack.covers.formats import sniff as sniff
from bookstrack.covers.proxy import CoverMeta as CoverMeta
from bookstrack.covers.proxy import CoverProxy as CoverProxy
from bookstrack.covers.proxy import CoverStats as CoverStats
from bookstrack.covers.proxy import ServedCover as ServedCover
from bookstrack.covers.proxy import isbn_key as isbn_key
from bookstrack.covers.proxy import url_key as url_key

__all__ = [
    "CoverFetcher",
    "CoverMeta",
    "CoverProxy",
    "CoverStats",
    "FetchedImage",
    "ServedCover",
    "UrlPolicy",
    "VettingBackend",
    "is_public",
    "isbn_key",
    "refusal_reason",
    "sniff",
    "url_key",
]
