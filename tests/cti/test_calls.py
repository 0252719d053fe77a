"""Call-state machine: every recorded Asterisk 22 trace replayed, then replays, interleavings,
resyncs and junk."""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.framing import Frame
from cti.calls import CallTracker, interface_of, number_of
from cti.events import (
    AgentLegEnded,
    CallAbandoned,
    CallAnswered,
    CallDialEnded,
    CallDialled,
    CallEnded,
    CallEvent,
    CallLeg,
    CallOffered,
    CallOfferWithdrawn,
    CallQueueTimedOut,
    CallTransferred,
    Direction,
    LegEnd,
    OriginateFailed,
    Outcome,
    Party,
    TransferKind,
    WithdrawalReason,
)
from tests.support.traces import (
    TRACE_NAMES,
    TRACES_DIR,
    Received,
    received,
    trace_path,
    until,
)
from tests.support.trackers import replay_calls

PROPERTY = settings(max_examples=40, deadline=None)  # two shared cores: keep examples moderate
approx = pytest.approx
T = TypeVar("T")

# What trace 06 originated, as the dialer would have registered it (ChannelId, ActionID).
CLICK_TO_CALL_EXPECTATIONS = (
    ("1795644066.22", "click_to_call", {"agent": "1001"}, "c2c-success-1"),
    ("1795644090.26", "click_to_call", {"agent": "1001"}, "c2c-busy-1"),
    ("1795644095.30", "outbound", {"list": "7"}, "orig-cust-busy-1"),
    ("1795644097.32", "outbound", {"list": "7"}, "orig-cust-noanswer-1"),
    ("1795644106.34", "outbound", {"list": "7"}, "orig-cust-congest-1"),
    ("1795644109.36", "click_to_call", {"agent": "1901"}, "c2c-agent-noanswer-1"),
    ("chan-badtech-1", "outbound", {"list": "7"}, "orig-badtech-1"),
)
PREDICTIVE_EXPECTATIONS = (
    ("1795644121.38", "outbound", {"campaign": "spring"}, "pred-1"),
    ("1795644149.42", "outbound", {"campaign": "spring"}, "pred-abandon-1"),
)


# ---------------------------------------------------------------- helpers


def tracker_expecting(
    expectations: Iterable[tuple[str, str, Mapping[str, str], str]] = (),
    *,
    capture_variables: frozenset[str] = frozenset(),
) -> CallTracker:
    tracker = CallTracker(capture_variables=capture_variables)
    for uniqueid, direction, tags, action_id in expectations:
        tracker.expect(uniqueid, direction, tags, action_id=action_id)
    return tracker


def of_type(events: Iterable[object], kind: type[T]) -> list[T]:
    return [event for event in events if isinstance(event, kind)]


def kinds(events: Iterable[object]) -> list[str]:
    return [type(event).__name__ for event in events]


def for_call(events: Iterable[CallEvent], linked_id: str) -> list[CallEvent]:
    return [event for event in events if getattr(event, "linked_id", None) == linked_id]


def event(name: str, at: float, **headers: str) -> Received:
    """A hand-made AMI event (header names spelt as Asterisk does, '-' written as '_')."""
    pairs = (("Event", name), *((key.replace("_", "-"), value) for key, value in headers.items()))
    return Received(1, at, Frame(tuple(pairs)))


_UNIQUEID = re.compile(r"\b\d{10}\.\d+\b")
_CHANNEL_SEQUENCE = re.compile(r"-([0-9a-f]{8});")


def copy_of(frames: Iterable[Received], copy: int) -> list[Received]:
    """The same frames with Uniqueids, Linkedids and channel names made distinct per copy."""

    def rewrite(value: str) -> str:
        value = _UNIQUEID.sub(lambda found: f"{copy}-{found.group()}", value)
        return _CHANNEL_SEQUENCE.sub(lambda found: f"-c{copy:x}{found.group(1)};", value)

    return [
        Received(
            item.connection,
            item.at,
            Frame(tuple((key, rewrite(value)) for key, value in item.frame.headers)),
        )
        for item in frames
    ]


# ---------------------------------------------------------------- the traces are there


def test_the_recorded_asterisk_traces_are_present() -> None:
    assert TRACES_DIR.is_dir(), f"AMI traces not found in {TRACES_DIR} (set AMI_TRACES_DIR)"
    missing = [name for name in TRACE_NAMES if not trace_path(name).is_file()]
    assert not missing, f"missing traces in {TRACES_DIR}: {missing}"


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_every_trace_replays_to_the_end_with_no_call_left_open(name: str) -> None:
    tracker = CallTracker()
    replay_calls(received(name), tracker)
    assert tracker.open_calls() == []
    assert tracker.tracked_call_count == 0
    assert tracker.tracked_channel_count == 0


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_every_offer_is_answered_or_withdrawn_exactly_once(name: str) -> None:
    expectations = CLICK_TO_CALL_EXPECTATIONS + PREDICTIVE_EXPECTATIONS
    events = replay_calls(received(name), tracker_expecting(expectations))
    offers = {(e.linked_id, e.device_channel) for e in of_type(events, CallOffered)}
    # Click-to-call answers are not queue offers: only queue answers close an offer.
    answers = [e for e in of_type(events, CallAnswered) if e.queue]
    closed = [(e.linked_id, e.device_channel) for e in answers]
    closed += [(e.linked_id, e.device_channel) for e in of_type(events, CallOfferWithdrawn)]
    assert sorted(closed) == sorted(offers)


@pytest.mark.parametrize(
    "name", ["01-login-banner-and-ping", "02-agent-ready-pause-unpause-remove"]
)
def test_sessions_without_calls_yield_no_call_events(name: str) -> None:
    assert replay_calls(received(name)) == []


# ---------------------------------------------------------------- 03: answered by an agent

LINKED_03 = "1795643939.0"


def test_agent_1001_is_offered_the_caller_while_the_phone_rings() -> None:
    events = replay_calls(until(received("03-inbound-answered-by-agent"), "DialState"))
    assert events == [
        CallOffered(
            linked_id=LINKED_03,
            uniqueid_of_caller=LINKED_03,
            agent_interface="Local/1001@agents",
            member_name="Alice Agent",
            device_channel="Local/1001@agents-00000001;1",
            caller_number="+15551234567",
            caller_name="Test Caller",
            presentation_restricted=False,
            customer_number="+15551234567",
            dnis="5000",
            queue="sales",
            direction=Direction.INBOUND,
            variables=(),
            tags=(),
            at=0.507553,
        )
    ]


def test_the_caller_is_answered_by_alice_after_two_seconds_in_the_queue() -> None:
    answered = of_type(replay_calls(received("03-inbound-answered-by-agent")), CallAnswered)
    assert answered == [
        CallAnswered(
            linked_id=LINKED_03,
            agent_interface="Local/1001@agents",
            member_name="Alice Agent",
            device_channel="Local/1001@agents-00000001;1",
            queue="sales",
            direction=Direction.INBOUND,
            at=2.509781,
            wait_seconds=approx(2.509781 - 0.507362),
        )
    ]


def test_the_answered_call_ends_after_twenty_one_seconds_of_talk_as_asterisk_counts_it() -> None:
    events = replay_calls(received("03-inbound-answered-by-agent"))
    assert kinds(events) == ["CallOffered", "CallAnswered", "AgentLegEnded", "CallEnded"]
    # Alice hung up first: her part ends with her channel, the call when the caller's goes.
    assert events[2] == AgentLegEnded(
        linked_id=LINKED_03,
        agent_interface="Local/1001@agents",
        member_name="Alice Agent",
        device_channel="Local/1001@agents-00000001;1",
        queue="sales",
        direction=Direction.INBOUND,
        answered_at=2.509781,
        hold_seconds=2.0,  # AgentConnect's HoldTime
        talk_seconds=21.0,  # AgentComplete's TalkTime
        reason=LegEnd.HUNG_UP,
        at=23.033376,
    )
    assert events[-1] == CallEnded(
        linked_id=LINKED_03,
        direction=Direction.INBOUND,
        outcome=Outcome.ANSWERED,
        caller_number="+15551234567",
        customer_number="+15551234567",
        queue="sales",
        agent_interface="Local/1001@agents",
        offered_at=0.507362,  # QueueCallerJoin
        answered_at=2.509781,  # AgentConnect
        ended_at=23.055978,  # the last channel's Hangup
        wait_seconds=approx(2.0024, abs=1e-4),
        talk_seconds=21.0,
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        tags=(),
        legs=(
            CallLeg(
                kind="queue",
                queue="sales",
                agent_interface="",
                member_name="",
                started_at=0.507362,
                ended_at=2.509781,
                wait_seconds=2.0,
                talk_seconds=0.0,
                result="answered",
            ),
            CallLeg(
                kind="agent",
                queue="sales",
                agent_interface="Local/1001@agents",
                member_name="Alice Agent",
                started_at=2.509781,
                ended_at=23.033376,
                wait_seconds=2.0,
                talk_seconds=21.0,
                result="hung_up",
            ),
        ),
    )


def test_while_the_agent_talks_the_call_is_open_and_answered() -> None:
    tracker = CallTracker()
    replay_calls(until(received("03-inbound-answered-by-agent"), "AgentConnect"), tracker)
    [call] = tracker.open_calls()
    assert (call.linked_id, call.state, call.queue, call.agent_interface) == (
        LINKED_03,
        "answered",
        "sales",
        "Local/1001@agents",
    )
    assert call.caller_number == "+15551234567"
    assert len(call.channels) == 4


def test_the_ended_call_is_forgotten() -> None:
    tracker = CallTracker()
    replay_calls(received("03-inbound-answered-by-agent"), tracker)
    assert (tracker.tracked_call_count, tracker.tracked_channel_count) == (0, 0)


def test_memory_stays_bounded_over_many_calls() -> None:
    tracker = CallTracker(remember_ended=50)
    single = received("03-inbound-answered-by-agent")
    for copy in range(200):
        replay_calls(copy_of(single, copy), tracker)
        assert tracker.tracked_call_count == 0
        assert tracker.tracked_channel_count == 0


def test_captured_ivr_variables_are_carried_into_the_offer() -> None:
    # The lab dialplan sets TARGETQ and QTIMEOUT on the caller channel before queueing.
    tracker = CallTracker(capture_variables=frozenset({"TARGETQ", "QTIMEOUT", "NEVER_SET"}))
    events = replay_calls(received("03-inbound-answered-by-agent"), tracker)
    [offered] = of_type(events, CallOffered)
    assert offered.variables == (("QTIMEOUT", "300"), ("TARGETQ", "sales"))


def test_variables_are_not_captured_unless_asked_for() -> None:
    [offered] = of_type(replay_calls(received("03-inbound-answered-by-agent")), CallOffered)
    assert offered.variables == ()


def test_a_variable_set_by_a_non_standard_header_order_is_still_captured() -> None:
    tracker = CallTracker(capture_variables=frozenset({"ACCOUNT"}))
    frames = list(received("03-inbound-answered-by-agent"))
    position = frames.index(until(frames, "QueueCallerJoin")[-1])
    frames.insert(
        position, event("VarSet", 0.5, Variable="ACCOUNT", Value="42", Uniqueid=LINKED_03)
    )
    [offered] = of_type(replay_calls(frames, tracker), CallOffered)
    assert offered.variables == (("ACCOUNT", "42"),)


def test_an_account_number_carried_as_chanvariable_reaches_the_offer() -> None:
    # Production: manager.conf channelvars puts CC_ACCOUNT on the caller channel's events, and
    # the dialplan class (VarSet) is filtered out at the source.
    tracker = CallTracker(capture_variables=frozenset({"CC_ACCOUNT"}))
    frames = [f for f in received("03-inbound-answered-by-agent") if f.frame.name != "VarSet"]
    index = frames.index(until(frames, "AgentCalled")[-1])
    called = frames[index]
    frames[index] = Received(
        called.connection,
        called.at,
        Frame(
            (
                *called.frame.headers,
                ("ChanVariable", "CC_ACCOUNT=AC-778"),
                ("ChanVariable", "OTHER=x"),
                ("DestChanVariable", "CC_ACCOUNT=wrong"),
            )
        ),
    )
    [offered] = of_type(replay_calls(frames, tracker), CallOffered)
    assert offered.variables == (("CC_ACCOUNT", "AC-778"),)


def test_connecting_in_the_middle_of_a_call_yields_no_events() -> None:
    frames = received("03-inbound-answered-by-agent")
    tracker = CallTracker()
    middle = len(until(frames, "AgentCalled"))
    assert replay_calls(frames[middle:], tracker) == []
    assert tracker.tracked_call_count == 0


# ---------------------------------------------------------------- 04: abandoned, timed out

LINKED_04_A, LINKED_04_B, LINKED_04_C = "1795643968.4", "1795643979.6", "1795644001.12"


def test_three_unanswered_callers_end_abandoned_abandoned_and_timed_out() -> None:
    ended = of_type(replay_calls(received("04-inbound-abandoned")), CallEnded)
    assert [(e.linked_id, e.outcome, e.answered_at) for e in ended] == [
        (LINKED_04_A, Outcome.ABANDONED, None),
        (LINKED_04_B, Outcome.ABANDONED, None),
        (LINKED_04_C, Outcome.QUEUE_TIMEOUT, None),
    ]


def test_a_caller_hanging_up_in_an_empty_queue_abandons_after_eight_seconds() -> None:
    events = for_call(replay_calls(received("04-inbound-abandoned")), LINKED_04_A)
    assert events == [
        CallAbandoned(
            linked_id=LINKED_04_A,
            queue="sales",
            position=1,
            original_position=1,
            wait_seconds=approx(8.333632 - 0.30792),
            direction=Direction.INBOUND,
            at=8.333632,
        ),
        CallEnded(
            linked_id=LINKED_04_A,
            direction=Direction.INBOUND,
            outcome=Outcome.ABANDONED,
            caller_number="+15557654321",
            customer_number="+15557654321",
            queue="sales",
            agent_interface="",
            offered_at=0.30792,
            answered_at=None,
            ended_at=8.333955,
            wait_seconds=approx(8.026, abs=1e-3),
            talk_seconds=0.0,
            hangup_cause=16,
            hangup_cause_text="Normal Clearing",
            tags=(),
            legs=(
                CallLeg(
                    kind="queue",
                    queue="sales",
                    agent_interface="",
                    member_name="",
                    started_at=0.30792,
                    ended_at=8.333632,
                    wait_seconds=8.0,  # QueueCallerAbandon's HoldTime
                    talk_seconds=0.0,
                    result="abandoned",
                ),
            ),
        ),
    ]


def test_a_ring_without_answer_is_withdrawn_and_the_caller_offered_again() -> None:
    events = for_call(replay_calls(received("04-inbound-abandoned")), LINKED_04_B)
    assert kinds(events) == [
        "CallOffered",
        "CallOfferWithdrawn",
        "CallOffered",
        "CallOfferWithdrawn",
        "CallAbandoned",
        "CallEnded",
    ]
    first, no_answer, second, caller_left, abandoned, _ = events
    assert isinstance(first, CallOffered) and isinstance(second, CallOffered)
    assert (first.device_channel, first.at) == ("Local/1901@agents-00000004;1", 11.662645)
    assert (second.device_channel, second.at) == ("Local/1901@agents-00000005;1", 28.658673)
    assert first.member_name == second.member_name == "Sleepy Agent"
    assert no_answer == CallOfferWithdrawn(
        linked_id=LINKED_04_B,
        agent_interface="Local/1901@agents",
        device_channel="Local/1901@agents-00000004;1",
        reason=WithdrawalReason.RING_NO_ANSWER,
        at=26.655318,
    )
    assert caller_left == CallOfferWithdrawn(
        linked_id=LINKED_04_B,
        agent_interface="Local/1901@agents",
        device_channel="Local/1901@agents-00000005;1",
        reason=WithdrawalReason.CALLER_LEFT,
        at=31.678725,
    )
    assert isinstance(abandoned, CallAbandoned)
    assert abandoned.wait_seconds == approx(20.0, abs=0.05)


def test_a_queue_timeout_is_reported_as_a_timeout_not_an_abandon() -> None:
    # Asterisk 22 sends QueueCallerAbandon for the timeout too; no hangup request preceded it.
    events = for_call(replay_calls(received("04-inbound-abandoned")), LINKED_04_C)
    assert kinds(events) == ["CallQueueTimedOut", "CallEnded"]
    assert events[0] == CallQueueTimedOut(
        linked_id=LINKED_04_C,
        queue="sales",
        position=1,
        original_position=1,
        wait_seconds=approx(10.0, abs=0.01),
        direction=Direction.INBOUND,
        at=43.449391,
    )


def test_the_timeout_is_told_apart_without_dialplan_events() -> None:
    # Production may switch the dialplan class off: no VarSet QUEUESTATUS=TIMEOUT then.
    frames = [r for r in received("04-inbound-abandoned") if r.frame.name != "VarSet"]
    ended = of_type(replay_calls(frames), CallEnded)
    assert [e.outcome for e in ended] == [
        Outcome.ABANDONED,
        Outcome.ABANDONED,
        Outcome.QUEUE_TIMEOUT,
    ]


# ---------------------------------------------------------------- 05: withheld and national CLI


def test_a_withheld_caller_is_offered_with_presentation_restricted() -> None:
    first, _ = of_type(replay_calls(received("05-inbound-withheld-and-national-cli")), CallOffered)
    assert first.presentation_restricted is True
    assert (first.caller_number, first.caller_name) == ("anonymous", "Anonymous")
    assert first.customer_number == ""  # "anonymous" is nobody to look up


def test_a_national_number_without_a_name_is_offered_as_presented() -> None:
    _, second = of_type(replay_calls(received("05-inbound-withheld-and-national-cli")), CallOffered)
    assert second.presentation_restricted is False
    assert (second.caller_number, second.caller_name) == ("0201234567", "")
    assert second.customer_number == "0201234567"


def test_both_sequential_calls_are_answered_by_the_same_agent() -> None:
    events = replay_calls(received("05-inbound-withheld-and-national-cli"))
    assert kinds(events) == ["CallOffered", "CallAnswered", "AgentLegEnded", "CallEnded"] * 2
    ended = of_type(events, CallEnded)
    assert [e.outcome for e in ended] == [Outcome.ANSWERED, Outcome.ANSWERED]
    # Asterisk's TalkTime (whole seconds) for 20.5 s of talk each.
    assert [e.talk_seconds for e in ended] == [20.0, 21.0]
    assert [e.talk_seconds for e in of_type(events, AgentLegEnded)] == [20.0, 21.0]


# ---------------------------------------------------------------- 06: click-to-call, originates


@cache
def click_to_call_events() -> tuple[CallEvent, ...]:
    return tuple(
        replay_calls(received("06-click-to-call"), tracker_expecting(CLICK_TO_CALL_EXPECTATIONS))
    )


def test_click_to_call_rings_the_agent_then_dials_the_customer_who_answers() -> None:
    linked = "1795644066.22"
    events = for_call(click_to_call_events(), linked)
    tags = (("agent", "1001"),)
    assert events[:5] == [
        CallDialled(
            linked_id=linked,
            uniqueid=linked,
            destination="1001@agents",
            party=Party.AGENT,
            direction=Direction.CLICK_TO_CALL,
            tags=tags,
            at=0.304332,
        ),
        CallDialEnded(
            linked_id=linked,
            uniqueid=linked,
            destination="1001@agents",
            party=Party.AGENT,
            dial_status="ANSWER",
            at=2.30775,
        ),
        CallDialled(
            linked_id=linked,
            uniqueid="1795644068.24",
            destination="6001@customers",
            party=Party.CUSTOMER,
            direction=Direction.CLICK_TO_CALL,
            tags=tags,
            at=2.319681,
        ),
        CallDialEnded(
            linked_id=linked,
            uniqueid="1795644068.24",
            destination="6001@customers",
            party=Party.CUSTOMER,
            dial_status="ANSWER",
            at=4.309459,
        ),
        CallAnswered(
            linked_id=linked,
            agent_interface="Local/1001@agents",
            member_name="",
            device_channel="Local/1001@agents-0000000b;1",
            queue="",
            direction=Direction.CLICK_TO_CALL,
            at=4.309459,
            wait_seconds=approx(4.309459 - 0.30414),
        ),
    ]
    leg, ended = events[5:]
    assert isinstance(leg, AgentLegEnded) and isinstance(ended, CallEnded)
    assert (leg.agent_interface, leg.talk_seconds) == ("Local/1001@agents", approx(18.0, abs=0.1))
    assert (ended.outcome, ended.customer_number, ended.agent_interface, ended.tags) == (
        Outcome.ANSWERED,
        "6001",
        "Local/1001@agents",
        tags,
    )
    assert ended.talk_seconds == approx(18.0, abs=0.1)


def test_click_to_call_to_a_busy_customer_ends_busy() -> None:
    events = for_call(click_to_call_events(), "1795644090.26")
    assert kinds(events) == [
        "CallDialled",
        "CallDialEnded",
        "CallDialled",
        "CallDialEnded",
        "CallEnded",
    ]
    busy_leg, ended = events[3], events[4]
    assert isinstance(busy_leg, CallDialEnded) and isinstance(ended, CallEnded)
    assert (busy_leg.party, busy_leg.dial_status) == (Party.CUSTOMER, "BUSY")
    assert (ended.outcome, ended.hangup_cause, ended.hangup_cause_text) == (
        Outcome.BUSY,
        17,
        "User busy",
    )
    assert ended.agent_interface == "Local/1001@agents"


def test_failed_originates_are_reported_with_their_reason_codes() -> None:
    failures = of_type(click_to_call_events(), OriginateFailed)
    assert [(f.action_id, f.uniqueid, f.channel, f.reason_code, f.outcome) for f in failures] == [
        ("orig-cust-busy-1", "1795644095.30", "Local/7002@customers", 5, Outcome.BUSY),
        ("orig-cust-noanswer-1", "1795644097.32", "Local/8001@customers", 3, Outcome.NO_ANSWER),
        ("orig-cust-congest-1", "1795644106.34", "Local/9001@customers", 8, Outcome.CONGESTION),
        ("c2c-agent-noanswer-1", "1795644109.36", "Local/1901@agents", 3, Outcome.NO_ANSWER),
        ("orig-badtech-1", "chan-badtech-1", "Foo/bar", 0, Outcome.FAILED),
    ]
    assert failures[0] == OriginateFailed(
        action_id="orig-cust-busy-1",
        uniqueid="1795644095.30",
        channel="Local/7002@customers",
        reason_code=5,
        reason="busy",
        outcome=Outcome.BUSY,
        direction=Direction.OUTBOUND,
        tags=(("list", "7"),),
        at=29.102856,
    )


def test_originates_straight_to_customers_end_busy_no_answer_and_congested() -> None:
    ended = {e.linked_id: e for e in of_type(click_to_call_events(), CallEnded)}
    got = {
        linked: (ended[linked].direction, ended[linked].outcome, ended[linked].customer_number)
        for linked in ("1795644095.30", "1795644097.32", "1795644106.34")
    }
    assert got == {
        "1795644095.30": (Direction.OUTBOUND, Outcome.BUSY, "7002"),
        # No DialEnd and the OriginateResponse comes after the hangups: cause 19 tells.
        "1795644097.32": (Direction.OUTBOUND, Outcome.NO_ANSWER, "8001"),
        # The OriginateResponse comes before the channel even exists.
        "1795644106.34": (Direction.OUTBOUND, Outcome.CONGESTION, "9001"),
    }


def test_click_to_call_whose_agent_does_not_answer_fails_without_dialling_the_customer() -> None:
    events = for_call(click_to_call_events(), "1795644109.36")
    assert kinds(events) == ["CallDialled", "CallEnded"]
    ended = events[1]
    assert isinstance(ended, CallEnded)
    assert (ended.outcome, ended.agent_interface, ended.hangup_cause) == (
        Outcome.FAILED,
        "Local/1901@agents",
        19,
    )


def test_a_synchronous_originate_error_is_a_response_not_an_event() -> None:
    actions = {f.action_id for f in of_type(click_to_call_events(), OriginateFailed)}
    assert "orig-sync-badctx-1" not in actions


def test_unexpected_originates_report_only_their_failures() -> None:
    events = replay_calls(received("06-click-to-call"))
    assert kinds(events) == ["OriginateFailed"] * 5
    assert {e.direction for e in of_type(events, OriginateFailed)} == {Direction.UNKNOWN}


def test_a_late_expectation_still_tags_the_call() -> None:
    frames = received("06-click-to-call")
    tracker = CallTracker()
    head = until(frames, "Newchannel")
    replay_calls(head, tracker)
    tracker.expect("1795644066.22", "click_to_call", {"agent": "1001"})
    events = replay_calls(frames[len(head) :], tracker)
    assert {e.direction for e in of_type(events, CallEnded)} == {Direction.CLICK_TO_CALL}


def test_an_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError):
        CallTracker().expect("1.1", "sideways", {})


# ---------------------------------------------------------------- 07: predictive outbound


def test_a_predictive_call_is_offered_with_the_dialled_customer_number() -> None:
    events = replay_calls(
        received("07-outbound-predictive"), tracker_expecting(PREDICTIVE_EXPECTATIONS)
    )
    linked = "1795644121.38"
    call = for_call(events, linked)
    assert kinds(call) == [
        "CallDialled",
        "CallDialEnded",
        "CallOffered",
        "CallAnswered",
        "AgentLegEnded",
        "CallEnded",
    ]
    offered, answered, ended = call[2], call[3], call[5]
    assert isinstance(offered, CallOffered)
    assert (offered.direction, offered.customer_number, offered.dnis, offered.caller_number) == (
        Direction.OUTBOUND,
        "+15559876543",
        "+15559876543",
        "+15550100100",  # the CLI we presented
    )
    assert offered.queue == "outbound"
    assert offered.tags == (("campaign", "spring"),)
    assert isinstance(answered, CallAnswered) and isinstance(ended, CallEnded)
    assert answered.wait_seconds == approx(2.0, abs=0.01)
    assert (ended.outcome, ended.direction) == (Outcome.ANSWERED, Direction.OUTBOUND)
    assert ended.talk_seconds == 21.0  # AgentComplete's TalkTime for 20.5 s of talk


def test_a_predictive_customer_left_waiting_is_an_abandoned_outbound_call() -> None:
    events = replay_calls(
        received("07-outbound-predictive"), tracker_expecting(PREDICTIVE_EXPECTATIONS)
    )
    call = for_call(events, "1795644149.42")
    assert kinds(call) == ["CallDialled", "CallDialEnded", "CallAbandoned", "CallEnded"]
    answered_leg, abandoned, ended = call[1], call[2], call[3]
    assert isinstance(answered_leg, CallDialEnded) and answered_leg.dial_status == "ANSWER"
    assert isinstance(abandoned, CallAbandoned)
    assert (abandoned.queue, abandoned.direction) == ("outbound", Direction.OUTBOUND)
    assert abandoned.wait_seconds == approx(30.0, abs=0.05)
    assert isinstance(ended, CallEnded)
    assert (ended.outcome, ended.customer_number) == (Outcome.ABANDONED, "6002")


def test_without_an_expectation_a_queued_predictive_call_counts_as_inbound() -> None:
    events = replay_calls(received("07-outbound-predictive"))
    assert {e.direction for e in of_type(events, CallEnded)} == {Direction.INBOUND}


# ---------------------------------------------------------------- 09: reconnect and resync

LINKED_09_FIRST, LINKED_09_SECOND, LINKED_09_THIRD = (
    "1795644202.50",
    "1795644202.52",
    "1795644204.58",
)


def coreshowchannels_listing() -> tuple[list[Frame], float]:
    items = [r for r in received("09-resync-after-reconnect", 2)]
    listing = [r.frame for r in items if r.frame.name == "CoreShowChannel"]
    [complete] = [r for r in items if r.frame.name == "CoreShowChannelsComplete"]
    return listing, complete.at


def test_two_calls_are_answered_and_a_third_abandoned_across_the_reconnect() -> None:
    events = replay_calls(received("09-resync-after-reconnect"))
    ended = {e.linked_id: e for e in of_type(events, CallEnded)}
    assert {linked: e.outcome for linked, e in ended.items()} == {
        LINKED_09_FIRST: Outcome.ANSWERED,
        LINKED_09_SECOND: Outcome.ANSWERED,
        LINKED_09_THIRD: Outcome.ABANDONED,
    }
    assert [(e.linked_id, e.agent_interface) for e in of_type(events, CallAnswered)] == [
        (LINKED_09_FIRST, "Local/1001@agents"),
        (LINKED_09_SECOND, "Local/1002@agents"),
    ]
    assert ended[LINKED_09_SECOND].queue == "support"
    [abandoned] = of_type(events, CallAbandoned)
    assert (abandoned.linked_id, abandoned.wait_seconds) == (LINKED_09_THIRD, approx(20.0, 0.01))


def test_resync_of_a_tracker_that_kept_its_state_changes_nothing() -> None:
    tracker = CallTracker()
    replay_calls(received("09-resync-after-reconnect", 1), tracker)
    listing, at = coreshowchannels_listing()
    assert tracker.reconcile(listing, at) == []
    assert tracker.reconcile(listing, at) == []
    assert {c.linked_id: c.state for c in tracker.open_calls()} == {
        LINKED_09_FIRST: "answered",
        LINKED_09_SECOND: "answered",
        LINKED_09_THIRD: "queued",
    }


def test_a_restarted_tracker_adopts_the_listed_calls_and_finishes_them() -> None:
    tracker = CallTracker()
    listing, at = coreshowchannels_listing()
    # Each agent found talking is told its call (offered, answered: their screen shows the
    # card); the caller still queued rings nobody yet.
    told = tracker.reconcile(listing, at)
    assert [(type(e).__name__, e.linked_id, e.agent_interface) for e in told] == [
        ("CallOffered", LINKED_09_FIRST, "Local/1001@agents"),
        ("CallAnswered", LINKED_09_FIRST, "Local/1001@agents"),
        ("CallOffered", LINKED_09_SECOND, "Local/1002@agents"),
        ("CallAnswered", LINKED_09_SECOND, "Local/1002@agents"),
    ]
    assert {c.linked_id: (c.state, c.queue) for c in tracker.open_calls()} == {
        LINKED_09_FIRST: ("answered", "sales"),
        LINKED_09_SECOND: ("answered", "support"),
        LINKED_09_THIRD: ("queued", "sales"),
    }
    events = replay_calls(received("09-resync-after-reconnect", 2), tracker, resync=False)
    assert kinds(events) == [
        "CallAbandoned",
        "CallEnded",
        "AgentLegEnded",
        "CallEnded",
        "AgentLegEnded",
        "CallEnded",
    ]
    ended = {e.linked_id: e for e in of_type(events, CallEnded)}
    first = ended[LINKED_09_FIRST]
    # AgentComplete's TalkTime / HoldTime stand in for the AgentConnect we never saw.
    assert (first.outcome, first.agent_interface, first.caller_number) == (
        Outcome.ANSWERED,
        "Local/1001@agents",
        "+15553330001",
    )
    assert first.talk_seconds == approx(20.0, abs=0.01)
    assert first.wait_seconds == approx(2.0, abs=0.01)
    assert ended[LINKED_09_THIRD].outcome is Outcome.ABANDONED
    assert ended[LINKED_09_THIRD].wait_seconds == approx(20.0, abs=0.01)
    assert tracker.tracked_call_count == 0


def test_resync_ends_the_calls_whose_channels_are_all_gone() -> None:
    tracker = CallTracker()
    replay_calls(received("09-resync-after-reconnect", 1), tracker)
    events = tracker.reconcile([], 30.0)
    ended = {e.linked_id: e for e in of_type(events, CallEnded)}
    assert {linked: (e.outcome, e.ended_at) for linked, e in ended.items()} == {
        LINKED_09_FIRST: (Outcome.ANSWERED, 30.0),
        LINKED_09_SECOND: (Outcome.ANSWERED, 30.0),
        LINKED_09_THIRD: (Outcome.ABANDONED, 30.0),  # was still queued: most likely abandoned
    }
    assert tracker.tracked_call_count == 0
    # The real hang-ups arriving afterwards (a late replay) change nothing.
    assert replay_calls(received("09-resync-after-reconnect", 2), tracker, resync=False) == []


def test_calls_gone_during_an_outage_end_when_the_pbx_was_last_heard_not_at_the_resync():
    """kill -9 of Asterisk and a 20 s outage: the talk is what it was until the crash."""
    tracker = CallTracker()
    frames = received("09-resync-after-reconnect", 1)
    replay_calls(frames, tracker)
    last_heard = max(f.at for f in frames)
    events = tracker.reconcile([], last_heard + 20.0, vanished_by=last_heard)
    ended = of_type(events, CallEnded)
    assert ended and all(e.ended_at == last_heard and e.estimated for e in ended)
    answered = [e for e in ended if e.answered_at is not None]
    assert answered and all(e.talk_seconds == approx(last_heard - e.answered_at) for e in answered)


def test_resync_withdraws_an_offer_whose_ringing_phone_is_gone() -> None:
    frames = received("03-inbound-answered-by-agent")
    tracker = CallTracker()
    replay_calls(until(frames, "DialState"), tracker)
    caller_only = [
        event(
            "CoreShowChannel", 1.0, Uniqueid=u, Linkedid=LINKED_03, Channel=c, Application=a
        ).frame
        for u, c, a in (
            (LINKED_03, "Local/hold60@callers-00000000;1", "Queue"),
            ("1795643939.1", "Local/hold60@callers-00000000;2", "Wait"),
        )
    ]
    assert tracker.reconcile(caller_only, 1.0) == [
        CallOfferWithdrawn(
            linked_id=LINKED_03,
            agent_interface="Local/1001@agents",
            device_channel="Local/1001@agents-00000001;1",
            reason=WithdrawalReason.CANCELLED,
            at=1.0,
        )
    ]
    assert [c.state for c in tracker.open_calls()] == ["queued"]


def test_a_phone_found_ringing_by_a_resync_is_offered_so_that_its_agent_still_pops() -> None:
    """Another instance took the link over while agent 1001's phone rang: the listing shows
    the queued caller and the ringing member channel (AppQueue, in no bridge)."""
    tracker = CallTracker()
    listing = [
        event(
            "CoreShowChannel",
            50.0,
            Uniqueid=u,
            Linkedid="1795650000.7",
            Channel=c,
            Application=a,
            ApplicationData=d,
            CallerIDNum=n,
            Duration="00:00:04",
        ).frame
        for u, c, a, d, n in (
            ("1795650000.9", "PJSIP/1001-0000000c", "AppQueue", "(Outgoing Line)", "1001"),
            ("1795650000.7", "PJSIP/trunk-0000000a", "Queue", "sales,t,,,300", "+15551234567"),
        )
    ]
    [offered] = tracker.reconcile(listing, 50.0)
    assert isinstance(offered, CallOffered)
    assert (
        offered.agent_interface,
        offered.device_channel,
        offered.caller_number,
        offered.queue,
    ) == ("PJSIP/1001", "PJSIP/1001-0000000c", "+15551234567", "sales")
    assert tracker.reconcile(listing, 51.0) == []  # known now: offered once
    answered = tracker.apply(
        event(
            "AgentConnect",
            52.0,
            Uniqueid="1795650000.7",
            Linkedid="1795650000.7",
            Channel="PJSIP/trunk-0000000a",
            DestUniqueid="1795650000.9",
            DestChannel="PJSIP/1001-0000000c",
            Interface="PJSIP/1001",
            Queue="sales",
            HoldTime="6",
            RingTime="2",
        ).frame,
        52.0,
    )
    assert [type(e).__name__ for e in answered] == ["CallAnswered"]


def test_an_agent_found_talking_by_a_resync_is_told_the_call_once() -> None:
    tracker = CallTracker()
    listing = [
        event(
            "CoreShowChannel",
            50.0,
            Uniqueid=u,
            Linkedid="1795650000.7",
            Channel=c,
            Application=a,
            BridgeId="b-1",
            CallerIDNum="+15551234567",
            Duration="00:00:30",
        ).frame
        for u, c, a in (
            ("1795650000.9", "PJSIP/1001-0000000c", "AppQueue"),
            ("1795650000.7", "PJSIP/trunk-0000000a", "Queue"),
        )
    ]
    offered, answered = tracker.reconcile(listing, 50.0)
    assert isinstance(offered, CallOffered) and isinstance(answered, CallAnswered)
    assert (answered.agent_interface, answered.device_channel) == (
        "PJSIP/1001",
        "PJSIP/1001-0000000c",
    )
    assert tracker.reconcile(listing, 60.0) == []


def test_resync_does_not_revive_a_call_that_has_ended() -> None:
    tracker = CallTracker()
    replay_calls(received("03-inbound-answered-by-agent"), tracker)
    ghost = event("CoreShowChannel", 99.0, Uniqueid=LINKED_03, Linkedid=LINKED_03)
    assert tracker.reconcile([ghost.frame], 99.0) == []
    assert tracker.tracked_call_count == 0


# ---------------------------------------------------------------- ring-all and transfers


def ringing_two_agents() -> list[Received]:
    """A caller in a ring-all queue ringing agents 1001 and 1002 at once."""
    caller = {"Uniqueid": "9.1", "Linkedid": "9.1"}
    return [
        event("Newchannel", 0.0, Channel="PJSIP/trunk-00000001", **caller),
        event("QueueCallerJoin", 0.1, Queue="sales", CallerIDNum="+4930123", **caller),
        event("Newchannel", 0.2, Channel="PJSIP/1001-00000002", Uniqueid="9.2", Linkedid="9.1"),
        event("Newchannel", 0.2, Channel="PJSIP/1002-00000003", Uniqueid="9.3", Linkedid="9.1"),
        event("AgentCalled", 0.3, Interface="PJSIP/1001", DestUniqueid="9.2", **caller),
        event("AgentCalled", 0.3, Interface="PJSIP/1002", DestUniqueid="9.3", **caller),
        event("DialEnd", 4.0, DestUniqueid="9.2", DialStatus="ANSWER", **caller),
        event("DialEnd", 4.0, DestUniqueid="9.3", DialStatus="CANCEL", **caller),
        event("AgentConnect", 4.1, Interface="PJSIP/1001", DestUniqueid="9.2", **caller),
    ]


def test_in_ring_all_the_other_phone_is_withdrawn_when_one_agent_answers() -> None:
    events = replay_calls(ringing_two_agents())
    assert kinds(events) == ["CallOffered", "CallOffered", "CallOfferWithdrawn", "CallAnswered"]
    withdrawn, answered = events[2], events[3]
    assert isinstance(withdrawn, CallOfferWithdrawn) and isinstance(answered, CallAnswered)
    assert (withdrawn.agent_interface, withdrawn.reason) == (
        "PJSIP/1002",
        WithdrawalReason.ANSWERED_ELSEWHERE,
    )
    assert (answered.agent_interface, answered.wait_seconds) == ("PJSIP/1001", approx(4.0))


def transfer(kind: str, result: str = "Success") -> Received:
    if kind == "BlindTransfer":
        return event(
            kind,
            10.0,
            Result=result,
            TransfererChannel="PJSIP/1001-00000002",
            TransfererUniqueid="9.2",
            TransfereeChannel="PJSIP/trunk-00000001",
            TransfereeUniqueid="9.1",
            Extension="2000",
            Context="transfer",
        )
    return event(
        kind,
        10.0,
        Result=result,
        OrigTransfererChannel="PJSIP/1001-00000002",
        OrigTransfererUniqueid="9.2",
        TransfereeChannel="PJSIP/trunk-00000001",
        TransfereeUniqueid="9.1",
        DestType="Bridge",
        TransferTargetChannel="PJSIP/1003-00000009",
    )


def test_a_blind_transfer_of_an_answered_call_is_reported() -> None:
    events = replay_calls([*ringing_two_agents(), transfer("BlindTransfer")])
    assert events[-2] == CallTransferred(
        linked_id="9.1",
        kind=TransferKind.BLIND,
        agent_interface="PJSIP/1001",
        transferer_channel="PJSIP/1001-00000002",
        transferee_channel="PJSIP/trunk-00000001",
        target="2000@transfer",
        at=10.0,
    )
    # The transferer's part of the call is over: its own end and wrap-up.
    leg = events[-1]
    assert isinstance(leg, AgentLegEnded)
    assert (leg.agent_interface, leg.reason, leg.talk_seconds) == (
        "PJSIP/1001",
        LegEnd.TRANSFERRED,
        approx(5.9),
    )


def test_an_attended_transfer_is_reported_with_its_target_channel() -> None:
    events = replay_calls([*ringing_two_agents(), transfer("AttendedTransfer")])
    transferred, leg = events[-2:]
    assert isinstance(transferred, CallTransferred) and isinstance(leg, AgentLegEnded)
    assert (transferred.kind, transferred.target) == (TransferKind.ATTENDED, "PJSIP/1003-00000009")
    assert (leg.agent_interface, leg.reason) == ("PJSIP/1001", LegEnd.TRANSFERRED)


def test_a_failed_transfer_is_not_reported() -> None:
    events = replay_calls(
        [*ringing_two_agents(), transfer("BlindTransfer", result="Not Permitted")]
    )
    assert not of_type(events, CallTransferred)


# ---------------------------------------------------------------- helpers of the module


@pytest.mark.parametrize(
    ("channel", "interface"),
    [
        ("Local/1001@agents-0000001b;1", "Local/1001@agents"),
        ("PJSIP/1001-0000001b", "PJSIP/1001"),
        ("PJSIP/trunk-provider-00000a3f", "PJSIP/trunk-provider"),
        ("Custom:agent1001", "Custom:agent1001"),
        ("", ""),
    ],
)
def test_the_interface_of_a_channel_drops_the_sequence_suffix(channel: str, interface: str) -> None:
    assert interface_of(channel) == interface


@pytest.mark.parametrize(
    ("dial_string", "number"),
    [
        ("+15559876543@customers", "+15559876543"),
        ("trunk/sip:0201234567@203.0.113.5", "0201234567"),
        ("6002", "6002"),
    ],
)
def test_the_number_of_a_dial_string_is_its_user_part(dial_string: str, number: str) -> None:
    assert number_of(dial_string) == number


# ---------------------------------------------------------------- properties


def calls_alone(copies: Sequence[Sequence[Received]]) -> dict[str, list[CallEvent]]:
    per_call: dict[str, list[CallEvent]] = defaultdict(list)
    for frames in copies:
        for call_event in replay_calls(frames):
            per_call[getattr(call_event, "linked_id", "")].append(call_event)
    return dict(per_call)


@PROPERTY
@given(
    sources=st.lists(
        st.sampled_from(["03-inbound-answered-by-agent", "05-inbound-withheld-and-national-cli"]),
        min_size=2,
        max_size=4,
    ),
    seed=st.randoms(use_true_random=False),
)
def test_interleaved_calls_each_get_the_events_they_get_alone(
    sources: list[str], seed: random.Random
) -> None:
    copies = [copy_of(received(name), copy) for copy, name in enumerate(sources)]
    positions = [0] * len(copies)
    merged: list[Received] = []
    while any(p < len(c) for p, c in zip(positions, copies, strict=True)):
        choice = seed.choice([i for i, c in enumerate(copies) if positions[i] < len(c)])
        merged.append(copies[choice][positions[choice]])
        positions[choice] += 1
    together: dict[str, list[CallEvent]] = defaultdict(list)
    for call_event in replay_calls(merged):
        together[getattr(call_event, "linked_id", "")].append(call_event)
    assert dict(together) == calls_alone(copies)


REPLAY_SOURCES = (
    "04-inbound-abandoned",
    "05-inbound-withheld-and-national-cli",
    "06-click-to-call",
    "07-outbound-predictive",
)


@cache
def replay_baseline() -> tuple[tuple[Received, ...], tuple[CallEvent, ...]]:
    frames = tuple(item for name in REPLAY_SOURCES for item in received(name))
    expectations = CLICK_TO_CALL_EXPECTATIONS + PREDICTIVE_EXPECTATIONS
    tracker = tracker_expecting(expectations, capture_variables=frozenset({"QTIMEOUT"}))
    return frames, tuple(replay_calls(frames, tracker))


@PROPERTY
@given(data=st.data())
def test_frames_replayed_at_any_later_point_change_nothing(data: st.DataObject) -> None:
    frames, baseline = replay_baseline()
    duplicates = data.draw(
        st.lists(st.tuples(st.integers(0, len(frames) - 1), st.integers(0, 400)), max_size=60)
    )
    stream = list(frames)
    # Insert from the back so that earlier indices stay valid; each copy lands after its original.
    for original, delay in sorted(duplicates, reverse=True):
        stream.insert(min(original + 1 + delay, len(stream)), frames[original])
    expectations = CLICK_TO_CALL_EXPECTATIONS + PREDICTIVE_EXPECTATIONS
    tracker = tracker_expecting(expectations, capture_variables=frozenset({"QTIMEOUT"}))
    assert replay_calls(stream, tracker) == list(baseline)


def test_a_whole_session_replayed_after_its_end_changes_nothing() -> None:
    tracker = CallTracker()
    frames = received("04-inbound-abandoned")
    assert len(replay_calls(frames, tracker)) == 10  # A: 2, B: 6, C: 2
    assert replay_calls(frames, tracker) == []


EVENT_NAMES = [
    "Newchannel",
    "NewCallerid",
    "VarSet",
    "HangupRequest",
    "SoftHangupRequest",
    "Hangup",
    "DialBegin",
    "DialEnd",
    "QueueCallerJoin",
    "QueueCallerAbandon",
    "QueueCallerLeave",
    "AgentCalled",
    "AgentRingNoAnswer",
    "AgentConnect",
    "AgentComplete",
    "BlindTransfer",
    "AttendedTransfer",
    "OriginateResponse",
    "CoreShowChannel",
    "Newexten",
]
HEADER_NAMES = [
    "Uniqueid",
    "Linkedid",
    "DestUniqueid",
    "Channel",
    "DestChannel",
    "Queue",
    "Interface",
    "Cause",
    "Cause-txt",
    "HoldTime",
    "TalkTime",
    "Position",
    "OriginalPosition",
    "Reason",
    "Response",
    "ActionID",
    "DialStatus",
    "DialString",
    "Variable",
    "Value",
    "CID-CallingPres",
    "Result",
    "TransfereeUniqueid",
    "TransfererUniqueid",
    "OrigTransfererUniqueid",
    "DestType",
    "Application",
    "ApplicationData",
    "BridgeId",
    "Duration",
    "CallerIDNum",
    "Exten",
]
HEADER_VALUES = st.one_of(
    st.sampled_from(
        (
            *("1.1", "1.2", "1.3", "2.1", "", "<unknown>", "Success", "Failure", "ANSWER"),
            *("CANCEL", "BUSY", "Queue", "AppQueue", "35 (x)", "x (y)", "-3", "9" * 30, "0:1:x"),
        )
    ),
    st.text(max_size=12),
)
JUNK_FRAMES = st.lists(
    st.tuples(
        st.sampled_from(EVENT_NAMES),
        st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=10),
    ),
    max_size=60,
)


@PROPERTY
@given(junk=JUNK_FRAMES, times=st.lists(st.floats(allow_nan=True), min_size=1, max_size=5))
def test_random_frames_never_raise(
    junk: list[tuple[str, list[tuple[str, str]]]], times: list[float]
) -> None:
    tracker = CallTracker(capture_variables=frozenset({"X", ""}))
    tracker.expect("1.1", "click_to_call", {"k": "v"}, action_id="")
    tracker.expect("1.2", "outbound", {}, action_id="1.1")
    frames = [Frame((("Event", name), *headers)) for name, headers in junk]
    for index, frame in enumerate(frames):
        tracker.apply(frame, times[index % len(times)])
    tracker.reconcile(frames, 1.0)
    tracker.open_calls()
    # An empty listing asked for after every frame ends every call. (Channels first seen at or
    # after the listing's time are kept on purpose: they may be newer than the listing.)
    finite = [t for t in times if math.isfinite(t)]
    after = math.nextafter(max([2.0, *finite]), math.inf)
    tracker.reconcile([], after)
    if math.inf not in times:
        assert tracker.tracked_call_count == 0


@PROPERTY
@given(data=st.data())
def test_mutated_trace_frames_never_raise(data: st.DataObject) -> None:
    frames = received("09-resync-after-reconnect")
    tracker = CallTracker(capture_variables=frozenset({"TARGETQ"}))
    mutations = data.draw(
        st.dictionaries(
            st.integers(0, len(frames) - 1), st.tuples(st.integers(0, 40), HEADER_VALUES)
        )
    )
    for index, item in enumerate(frames):
        headers = list(item.frame.headers)
        if index in mutations and len(headers) > 1:
            position, value = mutations[index]
            position = 1 + position % (len(headers) - 1)
            if value == "":
                del headers[position]  # a header gone missing
            else:
                headers[position] = (headers[position][0], value)
        tracker.apply(Frame(tuple(headers)), item.at)


def test_a_listing_asked_for_before_a_call_began_does_not_end_that_call() -> None:
    frames = received("03-inbound-answered-by-agent")
    tracker = CallTracker()
    until_called = until(frames, "AgentCalled")
    replay_calls(until_called, tracker)
    asked_at = until_called[0].at - 1.0  # the CoreShowChannels went out before the call began
    assert tracker.reconcile([], asked_at) == []
    assert tracker.tracked_call_count == 1
    assert of_type(tracker.reconcile([], until_called[-1].at + 1.0), CallEnded)


@pytest.mark.parametrize(
    ("status", "agent_cause", "customer_cause", "expected"),
    [
        ("BUSY", 16, None, (Outcome.BUSY, 17)),  # the trunk refused before a channel was up
        ("CONGESTION", 16, None, (Outcome.CONGESTION, 34)),
        ("BUSY", 16, 17, (Outcome.BUSY, 17)),  # the customer's leg said it: kept
        ("BUSY", 21, None, (Outcome.BUSY, 21)),  # not a plain clearing: kept as Asterisk said
    ],
)
def test_a_refused_customer_leg_gives_the_records_cause_not_the_agents_clearing(
    status, agent_cause, customer_cause, expected
):
    from cti.calls.model import _Call, _Dial
    from cti.calls.outcomes import _ended
    from cti.events import Direction, Party

    call = _Call("1.1", 10.0)
    call.direction = Direction.CLICK_TO_CALL
    dial = _Dial("1.2", "+15557770001@trunk", Party.CUSTOMER)
    dial.status = status
    call.dials["1.2"] = dial
    call.hangup_cause = customer_cause or agent_cause
    ended = _ended(call, 20.0, resynced=False)
    assert (ended.outcome, ended.hangup_cause) == expected
