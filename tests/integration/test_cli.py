"""The ``bookstrack`` command: a bad configuration is one line on stderr and exit 2, never a trace; and a
real ``python -m bookstrack serve --port 0`` serves /health and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from bookstrack.cli import main
from bookstrack.store.migrations import MIGRATIONS
from tests.integration.conftest import assert_closed_cleanly

REPO = Path(__file__).resolve().parents[2]


def write_config(path: Path, body: str, tmp_path: Path) -> Path:
    storage = f'[storage]\npath = "{tmp_path / "db.sqlite3"}"\nblobs = "{tmp_path / "blobs"}"\n'
    path.write_text(body + "\n" + storage, encoding="utf-8")
    return path


BAD_CONFIGS = {
    "unknown-key": ("[server]\nprot = 8000\n", "prot"),
    "unknown-section": ("[sever]\nport = 8000\n", "sever"),
    "wrong-type": ('[server]\nport = "eighty"\n', "server.port"),
    "out-of-range": ("[rate_limit.classes.default]\nwindow = 0\n", "window"),
    "not-toml": ("[server\nport = 1\n", "not valid TOML"),
    "secret-in-file": ('[providers.gemini]\napi_key = "AIza-secret"\n', "providers.gemini.api_key"),
    "bad-proxy": ('[server]\ntrusted_proxies = ["10.0.0.0/8", "proxy.internal"]\n', "trusted_proxies"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
async def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path, capsys, case):
    body, named = BAD_CONFIGS[case]
    config = tmp_path / "bookstrack.toml"
    config.write_text(body, encoding="utf-8")
    assert main(["serve", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bookstrack: ")
    assert named in lines[0]
    assert "Traceback" not in err
    assert "AIza-secret" not in err


async def test_a_missing_config_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["serve", "--config", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope.toml" in err
    assert "does not exist" in err


def cli_env() -> dict[str, str]:
    """The test process's environment without BooksTrack settings or secrets (the config file decides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSTRACK_") and not k.endswith("_API_KEY")}
    return {**env, "PYTHONUNBUFFERED": "1"}


async def open_cli(*args: str, **kwargs) -> trio.Process:
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "bookstrack", *args], cwd=str(REPO), env=cli_env(), **kwargs
    )


async def run_cli(*args: str) -> subprocess.CompletedProcess:
    return await trio.run_process(
        [sys.executable, "-m", "bookstrack", *args],
        capture_stdout=True, capture_stderr=True, check=False, cwd=str(REPO), env=cli_env(),
    )


async def test_serve_runs_on_port_0_and_stops_cleanly_on_sigterm(tmp_path):
    config = write_config(tmp_path / "bookstrack.toml", '[log]\nformat = "json"\n', tmp_path)
    process = await open_cli("serve", "--config", str(config), "--port", "0", stderr=subprocess.PIPE)
    stderr = b""
    try:
        # wait for the bound address on stderr (a JSON log line from Hypercorn)
        while (match := re.search(rb"Running on (http://127\.0\.0\.1:\d+)", stderr)) is None:
            chunk = await process.stderr.receive_some(65536)
            assert chunk, stderr.decode(errors="replace")
            stderr += chunk
        url = match.group(1).decode()
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            health = await client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        async for chunk in process.stderr:
            stderr += chunk
        assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text
    # every line is one JSON object, Hypercorn's own messages included, each written once
    entries = [json.loads(line) for line in text.splitlines()]
    loggers = [entry["logger"] for entry in entries]
    assert "bookstrack.access" in loggers
    running = [entry for entry in entries if "Running on" in entry["message"]]
    assert len(running) == 1
    assert_closed_cleanly(tmp_path / "db.sqlite3")


async def test_a_database_from_a_newer_release_is_one_line_and_exit_2(tmp_path):
    database = tmp_path / "db.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA user_version = 99")
    config = write_config(tmp_path / "bookstrack.toml", '[log]\nlevel = "WARNING"\n', tmp_path)
    result = await run_cli("serve", "--config", str(config), "--port", "0")
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert err.splitlines() == [err.splitlines()[-1]], err
    assert "schema version 99" in err
    assert f"({MIGRATIONS[-1].version})" in err  # the newest schema this release knows
    assert "Traceback" not in err


async def test_an_address_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "bookstrack.toml", '[log]\nlevel = "WARNING"\n', tmp_path)
        result = await run_cli("serve", "--config", str(config), "--port", str(port))
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert err.splitlines() == [f"bookstrack: cannot listen on 127.0.0.1:{port}: Address already in use"], err
