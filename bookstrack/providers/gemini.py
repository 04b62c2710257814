"""Google Gemini (``x-goog-api-key`` header): the two ``generateContent`` calls of reference §8.5.

Owns the request shapes and the reading of the answers:

- ``detect_books``: one bookshelf photo → the books whose titles are readable, each with a normalised
  bounding box (``{x1,y1,x2,y2}`` in 0–1, required by the schema: the clients draw them, clients.md §4.4);
  the photo's real MIME type is declared (the original always said ``image/jpeg``);
- ``parse_csv``: CSV text (one chunk: the caller splits big files, see ``CSV_ROWS_PER_CALL``) → rows.

Unlike the original, an answer we cannot use is an error, never an empty list: no candidates or no text
(a blocked prompt, a SAFETY stop), an answer cut off at ``maxOutputTokens`` (``finishReason`` MAX_TOKENS,
or JSON that does not parse), or JSON that is not the schema's array of objects. All are ``ProviderError``
with reason ``bad_response`` and ``details.problem`` (``blocked``, ``empty``, ``stopped``, ``truncated``,
``not_json``, ``schema``); HTTP failures come from the ``Upstream`` after its retries (429 and 5xx, honouring
``Retry-After``). Without a key every call raises ``ProviderUnavailable`` before any request.

Token usage (``usageMetadata``) is returned with each result and counted in
``bookstrack_gemini_tokens_total{model, kind}`` (``kind``: ``prompt``, ``output``, ``thoughts``), failed answers
included (they cost the same); unusable answers are also counted in
``bookstrack_gemini_bad_answers_total{model, problem}``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from bookstrack.config import GeminiConfig
from bookstrack.errors import ProviderError
from bookstrack.metrics import Metrics
from bookstrack.providers.upstream import Upstream

__all__ = [
    "BookFormat",
    "BoundingBox",
    "CSV_ROWS_PER_CALL",
    "DetectedBook",
    "Detections",
    "GeminiClient",
    "GeminiRow",
    "MAX_OUTPUT_TOKENS",
    "ParsedRows",
    "TOKENS_PER_CSV_ROW",
    "TokenUsage",
    "rows_per_call",
]

BookFormat = Literal["hardcover", "paperback", "mass-market", "unknown"]
FORMATS: tuple[BookFormat, ...] = ("hardcover", "paperback", "mass-market", "unknown")

MAX_OUTPUT_TOKENS = 8192
# A CSV row as the model writes it back: ten keys, most null, a title, an author, a publisher and an ISBN-13
# come to 50–80 tokens (long titles and publishers at the top). 8192 // 80 = 102 rows fit in the output
# limit even in the worst case, so a chunk of 100 rows never ends in MAX_TOKENS (the original sent up to
# 10 000 rows in one call and got truncated JSON back). Thinking tokens count against the same limit:
# keep thinking off for the CSV model (2.5 Flash-Lite's default) or lower the chunk size.
TOKENS_PER_CSV_ROW = 80
CSV_ROWS_PER_CALL = 100

_ENDPOINT = "/v1beta/models/{model}:generateContent"
_SECRET = "BOOKSTRACK_GEMINI_API_KEY"


def rows_per_call(max_output_tokens: int = MAX_OUTPUT_TOKENS, tokens_per_row: int = TOKENS_PER_CSV_ROW) -> int:
    """How many CSV rows one call may carry so that their JSON fits in ``max_output_tokens``."""
    return max(1, max_output_tokens // max(1, tokens_per_row))


# -- results --------------------------------------------------------------------------------------------


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    """``usageMetadata`` of one answer (0 where Gemini left a count out)."""

    prompt_tokens: int = 0
    output_tokens: int = 0  # candidatesTokenCount: the answer's text, not the thinking
    total_tokens: int = 0  # includes thinking tokens on 2.5 models


class BoundingBox(msgspec.Struct, frozen=True):
    """A book's spine in the photo, normalised to 0–1 (origin top left), with ``x1 <= x2`` and ``y1 <= y2``."""

    x1: float
    y1: float
    x2: float
    y2: float


class DetectedBook(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    author: str | None = None  # None when no author was readable
    isbn: str | None = None  # as printed on the spine, when visible
    format: BookFormat = "unknown"
    confidence: float | None = None  # 0–1; None when the model gave none (counts as neither approved nor review)
    bounding_box: BoundingBox | None = None  # None only when the model broke the schema's "required"


class Detections(msgspec.Struct, frozen=True, kw_only=True):
    books: list[DetectedBook]
    model: str
    usage: TokenUsage


class GeminiRow(msgspec.Struct, frozen=True, kw_only=True):
    """One CSV row as the model mapped it (values the model left out or got the wrong type of are None)."""

    title: str | None = None
    author: str | None = None
    isbn: str | None = None
    publication_year: int | None = None
    publisher: str | None = None
    page_count: int | None = None
    genre: str | None = None
    rating: float | None = None  # 0–5
    date_read: str | None = None
    notes: str | None = None


class ParsedRows(msgspec.Struct, frozen=True, kw_only=True):
    rows: list[GeminiRow]
    model: str
    usage: TokenUsage


# -- the prompts (reference §8.5) -------------------------------------------------------------------------

VISION_SYSTEM = (
    "You are an expert bookshelf analyzer. Identify every book visible in the photo and extract its title, "
    "author and physical format. Only include books whose title is clearly readable; skip objects that are not "
    "books. Give each book a confidence from 0.0 to 1.0 based on how clearly its text can be read, and a "
    "bounding box around its spine or cover with coordinates normalised to 0-1 (x1,y1 top left; x2,y2 bottom "
    "right). Follow the JSON schema exactly."
)

VISION_PROMPT = """Analyze this bookshelf photo step by step:
1. Find every book spine or cover, whether it stands vertically, lies horizontally or sits in a stack.
2. Read the text on each one, including sideways or upside-down text; allow for glare, low contrast, tilt
   and books that are only partly visible.
3. Extract the title (required) and the author (only if it is visible), and the ISBN if one is printed.
4. Judge the format from visual cues: hardcover (rigid boards, dust jacket), paperback (flexible cover),
   mass-market (small paperback), or unknown.
5. Give a confidence from 0.0 to 1.0: high when the text is sharp and complete, low when it is guessed.
6. Give the bounding box of the spine or cover: x1, y1, x2, y2 as fractions of the image width and height.
Return only books whose titles you can actually read, as a JSON array following the schema."""

CSV_SYSTEM = (
    "You are an expert book data parser. You map the columns of CSV exports from Goodreads, LibraryThing, "
    "StoryGraph and custom spreadsheets to a standard schema: detect the header row, normalise ISBNs, years and "
    "ratings, tolerate malformed rows, and return only a JSON array."
)

CSV_PROMPT = """Parse the CSV below into a JSON array with one object per book row.
Header hints: "Book Title" or "Title" -> title; "Author Name", "Author" or "Primary Author" -> author;
"ISBN13" (preferred) or "ISBN" -> isbn (digits and X only; Goodreads writes ="978..."); "Year Published",
"Original Publication Year" or "Publication Year" -> publicationYear; "Publisher" -> publisher;
"Number of Pages" or "Pages" -> pageCount; "My Rating" or "Rating" -> rating (0-5); "Date Read" -> dateRead
(YYYY-MM-DD); "Bookshelves", "Genre" or "Tags" -> genre; "Review" or "Notes" -> notes.
Rules: one object per data row, in order; use null for anything missing; do not invent ISBNs; skip rows that
have neither a title nor an author; no text outside the JSON array."""

_NULLABLE_STRING = {"type": "STRING", "nullable": True}

VISION_SCHEMA: dict[str, Any] = {
    "type": "ARRAY",
    "items": {
        "type": "OBJECT",
        "properties": {
            "title": {"type": "STRING", "description": "The book's title as printed"},
            "author": {**_NULLABLE_STRING, "description": "The author, if visible"},
            "isbn": {**_NULLABLE_STRING, "description": "The ISBN, if printed"},
            "format": {"type": "STRING", "enum": list(FORMATS), "nullable": True},
            "confidence": {"type": "NUMBER", "minimum": 0, "maximum": 1, "nullable": True},
            "boundingBox": {
                "type": "OBJECT",
                "description": "The spine or cover, normalised to 0-1 (x1,y1 top left; x2,y2 bottom right)",
                "properties": {k: {"type": "NUMBER", "minimum": 0, "maximum": 1} for k in ("x1", "y1", "x2", "y2")},
                "required": ["x1", "y1", "x2", "y2"],
            },
        },
        "required": ["title", "boundingBox"],
    },
}

CSV_SCHEMA: dict[str, Any] = {
    "type": "ARRAY",
    "items": {
        "type": "OBJECT",
        "properties": {
            "title": {"type": "STRING"},
            "author": {"type": "STRING"},
            "isbn": _NULLABLE_STRING,
            "publicationYear": {"type": "INTEGER", "nullable": True},
            "publisher": _NULLABLE_STRING,
            "pageCount": {"type": "INTEGER", "minimum": 1, "nullable": True},
            "genre": _NULLABLE_STRING,
            "rating": {"type": "NUMBER", "minimum": 0, "maximum": 5, "nullable": True},
            "dateRead": _NULLABLE_STRING,
            "notes": _NULLABLE_STRING,
        },
        "required": ["title", "author"],
    },
}

_encode = msgspec.json.Encoder().encode


class GeminiClient:
    name = "gemini"

    def __init__(self, upstream: Upstream, api_key: str | None, *, metrics: Metrics | None = None) -> None:
        self.upstream = upstream
        self.configured = bool(api_key)
        settings = upstream.settings if isinstance(upstream.settings, GeminiConfig) else GeminiConfig()
        self.vision_model = settings.vision_model
        self.csv_model = settings.csv_model
        self.thinking_budget = settings.thinking_budget
        metrics = metrics or Metrics()
        self._tokens = metrics.counter(
            "bookstrack_gemini_tokens_total", "Gemini tokens used, by model and kind (prompt/output/thoughts).",
            ["model", "kind"],
        )
        self._bad = metrics.counter(
            "bookstrack_gemini_bad_answers_total", "Gemini answers that could not be used, by model and problem.",
            ["model", "problem"],
        )

    # -- the calls ----------------------------------------------------------------------------------------

    async def detect_books(self, image: bytes, *, mime_type: str) -> Detections:
        """The books on one bookshelf photo (reference §8.5.1, with bounding boxes and the real MIME type).

        Items without a title are dropped; an empty list means the model saw no readable title.
        """
        self._require_key()
        if not image:
            raise ValueError("image is empty")
        mime = mime_type.split(";", 1)[0].strip().lower()
        if not mime.startswith("image/"):
            raise ValueError(f"mime_type must be an image type, not {mime_type!r}")
        body = {
            "system_instruction": {"parts": [{"text": VISION_SYSTEM}]},
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"inline_data": {"mime_type": mime, "data": base64.b64encode(image).decode("ascii")}},
                        {"text": VISION_PROMPT},
                    ],
                }
            ],
            "generationConfig": self._generation_config(
                {"temperature": 0.4, "topK": 40, "topP": 0.95}, VISION_SCHEMA
            ),
        }
        items, usage = await self._generate(self.vision_model, body)
        books = [book for item in items if (book := _detected_book(item)) is not None]
        return Detections(books=books, model=self.vision_model, usage=usage)

    async def parse_csv(self, csv_text: str) -> ParsedRows:
        """One chunk of CSV (header plus at most ``CSV_ROWS_PER_CALL`` rows) → rows (reference §8.5.2)."""
        self._require_key()
        if not csv_text.strip():
            raise ValueError("csv_text is empty")
        body = {
            "system_instruction": {"parts": [{"text": CSV_SYSTEM}]},
            "contents": [{"role": "user", "parts": [{"text": CSV_PROMPT + "\n\nCSV Data:\n" + csv_text}]}],
            "generationConfig": self._generation_config({"temperature": 0.1, "topP": 0.95}, CSV_SCHEMA),
        }
        items, usage = await self._generate(self.csv_model, body)
        return ParsedRows(rows=[_row(item) for item in items], model=self.csv_model, usage=usage)

    # -- shared -----------------------------------------------------------------------------------------

    def _generation_config(self, sampling: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
        config = {
            **sampling,
            "maxOutputTokens": MAX_OUTPUT_TOKENS,
            "responseMimeType": "application/json",
            "responseSchema": schema,
        }
        if self.thinking_budget >= 0:
            config["thinkingConfig"] = {"thinkingBudget": self.thinking_budget}
        return config

    async def _generate(self, model: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], TokenUsage]:
        """POST one ``generateContent`` and return the answer's JSON array of objects and the token usage."""
        answer = await self.upstream.request(
            "POST", _ENDPOINT.format(model=model), content=_encode(body),
            headers={"Content-Type": "application/json"},
        )
        if not isinstance(answer, dict):
            raise self._bad_answer(model, "schema", "an answer that is not a JSON object")
        usage = self._record_usage(model, answer.get("usageMetadata"))
        text = self._text(model, answer)
        try:
            parsed = msgspec.json.decode(text)
        except msgspec.DecodeError:
            raise self._bad_answer(
                model, "not_json", "text that is not valid JSON (cut off, or not JSON at all)"
            ) from None
        if not isinstance(parsed, list):
            raise self._bad_answer(model, "schema", f"JSON that is not an array (got {_kind(parsed)})")
        for index, item in enumerate(parsed):
            if not isinstance(item, dict):
                raise self._bad_answer(
                    model, "schema", f"an array whose item {index} is not an object (got {_kind(item)})"
                )
        return parsed, usage

    def _text(self, model: str, answer: dict[str, Any]) -> str:
        """The first candidate's text, or the error saying why there is none (or why it cannot be whole)."""
        candidates = answer.get("candidates")
        if not candidates:
            feedback = answer.get("promptFeedback")
            block = feedback.get("blockReason") if isinstance(feedback, dict) else None
            if block:
                raise self._bad_answer(model, "blocked", f"no candidates: the prompt was blocked ({block})",
                                       block_reason=str(block))
            raise self._bad_answer(model, "empty", "no candidates")
        candidate = candidates[0] if isinstance(candidates, list) else None
        if not isinstance(candidate, dict):
            raise self._bad_answer(model, "schema", "a candidate that is not an object")
        finish = candidate.get("finishReason")
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        text = "".join(
            p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str)
            and not p.get("thought")
        )
        if finish == "MAX_TOKENS":
            raise self._bad_answer(
                model, "truncated", f"an answer cut off at maxOutputTokens ({MAX_OUTPUT_TOKENS}; finishReason "
                "MAX_TOKENS): send fewer rows or less thinking", finish_reason=finish,
            )
        if finish not in (None, "STOP", "FINISH_REASON_UNSPECIFIED"):
            raise self._bad_answer(model, "stopped", f"an answer stopped early (finishReason {finish})",
                                   finish_reason=str(finish))
        if not text.strip():
            raise self._bad_answer(model, "empty", "a candidate without text", finish_reason=str(finish))
        return text

    def _record_usage(self, model: str, metadata: Any) -> TokenUsage:
        meta: Mapping[str, Any] = metadata if isinstance(metadata, dict) else {}
        prompt, output, thoughts = (_count(meta.get(k)) for k in (
            "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"))
        total = _count(meta.get("totalTokenCount")) or prompt + output + thoughts
        for kind, n in (("prompt", prompt), ("output", output), ("thoughts", thoughts)):
            if n:
                self._tokens.labels(model, kind).inc(n)
        return TokenUsage(prompt_tokens=prompt, output_tokens=output, total_tokens=total)

    def _bad_answer(self, model: str, problem: str, what: str, **extra: str) -> ProviderError:
        self._bad.labels(model, problem).inc()
        return ProviderError(
            f"gemini ({model}) answered with {what}", provider="gemini", reason="bad_response",
            details={"problem": problem, "model": model, **extra},
        )

    def _require_key(self) -> None:
        if not self.configured:
            raise self.upstream.unconfigured(_SECRET)


# -- reading the items (untrusted: every field may be missing or of another type) ------------------------


def _detected_book(item: dict[str, Any]) -> DetectedBook | None:
    title = _string(item.get("title"))
    if title is None:
        return None
    fmt = item.get("format")
    return DetectedBook(
        title=title,
        author=_string(item.get("author")),
        isbn=_string(item.get("isbn")),
        format=fmt if fmt in FORMATS else "unknown",
        confidence=_fraction(item.get("confidence")),
        bounding_box=_box(item.get("boundingBox")),
    )


def _box(value: Any) -> BoundingBox | None:
    if not isinstance(value, dict):
        return None
    coords = [_number(value.get(k)) for k in ("x1", "y1", "x2", "y2")]
    if any(c is None for c in coords):
        return None
    x1, y1, x2, y2 = (min(1.0, max(0.0, c)) for c in coords)  # type: ignore[type-var]
    return BoundingBox(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _row(item: dict[str, Any]) -> GeminiRow:
    rating = _number(item.get("rating"))
    return GeminiRow(
        title=_string(item.get("title")),
        author=_string(item.get("author")),
        isbn=_string(item.get("isbn")),
        publication_year=_integer(item.get("publicationYear")),
        publisher=_string(item.get("publisher")),
        page_count=_integer(item.get("pageCount")),
        genre=_string(item.get("genre")),
        rating=None if rating is None else min(5.0, max(0.0, rating)),
        date_read=_string(item.get("dateRead")),
        notes=_string(item.get("notes")),
    )


def _string(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # an ISBN or a year the model wrote as a number
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or value != value:  # NaN
        return None
    return float(value)


def _fraction(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else min(1.0, max(0.0, number))


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None or not number.is_integer() else int(number)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )
