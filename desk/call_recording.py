"""Every call ends up as a call record: CallEnded goes to the durable outbox at once (off the
AMI event path), and the outbox writes it to the database, waiting while that is away."""

from __future__ import annotations

from dataclasses import asdict

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.call_records import EndedCall, record_call
from crm_core.clock import Clock
from crm_core.uow import UnitOfWork
from cti.devices import extension_of
from cti.events import CallEnded, DomainEvent
from desk.outbox import Outbox

log = structlog.get_logger("desk.call_recording")


def ended_call(event: CallEnded, fence: int = 0) -> EndedCall:
    return EndedCall(
        linked_id=event.linked_id,
        direction=str(event.direction),
        outcome=str(event.outcome),
        caller_number=event.caller_number,
        customer_number=event.customer_number,
        queue=event.queue,
        agent_interface=event.agent_interface,
        agent_extension=extension_of(event.agent_interface),
        offered_at=event.offered_at,
        answered_at=event.answered_at,
        ended_at=event.ended_at,
        wait_seconds=round(event.wait_seconds, 3),
        talk_seconds=round(event.talk_seconds, 3),
        hangup_cause=event.hangup_cause,
        customer_id=_tagged_customer(event),
        fence=fence,
        estimated=event.estimated,
        legs=[
            {
                **asdict(leg),
                "agent_extension": extension_of(leg.agent_interface),
                "wait_seconds": round(leg.wait_seconds, 3),
                "talk_seconds": round(leg.talk_seconds, 3),
            }
            for leg in event.legs
        ],
    )


def _tagged_customer(event: CallEnded) -> int | None:
    value = dict(event.tags).get("customer_id", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


class CallRecorder:
    def __init__(
        self, *, outbox: Outbox, db: async_sessionmaker, clock: Clock, region: str
    ) -> None:
        self.outbox = outbox
        self.db = db
        self.clock = clock
        self.region = region

    async def handle(self, event: DomainEvent, *, fence: int) -> None:
        """Keep a call's end on disk at once; ``fence``: the token of the driver that saw it."""
        if isinstance(event, CallEnded):
            await self.outbox.put(ended_call(event, fence).as_dict())

    async def write(self, items: list[dict]) -> None:
        """A batch of call ends from the outbox, in one transaction."""
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            written = [
                await record_call(uow.session, EndedCall(**item), region=self.region, now=now)
                for item in items
            ]
            await uow.commit()
        for item, new in zip(items, written, strict=True):
            log.info(
                "call.recorded" if new else "call.already_recorded",
                call_id=item["linked_id"],
                outcome=item["outcome"],
            )
