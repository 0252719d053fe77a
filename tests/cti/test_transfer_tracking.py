"""The call and agent trackers following transfers, from hand-built frames in the order the
simulator (and Asterisk 22) sends them: BlindTransfer, then the transferee's Dial() or Queue();
an attended transfer's consultation on Local/<exten>@transfer channels that carry the
customer's Linkedid, then AttendedTransfer when the transferer hangs up."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from cti.agents import AgentTracker
from cti.ami.framing import Frame
from cti.calls import CallTracker
from cti.events import (
    Activity,
    AgentActivityChanged,
    AgentLegEnded,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    LegEnd,
    TransferKind,
    WithdrawalReason,
)

T = TypeVar("T")
CALL = "7.1"
CUSTOMER = ("PJSIP/trunk-main-00000001", "7.1")
AGENT_1 = ("PJSIP/1001-00000002", "7.2")
AGENT_2 = ("PJSIP/1002-00000003", "7.3")
CONSULT_1 = ("Local/1002@transfer-00000004;1", "7.4")
CONSULT_2 = ("Local/1002@transfer-00000004;2", "7.5")
CONSULT_TARGET = ("PJSIP/1002-00000006", "7.6")


def frame(name: str, **headers: str) -> Frame:
    return Frame((("Event", name), ("Privilege", "call,all"), *headers.items()))


def chan(channel: tuple[str, str], prefix: str = "", linkedid: str = CALL) -> dict[str, str]:
    name, uniqueid = channel
    return {f"{prefix}Channel": name, f"{prefix}Uniqueid": uniqueid, f"{prefix}Linkedid": linkedid}


def new(channel: tuple[str, str], linkedid: str = CALL) -> Frame:
    return frame("Newchannel", **chan(channel, linkedid=linkedid))


def hangup(channel: tuple[str, str], linkedid: str = CALL) -> Frame:
    return frame(
        "Hangup", **chan(channel, linkedid=linkedid), Cause="16", **{"Cause-txt": "Normal Clearing"}
    )


def dial(name: str, caller: tuple[str, str], dest: tuple[str, str], **extra: str) -> Frame:
    return frame(name, **chan(caller), **chan(dest, "Dest"), **extra)


def queue_event(name: str, caller: tuple[str, str], **extra: str) -> Frame:
    return frame(
        name, **chan(caller), CallerIDNum="+4930123456", CallerIDName="Bob", Exten="5000", **extra
    )


def member(
    name: str,
    caller: tuple[str, str],
    dest: tuple[str, str],
    interface: str,
    queue: str = "sales",
    **extra: str,
) -> Frame:
    return queue_event(
        name,
        caller,
        **chan(dest, "Dest"),
        Queue=queue,
        Interface=interface,
        MemberName=f"Agent {interface[-4:]}",
        **extra,
    )


def answered_by_1001() -> list[Frame]:
    return [
        new(CUSTOMER),
        queue_event("QueueCallerJoin", CUSTOMER, Queue="sales", Position="1", Count="1"),
        new(AGENT_1),
        member("AgentCalled", CUSTOMER, AGENT_1, "PJSIP/1001"),
        dial("DialBegin", CUSTOMER, AGENT_1, DialString="PJSIP/1001"),
        dial("DialEnd", CUSTOMER, AGENT_1, DialStatus="ANSWER"),
        queue_event("QueueCallerLeave", CUSTOMER, Queue="sales"),
        member("AgentConnect", CUSTOMER, AGENT_1, "PJSIP/1001", HoldTime="2", RingTime="2"),
    ]


def blind(exten: str = "1002") -> list[Frame]:
    return [
        frame(
            "BlindTransfer",
            Result="Success",
            **chan(AGENT_1, "Transferer"),
            **chan(CUSTOMER, "Transferee"),
            IsExternal="Yes",
            Context="transfer",
            Extension=exten,
        ),
        member("AgentComplete", CUSTOMER, AGENT_1, "PJSIP/1001", Reason="transfer"),
        hangup(AGENT_1),
    ]


def consultation(answer: bool = True) -> list[Frame]:
    frames = [
        new(CONSULT_1),
        new(CONSULT_2),
        new(CONSULT_TARGET),
        dial("DialBegin", CONSULT_2, CONSULT_TARGET, DialString="1002"),
    ]
    if answer:
        frames.append(dial("DialEnd", CONSULT_2, CONSULT_TARGET, DialStatus="ANSWER"))
    return frames


def attended_transfer(target: tuple[str, str] = CONSULT_1, linkedid: str = CALL) -> Frame:
    return frame(
        "AttendedTransfer",
        Result="Success",
        **chan(AGENT_1, "OrigTransferer"),
        **chan(AGENT_1, "SecondTransferer"),
        **chan(CUSTOMER, "Transferee"),
        **chan(target, "TransferTarget", linkedid),
        IsExternal="No",
        DestType="Bridge",
        DestBridgeUniqueid="b-1",
    )


def apply(frames: Iterable[Frame], tracker: CallTracker | None = None) -> list[CallEvent]:
    tracker = tracker or CallTracker()
    return [event for item in frames for event in tracker.apply(item, 1.0)]


def of_type(events: Iterable[object], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


def names(events: Iterable[object]) -> list[str]:
    return [type(e).__name__ for e in events]


# ---------------------------------------------------------------- blind


def test_a_blind_transfer_offers_the_customer_to_the_target_agent_and_ends_once() -> None:
    events = apply(
        [
            *answered_by_1001(),
            *blind(),
            new(AGENT_2),
            dial("DialBegin", CUSTOMER, AGENT_2, DialString="1002"),
            dial("DialEnd", CUSTOMER, AGENT_2, DialStatus="ANSWER"),
            hangup(AGENT_2),
            hangup(CUSTOMER),
        ]
    )
    assert names(events) == [
        "CallOffered",
        "CallAnswered",
        "CallTransferred",
        "AgentLegEnded",  # 1001's part: over with the transfer
        "CallOffered",
        "CallAnswered",
        "AgentLegEnded",  # 1002's part: over when it hangs up
        "CallEnded",
    ]
    first_leg, second_leg = of_type(events, AgentLegEnded)
    assert (first_leg.agent_interface, first_leg.reason) == ("PJSIP/1001", LegEnd.TRANSFERRED)
    assert (second_leg.agent_interface, second_leg.reason) == ("PJSIP/1002", LegEnd.HUNG_UP)
    transferred = of_type(events, CallTransferred)[0]
    assert (transferred.kind, transferred.agent_interface, transferred.target) == (
        TransferKind.BLIND,
        "PJSIP/1001",
        "1002@transfer",
    )
    first, second = of_type(events, CallOffered)
    assert (second.linked_id, second.agent_interface, second.queue, second.device_channel) == (
        CALL,
        "PJSIP/1002",
        "",
        AGENT_2[0],
    )
    assert (second.caller_number, second.caller_name, second.dnis) == (
        first.caller_number,
        first.caller_name,
        "5000",
    )
    assert second.uniqueid_of_caller == CUSTOMER[1]
    (ended,) = of_type(events, CallEnded)
    assert (ended.agent_interface, ended.outcome) == ("PJSIP/1002", "answered")


def test_a_blind_transfer_nobody_answers_is_withdrawn_and_the_call_stays_the_first_agents() -> None:
    events = apply(
        [
            *answered_by_1001(),
            *blind(),
            new(AGENT_2),
            dial("DialBegin", CUSTOMER, AGENT_2, DialString="1002"),
            dial("DialEnd", CUSTOMER, AGENT_2, DialStatus="NOANSWER"),
            hangup(AGENT_2),
            hangup(CUSTOMER),
        ]
    )
    (withdrawn,) = of_type(events, CallOfferWithdrawn)
    assert (withdrawn.agent_interface, withdrawn.reason) == (
        "PJSIP/1002",
        WithdrawalReason.RING_NO_ANSWER,
    )
    (ended,) = of_type(events, CallEnded)
    assert ended.agent_interface == "PJSIP/1001"


def test_a_blind_transfer_to_a_queue_is_offered_from_that_queue() -> None:
    events = apply(
        [
            *answered_by_1001(),
            *blind("5001"),
            queue_event("QueueCallerJoin", CUSTOMER, Queue="support", Position="1", Count="1"),
            new(AGENT_2),
            member("AgentCalled", CUSTOMER, AGENT_2, "PJSIP/1002", "support"),
            dial("DialBegin", CUSTOMER, AGENT_2, DialString="PJSIP/1002"),
            dial("DialEnd", CUSTOMER, AGENT_2, DialStatus="ANSWER"),
            queue_event("QueueCallerLeave", CUSTOMER, Queue="support"),
            member("AgentConnect", CUSTOMER, AGENT_2, "PJSIP/1002", "support"),
            hangup(AGENT_2),
            hangup(CUSTOMER),
        ]
    )
    assert names(events)[2:] == [
        "CallTransferred",
        "AgentLegEnded",
        "CallOffered",
        "CallAnswered",
        "AgentLegEnded",
        "CallEnded",
    ]
    offered = of_type(events, CallOffered)[-1]
    assert (offered.queue, offered.linked_id, offered.agent_interface) == (
        "support",
        CALL,
        "PJSIP/1002",
    )
    (ended,) = of_type(events, CallEnded)
    assert (ended.agent_interface, ended.queue) == ("PJSIP/1002", "support")
    # The record keeps both queues and both agents.
    assert [(leg.kind, leg.queue, leg.agent_interface, leg.result) for leg in ended.legs] == [
        ("queue", "sales", "", "answered"),
        ("agent", "sales", "PJSIP/1001", "transferred"),
        ("queue", "support", "", "answered"),
        ("agent", "support", "PJSIP/1002", "hung_up"),
    ]


# ---------------------------------------------------------------- attended


def test_an_attended_transfer_is_offered_during_the_consultation_and_completes() -> None:
    tracker = CallTracker()
    consulting = apply([*answered_by_1001(), *consultation()], tracker)
    assert names(consulting)[2:] == ["CallOffered", "CallAnswered"]
    offered, answered = consulting[2], consulting[3]
    assert isinstance(offered, CallOffered) and isinstance(answered, CallAnswered)
    assert (offered.agent_interface, offered.caller_number, offered.queue) == (
        "PJSIP/1002",
        "+4930123456",
        "",
    )
    (open_call,) = tracker.open_calls()
    assert open_call.agent_interface == "PJSIP/1001"  # the customer still holds for 1001

    completing = apply(
        [
            attended_transfer(),
            member("AgentComplete", CUSTOMER, AGENT_1, "PJSIP/1001", Reason="transfer"),
            hangup(AGENT_1),
        ],
        tracker,
    )
    transferred, leg = completing
    assert isinstance(transferred, CallTransferred) and isinstance(leg, AgentLegEnded)
    assert (leg.agent_interface, leg.reason) == ("PJSIP/1001", LegEnd.TRANSFERRED)
    assert (transferred.kind, transferred.agent_interface, transferred.target) == (
        TransferKind.ATTENDED,
        "PJSIP/1001",
        CONSULT_TARGET[0],
    )
    ending = apply(
        [hangup(CONSULT_TARGET), hangup(CONSULT_2), hangup(CONSULT_1), hangup(CUSTOMER)], tracker
    )
    leg, ended = ending
    assert isinstance(leg, AgentLegEnded) and leg.agent_interface == "PJSIP/1002"
    assert leg.device_channel == CONSULT_TARGET[0]
    assert isinstance(ended, CallEnded) and ended.agent_interface == "PJSIP/1002"


def test_a_cancelled_consultation_is_withdrawn_and_the_call_ends_once_with_the_first_agent() -> (
    None
):
    events = apply(
        [
            *answered_by_1001(),
            *consultation(),
            hangup(CONSULT_1),
            hangup(CONSULT_TARGET),
            hangup(CONSULT_2),
            hangup(AGENT_1),
            hangup(CUSTOMER),
        ]
    )
    assert names(events)[2:] == [
        "CallOffered",
        "CallAnswered",
        "CallOfferWithdrawn",
        "AgentLegEnded",
        "CallEnded",
    ]
    (withdrawn,) = of_type(events, CallOfferWithdrawn)
    assert (withdrawn.agent_interface, withdrawn.reason) == (
        "PJSIP/1002",
        WithdrawalReason.TRANSFER_CANCELLED,
    )
    (ended,) = of_type(events, CallEnded)
    assert ended.agent_interface == "PJSIP/1001"


def test_a_consultation_cancelled_while_ringing_is_withdrawn_as_such() -> None:
    events = apply(
        [
            *answered_by_1001(),
            *consultation(answer=False),
            dial("DialEnd", CONSULT_2, CONSULT_TARGET, DialStatus="CANCEL"),
        ]
    )
    (withdrawn,) = of_type(events, CallOfferWithdrawn)
    assert withdrawn.reason is WithdrawalReason.TRANSFER_CANCELLED


def test_a_transfer_completed_before_the_target_answers_goes_to_it_when_it_does() -> None:
    events = apply(
        [
            *answered_by_1001(),
            *consultation(answer=False),
            attended_transfer(),
            hangup(AGENT_1),
            dial("DialEnd", CONSULT_2, CONSULT_TARGET, DialStatus="ANSWER"),
            hangup(CONSULT_TARGET),
            hangup(CONSULT_2),
            hangup(CONSULT_1),
            hangup(CUSTOMER),
        ]
    )
    assert names(events)[2:] == [
        "CallOffered",
        "CallTransferred",
        "AgentLegEnded",
        "CallAnswered",
        "AgentLegEnded",
        "CallEnded",
    ]
    (ended,) = of_type(events, CallEnded)
    assert ended.agent_interface == "PJSIP/1002"


def test_a_consultation_through_a_queue_never_counts_as_the_customer_abandoning() -> None:
    events = apply(
        [
            *answered_by_1001(),
            new(CONSULT_1),
            new(CONSULT_2),
            frame("QueueCallerJoin", **chan(CONSULT_2), CallerIDNum="1001", Queue="support"),
            new(CONSULT_TARGET),
            member("AgentCalled", CONSULT_2, CONSULT_TARGET, "PJSIP/1002", "support"),
            dial("DialBegin", CONSULT_2, CONSULT_TARGET, DialString="PJSIP/1002"),
            hangup(CONSULT_1),
            frame("HangupRequest", **chan(CONSULT_2)),
            dial("DialEnd", CONSULT_2, CONSULT_TARGET, DialStatus="CANCEL"),
            frame("QueueCallerAbandon", **chan(CONSULT_2), Queue="support", Position="1"),
            hangup(CONSULT_TARGET),
            hangup(CONSULT_2),
            hangup(AGENT_1),
            hangup(CUSTOMER),
        ]
    )
    assert names(events)[2:] == [
        "CallOffered",
        "CallOfferWithdrawn",
        "AgentLegEnded",
        "CallEnded",
    ]
    offered = of_type(events, CallOffered)[-1]
    assert (offered.queue, offered.caller_number) == ("support", "+4930123456")
    assert of_type(events, CallOfferWithdrawn)[0].reason is WithdrawalReason.TRANSFER_CANCELLED
    assert not of_type(events, CallAbandoned)
    (ended,) = of_type(events, CallEnded)
    assert (ended.agent_interface, ended.queue, ended.outcome) == (
        "PJSIP/1001",
        "sales",
        "answered",
    )


def test_a_consultation_with_its_own_linkedid_leaves_only_the_transfer_to_follow() -> None:
    """A phone that places the consultation itself (SIP REFER) gives it a new Linkedid: that
    call is nobody's we report; the customer's call learns its new agent from the event."""
    other = "7.9"
    phone_leg = ("PJSIP/1001-00000010", "7.9")
    events = apply(
        [
            *answered_by_1001(),
            new(phone_leg, other),
            new(CONSULT_TARGET, other),
            frame(
                "DialBegin",
                **chan(phone_leg, linkedid=other),
                **chan(CONSULT_TARGET, "Dest", other),
                DialString="1002",
            ),
            frame(
                "DialEnd",
                **chan(phone_leg, linkedid=other),
                **chan(CONSULT_TARGET, "Dest", other),
                DialStatus="ANSWER",
            ),
            attended_transfer(CONSULT_TARGET, other),
            hangup(AGENT_1),
            hangup(phone_leg, other),
            hangup(CONSULT_TARGET, other),
            hangup(CUSTOMER),
        ]
    )
    assert names(events)[2:] == ["CallTransferred", "AgentLegEnded", "AgentLegEnded", "CallEnded"]
    assert {e.linked_id for e in events} == {CALL}
    (ended,) = of_type(events, CallEnded)
    assert ended.agent_interface == "PJSIP/1002"


def test_transfer_frames_replayed_later_change_nothing() -> None:
    frames = [*answered_by_1001(), *consultation(), attended_transfer(), hangup(AGENT_1)]
    tracker = CallTracker()
    first = apply(frames, tracker)
    assert apply(frames, tracker) == []
    assert names(first)[-2:] == ["CallTransferred", "AgentLegEnded"]


# ---------------------------------------------------------------- agents


def test_both_agents_activity_follows_a_blind_transfer() -> None:
    tracker = AgentTracker()
    joined = [
        frame("QueueMemberAdded", Queue="sales", Interface="PJSIP/1001", Status="1"),
        frame("QueueMemberAdded", Queue="support", Interface="PJSIP/1002", Status="1"),
    ]
    frames = [
        *joined,
        *answered_by_1001(),
        *blind(),
        new(AGENT_2),
        dial("DialBegin", CUSTOMER, AGENT_2, DialString="1002"),
        dial("DialEnd", CUSTOMER, AGENT_2, DialStatus="ANSWER"),
        hangup(AGENT_2),
    ]
    events = [e for item in frames for e in tracker.apply(item, 1.0)]
    changes = [(e.interface, e.activity) for e in of_type(events, AgentActivityChanged)]
    assert changes == [
        ("PJSIP/1001", Activity.RINGING),
        ("PJSIP/1001", Activity.TALKING),
        ("PJSIP/1001", Activity.IDLE),
        ("PJSIP/1002", Activity.RINGING),
        ("PJSIP/1002", Activity.TALKING),
        ("PJSIP/1002", Activity.IDLE),
    ]


def test_a_consulted_agent_rings_talks_and_goes_idle_while_the_first_stays_on_the_call() -> None:
    tracker = AgentTracker()
    frames = [
        frame("QueueMemberAdded", Queue="sales", Interface="PJSIP/1001", Status="1"),
        frame("QueueMemberAdded", Queue="support", Interface="PJSIP/1002", Status="1"),
        *answered_by_1001(),
        *consultation(),
        hangup(CONSULT_1),
        hangup(CONSULT_TARGET),
    ]
    events = [e for item in frames for e in tracker.apply(item, 1.0)]
    changes = [(e.interface, e.activity) for e in of_type(events, AgentActivityChanged)]
    assert changes[2:] == [
        ("PJSIP/1002", Activity.RINGING),
        ("PJSIP/1002", Activity.TALKING),
        ("PJSIP/1002", Activity.IDLE),
    ]
    talking = tracker.agent("PJSIP/1001")
    assert talking is not None and talking.activity is Activity.TALKING


def test_an_answered_consultation_gone_while_the_link_was_down_is_withdrawn_at_resync() -> None:
    tracker = CallTracker()
    apply([*answered_by_1001(), *consultation()], tracker)
    still_there = [CUSTOMER, AGENT_1]  # the consultation ended while we were away
    listing = [
        frame(
            "CoreShowChannel",
            **chan(channel),
            Duration="00:00:09",
            Application="AppQueue" if channel is AGENT_1 else "Queue",
            BridgeId="b-1",
        )
        for channel in still_there
    ]
    events = tracker.reconcile(listing, 5.0)
    (withdrawn,) = of_type(events, CallOfferWithdrawn)
    assert (withdrawn.agent_interface, withdrawn.reason) == (
        "PJSIP/1002",
        WithdrawalReason.TRANSFER_CANCELLED,
    )
    (open_call,) = tracker.open_calls()
    assert open_call.agent_interface == "PJSIP/1001"


# ---------------------------------------------------------------- per-agent figures


def test_an_agent_complete_without_the_callers_ids_still_gives_the_agents_talk_time() -> None:
    """Seen in a 50-call burst: the caller's channel was gone first, so AgentComplete carries
    no Channel, Uniqueid or Linkedid. The agent's channel (or, without it, the member and the
    queue) still finds the leg."""
    for dest in (chan(AGENT_1, "Dest"), {}):
        events = apply(
            [
                *answered_by_1001(),
                hangup(CUSTOMER),
                frame(
                    "AgentComplete",
                    **dest,
                    Queue="sales",
                    Interface="PJSIP/1001",
                    MemberName="Agent 1001",
                    HoldTime="2",
                    TalkTime="37",
                    Reason="caller",
                ),
                hangup(AGENT_1),
            ]
        )
        leg, ended = events[-2:]
        assert isinstance(leg, AgentLegEnded) and isinstance(ended, CallEnded)
        assert (leg.agent_interface, leg.hold_seconds, leg.talk_seconds) == ("PJSIP/1001", 2, 37)
        assert ended.talk_seconds == 37
