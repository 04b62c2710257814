"""Wikidata author enrichment (API.md §3, reference §8.6 with its FIX): gender, nationality, cultural
region and life years for the authors of a search response, without ever holding the response.

Owns the lookup and its policy:

* one lookup per author name, cached under ``wikidata:author:{author_key(name)}`` for
  ``[cache] wikidata_ttl`` (a definitive "no such human" included); a transient failure (any
  ``ProviderError``: timeout, 5xx, budget) is raised out of the loader, so it is never cached;
* only entities that are humans (P31 = Q5): the search asks for a few candidates and takes the first human;
* the country of citizenship (P27) is read by its English label and classified by an exact table
  (``regions.py``), not by substrings;
* placeholder names (``Unknown Author``) and authors whose gender is already known are not looked up;
* at most ``[providers.wikidata] max_concurrent`` lookups run at once (process-wide);
* ``enrich`` waits at most ``[providers.wikidata] author_deadline`` seconds. The lookups are flights of the
  tiered cache, which run in the cache's own nursery: a caller that stops waiting leaves them running, so
  authors not resolved in time are answered as known so far and cached for the next response.
* ``known`` (the ISBN batch, decision 0016) does not wait for Wikidata at all: it answers with the facts
  already cached and starts the lookups of the others in the background (the same flights).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import partial
from typing import Any

import msgspec
import trio

from bookstrack.books.dto import AuthorDTO, AuthorGender, CulturalRegion
from bookstrack.books.keys import author_key
from bookstrack.books.merge import PLACEHOLDER_AUTHOR
from bookstrack.cache import CacheClosedError, TieredCache, cache_key
from bookstrack.config import Config
from bookstrack.errors import ProviderError
from bookstrack.providers.wikidata import WikidataClient
from bookstrack.search.regions import region_for_country

__all__ = ["AuthorFacts", "AuthorEnricher", "facts_from_entity"]

log = logging.getLogger("bookstrack.search.authors")

HUMAN = "Q5"
CANDIDATES = 5  # search hits examined for a human

_GENDERS = {
    "Q6581097": AuthorGender.MALE, "Q2449503": AuthorGender.MALE,
    "Q6581072": AuthorGender.FEMALE, "Q1052281": AuthorGender.FEMALE,
    "Q48270": AuthorGender.NON_BINARY, "Q1097630": AuthorGender.NON_BINARY,
}
_YEAR = re.compile(r"^([+-]?)0*(\d{1,4})-")
_PLACEHOLDER_KEY = author_key(PLACEHOLDER_AUTHOR)


class AuthorFacts(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What Wikidata says about one name; ``found=False``: no human of that name."""

    found: bool = False
    wikidataId: str | None = None  # noqa: N815
    gender: AuthorGender = AuthorGender.UNKNOWN
    nationality: str | None = None
    culturalRegion: CulturalRegion | None = None  # noqa: N815
    birthYear: int | None = None  # noqa: N815
    deathYear: int | None = None  # noqa: N815


def _claim_ids(entity: dict[str, Any], prop: str) -> list[str]:
    out = []
    claims = entity.get("claims")
    for claim in (claims.get(prop) if isinstance(claims, dict) else None) or []:
        try:
            value = claim["mainsnak"]["datavalue"]["value"]
        except (KeyError, TypeError):
            continue
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            out.append(value["id"])
    return out


def _claim_year(entity: dict[str, Any], prop: str) -> int | None:
    claims = entity.get("claims")
    for claim in (claims.get(prop) if isinstance(claims, dict) else None) or []:
        try:
            time = claim["mainsnak"]["datavalue"]["value"]["time"]
        except (KeyError, TypeError):
            continue
        match = _YEAR.match(time) if isinstance(time, str) else None
        if match:
            year = int(match.group(2))
            return -year if match.group(1) == "-" else year
    return None


def _label(entity: Any) -> str | None:
    try:
        value = entity["labels"]["en"]["value"]
    except (KeyError, TypeError):
        return None
    return value.strip() or None if isinstance(value, str) else None


def facts_from_entity(entity: dict[str, Any], country_label: str | None) -> AuthorFacts:
    genders = _claim_ids(entity, "P21")
    return AuthorFacts(
        found=True,
        wikidataId=entity.get("id") if isinstance(entity.get("id"), str) else None,
        gender=_GENDERS.get(genders[0], AuthorGender.UNKNOWN) if genders else AuthorGender.UNKNOWN,
        nationality=country_label,
        culturalRegion=region_for_country(country_label),
        birthYear=_claim_year(entity, "P569"),
        deathYear=_claim_year(entity, "P570"),
    )


def _facts_key(name: str) -> str:
    """The cache key of an author's Wikidata facts."""
    return cache_key("wikidata:author", name=author_key(name))


def _entities(answer: Any) -> dict[str, Any]:
    entities = answer.get("entities") if isinstance(answer, dict) else None
    return entities if isinstance(entities, dict) else {}


class AuthorEnricher:
    def __init__(self, wikidata: WikidataClient, cache: TieredCache, config: Config) -> None:
        self._wikidata = wikidata
        self._cache = cache
        self._ttl = config.cache.wikidata_ttl
        self._negative_ttl = config.cache.negative_ttl
        self.deadline = config.providers.wikidata.author_deadline
        self._limiter = trio.CapacityLimiter(config.providers.wikidata.max_concurrent)

    @staticmethod
    def wanted(author: AuthorDTO) -> bool:
        key = author_key(author.name)
        return bool(key) and key != _PLACEHOLDER_KEY and author.gender == AuthorGender.UNKNOWN

    async def lookup(self, name: str) -> AuthorFacts:
        """The facts for ``name`` (cached); transient failures raise ``ProviderError``."""
        result = await self._cache.get_or_load(
            _facts_key(name),
            lambda: self._load(name), type=AuthorFacts, ttl=self._ttl, negative_ttl=self._negative_ttl,
        )
        return result.value

    async def _load(self, name: str) -> AuthorFacts:
        async with self._limiter:
            hits = await self._wikidata.search_entities(name, limit=CANDIDATES)
            ids = [h["id"] for h in (hits.get("search") if isinstance(hits, dict) else None) or []
                   if isinstance(h, dict) and isinstance(h.get("id"), str) and re.fullmatch(r"Q[1-9]\d*", h["id"])]
            if not ids:
                return AuthorFacts()
            entities = _entities(await self._wikidata.entities(ids[:CANDIDATES]))
            humans = [entities[i] for i in ids if isinstance(entities.get(i), dict)]
            human = next((e for e in humans if HUMAN in _claim_ids(e, "P31")), None)
            if human is None:
                return AuthorFacts()
            countries = _claim_ids(human, "P27")
            label = None
            if countries:
                answer = await self._wikidata.entities(countries[:1], props=("labels",))
                label = _label(_entities(answer).get(countries[0]))
            return facts_from_entity(human, label)

    async def enrich(self, authors: Sequence[AuthorDTO]) -> list[AuthorDTO]:
        """``authors`` with what Wikidata knows, as far as known within the deadline."""
        found: dict[int, AuthorFacts] = {}

        async def one(index: int, name: str) -> None:
            try:
                found[index] = await self.lookup(name)
            except (ProviderError, CacheClosedError) as exc:
                log.info("author lookup for %r failed: %s", name, exc)
            except Exception:
                log.exception("author lookup for %r failed", name)

        wanted = []
        for index, author in enumerate(authors):
            if not self.wanted(author):
                continue
            # Facts already in memory are applied at once: on a cached search that is every author, and
            # then no task, nursery or deadline is set up per request.
            hit = self._cache.peek(_facts_key(author.name), type=AuthorFacts)
            if hit is not None:
                found[index] = hit.value
            else:
                wanted.append((index, author.name))
        if wanted:
            with trio.move_on_after(self.deadline):
                async with trio.open_nursery() as nursery:
                    for index, name in wanted:
                        nursery.start_soon(one, index, name)
        return [_apply(a, found.get(i)) for i, a in enumerate(authors)]

    async def known(self, authors: Sequence[AuthorDTO]) -> list[AuthorDTO]:
        """``authors`` with the facts already cached (one read of the tiers for all of them), without
        waiting for Wikidata: the lookups of the others start in the background (cache flights, so they
        outlive this call) and later responses carry them. Lookups already in flight are not waited for."""
        wanted = {i: _facts_key(a.name) for i, a in enumerate(authors)
                  if self.wanted(a)}
        if not wanted:
            return list(authors)
        try:
            hits = await self._cache.get_many(list(wanted.values()), type=AuthorFacts, join=False)
        except CacheClosedError as exc:
            log.info("author facts not read: %s", exc)
            return list(authors)
        out = []
        for index, author in enumerate(authors):
            key = wanted.get(index)
            hit = hits.get(key) if key is not None else None
            if key is not None and hit is None:
                try:
                    self._cache.load_soon(
                        key, partial(self._load, author.name), type=AuthorFacts, ttl=self._ttl,
                        negative_ttl=self._negative_ttl,
                    )
                except CacheClosedError as exc:  # stopping: answered as known, looked up next time
                    log.info("author lookup for %r not started: %s", author.name, exc)
            out.append(_apply(author, hit.value if hit is not None else None))
        return out


def _apply(author: AuthorDTO, facts: AuthorFacts | None) -> AuthorDTO:
    if facts is None or not facts.found:
        return author
    changes: dict[str, Any] = {}
    if facts.gender != AuthorGender.UNKNOWN:
        changes["gender"] = facts.gender
    for name in ("nationality", "culturalRegion", "birthYear", "deathYear"):
        value = getattr(facts, name)
        if value is not None:
            changes[name] = value
    return msgspec.structs.replace(author, **changes) if changes else author
