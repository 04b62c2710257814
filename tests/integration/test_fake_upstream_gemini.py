"""The fake Gemini (``/gemini`` on the fake upstream, 127.0.0.1) on its own and through ``GeminiClient``: canned
scans deterministic per image, pinned detections (in-process and through ``/_control/gemini``), CSV rows from
the CSV's own columns, Google's key checks and error bodies, injected faults and unusable answers."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from actors import Clock
from bookstrack.config import load_config
from bookstrack.devtools import FakeUpstream, RunningFakeUpstream, run_fake_upstream
from bookstrack.devtools.fake_upstream import ENV_NAMES, FAKE_KEYS
from bookstrack.errors import ProviderError
from bookstrack.metrics import Metrics
from bookstrack.providers.gemini import BoundingBox
from bookstrack.providers.registry import Providers, open_providers

EPOCH = 1_700_000_000.0
ROUTE = "POST /v1beta/models/{model}:generateContent"
SHELF = b"\xff\xd8\xff\xe0 a bookshelf photo " + bytes(range(200))
OTHER = b"\x89PNG\r\n\x1a\n another shelf " + bytes(range(100, 250))
GOODREADS = (
    'Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating\n'
    '1,The Hobbit,J.R.R. Tolkien,"Tolkien, J.R.R.",,"=""0261103342""","=""9780261103344""",5\n'
    '2,"Dune",Frank Herbert,"Herbert, Frank",,"","",4\n'
    '3,,Nobody,,,,,0\n'
    '4,Beloved,,,,,"=""9781400033416""",3\n'
)


@asynccontextmanager
async def stack(app: FakeUpstream | None = None, **gemini: Any) -> AsyncIterator[tuple[RunningFakeUpstream, Providers]]:
    async with run_fake_upstream(app) as fake:
        overrides = fake.config_overrides()
        overrides["providers"]["gemini"].update({"rate_per_second": 1000.0, **gemini})
        config = load_config(env=fake.env(), overrides=overrides)
        async with open_providers(config, clock=Clock(epoch=EPOCH), metrics=Metrics(), rng=random.Random(5)) as p:
            yield fake, p


def generate_url(fake: RunningFakeUpstream, model: str = "gemini-2.5-flash") -> str:
    return f"{fake.base_urls['gemini']}/v1beta/models/{model}:generateContent"


def vision_body(image: bytes) -> dict[str, Any]:
    data = base64.b64encode(image).decode()
    return {"contents": [{"parts": [{"inline_data": {"mime_type": "image/jpeg", "data": data}}, {"text": "go"}]}]}


# -- the server --------------------------------------------------------------------------------------------


async def test_gemini_is_served_under_its_prefix_with_a_placeholder_key():
    async with run_fake_upstream() as fake:
        assert fake.base_urls["gemini"] == f"{fake.url}/gemini"
        assert fake.env()[ENV_NAMES["gemini"]] == f"{fake.url}/gemini"
        assert fake.env()["BOOKSTRACK_GEMINI_API_KEY"] == FAKE_KEYS["BOOKSTRACK_GEMINI_API_KEY"]
        config = load_config(env=fake.env())
        assert config.providers.gemini.base_url == f"{fake.url}/gemini"
        assert config.secrets.gemini_api_key


async def test_the_answer_is_googles_format_and_the_same_for_the_same_image():
    async with run_fake_upstream() as fake, httpx.AsyncClient(timeout=10) as client:
        headers = {"x-goog-api-key": "any"}
        first = await client.post(generate_url(fake), json=vision_body(SHELF), headers=headers)
        again = await client.post(generate_url(fake), json=vision_body(SHELF), headers=headers)
        other = await client.post(generate_url(fake), json=vision_body(OTHER), headers=headers)
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("application/json")
        body = first.json()
        (candidate,) = body["candidates"]
        assert candidate["finishReason"] == "STOP"
        assert candidate["content"]["role"] == "model"
        usage = body["usageMetadata"]
        assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
        assert usage["promptTokenCount"] > 258  # an image's worth
        books = json.loads(candidate["content"]["parts"][0]["text"])
        assert books == fake.gemini.detections_for(SHELF)
        assert again.json()["candidates"] == body["candidates"]
        assert json.loads(other.json()["candidates"][0]["content"]["parts"][0]["text"]) != books
        assert fake.requests.count("gemini", route=ROUTE) == 3


@pytest.mark.parametrize("seed", range(12))
def test_canned_detections_have_2_to_6_catalogue_books_one_unsure_one_without_author(seed):
    fake = FakeUpstream()
    books = fake.gemini.detections_for(hashlib.sha256(bytes([seed])).digest() * 3)
    assert 2 <= len(books) <= 6
    assert any(b["confidence"] < 0.6 for b in books)
    assert any(b["author"] is None for b in books)
    assert len({b["title"] for b in books}) == len(books)
    titles = {v["volumeInfo"]["title"] for v in fake.catalogue.google_volumes}
    for book in books:
        assert book["title"] in titles
        box = book["boundingBox"]
        assert 0 <= box["x1"] < box["x2"] <= 1
        assert 0 <= box["y1"] < box["y2"] <= 1
        assert book["format"] in ("hardcover", "paperback", "mass-market", "unknown")


async def test_keys_and_models_are_checked_like_google():
    async with run_fake_upstream(FakeUpstream(gemini_key="right")) as fake, httpx.AsyncClient(timeout=10) as client:
        missing = await client.post(generate_url(fake), json=vision_body(SHELF))
        assert missing.status_code == 403
        assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
        wrong = await client.post(generate_url(fake), json=vision_body(SHELF), headers={"x-goog-api-key": "nope"})
        assert wrong.status_code == 400
        assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        query_key = await client.post(generate_url(fake), params={"key": "right"}, json=vision_body(SHELF))
        assert query_key.status_code == 200
        unknown = await client.post(
            generate_url(fake, "palm-2"), json=vision_body(SHELF), headers={"x-goog-api-key": "right"}
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["status"] == "NOT_FOUND"
        empty = await client.post(generate_url(fake), json={"contents": []}, headers={"x-goog-api-key": "right"})
        assert empty.status_code == 400


async def test_faults_apply_to_the_gemini_prefix():
    async with run_fake_upstream() as fake, httpx.AsyncClient(timeout=10) as client:
        fake.faults.fail_next(1, status=429, provider="gemini")
        limited = await client.post(generate_url(fake), json=vision_body(SHELF), headers={"x-goog-api-key": "k"})
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        fake.faults.fail_next(1, status=503, provider="gemini")
        overloaded = await client.post(generate_url(fake), json=vision_body(SHELF), headers={"x-goog-api-key": "k"})
        assert overloaded.json()["error"] == {
            "code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE",
        }
        ok = await client.post(generate_url(fake), json=vision_body(SHELF), headers={"x-goog-api-key": "k"})
        assert ok.status_code == 200


# -- through the client ------------------------------------------------------------------------------------


async def test_detect_books_through_the_client():
    async with stack() as (fake, providers):
        result = await providers.gemini.detect_books(SHELF, mime_type="image/jpeg")
        canned = fake.gemini.detections_for(SHELF)
        assert [b.title for b in result.books] == [b["title"] for b in canned]
        assert [b.author for b in result.books] == [b["author"] for b in canned]
        assert [b.confidence for b in result.books] == [b["confidence"] for b in canned]
        assert all(isinstance(b.bounding_box, BoundingBox) for b in result.books)
        assert result.model == "gemini-2.5-flash"
        assert result.usage.prompt_tokens > 0
        assert result.usage.output_tokens > 0
        (seen,) = fake.requests.log("gemini")
        assert seen.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert seen.headers["x-goog-api-key"] == FAKE_KEYS["BOOKSTRACK_GEMINI_API_KEY"]
        # enrichment through the other fakes finds what the scan "saw"
        found = await providers.google_books.search_fields(title=canned[0]["title"])
        assert found["totalItems"] >= 1


async def test_pinned_detections_for_the_next_request_and_for_one_image():
    pinned_next = [{"title": "Pinned Once", "author": "A. Writer", "confidence": 0.9,
                    "boundingBox": {"x1": 0.1, "y1": 0.1, "x2": 0.2, "y2": 0.9}}]
    for_image = [{"title": "Always For This Image", "boundingBox": {"x1": 1.5, "y1": 0, "x2": 0.5, "y2": 1}}]
    async with stack() as (fake, providers):
        fake.gemini.pin_detections(pinned_next)
        fake.gemini.pin_detections(for_image, image=OTHER)
        once = await providers.gemini.detect_books(SHELF, mime_type="image/jpeg")
        assert [(b.title, b.author, b.confidence) for b in once.books] == [("Pinned Once", "A. Writer", 0.9)]
        after = await providers.gemini.detect_books(SHELF + b"!", mime_type="image/jpeg")
        assert [b.title for b in after.books] == [b["title"] for b in fake.gemini.detections_for(SHELF + b"!")]
        for _ in range(2):
            pinned = await providers.gemini.detect_books(OTHER, mime_type="image/png")
            assert [(b.title, b.bounding_box) for b in pinned.books] == [
                ("Always For This Image", BoundingBox(0.5, 0.0, 1.0, 1.0))
            ]


async def test_the_control_api_pins_and_resets():
    async with run_fake_upstream() as fake, httpx.AsyncClient(timeout=10) as client:
        control = f"{fake.url}/_control/gemini"
        digest = hashlib.sha256(SHELF).hexdigest()
        set_ = await client.post(control, json={"detections": [{"title": "Via Control"}], "image_sha256": digest,
                                                "answer_next": "truncated", "count": 2})
        assert set_.json() == {"pinned_next": 0, "pinned_images": [digest], "rows_next": 0,
                               "answers_next": ["truncated", "truncated"]}
        assert (await client.post(control, json={"answer_next": "bogus"})).status_code == 400
        assert (await client.post(control, json={"detections": {}})).status_code == 400
        await client.post(f"{fake.url}/_control/reset", json={})
        assert (await client.get(control)).json()["pinned_images"] == []
        assert (await client.post(control, json={"rows": [{"title": "R"}]})).json()["rows_next"] == 1


async def test_parse_csv_through_the_client_reads_the_csvs_own_columns():
    async with stack() as (fake, providers):
        result = await providers.gemini.parse_csv(GOODREADS)
        assert [(r.title, r.author, r.isbn) for r in result.rows] == [
            ("The Hobbit", "J.R.R. Tolkien", "9780261103344"),
            ("Dune", "Frank Herbert", None),
            ("Beloved", None, "9781400033416"),
        ]
        assert result.model == "gemini-2.5-flash-lite"
        assert fake.requests.count("gemini", path="/v1beta/models/gemini-2.5-flash-lite:generateContent") == 1
        fake.gemini.pin_rows([{"title": "Pinned", "author": "Row", "publicationYear": 2001}])
        pinned = await providers.gemini.parse_csv(GOODREADS)
        assert [(r.title, r.author, r.publication_year) for r in pinned.rows] == [("Pinned", "Row", 2001)]


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("empty", "empty"), ("truncated", "truncated"), ("safety", "stopped"), ("blocked", "blocked"),
     ("not_json", "not_json"), ("not_array", "schema")],
)
async def test_unusable_answers_reach_the_caller_as_errors(kind, problem):
    async with stack() as (fake, providers):
        fake.gemini.answer_next(kind)
        with pytest.raises(ProviderError) as caught:
            await providers.gemini.detect_books(SHELF, mime_type="image/jpeg")
        assert (caught.value.reason, caught.value.details["problem"]) == ("bad_response", problem)
        assert (await providers.gemini.detect_books(SHELF, mime_type="image/jpeg")).books  # one answer only


async def test_an_injected_5xx_fails_the_call_after_its_attempts():
    async with stack(max_attempts=1) as (fake, providers):
        fake.faults.fail_next(1, status=500, provider="gemini")
        with pytest.raises(ProviderError) as caught:
            await providers.gemini.parse_csv(GOODREADS)
        assert (caught.value.reason, caught.value.details["status"]) == ("http_5xx", 500)
