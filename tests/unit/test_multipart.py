"""``bookstrack.web.multipart.parse_multipart``: the fields and files of a buffered multipart body, as
Werkzeug's own form parser reads them, and a 400 for anything that is not well-formed multipart."""

from __future__ import annotations

import io

import httpx
import pytest
from werkzeug.formparser import parse_form_data

from bookstrack.errors import InvalidRequest
from bookstrack.web.multipart import UploadedFile, parse_multipart

CSV = b'Title,Author\r\n"A, B",C\r\n--not-a-boundary\r\n\x00\xff binary tail'


def encoded(**kwargs) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://bookstrack.test/u", **kwargs)
    body = request.read()
    return body, request.headers["content-type"].split("boundary=", 1)[1]


def werkzeugs(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    environ = {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
    }
    _, form, files = parse_form_data(environ)
    return dict(form), {k: (f.filename or "", f.content_type or "", f.read()) for k, f in files.items()}


def test_fields_and_files_read_as_werkzeug_reads_them():
    body, boundary = encoded(
        files={"file": ("library.csv", CSV, "text/csv"), "other": ("x.bin", b"", "application/octet-stream")},
        data={"format": "goodreads", "note": "naïve ☃"},
    )
    form = parse_multipart(body, boundary)
    assert form.fields == {"format": "goodreads", "note": "naïve ☃"}
    assert form.files["file"] == UploadedFile("library.csv", "text/csv", CSV)
    assert form.files["other"].data == b""
    fields, files = werkzeugs(body, boundary)
    assert form.fields == fields
    assert {k: (f.filename, f.content_type, f.data) for k, f in form.files.items()} == files


def test_a_large_file_comes_through_whole():
    data = bytes(range(256)) * 40_000  # 10 MB of every byte value, CR and LF included
    body, boundary = encoded(files={"file": ("big.csv", data, "text/csv")})
    assert parse_multipart(body, boundary).files["file"].data == data


@pytest.mark.parametrize("mangle", [
    lambda body: body[: len(body) // 2],  # cut inside the file
    lambda body: body[:-8],  # cut inside the closing boundary
    lambda body: b"no boundary anywhere in here",
    lambda body: body.replace(b"Content-Disposition", b"Content-Disposition-Not", 1),
])
def test_a_body_that_is_not_well_formed_multipart_is_a_400(mangle):
    body, boundary = encoded(files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
    with pytest.raises(InvalidRequest, match="Malformed multipart body"):
        parse_multipart(mangle(body), boundary)


def test_a_missing_boundary_is_a_400():
    with pytest.raises(InvalidRequest, match="without a boundary"):
        parse_multipart(b"whatever", "")
