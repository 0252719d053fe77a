"""The PBX side assembled: AMI frames from the link go through the call and agent state
machines, and the domain events that come out are handed to every subscriber's queue.

This runs on the link's event path, so nothing here waits: subscribers (screen pops, call
records, the dialer) take events from their own queues in their own tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog

from cti.agents import AgentTracker
from cti.ami.framing import Frame
from cti.ami.link import Snapshot
from cti.calls import CallTracker
from cti.events import DomainEvent

log = structlog.get_logger("cti.telephony")


class Telephony:
    def __init__(self, *, call_variables: Iterable[str] = ()) -> None:
        self.calls = CallTracker(capture_variables=frozenset(call_variables))
        self.agents = AgentTracker()
        self.connected = False
        self.domain_events = 0
        self._subscribers: list[asyncio.Queue[DomainEvent]] = []

    @property
    def wanted_events(self) -> frozenset[str]:
        """Event names worth decoding at all; the link's parser drops the others unread."""
        return self.calls.handled_events | self.agents.handled_events

    def subscribe(self) -> asyncio.Queue[DomainEvent]:
        """A queue that receives every domain event from now on."""
        queue: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[DomainEvent]) -> None:
        self._subscribers.remove(queue)

    # ---------------------------------------------------------------- LinkListener

    def on_event(self, frame: Frame, at: float) -> None:
        calls = self.calls.apply(frame, at)
        agents = self.agents.apply(frame, at)
        if calls or agents:
            self._publish(calls)
            self._publish(agents)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        at = snapshot.requested_at
        self._publish(self.calls.reconcile(snapshot.channels, at))
        self._publish(self.agents.reconcile(snapshot.queue_status, at))

    def on_link_state(self, connected: bool, error: str | None) -> None:
        self.connected = connected
        log.info("cti.link_state", connected=connected, error=error)

    def _publish(self, events: list[DomainEvent]) -> None:
        for event in events:
            self.domain_events += 1
            for queue in self._subscribers:
                queue.put_nowait(event)
