"""A call that moves on without a transfer, through the real service and the simulator over
AMI/TCP: the caller Ann (1001) answered in sales is sent by an AMI Redirect to the support DID
and answered there by Bob (1002). Ann's part ends when the customer leaves her, with her own
wrap-up; the record keeps both queues and both agents."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from crm_core.models import CallLegRecord, Interaction
from cti.ami import actions
from pbxsim import AgentProfile
from tests.conftest import add_user, api_login, test_settings
from tests.support.waiting import until
from tests.web.telephony import add_customer, agent_ready, ring
from tests.web.test_call_records import records
from tests.web.test_screen_pop import agent_tab, next_of
from web.app import create_app
from web.appkeys import db_key, pbx_key, simulator_key


async def test_a_caller_redirected_to_support_ends_anns_part_and_bob_takes_it(
    aiohttp_client, database_url, tmp_path, clock
):
    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", wrapup_seconds=60
    )
    ann = await aiohttp_client(create_app(settings, clock=clock))
    app = ann.app
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    sim = app[simulator_key].simulator
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=0.5, talk_time=600)
    sim.behaviour.agents["1002"] = AgentProfile(ring_delay=0.5, talk_time=600)
    ann_user = await add_user(app, "ann", "inbound_agent", extension="1001")
    bob_user = await add_user(app, "bob", "inbound_agent", extension="1002")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    ann_token = await api_login(ann, "ann")
    ann_tab = await agent_tab(ann, "ann")
    bob = await aiohttp_client(ann.server)
    bob_token = await api_login(bob, "bob")
    bob_tab = await agent_tab(bob, "bob")
    await agent_ready(app, "1001", "sales")
    await agent_ready(app, "1002", "support")
    ring(app, "+15551234567")
    call_id = (await next_of(ann_tab, "call.offered"))["call_id"]
    await next_of(ann_tab, "call.answered")

    # Someone (a supervisor's tool, the dialplan) redirects the customer to the support DID.
    (caller,) = [c for c in sim.pbx.channels.values() if c.uniqueid == call_id]
    await app[pbx_key].runtime.link.send(
        actions.redirect(caller.name, context="transfer", exten="5001")
    )
    ended = await next_of(ann_tab, "call.ended")
    assert (ended["call_id"], ended["answered"]) == (call_id, True)
    assert (await next_of(ann_tab, "wrapup.started"))["call_id"] == call_id
    # Her buttons act on nothing any more: she is on no call.
    hangup = await ann.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": ann_token})
    assert hangup.status == 409

    pop = await next_of(bob_tab, "call.offered")
    assert (pop["call_id"], pop["queue"]) == (call_id, "support")
    assert pop["lookup"]["cards"][0]["id"] == acme
    await next_of(bob_tab, "call.answered")
    bob_hangup = await bob.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": bob_token})
    assert bob_hangup.status == 200, await bob_hangup.text()
    await next_of(bob_tab, "call.ended")

    await until(lambda: _legs_written(app, call_id))
    (record,) = await records(app)
    assert (record.agent_user_id, record.queue, record.customer_id) == (
        bob_user.id,
        "support",
        acme,
    )
    async with app[db_key]() as db:
        legs = (
            await db.scalars(
                select(CallLegRecord)
                .where(CallLegRecord.call_linked_id == call_id)
                .order_by(CallLegRecord.position)
            )
        ).all()
    assert [(leg.kind, leg.queue, leg.agent_user_id) for leg in legs] == [
        ("queue", "sales", None),
        ("agent", "sales", ann_user.id),
        ("queue", "support", None),
        ("agent", "support", bob_user.id),
    ]
    assert record.talk_seconds == sum(leg.talk_seconds for leg in legs)

    # Ann's desk still owes this call a wrap-up, about her part; hers takes the call's customer.
    waiting = await (await ann.get("/api/v1/calls/awaiting-wrap-up")).json()
    assert [(c["call_id"], c["queue"]) for c in waiting["calls"]] == [(call_id, "sales")]
    wrapped = await ann.post(
        f"/api/v1/calls/{call_id}/wrap-up",
        headers={"X-CSRF-Token": ann_token},
        json={"disposition": "callback", "notes": "sent on to support"},
    )
    assert wrapped.status == 201, await wrapped.text()
    assert (await wrapped.json())["customer_id"] == acme
    assert (await (await ann.get("/api/v1/calls/awaiting-wrap-up")).json())["calls"] == []
    async with app[db_key]() as db:
        notes = (
            await db.scalars(select(Interaction).where(Interaction.call_linked_id == call_id))
        ).all()
    assert [(n.user_id, n.customer_id) for n in notes] == [(ann_user.id, acme)]
    # Bob's part is his own: the record's disposition waits for his wrap-up.
    assert record.disposition is None


async def _legs_written(app, call_id: str) -> bool:
    async with app[db_key]() as db:
        found = await db.scalar(
            select(CallLegRecord.id).where(CallLegRecord.call_linked_id == call_id).limit(1)
        )
    return found is not None
