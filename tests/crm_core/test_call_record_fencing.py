"""Call records carry the fencing token of the PBX driver that wrote them: a record from a
driver that had lost its lease gives way to its successor's, never the other way round."""

from __future__ import annotations

from dataclasses import replace

from crm_core.audit import Actor
from crm_core.call_records import record_call
from crm_core.interactions import WrapUp, wrap_up
from crm_core.models import CallRecord
from tests.conftest import add_user
from tests.support.calls import ended
from web.appkeys import clock_key, db_key


async def write(app, call) -> bool:
    async with app[db_key]() as db:
        written = await record_call(db, call, region="US", now=app[clock_key]())
        await db.commit()
        return written


async def stored(app, linked_id: str) -> CallRecord:
    async with app[db_key]() as db:
        return await db.get(CallRecord, linked_id)


async def test_the_successors_record_replaces_the_deposed_drivers_and_not_back(app, client):
    ann = await add_user(app, "ann", "inbound_agent", extension="1001")
    now = app[clock_key]().timestamp()
    # The deposed driver (token 4) ended the call from stale state; the successor (token 5)
    # saw it answered and ended later.
    stale = replace(
        ended("1700000000.9", "1001", now - 20),
        outcome="unknown",
        fence=4,
        answered_at=None,
        talk_seconds=0,
    )
    assert await write(app, stale)
    async with app[db_key]() as db:  # the agent already wrapped up on the stale record
        await wrap_up(
            db,
            WrapUp(stale.linked_id, "sale", "", None),
            Actor(user_id=ann.id, name="ann"),
            now=app[clock_key](),
        )
        await db.commit()
    true_end = replace(ended("1700000000.9", "1001", now), fence=5)
    assert await write(app, true_end)
    record = await stored(app, true_end.linked_id)
    assert (record.outcome, record.fence, record.talk_seconds) == ("answered", 5, 50)
    assert record.disposition == "sale"  # the agent's wrap-up stays with the call

    assert not await write(app, stale)  # the deposed driver's late write loses
    assert not await write(app, true_end)  # and a replay of the same end changes nothing
    assert (await stored(app, true_end.linked_id)).outcome == "answered"


async def test_a_seen_end_replaces_an_estimated_one_whatever_the_token(app, client):
    await add_user(app, "ann", "inbound_agent", extension="1001")
    now = app[clock_key]().timestamp()
    # The successor (token 8) closed the call it found gone after the takeover, guessing its
    # end; the old driver's outbox (token 7) held the end it saw, written when it came back.
    guessed = replace(ended("1700000001.1", "1001", now), fence=8, estimated=True)
    seen = replace(ended("1700000001.1", "1001", now - 30), fence=7)
    assert await write(app, guessed)
    assert (await stored(app, guessed.linked_id)).estimated
    assert await write(app, seen)
    record = await stored(app, seen.linked_id)
    assert not record.estimated and record.fence == 7
    assert not await write(app, replace(guessed, fence=9))  # a guess never replaces a record
