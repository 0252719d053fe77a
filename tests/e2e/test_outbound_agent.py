"""An outbound agent in chromium: joins a preview campaign, sees the next customer with the
reason and the script, dials, talks, books a callback at a time; then joins a predictive
campaign and a customer who answered pops with the campaign's script while the phone rings."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from crm_core.models import CallListEntry
from pbxsim import AgentProfile
from pbxsim.behaviour import RandomCustomers
from tests.conftest import add_user, test_settings
from tests.e2e.test_login_in_browser import sign_in
from tests.support.waiting import until
from tests.web.campaigns import NEW_YORK, START, RunningClock, make_campaign, start
from tests.web.telephony import add_customer
from web.app import create_app
from web.appkeys import db_key, pbx_key, simulator_key

pytestmark = pytest.mark.browser
SCRIPT = "Hello {name}, about {reason}."


@pytest.fixture
async def server(aiohttp_server, database_url, tmp_path):
    settings = test_settings(database_url, tmp_path, pbx="simulator", simulator_scenario="")
    server = await aiohttp_server(create_app(settings, clock=RunningClock(START)))
    await asyncio.wait_for(server.app[pbx_key].runtime.link.wait_connected(), 10)
    sim = server.app[simulator_key].simulator
    sim.behaviour.customers = RandomCustomers(
        answer=1.0, busy=0, no_answer=0, machine=0, ring=(1.0, 1.5), talk=(60.0, 60.0)
    )
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=0.5, talk_time=300.0)
    return server


async def entry_of(app, number: str) -> CallListEntry:
    async with app[db_key]() as db:
        return await db.scalar(select(CallListEntry).where(CallListEntry.number_e164 == number))


async def test_an_outbound_agent_previews_dials_and_books_a_callback(browser, server, base_url):
    app = server.app
    await add_user(app, "ann", "outbound_agent", extension="1001", display_name="Ann Agent")
    await add_customer(app, "Acme Ltd", NEW_YORK[0])
    campaign_id = await make_campaign(app, NEW_YORK[:1], mode="preview", script=SCRIPT)
    await start(app, campaign_id)
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "ann")
    await page.goto(base_url + "/agent")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")

    await expect(page.locator("#campaign-choice option")).to_have_text(["Spring promo · preview"])
    await page.click("#campaign-join")
    entry = page.locator("#preview-entry")
    await expect(entry).to_contain_text(NEW_YORK[0])
    await expect(entry.locator(".script")).to_have_text("Hello {name}, about spring offer.")
    await page.reload()  # the entry is still mine after a reload
    await page.click("#campaign-join")
    await expect(page.locator("#preview-entry")).to_contain_text(NEW_YORK[0])

    await page.click("#preview-dial")
    pop = page.locator(".pop")
    await expect(pop.locator(".campaign-part h3")).to_have_text("Campaign: Spring promo")
    await expect(pop).to_have_attribute("data-state", "talking", timeout=15_000)
    await page.click("#hang-up")
    form = pop.locator(".wrap-up")
    await expect(form).to_be_visible(timeout=5000)
    await form.locator(".disposition").select_option("callback")
    await expect(form.locator(".callback-fields")).to_be_visible()
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".wrap-error")).to_have_text("Say when to call back.")
    when = (START + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    await form.locator(".callback-at").fill(when)
    await form.locator("button[type=submit]").click()
    await expect(form).to_be_hidden()

    booked = await entry_of(app, NEW_YORK[0])
    assert booked.state == "pending" and booked.last_outcome == "callback"
    assert booked.owner_user_id is not None and booked.next_attempt_at > START
    # Nothing else is due: the desk says so rather than showing an old entry.
    await expect(page.locator("#preview-entry")).to_have_text("No entry is due now.")


async def test_a_predictive_customer_pops_with_the_script_while_the_phone_rings(
    browser, server, base_url
):
    app = server.app
    await add_user(app, "ann", "outbound_agent", extension="1001", display_name="Ann Agent")
    await add_customer(app, "Acme Ltd", NEW_YORK[0])
    campaign_id = await make_campaign(app, NEW_YORK[:1], script=SCRIPT)
    await start(app, campaign_id)
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "ann")
    await page.goto(base_url + "/agent")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")
    await expect(page.locator("#campaign-choice option")).to_have_text(
        ["Spring promo · predictive"]
    )
    await page.click("#campaign-join")
    await expect(page.locator("#state")).to_have_text("Ready")

    pop = page.locator(".pop")
    await expect(pop.locator(".pop-title")).to_have_text("Acme Ltd", timeout=20_000)
    await expect(pop.locator(".campaign-part .script")).to_have_text(
        "Hello {name}, about spring offer."
    )
    await expect(pop).to_have_attribute("data-state", "talking", timeout=10_000)
    await page.click("#hang-up")
    form = pop.locator(".wrap-up")
    await form.locator(".disposition").select_option("not_interested")
    await form.locator("button[type=submit]").click()
    await expect(form).to_be_hidden()
    await until(lambda: _done(app))


async def _done(app) -> bool:
    entry = await entry_of(app, NEW_YORK[0])
    return entry.state == "done" and entry.last_outcome == "not_interested"
