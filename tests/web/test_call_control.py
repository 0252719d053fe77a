"""The agent's call controls and wrap-up, through the real service and the simulator over
AMI/TCP: click-to-call, hang up, disposition and notes landing on the customer's history and the
call record, the wrap-up pause and its bound, pause limits flagged to the supervisor."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm_core.models import CallRecord, Interaction
from pbxsim import AgentProfile
from tests.conftest import add_user, api_login, same_origin, test_settings, web_login
from tests.support.waiting import until
from tests.web.telephony import add_customer, agent_ready, ring
from tests.web.test_screen_pop import agent_tab, next_of
from web.app import create_app
from web.appkeys import db_key, pbx_key, simulator_key


@pytest.fixture
async def desk(aiohttp_client, database_url, tmp_path, clock):
    """The service with a short wrap-up bound and quick pause checks."""
    settings = test_settings(
        database_url,
        tmp_path,
        pbx="simulator",
        simulator_scenario="",
        wrapup_seconds=30,
        pause_check_seconds=0.05,
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    await asyncio.wait_for(client.app[pbx_key].runtime.link.wait_connected(), 10)
    return client


async def record_of(app, call_id: str) -> CallRecord | None:
    async with app[db_key]() as db:
        return await db.get(CallRecord, call_id)


def paused_reasons(app, interface: str) -> set[str]:
    snapshot = app[pbx_key].runtime.telephony.agents.agent(interface)
    return {q.paused_reason for q in snapshot.queues if q.paused} if snapshot else set()


async def answered_call(client, tab) -> str:
    await agent_ready(client.app, "1001")
    ring(client.app, "+15551234567", "Test Caller")
    offered = await next_of(tab, "call.offered")
    await next_of(tab, "call.answered")
    return offered["call_id"]


async def test_agent_1001_hangs_up_writes_a_disposition_and_it_shows_in_the_history(desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(desk, "ann")
    tab = await agent_tab(desk, "ann")
    call_id = await answered_call(desk, tab)

    hung = await desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    assert hung.status == 200, await hung.text()
    ended = await next_of(tab, "call.ended")
    assert ended["call_id"] == call_id and ended["answered"]
    assert (await next_of(tab, "wrapup.started"))["call_id"] == call_id
    await until(lambda: paused_reasons(app, "PJSIP/1001") == {"wrap-up"})
    await until(lambda: _async_record(app, call_id))

    notes = "Wants the <b>blue</b> one — العربية 🙂 " + "x" * 9000
    wrapped = await desk.post(
        f"/api/v1/calls/{call_id}/wrap-up",
        headers={"X-CSRF-Token": token},
        json={"disposition": "sale", "notes": notes},
    )
    assert wrapped.status == 201, await wrapped.text()
    await until(lambda: paused_reasons(app, "PJSIP/1001") == set())

    view = await (await desk.get(f"/api/v1/customers/{acme}")).json()
    assert view["history"][0]["disposition"] == "sale"
    assert view["history"][0]["notes"] == notes
    assert view["calls"][0]["call_id"] == call_id and view["calls"][0]["disposition"] == "sale"
    record = await record_of(app, call_id)
    assert record.disposition == "sale" and record.customer_id == acme
    assert record.wrapup_seconds is not None and record.wrapup_seconds >= 0
    page = await (await desk.get(f"/customers/{acme}")).text()
    assert "Wants the &lt;b&gt;blue&lt;/b&gt; one — العربية 🙂" in page and "<b>blue" not in page

    again = await desk.post(
        f"/api/v1/calls/{call_id}/wrap-up",
        headers={"X-CSRF-Token": token},
        json={"disposition": "sale"},
    )
    assert again.status == 409


async def test_a_wrap_up_with_a_made_up_disposition_changes_nothing(desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    token = await api_login(desk, "ann")
    for body in (
        {"disposition": "no-such-code"},
        {"disposition": "sale", "notes": "x" * 10_001},
        {"disposition": "sale", "customer_id": 999_999},
    ):
        response = await desk.post(
            "/api/v1/calls/some-call/wrap-up", headers={"X-CSRF-Token": token}, json=body
        )
        assert response.status in (404, 422), body
    async with app[db_key]() as db:
        assert (await db.scalars(select(Interaction))).all() == []


async def test_the_wrap_up_pause_ends_by_itself_at_its_bound(
    aiohttp_client, database_url, tmp_path, clock
):
    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", wrapup_seconds=0.5
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    await asyncio.wait_for(client.app[pbx_key].runtime.link.wait_connected(), 10)
    await add_user(client.app, "ann", "inbound_agent", extension="1001")
    token = await api_login(client, "ann")
    tab = await agent_tab(client, "ann")
    await answered_call(client, tab)
    await client.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    await next_of(tab, "wrapup.started")
    await until(lambda: paused_reasons(client.app, "PJSIP/1001") == {"wrap-up"})
    await until(lambda: paused_reasons(client.app, "PJSIP/1001") == set(), timeout=5)


async def test_agent_1001_in_wrap_up_is_offered_no_call_until_the_disposition(desk):
    """The next caller is already waiting when the call ends: the queue must not ring the
    agent between the end and the desk's wrap-up pause, nor during the wrap-up."""
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    token = await api_login(desk, "ann")
    tab = await agent_tab(desk, "ann")
    call_id = await answered_call(desk, tab)
    sim = app[simulator_key].simulator
    rung: list[str] = []
    sim.add_listener(
        lambda e: rung.append(e.get("Linkedid", "")) if e.name == "AgentCalled" else None
    )
    ring(app, "+15559876543", "Next Caller")  # waits in the queue: nobody else is in it
    await desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    assert (await next_of(tab, "wrapup.started"))["call_id"] == call_id
    await asyncio.sleep(1.0)
    assert rung == [], "a call was offered during the wrap-up"

    wrapped = await desk.post(
        f"/api/v1/calls/{call_id}/wrap-up",
        headers={"X-CSRF-Token": token},
        json={"disposition": "sale"},
    )
    assert wrapped.status == 201, await wrapped.text()
    offered = await next_of(tab, "call.offered", timeout=10)
    assert offered["call_id"] != call_id and offered["caller"]["number"] == "+15559876543"


async def test_click_to_call_rings_the_agent_first_then_the_customer_and_is_recorded(desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001", display_name="Ann Agent")
    acme = await add_customer(app, "Acme Ltd", "+1 555 777 0001")
    await add_customer(app, "Neighbour", "+1 555 777 0001")  # the card decides, not the number
    token = await api_login(desk, "ann")
    tab = await agent_tab(desk, "ann")
    sim = app[simulator_key].simulator
    originates = []
    sim.add_listener(lambda e: originates.append(e) if e.name == "OriginateResponse" else None)

    placed = await desk.post(
        "/api/v1/calls/dial",
        headers={"X-CSRF-Token": token},
        json={"number": "(555) 777-0001", "customer_id": acme},
    )
    assert placed.status == 202, await placed.text()
    body = await placed.json()
    assert body["number"] == "+15557770001" and body["card"]["name"] == "Acme Ltd"
    answered = await next_of(tab, "call.answered")
    assert answered["call_id"] == body["call_id"]
    assert answered["direction"] == "click_to_call"
    assert originates and originates[0].get("Channel", "").startswith("PJSIP/1001")
    busy = await desk.post(
        "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "+15557770002"}
    )
    assert busy.status == 409  # one call at a time

    await desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    await next_of(tab, "call.ended")
    await until(lambda: _async_record(app, body["call_id"]))
    record = await record_of(app, body["call_id"])
    assert record.direction == "click_to_call" and record.outcome == "answered"
    assert record.customer_id == acme and record.caller_e164 == "+15557770001"


async def test_a_click_to_call_can_be_hung_up_while_the_agents_phone_rings(desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    app[simulator_key].simulator.behaviour.agents["1001"] = AgentProfile(ring_delay=30.0)
    token = await api_login(desk, "ann")
    tab = await agent_tab(desk, "ann")
    placed = await desk.post(
        "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "+15557770001"}
    )
    call_id = (await placed.json())["call_id"]

    async def hung_up() -> bool:
        response = await desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
        return response.status == 200

    await until(hung_up, timeout=5)
    ended = await next_of(tab, "call.ended")
    assert ended["call_id"] == call_id and not ended["answered"]


async def test_click_to_call_refuses_garbage_and_calls_without_a_phone(aiohttp_client, desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await add_user(app, "nophone", "inbound_agent")
    token = await api_login(desk, "ann")
    bad = await desk.post(
        "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "<script>"}
    )
    assert bad.status == 422
    assert (
        await desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    ).status == 409  # no call
    other = await aiohttp_client(desk.server)
    token = await api_login(other, "nophone")
    assert (
        await other.post(
            "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "+15557770001"}
        )
    ).status == 409


async def test_a_customer_created_from_the_pop_is_linked_to_the_call(desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    token = await api_login(desk, "ann")
    tab = await agent_tab(desk, "ann")
    await agent_ready(app, "1001")
    ring(app, "+15559876543")
    pop = await next_of(tab, "call.offered")
    assert pop["lookup"]["kind"] == "new"
    await next_of(tab, "call.answered")
    await desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    await until(lambda: _async_record(app, pop["call_id"]))
    assert (await record_of(app, pop["call_id"])).customer_id is None

    made = await desk.post(
        "/api/v1/customers",
        headers={"X-CSRF-Token": token},
        json={
            "name": "New Caller Ltd",
            "numbers": [{"number": pop["lookup"]["number"]["e164"]}],
            "call_id": pop["call_id"],
        },
    )
    assert made.status == 201, await made.text()
    assert (await record_of(app, pop["call_id"])).customer_id == (await made.json())["id"]


async def test_the_new_customer_form_is_prefilled_and_saving_links_the_call(desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await web_login(desk, "ann")
    page = await (await desk.get("/customers/new?number=%2B15559876543&call_id=abc.1")).text()
    assert 'value="+15559876543"' in page and 'value="abc.1"' in page
    from tests.conftest import csrf_from

    saved = await desk.post(
        "/customers/new",
        data={
            "csrf_token": csrf_from(page),
            "name": "<script>alert(1)</script>",
            "number": "+15559876543",
            "call_id": "abc.1",
        },
        allow_redirects=False,
    )
    assert saved.status == 303, await saved.text()
    shown = await (await desk.get(saved.headers["Location"])).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>alert" not in shown
    refused = await desk.post(
        "/customers/new",
        data={"csrf_token": csrf_from(page), "name": "Someone", "number": "not a number"},
    )
    assert refused.status == 422


async def test_the_team_lead_is_told_when_a_break_outlasts_its_limit(aiohttp_client, desk, clock):
    app = desk.app
    await add_user(app, "lead", "team_lead")
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await web_login(desk, "lead")
    board = await desk.ws_connect("/ws", headers=same_origin(desk))
    agent = await aiohttp_client(desk.server)
    token = await api_login(agent, "ann")
    paused = await agent.post(
        "/api/v1/agent/state",
        headers={"X-CSRF-Token": token},
        json={"state": "paused", "reason": "break"},
    )  # 15 minutes
    assert paused.status == 200, await paused.text()
    row = (await next_of(board, "agent.state"))["agent"]
    while not row["paused_since"]:
        row = (await next_of(board, "agent.state"))["agent"]
    with pytest.raises(asyncio.TimeoutError):
        await next_of(board, "agent.pause_exceeded", timeout=0.3)
    clock.now += timedelta(minutes=16)
    flagged = await next_of(board, "agent.pause_exceeded", timeout=3)
    assert flagged["interface"] == "PJSIP/1001" and flagged["reason"] == "break"
    assert flagged["limit_seconds"] == 900

    reloaded = await desk.ws_connect("/ws", headers=same_origin(desk))  # the lead's page reloads
    row = (await next_of(reloaded, "agent.state"))["agent"]
    assert row["interface"] == "PJSIP/1001" and row["over_limit"] is True


async def _async_record(app, call_id: str) -> bool:
    return await record_of(app, call_id) is not None


async def test_during_a_click_to_call_the_agent_shows_calling_not_idle(desk):
    app = desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await agent_ready(app, "1001")
    token = await api_login(desk, "ann")
    tab = await agent_tab(desk, "ann")
    placed = await desk.post(
        "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "+15557770001"}
    )
    assert placed.status == 202, await placed.text()
    statuses: list[str] = []
    while True:
        message = await tab.receive_json(timeout=10)
        if message["type"] == "call.answered":
            break
        if message["type"] == "agent.state":
            statuses.append(message["agent"]["status"])
    assert "dialling" in statuses and "ready" not in statuses[statuses.index("dialling") :]
