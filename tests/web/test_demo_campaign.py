"""The demo's campaign: a draft predictive campaign over the demo customers of one region,
made once."""

from __future__ import annotations

from sqlalchemy import func, select

from crm_core.demo import load_demo_customers
from crm_core.models import CallListEntry, Campaign, Customer
from dialer.demo import load_demo_campaign
from web.appkeys import clock_key, db_key


async def test_the_demo_campaign_lists_the_north_region_once(client):
    app = client.app
    async with app[db_key]() as db:
        await load_demo_customers(db, clock=app[clock_key], count=50)
        assert await load_demo_campaign(db, clock=app[clock_key]) is True
        assert await load_demo_campaign(db, clock=app[clock_key]) is False
        await db.commit()
        campaign = await db.scalar(select(Campaign))
        listed = await db.scalar(select(func.count()).select_from(CallListEntry))
        reasons = set(await db.scalars(select(CallListEntry.reason_kind)))
        north = await db.scalar(
            select(func.count()).select_from(Customer).where(Customer.region == "north")
        )
    assert (campaign.status, campaign.mode) == ("draft", "predictive")
    assert 0 < listed == north and reasons == {"segment"}
