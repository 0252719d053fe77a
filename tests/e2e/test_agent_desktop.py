"""An agent at the desktop in chromium: goes ready, the customer pops while the phone rings, the
agent hangs up, writes the disposition and notes, and finds them in the customer's history."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import expect

from pbxsim import CallerId
from pbxsim.scenarios import did_for
from tests.conftest import add_user, test_settings
from tests.e2e.test_login_in_browser import sign_in
from tests.web.telephony import add_customer
from web.app import create_app
from web.appkeys import pbx_key, simulator_key

pytestmark = pytest.mark.browser


@pytest.fixture
async def server(aiohttp_server, database_url, tmp_path, clock):
    settings = test_settings(database_url, tmp_path, pbx="simulator", simulator_scenario="")
    server = await aiohttp_server(create_app(settings, clock=clock))
    await asyncio.wait_for(server.app[pbx_key].runtime.link.wait_connected(), 10)
    return server


async def test_the_agent_goes_ready_and_sees_the_caller_before_answering(browser, server, base_url):
    app = server.app
    await add_user(app, "ann", "inbound_agent", extension="1001", display_name="Ann Agent")
    await add_customer(app, "<b>Acme</b> Ltd", "+1 555 123 4567")
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "ann")
    await page.click("header nav a:text('Agent desktop')")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")
    await page.click("#go-ready")
    await expect(page.locator("#state")).to_have_text("Ready")

    sim = app[simulator_key].simulator
    answered: list[float] = []
    sim.add_listener(
        lambda e: answered.append(time.monotonic()) if e.name == "AgentConnect" else None
    )
    sim.inbound_call(
        did_for(sim, "sales"), CallerId("+15551234567", "Test"), patience=60, queue="sales"
    )
    pop = page.locator(".pop")
    await expect(pop.locator(".pop-title")).to_have_text("<b>Acme</b> Ltd", timeout=5000)
    popped = time.monotonic()
    assert not answered or answered[0] > popped
    await expect(pop).to_have_attribute("data-state", "talking", timeout=10_000)
    await page.fill("#call-notes", "Asked about <i>delivery</i> 🙂")
    await page.click("#hang-up")
    await expect(page.locator("#wrap-up")).to_be_visible(timeout=5000)
    await expect(page.locator("#state")).to_have_text("Wrap-up", timeout=5000)
    await page.select_option("#disposition", "callback")
    await page.click("#wrap-up button[type=submit]")
    await expect(page.locator("#wrap-up")).to_be_hidden()
    await expect(page.locator("#state")).to_have_text("Ready", timeout=5000)

    await page.select_option("#pause-reason", "lunch")
    await page.click("#go-pause")
    await expect(page.locator("#state")).to_have_text("Paused: lunch")

    customer = await (await page.context.new_page()).goto(
        base_url + "/customers/" + await pop.get_attribute("data-customer-id")
    )
    history = await customer.text()
    assert "Asked about &lt;i&gt;delivery&lt;/i&gt; 🙂" in history and "callback" in history
