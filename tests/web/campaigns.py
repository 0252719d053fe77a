"""Helpers of the outbound tests: a clock that runs from a chosen instant, a campaign made and
started through the dialer's own services, and what became of its list."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import select

from crm_core.audit import SYSTEM
from crm_core.call_lists import CallLists
from crm_core.models import CallListEntry, CallRecord, DialAttempt
from dialer import campaigns
from web.appkeys import db_key

# Wednesday 25 November 2026, 15:00 UTC: 10:00 in New York, 00:00 (Thursday) in Tokyo.
START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
NEW_YORK = [f"+1212736{1000 + i}" for i in range(10)]
TOKYO = "+81335501234"


class RunningClock:
    """Real time, started at a chosen instant (calling hours depend on it)."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.start.timestamp() + time.monotonic() - self.t0, UTC)


async def make_campaign(app, numbers: list[str], **settings: object) -> int:
    async with app[db_key]() as db:
        row, _ = await campaigns.create(
            db,
            {
                "name": "Spring promo",
                "mode": "predictive",
                "caller_id": "+12125550100",
                "hours_start": "09:00",
                "hours_end": "21:00",
                "weekdays": [0, 1, 2, 3, 4, 5, 6],
                "fallback_timezone": "America/New_York",
                "max_attempts": 1,  # retries come minutes later: beyond a test's time
                **settings,
            },
            SYSTEM,
            START,
        )
        await db.flush()
        lists = CallLists(db, clock=lambda: START, region="US")
        for number in numbers:
            await lists.add_number(row.id, number, SYSTEM, reason="spring offer")
        await db.commit()
        return row.id


async def start(app, campaign_id: int) -> None:
    async with app[db_key]() as db:
        await campaigns.change_status(db, campaign_id, "start", SYSTEM, START)
        await db.commit()


async def entries(app, campaign_id: int) -> list[CallListEntry]:
    async with app[db_key]() as db:
        rows = await db.scalars(
            select(CallListEntry).where(CallListEntry.campaign_id == campaign_id)
        )
        return list(rows)


async def attempts(app, campaign_id: int) -> list[DialAttempt]:
    async with app[db_key]() as db:
        rows = await db.scalars(select(DialAttempt).where(DialAttempt.campaign_id == campaign_id))
        return list(rows)


async def call_records(app, call_ids: list[str]) -> dict[str, CallRecord]:
    """The calls' records once every one is written (the outbox writes them a moment later)."""
    async with app[db_key]() as db:
        rows = await db.scalars(select(CallRecord).where(CallRecord.linked_id.in_(call_ids)))
        records = {r.linked_id: r for r in rows}
    return records if len(records) == len(call_ids) else {}


async def settled(app, campaign_id: int) -> bool:
    return all(e.state not in ("pending", "dialling") for e in await entries(app, campaign_id))
