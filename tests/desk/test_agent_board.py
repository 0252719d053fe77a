"""The one agent projection: which call each phone is on, its status and since when, who is
free for the next call. Pure: domain events and AMI frames in, no servers."""

from __future__ import annotations

from cti.agents import AgentTracker
from cti.ami.framing import Frame
from cti.calls import CallTracker
from cti.events import (
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    Direction,
    OriginateFailed,
    Outcome,
    TransferKind,
    WithdrawalReason,
)
from desk.agents import WRAPUP_REASON, AgentBoard, Status

ANN, BOB = "PJSIP/1001", "PJSIP/1002"


class Floor:
    """The PBX's state machines and the board over them, fed as the runtime feeds them."""

    def __init__(self) -> None:
        self.agents = AgentTracker()
        self.board = AgentBoard(self.agents, CallTracker())

    def frame(self, name: str, at: float, **headers: str) -> None:
        for event in self.agents.apply(Frame((("Event", name), *headers.items())), at):
            self.board.apply(event, at)

    def joins(
        self,
        interface: str,
        at: float,
        queue: str = "sales",
        paused: bool = False,
        reason: str = "",
    ) -> None:
        self.frame(
            "QueueMemberAdded",
            at,
            Queue=queue,
            MemberName=interface,
            Interface=interface,
            StateInterface=interface,
            Membership="dynamic",
            Penalty="0",
            CallsTaken="0",
            LastCall="0",
            LastPause="0",
            InCall="0",
            Status="1",
            Paused="1" if paused else "0",
            PausedReason=reason,
            Ringinuse="0",
            Wrapuptime="0",
        )

    def pauses(
        self, interface: str, at: float, reason: str, paused: bool = True, queue: str = "sales"
    ) -> None:
        self.frame(
            "QueueMemberPause",
            at,
            Queue=queue,
            MemberName=interface,
            Interface=interface,
            StateInterface=interface,
            Membership="dynamic",
            Penalty="0",
            CallsTaken="0",
            LastCall="0",
            LastPause="0",
            InCall="0",
            Status="1",
            Paused="1" if paused else "0",
            PausedReason=reason,
            Ringinuse="0",
            Wrapuptime="0",
        )


def offered(agent: str, device: str, call: str = "c1", at: float = 1.0) -> CallOffered:
    return CallOffered(
        linked_id=call,
        uniqueid_of_caller="u",
        agent_interface=agent,
        member_name="",
        device_channel=device,
        caller_number="+15551234567",
        caller_name="",
        presentation_restricted=False,
        customer_number="+15551234567",
        dnis="5000",
        queue="sales",
        direction=Direction.INBOUND,
        variables=(),
        tags=(),
        at=at,
    )


def answered(agent: str, device: str, call: str = "c1", at: float = 2.0) -> CallAnswered:
    return CallAnswered(
        linked_id=call,
        agent_interface=agent,
        member_name="",
        device_channel=device,
        queue="sales",
        direction=Direction.INBOUND,
        at=at,
        wait_seconds=1.0,
    )


def ended(call: str, agent: str, at: float = 9.0) -> CallEnded:
    return CallEnded(
        linked_id=call,
        direction=Direction.INBOUND,
        outcome=Outcome.ANSWERED,
        caller_number="",
        customer_number="",
        queue="sales",
        agent_interface=agent,
        offered_at=0.0,
        answered_at=2.0,
        ended_at=at,
        wait_seconds=2.0,
        talk_seconds=7.0,
        hangup_cause=16,
        hangup_cause_text="",
        tags=(),
    )


def test_an_answered_call_is_held_with_its_channel_until_it_ends():
    floor = Floor()
    board = floor.board
    board.apply(offered(ANN, "PJSIP/1001-1"), 1.0)
    assert board.call_of(ANN).state == "ringing"
    board.apply(answered(ANN, "PJSIP/1001-1"), 2.0)
    held = board.call_of(ANN)
    assert (held.state, held.device_channel, held.since) == ("talking", "PJSIP/1001-1", 1.0)
    board.apply(offered(ANN, "PJSIP/1001-2", call="c2"), 3.0)  # ringinuse: the talk stays
    assert board.call_of(ANN).linked_id == "c1"
    board.apply(ended("c1", ANN), 9.0)
    assert board.call_of(ANN) is None


def test_a_cancelled_consultation_frees_the_consulted_agent_only():
    board = Floor().board
    board.apply(answered(ANN, "PJSIP/1001-1"), 2.0)
    board.apply(offered(BOB, "PJSIP/1002-1"), 3.0)
    board.apply(answered(BOB, "PJSIP/1002-1"), 4.0)
    board.apply(
        CallOfferWithdrawn(
            linked_id="c1",
            agent_interface=BOB,
            device_channel="PJSIP/1002-1",
            reason=WithdrawalReason.TRANSFER_CANCELLED,
            at=5.0,
        ),
        5.0,
    )
    assert board.call_of(BOB) is None and board.call_of(ANN).state == "talking"


def test_a_transfer_takes_the_call_off_the_transferer():
    board = Floor().board
    board.apply(answered(ANN, "PJSIP/1001-1"), 2.0)
    board.apply(
        CallTransferred(
            linked_id="c1",
            kind=TransferKind.BLIND,
            agent_interface=ANN,
            transferer_channel="PJSIP/1001-1",
            transferee_channel="PJSIP/trunk-1",
            target="1002@transfer",
            at=4.0,
        ),
        4.0,
    )
    assert board.call_of(ANN) is None


def test_a_placed_call_the_pbx_refused_or_never_connected_is_forgotten():
    board = Floor().board
    board.dialling(ANN, "cc-1", 1.0)
    assert board.view(ANN).status is Status.DIALLING
    board.forget_call(ANN, "cc-other", 1.5)
    assert board.call_of(ANN) is not None
    board.forget_call(ANN, "cc-1", 2.0)
    assert board.call_of(ANN) is None
    board.dialling(ANN, "cc-2", 3.0)
    board.apply(
        OriginateFailed(
            action_id="a",
            uniqueid="cc-2",
            channel="PJSIP/1001",
            reason_code=0,
            reason="failure",
            outcome=Outcome.FAILED,
            direction=Direction.CLICK_TO_CALL,
            tags=(),
            at=4.0,
        ),
        4.0,
    )
    assert board.call_of(ANN) is None


def test_status_and_since_follow_queue_membership_pause_and_calls():
    floor = Floor()
    floor.joins(ANN, 10.0)
    view = floor.board.view(ANN)
    assert (view.status, view.status_since) == (Status.READY, 10.0)
    floor.board.apply(offered(ANN, "PJSIP/1001-1", at=20.0), 20.0)
    assert floor.board.view(ANN).status is Status.RINGING
    floor.board.apply(answered(ANN, "PJSIP/1001-1", at=22.0), 22.0)
    view = floor.board.view(ANN)
    assert (view.status, view.status_since) == (Status.TALKING, 22.0)
    floor.board.apply(ended("c1", ANN, at=80.0), 80.0)
    floor.pauses(ANN, 80.5, WRAPUP_REASON)
    view = floor.board.view(ANN)
    assert (view.status, view.status_since, view.paused_since) == (Status.WRAP_UP, 80.5, 80.5)
    floor.pauses(ANN, 95.0, "", paused=False)
    view = floor.board.view(ANN)
    assert (view.status, view.status_since, view.paused_since) == (Status.READY, 95.0, None)
    floor.pauses(ANN, 100.0, "lunch")
    assert floor.board.view(ANN).status is Status.PAUSED
    floor.frame("QueueMemberRemoved", 120.0, Queue="sales", MemberName=ANN, Interface=ANN)
    assert floor.board.view(ANN) is None  # out of every queue and idle: nothing is kept


def test_a_break_chosen_during_the_wrap_up_is_timed_from_when_it_was_chosen():
    floor = Floor()
    floor.joins(ANN, 10.0)
    floor.pauses(ANN, 80.0, WRAPUP_REASON)
    assert floor.board.view(ANN).paused_since == 80.0
    floor.pauses(ANN, 114.0, "lunch")  # still paused: the reason changed
    view = floor.board.view(ANN)
    assert (view.status, view.paused_since) == (Status.PAUSED, 114.0)
    floor.pauses(ANN, 200.0, "lunch")  # the same pause again: its start stands
    assert floor.board.view(ANN).paused_since == 114.0


def test_the_free_agents_are_the_ready_ones_in_that_queue_longest_idle_first():
    floor = Floor()
    floor.joins(ANN, 10.0)
    floor.joins(BOB, 5.0)
    floor.joins("PJSIP/1003", 1.0, paused=True, reason="lunch")
    floor.joins("PJSIP/1004", 2.0, queue="support")
    assert [v.interface for v in floor.board.free("sales")] == [BOB, ANN]
    floor.board.apply(offered(BOB, "PJSIP/1002-1", at=30.0), 30.0)
    assert [v.interface for v in floor.board.free("sales")] == [ANN]
    assert [v.interface for v in floor.board.free()] == ["PJSIP/1004", ANN]


def test_a_pop_rings_with_its_offer_and_stays_with_the_call_it_answered():
    board = Floor().board
    board.apply(offered(ANN, "PJSIP/1001-1"), 1.0)
    board.apply(offered(ANN, "PJSIP/1001-2", call="c2"), 1.0)  # ringinuse: a second one rings
    assert board.set_pop(ANN, "PJSIP/1001-1", {"type": "call.offered"})
    assert board.set_pop(ANN, "PJSIP/1001-2", {"type": "call.offered", "call_id": "c2"})
    assert board.view(ANN).offers[0].pop == {"type": "call.offered"}
    board.apply(answered(ANN, "PJSIP/1001-1"), 2.0)
    # A tab that reconnects mid-call gets the card back; the other call's pop is not it.
    assert board.call_of(ANN).pop == {"type": "call.offered"}
    assert [o.linked_id for o in board.view(ANN).offers] == ["c2"]
    assert not board.set_pop(ANN, "PJSIP/1001-1", {"type": "call.offered"})
    assert "pop" not in board.view(ANN).row()["call"]  # supervisors see no customer card
    board.apply(ended("c1", ANN), 9.0)
    assert board.call_of(ANN) is None


def test_a_desk_wrap_up_shows_until_it_ends():
    floor = Floor()
    floor.joins(ANN, 1.0)
    floor.board.begin_wrap_up(ANN, "c1", 50.0, 60.0)
    view = floor.board.view(ANN)
    assert view.status is Status.WRAP_UP and view.wrap_up.until == 110.0
    assert view.row()["wrap_up_until"] == 110.0
    assert view.row()["wrap_up"] == {"call_id": "c1", "since": 50.0, "until": 110.0}
    floor.board.end_wrap_up(ANN, 70.0)
    assert floor.board.view(ANN).status is Status.READY


def test_a_local_member_with_options_is_one_agent_with_its_calls():
    """AGENT_INTERFACE='Local/{extension}@agents/n': the PBX names the member with its
    options, the channels without; the call controls must still find the call."""
    floor = Floor()
    member = "Local/1001@agents/n"
    floor.joins(member, 1.0)
    floor.board.apply(offered("Local/1001@agents", "Local/1001@agents-0000001b;1"), 2.0)
    floor.board.apply(answered("Local/1001@agents", "Local/1001@agents-0000001b;1"), 3.0)
    call = floor.board.call_of(member)  # as the desk names the phone, from its setting
    assert call is not None and call.device_channel == "Local/1001@agents-0000001b;1"
    view = floor.board.view(member)
    assert view.status is Status.TALKING and view.extension == "1001"
    assert view.pbx.pbx_interface == member  # what a QueuePause must name
    assert [v.interface for v in floor.board.views()] == ["Local/1001@agents"]
