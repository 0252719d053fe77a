"""What the campaign driver writes: an entry claimed for a dial (under the driver's fencing
token), the dial's evidence, and what became of it. A service: it takes a session and never
commits; the driver commits a claim before it originates, so that a successor finds it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import SYSTEM, Actor, record
from crm_core.call_lists import DIALLING, PENDING
from crm_core.models import CallListEntry, CallRecord, Campaign, DialAttempt
from crm_core.scripts import render_script


@dataclass(frozen=True, slots=True)
class Due:
    """An entry due for a dial, as the checks before it need it."""

    id: int
    number: str
    attempts: int
    callback: bool  # the customer asked to be called at this time
    customer_id: int | None = None


async def due_entries(
    session: AsyncSession,
    campaign_id: int,
    now: datetime,
    limit: int,
    *,
    agent: int | None = None,
) -> list[Due]:
    """Pending entries whose time has come and that nobody is looking at, in the order they
    are dialled: ``agent``'s own callbacks (preview), then the entries given a time (callbacks
    promised, retries), the most overdue first, then the unscheduled in list order. Other
    agents' personal callbacks are left for them.

    Up to three reads, each in an order the index gives, rather than one sorted over every
    due entry: a campaign of 100,000 entries costs a page, not a sort."""
    pending = (
        CallListEntry.campaign_id == campaign_id,
        CallListEntry.state == PENDING,
        CallListEntry.reserved_by.is_(None),
    )
    due = sa.or_(CallListEntry.next_attempt_at.is_(None), CallListEntry.next_attempt_at <= now)
    reads = [
        (
            (CallListEntry.owner_user_id.is_(None), CallListEntry.next_attempt_at <= now),
            (CallListEntry.next_attempt_at, CallListEntry.id),
        ),
        (
            (CallListEntry.owner_user_id.is_(None), CallListEntry.next_attempt_at.is_(None)),
            (CallListEntry.id,),
        ),
    ]
    if agent is not None:
        reads.insert(
            0,
            (
                (CallListEntry.owner_user_id == agent, due),
                (CallListEntry.next_attempt_at, CallListEntry.id),
            ),
        )
    found: list[Due] = []
    for where, order in reads:
        if len(found) >= limit:
            break
        rows = await session.execute(
            sa.select(
                CallListEntry.id,
                CallListEntry.number_e164,
                CallListEntry.attempts,
                CallListEntry.last_outcome,
                CallListEntry.customer_id,
            )
            .where(*pending, *where)
            .order_by(*order)
            .limit(limit - len(found))
        )
        found += [Due(i, n, a, last == "callback", c) for i, n, a, last, c in rows]
    return found


async def remaining(session: AsyncSession, campaign_ids: list[int]) -> dict[int, int]:
    """Entries still to be dialled (due now or later), per campaign: one read for all."""
    rows = await session.execute(
        sa.select(CallListEntry.campaign_id, sa.func.count())
        .where(CallListEntry.campaign_id.in_(campaign_ids), CallListEntry.state == PENDING)
        .group_by(CallListEntry.campaign_id)
    )
    counts = {campaign_id: 0 for campaign_id in campaign_ids}
    counts.update({campaign_id: int(n) for campaign_id, n in rows})
    return counts


async def claim(
    session: AsyncSession,
    *,
    campaign_id: int,
    entry_id: int,
    call_id: str,
    checks: dict[str, str],
    fence: int,
    now: datetime,
    agent_user_id: int | None = None,
) -> bool:
    """Claim a pending entry for one dial and keep the evidence of the checks it passed.
    False when it is no longer pending, or a driver with a newer token holds the campaign."""
    claimed = await session.execute(
        sa.update(CallListEntry)
        .where(
            CallListEntry.id == entry_id,
            CallListEntry.campaign_id == campaign_id,
            CallListEntry.state == PENDING,
            CallListEntry.fence <= fence,
        )
        .values(
            state=DIALLING,
            attempts=CallListEntry.attempts + 1,
            last_attempt_at=now,
            updated_at=now,
            fence=fence,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    entry = await session.get_one(CallListEntry, entry_id)
    session.add(
        DialAttempt(
            campaign_id=campaign_id,
            entry_id=entry_id,
            number_e164=entry.number_e164,
            call_id=call_id,
            dialled_at=now,
            checks=json.dumps(checks, ensure_ascii=False),
            agent_user_id=agent_user_id,
            fence=fence,
        )
    )
    return True


async def set_aside(
    session: AsyncSession, entry_id: int, *, state: str, until: datetime | None, why: str
) -> None:
    """An entry a check refused: to the DNC state, failed, or not due before ``until``."""
    await session.execute(
        sa.update(CallListEntry)
        .where(CallListEntry.id == entry_id, CallListEntry.state == PENDING)
        .values(state=state, next_attempt_at=until, last_outcome=why[:24])
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    call_id: str
    campaign_id: int
    entry_id: int | None
    number: str
    attempts: int  # the entry's, this dial included
    outcome: str
    last_outcome: str  # the entry's, before this dial ended


async def attempt_of(session: AsyncSession, call_id: str) -> Attempt | None:
    row = (
        await session.execute(
            sa.select(DialAttempt, CallListEntry.attempts, CallListEntry.last_outcome)
            .outerjoin(CallListEntry, CallListEntry.id == DialAttempt.entry_id)
            .where(DialAttempt.call_id == call_id)
        )
    ).first()
    if row is None:
        return None
    attempt, attempts, last = row
    return Attempt(
        call_id,
        attempt.campaign_id,
        attempt.entry_id,
        attempt.number_e164,
        attempts or 0,
        attempt.outcome,
        last or "",
    )


async def finish_dial(
    session: AsyncSession,
    call_id: str,
    *,
    outcome: str,
    live: bool,
    abandoned: bool,
    at: datetime,
) -> bool:
    """The dial's outcome, once: False when it was recorded already (a replayed end)."""
    done = await session.execute(
        sa.update(DialAttempt)
        .where(DialAttempt.call_id == call_id, DialAttempt.outcome == "")
        .values(outcome=outcome, live_answer=live, abandoned=abandoned, ended_at=at)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1  # type: ignore[attr-defined]


async def settle_entry(
    session: AsyncSession,
    entry_id: int,
    *,
    state: str,
    next_attempt_at: datetime | None,
    outcome: str,
    at: datetime,
    actor: Actor = SYSTEM,
    owner_user_id: int | None = None,
) -> None:
    """The entry's state after a dial (or the agent's result), with its audit row."""
    entry = await session.get(CallListEntry, entry_id)
    if entry is None:
        return
    before = {"state": entry.state, "last_outcome": entry.last_outcome}
    entry.state = state
    entry.next_attempt_at = next_attempt_at
    entry.last_outcome = outcome
    entry.updated_at = at
    if owner_user_id is not None:
        entry.owner_user_id = owner_user_id
    record(
        session,
        actor,
        at=at,
        action="call_list_entry.result",
        entity_type="call_list_entry",
        entity_id=entry_id,
        before=before,
        after={
            "state": state,
            "last_outcome": outcome,
            "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
        },
    )


async def unfinished(session: AsyncSession, campaign_id: int) -> list[tuple[str, int, float]]:
    """Dials of this campaign with no outcome yet: (call id, entry id, dialled at)."""
    rows = await session.execute(
        sa.select(DialAttempt.call_id, DialAttempt.entry_id, DialAttempt.dialled_at).where(
            DialAttempt.campaign_id == campaign_id, DialAttempt.outcome == ""
        )
    )
    return [(c, e or 0, d.timestamp()) for c, e, d in rows]


async def recorded_outcome(session: AsyncSession, call_id: str) -> str | None:
    """The call record's outcome, when the call ended while no driver watched it."""
    return await session.scalar(
        sa.select(CallRecord.outcome).where(CallRecord.linked_id == call_id)
    )


async def answer_history(
    session: AsyncSession, campaign_id: int, since: datetime
) -> list[tuple[float, bool]]:
    """Live answers of the campaign since then: (when, abandoned?), oldest first, to seed the
    abandonment windows of a driver that takes over."""
    rows = await session.execute(
        sa.select(DialAttempt.ended_at, DialAttempt.abandoned)
        .where(
            DialAttempt.campaign_id == campaign_id,
            DialAttempt.live_answer.is_(True),
            DialAttempt.ended_at >= since,
        )
        .order_by(DialAttempt.ended_at)
    )
    return [(at.timestamp(), bool(abandoned)) for at, abandoned in rows if at is not None]


async def entry_for_pop(session: AsyncSession, entry_id: int) -> dict[str, Any] | None:
    """What the agent's pop shows of a campaign call: the campaign, why this number is called,
    the script with the entry's fields, the attempts so far."""
    row = (
        await session.execute(
            sa.select(CallListEntry, Campaign.name, Campaign.script)
            .join(Campaign, Campaign.id == CallListEntry.campaign_id)
            .where(CallListEntry.id == entry_id)
        )
    ).first()
    if row is None:
        return None
    entry, campaign, script = row
    fields = {k: v for k, v in json.loads(entry.fields or "{}").items() if not k.startswith("_")}
    fields.setdefault("name", entry.name)
    fields.setdefault("reason", entry.reason_text)
    return {
        "campaign_id": entry.campaign_id,
        "campaign": campaign,
        "entry_id": entry.id,
        "number": entry.number_e164,
        "name": entry.name,
        "customer_id": entry.customer_id,
        "reason_kind": entry.reason_kind,
        "reason": entry.reason_text,
        "attempts": entry.attempts,
        "last_outcome": entry.last_outcome,
        "script": render_script(script, fields),
        "fields": fields,
    }


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """What a campaign's calls since a moment show, for its what-if."""

    outcomes: dict[str, int]  # dials by outcome
    rings: list[float]  # seconds from the dial to an agent's answer
    talks: list[float]
    wraps: list[float]


async def campaign_record(
    session: AsyncSession, campaign_id: int, since: datetime, limit: int = 5000
) -> CampaignRecord:
    counts = await session.execute(
        sa.select(DialAttempt.outcome, sa.func.count())
        .where(DialAttempt.campaign_id == campaign_id, DialAttempt.dialled_at >= since)
        .where(DialAttempt.outcome != "")
        .group_by(DialAttempt.outcome)
    )
    answered = await session.execute(
        sa.select(
            DialAttempt.dialled_at,
            CallRecord.answered_at,
            CallRecord.talk_seconds,
            CallRecord.wrapup_seconds,
        )
        .join(CallRecord, CallRecord.linked_id == DialAttempt.call_id)
        .where(
            DialAttempt.campaign_id == campaign_id,
            DialAttempt.dialled_at >= since,
            DialAttempt.outcome == "answered",
        )
        .order_by(DialAttempt.dialled_at.desc())
        .limit(limit)
    )
    record = CampaignRecord({o: int(n) for o, n in counts}, [], [], [])
    for dialled, answered_at, talk, wrap in answered:
        if answered_at is not None:
            record.rings.append((answered_at - dialled).total_seconds())
        record.talks.append(talk)
        if wrap is not None:
            record.wraps.append(wrap)
    return record


async def running_campaigns(session: AsyncSession) -> list[Campaign]:
    rows = await session.scalars(
        sa.select(Campaign).where(Campaign.status == "running").order_by(Campaign.id)
    )
    return list(rows)
