"""Inbound screen pops through the real service and the simulator over AMI/TCP: the ringing
agent's browser shows the caller before the phone is answered, and nobody else's does."""

from __future__ import annotations

import asyncio
import time

import pytest

from crm_core.audit import SYSTEM
from crm_core.customers import CustomerService
from crm_core.schemas import CustomerCreate
from cti.ami import actions
from cti.simulator import CallerId
from cti.simulator.scenarios import did_for
from tests.conftest import add_user, same_origin, test_settings, web_login
from web.app import create_app
from web.appkeys import clock_key, db_key, link_key, simulator_key


@pytest.fixture
async def service(aiohttp_client, database_url, tmp_path, clock):
    settings = test_settings(database_url, tmp_path, pbx="simulator", simulator_scenario="")
    app = create_app(settings, clock=clock)
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[link_key].wait_connected(), 10)
    return client


async def add_customer(app, name: str, *numbers: str) -> int:
    async with app[db_key]() as db:
        made = await CustomerService(db, clock=app[clock_key], region="US").create(
            CustomerCreate(name=name, numbers=[{"number": n} for n in numbers]), SYSTEM)
        await db.commit()
        return made.id


async def agent_ready(app, extension: str) -> None:
    await app[link_key].send(actions.queue_add("sales", f"PJSIP/{extension}",
                                               member_name=f"Agent {extension}",
                                               state_interface=f"PJSIP/{extension}"))


def ring(app, number: str, name: str = "") -> list[tuple[str, float]]:
    """A caller dials the sales DID; returns the simulator's record of agent answers."""
    sim = app[simulator_key].simulator
    answers: list[tuple[str, float]] = []
    sim.add_listener(lambda e: answers.append((e.get("Linkedid"), time.monotonic()))
                     if e.name == "AgentConnect" else None)
    sim.inbound_call(did_for(sim, "sales"), CallerId(number, name), patience=60, queue="sales")
    return answers


async def next_of(ws, kind: str, timeout: float = 8.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        message = await ws.receive_json(timeout=max(left, 0.01))
        if message.get("type") == kind:
            return message


async def agent_tab(client, username: str):
    ws = await client.ws_connect("/ws", headers=same_origin(client))
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    return ws


async def test_agent_1001_sees_the_customer_while_the_phone_still_rings(service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    acme = await add_customer(app, "Acme Ltd", "(555) 123-4567")
    await web_login(service, "ann")
    tab = await agent_tab(service, "ann")
    await agent_ready(app, "1001")
    answers = ring(app, "+15551234567", "Test Caller")

    pop = await next_of(tab, "call.offered")
    popped_at = time.monotonic()
    assert answers == []  # the phone is still ringing
    assert pop["lookup"]["kind"] == "customer"
    assert pop["lookup"]["cards"][0]["id"] == acme
    assert pop["lookup"]["cards"][0]["name"] == "Acme Ltd"
    assert pop["caller"] == {"number": "+15551234567", "name": "Test Caller", "withheld": False}
    assert pop["queue"] == "sales"
    answered = await next_of(tab, "call.answered")
    assert answered["call_id"] == pop["call_id"]
    assert answers and answers[0][1] > popped_at


async def test_a_second_tab_also_pops_and_other_users_get_nothing(aiohttp_client, service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await add_user(app, "bob", "inbound_agent", extension="1002")
    await add_user(app, "lead", "team_lead", extension="1003")
    await web_login(service, "ann")
    first, second = await agent_tab(service, "ann"), await agent_tab(service, "ann")
    others = []
    for name in ("bob", "lead"):
        browser = await aiohttp_client(service.server)
        await web_login(browser, name)
        others.append(await agent_tab(browser, name))
    await agent_ready(app, "1001")
    ring(app, "5551234567")
    one = await next_of(first, "call.offered")
    two = await next_of(second, "call.offered")
    assert one == two and one["lookup"]["kind"] == "new"
    assert one["lookup"]["number"]["e164"] == "+15551234567"
    await asyncio.sleep(0.5)
    for ws in others:
        with pytest.raises(asyncio.TimeoutError):
            await next_of(ws, "call.offered", timeout=0.2)


async def test_a_browser_that_reconnects_while_the_phone_rings_pops_again(service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await web_login(service, "ann")
    tab = await agent_tab(service, "ann")
    await agent_ready(app, "1001")
    answers = ring(app, "+15551234567")
    pop = await next_of(tab, "call.offered")
    await tab.close()
    again = await agent_tab(service, "ann")
    repeat = await next_of(again, "call.offered", timeout=2)
    assert answers == []
    assert repeat == pop


@pytest.mark.parametrize(("caller", "kind", "shown"), [
    ("anonymous", "anonymous", "anonymous"),
    ("<script>alert(1)</script>", "anonymous", "<script>alert(1)</script>"),
    ("001-555-123-4567", "customer", "001-555-123-4567"),
])
async def test_caller_id_forms_decide_the_card(service, caller, kind, shown):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    await web_login(service, "ann")
    tab = await agent_tab(service, "ann")
    await agent_ready(app, "1001")
    ring(app, caller)
    pop = await next_of(tab, "call.offered")
    assert pop["lookup"]["kind"] == kind
    assert pop["lookup"]["number"]["raw"] == shown
