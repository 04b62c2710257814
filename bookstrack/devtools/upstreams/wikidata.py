"""Wikidata: ``/w/api.php?action=wbsearchentities|wbgetentities&format=json`` and
``/wiki/Special:EntityData/{id}.json`` (the two calls the original makes, and the batch alternative).

``wbsearchentities`` matches ``search`` as a prefix of a label or alias in any language (case- and
accent-insensitive), exact matches first, then by the number of sitelinks, the way Wikidata ranks: so
``Sapphire`` answers the gemstone before the author, and ``Victor Hugo`` the writer before the Métro station.
The hit is not checked to be a human; the caller must read P31. ``limit`` defaults to 7 (≤ 50),
``continue`` pages. ``wbgetentities`` takes ``ids`` (``|``-separated, ≤ 50), ``props`` and ``languages``;
an unknown id is ``{"id":…, "missing":""}``. API errors are HTTP 200 with ``{"error":{code, info}}``, as
MediaWiki sends them; an unknown ``Special:EntityData`` id is a 404 page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from bookstrack.devtools.catalogue import Catalogue
from bookstrack.devtools.text import fold
from bookstrack.devtools.upstreams.base import (
    BadRequest,
    Request,
    Response,
    Upstream,
    json_response,
    route,
    text_response,
)

__all__ = ["Wikidata"]

CONTENT_TYPE = "application/json; charset=utf-8"
SERVED_BY = "mw-api-ext.fake.bookstrack"
ALL_PROPS = ("info", "sitelinks", "aliases", "labels", "descriptions", "claims", "datatype")
_ENTITY_ID = re.compile(r"[QPL][1-9]\d*")


def api_error(code: str, info: str, **extra: str) -> Response:
    body = {
        "error": {
            "code": code,
            "info": info,
            **extra,
            "*": "See https://www.wikidata.org/w/api.php for API usage.",
        },
        "servedby": SERVED_BY,
    }
    return json_response(body, content_type=CONTENT_TYPE)


class Wikidata(Upstream):
    name = "wikidata"
    prefix = "/wikidata"
    routes = [
        route("GET", r"/w/api\.php", "api"),
        route("POST", r"/w/api\.php", "api"),
        route("GET", r"/wiki/Special:EntityData/(?P<entity_id>[^/]+)\.json", "entity_data"),
    ]

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def api(self, request: Request) -> Response:
        params = {k: v[0] for k, v in request.query.items() if v}
        if request.method == "POST" and request.body:
            params.update({k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items() if v})
        if params.get("format") != "json":
            return text_response(
                "<!DOCTYPE html><html><head><title>MediaWiki API result</title></head><body>"
                "<p>This is the HTML representation of the JSON format. Add format=json.</p></body></html>",
                200,
            )
        action = params.get("action")
        if action == "wbsearchentities":
            return self._search(params)
        if action == "wbgetentities":
            return self._get(params)
        if not action:
            return api_error("noaction", 'The "action" parameter must be set.')
        return api_error("badvalue", f'Unrecognized value for parameter "action": {action}.')

    def _search(self, params: dict[str, str]) -> Response:
        search = params.get("search", "")
        if not search:
            return api_error("paramrequired", 'The "search" parameter must be set.')
        if not params.get("language"):
            return api_error("paramrequired", 'The "language" parameter must be set.')
        language = params["language"]
        try:
            limit = int(params.get("limit", "7"))
            offset = int(params.get("continue", "0"))
        except ValueError:
            return api_error("badinteger", "Invalid value for limit or continue.")
        limit = max(1, min(limit, 50))
        wanted = fold(search)
        hits: list[tuple[int, int, int, dict[str, Any]]] = []
        for position, item in enumerate(self.catalogue.wikidata_search):
            best: tuple[int, tuple[str, str, str, str]] | None = None
            for name in item.extra["names"]:
                folded, _text, lang, kind = name
                if not folded.startswith(wanted):
                    continue
                quality = (2 if folded == wanted else 0) + (1 if lang == language and kind == "label" else 0)
                if best is None or quality > best[0]:
                    best = (quality, name)
            if best is not None:
                hits.append((best[0] >= 2, item.extra["rank"], -position, self._hit(item.record, best[1], language)))
        hits.sort(key=lambda h: (h[0], h[1], h[2]), reverse=True)
        body: dict[str, Any] = {
            "searchinfo": {"search": search},
            "search": [h[3] for h in hits[offset : offset + limit]],
        }
        if offset + limit < len(hits):
            body["search-continue"] = offset + limit
        body["success"] = 1
        return json_response(body, content_type=CONTENT_TYPE)

    def _hit(self, entity: dict[str, Any], name: tuple[str, str, str, str], language: str) -> dict[str, Any]:
        qid = entity["id"]
        label = entity.get("labels", {}).get(language) or entity.get("labels", {}).get("en")
        description = entity.get("descriptions", {}).get(language) or entity.get("descriptions", {}).get("en")
        _folded, text, lang, kind = name
        hit: dict[str, Any] = {
            "id": qid,
            "title": qid,
            "pageid": entity.get("pageid"),
            "concepturi": f"http://www.wikidata.org/entity/{qid}",
            "repository": "wikidata",
            "url": f"//www.wikidata.org/wiki/{qid}",
            "display": {},
        }
        if label:
            hit["display"]["label"] = {"value": label["value"], "language": label["language"]}
            hit["label"] = label["value"]
        if description:
            hit["display"]["description"] = {"value": description["value"], "language": description["language"]}
            hit["description"] = description["value"]
        hit["match"] = {"type": kind, "language": lang, "text": text}
        if kind == "alias":
            hit["aliases"] = [text]
        return hit

    def _get(self, params: dict[str, str]) -> Response:
        ids = [i for i in params.get("ids", "").split("|") if i]
        if not ids:
            return api_error("param-missing", "Either provide the Item ids or pairs of sites and titles.")
        if len(ids) > 50:
            return api_error("toomanyvalues", 'Too many values supplied for parameter "ids". The limit is 50.')
        props = [p for p in params.get("props", "|".join(ALL_PROPS)).split("|") if p]
        languages = [lang for lang in params.get("languages", "").split("|") if lang] or None
        entities: dict[str, Any] = {}
        for entity_id in ids:
            if not _ENTITY_ID.fullmatch(entity_id):
                return api_error("no-such-entity", f'Could not find an entity with the ID "{entity_id}".', id=entity_id)
            entity = self.catalogue.wikidata_entities.get(entity_id)
            if entity is None:
                entities[entity_id] = {"id": entity_id, "missing": ""}
                continue
            entities[entity_id] = _project(entity, props, languages)
        return json_response({"entities": entities, "success": 1}, content_type=CONTENT_TYPE)

    def entity_data(self, request: Request, entity_id: str) -> Response:
        entity = self.catalogue.wikidata_entities.get(entity_id.upper())
        if entity is None:
            return self.not_found(request)
        return json_response({"entities": {entity["id"]: entity}}, content_type=CONTENT_TYPE)

    def not_found(self, request: Request) -> Response:
        return text_response(
            "<!DOCTYPE html><html><head><title>Not Found</title></head><body><h1>Not Found</h1>"
            "<p>No entity with this ID exists.</p></body></html>",
            404,
        )

    def bad_request(self, request: Request, exc: BadRequest) -> Response:
        return api_error("badvalue", str(exc))

    def injected_error(self, status: int) -> Response:
        if status == 429:
            text = "Too many requests. Please respect our User-Agent policy and retry later."
        else:
            text = "Our servers are currently under maintenance or experiencing a technical issue."
        return text_response(
            f'<!DOCTYPE html><html lang="en"><head><title>Wikimedia Error</title></head><body>'
            f"<h1>Error</h1><p>{text}</p></body></html>",
            status,
        )


_INFO = ("pageid", "ns", "title", "lastrevid", "modified")


def _project(entity: dict[str, Any], props: list[str], languages: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": entity["type"], "id": entity["id"]}
    if "info" in props:
        out = {**{k: entity[k] for k in _INFO if k in entity}, **out}
    for prop in ("labels", "descriptions", "aliases"):
        if prop in props:
            values = entity.get(prop, {})
            out[prop] = {k: v for k, v in values.items() if languages is None or k in languages}
    if "claims" in props:
        out["claims"] = entity.get("claims", {})
    if "sitelinks" in props:
        out["sitelinks"] = entity.get("sitelinks", {})
    return out
