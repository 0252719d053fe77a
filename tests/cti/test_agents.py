"""Agent-state machine: queue membership, pause, device state and activity, from real traces."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.agents import AgentSnapshot, AgentTracker, QueueMembership
from cti.ami.framing import Frame
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
from tests.support.traces import TRACE_NAMES, TRACES_DIR, Received, received, until
from tests.support.trackers import AGENT_RESYNC_ACTION, replay_agents

PROPERTY = settings(max_examples=40, deadline=None)  # two shared cores: keep examples moderate
ALICE, BOB, SLEEPY = "Local/1001@agents", "Local/1002@agents", "Local/1901@agents"


def after(frames: Sequence[Received], name: str) -> list[Received]:
    """The frames from the first one with this event name on."""
    for index, item in enumerate(frames):
        if item.frame.name == name:
            return list(frames[index:])
    raise AssertionError(f"no {name}")


def event(name: str, **headers: str) -> Frame:
    return Frame((("Event", name), *headers.items()))


def device(interface: str, state: str, at: float) -> AgentDeviceStateChanged:
    number = interface.partition("/")[2].partition("@")[0]
    return AgentDeviceStateChanged(
        interface=interface, state_interface=f"Custom:agent{number}", state=state, at=at
    )


def activity(interface: str, what: Activity, linked_id: str, at: float) -> AgentActivityChanged:
    return AgentActivityChanged(interface=interface, activity=what, linked_id=linked_id, at=at)


# ---------------------------------------------------------------- the traces


def test_the_recorded_asterisk_traces_are_present() -> None:
    assert TRACES_DIR.is_dir(), f"AMI traces not found in {TRACES_DIR} (set AMI_TRACES_DIR)"
    missing = [name for name in TRACE_NAMES if not (TRACES_DIR / f"{name}.ami").is_file()]
    assert not missing, f"missing traces in {TRACES_DIR}: {missing}"


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_every_agent_has_left_by_the_end_of_every_trace(name: str) -> None:
    tracker = AgentTracker()
    replay_agents(received(name), tracker)
    assert tracker.agents() == []


@pytest.mark.parametrize("name", ["01-login-banner-and-ping", "06-click-to-call"])
def test_sessions_without_queue_members_yield_no_agent_events(name: str) -> None:
    assert replay_agents(received(name)) == []


def test_an_agent_joins_pauses_for_lunch_unpauses_and_leaves() -> None:
    assert replay_agents(received("02-agent-ready-pause-unpause-remove")) == [
        AgentJoinedQueue(
            interface=ALICE,
            queue="sales",
            member_name="Alice Agent",
            state_interface="Custom:agent1001",
            paused=False,
            paused_reason="",
            device_state="NOT_INUSE",
            at=0.505461,
        ),
        AgentPaused(interface=ALICE, queue="sales", reason="Lunch break", at=1.007859),
        AgentUnpaused(interface=ALICE, queue="sales", at=1.510353),
        # QueuePause without a queue: Asterisk reports it per queue the member is in.
        AgentPaused(interface=ALICE, queue="sales", reason="All queues pause", at=2.011952),
        AgentUnpaused(interface=ALICE, queue="sales", at=2.313341),
        device(ALICE, "INUSE", 2.615778),
        device(ALICE, "NOT_INUSE", 3.117812),
        AgentLeftQueue(interface=ALICE, queue="sales", at=3.620062),
    ]


def test_the_agent_rings_talks_and_goes_idle_around_an_inbound_call() -> None:
    linked = "1795643939.0"
    events = replay_agents(received("03-inbound-answered-by-agent"))
    assert events[1:] == [
        activity(ALICE, Activity.RINGING, linked, 0.507553),  # AgentCalled
        device(ALICE, "RINGING", 0.507671),  # DeviceStateChange; QueueMemberStatus 6 is no news
        activity(ALICE, Activity.TALKING, linked, 2.509781),  # AgentConnect
        device(ALICE, "INUSE", 3.009871),
        device(ALICE, "NOT_INUSE", 23.030963),
        activity(ALICE, Activity.IDLE, "", 23.030963),  # before AgentComplete, which is no news
        AgentLeftQueue(interface=ALICE, queue="sales", at=27.062248),
    ]


def test_an_agent_who_never_answers_rings_twice_and_goes_idle_each_time() -> None:
    linked = "1795643979.6"
    events = replay_agents(received("04-inbound-abandoned"))
    assert [e for e in events if isinstance(e, AgentActivityChanged)] == [
        activity(SLEEPY, Activity.RINGING, linked, 11.662645),
        activity(SLEEPY, Activity.IDLE, "", 26.655318),  # AgentRingNoAnswer
        activity(SLEEPY, Activity.RINGING, linked, 28.658673),
        activity(SLEEPY, Activity.IDLE, "", 31.678725),  # the caller left: DialEnd CANCEL
    ]
    assert [e.state for e in events if isinstance(e, AgentDeviceStateChanged)] == [
        "RINGING",
        "NOT_INUSE",
        "RINGING",
        "NOT_INUSE",
    ]


def test_only_an_idle_unpaused_member_is_available() -> None:
    frames = received("03-inbound-answered-by-agent")
    tracker = AgentTracker()
    replay_agents(until(frames, "QueueMemberAdded"), tracker)
    assert tracker.available("sales") == [ALICE]
    assert tracker.available("support") == []
    replay_agents(until(frames, "AgentCalled")[len(until(frames, "QueueMemberAdded")) :], tracker)
    assert tracker.available("sales") == []
    assert tracker.agent(ALICE) == AgentSnapshot(
        interface=ALICE,
        member_name="Alice Agent",
        state_interface="Custom:agent1001",
        device_state="NOT_INUSE",
        activity=Activity.RINGING,
        linked_id="1795643939.0",
        queues=(QueueMembership("sales", False, ""),),
        pbx_interface=ALICE,
    )
    paused = AgentTracker()
    replay_agents(
        until(received("02-agent-ready-pause-unpause-remove"), "QueueMemberPause"), paused
    )
    assert paused.available("sales") == []


# ---------------------------------------------------------------- resync


def test_resync_of_a_tracker_that_kept_its_state_changes_nothing() -> None:
    frames = received("09-resync-after-reconnect")
    events = replay_agents(frames)
    reconnect = next(item.at for item in frames if item.connection == 2)
    assert not [e for e in events if isinstance(e, AgentJoinedQueue) and e.at > reconnect]
    assert [(type(e).__name__, e.interface) for e in events if e.at > reconnect] == [
        ("AgentDeviceStateChanged", ALICE),
        ("AgentActivityChanged", ALICE),
        ("AgentDeviceStateChanged", BOB),
        ("AgentActivityChanged", BOB),
        ("AgentLeftQueue", ALICE),
        ("AgentLeftQueue", BOB),
    ]


def resync_items() -> list[Frame]:
    return [
        item.frame
        for item in received("09-resync-after-reconnect", 2)
        if item.frame.get("ActionID") == AGENT_RESYNC_ACTION and item.frame.kind == "event"
    ]


def joined(interface: str, queue: str, name: str, at: float) -> AgentJoinedQueue:
    number = interface.partition("/")[2].partition("@")[0]
    return AgentJoinedQueue(
        interface=interface,
        queue=queue,
        member_name=name,
        state_interface=f"Custom:agent{number}",
        paused=False,
        paused_reason="",
        device_state="INUSE",
        at=at,
    )


def test_a_restarted_tracker_learns_the_members_from_the_queue_status() -> None:
    tracker = AgentTracker()
    assert tracker.reconcile(resync_items(), 4.2) == [
        joined(BOB, "support", "Bob Agent", 4.2),
        joined(ALICE, "sales", "Alice Agent", 4.2),
    ]
    assert tracker.reconcile(resync_items(), 4.3) == []  # the same listing again: no news
    assert tracker.reconcile([], 5.0) == []  # no QueueParams: no queue is claimed to be empty


def test_a_restarted_tracker_also_learns_members_as_the_listing_streams_in() -> None:
    frames = until(received("09-resync-after-reconnect", 2), "QueueStatusComplete")
    assert replay_agents(frames) == [
        joined(BOB, "support", "Bob Agent", 4.132013),  # the QueueMember items' receive times
        joined(ALICE, "sales", "Alice Agent", 4.132042),
    ]


def test_resync_removes_members_the_queue_no_longer_lists() -> None:
    tracker = AgentTracker()
    replay_agents(until(received("03-inbound-answered-by-agent"), "QueueMemberAdded"), tracker)
    empty_sales = [event("QueueParams", Queue="sales"), event("QueueStatusComplete")]
    assert tracker.reconcile(empty_sales, 9.0) == [
        AgentLeftQueue(interface=ALICE, queue="sales", at=9.0)
    ]
    assert tracker.agents() == []


def test_a_member_we_never_saw_join_is_learnt_from_a_pause() -> None:
    frames = after(received("02-agent-ready-pause-unpause-remove"), "QueueMemberPause")
    events = replay_agents(frames)
    assert events[:2] == [
        AgentJoinedQueue(
            interface=ALICE,
            queue="sales",
            member_name="Alice Agent",
            state_interface="Custom:agent1001",
            paused=True,
            paused_reason="Lunch break",
            device_state="NOT_INUSE",
            at=1.007859,
        ),
        AgentUnpaused(interface=ALICE, queue="sales", at=1.510353),
    ]


# ---------------------------------------------------------------- devices


def test_device_states_of_other_devices_are_ignored() -> None:
    tracker = AgentTracker()
    replay_agents(until(received("03-inbound-answered-by-agent"), "QueueMemberAdded"), tracker)
    for name in ("Queue:sales_avail", "Local/hold60@callers", "Local/1001@agents", "PJSIP/1001"):
        assert tracker.apply(event("DeviceStateChange", Device=name, State="INUSE"), 1.0) == []


def test_an_agent_in_two_queues_gets_one_device_state_change() -> None:
    tracker = AgentTracker()
    for queue in ("sales", "support"):
        added = event(
            "QueueMemberAdded", Queue=queue, Interface="PJSIP/1001", MemberName="A", Status="1"
        )
        tracker.apply(added, 0.0)
    ringing = event("DeviceStateChange", Device="PJSIP/1001", State="RINGING")
    assert tracker.apply(ringing, 1.0) == [
        AgentDeviceStateChanged(
            interface="PJSIP/1001", state_interface="PJSIP/1001", state="RINGING", at=1.0
        )
    ]
    member_status = event("QueueMemberStatus", Queue="support", Interface="PJSIP/1001", Status="6")
    assert tracker.apply(member_status, 1.1) == []
    removed = event("QueueMemberRemoved", Queue="sales", Interface="PJSIP/1001")
    assert tracker.apply(removed, 2.0) == [
        AgentLeftQueue(interface="PJSIP/1001", queue="sales", at=2.0)
    ]
    assert [a.queues for a in tracker.agents()] == [(QueueMembership("support", False, ""),)]


def test_a_changed_state_interface_is_followed() -> None:
    tracker = AgentTracker()
    tracker.apply(event("QueueMemberAdded", Queue="q", Interface="PJSIP/1", StateInterface="A"), 0)
    tracker.apply(event("QueueMemberStatus", Queue="q", Interface="PJSIP/1", StateInterface="B"), 1)
    assert tracker.apply(event("DeviceStateChange", Device="A", State="INUSE"), 2) == []
    assert len(tracker.apply(event("DeviceStateChange", Device="B", State="INUSE"), 3)) == 1


# ---------------------------------------------------------------- properties

REPLAY_SOURCES = (
    "02-agent-ready-pause-unpause-remove",
    "03-inbound-answered-by-agent",
    "04-inbound-abandoned",
    "09-resync-after-reconnect",
)


@cache
def replay_baseline() -> tuple[tuple[Received, ...], tuple[AgentEvent, ...]]:
    frames = tuple(item for name in REPLAY_SOURCES for item in received(name))
    return frames, tuple(replay_agents(frames))


@PROPERTY
@given(data=st.data())
def test_a_frame_applied_twice_in_a_row_changes_nothing(data: st.DataObject) -> None:
    frames, baseline = replay_baseline()
    repeated = data.draw(st.sets(st.integers(0, len(frames) - 1), max_size=200))
    stream = [
        copy
        for index, item in enumerate(frames)
        for copy in [item] * (2 if index in repeated else 1)
    ]
    assert replay_agents(stream) == list(baseline)


HEADER_NAMES = (
    "Queue",
    "Interface",
    "Location",
    "MemberName",
    "Name",
    "StateInterface",
    "Status",
    "Paused",
    "PausedReason",
    "Device",
    "State",
    "Linkedid",
)
HEADER_VALUES = st.one_of(
    st.sampled_from(("sales", "PJSIP/1", "Custom:a", "1", "0", "6", "", "NOT_INUSE", "1.1")),
    st.text(max_size=8),
)
JUNK_FRAMES = st.lists(
    st.tuples(
        st.sampled_from(
            (
                "QueueMemberAdded",
                "QueueMemberRemoved",
                "QueueMemberPause",
                "QueueMemberStatus",
                "QueueMember",
                "QueueParams",
                "DeviceStateChange",
                "AgentCalled",
                "AgentConnect",
                "AgentComplete",
                "AgentRingNoAnswer",
                "Hangup",
            )
        ),
        st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=8),
    ),
    max_size=60,
)


@PROPERTY
@given(junk=JUNK_FRAMES)
def test_random_frames_never_raise(junk: list[tuple[str, list[tuple[str, str]]]]) -> None:
    tracker = AgentTracker()
    frames = [Frame((("Event", name), *headers)) for name, headers in junk]
    for index, frame in enumerate(frames):
        tracker.apply(frame, float(index))
    tracker.reconcile(frames, 99.0)
    for snapshot in tracker.agents():
        assert snapshot.queues  # an agent in no queue is forgotten
