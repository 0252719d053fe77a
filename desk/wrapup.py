"""Wrap-up: after a call the agent is paused in their queues (reason "wrap-up") so the next
call waits until they have written the disposition, but never longer than the configured
bound. Runs on the instance that drives the PBX link; a disposition sent to any instance
reaches it on the bus."""

from __future__ import annotations

import asyncio

import structlog

from crm_core.clock import Clock
from cti.ami import actions
from cti.ami.errors import AmiError
from cti.ami.link import AmiLink
from cti.events import AgentLegEnded, DomainEvent
from desk import notifications as note
from desk.agents import WRAPUP_REASON, AgentBoard
from desk.directory import AgentDirectory
from desk.workers import background

log = structlog.get_logger("desk.wrapup")


class WrapUpKeeper:
    def __init__(
        self,
        *,
        board: AgentBoard,
        link: AmiLink,
        notifier: note.Notifier,
        directory: AgentDirectory,
        clock: Clock,
        seconds: float,
    ) -> None:
        self.board = board
        self.link = link
        self.notifier = notifier
        self.directory = directory
        self.clock = clock
        self.seconds = seconds
        self.timers: dict[str, asyncio.Task[None]] = {}  # interface -> its wrap-up's end

    async def start(self) -> None:
        await self.notifier.subscribe(note.WrapUpDone, self._on_done)

    async def handle(self, event: DomainEvent) -> None:
        # Each agent's part of a call ends with its own leg (hung up, transferred, the customer
        # moved on, the call over): that agent's wrap-up, whatever the call does next.
        if isinstance(event, AgentLegEnded):
            await self._begin(event.agent_interface, event.linked_id)

    def stop(self) -> None:
        for timer in self.timers.values():
            timer.cancel()

    def _now(self) -> float:
        return self.clock().timestamp()

    async def _begin(self, interface: str, call_id: str) -> None:
        view = self.board.view(interface)
        if self.seconds <= 0 or view is None or view.pbx is None or not view.pbx.queues:
            return  # not a queue member: nothing would ring them anyway
        if any(q.paused for q in view.pbx.queues):
            return  # already paused by the agent: their pause stands
        try:
            await self.link.send(
                actions.queue_pause(view.pbx.pbx_interface, True, reason=WRAPUP_REASON)
            )
        except AmiError as exc:
            log.warning("wrapup.pause_failed", agent=interface, call_id=call_id, error=str(exc))
            return
        self.board.begin_wrap_up(interface, call_id, self._now(), self.seconds)
        log.info("wrapup.started", agent=interface, call_id=call_id, seconds=self.seconds)
        user_id = await self.directory.resolve(interface)
        if user_id is not None:
            await self.notifier.publish(
                note.ToAgent.of(user_id, note.WrapUpStarted(call_id=call_id, seconds=self.seconds))
            )
        self._cancel_timer(interface)
        self.timers[interface] = asyncio.create_task(self._expire(interface, call_id))

    async def _expire(self, interface: str, call_id: str) -> None:
        await asyncio.sleep(self.seconds)
        self.timers.pop(interface, None)
        await self.end(interface, call_id, "bound reached")

    async def end(self, interface: str, call_id: str, why: str) -> None:
        """Unpause, unless the agent paused for another reason meanwhile."""
        self._cancel_timer(interface)
        self.board.end_wrap_up(interface, self._now())
        view = self.board.view(interface)
        if (
            view is None
            or view.pbx is None
            or not any(q.paused and q.paused_reason == WRAPUP_REASON for q in view.pbx.queues)
        ):
            return
        try:
            await self.link.send(actions.queue_pause(view.pbx.pbx_interface, False))
        except AmiError as exc:
            log.warning("wrapup.unpause_failed", agent=interface, call_id=call_id, error=str(exc))
            return
        log.info("wrapup.ended", agent=interface, call_id=call_id, why=why)

    def _cancel_timer(self, interface: str) -> None:
        timer = self.timers.pop(interface, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def _on_done(self, message: note.WrapUpDone) -> None:
        for interface in list(self.timers):
            if self.directory.user_for(interface) == message.user_id:
                background(
                    self.end(interface, message.call_id, "disposition sent"), what="wrapup.end"
                )
