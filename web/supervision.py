"""The live agent view: every change of an agent's state (queues, pause and reason, device,
ringing / talking and the call) goes out as that agent's whole row, to the supervisors' tabs
and to the agent's own desktop (the desktop shows what the PBX reports, not what was asked).

A pause longer than its reason's time limit (data dictionary) is flagged to the supervisors
once, and the row carries when the pause began so their page can show it running."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.clock import Clock
from crm_core.dictionary import DictionaryService
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
from web.directory import AgentDirectory
from web.hub import AGENT_EVENTS, MONITOR_EVENTS, RESEND_AGENTS, RESEND_PENDING

log = structlog.get_logger("web.supervision")
AGENT_STATE_EVENTS = (AgentActivityChanged, AgentDeviceStateChanged, AgentJoinedQueue,
                      AgentLeftQueue, AgentPaused, AgentUnpaused)


def agent_row(snapshot: AgentSnapshot, paused_since: float | None = None,
              ) -> dict[str, Any]:
    row = asdict(snapshot)
    row["activity"] = str(snapshot.activity)
    row["paused_since"] = paused_since
    return {"type": "agent.state", "agent": row}


class SupervisorFeed:
    def __init__(self, *, telephony: Telephony, events: asyncio.Queue[DomainEvent],
                 bus: Bus, directory: AgentDirectory, db: async_sessionmaker, clock: Clock,
                 check_seconds: float = 5.0) -> None:
        self.telephony = telephony
        self.events = events
        self.bus = bus
        self.directory = directory
        self.db = db
        self.clock = clock
        self.check_seconds = check_seconds
        self.paused_since: dict[str, float] = {}  # interface -> when its pause began
        self.flagged: set[str] = set()  # interfaces whose current pause was flagged

    async def start(self) -> None:
        await self.bus.subscribe(RESEND_AGENTS, self._on_resend)
        await self.bus.subscribe(RESEND_PENDING, self._on_agent_tab)

    async def run(self) -> None:
        while True:
            event = await self.events.get()
            if isinstance(event, AGENT_STATE_EVENTS):
                await self._changed(event)

    async def _changed(self, event: AgentActivityChanged | AgentDeviceStateChanged
                       | AgentJoinedQueue | AgentLeftQueue | AgentPaused | AgentUnpaused,
                       ) -> None:
        interface = event.interface
        snapshot = self.telephony.agents.agent(interface)
        paused = snapshot is not None and any(q.paused for q in snapshot.queues)
        if not paused:
            self.paused_since.pop(interface, None)
            self.flagged.discard(interface)
        elif interface not in self.paused_since:
            self.paused_since[interface] = self.clock().timestamp()
        if snapshot is None:  # left every queue and forgotten
            message = {"type": "agent.gone", "interface": interface}
        else:
            message = agent_row(snapshot, self.paused_since.get(interface))
        await self.bus.publish(MONITOR_EVENTS, message)
        user_id = await self.directory.resolve(interface)
        if user_id is not None:
            await self.bus.publish(AGENT_EVENTS, {"user_id": user_id, "message": message})

    async def watch_pauses(self) -> None:
        """Flag pauses that outlast their reason's limit (checked every few seconds)."""
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check_pauses()
            except Exception:  # the dictionary is in the database, which may be away
                log.warning("pause_check.failed", exc_info=True)

    async def check_pauses(self) -> None:
        waiting = [i for i in self.paused_since if i not in self.flagged]
        if not waiting:
            return
        async with self.db() as db:
            entries = await DictionaryService(db, clock=self.clock).entries("pause_reason")
        limits = {e.code: e.attributes.get("time_limit_minutes") for e in entries}
        now = self.clock().timestamp()
        for interface in waiting:
            snapshot = self.telephony.agents.agent(interface)
            reasons = {q.paused_reason for q in snapshot.queues if q.paused} if snapshot else set()
            for reason in reasons:
                limit = limits.get(reason)
                paused_for = now - self.paused_since[interface]
                if limit and paused_for > limit * 60:
                    self.flagged.add(interface)
                    log.info("agent.pause_exceeded", agent=interface, reason=reason,
                             minutes=round(paused_for / 60, 1))
                    await self.bus.publish(MONITOR_EVENTS, {
                        "type": "agent.pause_exceeded", "interface": interface,
                        "reason": reason, "paused_seconds": round(paused_for),
                        "limit_seconds": limit * 60})
                    break

    def _on_resend(self, _channel: str, _message: dict[str, Any]) -> None:
        for snapshot in self.telephony.agents.agents():
            publish_soon(self.bus, MONITOR_EVENTS,
                         agent_row(snapshot, self.paused_since.get(snapshot.interface)))

    def _on_agent_tab(self, _channel: str, message: dict[str, Any]) -> None:
        """An agent's tab connected: it gets its own row (the state the PBX holds)."""
        user_id = message.get("user_id")
        if not isinstance(user_id, int):
            return
        for snapshot in self.telephony.agents.agents():
            if self.directory.user_for(snapshot.interface) == user_id:
                publish_soon(self.bus, AGENT_EVENTS, {"user_id": user_id, "message": agent_row(
                    snapshot, self.paused_since.get(snapshot.interface))})
