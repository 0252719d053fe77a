"""Agents whose phone is a Local channel member (agent_interface = Local/{extension}@agents/n,
as sites with a dialplan in front of their phones configure it), through the real service and
the simulator over AMI/TCP: a click-to-call connects and the desk's hang-up ends it at the PBX.

The settings offer no separate state interface (a ``hint:`` one): the desk adds members with
the member interface as their state interface, so only that case exists to test."""

from __future__ import annotations

import asyncio

import pytest

from pbxsim import AgentProfile
from tests.conftest import add_user, api_login, test_settings
from tests.support.waiting import until
from tests.web.test_screen_pop import agent_tab, next_of
from web.app import create_app
from web.appkeys import pbx_key, simulator_key

LOCAL_MEMBER = "Local/{extension}@agents/n"


@pytest.fixture
async def local_desk(aiohttp_client, database_url, tmp_path, clock):
    settings = test_settings(
        database_url,
        tmp_path,
        pbx="simulator",
        simulator_scenario="",
        agent_interface=LOCAL_MEMBER,
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    await asyncio.wait_for(client.app[pbx_key].runtime.link.wait_connected(), 10)
    # Ann and the customer would talk for ten minutes: only the hang-up can end this call.
    sim = client.app[simulator_key].simulator
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=0.2, talk_time=600)
    return client


def channels_of(app, call_id: str) -> list[str]:
    sim = app[simulator_key].simulator
    return [c.name for c in sim.pbx.channels.values() if c.linkedid == call_id]


def member_interfaces(app) -> set[str]:
    sim = app[simulator_key].simulator
    return {m.interface for q in sim.queues.queues.values() for m in q.members.values()}


@pytest.mark.parametrize("in_a_queue", [False, True], ids=["logged-out", "ready"])
async def test_a_local_member_agent_hangs_up_a_click_to_call_from_the_desk(local_desk, in_a_queue):
    app = local_desk.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    token = await api_login(local_desk, "ann")
    tab = await agent_tab(local_desk, "ann")
    if in_a_queue:
        ready = await local_desk.post(
            "/api/v1/agent/state", headers={"X-CSRF-Token": token}, json={"state": "ready"}
        )
        assert ready.status == 200, await ready.text()
        await until(lambda: member_interfaces(app) == {"Local/1001@agents/n"}, timeout=5)

    placed = await local_desk.post(
        "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "+15557770001"}
    )
    assert placed.status == 202, await placed.text()
    call_id = (await placed.json())["call_id"]
    answered = await next_of(tab, "call.answered", timeout=10)
    assert answered["call_id"] == call_id
    # Ann's phone is a Local channel pair here, connected to the customer through the trunk.
    channels = channels_of(app, call_id)
    assert any(name.startswith("Local/1001@agents-") for name in channels), channels
    assert any(name.startswith("PJSIP/trunk-main-") for name in channels), channels

    hung = await local_desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    assert hung.status == 200, await hung.text()
    assert (await hung.json())["call_id"] == call_id
    ended = await next_of(tab, "call.ended")
    assert (ended["call_id"], ended["answered"]) == (call_id, True)
    await until(lambda: channels_of(app, call_id) == [], timeout=5)  # gone at the PBX too
    again = await local_desk.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    assert again.status == 409  # no call left to hang up
