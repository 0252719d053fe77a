"""The one agent projection: for each agent's phone, what the PBX says (queues, pauses, device,
from cti.agents.AgentTracker) together with what the desk adds: the call the phone is on and
through which channel, the offers ringing on it, when the current pause began, the wrap-up in
progress, and since when the agent has been in their present status.

Pops, call controls, wrap-up, the supervisors' board and the dialer all read this one object,
so "who is free, since when" has one answer. Pure: fed with domain events and the time, no
I/O; the runtime applies every event to it before any consumer sees that event."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from cti.agents import AgentSnapshot, AgentTracker
from cti.calls import CallTracker
from cti.devices import extension_of, is_channel_of, member_key
from cti.events import (
    AgentEvent,
    AgentLegEnded,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    DomainEvent,
    OriginateFailed,
)

WRAPUP_REASON = "wrap-up"  # the pause reason the desk uses while an agent wraps up


class Status(StrEnum):
    LOGGED_OUT = "logged_out"  # in no queue
    READY = "ready"  # in a queue, unpaused, no call
    PAUSED = "paused"  # paused by the agent (a reason of their own)
    WRAP_UP = "wrap_up"  # paused by the desk after a call, until the disposition
    DIALLING = "dialling"  # a click-to-call or a dialer call placed for the agent
    RINGING = "ringing"
    TALKING = "talking"


@dataclass(frozen=True, slots=True)
class AgentCall:
    """The call an agent's phone is on."""

    linked_id: str
    state: str  # dialling (placed, no channel yet), ringing, talking
    device_channel: str  # "" until the PBX named the agent's channel
    queue: str
    since: float
    pop: dict[str, Any] | None = None  # the screen pop shown for it, for a tab that reconnects


@dataclass(frozen=True, slots=True)
class Offer:
    """A call ringing on the agent's phone (one per ringing device channel)."""

    linked_id: str
    device_channel: str
    queue: str
    at: float
    pop: dict[str, Any] | None = None  # the screen pop shown for it, sent again on reconnect


@dataclass(frozen=True, slots=True)
class WrapUp:
    call_id: str
    since: float
    until: float


@dataclass(frozen=True, slots=True)
class AgentView:
    interface: str
    extension: str
    pbx: AgentSnapshot | None  # None: the PBX knows no queue membership for this phone
    call: AgentCall | None
    offers: tuple[Offer, ...]
    paused_since: float | None
    wrap_up: WrapUp | None
    status: Status
    status_since: float

    def row(self) -> dict[str, Any]:
        """The supervisors' and the agent's own live row."""
        pbx = (
            asdict(self.pbx)
            if self.pbx is not None
            else {
                "interface": self.interface,
                "member_name": "",
                "state_interface": "",
                "device_state": "",
                "activity": "idle",
                "linked_id": "",
                "queues": [],
            }
        )
        pbx["activity"] = str(pbx["activity"])
        return {
            **pbx,
            "extension": self.extension,
            "status": str(self.status),
            "status_since": self.status_since,
            "paused_since": self.paused_since,
            "call": _call_row(self.call),
            "wrap_up": asdict(self.wrap_up) if self.wrap_up else None,
            "wrap_up_until": self.wrap_up.until if self.wrap_up else None,
        }


def _call_row(call: AgentCall | None) -> dict[str, Any] | None:
    if call is None:
        return None
    caller = (call.pop or {}).get("caller") or {}
    return {  # not the pop: a supervisor's row carries no customer card
        "linked_id": call.linked_id,
        "caller": "withheld" if caller.get("withheld") else caller.get("number", ""),
        "state": call.state,
        "device_channel": call.device_channel,
        "queue": call.queue,
        "since": call.since,
    }


class _Agent:
    __slots__ = (
        "call",
        "offers",
        "pause_reasons",
        "paused_since",
        "status",
        "status_since",
        "wrap_up",
    )

    def __init__(self, now: float) -> None:
        self.call: AgentCall | None = None
        self.offers: dict[str, Offer] = {}  # device channel -> offer
        self.paused_since: float | None = None
        self.pause_reasons: frozenset[str] = frozenset()  # of the pause that began then
        self.wrap_up: WrapUp | None = None
        self.status = Status.LOGGED_OUT
        self.status_since = now


class AgentBoard:
    """Reads the PBX's agent and call state machines (pure objects, owned by cti.Telephony)
    and keeps the rest itself."""

    def __init__(self, agents: AgentTracker, calls: CallTracker) -> None:
        self._pbx = agents
        self._calls = calls
        self._agents: dict[str, _Agent] = {}
        self._changed: set[str] = set()  # agents whose status changed since the last drain

    # ------------------------------------------------------------ reading

    def view(self, interface: str) -> AgentView | None:
        interface = member_key(interface)  # the phone, whatever options it was named with
        agent = self._agents.get(interface)
        pbx = self._pbx.agent(interface)
        if agent is None and pbx is None:
            return None
        if agent is None:
            agent = _Agent(0.0)
        return AgentView(
            interface=interface,
            extension=extension_of(interface),
            pbx=pbx,
            call=agent.call,
            offers=tuple(agent.offers.values()),
            paused_since=agent.paused_since,
            wrap_up=agent.wrap_up,
            status=_status(pbx, agent),
            status_since=agent.status_since,
        )

    def views(self) -> list[AgentView]:
        interfaces = {s.interface for s in self._pbx.agents()} | set(self._agents)
        return [v for i in sorted(interfaces) if (v := self.view(i)) is not None]

    def free(self, queue: str | None = None) -> list[AgentView]:
        """Agents ready for a call now (in ``queue`` if given), longest idle first."""
        ready = [
            v
            for v in self.views()
            if v.status is Status.READY
            and v.pbx is not None
            and (queue is None or any(q.queue == queue for q in v.pbx.queues))
        ]
        return sorted(ready, key=lambda v: v.status_since)

    def call_of(self, interface: str) -> AgentCall | None:
        """The agent's current call, with its channel once the PBX has named it (a
        click-to-call's agent leg is named only after the Originate was sent)."""
        interface = member_key(interface)  # the phone, whatever options it was named with
        agent = self._agents.get(interface)
        call = agent.call if agent else None
        if call is None or call.device_channel:
            return call
        for open_call in self._calls.open_calls():
            if open_call.linked_id == call.linked_id:
                mine = [c for c in open_call.channels if is_channel_of(c, interface)]
                if mine:
                    return replace(call, device_channel=mine[0])
        return call

    def interfaces(self) -> Iterable[str]:
        return list(self._agents)

    def drain_changed(self) -> list[str]:
        """Agents whose status changed since the last call (a click-to-call answered changes
        it with no agent event from the PBX): their rows are due to be sent again."""
        changed, self._changed = sorted(self._changed), set()
        return changed

    # ------------------------------------------------------------ changing

    def apply(self, event: DomainEvent, now: float) -> None:
        """Bring the board in line with one domain event (the state machines have already
        taken the AMI frame that caused it)."""
        touched: Iterable[str] = ()
        if isinstance(event, CallOffered):
            touched = (event.agent_interface,)
            agent = self._agent(event.agent_interface, now)
            agent.offers[event.device_channel] = Offer(
                event.linked_id, event.device_channel, event.queue, event.at
            )
            if agent.call is None or agent.call.state != "talking":
                agent.call = AgentCall(
                    event.linked_id, "ringing", event.device_channel, event.queue, event.at
                )
        elif isinstance(event, CallOfferWithdrawn):
            # A ring that stopped, or a consultation cancelled after it was answered.
            touched = (event.agent_interface,)
            agent = self._agent(event.agent_interface, now)
            agent.offers.pop(event.device_channel, None)
            if agent.call and agent.call.device_channel == event.device_channel:
                agent.call = None
        elif isinstance(event, CallAnswered):
            touched = (event.agent_interface,)
            agent = self._agent(event.agent_interface, now)
            offer = agent.offers.pop(event.device_channel, None)
            held = agent.call
            same = held is not None and held.linked_id == event.linked_id
            since = held.since if held and same else event.at
            pop = offer.pop if offer else held.pop if held and same else None
            agent.call = AgentCall(
                event.linked_id, "talking", event.device_channel, event.queue, since, pop
            )
        elif isinstance(event, CallTransferred | AgentLegEnded):
            # The agent's part of the call is over; the call may go on with others.
            touched = (event.agent_interface,)
            agent = self._agent(event.agent_interface, now)
            if agent.call and agent.call.linked_id == event.linked_id:
                agent.call = None
        elif isinstance(event, CallEnded | OriginateFailed):
            # OriginateFailed: a click-to-call that never got a channel (its linked_id would
            # have been our ChannelId).
            ended = event.linked_id if isinstance(event, CallEnded) else event.uniqueid
            touched = []
            for interface, agent in self._agents.items():
                if agent.call and agent.call.linked_id == ended:
                    agent.call = None
                    touched.append(interface)
                for device, offer in list(agent.offers.items()):
                    if offer.linked_id == ended:
                        del agent.offers[device]
        elif isinstance(event, AgentEvent):
            touched = (event.interface,)
            self._agent(event.interface, now)
        self._settle(touched, now)

    def dialling(self, interface: str, linked_id: str, now: float) -> None:
        """A call was placed for the agent: its channel is not named yet."""
        interface = member_key(interface)  # the phone, whatever options it was named with
        self._agent(interface, now).call = AgentCall(linked_id, "dialling", "", "", now)
        self._settle((interface,), now)

    def forget_call(self, interface: str, linked_id: str, now: float) -> None:
        """A placed call the PBX refused: it never began."""
        interface = member_key(interface)  # the phone, whatever options it was named with
        agent = self._agents.get(interface)
        if agent is not None and agent.call and agent.call.linked_id == linked_id:
            agent.call = None
        self._settle((interface,), now)

    def set_pop(self, interface: str, device_channel: str, pop: dict[str, Any]) -> bool:
        """Keep the pop shown for a ringing offer; False when that offer rings no more."""
        interface = member_key(interface)  # the phone, whatever options it was named with
        agent = self._agents.get(interface)
        offer = agent.offers.get(device_channel) if agent else None
        if agent is None or offer is None:
            return False
        agent.offers[device_channel] = replace(offer, pop=pop)
        if agent.call is not None and agent.call.device_channel == device_channel:
            agent.call = replace(agent.call, pop=pop)
        return True

    def update_pops(
        self, call_id: str, change: Callable[[str, dict[str, Any]], dict[str, Any]]
    ) -> None:
        """Change the pops kept for a call (ringing offers and the call itself); ``change``
        gets the agent's interface and the pop."""
        for interface, agent in self._agents.items():
            for device, offer in list(agent.offers.items()):
                if offer.linked_id == call_id and offer.pop is not None:
                    agent.offers[device] = replace(offer, pop=change(interface, offer.pop))
            call = agent.call
            if call is not None and call.linked_id == call_id and call.pop is not None:
                agent.call = replace(call, pop=change(interface, call.pop))

    def begin_wrap_up(self, interface: str, call_id: str, now: float, seconds: float) -> None:
        interface = member_key(interface)  # the phone, whatever options it was named with
        self._agent(interface, now).wrap_up = WrapUp(call_id, now, now + seconds)
        self._settle((interface,), now)

    def end_wrap_up(self, interface: str, now: float) -> WrapUp | None:
        interface = member_key(interface)  # the phone, whatever options it was named with
        agent = self._agents.get(interface)
        if agent is None:
            return None
        ended, agent.wrap_up = agent.wrap_up, None
        self._settle((interface,), now)
        return ended

    # ------------------------------------------------------------ inside

    def _agent(self, interface: str, now: float) -> _Agent:
        agent = self._agents.get(interface)
        if agent is None:
            agent = self._agents[interface] = _Agent(now)
        return agent

    def _settle(self, interfaces: Iterable[str], now: float) -> None:
        """Status and pause times follow from the state; note when each changed."""
        for interface in interfaces:
            agent = self._agents.get(interface)
            if agent is None:
                continue
            pbx = self._pbx.agent(interface)
            reasons = frozenset(q.paused_reason for q in pbx.queues if q.paused) if pbx else None
            if not reasons:
                agent.paused_since, agent.pause_reasons = None, frozenset()
            elif agent.paused_since is None or reasons != agent.pause_reasons:
                # A new reason is a new pause: a break chosen during the wrap-up is timed
                # from when it was chosen, not from the call's end.
                agent.paused_since, agent.pause_reasons = now, reasons
            status = _status(pbx, agent)
            if status is not agent.status:
                agent.status, agent.status_since = status, now
                self._changed.add(interface)
            if pbx is None and agent.call is None and not agent.offers and agent.wrap_up is None:
                del self._agents[interface]  # out of every queue and idle: nothing to keep


def _status(pbx: AgentSnapshot | None, agent: _Agent) -> Status:
    if agent.call is not None:
        return {"dialling": Status.DIALLING, "ringing": Status.RINGING}.get(
            agent.call.state, Status.TALKING
        )
    if pbx is None or not pbx.queues:
        return Status.LOGGED_OUT
    reasons = {q.paused_reason for q in pbx.queues if q.paused}
    if agent.wrap_up is not None or reasons == {WRAPUP_REASON}:
        return Status.WRAP_UP
    if reasons:
        return Status.PAUSED
    return Status.READY
