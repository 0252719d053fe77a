"""Campaigns: created and changed by a team lead from validated settings
(`dialer.campaign_settings`), started, paused and stopped, each change audited. A service: it
takes a session and never commits. The driver (`dialer.engine`) dials what is running."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import dialling
from crm_core.audit import Actor, record
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import Campaign
from crm_core.users import permitted_users
from dialer.campaign_settings import parse_settings
from dialer.pacing import Mode, Policy
from dialer.whatif import History, history_of

WORK_OUTBOUND = "calls.outbound"  # the permission of an agent who works campaigns
DRAFT, RUNNING, PAUSED, STOPPED = "draft", "running", "paused", "stopped"
# What each button does, from which states. A stopped campaign is over: its list is closed.
TRANSITIONS: Mapping[str, tuple[frozenset[str], str]] = {
    "start": (frozenset({DRAFT, PAUSED}), RUNNING),
    "pause": (frozenset({RUNNING}), PAUSED),
    "stop": (frozenset({DRAFT, RUNNING, PAUSED}), STOPPED),
}


def campaign_json(row: Campaign) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "mode": row.mode,
        "status": row.status,
        "queue": row.queue,
        "caller_id": row.caller_id,
        "trunk": row.trunk,
        "max_lines": row.max_lines,
        "abandon_cap": row.abandon_cap,
        "patience": row.patience,
        "hours_start": row.hours_start,
        "hours_end": row.hours_end,
        "weekdays": [int(d) for d in row.weekdays],
        "fallback_timezone": row.fallback_timezone,
        "region": row.region,
        "max_attempts": row.max_attempts,
        "retry_minutes": json.loads(row.retry_minutes or "{}"),
        "machine_rule": row.machine_rule,
        "script": row.script,
        "agents": json.loads(row.agents or "[]"),
        "abandon_message": row.abandon_message,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def settings_input(row: Campaign) -> dict[str, Any]:
    """A campaign's stored settings as input again (the cap in percent), e.g. to check a
    change with `parse_settings({**settings_input(row), **changes})`."""
    return {**campaign_json(row), "abandon_cap": f"{row.abandon_cap * 100:g}"}


async def what_if_inputs(
    session: AsyncSession,
    campaign_id: int,
    changes: Mapping[str, object],
    now: datetime,
) -> tuple[History, Policy]:
    """The campaign's own last 30 days, and its pacing with the changes tried (mode, cap,
    patience, ...: refused like an edit of the settings would be)."""
    row = await campaign(session, campaign_id)
    settings, _ = parse_settings({**settings_input(row), **changes})
    record = await dialling.campaign_record(session, campaign_id, now - timedelta(days=30))
    history = history_of(
        outcomes=record.outcomes, rings=record.rings, talks=record.talks, wraps=record.wraps
    )
    return history, settings.policy


async def campaigns(session: AsyncSession) -> list[Campaign]:
    return list(await session.scalars(sa.select(Campaign).order_by(Campaign.id.desc())))


async def campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    row = await session.get(Campaign, campaign_id)
    if row is None:
        raise NotFound("no such campaign")
    return row


async def create(
    session: AsyncSession, raw: Mapping[str, object], actor: Actor, now: datetime
) -> tuple[Campaign, list[str]]:
    """A new campaign (a draft) from raw settings; the warnings the settings deserve."""
    settings, warnings = parse_settings(raw)
    await _name_free(session, settings.name)
    await _agents_known(session, settings.agents)
    row = Campaign(
        **settings.columns(),
        status=DRAFT,
        created_by=actor.user_id,
        created_at=now,
        updated_by=actor.user_id,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    record(
        session,
        actor,
        at=now,
        action="campaign.create",
        entity_type="campaign",
        entity_id=row.id,
        after=settings.columns(),
    )
    return row, warnings


async def update(
    session: AsyncSession,
    campaign_id: int,
    raw: Mapping[str, object],
    actor: Actor,
    now: datetime,
) -> tuple[Campaign, list[str]]:
    """New settings for a campaign not stopped; a running one takes them within a second."""
    row = await campaign(session, campaign_id)
    if row.status == STOPPED:
        raise Conflict("a stopped campaign cannot be changed")
    settings, warnings = parse_settings(raw)
    if settings.name != row.name:
        await _name_free(session, settings.name)
    await _agents_known(session, settings.agents)
    before = {k: getattr(row, k) for k in settings.columns()}
    after = settings.columns()
    for key, value in after.items():
        setattr(row, key, value)
    row.updated_by, row.updated_at = actor.user_id, now
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        record(
            session,
            actor,
            at=now,
            action="campaign.update",
            entity_type="campaign",
            entity_id=row.id,
            before={k: before[k] for k in changed},
            after=changed,
        )
    return row, warnings


async def change_status(
    session: AsyncSession, campaign_id: int, action: str, actor: Actor, now: datetime
) -> Campaign:
    """Start, pause or stop; a button pressed in a state it does not apply to is refused."""
    row = await campaign(session, campaign_id)
    allowed, to = TRANSITIONS[action]
    if row.status not in allowed:
        raise Conflict(f"a {row.status} campaign cannot be {_past[action]}")
    if action == "start" and row.mode != str(Mode.PREVIEW):
        await _queue_free(session, row)
    before = row.status
    row.status, row.updated_by, row.updated_at = to, actor.user_id, now
    record(
        session,
        actor,
        at=now,
        action=f"campaign.{action}",
        entity_type="campaign",
        entity_id=row.id,
        before={"status": before},
        after={"status": to},
    )
    return row


_past = {"start": "started", "pause": "paused", "stop": "stopped"}


async def _name_free(session: AsyncSession, name: str) -> None:
    taken = await session.scalar(sa.select(Campaign.id).where(Campaign.name == name))
    if taken is not None:
        raise Conflict("a campaign of that name exists already", field="name")


async def _queue_free(session: AsyncSession, row: Campaign) -> None:
    """A dialling campaign has its queue to itself: the pacing counts every agent of the queue
    as its own, so two campaigns dialling into one queue would each dial for all of them."""
    other = await session.scalar(
        sa.select(Campaign.name).where(
            Campaign.queue == row.queue,
            Campaign.status == RUNNING,
            Campaign.mode != str(Mode.PREVIEW),
            Campaign.id != row.id,
        )
    )
    if other is not None:
        raise Conflict(
            f"the running campaign {other!r} dials into the queue {row.queue!r}: give this one"
            " a queue of its own (each dialling campaign paces for all of its queue's agents)",
            field="queue",
        )


async def _agents_known(session: AsyncSession, agents: tuple[int, ...]) -> None:
    if not agents:
        return
    known = {user_id for user_id, _ in await outbound_agents(session)}
    unknown = [a for a in agents if a not in known]
    if unknown:
        raise InvalidInput(
            f"not active outbound agents: user {', '.join(map(str, unknown))}", field="agents"
        )


async def outbound_agents(session: AsyncSession) -> list[tuple[int, str]]:
    """Who may be chosen to work a campaign (allowed to, with a phone): (user id, name)."""
    return await permitted_users(session, WORK_OUTBOUND, with_phone=True)


def may_work(row: Campaign, user_id: int) -> bool:
    """Whether this agent may work the campaign: anyone in its queue unless agents are chosen."""
    chosen = json.loads(row.agents or "[]")
    return not chosen or user_id in chosen
