"""Wrap-ups and call records meet in either order, and only when they name the same agent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm_core.audit import Actor
from crm_core.call_records import record_call
from crm_core.cards import customer_card
from crm_core.errors import Conflict, InvalidInput
from crm_core.interactions import WrapUp, wrap_up
from crm_core.models import CallRecord
from tests.conftest import add_user
from tests.support.calls import ended
from tests.web.telephony import add_customer
from web.appkeys import clock_key, db_key


@pytest.mark.parametrize("wrap_first", [True, False], ids=["wrap-up first", "record first"])
async def test_the_disposition_lands_on_the_record_whichever_comes_first(app, client, wrap_first):
    ann = await add_user(app, "ann", "inbound_agent", extension="1001")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    now = app[clock_key]()
    call = ended("1700000000.1", "1001", (now - timedelta(seconds=30)).timestamp())
    as_ann = Actor(user_id=ann.id, name="ann")
    async with app[db_key]() as db:
        if not wrap_first:
            assert await record_call(db, call, region="US", now=now)
            await db.commit()
        await wrap_up(db, WrapUp(call.linked_id, "sale", "ordered two", None), as_ann, now=now)
        await db.commit()
        if wrap_first:
            assert await record_call(db, call, region="US", now=now)
            await db.commit()
    async with app[db_key]() as db:
        record = await db.get(CallRecord, call.linked_id)
        assert record.disposition == "sale" and record.customer_id == acme
        assert record.wrapup_seconds == pytest.approx(30, abs=1)
        card = await customer_card(db, acme)
    assert [(i["disposition"], i["notes"]) for i in card["last_interactions"]] == [
        ("sale", "ordered two")
    ]


async def test_a_wrap_up_for_another_agents_call_never_changes_their_record(app, client):
    await add_user(app, "ann", "inbound_agent", extension="1001")
    bob = await add_user(app, "bob", "inbound_agent", extension="1002")
    await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    now = app[clock_key]()
    call = ended("1700000000.2", "1001", now.timestamp())
    async with app[db_key]() as db:
        await record_call(db, call, region="US", now=now)
        await db.commit()
        await wrap_up(
            db, WrapUp(call.linked_id, "sale", "", None), Actor(user_id=bob.id, name="bob"), now=now
        )
        await db.commit()
        with pytest.raises(Conflict):
            await wrap_up(
                db,
                WrapUp(call.linked_id, "sale", "", None),
                Actor(user_id=bob.id, name="bob"),
                now=now,
            )
        with pytest.raises(InvalidInput):
            await wrap_up(
                db,
                WrapUp("other", "sale", "x" * 10_001, None),
                Actor(user_id=bob.id, name="bob"),
                now=now,
            )
    async with app[db_key]() as db:
        assert (await db.get(CallRecord, call.linked_id)).disposition is None
