"""The cover fetcher (covers/fetch.py) over httpcore's mock network: the URL policy, the address check at
connect time (first URL and every redirect), the size cap while streaming, image/* plus sniffing."""

from __future__ import annotations

import httpcore
import pytest

from bookstrack.config import ImagesConfig
from bookstrack.covers import CoverFetcher, UrlPolicy
from bookstrack.devtools.upstreams.covers import png_bytes
from bookstrack.errors import ImageFetchFailed, ImageRefused, InvalidImageUrl

DNS = {
    "covers.openlibrary.org": ["93.184.216.34"],
    "images.isbndb.com": ["10.0.0.7"],
    "books.google.com": ["142.250.1.1", "127.0.0.1"],  # one private address spoils the host
}


async def resolve(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(f"no such host {host}")
    return DNS[host]


def answer(status: int, headers: dict[str, str], *chunks: bytes) -> list[bytes]:
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return [head.encode(), *chunks]


def fetcher(*responses: list[bytes], **config: object) -> tuple[CoverFetcher, list[bytes]]:
    buffer = [part for response in responses for part in response]
    backend = httpcore.AsyncMockBackend(buffer)
    return CoverFetcher(ImagesConfig(**config), resolve=resolve, connector=backend), buffer


# -- the URL policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://books.google.com/books/content?id=abc&zoom=1#frag", "https://books.google.com/books/content?id=abc&zoom=1"),
        ("  http://BOOKS.Google.com./b?x=1 ", "https://books.google.com/b?x=1"),  # upgraded, as the original did
        ("https://ia800100.us.archive.org/x.jpg", "https://ia800100.us.archive.org/x.jpg"),
    ],
)
def test_allowed_urls_are_normalised_and_keep_their_query(raw, expected):
    assert str(UrlPolicy(ImagesConfig()).resolve(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (None, InvalidImageUrl, "Missing url parameter"),
        ("  ", InvalidImageUrl, "Missing url parameter"),
        ("not a url", InvalidImageUrl, "Invalid URL"),
        ("file:///etc/passwd", InvalidImageUrl, "Invalid URL"),
        ("https://user:pw@books.google.com/x", InvalidImageUrl, "Invalid URL"),
        ("ftp://books.google.com/x", ImageRefused, "URL scheme not allowed"),
        ("http://127.0.0.1/x.png", ImageRefused, "Domain not allowed"),
        ("https://169.254.169.254/latest/meta-data", ImageRefused, "Domain not allowed"),
        ("https://evil.example.com/x.png", ImageRefused, "Domain not allowed"),
        ("https://books.google.com.evil.example/x", ImageRefused, "Domain not allowed"),
        ("https://us.archive.org/x", ImageRefused, "Domain not allowed"),  # "*." is for subdomains only
    ],
)
def test_refused_urls(raw, error, message):
    with pytest.raises(error, match=f": {message}$"):
        UrlPolicy(ImagesConfig()).resolve(raw)


def test_http_is_kept_when_allowed():
    policy = UrlPolicy(ImagesConfig(allowed_schemes=["https", "http"], allowed_hosts=["127.0.0.1"]))
    assert str(policy.resolve("http://127.0.0.1:8080/x?a=1")) == "http://127.0.0.1:8080/x?a=1"


# -- fetching -------------------------------------------------------------------------------------------


async def test_an_image_is_fetched_from_a_vetted_address():
    png = png_bytes("a")
    fetch, _ = fetcher(answer(200, {"Content-Type": "image/png", "Content-Length": str(len(png)), "ETag": '"u1"'}, png))
    image = await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))
    assert (image.content_type, image.data, image.upstream_etag) == ("image/png", png, '"u1"')


async def test_a_host_resolving_to_a_private_address_is_refused_before_connecting():
    fetch, buffer = fetcher(answer(200, {"Content-Type": "image/png"}, png_bytes("a")))
    with pytest.raises(ImageRefused, match=r": Address not allowed: images.isbndb.com resolves to a private address$"):
        await fetch.fetch(fetch.policy.resolve("https://images.isbndb.com/covers/1.jpg"))
    with pytest.raises(ImageRefused, match=r": Address not allowed: books.google.com resolves to a loopback address$"):
        await fetch.fetch(fetch.policy.resolve("https://books.google.com/books/content?id=1"))
    assert len(buffer) == 2  # nothing was read: no connection was made


async def test_an_allow_listed_ip_literal_is_still_checked():
    fetch, _ = fetcher(allowed_hosts=["169.254.169.254"])
    with pytest.raises(ImageRefused, match=r": Address not allowed: 169.254.169.254 resolves to a link-local address$"):
        await fetch.fetch(fetch.policy.resolve("https://169.254.169.254/latest/meta-data"))


async def test_a_redirect_to_a_private_address_is_refused():
    fetch, _ = fetcher(answer(302, {"Location": "https://images.isbndb.com/covers/1.jpg", "Content-Length": "0"}))
    with pytest.raises(
        ImageRefused, match=r": Redirect refused: Address not allowed: images.isbndb.com resolves to a private address$"
    ):
        await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))


async def test_a_redirect_to_a_host_off_the_list_is_refused():
    fetch, _ = fetcher(answer(301, {"Location": "http://127.0.0.1/x.png", "Content-Length": "0"}))
    with pytest.raises(ImageRefused, match=r": Redirect refused: Domain not allowed$"):
        await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))


async def test_redirects_are_followed_up_to_the_limit():
    hop = answer(302, {"Location": "/b/id/2-L.jpg", "Content-Length": "0"})
    png = png_bytes("b")
    fetch, _ = fetcher(hop, answer(200, {"Content-Type": "image/png", "Content-Length": str(len(png))}, png))
    image = await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))
    assert (image.final_url, image.redirects) == ("https://covers.openlibrary.org/b/id/2-L.jpg", 1)
    fetch, _ = fetcher(hop, max_redirects=0)
    with pytest.raises(ImageFetchFailed, match=": Failed to fetch image: too many redirects$"):
        await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))


async def test_the_size_cap_holds_while_a_chunked_body_streams_in():
    chunk = b"\x89PNG\r\n\x1a\n" + bytes(1016)
    chunked = [b"400\r\n" + chunk + b"\r\n"] * 3 + [b"0\r\n\r\n"]
    fetch, buffer = fetcher(answer(200, {"Content-Type": "image/png", "Transfer-Encoding": "chunked"}, *chunked),
                            max_bytes=2000)
    with pytest.raises(ImageFetchFailed, match=r": Image too large \(limit 2000 bytes\)$"):
        await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))
    assert buffer  # abandoned before the end of the body


async def test_a_declared_length_over_the_cap_is_refused_unread():
    fetch, _ = fetcher(answer(200, {"Content-Type": "image/png", "Content-Length": "999999"}, b"x"), max_bytes=1000)
    with pytest.raises(ImageFetchFailed, match=r": Image too large \(limit 1000 bytes\)$"):
        await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/html", b"<html></html>"), ("image/png", b"<html><script></script></html>"),
     ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>")],
)
async def test_only_image_bytes_are_accepted(content_type, body):
    fetch, _ = fetcher(answer(200, {"Content-Type": content_type, "Content-Length": str(len(body))}, body))
    with pytest.raises(ImageFetchFailed, match=": Not an image$"):
        await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))


async def test_an_error_status_is_the_references_502_text():
    fetch, _ = fetcher(answer(404, {"Content-Length": "0"}))
    with pytest.raises(ImageFetchFailed, match=": Failed to fetch image$"):
        await fetch.fetch(fetch.policy.resolve("https://covers.openlibrary.org/b/id/1-L.jpg"))


async def test_a_host_that_does_not_resolve_fails():
    fetch, _ = fetcher(allowed_hosts=["nowhere.invalid"])
    with pytest.raises(ImageFetchFailed, match=": Failed to fetch image: nowhere.invalid does not resolve$"):
        await fetch.fetch(fetch.policy.resolve("https://nowhere.invalid/x.png"))
