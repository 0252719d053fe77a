"""The screen-pop pipeline: a CallOffered for an agent's phone becomes a pop on that agent's
browser tabs, wherever they are connected; withdrawals, answers and ends follow it.

It runs in its own task, off the AMI event path: the lookup reads the database. Pops still
ringing are remembered, so a browser that connects while its phone rings gets its pop again."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import structlog

from crm_core.cards import CallerLookups
from cti.agent_calls import AgentCalls
from cti.bus import Bus, publish_soon
from cti.events import (
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    DomainEvent,
)
from web.directory import AgentDirectory
from web.hub import AGENT_EVENTS, RESEND_PENDING

log = structlog.get_logger("web.pops")



class PopPipeline:
    def __init__(
        self, *, events: asyncio.Queue[DomainEvent], lookups: CallerLookups, bus: Bus,
        directory: AgentDirectory, calls: AgentCalls, region: str,
    ) -> None:
        self.events = events
        self.lookups = lookups
        self.bus = bus
        self.directory = directory
        self.calls = calls
        self.region = region
        # user id -> device channel -> the pop shown while that phone rings
        self.ringing: defaultdict[int, dict[str, dict[str, Any]]] = defaultdict(dict)

    async def start(self) -> None:
        await self.bus.subscribe(RESEND_PENDING, self._on_resend)

    async def run(self) -> None:
        while True:
            event = await self.events.get()
            self.calls.apply(event)
            try:
                await self.handle(event)
            except Exception:
                log.exception("pop.failed", call_id=getattr(event, "linked_id", None))

    async def handle(self, event: DomainEvent) -> None:
        if isinstance(event, CallOffered):
            await self._offered(event)
        elif isinstance(event, CallOfferWithdrawn):
            await self._to_agent(event.agent_interface, {
                "type": "call.withdrawn", "call_id": event.linked_id,
                "device_channel": event.device_channel, "reason": str(event.reason),
            }, ringing_done=event.device_channel)
        elif isinstance(event, CallAnswered):
            await self._to_agent(event.agent_interface, {
                "type": "call.answered", "call_id": event.linked_id,
                "device_channel": event.device_channel, "queue": event.queue,
                "direction": str(event.direction), "wait_seconds": round(event.wait_seconds, 1),
                "at": event.at,
            }, ringing_done=event.device_channel)
        elif isinstance(event, CallTransferred):
            await self._to_agent(event.agent_interface, {
                "type": "call.transferred", "call_id": event.linked_id,
                "kind": str(event.kind), "target": event.target,
            })
        elif isinstance(event, CallEnded):
            self._forget_ringing(event.linked_id)
            if not event.agent_interface:
                return
            await self._to_agent(event.agent_interface, {
                "type": "call.ended", "call_id": event.linked_id,
                "outcome": str(event.outcome), "talk_seconds": round(event.talk_seconds, 1),
                "answered": event.answered_at is not None,
            })

    async def _offered(self, event: CallOffered) -> None:
        user_id = await self.directory.resolve(event.agent_interface)
        if user_id is None:
            log.info("pop.no_agent", agent=event.agent_interface, call_id=event.linked_id)
            return
        lookup = await self.lookups.lookup(
            caller_number=event.caller_number, restricted=event.presentation_restricted,
            variables=dict(event.variables), region=self.region)
        message = {
            "type": "call.offered", "call_id": event.linked_id,
            "device_channel": event.device_channel, "queue": event.queue, "dnis": event.dnis,
            "direction": str(event.direction),
            "caller": {"number": event.caller_number, "name": event.caller_name,
                       "withheld": event.presentation_restricted},
            "lookup": lookup.as_dict(), "offered_at": event.at,
        }
        self.ringing[user_id][event.device_channel] = message
        await self.bus.publish(AGENT_EVENTS, {"user_id": user_id, "message": message})
        log.info("pop.sent", agent=event.agent_interface, call_id=event.linked_id,
                 lookup=lookup.kind)

    async def _to_agent(
        self, interface: str, message: dict[str, Any], *, ringing_done: str | None = None,
    ) -> None:
        user_id = await self.directory.resolve(interface)
        if user_id is None:
            return  # no user at that phone: nobody to tell
        if ringing_done is not None:
            self.ringing[user_id].pop(ringing_done, None)
        await self.bus.publish(AGENT_EVENTS, {"user_id": user_id, "message": message})

    def _forget_ringing(self, call_id: str) -> None:
        """No pop of an ended call is shown again, whatever became of its offers."""
        for user_id, pops in list(self.ringing.items()):
            for device, pop in list(pops.items()):
                if pop["call_id"] == call_id:
                    del pops[device]
            if not pops:
                del self.ringing[user_id]

    def _on_resend(self, _channel: str, message: dict[str, Any]) -> None:
        user_id = message.get("user_id")
        if not isinstance(user_id, int):
            return
        for pop in list(self.ringing.get(user_id, {}).values()):
            publish_soon(self.bus, AGENT_EVENTS, {"user_id": user_id, "message": pop})
