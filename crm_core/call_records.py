"""Writing call records: idempotent (keyed by Linkedid, a replayed end changes nothing)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy import func as sa_func
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.customers import CustomerService, customer_exists
from crm_core.interactions import attach_wrap_up
from crm_core.models import CallLegRecord, CallRecord, Customer, Interaction
from crm_core.phones import normalise
from crm_core.users import active_user_id_by_extension


@dataclass(frozen=True, slots=True)
class EndedCall:
    """What the PBX side tells about a finished call: a JSON-able copy of CallEnded, so that
    it can wait in the outbox file while the database is away."""

    linked_id: str
    direction: str
    outcome: str
    caller_number: str
    customer_number: str
    queue: str
    agent_interface: str
    agent_extension: str
    offered_at: float | None
    answered_at: float | None
    ended_at: float
    wait_seconds: float
    talk_seconds: float
    hangup_cause: int
    # The customer the agent called from a card (click-to-call): decides over the number.
    customer_id: int | None = None
    # The fencing token of the PBX driver that saw the call end (cti.leader).
    fence: int = 0
    # The end was inferred, not seen (resynchronisation, failover): its times are estimates.
    estimated: bool = False
    # Every queue stay and agent connection, in order: dicts with kind, queue,
    # agent_interface, agent_extension, started_at, ended_at, wait_seconds, talk_seconds,
    # result (cti.events.CallLeg as JSON).
    legs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _replaces(call: EndedCall, existing: CallRecord) -> bool:
    if call.estimated:
        return False
    return existing.estimated or existing.fence < call.fence


async def record_call(
    session: AsyncSession, call: EndedCall, *, region: str, now: datetime
) -> bool:
    """Write the record unless it exists; True when written. The caller commits.

    A seen end replaces an estimated one; otherwise a record written under an older fencing
    token (by a PBX driver that had lost its lease) gives way to this one, and one written under
    the same or a newer token stands. An estimated end never replaces a record."""
    existing = await session.scalar(
        select(CallRecord).where(CallRecord.linked_id == call.linked_id)
    )
    if existing is not None and not _replaces(call, existing):
        return False
    number = normalise(call.customer_number or call.caller_number, region)
    customer_id = call.customer_id
    if customer_id is not None and not await customer_exists(session, customer_id):
        customer_id = None  # removed since the call was placed
    if customer_id is None and number.usable:
        customers = CustomerService(session, clock=lambda: now, region=region)
        matches = await customers.find_by_number(number.e164, limit=2)
        if len({m.customer_id for m in matches}) == 1:
            customer_id = matches[0].customer_id
    agent_user_id = await active_user_id_by_extension(session, call.agent_extension)
    values = dict(
        linked_id=call.linked_id,
        direction=call.direction,
        outcome=call.outcome,
        caller_raw=call.caller_number[:64],
        caller_e164=number.e164,
        customer_number=call.customer_number[:64],
        queue=call.queue[:64],
        agent_interface=call.agent_interface[:128],
        agent_user_id=agent_user_id,
        customer_id=customer_id,
        offered_at=_time(call.offered_at),
        answered_at=_time(call.answered_at),
        ended_at=_time(call.ended_at) or now,
        wait_seconds=call.wait_seconds,
        talk_seconds=call.talk_seconds,
        hangup_cause=call.hangup_cause or None,
        callback_needed=call.direction == "inbound" and call.outcome == "abandoned",
        recorded_at=now,
        fence=call.fence,
        estimated=call.estimated,
    )
    if existing is not None:  # the deposed driver's record gives way; the wrap-up stays
        for name, value in values.items():
            setattr(existing, name, value)
        await session.execute(
            delete(CallLegRecord).where(CallLegRecord.call_linked_id == call.linked_id)
        )
        await _add_legs(session, call, agent_user_id)
        return True
    record = CallRecord(**values)
    session.add(record)
    await session.flush()  # the legs refer to it
    await _add_legs(session, call, agent_user_id)
    await attach_wrap_up(session, record)
    return True


async def _add_legs(session: AsyncSession, call: EndedCall, agent_user_id: int | None) -> None:
    users = {call.agent_extension: agent_user_id}
    for position, leg in enumerate(call.legs):
        extension = leg.get("agent_extension", "")
        if extension not in users:
            users[extension] = await active_user_id_by_extension(session, extension)
        session.add(
            CallLegRecord(
                call_linked_id=call.linked_id,
                position=position,
                kind=leg["kind"],
                queue=leg["queue"][:64],
                agent_interface=leg["agent_interface"][:128],
                agent_user_id=users[extension] if extension else None,
                started_at=_time(leg["started_at"]),
                ended_at=_time(leg["ended_at"]),
                wait_seconds=leg["wait_seconds"],
                talk_seconds=leg["talk_seconds"],
                result=leg["result"][:16],
            )
        )


async def awaiting_disposition(
    session: AsyncSession, user_id: int, *, since: datetime, limit: int = 20
) -> list[dict[str, Any]]:
    """The calls since ``since`` that the agent talked on (the record's agent, or an earlier
    one of a call that moved on) and has not wrapped up yet, newest first: the wrap-ups their
    desk keeps open (after a reload, a restart, a second call). Times are the agent's own."""
    mine = (
        select(
            CallLegRecord.call_linked_id,
            sa_func.max(CallLegRecord.ended_at).label("ended_at"),
            sa_func.sum(CallLegRecord.talk_seconds).label("talk_seconds"),
            sa_func.max(CallLegRecord.queue).label("queue"),
        )
        .where(
            CallLegRecord.agent_user_id == user_id,
            CallLegRecord.kind == "agent",
            CallLegRecord.ended_at >= since,
        )
        .group_by(CallLegRecord.call_linked_id)
        .subquery()
    )
    wrapped = select(Interaction.id).where(
        Interaction.call_linked_id == CallRecord.linked_id, Interaction.user_id == user_id
    )
    ended_at = sa_func.coalesce(mine.c.ended_at, CallRecord.ended_at)
    rows = await session.execute(
        select(CallRecord, Customer.name, mine.c.ended_at, mine.c.talk_seconds, mine.c.queue)
        .outerjoin(mine, mine.c.call_linked_id == CallRecord.linked_id)
        .outerjoin(Customer, Customer.id == CallRecord.customer_id)
        .where(
            or_(
                mine.c.call_linked_id.is_not(None),
                # Records written before legs were kept name only their agent.
                (CallRecord.agent_user_id == user_id) & (CallRecord.ended_at >= since),
            ),
            CallRecord.answered_at.is_not(None),
            ~exists(wrapped),
        )
        .order_by(ended_at.desc())
        .limit(limit)
    )
    return [
        {
            "call_id": record.linked_id,
            "caller": record.caller_e164 or record.caller_raw,
            "customer_id": record.customer_id,
            "customer_name": name,
            "queue": record.queue if my_queue is None else my_queue,
            "ended_at": _stamp(my_end or record.ended_at),
            "talk_seconds": record.talk_seconds if my_talk is None else my_talk,
        }
        for record, name, my_end, my_talk, my_queue in rows.all()
    ]


def _stamp(moment: datetime) -> float:
    # SQLite hands back naive datetimes: they were written in UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
