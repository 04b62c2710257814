"""``bookstrack import FILE [--format …] [--report PATH]``: import a library export from the command line.

Owns the command's run: it starts the application's services in-process (same config, database and
providers as ``serve``, no HTTP server), starts a CSV-import job through the same pipeline the
``/api/import/csv-gemini`` route uses, draws the job's progress events as a progress bar on stderr, then
prints a summary and writes a per-row report (CSV: row, outcome, title, author, ISBN, matched record,
reason). The job is kept like any other, so a server on the same database serves its results for the
retention period. It does not resume other jobs (a server may own them).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, TextIO

import msgspec
import trio

from bookstrack.config import Config
from bookstrack.pipelines.csv_import import start_import

__all__ = ["run_import", "write_report", "BAR_WIDTH"]

BAR_WIDTH = 30


class _Frame(msgspec.Struct):
    type: str
    payload: dict[str, Any]


def _bar(progress: float, status: str, stream: TextIO, tty: bool) -> None:
    filled = int(round(progress * BAR_WIDTH))
    line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress * 100:5.1f}%  {status[:60]}"
    if tty:
        stream.write("\r" + line.ljust(110))
    else:
        stream.write(line + "\n")
    stream.flush()


def write_report(path: Path, books: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
    """One line per data row, in file order: imported, not matched (with the reason), or skipped."""
    rows: list[tuple[int, list[str]]] = []
    for book in books:
        matched = book.get("matched") or {}
        work = matched.get("work") or {}
        edition = matched.get("edition") or {}
        outcome = "imported" if matched else "not_matched"
        rows.append((book["row"], [str(book["row"]), outcome, book.get("title", ""), book.get("author", ""),
                                   book.get("isbn") or "", work.get("title", ""), edition.get("isbn") or "",
                                   book.get("enrichmentError") or book.get("isbnNote") or ""]))
    for error in errors:
        rows.append((error["row"], [str(error["row"]), "skipped", error.get("title", ""), "", "", "", "",
                                    error.get("error", "")]))
    rows.sort(key=lambda r: r[0])
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "outcome", "title", "author", "isbn", "matched_title", "matched_isbn", "reason"])
        writer.writerows(r for _, r in rows)


async def run_import(config: Config, path: Path, *, format: str = "auto", report: Path | None = None,
                     out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Import ``path``; 0 when the job completed, 1 when it failed."""
    from bookstrack.app import create_app

    data = await trio.Path(path).read_bytes()
    app = create_app(config)
    services = app.services
    services.resume_jobs = False
    tty = err.isatty()
    async with trio.open_nursery() as nursery:
        await nursery.start(services.run)
        try:
            assert services.jobs is not None
            job_id, _ = await start_import(services.jobs, services.blobs, data, filename=path.name, format=format)
            subscriber = services.jobs.subscriber()
            catchup = await services.jobs.subscribe(job_id, subscriber)
            events = list(catchup.events) if catchup is not None else []
            terminal: _Frame | None = None
            last_drawn = -1.0
            while terminal is None:
                event = events.pop(0) if events else await subscriber.receive.receive()
                frame = msgspec.json.decode(event.text, type=_Frame)
                if frame.type == "job_progress":
                    progress = float(frame.payload.get("progress", 0.0))
                    if tty or progress - last_drawn >= 0.1 or progress >= 1.0:
                        _bar(progress, str(frame.payload.get("status", "")), err, tty)
                        last_drawn = progress
                elif frame.type in ("job_complete", "error"):
                    terminal = frame
            if tty:
                err.write("\n")
            if terminal.type == "error":
                out.write(f"import failed: {terminal.payload.get('message')}\n")
                return 1
            results = await services.jobs.results(job_id)
            document = msgspec.json.decode(results.result or b"{}") if results is not None else {}
            books, errors = document.get("books", []), document.get("errors", [])
            report = report or path.with_name(path.name + ".report.csv")
            await trio.to_thread.run_sync(write_report, report, books, errors)
            out.write(
                f"{path.name}: {document.get('format')} export ({document.get('encoding')}), "
                f"{len(books) + len(errors)} rows\n"
                f"  imported (matched): {document.get('imported', 0)}\n"
                f"  not matched:        {document.get('notMatched', 0)}\n"
                f"  skipped:            {len(errors)}\n"
                f"  success rate:       {document.get('successRate')}\n"
                f"  job:                {job_id} (results at /v1/csv/results/{job_id} for"
                f" {config.jobs.retention / 3600:g} h)\n"
                f"  report:             {report}\n"
            )
            return 0
        finally:
            await services.stop()
