"""Google Gemini: ``POST /v1beta/models/{model}:generateContent``, answered in Google's own response format.

A stand-in for the model, deterministic so that tests can predict it:

- a request with an image part (``inline_data`` / ``inlineData``) is a bookshelf scan: the answer lists 2–6
  books of the catalogue chosen by a hash of the image bytes (``detections_for``), side by side with
  normalised bounding boxes; one of them has a low confidence (< 0.6) and another has no author. Titles and
  authors are the catalogue's, so enrichment through the other fakes finds them;
- a text-only request is a CSV parse: the CSV after ``"CSV Data:\\n"`` is read with Python's ``csv`` module and
  each row answered as ``{title, author, isbn}`` from the columns whose header contains "title", "author" and
  "isbn" (an "isbn13" column is preferred; Goodreads' ``="…"`` wrapping is removed); rows without a title are
  skipped.

The answer is ``candidates[0].content.parts[0].text`` (the JSON as a string), ``finishReason: "STOP"`` and
``usageMetadata`` (about four characters a token, 258 tokens an image). Tests steer it in-process or through
``/_control/gemini`` (see ``control``):

- ``pin_detections(books, image=None)``: the next vision answer (or every answer for that image) lists
  ``books`` verbatim (dicts in the model's output shape, so malformed ones can be played too);
- ``pin_rows(rows)``: the next CSV answer lists ``rows`` verbatim;
- ``answer_next(kind, count=1)``: the next answers are unusable: ``empty`` (a candidate without text),
  ``truncated`` (half the JSON, ``finishReason: MAX_TOKENS``), ``safety`` (``finishReason: SAFETY``, no
  text), ``blocked`` (no candidates, ``promptFeedback.blockReason: SAFETY``), ``not_json`` (prose) or
  ``not_array`` (an object).

Keys: the ``x-goog-api-key`` header (or ``?key=``). Without one the answer is 403 ``PERMISSION_DENIED``; a key
other than the fake's (when it is given one) is 400 ``INVALID_ARGUMENT`` / ``API_KEY_INVALID``, as Google
answers. A model whose name does not start with ``gemini-`` is 404 ``NOT_FOUND``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import random
import re
from collections import deque
from typing import Any

from bookstrack.devtools.catalogue import Catalogue
from bookstrack.devtools.upstreams.base import Handler, Request, Response, Upstream, json_response, route

__all__ = ["Gemini", "ANSWER_KINDS", "gemini_error"]

CONTENT_TYPE = "application/json; charset=UTF-8"
ANSWER_KINDS = ("empty", "truncated", "safety", "blocked", "not_json", "not_array")
FORMATS = ("hardcover", "paperback", "mass-market", "unknown")
IMAGE_TOKENS = 258  # what Gemini charges for a small image (larger ones are tiled at 258 a tile)
_GRPC = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_NOT_ISBN = re.compile(r"[^0-9Xx]")


def gemini_error(status: int, message: str, *, reason: str | None = None) -> Response:
    """Google's error body: ``{"error": {"code", "message", "status"[, "details"]}}``."""
    error: dict[str, Any] = {"code": status, "message": message, "status": _GRPC.get(status, "UNKNOWN")}
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    return json_response({"error": error}, status, content_type=CONTENT_TYPE)


class Gemini(Upstream):
    name = "gemini"
    prefix = "/gemini"
    routes = [route("POST", r"/v1beta/models/(?P<model>[^/:]+):generateContent", "generate_content")]

    def __init__(self, catalogue: Catalogue, *, api_key: str | None = None) -> None:
        self.catalogue = catalogue
        self.api_key = api_key
        self._books = _books_of(catalogue)
        self._pinned_next: deque[list[Any]] = deque()
        self._pinned_by_image: dict[str, list[Any]] = {}
        self._rows_next: deque[list[Any]] = deque()
        self._answers_next: deque[str] = deque()

    # -- steering (tests) -------------------------------------------------------------------------------

    def pin_detections(self, books: list[Any], *, image: bytes | None = None) -> None:
        """The next vision answer (or, given ``image``, every answer for those bytes) lists ``books``."""
        if image is None:
            self._pinned_next.append(list(books))
        else:
            self._pinned_by_image[hashlib.sha256(image).hexdigest()] = list(books)

    def pin_rows(self, rows: list[Any]) -> None:
        """The next CSV answer lists ``rows`` instead of what the CSV holds."""
        self._rows_next.append(list(rows))

    def answer_next(self, kind: str, count: int = 1) -> None:
        """The next ``count`` answers are unusable in the way ``kind`` names (one of ``ANSWER_KINDS``)."""
        if kind not in ANSWER_KINDS:
            raise ValueError(f"unknown answer kind {kind!r} (one of {', '.join(ANSWER_KINDS)})")
        self._answers_next.extend([kind] * max(0, count))

    def reset(self) -> None:
        """Forget every pin and pending answer."""
        self._pinned_next.clear()
        self._pinned_by_image.clear()
        self._rows_next.clear()
        self._answers_next.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "pinned_next": len(self._pinned_next),
            "pinned_images": sorted(self._pinned_by_image),
            "rows_next": len(self._rows_next),
            "answers_next": list(self._answers_next),
        }

    def control(self, method: str, payload: dict[str, Any]) -> Response:
        """``GET /_control/gemini``: the pins. ``POST`` with any of ``{"detections": [...], "image_sha256"?:
        hex, "rows": [...], "answer_next": kind, "count"?: n, "reset": true}``."""
        if method == "POST":
            try:
                if payload.get("reset"):
                    self.reset()
                if "detections" in payload:
                    books = _list(payload["detections"], "detections")
                    digest = payload.get("image_sha256")
                    if digest is None:
                        self._pinned_next.append(books)
                    elif isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest):
                        self._pinned_by_image[digest] = books
                    else:
                        raise ValueError("image_sha256 must be 64 lower-case hex digits")
                if "rows" in payload:
                    self.pin_rows(_list(payload["rows"], "rows"))
                if "answer_next" in payload:
                    count = payload.get("count", 1)
                    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                        raise ValueError("count must be an integer ≥ 0")
                    self.answer_next(str(payload["answer_next"]), count)
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
        elif method != "GET":
            return json_response({"error": f"no control route {method} /_control/gemini"}, 404)
        return json_response(self.snapshot())

    def detections_for(self, image: bytes) -> list[dict[str, Any]]:
        """The canned answer for ``image`` (pins aside): 2–6 catalogue books, the same for the same bytes."""
        digest = hashlib.sha256(image).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        count = min(len(self._books), 2 + digest[8] % 5)
        picks = rng.sample(self._books, count)
        low = rng.randrange(count)
        authorless = (low + 1 + rng.randrange(count - 1)) % count if count > 1 else low
        out: list[dict[str, Any]] = []
        for i, (title, author, isbn) in enumerate(picks):
            width = 1.0 / count
            out.append(
                {
                    "title": title,
                    "author": None if i == authorless else author,
                    "isbn": isbn if rng.random() < 0.4 else None,
                    "format": rng.choice(FORMATS),
                    "confidence": round(rng.uniform(0.3, 0.55) if i == low else rng.uniform(0.72, 0.98), 2),
                    "boundingBox": {
                        "x1": round(i * width + 0.01, 4),
                        "y1": round(rng.uniform(0.02, 0.2), 4),
                        "x2": round((i + 1) * width - 0.01, 4),
                        "y2": round(rng.uniform(0.8, 0.98), 4),
                    },
                }
            )
        return out

    # -- the endpoint -----------------------------------------------------------------------------------

    def resolve(self, request: Request) -> tuple[str, Handler]:
        name, handler = super().resolve(request)
        key = request.headers.get("x-goog-api-key") or request.arg("key") or ""
        if not key:
            return name, lambda: gemini_error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API "
                "Key or other form of API consumer identity to call this API.",
            )
        if self.api_key is not None and key != self.api_key:
            return name, lambda: gemini_error(
                400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
            )
        return name, handler

    def generate_content(self, request: Request, model: str) -> Response:
        if not model.startswith("gemini-"):
            return gemini_error(
                404,
                f"models/{model} is not found for API version v1beta, or is not supported for generateContent. "
                "Call ListModels to see the list of available models and their supported methods.",
            )
        try:
            body = json.loads(request.body)
        except ValueError:
            return gemini_error(400, "Invalid JSON payload received. Unexpected token.")
        contents = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(contents, list) or not contents:
            return gemini_error(400, "* GenerateContentRequest.contents: contents is not specified\n")
        texts: list[str] = []
        images: list[bytes] = []
        for content in contents:
            for part in content.get("parts", []) if isinstance(content, dict) else []:
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                blob = part.get("inline_data") or part.get("inlineData")
                if isinstance(blob, dict):
                    try:
                        images.append(base64.b64decode(str(blob.get("data", "")), validate=True))
                    except (binascii.Error, ValueError):
                        return gemini_error(400, "Invalid value at 'contents.parts.inline_data.data' (TYPE_BYTES)")
        prompt_tokens = sum(len(t) for t in texts) // 4 + IMAGE_TOKENS * len(images) + 1
        if images:
            items = self._vision(images[0])
        else:
            items = self._rows(texts)
        return self._answer(model, items, prompt_tokens)

    # -- helpers ----------------------------------------------------------------------------------------

    def _vision(self, image: bytes) -> list[Any]:
        if self._pinned_next:
            return self._pinned_next.popleft()
        pinned = self._pinned_by_image.get(hashlib.sha256(image).hexdigest())
        return list(pinned) if pinned is not None else self.detections_for(image)

    def _rows(self, texts: list[str]) -> list[Any]:
        if self._rows_next:
            return self._rows_next.popleft()
        return csv_rows("\n".join(texts))

    def _answer(self, model: str, items: list[Any], prompt_tokens: int) -> Response:
        kind = self._answers_next.popleft() if self._answers_next else None
        text = json.dumps(items, ensure_ascii=False)
        finish = "STOP"
        parts: list[dict[str, Any]] | None = None
        if kind == "truncated":
            text, finish = text[: max(1, len(text) // 2)], "MAX_TOKENS"
        elif kind == "not_json":
            text = "I'm sorry, I can't read the books in this photo."
        elif kind == "not_array":
            text = json.dumps({"books": items}, ensure_ascii=False)
        elif kind in ("empty", "safety"):
            parts = []
            finish = "SAFETY" if kind == "safety" else "STOP"
        output_tokens = 0 if parts is not None else len(text) // 4 + 1
        usage = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        }
        if kind == "blocked":
            return json_response(
                {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage, "modelVersion": model},
                content_type=CONTENT_TYPE,
            )
        content: dict[str, Any] = {"role": "model"}
        if parts is None:
            content["parts"] = [{"text": text}]
        candidate = {"content": content, "finishReason": finish, "index": 0}
        return json_response(
            {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}, content_type=CONTENT_TYPE
        )

    def not_found(self, request: Request) -> Response:
        return gemini_error(404, "Not Found")

    def injected_error(self, status: int) -> Response:
        return gemini_error(status, _MESSAGES.get(status, f"HTTP {status}"))


def csv_rows(text: str) -> list[dict[str, Any]]:
    """``{title, author, isbn}`` for each row of the CSV after the last ``"CSV Data:\\n"`` of ``text``."""
    marker = "CSV Data:\n"
    at = text.rfind(marker)
    if at < 0:
        return []
    rows = [r for r in csv.reader(io.StringIO(text[at + len(marker) :])) if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]

    def column(*words: str) -> int | None:
        for word in words:
            for index, name in enumerate(header):
                if word in name:
                    return index
        return None

    title, author, isbn = column("title"), column("author"), column("isbn13", "isbn")
    out: list[dict[str, Any]] = []
    for row in rows[1:]:

        def cell(index: int | None, row: list[str] = row) -> str | None:
            value = row[index].strip() if index is not None and index < len(row) else ""
            return value or None

        name = cell(title)
        if name is None:
            continue
        number = _NOT_ISBN.sub("", cell(isbn) or "").upper() or None
        out.append({"title": name, "author": cell(author), "isbn": number})
    return out


def _books_of(catalogue: Catalogue) -> list[tuple[str, str, str | None]]:
    """(title, first author, ISBN-13) of each distinct Google Books volume that has a title and an author."""
    seen: set[tuple[str, str]] = set()
    books: list[tuple[str, str, str | None]] = []
    for volume in catalogue.google_volumes:
        info = volume.get("volumeInfo", {})
        title, authors = info.get("title"), info.get("authors") or []
        if not title or not authors or (title, authors[0]) in seen:
            continue
        seen.add((title, authors[0]))
        isbn = next(
            (i["identifier"] for i in info.get("industryIdentifiers", []) if i.get("type") == "ISBN_13"), None
        )
        books.append((title, authors[0], isbn))
    return books


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list")
    return value
