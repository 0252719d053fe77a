"""The campaign driver through the real link: the service, its built-in PBX simulator over AMI,
and a campaign's list worked by the pacing, with the compliance checks made before each dial
and every outcome back on the list."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from crm_core.audit import SYSTEM
from crm_core.models import CallListEntry, CallRecord, DialAttempt, DoNotCall
from dialer import campaigns
from pbxsim import AgentProfile, RandomCustomers
from tests.support.waiting import until
from tests.web.campaigns import (
    NEW_YORK,
    START,
    TOKYO,
    attempts,
    call_records,
    entries,
    make_campaign,
    settled,
    start,
)
from tests.web.telephony import agent_ready
from web.appkeys import db_key, pbx_key, simulator_key


async def test_a_predictive_campaign_works_its_list_through_the_pbx(dialling):
    app = dialling.app
    for extension in ("1001", "1002"):
        await agent_ready(app, extension, "outbound")
    campaign_id = await make_campaign(app, NEW_YORK)
    await start(app, campaign_id)

    await until(lambda: settled(app, campaign_id), timeout=90)

    dials = await attempts(app, campaign_id)
    listed = await entries(app, campaign_id)
    assert {e.state for e in listed} <= {"done", "failed"}
    # Every dial has its evidence, and an outcome the PBX gave it.
    assert all(json.loads(d.checks)["dnc"] == "not listed" for d in dials)
    assert all("America/New_York" in json.loads(d.checks)["local_time"] for d in dials)
    outcomes = {d.outcome for d in dials}
    assert "answered" in outcomes and outcomes <= {"answered", "busy", "machine", "abandoned"}
    # Each entry was dialled once: as many times as its attempts say, and no more.
    for entry in listed:
        assert [d.entry_id for d in dials].count(entry.id) == entry.attempts == 1
    # The calls are in the CRM as outbound call records, answered ones with their agent.
    await until(lambda: call_records(app, [d.call_id for d in dials]))
    records = await call_records(app, [d.call_id for d in dials])
    answered = [d for d in dials if d.outcome == "answered"]
    assert all(records[d.call_id].direction == "outbound" for d in answered)
    assert all(records[d.call_id].agent_interface.startswith("PJSIP/100") for d in answered)
    machines = [d for d in dials if d.outcome == "machine"]
    assert all(records[d.call_id].outcome == "machine" for d in machines)
    # The live state the team lead sees counts the same calls.
    state = app[pbx_key].dialer.engines[campaign_id].state()
    assert state["dialled"] == len(dials)
    assert state["connected"] == len(answered)


async def test_no_dial_to_a_number_put_on_do_not_call_a_moment_before(dialling):
    app = dialling.app
    await agent_ready(app, "1001", "outbound")
    campaign_id = await make_campaign(app, NEW_YORK[:3])
    async with app[db_key]() as db:
        db.add(DoNotCall(number_e164=NEW_YORK[1], source="manual", added_at=START))
        await db.commit()
    await start(app, campaign_id)

    await until(lambda: settled(app, campaign_id), timeout=60)

    dialled = {d.number_e164 for d in await attempts(app, campaign_id)}
    assert NEW_YORK[1] not in dialled and NEW_YORK[0] in dialled
    state = {e.number_e164: e.state for e in await entries(app, campaign_id)}
    assert state[NEW_YORK[1]] == "dnc"


async def test_a_number_whose_local_time_is_night_waits_for_its_morning(dialling):
    app = dialling.app
    await agent_ready(app, "1001", "outbound")
    campaign_id = await make_campaign(app, [NEW_YORK[0], TOKYO])
    await start(app, campaign_id)

    await until(lambda: tokyo_waits(app, campaign_id), timeout=60)

    dialled = {d.number_e164 for d in await attempts(app, campaign_id)}
    assert dialled == {NEW_YORK[0]}  # midnight in Tokyo, 10:00 in New York
    tokyo = next(e for e in await entries(app, campaign_id) if e.number_e164 == TOKYO)
    assert tokyo.state == "pending" and tokyo.attempts == 0
    # 09:00 Thursday in Tokyo is 00:00 UTC.
    assert tokyo.next_attempt_at == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


async def tokyo_waits(app, campaign_id: int) -> bool:
    rows = await entries(app, campaign_id)
    new_york_done = all(
        e.state not in ("pending", "dialling") for e in rows if e.number_e164 != TOKYO
    )
    return new_york_done and any(e.number_e164 == TOKYO and e.next_attempt_at for e in rows)


async def test_a_paused_campaign_places_no_new_call(dialling):
    app = dialling.app
    campaign_id = await make_campaign(app, NEW_YORK[:4])  # no agent: nothing may be dialled
    await start(app, campaign_id)
    await asyncio.sleep(2.5)
    assert await attempts(app, campaign_id) == []
    async with app[db_key]() as db:
        await campaigns.change_status(db, campaign_id, "pause", SYSTEM, START)
        await db.commit()
    await agent_ready(app, "1001", "outbound")
    await asyncio.sleep(2.5)
    async with app[db_key]() as db:
        count = await db.scalar(select(func.count()).select_from(DialAttempt))
    assert count == 0


async def test_a_new_driver_settles_the_dial_its_predecessor_left_and_does_not_redial_it(dialling):
    app = dialling.app
    await agent_ready(app, "1001", "outbound")
    campaign_id = await make_campaign(app, NEW_YORK[:2], max_attempts=3)
    # The driver before claimed the first number and died; the call ended busy meanwhile (its
    # record written from the outbox), and nobody told the list.
    async with app[db_key]() as db:
        first = await db.scalar(
            select(CallListEntry).where(CallListEntry.number_e164 == NEW_YORK[0])
        )
        first.state, first.attempts, first.fence = "dialling", 1, 1
        db.add(
            DialAttempt(
                campaign_id=campaign_id,
                entry_id=first.id,
                number_e164=NEW_YORK[0],
                call_id="cc-before-the-failover",
                dialled_at=START,
                fence=1,
            )
        )
        db.add(
            CallRecord(
                linked_id="cc-before-the-failover",
                direction="outbound",
                outcome="busy",
                ended_at=START,
                recorded_at=START,
            )
        )
        await db.commit()
    await start(app, campaign_id)

    await until(lambda: settled_except(app, campaign_id, NEW_YORK[0]), timeout=60)

    dials = [d for d in await attempts(app, campaign_id) if d.number_e164 == NEW_YORK[0]]
    assert [(d.call_id, d.outcome) for d in dials] == [("cc-before-the-failover", "busy")]
    entry = next(e for e in await entries(app, campaign_id) if e.number_e164 == NEW_YORK[0])
    assert (entry.state, entry.attempts, entry.last_outcome) == ("pending", 1, "busy")
    assert entry.next_attempt_at > START  # the busy retry, 10 minutes on


async def settled_except(app, campaign_id: int, number: str) -> bool:
    rows = await entries(app, campaign_id)
    first = next(e for e in rows if e.number_e164 == number)
    # The others dialled once and over (a retry may be pending later on).
    others = all(e.attempts >= 1 and e.state != "dialling" for e in rows if e is not first)
    return others and first.state == "pending"


async def test_a_customer_no_agent_could_take_hears_the_campaigns_message(dialling):
    app = dialling.app
    sim = app[simulator_key].simulator
    sim.behaviour.customers = RandomCustomers(
        answer=1.0, busy=0, no_answer=0, machine=0, ring=(0.5, 0.8), talk=(30.0, 40.0)
    )
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=8.0, talk_time=1.0)  # too slow
    played: list[str] = []
    sim.add_listener(
        lambda event: (
            played.append(dict(event.headers)["AppData"])
            if event.name == "Newexten" and dict(event.headers)["Application"] == "Playback"
            else None
        )
    )
    await agent_ready(app, "1001", "outbound")
    campaign_id = await make_campaign(
        app, NEW_YORK[:1], mode="progressive", abandon_message="custom/sorry-acme"
    )
    await start(app, campaign_id)

    await until(lambda: settled(app, campaign_id), timeout=30)
    (dial,) = await attempts(app, campaign_id)
    assert dial.outcome == "abandoned"  # answered, and no agent within 2 s
    assert played == ["custom/sorry-acme"]
