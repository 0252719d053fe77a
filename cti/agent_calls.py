"""Which call each agent's phone is on, and through which channel: what the desktop's call
controls (hang up, transfer) act on. Pure: fed with domain events, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from cti.events import (
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    DomainEvent,
    OriginateFailed,
)


@dataclass(frozen=True, slots=True)
class AgentCall:
    linked_id: str
    state: str  # dialling (click-to-call placed), ringing, talking
    device_channel: str  # "" until the PBX named the agent's channel
    queue: str
    since: float


class AgentCalls:
    def __init__(self) -> None:
        self._by_agent: dict[str, AgentCall] = {}

    def current(self, interface: str) -> AgentCall | None:
        return self._by_agent.get(interface)

    def dialling(self, interface: str, linked_id: str, at: float) -> None:
        """The agent placed a click-to-call: its channel is not named yet."""
        self._by_agent[interface] = AgentCall(linked_id, "dialling", "", "", at)

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, CallOffered):
            held = self._by_agent.get(event.agent_interface)
            if held is None or held.state != "talking":
                self._by_agent[event.agent_interface] = AgentCall(
                    event.linked_id, "ringing", event.device_channel, event.queue, event.at)
        elif isinstance(event, CallOfferWithdrawn):
            # A ring that stopped, or a consultation cancelled after it was answered.
            held = self._by_agent.get(event.agent_interface)
            if held and held.device_channel == event.device_channel:
                del self._by_agent[event.agent_interface]
        elif isinstance(event, CallAnswered):
            held = self._by_agent.get(event.agent_interface)
            since = held.since if held and held.linked_id == event.linked_id else event.at
            self._by_agent[event.agent_interface] = AgentCall(
                event.linked_id, "talking", event.device_channel, event.queue, since)
        elif isinstance(event, CallTransferred):
            held = self._by_agent.get(event.agent_interface)
            if held and held.linked_id == event.linked_id:
                del self._by_agent[event.agent_interface]
        elif isinstance(event, CallEnded | OriginateFailed):
            # OriginateFailed: a click-to-call that never got a channel (its linked_id would
            # have been our ChannelId).
            ended = event.linked_id if isinstance(event, CallEnded) else event.uniqueid
            for interface, held in list(self._by_agent.items()):
                if held.linked_id == ended:
                    del self._by_agent[interface]

    def forget(self, interface: str, linked_id: str) -> None:
        """A click-to-call the PBX refused: it never began."""
        held = self._by_agent.get(interface)
        if held is not None and held.linked_id == linked_id:
            del self._by_agent[interface]
