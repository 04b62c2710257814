"""Open Library: ``/search.json``, ``/search/authors.json``, ``/isbn/{isbn}.json``, ``/books/{id}.json``,
``/works/{id}.json`` (and ``/editions.json``), ``/authors/{id}.json`` (and ``/works.json``) and
``/api/books?bibkeys=…``.

``/isbn/{isbn}.json`` answers as openlibrary.org does: a 302 redirect to ``/books/{id}.json`` (a client
must follow redirects), found by either form of the ISBN; unknown ISBNs and ids are 404
``{"error":"notfound","key":…}``. ``search.json`` takes ``q`` (free words or ``title:``/``author:``/
``isbn:``/``subject:``/``publisher:``/``id_goodreads:``… terms), ``title``, ``author``, ``isbn``,
``subject``, ``publisher``, ``goodreads``, ``limit`` (default 100), ``offset``/``page``, ``fields`` and
``sort`` (``new``, ``old``, ``title``). Its documents are built from the records as Open Library's index
builds them (``isbn`` lists both forms of every edition's ISBN).
"""

from __future__ import annotations

import re
from typing import Any

from bookstrack.devtools.catalogue import Catalogue, Searchable
from bookstrack.devtools.text import Term, clean_isbn, contains, fold, parse_query
from bookstrack.devtools.upstreams.base import (
    Request,
    Response,
    Upstream,
    json_response,
    match_score,
    page,
    route,
    text_response,
    title_bonus,
)

__all__ = ["OpenLibrary"]

SITE = "https://openlibrary.org"
COVERS = "https://covers.openlibrary.org"
FIELDS = {
    "title": "title",
    "author": "author",
    "author_name": "author",
    "subject": "subject",
    "publisher": "publisher",
    "isbn": "isbn",
}
ID_FIELDS = {"id_goodreads", "id_librarything", "id_amazon", "id_google"}
FREE = ("title", "author", "isbn", "subject", "publisher")
WEIGHTS = {"title": 3, "author": 2, "subject": 1, "publisher": 1}

_NGINX = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>"
    "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}


def _slug(title: str) -> str:
    return re.sub(r"[^\w]+", "_", title).strip("_")[:60] or "book"


class OpenLibrary(Upstream):
    name = "openlibrary"
    prefix = "/openlibrary"
    routes = [
        route("GET", r"/search\.json", "search"),
        route("GET", r"/search/authors\.json", "search_authors"),
        route("GET", r"/isbn/(?P<isbn>[^/]+?)\.json", "isbn"),
        route("GET", r"/books/(?P<olid>OL\d+M)\.json", "edition"),
        route("GET", r"/works/(?P<olid>OL\d+W)\.json", "work"),
        route("GET", r"/works/(?P<olid>OL\d+W)/editions\.json", "work_editions"),
        route("GET", r"/authors/(?P<olid>OL\d+A)\.json", "author"),
        route("GET", r"/authors/(?P<olid>OL\d+A)/works\.json", "author_works"),
        route("GET", r"/api/books", "api_books"),
    ]

    def __init__(self, catalogue: Catalogue, *, isbn_redirect: bool = True) -> None:
        self.catalogue = catalogue
        self.isbn_redirect = isbn_redirect

    # -- records -------------------------------------------------------------------------------------

    def isbn(self, request: Request, isbn: str) -> Response:
        edition = self.catalogue.ol_edition_by_isbn.get(clean_isbn(isbn))
        if edition is None:
            return _notfound(f"/isbn/{isbn}")
        if not self.isbn_redirect:
            return json_response(edition)
        location = f"{self.prefix}{edition['key']}.json"
        return Response(302, b"", "text/html; charset=utf-8", [("location", location)])

    def edition(self, request: Request, olid: str) -> Response:
        return _record(self.catalogue.ol_editions, f"/books/{olid}")

    def work(self, request: Request, olid: str) -> Response:
        return _record(self.catalogue.ol_works, f"/works/{olid}")

    def author(self, request: Request, olid: str) -> Response:
        return _record(self.catalogue.ol_authors, f"/authors/{olid}")

    def work_editions(self, request: Request, olid: str) -> Response:
        key = f"/works/{olid}"
        if key not in self.catalogue.ol_works:
            return _notfound(key)
        entries = self.catalogue.ol_editions_by_work.get(key, [])
        return self._listing(request, entries, f"{key}/editions.json", {"work": key})

    def author_works(self, request: Request, olid: str) -> Response:
        key = f"/authors/{olid}"
        if key not in self.catalogue.ol_authors:
            return _notfound(key)
        entries = self.catalogue.ol_works_by_author.get(key, [])
        return self._listing(request, entries, f"{key}/works.json", {"author": key})

    def _listing(self, request: Request, entries: list[Any], self_link: str, extra: dict[str, str]) -> Response:
        limit = request.int_arg("limit", 50, low=0)
        offset = request.int_arg("offset", 0, low=0)
        links: dict[str, str] = {"self": self_link, **extra}
        if offset + limit < len(entries):
            links["next"] = f"{self_link}?limit={limit}&offset={offset + limit}"
        return json_response({"links": links, "size": len(entries), "entries": page(entries, offset, limit)})

    # -- search --------------------------------------------------------------------------------------

    def search(self, request: Request) -> Response:
        q = request.arg("q", "") or ""
        terms = parse_query(q, set(FIELDS) | ID_FIELDS)
        for name in ("title", "author", "subject", "publisher", "isbn"):
            value = request.arg(name)
            if value:
                terms.append(Term(name, value))
        if request.arg("goodreads"):
            terms.append(Term("id_goodreads", request.arg("goodreads") or ""))
        limit = request.int_arg("limit", 100, low=0)
        page_number = request.int_arg("page", 0, low=0)
        offset = request.int_arg("offset", (page_number - 1) * limit if page_number else 0, low=0)
        hits: list[tuple[int, int, Searchable]] = []
        if terms:
            for position, item in enumerate(self.catalogue.ol_search):
                score = self._score(item, terms)
                if score is not None:
                    hits.append((score + title_bonus(item, terms, (None, "title")), position, item))
        sort = request.arg("sort")
        if sort in ("new", "old"):
            hits.sort(key=lambda h: h[2].record.get("first_publish_year") or 0, reverse=sort == "new")
        elif sort == "title":
            hits.sort(key=lambda h: h[2].extra.get("title", ""))
        else:
            hits.sort(key=lambda h: (-h[0], h[1]))
        wanted = _fields(request.arg("fields"))
        docs = [_select(item.record, wanted) for _, _, item in page(hits, offset, limit)]
        return json_response(
            {
                "numFound": len(hits),
                "start": offset,
                "numFoundExact": True,
                "docs": docs,
                "num_found": len(hits),
                "documentation_url": f"{SITE}/dev/docs/api/search",
                "q": q,
                "offset": offset if request.arg("offset") is not None else None,
            }
        )

    def _score(self, item: Searchable, terms: list[Term]) -> int | None:
        plain = [t for t in terms if t.field not in ID_FIELDS]
        for term in terms:
            if term.field in ID_FIELDS and term.value not in item.extra.get(term.field, ()):
                return None
        score = match_score(item, plain, fields=FIELDS, free=FREE, weights=WEIGHTS, literal_isbn=False)
        return None if score is None else score + 5 * (len(terms) - len(plain))

    def search_authors(self, request: Request) -> Response:
        q = fold(request.arg("q", "") or "")
        limit = request.int_arg("limit", 100, low=0)
        offset = request.int_arg("offset", 0, low=0)
        hits = [a.record for a in self.catalogue.ol_author_search if q and contains(a.fields["name"], q)]
        hits.sort(key=lambda doc: -int(doc.get("work_count", 0)))
        return json_response(
            {"numFound": len(hits), "start": offset, "numFoundExact": True, "docs": page(hits, offset, limit)}
        )

    # -- the Books API -------------------------------------------------------------------------------

    def api_books(self, request: Request) -> Response:
        bibkeys = [k.strip() for k in (request.arg("bibkeys", "") or "").split(",") if k.strip()]
        jscmd = request.arg("jscmd", "viewapi") or "viewapi"
        result: dict[str, Any] = {}
        for bibkey in bibkeys:
            edition = self._bibkey(bibkey)
            if edition is None:
                continue
            if jscmd == "data":
                result[bibkey] = self._data(edition)
            else:
                entry = self._viewapi(bibkey, edition)
                if jscmd == "details":
                    entry["details"] = edition
                result[bibkey] = entry
        if request.arg("format") == "json":
            return json_response(result)
        encoded = json_response(result).body.decode()
        callback = request.arg("callback")
        text = f"{callback}({encoded});" if callback else f"var _OLBookInfo = {encoded};"
        return text_response(text, 200, content_type="text/javascript; charset=utf-8")

    def _bibkey(self, bibkey: str) -> dict[str, Any] | None:
        kind, _, value = bibkey.partition(":")
        kind = kind.upper()
        if kind == "ISBN":
            return self.catalogue.ol_edition_by_isbn.get(clean_isbn(value))
        if kind == "OLID":
            return self.catalogue.ol_editions.get(f"/books/{value}")
        return None

    def _viewapi(self, bibkey: str, edition: dict[str, Any]) -> dict[str, Any]:
        olid = edition["key"].rsplit("/", 1)[-1]
        url = f"{SITE}/books/{olid}/{_slug(edition.get('title', ''))}"
        entry: dict[str, Any] = {"bib_key": bibkey, "info_url": url, "preview": "noview", "preview_url": url}
        if edition.get("covers"):
            entry["thumbnail_url"] = f"{COVERS}/b/id/{edition['covers'][0]}-S.jpg"
        return entry

    def _data(self, edition: dict[str, Any]) -> dict[str, Any]:
        olid = edition["key"].rsplit("/", 1)[-1]
        works = [self.catalogue.ol_works.get(ref["key"]) for ref in edition.get("works", [])]
        work = next((w for w in works if w is not None), None)
        author_refs = edition.get("authors") or [ref["author"] for ref in (work or {}).get("authors", [])]
        authors = []
        for ref in author_refs:
            record = self.catalogue.ol_authors.get(ref["key"])
            if record is not None:
                aid = record["key"].rsplit("/", 1)[-1]
                authors.append({"url": f"{SITE}/authors/{aid}/{_slug(record['name'])}", "name": record["name"]})
        identifiers: dict[str, list[str]] = {}
        for name in ("isbn_10", "isbn_13"):
            if edition.get(name):
                identifiers[name] = list(edition[name])
        identifiers["openlibrary"] = [olid]
        for name, values in edition.get("identifiers", {}).items():
            identifiers[name] = list(values)
        data: dict[str, Any] = {
            "url": f"{SITE}/books/{olid}/{_slug(edition.get('title', ''))}",
            "key": edition["key"],
            "title": edition.get("title"),
            "subtitle": edition.get("subtitle"),
            "authors": authors or None,
            "number_of_pages": edition.get("number_of_pages"),
            "identifiers": identifiers,
            "publishers": [{"name": p} for p in edition.get("publishers", [])] or None,
            "publish_date": edition.get("publish_date"),
            "subjects": [
                {"name": s, "url": f"{SITE}/subjects/{_slug(fold(s)).lower()}"}
                for s in (work or {}).get("subjects", [])
            ]
            or None,
        }
        if edition.get("covers"):
            cover = edition["covers"][0]
            data["cover"] = {
                size: f"{COVERS}/b/id/{cover}-{letter}.jpg"
                for size, letter in (("small", "S"), ("medium", "M"), ("large", "L"))
            }
        return {k: v for k, v in data.items() if v is not None}

    # -- errors --------------------------------------------------------------------------------------

    def not_found(self, request: Request) -> Response:
        return _notfound(request.path.removesuffix(".json"))

    def injected_error(self, status: int) -> Response:
        reason = _REASONS.get(status, "Error")
        return text_response(_NGINX.format(status=status, reason=reason), status)


def _record(records: dict[str, dict[str, Any]], key: str) -> Response:
    record = records.get(key)
    return _notfound(key) if record is None else json_response(record)


def _notfound(key: str) -> Response:
    return json_response({"error": "notfound", "key": key}, 404)


def _fields(raw: str | None) -> set[str] | None:
    if not raw or raw.strip() == "*":
        return None
    return {f.strip() for f in raw.split(",") if f.strip()}


def _select(doc: dict[str, Any], wanted: set[str] | None) -> dict[str, Any]:
    if wanted is None or "*" in wanted:
        return doc
    return {k: v for k, v in doc.items() if k in wanted}
