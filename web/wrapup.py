"""Wrap-up: after a call the agent is paused in their queues (reason "wrap-up") so the next
call waits until they have written the disposition, but never longer than the configured
bound. Runs beside the AMI link; a disposition sent to any instance reaches it on the bus."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from cti.ami import actions
from cti.ami.errors import AmiError
from cti.ami.link import AmiLink
from cti.bus import Bus
from cti.events import CallEnded, CallTransferred, DomainEvent
from cti.telephony import Telephony
from web.directory import AgentDirectory
from web.hub import AGENT_EVENTS

log = structlog.get_logger("web.wrapup")
WRAPUP_REASON = "wrap-up"
WRAPUP_DONE = "wrapup.done"  # {"user_id", "call_id"}: the agent sent the disposition


class WrapUpKeeper:
    def __init__(self, *, events: asyncio.Queue[DomainEvent], telephony: Telephony,
                 link: AmiLink, bus: Bus, directory: AgentDirectory, seconds: float) -> None:
        self.events = events
        self.telephony = telephony
        self.link = link
        self.bus = bus
        self.directory = directory
        self.seconds = seconds
        self.timers: dict[str, asyncio.Task[None]] = {}  # interface -> its wrap-up's end

    async def start(self) -> None:
        await self.bus.subscribe(WRAPUP_DONE, self._on_done)

    async def run(self) -> None:
        try:
            while True:
                event = await self.events.get()
                if isinstance(event, CallEnded) and event.agent_interface and (
                        event.answered_at is not None):
                    await self._begin(event.agent_interface, event.linked_id)
                elif isinstance(event, CallTransferred):  # the transferer's part is over
                    await self._begin(event.agent_interface, event.linked_id)
        finally:
            for timer in self.timers.values():
                timer.cancel()

    async def _begin(self, interface: str, call_id: str) -> None:
        snapshot = self.telephony.agents.agent(interface)
        if self.seconds <= 0 or snapshot is None or not snapshot.queues:
            return  # not a queue member: nothing would ring them anyway
        if any(q.paused for q in snapshot.queues):
            return  # already paused by the agent: their pause stands
        try:
            await self.link.send(actions.queue_pause(interface, True, reason=WRAPUP_REASON))
        except AmiError as exc:
            log.warning("wrapup.pause_failed", agent=interface, call_id=call_id, error=str(exc))
            return
        log.info("wrapup.started", agent=interface, call_id=call_id, seconds=self.seconds)
        user_id = await self.directory.resolve(interface)
        if user_id is not None:
            await self.bus.publish(AGENT_EVENTS, {"user_id": user_id, "message": {
                "type": "wrapup.started", "call_id": call_id, "seconds": self.seconds}})
        self._cancel_timer(interface)
        self.timers[interface] = asyncio.create_task(self._expire(interface, call_id))

    async def _expire(self, interface: str, call_id: str) -> None:
        await asyncio.sleep(self.seconds)
        self.timers.pop(interface, None)
        await self.end(interface, call_id, "bound reached")

    async def end(self, interface: str, call_id: str, why: str) -> None:
        """Unpause, unless the agent paused for another reason meanwhile."""
        self._cancel_timer(interface)
        snapshot = self.telephony.agents.agent(interface)
        if snapshot is None or not any(
                q.paused and q.paused_reason == WRAPUP_REASON for q in snapshot.queues):
            return
        try:
            await self.link.send(actions.queue_pause(interface, False))
        except AmiError as exc:
            log.warning("wrapup.unpause_failed", agent=interface, call_id=call_id,
                        error=str(exc))
            return
        log.info("wrapup.ended", agent=interface, call_id=call_id, why=why)

    def _cancel_timer(self, interface: str) -> None:
        timer = self.timers.pop(interface, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def _on_done(self, _channel: str, message: dict[str, Any]) -> None:
        user_id = message.get("user_id")
        for interface in list(self.timers):
            if isinstance(user_id, int) and self.directory.user_for(interface) == user_id:
                task = asyncio.create_task(
                    self.end(interface, str(message.get("call_id", "")), "disposition sent"))
                task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if task.exception() is not None:
            log.error("wrapup.end_failed", error=str(task.exception()))
