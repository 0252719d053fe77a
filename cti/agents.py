"""The agent-state machine: queue membership, pause, device state and queue-call activity.

Pure logic, like ``cti.calls``: AMI frames and their receive time in, domain events out.

An agent is a queue member interface (``PJSIP/1001``, ``Local/1001@agents``); it may sit in
several queues (paused per queue) and has one device state, that of its StateInterface
(``Custom:agent1001``, or the interface itself). Device state comes from ``DeviceStateChange``
of that device and from the numeric ``Status`` of ``QueueMemberStatus`` / ``QueueMember``; both
report the same thing, so a change is reported once.

Idempotence is by state: an event is emitted only when a frame changes what we hold (a member
joins, a pause flag or reason changes, a device state changes), so a frame applied twice in a row
yields nothing the second time. Agent frames carry no per-occurrence id (the same
``DeviceStateChange`` recurs all day), so unlike calls there is no seen-set: a stale frame
replayed much later is applied as news.

Activity (ringing, talking, idle) comes from the queue's events (AgentCalled, AgentConnect,
AgentComplete, AgentRingNoAnswer) and, for a member's phone rung by Dial() instead (a transfer
to its extension, an attended transfer's consultation), from DialBegin / DialEnd and the Hangup
of the rung channel. An idle device state also ends any ringing or talking.

Members we did not know (we connected after their QueueAdd) are learnt from any frame that
describes them (QueueMemberStatus, QueueMemberPause, QueueMember) and reported with
``AgentJoinedQueue``, which is what ``reconcile`` does with a QueueStatus listing too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from cti.ami.framing import Frame
from cti.devices import interface_of, member_key
from cti.events import (
    Activity,
    AgentActivityChanged,
    AgentDeviceStateChanged,
    AgentEvent,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentPaused,
    AgentUnpaused,
)

# The AMI events the agent-state machine reacts to, each with its handler.
_HANDLERS: Final[dict[str, str]] = {
    "QueueMemberAdded": "_on_member_described",
    "QueueMemberStatus": "_on_member_described",
    "QueueMemberPause": "_on_member_described",
    "QueueMember": "_on_member_described",  # an item of a QueueStatus listing
    "QueueMemberRemoved": "_on_member_removed",
    "DeviceStateChange": "_on_device_state_change",
    "AgentCalled": "_on_agent_called",
    "AgentConnect": "_on_agent_connect",
    "AgentComplete": "_on_agent_complete",
    "AgentRingNoAnswer": "_on_agent_ring_no_answer",
    # An agent's phone rung by Dial() rather than by a queue: a transfer or a consultation.
    "DialBegin": "_on_dial_begin",
    "DialEnd": "_on_dial_end",
    "Hangup": "_on_hangup",
}
# Phones rung by a queue (AgentCalled) and by Dial(), remembered until they hang up: bounded,
# in case a Hangup is missed while the link is down.
_MAX_QUEUE_RINGS: Final = 10_000
_MAX_DIALLED: Final = 10_000

# ast_device_state numbers, as QueueMember* Status reports them.
_DEVICE_STATES: Final[dict[str, str]] = {
    "0": "UNKNOWN",
    "1": "NOT_INUSE",
    "2": "INUSE",
    "3": "BUSY",
    "4": "INVALID",
    "5": "UNAVAILABLE",
    "6": "RINGING",
    "7": "RINGINUSE",
    "8": "ONHOLD",
}
IDLE_DEVICE_STATE: Final = "NOT_INUSE"


@dataclass(frozen=True, slots=True)
class QueueMembership:
    queue: str
    paused: bool
    paused_reason: str


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    interface: str
    member_name: str
    state_interface: str
    device_state: str
    activity: Activity
    linked_id: str  # the queue call being rung or talked to, "" when idle
    queues: tuple[QueueMembership, ...]
    # The member as the PBX spells it (``Local/1001@agents/n``): what actions must name.
    # ``interface`` is the phone as its channels name it (cti.devices.member_key).
    pbx_interface: str


class _Membership:
    __slots__ = ("paused", "paused_reason")

    def __init__(self, paused: bool, paused_reason: str) -> None:
        self.paused = paused
        self.paused_reason = paused_reason


class _Agent:
    __slots__ = (
        "activity",
        "device_state",
        "interface",
        "linked_id",
        "member_name",
        "pbx_interface",
        "queues",
        "state_interface",
    )

    def __init__(self, interface: str, member_name: str, state_interface: str, state: str) -> None:
        self.interface = interface
        self.pbx_interface = interface
        self.member_name = member_name
        self.state_interface = state_interface
        self.device_state = state
        self.activity = Activity.IDLE
        self.linked_id = ""
        self.queues: dict[str, _Membership] = {}


Handler = Callable[[Frame, float], list[AgentEvent]]


class AgentTracker:
    """Queue members and their states, fed with every AMI frame of one PBX."""

    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}
        self._by_device: dict[str, set[str]] = {}  # state interface -> member interfaces
        # Dialled channel uniqueid -> (agent interface, call): agents' phones rung by Dial().
        self._dialled: dict[str, tuple[str, str]] = {}
        self._queue_rings: dict[str, str] = {}  # AgentCalled DestUniqueid -> member interface
        self._dispatch: dict[str, Handler] = {
            name: getattr(self, method) for name, method in _HANDLERS.items()
        }

    # ------------------------------------------------------------ public API

    def apply(self, frame: Frame, at: float) -> list[AgentEvent]:
        """The domain events this AMI frame causes (usually none). Never raises on odd input."""
        handler = self._dispatch.get(frame.name)
        if handler is None:
            return []
        return handler(frame, at)

    def reconcile(self, queue_status_items: Iterable[Frame], at: float) -> list[AgentEvent]:
        """Bring the state in line with a QueueStatus listing taken after a reconnect.

        Every queue with a ``QueueParams`` item is taken as fully listed: its members are
        learnt or updated (joined, paused, device state) and members we hold in it that are
        not listed have left. Pass the items of an unfiltered QueueStatus (a ``Queue:`` filter
        is fine; a ``Member:`` filter is not, it would make the others look gone).
        """
        listed_queues: set[str] = set()
        listed_members: set[tuple[str, str]] = set()
        events: list[AgentEvent] = []
        for frame in queue_status_items:
            if frame.name == "QueueParams":
                listed_queues.add(frame.get("Queue") or "")
            elif frame.name == "QueueMember":
                listed_members.add((_interface(frame), frame.get("Queue") or ""))
                events += self._on_member_described(frame, at)
        for agent in list(self._agents.values()):
            for queue in list(agent.queues):
                if queue in listed_queues and (agent.interface, queue) not in listed_members:
                    events += self._leave(agent, queue, at)
        return events

    @property
    def handled_events(self) -> frozenset[str]:
        """The AMI event names this tracker reacts to (the link drops the rest unread)."""
        return frozenset(self._dispatch)

    def agents(self) -> list[AgentSnapshot]:
        return [_snapshot(agent) for agent in self._agents.values()]

    def agent(self, interface: str) -> AgentSnapshot | None:
        agent = self._agents.get(member_key(interface))
        return None if agent is None else _snapshot(agent)

    def available(self, queue: str) -> list[str]:
        """Interfaces that a call in ``queue`` could ring now: unpaused, idle device, no call."""
        return [
            agent.interface
            for agent in self._agents.values()
            if (membership := agent.queues.get(queue)) is not None
            and not membership.paused
            and agent.device_state == IDLE_DEVICE_STATE
            and agent.activity is Activity.IDLE
        ]

    # ------------------------------------------------------------ membership

    def _on_member_described(self, frame: Frame, at: float) -> list[AgentEvent]:
        get = frame.get
        interface = _interface(frame)
        queue = get("Queue") or ""
        if not interface or not queue:
            return []
        paused = get("Paused") == "1"
        reason = (get("PausedReason") or "") if paused else ""
        state = _DEVICE_STATES.get(get("Status") or "", "")
        agent = self._agents.get(interface)
        if agent is None:
            agent = self._add_agent(frame, interface, state or "UNKNOWN")
        else:
            self._follow_device(agent, get("StateInterface") or agent.state_interface)
        events: list[AgentEvent] = []
        membership = agent.queues.get(queue)
        if membership is None:
            agent.queues[queue] = _Membership(paused, reason)
            events.append(self._joined(agent, queue, paused, reason, at))
        elif membership.paused != paused or membership.paused_reason != reason:
            membership.paused = paused
            membership.paused_reason = reason
            if paused:
                events.append(AgentPaused(interface=interface, queue=queue, reason=reason, at=at))
            else:
                events.append(AgentUnpaused(interface=interface, queue=queue, at=at))
        if state:
            events += self._set_device_state(agent, state, at)
        return events

    def _on_member_removed(self, frame: Frame, at: float) -> list[AgentEvent]:
        agent = self._agents.get(_interface(frame))
        queue = frame.get("Queue") or ""
        if agent is None or queue not in agent.queues:
            return []
        return self._leave(agent, queue, at)

    def _add_agent(self, frame: Frame, interface: str, state: str) -> _Agent:
        get = frame.get
        member_name = get("MemberName") or get("Name") or ""
        spelt = _pbx_interface(frame)
        state_interface = get("StateInterface") or spelt
        agent = self._agents[interface] = _Agent(interface, member_name, state_interface, state)
        agent.pbx_interface = spelt
        self._by_device.setdefault(state_interface, set()).add(interface)
        return agent

    def _follow_device(self, agent: _Agent, state_interface: str) -> None:
        if state_interface == agent.state_interface:
            return
        self._forget_device(agent)
        agent.state_interface = state_interface
        self._by_device.setdefault(state_interface, set()).add(agent.interface)

    def _forget_device(self, agent: _Agent) -> None:
        interfaces = self._by_device.get(agent.state_interface)
        if interfaces is not None:
            interfaces.discard(agent.interface)
            if not interfaces:
                del self._by_device[agent.state_interface]

    def _leave(self, agent: _Agent, queue: str, at: float) -> list[AgentEvent]:
        del agent.queues[queue]
        if not agent.queues:  # in no queue any more: forget the agent (bounded memory)
            self._forget_device(agent)
            del self._agents[agent.interface]
        return [AgentLeftQueue(interface=agent.interface, queue=queue, at=at)]

    @staticmethod
    def _joined(
        agent: _Agent, queue: str, paused: bool, reason: str, at: float
    ) -> AgentJoinedQueue:
        return AgentJoinedQueue(
            interface=agent.interface,
            queue=queue,
            member_name=agent.member_name,
            state_interface=agent.state_interface,
            paused=paused,
            paused_reason=reason,
            device_state=agent.device_state,
            at=at,
        )

    # ------------------------------------------------------------ device state

    def _on_device_state_change(self, frame: Frame, at: float) -> list[AgentEvent]:
        interfaces = self._by_device.get(frame.get("Device") or "")
        if not interfaces:
            return []  # not an agent's device (queues, callers, trunks...)
        state = frame.get("State") or "UNKNOWN"
        events: list[AgentEvent] = []
        for interface in sorted(interfaces):
            events += self._set_device_state(self._agents[interface], state, at)
        return events

    def _set_device_state(self, agent: _Agent, state: str, at: float) -> list[AgentEvent]:
        if state == agent.device_state:
            return []
        agent.device_state = state
        events: list[AgentEvent] = [
            AgentDeviceStateChanged(
                interface=agent.interface,
                state_interface=agent.state_interface,
                state=state,
                at=at,
            )
        ]
        # An idle phone is not ringing or talking, whatever queue events we missed
        # (ring-all: a call answered elsewhere sends this agent no AgentRingNoAnswer).
        if state == IDLE_DEVICE_STATE:
            events += self._set_activity(agent, Activity.IDLE, "", at)
        return events

    # ------------------------------------------------------------ activity

    def _on_agent_called(self, frame: Frame, at: float) -> list[AgentEvent]:
        dest, interface = frame.get("DestUniqueid"), member_key(frame.get("Interface") or "")
        if dest and interface:
            self._queue_rings[dest] = interface
            if len(self._queue_rings) > _MAX_QUEUE_RINGS:
                del self._queue_rings[next(iter(self._queue_rings))]
        agent, linked_id = self._agent_and_call(frame)
        if agent is None or (agent.linked_id == linked_id and agent.activity is not Activity.IDLE):
            return []  # already ringing with it, or already talking on it (stale ring)
        return self._set_activity(agent, Activity.RINGING, linked_id, at)

    def _on_agent_connect(self, frame: Frame, at: float) -> list[AgentEvent]:
        agent, linked_id = self._agent_and_call(frame)
        if agent is None:
            return []
        return self._set_activity(agent, Activity.TALKING, linked_id, at)

    def _on_agent_complete(self, frame: Frame, at: float) -> list[AgentEvent]:
        agent, linked_id = self._agent_and_call(frame)
        if agent is None or agent.linked_id != linked_id:
            return []  # about a call the agent is no longer on
        return self._set_activity(agent, Activity.IDLE, "", at)

    def _on_agent_ring_no_answer(self, frame: Frame, at: float) -> list[AgentEvent]:
        agent, linked_id = self._agent_and_call(frame)
        if agent is None or agent.linked_id != linked_id or agent.activity is not Activity.RINGING:
            return []
        return self._set_activity(agent, Activity.IDLE, "", at)

    def _on_dial_begin(self, frame: Frame, at: float) -> list[AgentEvent]:
        get = frame.get
        dest, linked_id = get("DestUniqueid") or "", get("Linkedid") or ""
        if dest in self._queue_rings:
            return []  # AgentCalled reported this ring
        if not get("Uniqueid") or not linked_id:
            return []  # an Originate's own leg (click-to-call rings the agent with no call yet)
        agent = self._agents.get(interface_of(get("DestChannel") or ""))
        if agent is None or (agent.activity is Activity.TALKING and agent.linked_id != linked_id):
            return []  # not an agent, or one talking on another call (ringinuse)
        self._dialled[dest] = (agent.interface, linked_id)
        if len(self._dialled) > _MAX_DIALLED:  # a Hangup missed while the link was down
            del self._dialled[next(iter(self._dialled))]
        return self._set_activity(agent, Activity.RINGING, linked_id, at)

    def _on_dial_end(self, frame: Frame, at: float) -> list[AgentEvent]:
        dest, status = frame.get("DestUniqueid") or "", frame.get("DialStatus")
        dialled = self._dialled.get(dest)
        if dialled is not None:
            interface, linked_id = dialled
            if status != "ANSWER":
                del self._dialled[dest]
        else:
            # A queue ring that ended unanswered: the phone may never have shown RINGING
            # (cancelled at once), so its device state cannot be relied on to end it.
            interface = self._queue_rings.get(dest) or ""
            linked_id = frame.get("Linkedid") or ""
            if not interface or status == "ANSWER":
                return []  # AgentConnect tells the answer
        agent = self._agents.get(interface)
        if agent is None or agent.linked_id != linked_id or agent.activity is not Activity.RINGING:
            return []
        if status == "ANSWER":
            return self._set_activity(agent, Activity.TALKING, linked_id, at)
        return self._set_activity(agent, Activity.IDLE, "", at)

    def _on_hangup(self, frame: Frame, at: float) -> list[AgentEvent]:
        uniqueid = frame.get("Uniqueid") or ""
        self._queue_rings.pop(uniqueid, None)
        found = self._dialled.pop(uniqueid, None)
        if found is None:
            return []
        agent = self._agents.get(found[0])
        if agent is None or agent.linked_id != found[1]:
            return []  # the agent has moved on to another call
        return self._set_activity(agent, Activity.IDLE, "", at)

    def _agent_and_call(self, frame: Frame) -> tuple[_Agent | None, str]:
        linked_id = frame.get("Linkedid") or ""
        agent = self._agents.get(_interface(frame))
        return (agent, linked_id) if linked_id else (None, "")

    @staticmethod
    def _set_activity(
        agent: _Agent, activity: Activity, linked_id: str, at: float
    ) -> list[AgentEvent]:
        if agent.activity is activity and agent.linked_id == linked_id:
            return []
        agent.activity = activity
        agent.linked_id = linked_id
        return [
            AgentActivityChanged(
                interface=agent.interface, activity=activity, linked_id=linked_id, at=at
            )
        ]


def _pbx_interface(frame: Frame) -> str:
    """Member interface: ``Interface`` in QueueMember* events, ``Location`` in QueueMember."""
    return frame.get("Interface") or frame.get("Location") or ""


def _interface(frame: Frame) -> str:
    """The member's phone, as its channels name it."""
    return member_key(_pbx_interface(frame))


def _snapshot(agent: _Agent) -> AgentSnapshot:
    return AgentSnapshot(
        interface=agent.interface,
        member_name=agent.member_name,
        state_interface=agent.state_interface,
        device_state=agent.device_state,
        activity=agent.activity,
        linked_id=agent.linked_id,
        queues=tuple(
            QueueMembership(queue, membership.paused, membership.paused_reason)
            for queue, membership in sorted(agent.queues.items())
        ),
        pbx_interface=agent.pbx_interface,
    )
