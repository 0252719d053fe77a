"""Inbound screen pops through the real service and the simulator over AMI/TCP: the ringing
agent's browser shows the caller before the phone is answered, and nobody else's does."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from pbxsim import CallerId
from pbxsim.scenarios import did_for
from tests.conftest import add_user, same_origin, web_login
from tests.web.telephony import add_customer, agent_ready, ring
from web.appkeys import simulator_key


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
    assert repeat == {**pop, "again": True}  # the same pop, marked as sent again


@pytest.mark.parametrize(
    ("caller", "kind", "shown"),
    [
        ("anonymous", "anonymous", "anonymous"),
        ("<script>alert(1)</script>", "anonymous", "<script>alert(1)</script>"),
        ("001-555-123-4567", "customer", "001-555-123-4567"),
    ],
)
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


async def test_forged_websocket_messages_are_refused_and_logged(aiohttp_client, service):
    from aiohttp import WSMsgType
    from structlog.testing import capture_logs

    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    bob = await add_user(app, "bob", "inbound_agent", extension="1002")
    await web_login(service, "ann")
    ann_tab = await agent_tab(service, "ann")
    bob_browser = await aiohttp_client(service.server)
    await web_login(bob_browser, "bob")
    bob_tab = await agent_tab(bob_browser, "bob")

    with capture_logs() as logs:
        for forged in (
            {"type": "call.offered", "user_id": bob.id, "call_id": "x"},
            {"type": "agent.state", "user_id": bob.id},
            "not json",
            [1, 2],
        ):
            await ann_tab.send_str(forged if isinstance(forged, str) else json.dumps(forged))
            assert (await ann_tab.receive_json(timeout=3))["type"] == "error"
    assert sum(1 for entry in logs if entry["event"] == "ws.message_refused") == 4
    with pytest.raises(asyncio.TimeoutError):
        await bob_tab.receive_json(timeout=0.3)  # nothing reached the agent it named

    with capture_logs() as logs:
        await ann_tab.send_str("x" * (64 * 1024))
        closing = await ann_tab.receive(timeout=3)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ann_tab.close_code == 1009  # message too big
        await asyncio.sleep(0.1)
    assert any(entry["event"] == "ws.message_refused" for entry in logs)


async def test_ring_all_pops_every_ringing_agent_and_withdraws_the_others_on_answer(
    aiohttp_client, service
):
    from pbxsim import AgentProfile
    from pbxsim.queues import QueueSettings
    from web.appkeys import simulator_key

    app = service.app
    sim = app[simulator_key].simulator
    sim.queues.configure("sales", QueueSettings(strategy="ringall"))
    sim.behaviour.agents["1001"] = AgentProfile(answers=0.0)  # rings on, never picks up
    sim.behaviour.agents["1002"] = AgentProfile(ring_delay=1.0, talk_time=5.0)
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await add_user(app, "bob", "inbound_agent", extension="1002")
    await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    await web_login(service, "ann")
    ann = await agent_tab(service, "ann")
    bob_browser = await aiohttp_client(service.server)
    await web_login(bob_browser, "bob")
    bob = await agent_tab(bob_browser, "bob")
    await agent_ready(app, "1001")
    await agent_ready(app, "1002")
    ring(app, "+15551234567")

    ann_pop, bob_pop = await next_of(ann, "call.offered"), await next_of(bob, "call.offered")
    assert ann_pop["call_id"] == bob_pop["call_id"]
    assert ann_pop["lookup"]["cards"][0]["name"] == bob_pop["lookup"]["cards"][0]["name"]
    assert (await next_of(bob, "call.answered"))["call_id"] == bob_pop["call_id"]
    withdrawn = await next_of(ann, "call.withdrawn")
    assert withdrawn["device_channel"] == ann_pop["device_channel"]
    assert withdrawn["reason"] == "answered_elsewhere"


async def _customer_with_account(app, name: str, account: str, number: str) -> int:
    from crm_core.audit import SYSTEM
    from crm_core.customers import CustomerService
    from crm_core.schemas import CustomerCreate
    from web.appkeys import clock_key, db_key

    async with app[db_key]() as db:
        made = await CustomerService(db, clock=app[clock_key], region="US").create(
            CustomerCreate(name=name, account_number=account, numbers=[{"number": number}]),
            SYSTEM,
        )
        await db.commit()
        return made.id


async def test_the_account_keyed_in_at_the_ivr_decides_the_pop_over_the_caller_id(
    service, aiohttp_client
):
    """The simulator's IVR reads the digits as the shipped dialplan does (FILTER(0-9)): an
    account of digits pops its customer whatever number calls; one with letters cannot be
    keyed in, and the caller's number decides (here: nobody has it)."""
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    owner = await _customer_with_account(app, "Keyed Ltd", "204518", "+1 555 300 0001")
    await _customer_with_account(app, "Letters Ltd", "AB-7", "+1 555 300 0002")
    await web_login(service, "ann")
    tab = await agent_tab(service, "ann")
    await agent_ready(app, "1001")
    sim = app[simulator_key].simulator
    sim.inbound_call(
        did_for(sim, "sales"), CallerId("+15559990000", "Someone"), patience=30, keys="204518"
    )
    pop = await next_of(tab, "call.offered")
    assert pop["lookup"]["kind"] == "customer" and pop["lookup"]["matched_by"] == "account"
    assert pop["lookup"]["cards"][0]["id"] == owner
    await next_of(tab, "call.answered")  # Ann is busy: the next caller rings Bob

    await add_user(app, "bob", "inbound_agent", extension="1002")
    bob_client = await aiohttp_client(service.server)
    await web_login(bob_client, "bob")
    bob_tab = await agent_tab(bob_client, "bob")
    await agent_ready(app, "1002")
    sim.inbound_call(
        did_for(sim, "sales"), CallerId("+15559990001", "Other"), patience=30, keys="AB-7"
    )
    second = await next_of(bob_tab, "call.offered", timeout=15)
    assert second["lookup"]["kind"] == "new"  # "7" names no account; the number nobody


async def test_the_pop_shows_open_orders_only_to_an_agent_allowed_to_read_orders(
    aiohttp_client, database_url, tmp_path, clock
):
    """The card is cut to the permissions of the agent it pops to, and follows a change of
    the role's permissions without a restart."""
    from datetime import UTC, datetime

    from crm_core.models import Order
    from pbxsim import AgentProfile
    from tests.conftest import api_login, test_settings
    from tests.support.waiting import until
    from web.app import create_app
    from web.appkeys import db_key, pbx_key

    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", wrapup_seconds=0
    )
    service = await aiohttp_client(create_app(settings, clock=clock))
    app = service.app
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    app[simulator_key].simulator.behaviour.agents["1001"] = AgentProfile(
        ring_delay=0.5, talk_time=1.0
    )
    ann = await add_user(app, "ann", "inbound_agent", extension="1001")
    await add_user(app, "boss", "admin")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    async with app[db_key]() as db:
        db.add(
            Order(
                customer_id=acme, reference="SO-7", status="confirmed", placed_at=datetime.now(UTC)
            )
        )
        await db.commit()
    await web_login(service, "ann")
    tab = await agent_tab(service, "ann")
    await agent_ready(app, "1001")
    ring(app, "+15551234567")
    card = (await next_of(tab, "call.offered"))["lookup"]["cards"][0]
    assert [o["reference"] for o in card["open_orders"]] == ["SO-7"]
    await next_of(tab, "call.ended", timeout=30)

    admin = await aiohttp_client(service.server)
    token = await api_login(admin, "boss")
    roles = (await (await admin.get("/api/v1/roles")).json())["roles"]
    held = next(r["permissions"] for r in roles if r["name"] == "inbound_agent")
    response = await admin.put(
        "/api/v1/roles/inbound_agent/permissions",
        json={"permissions": [p for p in held if p != "orders.read"]},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 200
    directory = app[pbx_key].runtime.directory
    await until(lambda: "orders.read" not in directory.permissions_of(ann.id))
    ring(app, "+15551234567")
    card = (await next_of(tab, "call.offered", timeout=30))["lookup"]["cards"][0]
    assert card["id"] == acme and "open_orders" not in card
