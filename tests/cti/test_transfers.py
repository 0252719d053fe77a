"""Transfers end to end: the PBX simulator over real AMI/TCP, the real AmiLink and Telephony,
the action builders the agent desktop uses. An inbound call is answered by agent 1001, who
transfers it (blind to 1002 or to a queue DID, attended completed or cancelled); the domain
events must follow the customer's call to the other agent and end it exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from cti.ami import actions
from cti.ami.errors import ActionFailed
from cti.ami.link import AmiLink, LinkConfig
from cti.events import (
    Activity,
    AgentActivityChanged,
    AgentLegEnded,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    DomainEvent,
    LegEnd,
    Outcome,
    TransferKind,
    WithdrawalReason,
)
from cti.telephony import Telephony
from pbxsim import AgentProfile, AmiUser, CallerId, ManualClock, Simulator

EPOCH = 1_795_643_939.0
CUSTOMER = CallerId("+15551234567", "Bob Customer")
MODES = ["pjsip", "local"]
T = TypeVar("T")


@dataclass
class Rig:
    sim: Simulator
    link: AmiLink
    telephony: Telephony
    queue: asyncio.Queue[DomainEvent]
    seen: list[DomainEvent] = field(default_factory=list)

    def interface(self, extension: str) -> str:
        return f"PJSIP/{extension}" if self.sim.mode == "pjsip" else f"Local/{extension}@agents"

    async def settle(self) -> list[DomainEvent]:
        """Everything the PBX has sent so far has reached the trackers: a Ping's answer comes
        after the events written before it. Returns the domain events that came out since."""
        await self.link.send(actions.ping())
        new: list[DomainEvent] = []
        while not self.queue.empty():
            new.append(self.queue.get_nowait())
        self.seen += new
        return new

    async def advance(self, seconds: float, step: float = 0.5) -> list[DomainEvent]:
        """Simulated time goes on, in steps, letting the link read what each step emits."""
        new: list[DomainEvent] = []
        left = seconds
        while left > 0:
            self.sim.clock.advance(min(step, left))
            left -= step
            new += await self.settle()
        return new

    async def agent_ready(self, extension: str, queue: str) -> None:
        interface = self.interface(extension)
        if self.sim.mode == "local":
            device = f"Custom:agent{extension}"
            await self.link.send(actions.setvar(f"DEVICE_STATE({device})", "NOT_INUSE"))
            await self.link.send(
                actions.queue_add(
                    queue, interface, state_interface=device, member_name=f"Agent {extension}"
                )
            )
        else:
            await self.link.send(
                actions.queue_add(queue, interface, member_name=f"Agent {extension}")
            )

    async def answered_by_1001(self) -> CallAnswered:
        """The customer calls DID 5000 (sales) and agent 1001 answers."""
        assert self.sim.inbound_call("5000", CUSTOMER, patience=600)
        new = await self.advance(5)
        (answered,) = [e for e in new if isinstance(e, CallAnswered)]
        assert answered.agent_interface == self.interface("1001")
        return answered


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    mode = getattr(request, "param", "pjsip")
    sim = Simulator(
        clock=ManualClock(epoch=EPOCH),
        mode=mode,
        users=[AmiUser.create("cti", "pw", read="call,agent,system")],
    )
    # 1001 stays on until the test hangs up or the transfer takes the call away from them.
    sim.behaviour.agents["1001"] = AgentProfile(ring_delay=2.0, talk_time=600.0)
    sim.behaviour.agents["1002"] = AgentProfile(ring_delay=2.0, talk_time=20.0)
    await sim.start("127.0.0.1", 0)
    telephony = Telephony()
    queue = telephony.subscribe()
    link = AmiLink(
        LinkConfig(
            host="127.0.0.1",
            port=sim.port,
            username="cti",
            secret="pw",
            events="call,agent,system",
            wanted_events=telephony.wanted_events,
            reconcile_interval=3600.0,
        ),
        telephony,
    )
    running = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.wait_connected(), 5)
        for _ in range(500):  # the first resync happens at once: let it pass
            if link.status.resyncs:
                break
            await asyncio.sleep(0.01)
        rig = Rig(sim, link, telephony, queue)
        await rig.agent_ready("1001", "sales")
        await rig.agent_ready("1002", "support")
        await rig.settle()
        yield rig
    finally:
        await link.stop()
        await running
        await sim.close()
    assert sim.pbx.errors == []


def of_type(events: list[DomainEvent], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


def call_events(events: list[DomainEvent], linked_id: str) -> list[str]:
    """The names of the call's domain events (agent activity, which also names it, aside)."""
    return [
        type(e).__name__
        for e in events
        if getattr(e, "linked_id", None) == linked_id and not isinstance(e, AgentActivityChanged)
    ]


def activity(events: list[DomainEvent], interface: str) -> list[Activity]:
    return [e.activity for e in of_type(events, AgentActivityChanged) if e.interface == interface]


@pytest.mark.parametrize("rig", MODES, indirect=True)
async def test_a_blind_transfer_to_an_agent_pops_the_same_customer_and_ends_once(rig: Rig) -> None:
    answered = await rig.answered_by_1001()
    call = answered.linked_id
    reply = await rig.link.send(
        actions.blind_transfer(answered.device_channel, context="transfer", exten="1002")
    )
    assert reply.get("Message") == "Transfer succeeded"
    await rig.advance(30)

    assert call_events(rig.seen, call) == [
        "CallOffered",
        "CallAnswered",  # 1001
        "CallTransferred",
        "AgentLegEnded",  # 1001's part is over
        "CallOffered",
        "CallAnswered",  # 1002
        "AgentLegEnded",
        "CallEnded",
    ]
    assert [(leg.agent_interface, leg.reason) for leg in of_type(rig.seen, AgentLegEnded)] == [
        (rig.interface("1001"), LegEnd.TRANSFERRED),
        (rig.interface("1002"), LegEnd.HUNG_UP),
    ]
    (transferred,) = of_type(rig.seen, CallTransferred)
    assert (transferred.kind, transferred.agent_interface, transferred.target) == (
        TransferKind.BLIND,
        rig.interface("1001"),
        "1002@transfer",
    )
    first, second = of_type(rig.seen, CallOffered)
    assert second.agent_interface == rig.interface("1002") and second.queue == ""
    assert (second.linked_id, second.caller_number, second.caller_name) == (
        call,
        first.caller_number,
        first.caller_name,
    )
    assert second.caller_number == "+15551234567"
    taken = of_type(rig.seen, CallAnswered)[-1]
    assert (taken.agent_interface, taken.device_channel) == (
        rig.interface("1002"),
        second.device_channel,
    )
    (ended,) = of_type(rig.seen, CallEnded)
    assert (ended.linked_id, ended.agent_interface, ended.outcome) == (
        call,
        rig.interface("1002"),
        Outcome.ANSWERED,
    )
    assert activity(rig.seen, rig.interface("1001"))[-2:] == [Activity.TALKING, Activity.IDLE]
    assert activity(rig.seen, rig.interface("1002")) == [
        Activity.RINGING,
        Activity.TALKING,
        Activity.IDLE,
    ]
    assert rig.telephony.calls.open_calls() == []


@pytest.mark.parametrize("rig", MODES, indirect=True)
async def test_a_blind_transfer_to_a_queue_did_is_offered_from_that_queue(rig: Rig) -> None:
    answered = await rig.answered_by_1001()
    call = answered.linked_id
    await rig.link.send(
        actions.blind_transfer(answered.device_channel, context="transfer", exten="5001")
    )
    await rig.advance(30)

    assert call_events(rig.seen, call) == [
        "CallOffered",
        "CallAnswered",
        "CallTransferred",
        "AgentLegEnded",
        "CallOffered",
        "CallAnswered",
        "AgentLegEnded",
        "CallEnded",
    ]
    offered = of_type(rig.seen, CallOffered)[-1]
    assert (offered.linked_id, offered.agent_interface, offered.queue) == (
        call,
        rig.interface("1002"),
        "support",
    )
    (ended,) = of_type(rig.seen, CallEnded)
    assert (ended.agent_interface, ended.queue, ended.outcome) == (
        rig.interface("1002"),
        "support",
        Outcome.ANSWERED,
    )


@pytest.mark.parametrize("rig", MODES, indirect=True)
async def test_an_attended_transfer_completed_by_hanging_up_hands_the_call_over(rig: Rig) -> None:
    answered = await rig.answered_by_1001()
    call = answered.linked_id
    reply = await rig.link.send(
        actions.atxfer(answered.device_channel, context="transfer", exten="1002")
    )
    assert reply.get("Message") == "Atxfer successfully queued"
    consulting = await rig.advance(5)
    # 1002 is rung with the customer's call and talks to 1001 while the customer holds.
    assert call_events(consulting, call) == ["CallOffered", "CallAnswered"]
    offered, consult = of_type(consulting, CallOffered)[0], of_type(consulting, CallAnswered)[0]
    assert (offered.agent_interface, offered.caller_number, offered.queue) == (
        rig.interface("1002"),
        "+15551234567",
        "",
    )
    assert consult.agent_interface == rig.interface("1002")
    assert rig.telephony.agents.agent(rig.interface("1001")).activity is Activity.TALKING

    await rig.link.send(actions.hangup(answered.device_channel))  # 1001 completes it
    completing = await rig.advance(2)
    (transferred,) = of_type(completing, CallTransferred)
    assert (transferred.kind, transferred.agent_interface, transferred.target) == (
        TransferKind.ATTENDED,
        rig.interface("1001"),
        offered.device_channel,
    )
    assert not of_type(completing, CallEnded)
    await rig.advance(25)  # 1002 talks to the customer, then hangs up

    assert call_events(rig.seen, call) == [
        "CallOffered",
        "CallAnswered",
        "CallOffered",
        "CallAnswered",
        "CallTransferred",
        "AgentLegEnded",  # 1001, transferred
        "AgentLegEnded",  # 1002, hung up
        "CallEnded",
    ]
    assert [(leg.agent_interface, leg.reason) for leg in of_type(rig.seen, AgentLegEnded)] == [
        (rig.interface("1001"), LegEnd.TRANSFERRED),
        (rig.interface("1002"), LegEnd.HUNG_UP),
    ]
    (ended,) = of_type(rig.seen, CallEnded)
    assert (ended.agent_interface, ended.outcome) == (rig.interface("1002"), Outcome.ANSWERED)
    assert activity(rig.seen, rig.interface("1001"))[-1] is Activity.IDLE
    assert activity(rig.seen, rig.interface("1002")) == [
        Activity.RINGING,
        Activity.TALKING,
        Activity.IDLE,
    ]
    assert rig.sim.pbx.channels == {}


@pytest.mark.parametrize("rig", MODES, indirect=True)
async def test_a_cancelled_attended_transfer_leaves_the_customer_with_the_first_agent(
    rig: Rig,
) -> None:
    answered = await rig.answered_by_1001()
    call = answered.linked_id
    await rig.link.send(actions.atxfer(answered.device_channel, context="transfer", exten="1002"))
    await rig.advance(5)
    reply = await rig.link.send(actions.cancel_atxfer(answered.device_channel))
    assert reply.get("Message") == "CancelAtxfer successfully queued"
    cancelled = await rig.advance(2)
    (withdrawn,) = of_type(cancelled, CallOfferWithdrawn)
    assert (withdrawn.linked_id, withdrawn.agent_interface, withdrawn.reason) == (
        call,
        rig.interface("1002"),
        WithdrawalReason.TRANSFER_CANCELLED,
    )
    assert rig.telephony.agents.agent(rig.interface("1002")).activity is Activity.IDLE
    assert rig.telephony.agents.agent(rig.interface("1001")).activity is Activity.TALKING
    (open_call,) = rig.telephony.calls.open_calls()
    assert open_call.agent_interface == rig.interface("1001")

    await rig.link.send(actions.hangup(answered.device_channel))  # 1001 ends the call later
    await rig.advance(3)
    assert call_events(rig.seen, call) == [
        "CallOffered",
        "CallAnswered",
        "CallOffered",
        "CallAnswered",
        "CallOfferWithdrawn",
        "AgentLegEnded",  # 1001 only: 1002 never had the customer
        "CallEnded",
    ]
    assert not of_type(rig.seen, CallTransferred)
    (ended,) = of_type(rig.seen, CallEnded)
    assert (ended.agent_interface, ended.outcome) == (rig.interface("1001"), Outcome.ANSWERED)
    assert rig.sim.pbx.channels == {}


async def test_an_attended_transfer_the_target_does_not_answer_goes_back_to_the_agent(
    rig: Rig,
) -> None:
    rig.sim.behaviour.agents["1002"] = AgentProfile(answers=0.0)
    answered = await rig.answered_by_1001()
    await rig.link.send(actions.atxfer(answered.device_channel, context="transfer", exten="1002"))
    await rig.advance(20)  # atxfernoanswertimeout: 15 s
    (withdrawn,) = of_type(rig.seen, CallOfferWithdrawn)
    assert withdrawn.reason is WithdrawalReason.TRANSFER_CANCELLED
    assert rig.telephony.agents.agent(rig.interface("1001")).activity is Activity.TALKING
    bridged = rig.sim.pbx.find_channel(answered.device_channel)
    assert bridged is not None and bridged.bridge is not None
    assert len(bridged.bridge.channels) == 2  # back with the customer


async def test_transfer_actions_on_an_unknown_channel_are_refused(rig: Rig) -> None:
    for action in (
        actions.blind_transfer("PJSIP/1001-0000ffff", context="transfer", exten="1002"),
        actions.atxfer("PJSIP/1001-0000ffff", context="transfer", exten="1002"),
        actions.cancel_atxfer("PJSIP/1001-0000ffff"),
    ):
        with pytest.raises(ActionFailed, match="Channel specified does not exist"):
            await rig.link.send(action)


async def test_a_blind_transfer_of_a_channel_in_no_bridge_is_invalid_and_changes_nothing(
    rig: Rig,
) -> None:
    rig.sim.behaviour.agents["1001"] = AgentProfile(ring_delay=30.0)
    assert rig.sim.inbound_call("5000", CUSTOMER, patience=600)
    new = await rig.advance(2)
    (offered,) = of_type(new, CallOffered)  # 1001's phone rings: its channel is in no bridge
    with pytest.raises(ActionFailed, match="Transfer invalid"):
        await rig.link.send(
            actions.blind_transfer(offered.device_channel, context="transfer", exten="1002")
        )
    assert not of_type(await rig.settle(), CallTransferred)


@pytest.mark.parametrize("rig", MODES, indirect=True)
async def test_a_caller_redirected_to_another_queue_ends_the_first_agents_part_there(
    rig: Rig,
) -> None:
    """No transfer: the queue caller answered by 1001 in sales is sent by AMI Redirect to the
    support DID and answered there by 1002. 1001's part ends when the customer leaves it, with
    Asterisk's own figures; 1002 waited only in support; the record keeps every leg."""
    told: list[dict[str, str]] = []  # AgentConnect / AgentComplete as the simulator sent them
    rig.sim.pbx.listeners.append(
        lambda event: (
            told.append({"Event": event.name, **dict(event.headers)})
            if event.name in ("AgentConnect", "AgentComplete")
            else None
        )
    )
    answered = await rig.answered_by_1001()
    call = answered.linked_id
    await rig.advance(5)  # 1001 and the customer talk for a while
    (caller,) = [c for c in rig.sim.pbx.channels.values() if c.uniqueid == call]
    reply = await rig.link.send(actions.redirect(caller.name, context="transfer", exten="5001"))
    assert reply.get("Message") == "Redirect successful"
    moved = await rig.advance(1)
    (first_leg,) = of_type(moved, AgentLegEnded)
    assert (first_leg.linked_id, first_leg.agent_interface, first_leg.queue) == (
        call,
        rig.interface("1001"),
        "sales",
    )
    assert first_leg.reason in (LegEnd.MOVED, LegEnd.HUNG_UP)
    assert first_leg.device_channel == answered.device_channel
    assert not of_type(moved, CallEnded)
    assert rig.telephony.agents.agent(rig.interface("1001")).activity is Activity.IDLE

    await rig.advance(60)  # the caller waits in support (the IVR first), 1002 talks 20 s
    assert call_events(rig.seen, call) == [
        "CallOffered",
        "CallAnswered",  # 1001 in sales
        "AgentLegEnded",  # 1001: the customer left it
        "CallOffered",
        "CallAnswered",  # 1002 in support
        "AgentLegEnded",
        "CallEnded",
    ]
    figures = {(t["Event"], t["MemberName"][-4:]): t for t in told}
    talk_time = {a: float(figures["AgentComplete", a]["TalkTime"]) for a in ("1001", "1002")}
    hold_time = {a: float(figures["AgentConnect", a]["HoldTime"]) for a in ("1001", "1002")}
    assert first_leg.talk_seconds == talk_time["1001"]
    # 1002 waited in support only, not since the call began (the simulated clock runs apart
    # from the receive times, so Asterisk's figures are what this run can compare).
    assert hold_time["1002"] < talk_time["1001"]

    (ended,) = of_type(rig.seen, CallEnded)
    assert (ended.agent_interface, ended.queue, ended.outcome) == (
        rig.interface("1002"),
        "support",
        Outcome.ANSWERED,
    )
    assert [(leg.kind, leg.queue, leg.agent_interface) for leg in ended.legs] == [
        ("queue", "sales", ""),
        ("agent", "sales", rig.interface("1001")),
        ("queue", "support", ""),
        ("agent", "support", rig.interface("1002")),
    ]
    agent_legs = [leg for leg in ended.legs if leg.kind == "agent"]
    assert [leg.talk_seconds for leg in agent_legs] == [talk_time["1001"], talk_time["1002"]]
    assert [leg.wait_seconds for leg in agent_legs] == [hold_time["1001"], hold_time["1002"]]
    assert ended.talk_seconds == talk_time["1001"] + talk_time["1002"]
    assert rig.sim.pbx.channels == {}
