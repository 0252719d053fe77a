"""After a PBX restart the agents are put back in their queues as they were (ready, or paused
with their reason): Asterisk forgets dynamic members when it restarts (unless
``persistentmembers``), and the agents should not have to notice. Each is told on their desk.
Runs where the link is driven."""

from __future__ import annotations

import structlog

from cti.agents import AgentTracker
from cti.ami import actions
from cti.ami.errors import AmiError
from cti.ami.link import AmiLink
from cti.events import DomainEvent, MemberWas, PbxRestarted
from desk import notifications as note
from desk.directory import AgentDirectory

log = structlog.get_logger("desk.restore")


class MemberRestorer:
    def __init__(
        self,
        *,
        link: AmiLink,
        agents: AgentTracker,
        notifier: note.Notifier,
        directory: AgentDirectory,
    ) -> None:
        self.link = link
        self.agents = agents
        self.notifier = notifier
        self.directory = directory

    async def handle(self, event: DomainEvent) -> None:
        if isinstance(event, PbxRestarted):
            for member in event.members:
                await self._restore(member)

    async def _restore(self, member: MemberWas) -> None:
        present = self.agents.agent(member.pbx_interface)
        known = {q.queue for q in present.queues} if present else set()
        restored: list[str] = []
        for queue, paused, reason in member.queues:
            if queue in known:
                continue  # the PBX kept it (persistentmembers = yes)
            try:
                await self.link.send(
                    actions.queue_add(
                        queue,
                        member.pbx_interface,
                        member_name=member.member_name or None,
                        state_interface=member.state_interface or None,
                        paused=paused,
                        reason=reason or None,
                    )
                )
            except AmiError as exc:
                log.warning(
                    "agent.restore_failed", agent=member.pbx_interface, queue=queue, error=str(exc)
                )
                continue
            restored.append(queue)
        if not restored:
            return
        log.info("agent.restored", agent=member.pbx_interface, queues=restored)
        user_id = await self.directory.resolve(member.pbx_interface)
        if user_id is not None:
            await self.notifier.publish(
                note.ToAgent.of(user_id, note.QueuesRestored(queues=restored))
            )
