"""Wrapping up a call: the agent's disposition and notes become an interaction on the customer,
linked to the call record by Linkedid.

The record and the wrap-up arrive in either order (the record waits in the outbox while the
database is away; the agent may be quicker or slower than that), so whichever comes second
makes the link, and only when both name the same agent: a wrap-up sent for someone else's call
stays that user's own note and never changes the other agent's record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.customers import customer_exists
from crm_core.dictionary import DictionaryService
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import CallLegRecord, CallRecord, Interaction

NOTES_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class WrapUp:
    call_id: str
    disposition: str
    notes: str
    customer_id: int | None


def interaction_json(item: Interaction) -> dict[str, Any]:
    return {
        "id": item.id,
        "customer_id": item.customer_id,
        "call_id": item.call_linked_id,
        "user_id": item.user_id,
        "kind": item.kind,
        "disposition": item.disposition,
        "notes": item.notes,
        "created_at": item.created_at.isoformat(),
    }


async def wrap_up(
    session: AsyncSession,
    data: WrapUp,
    actor: Actor,
    *,
    now: datetime,
) -> Interaction:
    """Write the agent's wrap-up of a call; attach it to the call record if that is there and
    was the same agent's. Commits."""
    assert actor.user_id is not None
    codes = {
        e.code
        for e in await DictionaryService(session, clock=lambda: now).entries(
            "disposition", active_only=True
        )
    }
    if data.disposition not in codes:
        raise InvalidInput("choose a disposition from the dictionary", field="disposition")
    if len(data.notes) > NOTES_LIMIT:
        raise InvalidInput(f"notes are limited to {NOTES_LIMIT} characters", field="notes")
    if data.customer_id is not None and not await customer_exists(session, data.customer_id):
        raise NotFound(f"no customer {data.customer_id}", field="customer_id")
    if await session.scalar(
        select(Interaction.id).where(
            Interaction.call_linked_id == data.call_id, Interaction.user_id == actor.user_id
        )
    ):
        raise Conflict("this call is already wrapped up", field="call_id")
    record = await session.get(CallRecord, data.call_id)
    customer_id = data.customer_id
    if record is not None and record.agent_user_id == actor.user_id:
        customer_id = customer_id or record.customer_id
        _attach(record, data.disposition, customer_id, now)
    elif record is not None and await _talked_on(session, record.linked_id, actor.user_id):
        # An earlier agent of a call that moved on: their note is about the same customer.
        customer_id = customer_id or record.customer_id
    item = Interaction(
        customer_id=customer_id,
        call_linked_id=data.call_id,
        user_id=actor.user_id,
        kind="call",
        disposition=data.disposition,
        notes=data.notes,
        created_at=now,
    )
    session.add(item)
    await session.flush()
    audit.record(
        session,
        actor,
        at=now,
        action="call.wrap_up",
        entity_type="call",
        entity_id=data.call_id,
        after={
            "disposition": data.disposition,
            "customer_id": customer_id,
            "interaction_id": item.id,
        },
    )
    return item


async def attach_wrap_up(session: AsyncSession, record: CallRecord) -> None:
    """A record written after its agents wrapped up: the last agent's wrap-up gives it its
    disposition and customer; the earlier agents' notes (a call that moved on) take the
    customer the call identified (no commit: part of writing the record)."""
    items = await session.scalars(
        select(Interaction).where(Interaction.call_linked_id == record.linked_id)
    )
    for item in items:
        if item.user_id == record.agent_user_id and record.agent_user_id is not None:
            if item.customer_id is None and record.customer_id is not None:
                item.customer_id = record.customer_id  # the call identified the customer
            customer_id = item.customer_id or record.customer_id
            _attach(record, item.disposition, customer_id, item.created_at)
        elif item.customer_id is None and await _talked_on(session, record.linked_id, item.user_id):
            item.customer_id = record.customer_id


async def _talked_on(session: AsyncSession, call_id: str, user_id: int | None) -> bool:
    """The user was one of the call's agents (a leg of theirs is on its record)."""
    if user_id is None:
        return False
    found = await session.scalar(
        select(CallLegRecord.id).where(
            CallLegRecord.call_linked_id == call_id,
            CallLegRecord.agent_user_id == user_id,
            CallLegRecord.kind == "agent",
        )
    )
    return found is not None


def _attach(
    record: CallRecord, disposition: str | None, customer_id: int | None, wrapped_at: datetime
) -> None:
    record.disposition = disposition
    record.customer_id = customer_id
    record.wrapup_seconds = max(0.0, round((wrapped_at - record.ended_at).total_seconds(), 3))


async def customer_history(
    session: AsyncSession,
    customer_id: int,
    *,
    limit: int = 100,
) -> list[Interaction]:
    return list(
        await session.scalars(
            select(Interaction)
            .where(Interaction.customer_id == customer_id)
            .order_by(Interaction.created_at.desc(), Interaction.id.desc())
            .limit(limit)
        )
    )


async def link_call(
    session: AsyncSession,
    call_id: str,
    customer_id: int,
    user_id: int,
) -> bool:
    """A customer created or chosen for a call the agent handled: the call record (if written
    already, unlinked, and that agent's) points at them. No commit."""
    record = await session.get(CallRecord, call_id)
    if record is None or record.agent_user_id != user_id or record.customer_id is not None:
        return False
    record.customer_id = customer_id
    return True
