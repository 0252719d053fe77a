"""Transfers from the agent desktop, through the real service and the simulator over AMI/TCP:
the caller's card follows the call to the new agent, and the call record names who finished it."""

from __future__ import annotations

import asyncio

import pytest

from pbxsim import AgentProfile
from tests.conftest import add_user, api_login, test_settings
from tests.web.telephony import add_customer, agent_ready, ring
from tests.web.test_call_records import records, until
from tests.web.test_screen_pop import agent_tab, next_of
from web.app import create_app
from web.appkeys import pbx_key, simulator_key


@pytest.fixture
async def team(aiohttp_client, database_url, tmp_path, clock):
    """Ann (1001, in sales, answers) and Bob (1002, not in a queue, answers transfers), each in
    a browser of their own; a customer calling."""
    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", wrapup_seconds=0
    )
    ann = await aiohttp_client(create_app(settings, clock=clock))
    app = ann.app
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    sim = app[simulator_key].simulator
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=0.5, talk_time=60)
    sim.behaviour.agents["1002"] = AgentProfile(ring_delay=0.5, talk_time=60)
    ann_user = await add_user(app, "ann", "inbound_agent", extension="1001")
    bob_user = await add_user(app, "bob", "inbound_agent", extension="1002")
    customer = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(ann, "ann")
    ann_tab = await agent_tab(ann, "ann")
    bob = await aiohttp_client(ann.server)
    bob_token = await api_login(bob, "bob")
    bob_tab = await agent_tab(bob, "bob")
    await agent_ready(app, "1001")
    ring(app, "+15551234567")
    offered = await next_of(ann_tab, "call.offered")
    await next_of(ann_tab, "call.answered")
    return {
        "app": app,
        "ann": ann,
        "token": token,
        "ann_tab": ann_tab,
        "bob": bob,
        "bob_token": bob_token,
        "bob_tab": bob_tab,
        "call_id": offered["call_id"],
        "customer": customer,
        "ann_id": ann_user.id,
        "bob_id": bob_user.id,
    }


async def post(client, token, path, body=None):
    response = await client.post(path, headers={"X-CSRF-Token": token}, json=body)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_blind_transfer_pops_the_caller_on_the_new_agent(team):
    await post(
        team["ann"],
        team["token"],
        "/api/v1/calls/current/transfer",
        {"kind": "blind", "target": "1002"},
    )
    transferred = await next_of(team["ann_tab"], "call.transferred")
    assert transferred["call_id"] == team["call_id"] and transferred["kind"] == "blind"
    pop = await next_of(team["bob_tab"], "call.offered")
    assert pop["call_id"] == team["call_id"]
    assert pop["lookup"]["cards"][0]["id"] == team["customer"]
    await next_of(team["bob_tab"], "call.answered")
    await post(team["bob"], team["bob_token"], "/api/v1/calls/current/hangup")
    await next_of(team["bob_tab"], "call.ended")
    await until(lambda: _one_record(team["app"]))
    (record,) = await records(team["app"])
    assert record.linked_id == team["call_id"] and record.agent_user_id == team["bob_id"]
    assert record.customer_id == team["customer"]


async def test_an_attended_transfer_consults_then_completes(team):
    await post(
        team["ann"],
        team["token"],
        "/api/v1/calls/current/transfer",
        {"kind": "attended", "target": "1002"},
    )
    consult = await next_of(team["bob_tab"], "call.offered")
    assert consult["call_id"] == team["call_id"]
    await next_of(team["bob_tab"], "call.answered")
    await post(team["ann"], team["token"], "/api/v1/calls/current/transfer/complete")
    assert (await next_of(team["ann_tab"], "call.transferred"))["kind"] == "attended"
    await post(team["bob"], team["bob_token"], "/api/v1/calls/current/hangup")
    ended = await next_of(team["bob_tab"], "call.ended")
    assert ended["call_id"] == team["call_id"]
    await until(lambda: _one_record(team["app"]))
    assert (await records(team["app"]))[0].agent_user_id == team["bob_id"]


async def test_a_cancelled_consultation_leaves_the_first_agent_with_the_caller(team):
    await post(
        team["ann"],
        team["token"],
        "/api/v1/calls/current/transfer",
        {"kind": "attended", "target": "1002"},
    )
    await next_of(team["bob_tab"], "call.answered")
    await post(team["ann"], team["token"], "/api/v1/calls/current/transfer/cancel")
    withdrawn = await next_of(team["bob_tab"], "call.withdrawn")
    assert withdrawn["reason"] == "transfer_cancelled"
    bob_hangup = await team["bob"].post(
        "/api/v1/calls/current/hangup", headers={"X-CSRF-Token": team["bob_token"]}
    )
    assert bob_hangup.status == 409  # Bob is on no call any more
    await post(team["ann"], team["token"], "/api/v1/calls/current/hangup")
    assert (await next_of(team["ann_tab"], "call.ended"))["call_id"] == team["call_id"]
    await until(lambda: _one_record(team["app"]))
    assert (await records(team["app"]))[0].agent_user_id == team["ann_id"]


async def test_a_transfer_to_anything_but_digits_is_refused(team):
    for target in ("1002&Context=default", "s", "", "1" * 16):
        response = await team["ann"].post(
            "/api/v1/calls/current/transfer",
            headers={"X-CSRF-Token": team["token"]},
            json={"kind": "blind", "target": target},
        )
        assert response.status == 422, target


async def _one_record(app) -> bool:
    return len(await records(app)) == 1


async def test_buttons_without_a_consultation_refuse_and_the_customer_stays_on_the_line(team):
    app, ann, token = team["app"], team["ann"], team["token"]
    sim = app[simulator_key].simulator
    sent: list[str] = []
    sim.add_listener(
        lambda e: sent.append(e.name) if e.name in ("Hangup", "BlindTransfer") else None
    )
    for path in (
        "/api/v1/calls/current/transfer/complete",
        "/api/v1/calls/current/transfer/cancel",
    ):
        refused = await ann.post(path, headers={"X-CSRF-Token": token})
        assert refused.status == 409, await refused.text()
        assert "no consultation" in (await refused.json())["message"]
    for target in ("9999", "5999", "1001", ""):  # nobody, no queue, herself, nothing
        refused = await ann.post(
            "/api/v1/calls/current/transfer",
            headers={"X-CSRF-Token": token},
            json={"kind": "blind", "target": target},
        )
        assert refused.status == 422, (target, await refused.text())
    await asyncio.sleep(0.3)
    assert sent == []  # the PBX heard nothing: the customer is still talking to Ann
    assert app[pbx_key].runtime.board.call_of("PJSIP/1001").state == "talking"


async def test_the_transfer_list_names_colleagues_with_their_status_and_the_queues(team):
    listed = await (await team["ann"].get("/api/v1/calls/transfer-targets")).json()
    assert listed["agents"] == [{"extension": "1002", "name": "Bob", "status": "logged_out"}]
    assert listed["queues"] == [
        {"queue": "sales", "number": "5000"},
        {"queue": "support", "number": "5001"},
    ]
    await agent_ready(team["app"], "1002")
    await until(lambda: _bob_is(team, "ready"))


async def _bob_is(team, status: str) -> bool:
    listed = await (await team["ann"].get("/api/v1/calls/transfer-targets")).json()
    return listed["agents"][0]["status"] == status
