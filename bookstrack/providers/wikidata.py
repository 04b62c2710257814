"""Wikidata (keyless): the request formats of reference §8.6 for author enrichment.

Owns the three reads: ``/w/api.php?action=wbsearchentities`` (name → candidate items), ``/wiki/Special:
EntityData/{Q…}.json`` (one item's claims and labels), and ``/w/api.php?action=wbgetentities`` (several
items at once, e.g. the countries of citizenship, to get their labels in one request instead of one per
author). Answers are the decoded JSON, untrusted. Deciding what the claims mean (is it a human, which
gender, which region) is the author-enrichment service's job, not this client's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bookstrack.providers.upstream import Upstream

__all__ = ["WikidataClient", "IDS_PER_REQUEST"]

IDS_PER_REQUEST = 50  # wbgetentities' limit for ordinary clients
_QID = re.compile(r"Q[1-9]\d*")


class WikidataClient:
    name = "wikidata"
    configured = True  # keyless

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def search_entities(self, name: str, *, language: str = "en", limit: int = 1) -> Any:
        """``w/api.php?action=wbsearchentities&search={name}&language=en&type=item&limit=1&format=json``."""
        return await self.upstream.get(
            "/w/api.php",
            {
                "action": "wbsearchentities",
                "search": name.strip(),
                "language": language,
                "type": "item",
                "limit": max(1, min(int(limit), 50)),
                "format": "json",
            },
        )

    async def entity(self, entity_id: str) -> Any:
        """``wiki/Special:EntityData/{Q…}.json`` → ``{"entities": {"Q…": {...}}}``, or ``None`` on 404."""
        return await self.upstream.get(f"/wiki/Special:EntityData/{_qid(entity_id)}.json", not_found=True)

    async def entities(
        self, entity_ids: Sequence[str], *, props: Sequence[str] = ("labels", "claims"), language: str = "en"
    ) -> Any:
        """``w/api.php?action=wbgetentities&ids=Q1|Q2&props=labels|claims&languages=en&format=json`` (at most
        ``IDS_PER_REQUEST`` ids)."""
        ids = list(dict.fromkeys(_qid(i) for i in entity_ids))
        if not ids:
            raise ValueError("entities needs at least one id")
        if len(ids) > IDS_PER_REQUEST:
            raise ValueError(f"entities takes at most {IDS_PER_REQUEST} ids per request, not {len(ids)}")
        return await self.upstream.get(
            "/w/api.php",
            {
                "action": "wbgetentities",
                "ids": "|".join(ids),
                "props": "|".join(props),
                "languages": language,
                "format": "json",
            },
        )


def _qid(value: str) -> str:
    qid = value.strip().upper()
    if not _QID.fullmatch(qid):
        raise ValueError(f"not a Wikidata item id: {value!r}")
    return qid
