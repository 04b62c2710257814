"""``bookstrack fake-upstream``: it prints the base URLs to configure, serves them, stops cleanly on
SIGTERM, and refuses a non-loopback address unless asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from bookstrack.cli import main

REPO = Path(__file__).resolve().parents[2]


async def open_cli(*args: str, **kwargs) -> trio.Process:
    """``python -m bookstrack …`` without the test process's BooksTrack settings or secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSTRACK_") and not k.endswith("_API_KEY")}
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "bookstrack", *args], cwd=str(REPO), env={**env, "PYTHONUNBUFFERED": "1"}, **kwargs
    )


async def test_it_prints_the_base_urls_and_serves_them():
    process = await open_cli("fake-upstream", "--port", "0", "--latency-ms", "0", stdout=subprocess.PIPE)
    out = b""
    try:
        while out.count(b"\n") < 7:  # a comment line, four base URLs, two placeholder keys
            chunk = await process.stdout.receive_some(65536)
            assert chunk, out.decode(errors="replace")
            out += chunk
        lines = out.decode().splitlines()
        assert lines[0].startswith("# BooksTrack fake upstream on http://127.0.0.1:")
        env = dict(line.split("=", 1) for line in lines[1:])
        base = env["BOOKSTRACK_PROVIDERS__GOOGLE_BOOKS__BASE_URL"]
        assert base.startswith("http://127.0.0.1:")
        assert base.endswith("/google")
        assert env["BOOKSTRACK_PROVIDERS__OPENLIBRARY__BASE_URL"] == base.replace("/google", "/openlibrary")
        assert env["BOOKSTRACK_PROVIDERS__ISBNDB__BASE_URL"] == base.replace("/google", "/isbndb")
        assert env["BOOKSTRACK_PROVIDERS__WIKIDATA__BASE_URL"] == base.replace("/google", "/wikidata")
        assert env["BOOKSTRACK_ISBNDB_API_KEY"]
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{base}/books/v1/volumes", params={"q": "The Hobbit"})
        assert response.status_code == 200
        assert response.json()["totalItems"] >= 1
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_a_non_loopback_address_is_refused(host, capsys):
    assert main(["fake-upstream", "--host", host]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"bookstrack: refusing to listen on {host}: not a loopback address (add --allow-remote to allow it)"
    ]


def test_bad_fault_settings_are_refused(capsys):
    assert main(["fake-upstream", "--error-rate", "1.5"]) == 2
    assert "--error-rate" in capsys.readouterr().err
