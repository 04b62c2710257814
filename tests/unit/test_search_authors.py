"""``AuthorEnricher`` with a scripted Wikidata client and a real tiered cache: humans only, transient
failures not cached, placeholders and known genders not looked up, the deadline."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from actors import Clock
from actors.testing import EPOCH
from bookstrack.books.dto import AuthorDTO, AuthorGender
from bookstrack.cache import TieredCache
from bookstrack.config import load_config
from bookstrack.errors import ProviderError
from bookstrack.metrics import Metrics
from bookstrack.search.authors import AuthorEnricher
from bookstrack.store.blobs import FilesystemBlobStore
from tests.unit.cache_support import migrated_database


def _item(qid: str, *, human: bool, gender: str = "Q6581072") -> dict[str, Any]:
    def claim(value: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"mainsnak": {"datavalue": {"value": value}}}]

    return {"id": qid, "claims": {"P31": claim({"id": "Q5" if human else "Q7725634"}), "P21": claim({"id": gender})}}


class ScriptedWikidata:
    def __init__(self) -> None:
        self.searched: list[str] = []
        self.fail = False
        self.release = trio.Event()
        self.hold = False

    async def search_entities(self, name: str, *, limit: int = 1) -> Any:
        self.searched.append(name)
        if self.hold:
            await self.release.wait()
        if self.fail:
            raise ProviderError("down", provider="wikidata", reason="http_5xx")
        return {"search": [{"id": "Q10"}, {"id": "Q11"}]}

    async def entities(self, ids: list[str], *, props: Any = ("labels", "claims")) -> Any:
        return {"entities": {"Q10": _item("Q10", human=False), "Q11": _item("Q11", human=True)}}


async def test_enricher(tmp_path, mock_clock):
    wikidata = ScriptedWikidata()
    config = load_config(env={}, overrides={"providers": {"wikidata": {"author_deadline": 1.0}}})
    clock = Clock(epoch=EPOCH)
    async with migrated_database(tmp_path / "db.sqlite3") as db:
        cache = TieredCache.from_config(
            config.cache, executor=db, blobs=FilesystemBlobStore(str(tmp_path / "blobs")), clock=clock,
            metrics=Metrics(),
        )
        async with cache.running():
            enricher = AuthorEnricher(wikidata, cache, config)  # type: ignore[arg-type]
            authors = [
                AuthorDTO(name="Ursula K. Le Guin"),
                AuthorDTO(name="Unknown Author"),
                AuthorDTO(name="Known", gender=AuthorGender.MALE),
            ]
            # a transient failure: answered as known, not cached
            wikidata.fail = True
            assert await enricher.enrich(authors) == authors
            wikidata.fail = False
            enriched = await enricher.enrich(authors)
            assert enriched[0].gender is AuthorGender.FEMALE  # the human (Q11), not the first hit (Q10)
            assert enriched[1:] == authors[1:]
            assert wikidata.searched == ["Ursula K. Le Guin", "Ursula K. Le Guin"]  # retried after the failure
            await enricher.enrich(authors)
            assert len(wikidata.searched) == 2  # cached

            # the deadline: answered without the facts; resolved in the background and cached
            wikidata.hold = True
            late = [AuthorDTO(name="Octavia E. Butler")]
            answers: list[Any] = []

            async def ask() -> None:
                answers.append(await enricher.enrich(late))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask)
                await trio.testing.wait_all_tasks_blocked()
                assert answers == []
                mock_clock.jump(1.0)  # the deadline passes
            assert answers == [late]
            wikidata.release.set()
            await trio.testing.wait_all_tasks_blocked()  # the lookup finishes in the cache's nursery
            assert (await enricher.enrich(late))[0].gender is AuthorGender.FEMALE
            assert wikidata.searched.count("Octavia E. Butler") == 1
