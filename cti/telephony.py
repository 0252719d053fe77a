"""The PBX side assembled: AMI frames from the link go through the call and agent state
machines, and the domain events that come out are handed to every subscriber's queue.

This runs on the link's event path, so nothing here waits: subscribers (screen pops, call
records, the dialer) take events from their own queues in their own tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import structlog

from cti.agents import AgentTracker
from cti.ami.framing import Frame
from cti.ami.link import Snapshot
from cti.calls import CallTracker
from cti.events import DomainEvent, MemberWas, PbxRestarted

log = structlog.get_logger("cti.telephony")
QUEUE_LIMIT = 10_000  # domain events a subscriber may fall behind by before losing them
# Variables the dialer's calls carry on AMI events (manager.conf channelvars lists them too):
# its campaign and list entry, and the AMD() verdict that tells a machine from a person.
DIALER_CHANNEL_VARIABLES = ("CC_CAMPAIGN", "CC_LIST_ENTRY", "AMDSTATUS")


class Telephony:
    def __init__(self, *, call_variables: Iterable[str] = ()) -> None:
        self.calls = CallTracker(
            capture_variables=frozenset(call_variables) | set(DIALER_CHANNEL_VARIABLES)
        )
        self.agents = AgentTracker()
        self.connected = False
        self.domain_events = 0
        self.dropped_events = 0
        self.resynced = asyncio.Event()  # set by every resynchronisation (clear it to wait)
        self.pbx_started = ""  # the PBX's start time, as its last snapshot said
        self._observers: list[Callable[[DomainEvent], None]] = []
        self._subscribers: list[asyncio.Queue[DomainEvent]] = []

    @property
    def wanted_events(self) -> frozenset[str]:
        """Event names worth decoding at all; the link's parser drops the others unread."""
        return self.calls.handled_events | self.agents.handled_events

    def observe(self, observer: Callable[[DomainEvent], None]) -> None:
        """Called with every domain event, on the event path, before any subscriber's queue
        gets it: for pure projections that must never lag (it must be fast and not raise)."""
        self._observers.append(observer)

    def subscribe(self, limit: int = QUEUE_LIMIT) -> asyncio.Queue[DomainEvent]:
        """A queue that receives every domain event from now on. Bounded: a subscriber that
        falls ``limit`` events behind loses the newest (counted and logged), rather than the
        process its memory."""
        queue: asyncio.Queue[DomainEvent] = asyncio.Queue(limit)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[DomainEvent]) -> None:
        self._subscribers.remove(queue)

    # ---------------------------------------------------------------- LinkListener

    def on_event(self, frame: Frame, at: float) -> None:
        calls = self.calls.apply(frame, at)
        agents = self.agents.apply(frame, at)
        if calls or agents:
            self.publish(calls)
            self.publish(agents)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        at = snapshot.requested_at
        restarted = bool(self.pbx_started and snapshot.pbx_started) and (
            snapshot.pbx_started != self.pbx_started
        )
        members = self._members() if restarted else ()
        self.pbx_started = snapshot.pbx_started or self.pbx_started
        self.publish(self.calls.reconcile(snapshot.channels, at, vanished_by=snapshot.gap_began))
        self.publish(self.agents.reconcile(snapshot.queue_status, at))
        if restarted:
            log.warning("cti.pbx_restarted", started=snapshot.pbx_started, members=len(members))
            self.publish([PbxRestarted(members=members, at=at)])
        self.resynced.set()

    def _members(self) -> tuple[MemberWas, ...]:
        return tuple(
            MemberWas(
                pbx_interface=agent.pbx_interface,
                member_name=agent.member_name,
                state_interface=agent.state_interface,
                queues=tuple((q.queue, q.paused, q.paused_reason) for q in agent.queues),
            )
            for agent in self.agents.agents()
            if agent.queues
        )

    def on_link_state(self, connected: bool, error: str | None) -> None:
        self.connected = connected
        log.info("cti.link_state", connected=connected, error=error)

    def publish(self, events: list[DomainEvent]) -> None:
        """Hand events to the observers and subscribers (also events inferred elsewhere, e.g.
        calls that ended while no instance drove the link)."""
        for event in events:
            self.domain_events += 1
            for observer in self._observers:
                observer(event)
            for queue in self._subscribers:
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    self.dropped_events += 1
                    log.error(
                        "cti.subscriber_behind",
                        dropped=self.dropped_events,
                        event_type=type(event).__name__,
                    )
