"""The supervisor's live view: every change of an agent's state (queues, pause and reason,
device, ringing / talking and the call) goes out as that agent's whole row."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import structlog

from cti.agents import AgentSnapshot
from cti.bus import Bus, publish_soon
from cti.events import (
    AgentActivityChanged,
    AgentDeviceStateChanged,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentPaused,
    AgentUnpaused,
    DomainEvent,
)
from cti.telephony import Telephony
from web.hub import MONITOR_EVENTS, RESEND_AGENTS

log = structlog.get_logger("web.supervision")
AGENT_EVENTS = (AgentActivityChanged, AgentDeviceStateChanged, AgentJoinedQueue,
                AgentLeftQueue, AgentPaused, AgentUnpaused)


def agent_row(snapshot: AgentSnapshot) -> dict[str, Any]:
    row = asdict(snapshot)
    row["activity"] = str(snapshot.activity)
    return {"type": "agent.state", "agent": row}


class SupervisorFeed:
    def __init__(self, *, telephony: Telephony, events: asyncio.Queue[DomainEvent],
                 bus: Bus) -> None:
        self.telephony = telephony
        self.events = events
        self.bus = bus

    async def start(self) -> None:
        await self.bus.subscribe(RESEND_AGENTS, self._on_resend)

    async def run(self) -> None:
        while True:
            event = await self.events.get()
            if isinstance(event, AGENT_EVENTS):
                snapshot = self.telephony.agents.agent(event.interface)
                if snapshot is not None:
                    await self.bus.publish(MONITOR_EVENTS, agent_row(snapshot))
                else:  # left every queue and forgotten
                    await self.bus.publish(MONITOR_EVENTS, {
                        "type": "agent.gone", "interface": event.interface})

    def _on_resend(self, _channel: str, _message: dict[str, Any]) -> None:
        for snapshot in self.telephony.agents.agents():
            publish_soon(self.bus, MONITOR_EVENTS, agent_row(snapshot))
