"""Which call each agent's phone is on: what hang-up and transfer act on."""

from __future__ import annotations

from cti.agent_calls import AgentCalls
from cti.events import (
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    Direction,
    Outcome,
    TransferKind,
    WithdrawalReason,
)

ANN, BOB = "PJSIP/1001", "PJSIP/1002"


def offered(agent: str, device: str, call: str = "c1") -> CallOffered:
    return CallOffered(linked_id=call, uniqueid_of_caller="u", agent_interface=agent,
                       member_name="", device_channel=device, caller_number="+15551234567",
                       caller_name="", presentation_restricted=False,
                       customer_number="+15551234567", dnis="5000", queue="sales",
                       direction=Direction.INBOUND, variables=(), tags=(), at=1.0)


def answered(agent: str, device: str, call: str = "c1") -> CallAnswered:
    return CallAnswered(linked_id=call, agent_interface=agent, member_name="",
                        device_channel=device, queue="sales", direction=Direction.INBOUND,
                        at=2.0, wait_seconds=1.0)


def withdrawn(agent: str, device: str, reason: WithdrawalReason) -> CallOfferWithdrawn:
    return CallOfferWithdrawn(linked_id="c1", agent_interface=agent, device_channel=device,
                              reason=reason, at=3.0)


def test_an_answered_call_is_held_with_its_channel_until_it_ends():
    calls = AgentCalls()
    calls.apply(offered(ANN, "PJSIP/1001-1"))
    assert calls.current(ANN).state == "ringing"
    calls.apply(answered(ANN, "PJSIP/1001-1"))
    held = calls.current(ANN)
    assert (held.state, held.device_channel, held.since) == ("talking", "PJSIP/1001-1", 1.0)
    calls.apply(offered(ANN, "PJSIP/1001-2", call="c2"))  # ringinuse: the talk stays
    assert calls.current(ANN).linked_id == "c1"
    calls.apply(CallEnded(linked_id="c1", direction=Direction.INBOUND,
                          outcome=Outcome.ANSWERED, caller_number="", customer_number="",
                          queue="sales", agent_interface=ANN, offered_at=0.0, answered_at=2.0,
                          ended_at=9.0, wait_seconds=2.0, talk_seconds=7.0, hangup_cause=16,
                          hangup_cause_text="", tags=()))
    assert calls.current(ANN) is None


def test_a_cancelled_consultation_frees_the_consulted_agent_only():
    calls = AgentCalls()
    calls.apply(answered(ANN, "PJSIP/1001-1"))
    calls.apply(offered(BOB, "PJSIP/1002-1"))
    calls.apply(answered(BOB, "PJSIP/1002-1"))
    calls.apply(withdrawn(BOB, "PJSIP/1002-1", WithdrawalReason.TRANSFER_CANCELLED))
    assert calls.current(BOB) is None and calls.current(ANN).state == "talking"


def test_a_transfer_takes_the_call_off_the_transferer():
    calls = AgentCalls()
    calls.apply(answered(ANN, "PJSIP/1001-1"))
    calls.apply(CallTransferred(linked_id="c1", kind=TransferKind.BLIND, agent_interface=ANN,
                                transferer_channel="PJSIP/1001-1",
                                transferee_channel="PJSIP/trunk-1", target="1002@transfer",
                                at=4.0))
    assert calls.current(ANN) is None


def test_a_refused_click_to_call_is_forgotten():
    calls = AgentCalls()
    calls.dialling(ANN, "cc-1", 1.0)
    assert calls.current(ANN).state == "dialling"
    calls.forget(ANN, "cc-other")
    assert calls.current(ANN) is not None
    calls.forget(ANN, "cc-1")
    assert calls.current(ANN) is None


def test_a_click_to_call_that_never_got_a_channel_is_forgotten():
    from cti.events import OriginateFailed

    calls = AgentCalls()
    calls.dialling(ANN, "cc-1", 1.0)
    calls.apply(OriginateFailed(action_id="a", uniqueid="cc-1", channel="PJSIP/1001",
                                reason_code=0, reason="failure", outcome=Outcome.FAILED,
                                direction=Direction.CLICK_TO_CALL, tags=(), at=2.0))
    assert calls.current(ANN) is None
