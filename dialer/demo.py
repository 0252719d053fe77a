"""The demo's campaign: a predictive campaign over the demo customers of one region, left as a
draft so that the team lead starts it and the outbound agent joins it (README, the demo)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import SYSTEM
from crm_core.call_lists import CallLists, Segment
from crm_core.clock import Clock
from crm_core.models import Campaign
from dialer import campaigns

SCRIPT = (
    "Hello {name}, this is the call centre of Acme Supplies. We are calling our customers in your"
    " region about renewing with us this spring: may I take two minutes?"
)


async def load_demo_campaign(session: AsyncSession, *, clock: Clock) -> bool:
    """Create it unless a campaign exists already; the caller commits. The demo's numbers are
    +1 555 ones, which the dial rules keep from real trunks: the simulator answers them."""
    if await session.scalar(sa.select(Campaign.id).limit(1)) is not None:
        return False
    row, _ = await campaigns.create(
        session,
        {
            "name": "Spring renewals (demo)",
            "mode": "predictive",
            "caller_id": "+12127360100",
            # Any hour, so that the demo dials whenever it is tried.
            "hours_start": "00:00",
            "hours_end": "23:59",
            "weekdays": list(range(7)),
            "fallback_timezone": "America/New_York",
            "max_attempts": 3,
            "script": SCRIPT,
        },
        SYSTEM,
        clock(),
    )
    await session.flush()
    await CallLists(session, clock=clock, region="US", fictional_prefixes=()).add_segment(
        row.id, Segment(region="north"), SYSTEM, label="Customers in the north region"
    )
    return True
