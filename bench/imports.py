"""The library-export parser benchmark: ``python -m bench.imports [--json]``.

Generates three realistic 10,000-row exports in memory (deterministic: a seeded ``random.Random``) — a
Goodreads CSV (``="…"`` ISBN cells, quoted titles with commas, multi-line reviews, some ISBNs that lost
their leading zeros or went scientific), a StoryGraph CSV (contributors with roles, fractional ratings,
UIDs) and a LibraryThing TSV in Windows-1252 — and times ``bookstrack.imports.parse_export`` on each
(decode, split, detect, read every row): best of 5 and median. Target: >= 20,000 rows/s, i.e. 10,000 rows
in < 0.5 s, per format. Pure CPU, single thread, no server.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bookstrack.books.isbn import isbn10_to_13
from bookstrack.imports import parse_export
from bookstrack.imports.formats import goodreads, librarything, storygraph

__all__ = ["run", "format_results", "summary_rows", "main"]

ROWS = 10_000
REPEATS = 5
TARGET_ROWS_PER_S = 20_000.0
SEED = 20_260_301

_WORDS = ("night", "garden", "river", "shadow", "empire", "winter", "glass", "secret", "city", "storm", "letters",
          "house", "silence", "fire", "ocean", "kingdom", "memory", "stranger", "mountain", "salt")
_FIRST = ("Ursula", "Toni", "Gabriel", "Jane", "Haruki", "Chinua", "Margaret", "Italo", "Zadie", "Kazuo", "José")
_LAST = ("Le Guin", "Morrison", "García Márquez", "Austen", "Murakami", "Achebe", "Atwood", "Calvino", "Smith",
         "Ishiguro", "Saramago")


def _isbn10(rng: random.Random) -> str:
    first9 = f"{rng.randrange(0, 2)}{rng.randrange(10**8):08d}"
    total = sum((10 - i) * int(d) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return first9 + ("X" if check == 10 else str(check))


def _title(rng: random.Random) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4))).title()
    return rng.choice([words, f"The {words}", f"{words}, and Other Stories", f'The "{words}" Affair'])


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(_FIRST), rng.choice(_LAST)


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2005, 2025)}/{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}"


def _write(header: list[str], rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


def goodreads_export(rows: int = ROWS, seed: int = SEED) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        first, last = _name(rng)
        isbn10 = _isbn10(rng)
        damage = rng.random()
        isbn_cell, isbn13_cell = f'="{isbn10}"', f'="{isbn10_to_13(isbn10)}"'
        if damage < 0.05:
            isbn_cell, isbn13_cell = isbn10.lstrip("0"), f"{int(isbn10_to_13(isbn10)) / 1e12:.5f}E+12"
        elif damage < 0.15:
            isbn_cell = isbn13_cell = '=""'
        shelf = rng.choice(("read", "read", "read", "to-read", "currently-reading"))
        review = "" if rng.random() < 0.8 else "Loved it.\nA second paragraph, with, commas."
        out.append([
            str(100000 + i), _title(rng), f"{first} {last}", f"{last}, {first}", "", isbn_cell, isbn13_cell,
            str(rng.randint(0, 5)), f"{rng.uniform(3, 4.8):.2f}", "Penguin Books", "Paperback",
            str(rng.randint(90, 900)), str(rng.randint(1950, 2024)), str(rng.randint(1800, 2024)),
            _date(rng) if shelf == "read" else "", _date(rng), "favorites, fiction" if rng.random() < 0.3 else "",
            "", shelf, review, "", "", "1", "0",
        ])
    return _write(goodreads.HEADER, out)


def storygraph_export(rows: int = ROWS, seed: int = SEED + 1) -> bytes:
    rng = random.Random(seed)
    out = []
    for _ in range(rows):
        first, last = _name(rng)
        uid = rng.random() < 0.1
        contributors = "Gregory Rabassa (Translator), Jane Roe (Illustrator)" if rng.random() < 0.2 else ""
        row = dict.fromkeys(storygraph.HEADER, "")
        row.update({
            "Title": _title(rng), "Authors": f"{first} {last}", "Contributors": contributors,
            "ISBN/UID": f"{rng.getrandbits(64):016x}" if uid else isbn10_to_13(_isbn10(rng)),
            "Format": "paperback", "Read Status": rng.choice(("read", "to-read", "currently-reading",
                                                               "did-not-finish", "paused")),
            "Date Added": _date(rng), "Last Date Read": _date(rng), "Read Count": "1",
            "Moods": "reflective, dark", "Pace": "medium", "Star Rating": rng.choice(("", "3.5", "4.0", "4.25", "5.0")),
            "Tags": "fiction", "Owned?": "No",
        })
        out.append([row[name] for name in storygraph.HEADER])
    return _write(storygraph.HEADER, out)


def librarything_export(rows: int = ROWS, seed: int = SEED + 2) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        first, last = _name(rng)
        isbn10 = _isbn10(rng)
        row = dict.fromkeys(librarything.HEADER, "")
        row.update({
            "Book Id": str(200000 + i), "Title": _title(rng) + rng.choice(("", " — Édition spéciale")),
            "Sort Character": "1", "Primary Author": f"{last}, {first}", "Primary Author Role": "Author",
            "Publication": f"Penguin ({rng.randint(1950, 2024)}), Paperback, 300 pages",
            "Date": str(rng.randint(1850, 2024)), "Rating": rng.choice(("", "3", "4.5", "5")), "Page Count": "300",
            "Date Read": f"{rng.randint(2005, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "Tags": "fiction, café", "Collections": rng.choice(("Your library", "To read", "Currently reading")),
            "ISBN": f"[{isbn10}]", "ISBNs": f"{isbn10_to_13(isbn10)}, {isbn10}", "Entry Date": "2020-01-01",
            "Work id": str(rng.randint(1, 10**6)),
        })
        out.append([row[name] for name in librarything.HEADER])
    return _write(librarything.HEADER, out, delimiter="\t", encoding="cp1252")


EXPORTS: dict[str, Callable[[int], bytes]] = {
    "goodreads": goodreads_export,
    "storygraph": storygraph_export,
    "librarything": librarything_export,
}


def _time(data: bytes, repeats: int) -> tuple[list[float], Any]:
    times, parsed = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        parsed = parse_export(data)
        times.append(time.perf_counter() - start)
    return times, parsed


def run(*, repeats: int = REPEATS, rows: int = ROWS) -> dict[str, Any]:
    results: dict[str, Any] = {
        "settings": {"rows": rows, "repeats": repeats, "python": platform.python_version(),
                     "target_rows_per_s": TARGET_ROWS_PER_S},
        "formats": {},
    }
    for name, make in EXPORTS.items():
        data = make(rows)
        times, parsed = _time(data, repeats)
        best, median = min(times), statistics.median(times)
        results["formats"][name] = {
            "bytes": len(data), "detected": parsed.format, "encoding": parsed.encoding,
            "rows": len(parsed.rows), "errors": len(parsed.errors), "total_rows": parsed.total_rows,
            "best_s": best, "median_s": median,
            "rows_per_s_best": parsed.total_rows / best, "rows_per_s_median": parsed.total_rows / median,
        }
    return results


def _mark(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict) per format: also for ``bench.report``. Judged on the median."""
    target = results["settings"]["target_rows_per_s"]
    return [
        (f"parse_export {name} {f['total_rows']} rows, rows/s (median)",
         f"{f['rows_per_s_median']:,.0f} ({f['median_s'] * 1000:.0f} ms)", f">= {target:,.0f}",
         _mark(f["rows_per_s_median"] >= target))
        for name, f in results["formats"].items()
    ]


def format_results(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [
        "Imports: deterministic export parsing",
        "-------------------------------------",
        f"{s['rows']} generated rows per format, best of {s['repeats']} and median; Python {s['python']}.",
        "",
    ]
    for name, f in results["formats"].items():
        lines.append(
            f"   {name:13} {f['bytes'] / 1e6:5.2f} MB {f['encoding']:7}  detected {f['detected']:12}"
            f" rows {f['rows']} errors {f['errors']}  best {f['best_s'] * 1000:6.1f} ms"
            f" ({f['rows_per_s_best']:,.0f} rows/s)  median {f['median_s'] * 1000:6.1f} ms"
            f" ({f['rows_per_s_median']:,.0f} rows/s)"
        )
    rows = summary_rows(results)
    width = max(len(r[0]) for r in rows)
    lines += ["", "   Targets"]
    lines += [f"   {name:<{width}}  {value:<24}{target:<12}{verdict}" for name, value, target, verdict in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = run(repeats=args.repeats)
    print(json.dumps(results, indent=2) if args.json else format_results(results))
    return 0 if all(r[3] == "OK" for r in summary_rows(results)) else 1


if __name__ == "__main__":
    sys.exit(main())
