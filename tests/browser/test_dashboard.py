"""The admin dashboard in headless Chromium: sign in with the admin token, read the key figures from the
rendered DOM (filled in by the page's own JS), check they match the server's figures, save a screenshot.

WebDriver is spoken directly (W3C WebDriver over HTTP with httpx) to Debian's chromedriver: no extra
dependency. See the package docstring for when these tests run.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.integration.conftest import running_server

if os.environ.get("BOOKSTRACK_BROWSER_TESTS") != "1":
    pytest.skip("browser tests run in their own step: `make browser-test`", allow_module_level=True)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("chromium and chromedriver are not installed "
                "(`apt-get install -y chromium chromium-driver`, as `make browser-test` does)", allow_module_level=True)

ARTIFACTS = Path(__file__).parent / "artifacts"
TOKEN = "browser-test-admin-token"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element reference key
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1100",
]
DEADLINE = 90.0
WAIT = 15.0  # for one element to appear


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    """One WebDriver session: just the commands the test needs."""

    def __init__(self, client: httpx.AsyncClient, session: str) -> None:
        self.client = client
        self.base = f"/session/{session}"

    async def command(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.client.request(method, self.base + path, json=body)
        value = response.json()["value"]
        if response.status_code != 200:
            raise AssertionError(f"WebDriver {method} {path}: {value}")
        return value

    async def go(self, url: str) -> None:
        await self.command("POST", "/url", {"url": url})

    async def find(self, css: str) -> str | None:
        found = await self.command("POST", "/elements", {"using": "css selector", "value": css})
        return found[0][ELEMENT] if found else None

    async def wait_for(self, css: str) -> str:
        """The element, once the page has it (polling: the page changes outside this process)."""
        with trio.fail_after(WAIT):
            while True:
                element = await self.find(css)
                if element is not None:
                    return element
                await trio.sleep(0.1)

    async def text(self, css: str) -> str:
        return str(await self.command("GET", f"/element/{await self.wait_for(css)}/text"))

    async def type(self, css: str, text: str) -> None:
        await self.command("POST", f"/element/{await self.wait_for(css)}/value", {"text": text})

    async def click(self, css: str) -> None:
        await self.command("POST", f"/element/{await self.wait_for(css)}/click", {})

    async def screenshot(self, path: Path) -> Path:
        png = base64.b64decode(await self.command("GET", "/screenshot"))
        await trio.Path(path.parent).mkdir(parents=True, exist_ok=True)
        await trio.Path(path).write_bytes(png)
        return path


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Browser]:
    port = _free_port()
    driver = subprocess.Popen(  # noqa: ASYNC220 - a background process, never waited on here
        [CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            with trio.fail_after(15):
                while True:
                    try:
                        if (await client.get("/status")).json()["value"]["ready"]:
                            break
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.1)
            options = {"binary": CHROMIUM, "args": [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]}
            created = await client.post("/session", json={
                "capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
            })
            assert created.status_code == 200, created.text
            session = created.json()["value"]["sessionId"]
            try:
                yield Browser(client, session)
            finally:
                with trio.CancelScope(shield=True):
                    await client.delete(f"/session/{session}")
    finally:
        driver.terminate()
        try:
            await trio.to_thread.run_sync(driver.wait, 10)
        except subprocess.TimeoutExpired:
            driver.kill()


async def test_the_dashboard_signs_in_and_shows_the_figures(tmp_path: Path) -> None:
    with trio.fail_after(DEADLINE):
        async with running_server(tmp_path, env={"BOOKSTRACK_ADMIN_TOKEN": TOKEN}) as server:
            cache = server.app.services.cache

            async def load() -> str:
                return "cover"

            for _ in range(4):  # one miss, three memory hits: 75.0% combined
                await cache.get_or_load("browser:test", load, type=str, ttl=60.0, negative_ttl=60.0)
            async with server.client() as client:
                for _ in range(3):
                    await client.get("/health")

            async with chromium(tmp_path / "profile") as browser:
                await browser.go(server.url + "/admin/harvest-dashboard")
                await browser.wait_for("form#login")  # not signed in: the form
                await browser.type("#token", TOKEN)
                await browser.click("#sign-in")
                await browser.wait_for('[data-figure="cache-combined"]')

                assert await browser.text('[data-figure="cache-combined"]') == "75.0%"
                assert await browser.text('[data-figure="cache-edge"]') == "75.0%"
                assert await browser.text('[data-figure="cache-api"]') == "25.0%"
                assert await browser.text('[data-figure="cache-answers"]') == "4"
                assert await browser.text('[data-figure="database"]') == "ok"
                assert await browser.text('[data-figure="health-status"]') in ("healthy", "degraded")
                requests = int((await browser.text('[data-figure="http-requests"]')).replace(",", ""))
                assert requests >= 4  # three /health, the sign-in (and the page itself)
                assert "ok" in await browser.text('[data-provider="openlibrary"]')
                assert "unconfigured" in await browser.text('[data-provider="isbndb"]')
                queues = await browser.text("#queues")
                assert queues  # a table of queues, or the sentence saying there is none
                if server.app.services.queues is not None:
                    assert re.search(r"\d", queues)
                scheduler = await browser.text("#scheduler")
                assert scheduler  # the task table, or the sentence saying there is none
                if server.app.services.scheduler is not None:
                    assert "archival" in scheduler
                assert await browser.text("#jobs")
                assert not await browser.text("#stale")  # no refresh failure shown

                shot = await browser.screenshot(ARTIFACTS / "dashboard.png")
                print(f"dashboard screenshot: {shot}")
                assert shot.stat().st_size > 10_000
