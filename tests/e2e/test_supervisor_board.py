"""The team lead's live board in chromium: agents by name, statuses in words, mm:ss clocks,
a break over its limit still flagged after a reload."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from tests.conftest import add_user, test_settings
from tests.e2e.test_login_in_browser import sign_in
from web.app import create_app
from web.appkeys import pbx_key

pytestmark = pytest.mark.browser


async def test_the_lead_sees_names_and_words_and_the_flag_survives_a_reload(
    browser, aiohttp_server, database_url, tmp_path, clock
):
    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", pause_check_seconds=0.05
    )
    server = await aiohttp_server(create_app(settings, clock=clock))
    await asyncio.wait_for(server.app[pbx_key].runtime.link.wait_connected(), 10)
    base_url = f"http://127.0.0.1:{server.port}"
    await add_user(server.app, "lead", "team_lead", display_name="Lea Lead")
    await add_user(server.app, "ann", "inbound_agent", extension="1001", display_name="Ann Agent")

    agent = await (await browser.new_context()).new_page()
    await sign_in(agent, base_url, "ann")
    await agent.goto(base_url + "/agent")
    await expect(agent.locator("body")).to_have_attribute("data-live", "yes")
    await agent.select_option("#pause-reason", "break")
    await agent.click("#go-pause")
    await expect(agent.locator("#state")).to_have_text("Paused: Break")

    lead = await (await browser.new_context()).new_page()
    await sign_in(lead, base_url, "lead")
    await lead.goto(base_url + "/supervisor")
    row = lead.locator("#agents tbody tr")
    await expect(row).to_have_count(1, timeout=5000)
    await expect(row.locator("td").nth(0)).to_have_text("Ann Agent")
    await expect(row.locator("td").nth(1)).to_have_text("Paused: Break")
    await expect(row.locator("td").nth(2)).to_have_text(re.compile(r"^\d\d:\d\d$"))
    await expect(lead.locator("#agents")).not_to_contain_text("PJSIP")

    clock.now += timedelta(minutes=16)  # the break allows 15
    await expect(row).to_have_attribute("data-over-limit", "yes", timeout=5000)
    await lead.reload()
    row = lead.locator("#agents tbody tr")
    await expect(row).to_have_attribute("data-over-limit", "yes", timeout=5000)
    await expect(row.locator("td").nth(1)).to_have_text("Paused: Break (over its limit)")
