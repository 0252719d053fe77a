"""The live agent view: every change of an agent's state (queues, pause and reason, device,
ringing / talking and the call, wrap-up) goes out as that agent's whole row, to the
supervisors' tabs and to the agent's own desktop (the desktop shows what the PBX reports, not
what was asked).

A pause longer than its reason's time limit (data dictionary) is flagged to the supervisors
once; the row carries when the pause began (so their page can show it running) and whether
it is over its limit (so a page that loads later shows the flag too)."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.clock import Clock
from crm_core.dictionary import DictionaryService
from cti.events import (
    AgentActivityChanged,
    AgentDeviceStateChanged,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentPaused,
    AgentUnpaused,
    DomainEvent,
)
from desk import notifications as note
from desk.agents import AgentBoard, AgentView
from desk.directory import AgentDirectory

log = structlog.get_logger("desk.supervision")
# A call event needs no row of its own: the frame that caused it (AgentCalled, AgentConnect,
# a Dial or Hangup of the agent's phone) also changes the agent's activity, and the board has
# taken both before this feed sees either.
AGENT_STATE_EVENTS = (
    AgentActivityChanged,
    AgentDeviceStateChanged,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentPaused,
    AgentUnpaused,
)


def agent_row(view: AgentView, *, over_limit: bool = False) -> note.AgentRow:
    return note.AgentRow(agent={**view.row(), "over_limit": over_limit})


class SupervisorFeed:
    def __init__(
        self,
        *,
        board: AgentBoard,
        notifier: note.Notifier,
        directory: AgentDirectory,
        db: async_sessionmaker,
        clock: Clock,
    ) -> None:
        self.board = board
        self.notifier = notifier
        self.directory = directory
        self.db = db
        self.clock = clock
        # Interface -> the start of the pause that was flagged (a new pause is not flagged).
        self.flagged: dict[str, float] = {}

    async def start(self) -> None:
        await self.notifier.subscribe(note.SupervisorTabOpened, self._on_supervisor_tab)
        await self.notifier.subscribe(note.AgentTabOpened, self._on_agent_tab)

    async def handle(self, event: DomainEvent) -> None:
        interfaces = self.board.drain_changed()
        if isinstance(event, AGENT_STATE_EVENTS) and event.interface not in interfaces:
            interfaces.append(event.interface)
        for interface in interfaces:
            await self.changed(interface)

    async def changed(self, interface: str) -> None:
        view = self.board.view(interface)
        message: note.BrowserMessage = (
            note.AgentGone(interface=interface)
            if view is None or view.pbx is None
            else agent_row(view, over_limit=self._over_limit(view))
        )
        await self.notifier.publish(note.ToSupervisors.of(message))
        user_id = await self.directory.resolve(interface)
        if user_id is not None:
            await self.notifier.publish(note.ToAgent.of(user_id, message))

    async def check_pauses(self) -> None:
        """Flag pauses that outlast their reason's limit (run every few seconds)."""
        waiting = [
            v for v in self.board.views() if v.paused_since is not None and not self._over_limit(v)
        ]
        if not waiting:
            return
        async with self.db() as db:
            entries = await DictionaryService(db, clock=self.clock).entries("pause_reason")
        limits = {e.code: e.attributes.get("time_limit_minutes") for e in entries}
        now = self.clock().timestamp()
        for view in waiting:
            assert view.paused_since is not None and view.pbx is not None
            paused_for = now - view.paused_since
            for reason in {q.paused_reason for q in view.pbx.queues if q.paused}:
                limit = limits.get(reason)
                if limit and paused_for > limit * 60:
                    self.flagged[view.interface] = view.paused_since
                    log.info(
                        "agent.pause_exceeded",
                        agent=view.interface,
                        reason=reason,
                        minutes=round(paused_for / 60, 1),
                    )
                    await self.notifier.publish(
                        note.ToSupervisors.of(
                            note.PauseExceeded(
                                interface=view.interface,
                                reason=reason,
                                paused_seconds=round(paused_for),
                                limit_seconds=limit * 60,
                            )
                        )
                    )
                    break

    def _over_limit(self, view: AgentView) -> bool:
        flagged = self.flagged.get(view.interface)
        if flagged is not None and flagged != view.paused_since:
            del self.flagged[view.interface]  # that pause is over
            return False
        return flagged is not None

    def _on_supervisor_tab(self, _message: note.SupervisorTabOpened) -> None:
        for view in self.board.views():
            if view.pbx is not None:
                row = agent_row(view, over_limit=self._over_limit(view))
                self.notifier.publish_soon(note.ToSupervisors.of(row))

    def _on_agent_tab(self, message: note.AgentTabOpened) -> None:
        """An agent's tab connected: it gets its own row (the state the PBX holds)."""
        for view in self.board.views():
            if view.pbx is not None and self.directory.user_for(view.interface) == (
                message.user_id
            ):
                self.notifier.publish_soon(note.ToAgent.of(message.user_id, agent_row(view)))
