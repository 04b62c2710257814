"""CSV imports end to end over real sockets (issue 5): upload, progress over the WebSocket, every row's
outcome in the results, the Gemini fallback for unknown layouts — against the fake upstream."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import msgspec
import pytest
import trio
from trio_websocket import open_websocket_url

from bookstrack.devtools.catalogue import load_catalogue
from tests import client_mirror as mirror
from tests.integration.jobs_support import Stream, receive, ws_url
from tests.integration.search_support import search_stack

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imports"
READY = '{"type":"ready","timestamp":1731700000000.5}'
GOODREADS_HEADER = [
    "Book Id", "Title", "Author", "Author l-f", "Additional Authors", "ISBN", "ISBN13", "My Rating",
    "Average Rating", "Publisher", "Binding", "Number of Pages", "Year Published", "Original Publication Year",
    "Date Read", "Date Added", "Bookshelves", "Bookshelves with positions", "Exclusive Shelf", "My Review",
    "Spoiler", "Private Notes", "Read Count", "Owned Copies",
]


def catalogue_rows() -> list[tuple[str, str, str]]:
    """(title, first author, ISBN-13) of the catalogue's Google Books volumes that have all three."""
    out = []
    for volume in load_catalogue().google_volumes:
        info = volume.get("volumeInfo", {})
        ids = {i.get("type"): i.get("identifier") for i in info.get("industryIdentifiers", [])}
        if info.get("title") and info.get("authors") and ids.get("ISBN_13"):
            out.append((info["title"], info["authors"][0], ids["ISBN_13"]))
    return out


def goodreads_export(rows: int) -> bytes:
    books = catalogue_rows()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(GOODREADS_HEADER)
    for i in range(rows):
        title, author, isbn = books[i % len(books)]
        last, _, first = author.rpartition(" ")
        writer.writerow([str(1000 + i), title, author, f"{first}, {last}", "", '=""', f'="{isbn}"', "4", "4.1",
                         "", "Paperback", "300", "2001", "1999", "2023/01/02", "2022/12/01", "read", "read (#1)",
                         "read", "", "", "", "1", "0"])
    return buffer.getvalue().encode()


async def run_import(stack, client, data: bytes, *, filename: str = "export.csv", **form: str) -> tuple[str, Stream]:
    response = await client.post("/api/import/csv-gemini", files={"file": (filename, data, "text/csv")}, data=form)
    assert response.status_code == 202, response.text
    started = response.json()["data"]
    stream = Stream()
    async with open_websocket_url(ws_url(stack.server, started["jobId"], started["token"])) as ws:
        await ws.send_message(READY)
        await receive(ws, stream)
    return started["jobId"], stream


async def test_a_goodreads_export_imports_row_by_row(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        job_id, stream = await run_import(stack, client, (FIXTURES / "goodreads.csv").read_bytes())
        assert stream.frames[0]["pipeline"] == "csv_import"
        assert (stream.code, stream.reason) == (1000, "Job completed")
        payload = msgspec.json.encode(stream.frames[-1]["payload"])
        complete = msgspec.json.decode(payload, type=mirror.CsvComplete)
        summary = msgspec.json.decode(payload, type=mirror.SummaryComplete).summary
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(payload, type=mirror.AiScanComplete)
        assert complete.successRate == "9/10"
        assert [e.title for e in complete.errors] == [""]
        titles = [b.title for b in complete.books]
        assert titles[0] == "The Hunger Games (The Hunger Games, #1)"
        assert len(titles) == 9
        assert summary.totalProcessed == 10
        results = await client.get(f"/v1/csv/results/{job_id}")
        assert results.status_code == 200
        data = results.json()["data"]
        assert [b["title"] for b in data["books"]] == titles
        assert data["errors"] == [{"row": 8, "title": "", "error": "No title"}]
        assert data["successRate"] == "9/10"
        assert data["format"] == "goodreads"
        hunger = data["books"][0]
        assert (hunger["row"], hunger["isbn"], hunger["status"], hunger["rating"]) == (1, "9780439023481", "read", 5)
        hobbit = next(b for b in data["books"] if b["title"].startswith("The Hobbit"))
        assert hobbit["matched"]["work"]["title"] == "The Hobbit"  # found by ISBN in the fake catalogue
        jobs_route = await client.get(f"/v1/jobs/{job_id}/results")
        assert jobs_route.json()["data"] == data


@pytest.mark.deadline(60)
async def test_a_thousand_row_goodreads_file_with_progress_while_health_answers(start_server, mock_clock):
    settings = {"jobs": {"workers_per_job": 20}}
    async with search_stack(start_server, mock_clock, settings=settings) as stack, stack.server.client() as client:
        data = goodreads_export(1000)
        response = await client.post("/api/import/csv-gemini", files={"file": ("big.csv", data, "text/csv")})
        started = response.json()["data"]
        health_codes: list[int] = []
        stream = Stream()
        async with trio.open_nursery() as nursery:

            async def poll_health() -> None:
                async with stack.server.client() as other:
                    while True:
                        health_codes.append((await other.get("/health")).status_code)
                        await trio.sleep(0.05)

            nursery.start_soon(poll_health)
            async with open_websocket_url(ws_url(stack.server, started["jobId"], started["token"])) as ws:
                await ws.send_message(READY)
                await receive(ws, stream)
            nursery.cancel_scope.cancel()
        assert stream.code == 1000
        progress = [f["payload"]["progress"] for f in stream.frames if f["type"] == "job_progress"]
        assert len(progress) > 10
        assert progress == sorted(progress)
        assert health_codes
        assert set(health_codes) == {200}
        payload = stream.frames[-1]["payload"]
        assert payload["successRate"] == "1000/1000"
        assert payload["summary"]["successCount"] == 1000  # every row matched its catalogue book
        results = (await client.get(f"/v1/csv/results/{started['jobId']}")).json()["data"]
        assert [b["row"] for b in results["books"]] == list(range(1, 1001))


async def test_an_unknown_layout_without_a_gemini_key_fails_clearly(start_server, mock_clock):
    async with search_stack(start_server, mock_clock, keys=False) as stack, stack.server.client() as client:
        odd = b"colour;weight\nred;5\nblue;7\n"
        _, stream = await run_import(stack, client, odd)
        assert (stream.code, stream.reason) == (1011, "Job failed")
        error = stream.frames[-1]["payload"]
        assert error["code"] == "E_CSV_PROCESSING_FAILED"
        assert "no Gemini API key" in error["message"]
        _, empty = await run_import(stack, client, b"\n\n")
        assert empty.frames[-1]["payload"]["message"] == "Invalid CSV: CSV file is empty"


async def test_an_unknown_layout_goes_to_gemini_in_chunks(start_server, mock_clock):
    async with search_stack(start_server, mock_clock) as stack, stack.server.client() as client:
        books = catalogue_rows()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["Regal", "Werk", "Verfasser", "Nummer"])  # a layout no parser knows
        answers = []
        for i in range(250):
            title, author, isbn = books[i % len(books)]
            writer.writerow([f"S{i}", title, author, isbn])
            answers.append({"title": title, "author": author, "isbn": isbn})
        for start in range(0, 250, 100):  # what the model would read from each chunk
            stack.fake.app.gemini.pin_rows(answers[start:start + 100])
        job_id, stream = await run_import(stack, client, buffer.getvalue().encode())
        assert stream.code == 1000
        assert stack.fake.requests.count("gemini") == 3  # 100 + 100 + 50 rows
        data = (await client.get(f"/v1/csv/results/{job_id}")).json()["data"]
        assert data["format"] == "gemini"
        assert len(data["books"]) == 250
        assert data["successRate"] == "250/250"


async def test_upload_checks(start_server):
    async with start_server(overrides={"rate_limit": {"enabled": False}}) as server, server.client() as client:
        plain = await client.post("/api/import/csv-gemini", content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
        assert plain.status_code == 400
        assert plain.json()["error"]["code"] == "INVALID_REQUEST"
        no_file = await client.post("/api/import/csv-gemini", files={"other": ("x.csv", b"a", "text/csv")})
        assert no_file.status_code == 400
        assert no_file.json()["error"] == {"message": "No file provided", "code": "MISSING_PARAMETER"}
        bad_format = await client.post("/api/import/csv-gemini", files={"file": ("x.csv", b"a", "text/csv")},
                                       data={"format": "excel"})
        assert bad_format.status_code == 400
        cut = await client.post("/api/import/csv-gemini", content=b"--b\r\nContent-Disposition: form-data; na",
                                headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert cut.status_code == 400
        assert cut.json()["error"]["code"] == "INVALID_REQUEST"
        assert cut.json()["error"]["message"].startswith("Malformed multipart body")
        huge = await client.post("/api/import/csv-gemini",
                                 files={"file": ("x.csv", b"a" * (10 * 1024 * 1024 + 10), "text/csv")})
        assert huge.status_code == 413
        assert huge.json()["error"] == "CSV file too large. Maximum 10MB allowed."
        assert huge.json()["details"]["resourceType"] == "CSV file"
        gone = await client.get("/v1/csv/results/nothing")
        assert gone.status_code == 404
        assert gone.json()["error"]["message"].startswith("CSV import results not found or expired.")


async def test_the_import_command_prints_a_summary_and_writes_a_report(tmp_path, mock_clock):
    from bookstrack.config import load_config
    from bookstrack.devtools import run_fake_upstream
    from bookstrack.import_command import run_import
    from tests.integration.conftest import storage_overrides
    from tests.integration.search_support import _ticker, provider_settings

    export = tmp_path / "library.csv"
    export.write_bytes((FIXTURES / "goodreads.csv").read_bytes())
    async with run_fake_upstream() as fake, trio.open_nursery() as nursery:
        nursery.start_soon(_ticker, mock_clock)
        providers = provider_settings(fake)
        config = load_config(env=fake.env(), overrides={**storage_overrides(tmp_path), "providers": providers,
                                                         "log": {"access_log": False}})
        out, err = io.StringIO(), io.StringIO()
        code = await run_import(config, export, out=out, err=err)
        nursery.cancel_scope.cancel()
    assert code == 0
    summary = out.getvalue()
    assert "library.csv: goodreads export (utf-8), 10 rows" in summary
    assert "skipped:            1" in summary
    assert "success rate:       9/10" in summary
    assert "100.0%" in err.getvalue()
    with (tmp_path / "library.csv.report.csv").open(newline="", encoding="utf-8") as f:
        report = list(csv.DictReader(f))
    assert [r["row"] for r in report] == [str(i) for i in range(1, 11)]
    assert report[7]["outcome"] == "skipped"
    assert report[7]["reason"] == "No title"
    hobbit = next(r for r in report if r["title"].startswith("The Hobbit"))
    assert hobbit["outcome"] == "imported"
    assert hobbit["matched_title"] == "The Hobbit"


@pytest.mark.deadline(40)
async def test_an_import_resumes_after_an_abrupt_stop_with_every_row_once(start_server, mock_clock):
    from bookstrack.devtools import run_fake_upstream
    from tests.integration.jobs_support import wait_state
    from tests.integration.search_support import _ticker, provider_settings

    data = goodreads_export(8)
    async with run_fake_upstream() as fake, trio.open_nursery() as nursery:
        nursery.start_soon(_ticker, mock_clock)
        fake.faults.set("google_books", latency_ms=200)
        providers = provider_settings(fake)
        overrides = {"providers": providers, "jobs": {"workers_per_job": 1}}
        with trio.CancelScope() as crash:
            async with start_server(env=fake.env(), overrides=overrides) as server, server.client() as client:
                response = await client.post("/api/import/csv-gemini", files={"file": ("l.csv", data, "text/csv")})
                started = response.json()["data"]
                await wait_state(client, started["jobId"], started["token"], processed=2)
                crash.cancel()
                await trio.sleep_forever()
        async with start_server(env=fake.env(), overrides=overrides) as server, server.client() as client:
            state = await wait_state(client, started["jobId"], started["token"], status="complete")
            results = (await client.get(f"/v1/csv/results/{started['jobId']}")).json()["data"]
        nursery.cancel_scope.cancel()
    assert state["processedCount"] == 8
    assert [b["row"] for b in results["books"]] == list(range(1, 9))
    assert results["successRate"] == "8/8"


async def test_the_csv_results_route_honours_results_require_token(start_server, mock_clock):
    settings = {"jobs": {"results_require_token": True}}
    async with search_stack(start_server, mock_clock, settings=settings) as stack, stack.server.client() as client:
        files = {"file": ("l.csv", goodreads_export(2), "text/csv")}
        started = (await client.post("/api/import/csv-gemini", files=files)).json()["data"]
        async with open_websocket_url(ws_url(stack.server, started["jobId"], started["token"])) as ws:
            await ws.send_message(READY)
            await receive(ws, Stream())
        path = f"/v1/csv/results/{started['jobId']}"
        assert (await client.get(path)).status_code == 401
        ok = await client.get(path, headers={"Authorization": f"Bearer {started['token']}"})
        assert ok.status_code == 200
