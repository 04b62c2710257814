"""Author cache warming end to end (issue 6): the upload feeds the durable queue, the consumer warms the
search cache from the fake upstream, and the admin-only dead-letter routes list, retry and drop."""

from __future__ import annotations

import base64
import csv
import io
import sqlite3

import trio

from bookstrack.tasks.warming import QUEUE
from tests.integration.search_support import TICK, search_stack

AUTHORS = ["J.R.R. Tolkien", "Ursula K. Le Guin", "J.R.R. Tolkien", "  ursula k. le guin "]


def generic_export() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Title", "Author", "ISBN"])
    for number, author in enumerate(AUTHORS):
        writer.writerow([f"Book {number}", author, ""])
    return buffer.getvalue().encode()


def warmed(server) -> list[tuple[str, int]]:
    with sqlite3.connect(server.config.storage.path) as conn:
        return conn.execute("SELECT name, depth FROM warmed_authors ORDER BY name").fetchall()


async def drained(server) -> None:
    queues = server.app.services.queues
    while True:
        (stats,) = [s for s in await queues.stats() if s.queue == QUEUE]
        if stats.depth == 0:
            return
        await trio.sleep(TICK * 10)


async def test_an_upload_queues_each_author_once_and_warms_the_cache(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        body = {"csv": base64.b64encode(generic_export()).decode(), "maxDepth": 2}
        response = await client.post("/api/warming/upload", json=body)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert set(answer) == {"jobId", "authorsQueued", "estimatedWorks", "estimatedDuration"}
        assert answer["authorsQueued"] == 2  # unique, trimmed, case-insensitive
        assert answer["estimatedWorks"] == 20
        assert response.headers["X-RateLimit-Limit"] == "10"
        await drained(stack.server)
        assert warmed(stack.server) == [("J.R.R. Tolkien", 0), ("Ursula K. Le Guin", 0)]
        assert stack.fake.requests.count("openlibrary") >= 2
        before = stack.book_calls()
        author = await client.get("/search/author", params={"q": "J.R.R. Tolkien"})
        assert author.status_code == 200
        assert stack.book_calls() == before  # served from the cache the warming filled

        again = await client.post("/api/warming/upload", json=body)  # recently warmed: skipped
        assert again.status_code == 202
        await drained(stack.server)
        assert stack.book_calls() == before


async def test_upload_errors_keep_the_reference_bodies(start_server, mock_clock):
    async with search_stack(start_server, mock_clock, keys=False) as stack, stack.server.client() as client:
        missing = await client.post("/api/warming/upload", json={"maxDepth": 2})
        assert missing.status_code == 400
        assert missing.json()["error"] == "Missing required field: csv (base64-encoded CSV file)"
        assert missing.json()["code"] == "INVALID_REQUEST"
        depth = await client.post("/api/warming/upload", json={"csv": "eA==", "maxDepth": 5})
        assert (depth.status_code, depth.json()["error"]) == (400, "maxDepth must be 1-3")
        odd = base64.b64encode(b"colour;weight\nred;5\n").decode()
        unknown = await client.post("/api/warming/upload", json={"csv": odd})
        assert unknown.status_code == 400
        assert "no Gemini API key" in unknown.json()["error"]
        bad = await client.post("/api/warming/upload", json={"csv": "not base64!"})
        assert bad.status_code == 400


async def test_dead_letters_are_admin_only_and_can_be_retried_or_dropped(start_server, mock_clock):
    settings = {"queues": {"author_warming": {"max_retries": 0, "backoff_base": 0.01}}}
    async with search_stack(start_server, mock_clock, settings=settings) as stack, stack.server.client() as client:
        services = stack.server.app.services
        assert (await client.get("/api/warming/dlq")).status_code == 404  # no admin token configured
        assert (await client.post("/api/warming/dlq", json={"action": "drop", "all": True})).status_code == 404
        services.config.secrets.admin_token = "s3cret"
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("/api/warming/dlq", headers=wrong)).status_code == 401
        assert (await client.post("/api/warming/dlq", headers=wrong, json={"action": "drop", "all": True})
                ).status_code == 401
        admin = {"Authorization": "Bearer s3cret"}

        (poison,) = await services.queues.enqueue(QUEUE, [{"no_author": True}])  # can never be read
        await drained(stack.server)
        listing = (await client.get("/api/warming/dlq", headers=admin)).json()
        assert (listing["queue"], listing["depth"], listing["queueDepth"]) == ("author-warming-dlq", 1, 0)
        (letter,) = listing["messages"]
        assert (letter["id"], letter["payload"], letter["attempts"]) == (poison, {"no_author": True}, 1)
        assert letter["error"].startswith("ValidationError")
        assert letter["deadAt"].endswith("Z")

        retried = await client.post("/api/warming/dlq", headers=admin, json={"action": "retry", "ids": [poison, 42]})
        assert retried.status_code == 200
        assert (retried.json()["ids"], retried.json()["missing"]) == ([poison], [42])
        await drained(stack.server)  # it fails again and is a dead letter again
        assert (await client.get("/api/warming/dlq", headers=admin)).json()["depth"] == 1

        invalid = await client.post("/api/warming/dlq", headers=admin, json={"action": "explode", "ids": [1]})
        assert invalid.status_code == 400
        dropped = await client.post("/api/warming/dlq", headers=admin, json={"action": "drop", "all": True})
        assert (dropped.json()["ids"], dropped.json()["depth"]) == ([poison], 0)
        assert (await client.get("/api/warming/dlq", headers=admin)).json()["messages"] == []
