"""The Gemini client (reference §8.5, decision 0020) against an ``httpx.MockTransport``: what each call puts on
the wire, how answers are read (clamped boxes, dropped untitled items, missing confidence), every way an
answer is unusable (an error, never an empty list), HTTP failures after the Upstream's retries, the missing
key, and the token counters."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
import trio

from bookstrack.errors import ProviderError, ProviderUnavailable
from bookstrack.providers.gemini import (
    CSV_ROWS_PER_CALL,
    MAX_OUTPUT_TOKENS,
    BoundingBox,
    DetectedBook,
    GeminiRow,
    TokenUsage,
    rows_per_call,
)
from tests.unit.provider_support import KEYS, running

GEMINI_ENV = {**KEYS, "BOOKSTRACK_GEMINI_API_KEY": "m-key"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
USAGE = {"promptTokenCount": 1290, "candidatesTokenCount": 210, "totalTokenCount": 1700, "thoughtsTokenCount": 200}
BOX = {"x1": 0.1, "y1": 0.05, "x2": 0.2, "y2": 0.95}


def gemini_answer(items, *, finish="STOP", usage=USAGE, text=None) -> httpx.Response:
    body = text if text is not None else json.dumps(items)
    return httpx.Response(
        200,
        json={
            "candidates": [{"content": {"role": "model", "parts": [{"text": body}]}, "finishReason": finish}],
            "usageMetadata": usage,
            "modelVersion": "gemini-2.5-flash",
        },
    )


def replying(response):
    return lambda request: response


async def detect(handler, *, env=GEMINI_ENV, overrides=None, mime_type="image/png"):
    async with running(handler, env=env, overrides=overrides) as (providers, upstream, metrics, _):
        try:
            result = await providers.gemini.detect_books(PNG, mime_type=mime_type)
        except ProviderError as error:
            return error, upstream, metrics
    return result, upstream, metrics


async def parse(handler, text="Title,Author\nDune,Frank Herbert\n"):
    async with running(handler, env=GEMINI_ENV) as (providers, upstream, metrics, _):
        try:
            result = await providers.gemini.parse_csv(text)
        except ProviderError as error:
            return error, upstream, metrics
    return result, upstream, metrics


# -- request shapes ---------------------------------------------------------------------------------------


async def test_detect_books_posts_one_generate_content_with_the_image_and_the_schema(autojump_clock):
    _, upstream, _ = await detect(replying(gemini_answer([])))
    assert len(upstream.seen) == 1
    request = upstream.seen[0].request
    assert request.method == "POST"
    assert str(request.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert request.headers["x-goog-api-key"] == "m-key"
    assert request.headers["content-type"] == "application/json"
    assert "key" not in request.url.params  # the key is a header, never in a URL that may be logged
    body = json.loads(request.content)
    assert "bookshelf analyzer" in body["system_instruction"]["parts"][0]["text"]
    image, prompt = body["contents"][0]["parts"]
    assert image == {"inline_data": {"mime_type": "image/png", "data": base64.b64encode(PNG).decode()}}
    assert "bounding box" in prompt["text"]
    config = body["generationConfig"]
    assert {k: config[k] for k in ("temperature", "topK", "topP", "maxOutputTokens", "responseMimeType")} == {
        "temperature": 0.4, "topK": 40, "topP": 0.95, "maxOutputTokens": 8192, "responseMimeType": "application/json",
    }
    assert "thinkingConfig" not in config  # thinking_budget = -1: the model's default
    schema = config["responseSchema"]
    assert schema["type"] == "ARRAY"
    item = schema["items"]
    assert set(item["required"]) == {"title", "boundingBox"}
    assert item["properties"]["format"]["enum"] == ["hardcover", "paperback", "mass-market", "unknown"]
    confidence = item["properties"]["confidence"]
    assert (confidence["minimum"], confidence["maximum"]) == (0, 1)
    box = item["properties"]["boundingBox"]
    assert box["required"] == ["x1", "y1", "x2", "y2"]
    assert all(box["properties"][k] == {"type": "NUMBER", "minimum": 0, "maximum": 1} for k in box["required"])


@pytest.mark.parametrize(("given", "declared"), [("image/jpeg", "image/jpeg"), ("Image/WEBP; q=1", "image/webp"),
                                                 ("image/heic", "image/heic")])
async def test_the_uploads_real_mime_type_is_declared(autojump_clock, given, declared):
    _, upstream, _ = await detect(replying(gemini_answer([])), mime_type=given)
    body = json.loads(upstream.seen[0].request.content)
    assert body["contents"][0]["parts"][0]["inline_data"]["mime_type"] == declared


async def test_models_base_url_and_thinking_budget_come_from_the_config(autojump_clock):
    overrides = {"providers": {"gemini": {
        "base_url": "http://127.0.0.1:9/gemini", "vision_model": "gemini-9-pro", "thinking_budget": 0,
    }}}
    _, upstream, _ = await detect(replying(gemini_answer([])), overrides=overrides)
    request = upstream.seen[0].request
    assert str(request.url) == "http://127.0.0.1:9/gemini/v1beta/models/gemini-9-pro:generateContent"
    assert json.loads(request.content)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


async def test_not_an_image_is_refused_before_any_request(autojump_clock):
    async with running(replying(gemini_answer([])), env=GEMINI_ENV) as (providers, upstream, _, _):
        with pytest.raises(ValueError, match=r"^mime_type must be an image type, not 'text/csv'$"):
            await providers.gemini.detect_books(PNG, mime_type="text/csv")
        with pytest.raises(ValueError, match=r"^image is empty$"):
            await providers.gemini.detect_books(b"", mime_type="image/png")
    assert upstream.seen == []


async def test_parse_csv_posts_the_prompt_then_the_csv_to_the_csv_model(autojump_clock):
    csv_text = "Title,Author,ISBN13\nDune,Frank Herbert,9780441172719\n"
    _, upstream, _ = await parse(replying(gemini_answer([])), csv_text)
    request = upstream.seen[0].request
    assert request.url.path == "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    assert request.headers["x-goog-api-key"] == "m-key"
    body = json.loads(request.content)
    assert "book data parser" in body["system_instruction"]["parts"][0]["text"]
    (part,) = body["contents"][0]["parts"]
    prompt, data = part["text"].split("\n\nCSV Data:\n")
    assert "JSON array" in prompt
    assert data == csv_text
    config = body["generationConfig"]
    assert (config["temperature"], config["topP"], config["maxOutputTokens"]) == (0.1, 0.95, 8192)
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert schema["type"] == "ARRAY"
    assert {"title", "author", "isbn", "publicationYear", "publisher"} <= set(schema["items"]["properties"])
    assert schema["items"]["required"] == ["title", "author"]


def test_the_csv_chunk_fits_the_output_limit():
    assert MAX_OUTPUT_TOKENS == 8192
    assert CSV_ROWS_PER_CALL == 100 <= rows_per_call()
    assert rows_per_call(4096) == 51
    assert rows_per_call(10) == 1


# -- reading answers --------------------------------------------------------------------------------------


async def test_detections_are_read_clamped_and_untitled_items_dropped(autojump_clock):
    items = [
        {"title": " The Hobbit ", "author": "J.R.R. Tolkien", "isbn": "9780261103344", "format": "hardcover",
         "confidence": 0.93, "boundingBox": BOX},
        {"title": "Dune", "author": "", "format": "pocket", "confidence": 1.7,
         "boundingBox": {"x1": 0.6, "y1": -0.2, "x2": 0.4, "y2": 1.3}},
        {"title": "Beloved", "author": None, "boundingBox": {"x1": "0.3", "y1": 0, "x2": 0.5}},
        {"title": "Emma", "confidence": 0},
        {"title": "   ", "author": "Nobody", "boundingBox": BOX},
        {"author": "No Title"},
    ]
    result, _, _ = await detect(replying(gemini_answer(items)))
    assert result.model == "gemini-2.5-flash"
    assert result.usage == TokenUsage(prompt_tokens=1290, output_tokens=210, total_tokens=1700)
    assert result.books == [
        DetectedBook(title="The Hobbit", author="J.R.R. Tolkien", isbn="9780261103344", format="hardcover",
                     confidence=0.93, bounding_box=BoundingBox(0.1, 0.05, 0.2, 0.95)),
        DetectedBook(title="Dune", author=None, isbn=None, format="unknown", confidence=1.0,
                     bounding_box=BoundingBox(0.4, 0.0, 0.6, 1.0)),
        DetectedBook(title="Beloved", confidence=None, bounding_box=None),  # a box without y2 is no box
        DetectedBook(title="Emma", confidence=0.0),  # 0 stays 0 (the original turned it into 0.7)
    ]


async def test_an_empty_array_is_an_answer_no_books_seen(autojump_clock):
    result, _, _ = await detect(replying(gemini_answer([])))
    assert result.books == []


async def test_csv_rows_are_read_with_wrong_types_as_none(autojump_clock):
    items = [
        {"title": "Dune", "author": "Frank Herbert", "isbn": 9780441172719, "publicationYear": "1965",
         "publisher": "Ace", "pageCount": 412.0, "rating": 9, "dateRead": "2024-01-02", "genre": "sci-fi"},
        {"title": "Beloved", "author": "Toni Morrison", "publicationYear": "nineteen", "pageCount": 3.5},
        {"author": "Only An Author"},
    ]
    result, _, metrics = await parse(replying(gemini_answer(items, usage={"promptTokenCount": 10})))
    assert result.model == "gemini-2.5-flash-lite"
    assert result.rows == [
        GeminiRow(title="Dune", author="Frank Herbert", isbn="9780441172719", publication_year=1965,
                  publisher="Ace", page_count=412, rating=5.0, date_read="2024-01-02", genre="sci-fi"),
        GeminiRow(title="Beloved", author="Toni Morrison"),
        GeminiRow(author="Only An Author"),  # kept: the caller reports what it skips
    ]
    assert result.usage == TokenUsage(prompt_tokens=10, output_tokens=0, total_tokens=10)


# -- unusable answers are errors ----------------------------------------------------------------------------


def candidate(**fields) -> httpx.Response:
    return httpx.Response(200, json={"candidates": [fields], "usageMetadata": USAGE})


@pytest.mark.parametrize(
    ("response", "problem", "message"),
    [
        (httpx.Response(200, json={"usageMetadata": USAGE}), "empty", "no candidates"),
        (httpx.Response(200, json={"candidates": [], "promptFeedback": {"blockReason": "SAFETY"}}), "blocked",
         r"no candidates: the prompt was blocked \(SAFETY\)"),
        (candidate(content={"role": "model"}, finishReason="STOP"), "empty", "a candidate without text"),
        (candidate(content={"parts": [{"text": "  "}]}, finishReason="STOP"), "empty", "a candidate without text"),
        (candidate(finishReason="SAFETY"), "stopped", r"an answer stopped early \(finishReason SAFETY\)"),
        (candidate(content={"parts": [{"text": '[{"title": "Du'}]}, finishReason="MAX_TOKENS"), "truncated",
         r"an answer cut off at maxOutputTokens \(8192; finishReason MAX_TOKENS\): send fewer rows or less thinking"),
        (gemini_answer(None, text='[{"title": "Dune"'), "not_json",
         r"text that is not valid JSON \(cut off, or not JSON at all\)"),
        (gemini_answer(None, text="Sorry, no books here."), "not_json", "text that is not valid JSON"),
        (gemini_answer({"books": []}), "schema", r"JSON that is not an array \(got an object\)"),
        (gemini_answer(["Dune", {"title": "Emma"}]), "schema",
         r"an array whose item 0 is not an object \(got a string\)"),
        (httpx.Response(200, json=[1, 2]), "schema", "an answer that is not a JSON object"),
    ],
)
async def test_an_unusable_answer_is_a_provider_error_not_an_empty_list(autojump_clock, response, problem, message):
    error, upstream, metrics = await detect(replying(response))
    assert isinstance(error, ProviderError)
    assert (error.provider, error.reason) == ("gemini", "bad_response")
    assert error.details["problem"] == problem
    assert error.details["model"] == "gemini-2.5-flash"
    assert error.message.startswith("gemini (gemini-2.5-flash) answered with ")
    assert re.search(message, error.message)
    assert len(upstream.seen) == 1  # a bad answer is not retried: the model would likely do it again
    labels = {"model": "gemini-2.5-flash", "problem": problem}
    assert metrics.value("bookstrack_gemini_bad_answers_total", labels) == 1


async def test_the_csv_call_reports_a_truncated_answer(autojump_clock):
    error, _, _ = await parse(replying(gemini_answer(None, finish="MAX_TOKENS", text='[{"title":"Du')))
    assert isinstance(error, ProviderError)
    assert error.details == {
        "provider": "gemini", "reason": "bad_response", "problem": "truncated", "model": "gemini-2.5-flash-lite",
        "finish_reason": "MAX_TOKENS",
    }


# -- HTTP failures, the Upstream's retries, no key -------------------------------------------------------


async def test_a_5xx_is_retried_then_reported(autojump_clock):
    error, upstream, _ = await detect(replying(httpx.Response(500, json={"error": {"code": 500}})))
    assert isinstance(error, ProviderError)
    assert (error.reason, error.details["status"]) == ("http_5xx", 500)
    assert error.message == "gemini answered POST /v1beta/models/gemini-2.5-flash:generateContent with HTTP 500"
    assert len(upstream.seen) == 2  # [providers.gemini] max_attempts = 2


async def test_a_429_pauses_for_its_retry_after_then_succeeds(autojump_clock):
    answers = iter([httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": 429}}),
                    gemini_answer([{"title": "Dune", "boundingBox": BOX}])])
    result, upstream, _ = await detect(lambda request: next(answers))
    assert [b.title for b in result.books] == ["Dune"]
    first, second = upstream.times()
    assert second - first >= 3.0
    assert trio.current_time() >= 3.0


async def test_a_retry_after_longer_than_budget_wait_fails_as_rate_limited(autojump_clock):
    limited = httpx.Response(429, headers={"Retry-After": "60"}, json={"error": {"code": 429}})
    error, upstream, _ = await detect(replying(limited))
    assert (error.reason, error.details["status"]) == ("rate_limited", 429)
    assert len(upstream.seen) == 1  # the pause is longer than budget_wait (5 s): no second attempt


async def test_a_rejected_key_is_reported_at_once(autojump_clock):
    error, upstream, _ = await detect(replying(httpx.Response(400, json={"error": {"status": "INVALID_ARGUMENT"}})))
    assert (error.reason, error.details["status"]) == ("rejected", 400)
    assert len(upstream.seen) == 1


async def test_without_a_key_both_calls_are_unavailable_without_a_request(autojump_clock):
    async with running(replying(gemini_answer([])), env=KEYS) as (providers, upstream, metrics, health):
        assert providers.gemini.configured is False
        with pytest.raises(ProviderUnavailable) as caught:
            await providers.gemini.detect_books(PNG, mime_type="image/jpeg")
        with pytest.raises(ProviderUnavailable):
            await providers.gemini.parse_csv("a,b\n1,2\n")
    assert upstream.seen == []
    assert caught.value.message == "gemini is not configured: set BOOKSTRACK_GEMINI_API_KEY to use it"
    assert (caught.value.provider, caught.value.reason) == ("gemini", "unconfigured")
    assert metrics.value("bookstrack_provider_errors_total", {"provider": "gemini", "reason": "unconfigured"}) == 2


async def test_the_original_services_variable_name_works_too(autojump_clock):
    _, upstream, _ = await detect(replying(gemini_answer([])), env={"GEMINI_API_KEY": "orig"})
    assert upstream.seen[0].request.headers["x-goog-api-key"] == "orig"


# -- token metrics -------------------------------------------------------------------------------------------


async def test_token_usage_is_counted_per_model_and_kind_even_for_unusable_answers(autojump_clock):
    async with running(replying(gemini_answer([])), env=GEMINI_ENV) as (providers, upstream, metrics, _):
        await providers.gemini.detect_books(PNG, mime_type="image/png")
        upstream.handler = replying(gemini_answer(None, text="nope"))
        with pytest.raises(ProviderError):
            await providers.gemini.parse_csv("a,b\n1,2\n")

    def tokens(model, kind):
        return metrics.value("bookstrack_gemini_tokens_total", {"model": model, "kind": kind})

    assert (tokens("gemini-2.5-flash", "prompt"), tokens("gemini-2.5-flash", "output")) == (1290, 210)
    assert tokens("gemini-2.5-flash", "thoughts") == 200
    assert (tokens("gemini-2.5-flash-lite", "prompt"), tokens("gemini-2.5-flash-lite", "output")) == (1290, 210)
    assert metrics.value("bookstrack_provider_calls_total", {"provider": "gemini", "outcome": "ok"}) == 2
