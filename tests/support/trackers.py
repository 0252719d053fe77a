"""Recorded frames fed through the call and agent state machines, resyncs included."""

from __future__ import annotations

from collections.abc import Iterable

from cti.agents import AgentTracker
from cti.ami.framing import Frame
from cti.calls import CallTracker
from cti.events import AgentEvent, CallEvent
from tests.support.traces import Received

# The ActionID of the QueueStatus trace 09 sends after reconnecting.
AGENT_RESYNC_ACTION = "resync-queuestatus"


def replay_calls(
    frames: Iterable[Received], tracker: CallTracker | None = None, *, resync: bool = True
) -> list[CallEvent]:
    """Apply the frames; a CoreShowChannels listing is handed to ``reconcile`` when complete."""
    tracker = tracker if tracker is not None else CallTracker()
    events: list[CallEvent] = []
    listing: list[Frame] = []
    for item in frames:
        if item.frame.name == "CoreShowChannel":
            listing.append(item.frame)
        elif item.frame.name == "CoreShowChannelsComplete" and resync:
            events += tracker.reconcile(listing, item.at)
            listing = []
        events += tracker.apply(item.frame, item.at)
    return events


def replay_agents(
    frames: Iterable[Received], tracker: AgentTracker | None = None
) -> list[AgentEvent]:
    """Apply every frame; the items of the resync QueueStatus also go to ``reconcile``."""
    tracker = tracker if tracker is not None else AgentTracker()
    events: list[AgentEvent] = []
    listing: list[Frame] = []
    for item in frames:
        resync = item.frame.get("ActionID") == AGENT_RESYNC_ACTION
        if resync and item.frame.name == "QueueStatusComplete":
            events += tracker.reconcile(listing, item.at)
        elif resync:
            listing.append(item.frame)
        events += tracker.apply(item.frame, item.at)
    return events
