"""``GET /images/proxy?url=&size=`` (reference §3.14, API.md §6) and ``GET /covers/{isbn}`` (harvested covers).

Owns how a cover goes out: the stored bytes with their sniffed content type, a strong ``ETag`` (the
blob's content hash), ``Cache-Control: public, max-age=[images] cache_max_age, immutable``, ``304`` when
``If-None-Match`` matches, ``X-Content-Type-Options: nosniff``, ``X-Cache-Status: HIT|MISS``, and the
reference's size hints ``CF-Image-Width/Height/Fit`` (no resizing is done; an unknown ``size`` is medium).
Errors are plain text (family E) with the reference's wording. The work is ``covers.CoverProxy``'s; this
module must not fetch or touch the blob store itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import quart

from bookstrack.books.isbn import canonical_isbn
from bookstrack.covers import CoverProxy
from bookstrack.errors import InvalidIsbn, NotFound
from bookstrack.store.blobs import Blob
from bookstrack.web.current import services
from bookstrack.web.envelope import Family
from bookstrack.web.routing import RouteTable

if TYPE_CHECKING:
    from bookstrack.app import Services

__all__ = ["routes", "cover_proxy", "SIZES", "etag_matches"]

routes = RouteTable(tags=["covers"])

# size -> (width, height) hints of the reference (§3.14)
SIZES: dict[str, tuple[int, int]] = {"small": (128, 192), "medium": (256, 384), "large": (512, 768)}


def cover_proxy(svc: Services | None = None) -> CoverProxy:
    """The app's ``CoverProxy``, built on first use (it holds no connections: nothing to start or stop)."""
    svc = svc or services()
    if svc.covers is None:
        svc.covers = CoverProxy(svc.config.images, svc.blobs, svc.clock)
    return svc.covers


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match: header`` names ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate.strip('"') == etag:
            return True
    return False


def _image_response(blob: Blob, *, cached: bool, size: str | None) -> quart.Response:
    max_age = services().config.images.cache_max_age
    headers = {
        "ETag": f'"{blob.etag}"',
        "Cache-Control": f"public, max-age={max_age}, immutable",
        "X-Content-Type-Options": "nosniff",
        "X-Cache-Status": "HIT" if cached else "MISS",
    }
    if size is not None:
        width, height = SIZES.get(size, SIZES["medium"])
        headers |= {"CF-Image-Width": str(width), "CF-Image-Height": str(height), "CF-Image-Fit": "scale-down"}
    if etag_matches(quart.request.headers.get("If-None-Match"), blob.etag):
        return quart.Response(b"", status=304, headers=headers)
    return quart.Response(blob.data, status=200, headers=headers, content_type=blob.content_type)


@routes.get(
    "/images/proxy", family=Family.TEXT,
    responses={
        200: "The image (ETag, Cache-Control: public, immutable).",
        304: "If-None-Match matched.",
        400: "Missing url parameter / Invalid URL.",
        403: "Domain not allowed / URL scheme not allowed / Address not allowed (also on a redirect).",
        502: "Failed to fetch image / Not an image / Image too large.",
    },
)
async def image_proxy() -> quart.Response:
    """A cover image from an allow-listed host, fetched once and then served from the blob store."""
    args = quart.request.args
    served = await cover_proxy().get(args.get("url"))
    size = args.get("size")
    return _image_response(served.blob, cached=served.cached, size="medium" if size is None else size)


@routes.get(
    "/covers/<isbn>", family=Family.TEXT,
    responses={200: "The harvested cover.", 304: "If-None-Match matched.", 400: "Invalid ISBN.",
               404: "No harvested cover for this ISBN."},
)
async def harvested_cover(isbn: str) -> quart.Response:
    """The cover the scheduled harvest stored for an ISBN (10 or 13; stored under its ISBN-13)."""
    try:
        isbn13 = canonical_isbn(isbn)
    except InvalidIsbn:
        raise InvalidIsbn("Invalid ISBN", details={"isbn": isbn}) from None
    blob = await cover_proxy().harvested(isbn13)
    if blob is None:
        raise NotFound("Cover not found")
    return _image_response(blob, cached=True, size=quart.request.args.get("size"))
