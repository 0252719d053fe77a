"""An agent at the desktop in chromium: goes ready, the customer pops while the phone rings, the
agent hangs up, writes the disposition and notes, and finds them in the customer's history; a
reload mid-call brings the call back; a second call never takes over the first one's wrap-up;
the page says when its live connection is down. A caller redirected away ends the agent's part;
a service restart mid-call gives the desk its call back; a hidden tab pops while the phone
rings; a call that ended while the page was offline comes back as the wrap-up it owes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from crm_core.models import CallRecord
from cti.ami import actions
from pbxsim import AgentProfile, AmiUser, CallerId, serve
from pbxsim.scenarios import did_for
from tests.conftest import add_user, test_settings
from tests.cti.tcp_proxy import TcpProxy
from tests.e2e.conftest import ARGS, CHROMIUM
from tests.e2e.test_login_in_browser import sign_in
from tests.support.waiting import until
from tests.web.telephony import add_customer
from web.app import create_app
from web.appkeys import db_key, hub_key, pbx_key, simulator_key
from web.simulated_pbx import AMI_CLASSES

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
    await pop.locator(".pop-notes").fill("Asked about <i>delivery</i> 🙂")
    await page.click("#hang-up")
    form = pop.locator(".wrap-up")
    await expect(form).to_be_visible(timeout=5000)
    await expect(page.locator("#state")).to_have_text("Wrap-up", timeout=5000)
    await expect(form.locator(".disposition")).to_have_value("")  # never pre-selected
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".wrap-error")).to_have_text("Choose a disposition first.")
    await form.locator(".disposition").select_option("callback")
    await form.locator("button[type=submit]").click()
    await expect(form).to_be_hidden()
    await expect(page.locator("#state")).to_have_text("Ready", timeout=8000)

    await page.select_option("#pause-reason", "lunch")
    await page.click("#go-pause")
    await expect(page.locator("#state")).to_have_text("Paused: Lunch")  # the label, not the code

    customer = await (await page.context.new_page()).goto(base_url + "/customers/1")
    history = await customer.text()
    assert "Asked about &lt;i&gt;delivery&lt;/i&gt; 🙂" in history and "callback" in history


async def _ready_agent_page(browser, app, base_url, page=None):
    await add_user(app, "ann", "inbound_agent", extension="1001", display_name="Ann Agent")
    page = page or await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "ann")
    await page.goto(base_url + "/agent")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")
    await page.click("#go-ready")
    await expect(page.locator("#state")).to_have_text("Ready")
    return page


def _call_in(app, number: str, name: str) -> None:
    sim = app[simulator_key].simulator
    sim.inbound_call(did_for(sim, "sales"), CallerId(number, name), patience=60, queue="sales")


async def test_a_reload_in_talk_brings_back_the_call_its_controls_and_the_draft_notes(
    browser, server, base_url
):
    app = server.app
    await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    page = await _ready_agent_page(browser, app, base_url)
    _call_in(app, "+15551234567", "Test")
    card = page.locator(".pop")
    await expect(card).to_have_attribute("data-state", "talking", timeout=10_000)
    await card.locator(".pop-notes").fill("Wants the blue one")

    await page.reload()
    card = page.locator(".pop")
    await expect(card).to_have_count(1, timeout=5000)
    await expect(card).to_have_attribute("data-state", "talking")
    await expect(card.locator(".pop-title")).to_have_text("Acme Ltd")
    await expect(card.locator(".pop-notes")).to_have_value("Wants the blue one")
    await expect(page.locator("#state")).to_have_text("Talking")
    await expect(page.locator("#call-controls")).to_be_visible()
    await expect(page.locator("#transfer-complete")).to_be_hidden()  # no consultation
    await page.click("#hang-up")
    await expect(card.locator(".wrap-up")).to_be_visible(timeout=5000)

    await page.reload()  # the wrap-up it owes comes back too
    await expect(page.locator(".pop .wrap-up")).to_be_visible(timeout=5000)


async def test_a_second_call_during_a_wrap_up_gets_its_own_card_and_the_form_stays_bound(
    browser, aiohttp_server, database_url, tmp_path, clock
):
    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", wrapup_seconds=0.5
    )
    server = await aiohttp_server(create_app(settings, clock=clock))
    app = server.app
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    base_url = f"http://127.0.0.1:{server.port}"
    await add_customer(app, "First Customer", "+1 555 123 0001")
    await add_customer(app, "Second Customer", "+1 555 123 0002")
    page = await _ready_agent_page(browser, app, base_url)

    _call_in(app, "+15551230001", "One")
    first = page.locator(".pop", has_text="First Customer")
    await expect(first).to_have_attribute("data-state", "talking", timeout=10_000)
    await first.locator(".pop-notes").fill("notes of the first call")
    await page.click("#hang-up")
    await expect(first.locator(".wrap-up")).to_be_visible(timeout=5000)

    # The wrap-up's bound passes with the form still open; the next caller rings through.
    _call_in(app, "+15551230002", "Two")
    second = page.locator(".pop", has_text="Second Customer")
    await expect(second).to_have_attribute("data-state", "talking", timeout=15_000)
    await expect(page.locator("#calls .pop").first).to_have_text(re.compile("Second Customer"))
    await expect(first.locator(".wrap-up")).to_be_visible()
    await expect(first.locator(".disposition")).to_have_value("")
    await expect(first.locator(".pop-notes")).to_have_value("notes of the first call")
    await expect(second.locator(".wrap-up")).to_be_hidden()
    await expect(second.locator(".pop-notes")).to_have_value("")

    await first.locator(".disposition").select_option("sale")
    await first.locator(".wrap-up button[type=submit]").click()
    await expect(first.locator(".wrap-up")).to_be_hidden()
    first_id = await first.get_attribute("data-call-id")
    second_id = await second.get_attribute("data-call-id")

    async def first_wrapped() -> bool:
        async with app[db_key]() as db:
            records = {r.linked_id: r for r in (await db.scalars(select(CallRecord))).all()}
        return first_id in records and records[first_id].disposition == "sale"

    await until(first_wrapped)
    async with app[db_key]() as db:
        second_record = await db.get(CallRecord, second_id)
    assert second_record is None or second_record.disposition is None


async def test_the_page_says_when_its_live_connection_is_down(browser, server, base_url):
    app = server.app
    page = await _ready_agent_page(browser, app, base_url)
    banner = page.locator("#offline-banner")
    await expect(banner).to_be_hidden()
    down = True

    def server_away(ws) -> None:  # every reconnection fails while the server is "down"
        if down:
            ws.close()
        else:
            ws.connect_to_server()

    await page.route_web_socket("**/ws", server_away)
    await app[hub_key].close()
    await expect(banner).to_be_visible(timeout=5000)
    down = False
    await expect(banner).to_be_hidden(timeout=15_000)
    await expect(page.locator("#state")).to_have_text("Ready")


async def test_a_new_caller_saved_as_a_customer_shows_on_the_call_and_is_confirmed(
    browser, server, base_url
):
    app = server.app
    page = await _ready_agent_page(browser, app, base_url)
    _call_in(app, "+15552220001", "Unknown")
    card = page.locator(".pop")
    await expect(card.locator(".pop-title")).to_have_text("New caller", timeout=10_000)
    async with page.context.expect_page() as opened:
        await card.get_by_role("link", name=re.compile("New customer with")).click()
    form = await opened.value
    await form.fill("input[name=name]", "Fresh Customer")
    await form.click("#customer-form button[type=submit]")
    await expect(form.locator(".alert.notice")).to_have_text(re.compile("Customer saved."))
    await expect(card.locator(".pop-title")).to_have_text("Fresh Customer", timeout=5000)
    await page.reload()  # the call comes back with the customer, not as a new caller
    await expect(page.locator(".pop .pop-title")).to_have_text("Fresh Customer", timeout=5000)


async def test_a_caller_redirected_away_closes_the_agents_card_for_its_wrap_up(
    browser, server, base_url
):
    app = server.app
    sim = app[simulator_key].simulator
    # Ann would talk for ten minutes: only the redirect can end her part of the call.
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=0.5, talk_time=600)
    page = await _ready_agent_page(browser, app, base_url)
    _call_in(app, "+15551234567", "Test")
    card = page.locator(".pop")
    await expect(card).to_have_attribute("data-state", "talking", timeout=10_000)
    await expect(page.locator("#call-controls")).to_be_visible()
    call_id = await card.get_attribute("data-call-id")

    # Someone (a supervisor's tool, the dialplan) sends the customer to the support DID.
    (caller,) = [c for c in sim.pbx.channels.values() if c.uniqueid == call_id]
    await app[pbx_key].runtime.link.send(
        actions.redirect(caller.name, context="transfer", exten="5001")
    )
    await expect(card).to_have_attribute("data-state", "wrapup", timeout=10_000)
    await expect(card.locator(".wrap-up")).to_be_visible()
    await expect(page.locator("#call-controls")).to_be_hidden()
    await expect(page.locator("#state")).to_have_text("Wrap-up", timeout=5000)
    assert caller.name in sim.pbx.channels  # the customer is still there, waiting in support


def _messages_on_the_next_socket(page) -> list[dict]:
    """What the server says on the next websocket the page opens."""
    heard: list[dict] = []

    def opened(ws) -> None:
        page.remove_listener("websocket", opened)
        ws.on("framereceived", lambda frame: heard.append(json.loads(frame)))

    page.on("websocket", opened)
    return heard


def _said(heard: list[dict], kind: str, **fields) -> bool:
    for message in heard:
        if message.get("type") != kind:
            continue
        found = message.get("agent", message) if kind == "agent.state" else message
        if all(found.get(k) == v for k, v in fields.items()):
            return True
    return False


async def test_a_service_restart_mid_call_gives_the_desk_its_call_back(
    browser, aiohttp_server, database_url, tmp_path, clock
):
    # The PBX outlives the service: the simulator runs as a server of its own, as Asterisk does.
    user = AmiUser.create("callcentre", "restart-secret", read=AMI_CLASSES, write=AMI_CLASSES)
    pbx = await serve("127.0.0.1", 0, users=[user], mode="pjsip")
    try:
        pbx.behaviour.agents["1001"] = AgentProfile(ring_delay=0.5, talk_time=600)
        settings = test_settings(
            database_url, tmp_path, pbx="asterisk", ami_port=pbx.port, ami_secret="restart-secret"
        )
        server = await aiohttp_server(create_app(settings, clock=clock))
        await asyncio.wait_for(server.app[pbx_key].runtime.link.wait_connected(), 10)
        port = server.port
        base_url = f"http://127.0.0.1:{port}"
        await add_customer(server.app, "Acme Ltd", "+1 555 123 4567")
        page = await _ready_agent_page(browser, server.app, base_url)
        pbx.inbound_call(
            did_for(pbx, "sales"), CallerId("+15551234567", "Test"), patience=60, queue="sales"
        )
        card = page.locator(".pop")
        await expect(card).to_have_attribute("data-state", "talking", timeout=10_000)
        call_id = await card.get_attribute("data-call-id")

        await server.close()  # the service stops completely; the call goes on at the PBX
        await expect(page.locator("body")).to_have_attribute("data-live", "no", timeout=5000)
        # The page keeps its card while it is offline: what counts is what the new service says.
        heard = _messages_on_the_next_socket(page)
        again = await aiohttp_server(create_app(settings, clock=clock), port=port)
        await asyncio.wait_for(again.app[pbx_key].runtime.link.wait_connected(), 10)

        # The page reconnects by itself and gets its call back from the new service.
        await expect(page.locator("body")).to_have_attribute("data-live", "yes", timeout=15_000)
        await until(lambda: _said(heard, "call.current", call_id=call_id, state="talking"), 15)
        await until(lambda: _said(heard, "agent.state", status="talking"), 15)
        card = page.locator(".pop")
        await expect(card).to_have_count(1)
        await expect(card).to_have_attribute("data-call-id", call_id, timeout=10_000)
        await expect(card).to_have_attribute("data-state", "talking")
        await expect(page.locator("#state")).to_have_text("Talking")
        await expect(page.locator("#call-controls")).to_be_visible()

        await page.click("#hang-up")
        await expect(card).to_have_attribute("data-state", "wrapup", timeout=5000)
        await expect(card.locator(".wrap-up")).to_be_visible()
        await expect(page.locator("#call-controls")).to_be_hidden()
        await until(lambda: not [c for c in pbx.pbx.channels.values() if c.linkedid == call_id])
        await expect(page.locator("#call-error")).to_be_hidden()
    finally:
        await pbx.close()


@contextlib.asynccontextmanager
async def _chromium_with_real_tabs(browser, profile):
    """Chromium as people run it, where a tab behind another is hidden and its timers are
    throttled. Playwright's own launch keeps every page visible and unthrottled (its switches,
    its focus emulation), so this one is started here and attached to without those defaults."""
    chromium = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        *ARGS,
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        await until(lambda: port_file.exists() and port_file.read_text().strip(), timeout=20)
        port = port_file.read_text().split()[0]
        attached = await browser.browser_type.connect_over_cdp(
            f"http://127.0.0.1:{port}", no_defaults=True
        )
        yield attached.contexts[0]  # its tabs share one window, as a person's do
        await (await attached.new_browser_cdp_session()).send("Browser.close")
        await asyncio.wait_for(chromium.wait(), 10)
    finally:
        if chromium.returncode is None:
            chromium.kill()
            await chromium.wait()


async def test_a_background_tab_pops_as_fast_as_one_in_front(browser, server, base_url, tmp_path):
    app = server.app
    await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    async with _chromium_with_real_tabs(browser, tmp_path / "chromium") as tabs:
        desk = await _ready_agent_page(browser, app, base_url, page=tabs.pages[0])
        # Ann reads a customer's page in another tab, in front: the desk's tab is hidden.
        front = await tabs.new_page()
        await front.goto(base_url + "/customers/1")
        await front.bring_to_front()

        async def desk_hidden() -> bool:
            return await desk.evaluate("document.visibilityState") == "hidden"

        await until(desk_hidden, timeout=5)

        sim = app[simulator_key].simulator
        answered: list[float] = []
        sim.add_listener(
            lambda e: answered.append(time.monotonic()) if e.name == "AgentConnect" else None
        )
        _call_in(app, "+15551234567", "Test")
        card = desk.locator(".pop")
        await expect(card.locator(".pop-title")).to_have_text("Acme Ltd", timeout=5000)
        popped = time.monotonic()
        assert not answered or answered[0] > popped  # the phone still rang
        assert await desk_hidden()  # and nobody looked at the desk in between
        await expect(card).to_have_attribute("data-state", "talking", timeout=10_000)


async def test_a_call_that_ends_while_the_page_is_offline_comes_back_as_its_wrap_up(
    browser, server
):
    app = server.app
    sim = app[simulator_key].simulator
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=0.5, talk_time=600)
    # The browser reaches the service through a network path the test can cut.
    path = TcpProxy("127.0.0.1", server.port)
    base_url = f"http://127.0.0.1:{await path.start()}"
    nowhere = socket.socket()  # bound, never listening: connections to it are refused
    nowhere.bind(("127.0.0.1", 0))
    try:
        page = await _ready_agent_page(browser, app, base_url)
        _call_in(app, "+15551234567", "Test")
        card = page.locator(".pop")
        await expect(card).to_have_attribute("data-state", "talking", timeout=10_000)
        call_id = await card.get_attribute("data-call-id")

        path.upstream = nowhere.getsockname()  # nothing gets through, reconnections neither
        path.kill()
        await expect(page.locator("body")).to_have_attribute("data-live", "no", timeout=5000)
        (caller,) = [c for c in sim.pbx.channels.values() if c.uniqueid == call_id]
        sim.pbx.request_hangup(caller, 16)  # the customer hangs up: no call.ended reaches the page
        await until(lambda: not [c for c in sim.pbx.channels.values() if c.linkedid == call_id])

        path.upstream = ("127.0.0.1", server.port)
        await expect(page.locator("#state")).to_have_text("Wrap-up", timeout=15_000)
        await expect(card).to_have_attribute("data-state", "wrapup")
        await expect(card.locator(".wrap-up")).to_be_visible()
        await expect(page.locator("#call-controls")).to_be_hidden()
        await expect(page.locator("#call-status")).not_to_have_text(re.compile("Talking"))
    finally:
        await path.close()
        nowhere.close()
