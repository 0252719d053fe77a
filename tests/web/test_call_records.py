"""Every call lands in the CRM as a record keyed by Linkedid, answered or not; writes are
idempotent, and while the database is away call ends wait in a durable outbox."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from crm_core.models import CallRecord
from desk.outbox import Outbox
from pbxsim import AgentProfile, CallerId
from pbxsim.behaviour import RandomCustomers
from pbxsim.scenarios import did_for
from tests.conftest import _admin_sql, add_user, api_login
from tests.support.waiting import until
from tests.web.telephony import add_customer, agent_ready
from web.appkeys import db_key, pbx_key, simulator_key


async def records(app) -> list[CallRecord]:
    async with app[db_key]() as db:
        return list((await db.scalars(select(CallRecord).order_by(CallRecord.ended_at))).all())


async def test_an_answered_and_an_abandoned_call_become_records(service):
    app = service.app
    ann = await add_user(app, "ann", "inbound_agent", extension="1001")
    acme = await add_customer(app, "Acme", "+1 555 123 4567")
    sim = app[simulator_key].simulator
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=1.0, talk_time=2.0)
    await agent_ready(app, "1001")
    sim.inbound_call(
        did_for(sim, "sales"), CallerId("5551234567", "Acme caller"), patience=60, queue="sales"
    )
    await until(lambda: _count(app, 1))
    sim.inbound_call(
        did_for(sim, "support"), CallerId("+442012345678", ""), patience=1, queue="support"
    )
    await until(lambda: _count(app, 2))
    answered, abandoned = await records(app)
    assert (answered.outcome, answered.direction, answered.queue) == (
        "answered",
        "inbound",
        "sales",
    )
    assert answered.agent_user_id == ann.id and answered.customer_id == acme
    assert answered.caller_e164 == "+15551234567" and answered.caller_raw == "5551234567"
    assert answered.talk_seconds == pytest.approx(2.0, abs=0.6)
    assert answered.callback_needed is False
    assert (abandoned.outcome, abandoned.queue, abandoned.callback_needed) == (
        "abandoned",
        "support",
        True,
    )
    assert abandoned.answered_at is None and abandoned.customer_id is None


async def _count(app, n: int) -> bool:
    return len(await records(app)) >= n


async def test_a_call_end_written_twice_is_one_record(service):
    app = service.app
    recorder = app[pbx_key].runtime.recorder
    item = {
        "linked_id": "99.1",
        "direction": "inbound",
        "outcome": "abandoned",
        "caller_number": "5551234567",
        "customer_number": "5551234567",
        "queue": "sales",
        "agent_interface": "",
        "agent_extension": "",
        "offered_at": 1.0e9,
        "answered_at": None,
        "ended_at": 1.0e9 + 5,
        "wait_seconds": 5.0,
        "talk_seconds": 0.0,
        "hangup_cause": 16,
    }
    await recorder.write([item])
    await recorder.write([item, item])  # again, and twice in one batch
    assert [r.linked_id for r in await records(app)] == ["99.1"]


async def test_the_outbox_keeps_items_on_disk_until_they_are_written(tmp_path):
    outbox = Outbox(tmp_path / "o.jsonl", limit=3)
    written: list[dict] = []

    async def broken(items):
        raise ConnectionError("database away")

    async def working(items):
        written.extend(items)

    for n in range(4):
        await outbox.put({"linked_id": str(n)})
    assert await outbox.drain(broken) == 0
    again = Outbox(tmp_path / "o.jsonl", limit=3)  # a restart finds them
    assert [i["linked_id"] for i in again.pending()] == ["0", "1", "2"]  # the 4th was refused
    assert await again.drain(working) == 3
    assert again.pending() == [] and not (tmp_path / "o.jsonl").exists()


async def test_the_outbox_writes_in_batches_and_keeps_a_failed_batch(tmp_path):
    outbox = Outbox(tmp_path / "o.jsonl", batch=2)
    batches: list[list[str]] = []

    async def second_batch_fails(items):
        if batches:
            raise ConnectionError("database away")
        batches.append([i["linked_id"] for i in items])

    for n in range(5):
        await outbox.put({"linked_id": str(n)})
    assert await outbox.drain(second_batch_fails) == 2
    assert batches == [["0", "1"]]
    assert [i["linked_id"] for i in outbox.pending()] == ["2", "3", "4"]


async def test_an_item_put_while_the_outbox_drains_is_not_lost(tmp_path):
    outbox = Outbox(tmp_path / "o.jsonl")
    await outbox.put({"linked_id": "first"})

    async def slow_then_put(items):
        await outbox.put({"linked_id": "arrived meanwhile"})
        await asyncio.sleep(0)

    assert await outbox.drain(slow_then_put) == 1
    assert outbox.pending() == [{"linked_id": "arrived meanwhile"}]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_call_ends_wait_while_postgresql_is_away_and_land_when_it_returns(
    service, database_url, pg
):
    app = service.app
    name = database_url.rsplit("/", 1)[1]
    await _admin_sql(
        pg,
        f"ALTER DATABASE {name} ALLOW_CONNECTIONS false",
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
    )
    sim = app[simulator_key].simulator
    for n in range(3):
        sim.inbound_call(
            did_for(sim, "support"), CallerId(f"555000{n:04d}", ""), patience=1, queue="support"
        )
    outbox = app[pbx_key].runtime.recorder.outbox
    for _ in range(100):
        if len(outbox.pending()) == 3:
            break
        await asyncio.sleep(0.1)
    assert len(outbox.pending()) == 3  # nothing lost, nothing written yet
    await _admin_sql(pg, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    await until(lambda: _count(app, 3))
    assert {r.outcome for r in await records(app)} == {"abandoned"}
    assert outbox.pending() == []


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL's outage: the test above
async def test_a_locked_sqlite_database_delays_the_record_and_never_the_pop(service, database_url):
    """SQLite's hiccup is a lock held by another process (a backup, a long import): writes
    wait, the pop's reads go on (WAL), and the record is written once the lock is gone."""
    import sqlite3

    from tests.conftest import same_origin, web_login
    from tests.web.test_screen_pop import next_of

    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    acme = await add_customer(app, "Acme", "+1 555 123 4567")
    await web_login(service, "ann")
    tab = await service.ws_connect("/ws", headers=same_origin(service))
    sim = app[simulator_key].simulator
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=1.0, talk_time=1.0)
    await agent_ready(app, "1001")

    locker = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        sim.inbound_call(
            did_for(sim, "sales"), CallerId("+15551234567", ""), patience=60, queue="sales"
        )
        pop = await next_of(tab, "call.offered")
        assert pop["lookup"]["cards"][0]["id"] == acme
        await next_of(tab, "call.ended")
        await asyncio.sleep(1.0)
        assert len(await asyncio.to_thread(_records_now, database_url)) == 0
    finally:
        locker.rollback()
        locker.close()
    await until(lambda: _count(app, 1))
    assert (await records(app))[0].linked_id == pop["call_id"]


def _records_now(database_url: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(database_url.split("///", 1)[1]) as db:
        return db.execute("SELECT linked_id FROM call_records").fetchall()


@pytest.mark.parametrize(("outcome", "cause"), [("busy", 17), ("congestion", 34)])
async def test_a_click_to_call_the_customer_refuses_keeps_the_customers_cause(
    service, outcome, cause
):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    sim = app[simulator_key].simulator
    weights = {"answer": 0.0, "busy": 0.0, "no_answer": 0.0, "machine": 0.0, "congestion": 0.0}
    sim.behaviour.customers = RandomCustomers(**{**weights, outcome: 1.0})
    token = await api_login(service, "ann")
    placed = await service.post(
        "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "+15557770001"}
    )
    assert placed.status == 202, await placed.text()
    call_id = (await placed.json())["call_id"]

    async def written() -> bool:
        async with app[db_key]() as db:
            return await db.get(CallRecord, call_id) is not None

    await until(written, timeout=15)
    async with app[db_key]() as db:
        record = await db.get(CallRecord, call_id)
    assert (record.outcome, record.hangup_cause) == (outcome, cause)
