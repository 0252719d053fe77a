"""Browser tests: the real app on a loopback port, driven by Playwright in Debian's chromium.
Playwright never downloads a browser here; it is pointed at /usr/bin/chromium."""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.async_api import async_playwright

from web.app import create_app

CHROMIUM = os.environ.get("CALLCENTRE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


@pytest.fixture
async def browser():
    if not shutil.which(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} not found: apt-get install chromium (see README.md)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def server(aiohttp_server, settings, clock):
    return await aiohttp_server(create_app(settings, clock=clock))


@pytest.fixture
def base_url(server) -> str:
    return f"http://127.0.0.1:{server.port}"
