"""A team lead in chromium: creates a campaign, meets a field error and fixes it, uploads a small
list (one row refused, with its report), starts the campaign and watches the live panel move as
the dialer works the list through the built-in PBX simulator."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from pbxsim import AgentProfile
from pbxsim.behaviour import RandomCustomers
from tests.conftest import add_user, test_settings
from tests.e2e.test_accessibility import UNNAMED
from tests.e2e.test_login_in_browser import sign_in
from tests.web.campaigns import START, RunningClock
from tests.web.telephony import agent_ready
from web.app import create_app
from web.appkeys import pbx_key, simulator_key

pytestmark = pytest.mark.browser

LIST = (
    "phone,name,reason\n"
    "(212) 736-1000,Ann Lee,spring offer\n"
    "+1 212 736 1001,Bob Ray,spring offer\n"
    "not a number,Nobody,\n"
)


async def test_a_lead_creates_fixes_uploads_starts_and_watches_a_campaign(
    browser, aiohttp_server, database_url, tmp_path
):
    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", wrapup_seconds=0
    )
    server = await aiohttp_server(create_app(settings, clock=RunningClock(START)))
    app = server.app
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    sim = app[simulator_key].simulator
    sim.behaviour.customers = RandomCustomers(
        answer=1.0, busy=0.0, no_answer=0.0, machine=0.0, ring=(0.5, 1.0), talk=(30.0, 40.0)
    )
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=0.3, talk_time=1.0)
    base_url = f"http://127.0.0.1:{server.port}"
    await add_user(app, "lea", "team_lead", display_name="Lea Lead")

    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "lea")
    await page.click("header nav a:text('Campaigns')")
    await expect(page.locator("h1")).to_have_text("Campaigns")

    # A cap above the legal 3 % is refused beside its field; the rest of the input stays.
    form = page.locator("#campaign-form")
    await form.locator("input[name=name]").fill("Spring promo")
    await form.locator("select[name=mode]").select_option("predictive")
    await form.locator("input[name=caller_id]").fill("+1 212 555 0100")
    await form.locator("input[name=abandon_cap]").fill("5")
    await form.locator("input[name=fallback_timezone]").fill("America/New_York")
    await form.locator("button[type=submit]").click()
    error = page.locator('#campaign-form .field-error[data-field="abandon_cap"]')
    await expect(error).to_contain_text("at most 3%")
    await expect(page.locator("#campaign-form input[name=name]")).to_have_value("Spring promo")
    await page.locator("#campaign-form input[name=abandon_cap]").fill("3")
    await page.locator("#campaign-form button[type=submit]").click()
    await expect(page.locator("#saved")).to_have_text("The campaign is created, as a draft.")
    await expect(page.locator("#campaign-status")).to_have_text("draft")

    # The list: two numbers taken, one row refused with its reason in the report.
    await page.set_input_files(
        "#list-file", {"name": "spring.csv", "mimeType": "text/csv", "buffer": LIST.encode()}
    )
    await page.click("#list-upload button[type=submit]")
    result = page.locator("#list-upload-result")
    await expect(result).to_contain_text("2 entries added")
    await expect(result).to_contain_text("1 row refused")
    await expect(page.locator("#list-upload-report")).to_have_attribute(
        "href", re.compile(r"^/api/v1/imports/\d+/report$")
    )
    await expect(page.locator('#list-summary td[data-state="pending"]')).to_have_text("2")

    # Started with an agent in the queue: the panel shows the dialer's work as it happens.
    await agent_ready(app, "1001", "outbound")
    await page.click("#campaign-start")
    await expect(page.locator("#saved")).to_have_text("The campaign is running.")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")
    await expect(page.locator("#live")).to_have_attribute("data-live", "yes", timeout=10_000)
    await expect(page.locator("#live-dialled")).not_to_have_text("0", timeout=20_000)
    await expect(page.locator("#live-why")).not_to_have_text("—")
    await expect(page.locator("#live-windows tbody tr")).to_have_count(2)
    await expect(page.locator("#live-windows tbody tr").first).to_contain_text("within the cap")
    await expect(page.locator("#live-agents tbody tr")).to_have_count(1, timeout=10_000)
    await expect(page.locator("#live-agents")).to_contain_text("Agent 1001")
    await expect(page.locator("#live-connected")).to_have_text(
        re.compile(r"^[12]$"), timeout=30_000
    )
    await expect(page.locator("#live-remaining")).to_have_text("0", timeout=30_000)

    # The what-if: these settings against progressive, on the usual figures (too few calls).
    await page.locator("#what-if-form input[name=agents]").fill("10")
    await page.locator("#what-if-form input[name=minutes]").fill("10")
    await page.click("#what-if-form button[type=submit]")
    table = page.locator("#what-if-table")
    await expect(table).to_contain_text("Talk minutes per agent-hour", timeout=30_000)
    await expect(page.locator("#what-if-result")).to_contain_text("usual figures assumed")
    await page.locator("#what-if-form input[name=abandon_cap]").fill("100")
    await page.click("#what-if-form button[type=submit]")
    await expect(page.locator("#what-if-result")).to_contain_text("3%")

    # Every control on the lead's pages has a name a screen reader can say.
    assert await page.evaluate(UNNAMED) == []
    for path in ("/campaigns", "/dnc"):
        await page.goto(base_url + path)
        assert await page.evaluate(UNNAMED) == []
