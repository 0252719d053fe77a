"""BlindTransfer, Atxfer and CancelAtxfer as Asterisk 22 answers them, and the events they cause
(main/manager.c, main/bridge.c, main/bridge_basic.c, main/stasis_bridges.c); and, whatever the
transfers and hangups, every call still ends cleanly."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.agents import AgentTracker
from cti.ami.framing import Frame
from cti.calls import CallTracker
from cti.events import Activity, CallAnswered, CallEnded, CallOffered, CallOfferWithdrawn
from pbxsim import AgentProfile, CallerId, ManualClock, Simulator
from pbxsim.scenarios import log_agents_in
from pbxsim.transfers import AttendedTransfer, blind_transfer, cancel_attended_transfer

from .amiclient import AmiClient
from .conftest import EPOCH, ClientFactory, SimulatorFactory

SNAPSHOT = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
BRIDGE = (
    "BridgeUniqueid",
    "BridgeType",
    "BridgeTechnology",
    "BridgeCreator",
    "BridgeName",
    "BridgeNumChannels",
    "BridgeVideoSourceMode",
)


def _names(frame: Frame) -> list[str]:
    return [name for name, _ in frame.headers]


def _snapshot(prefix: str) -> list[str]:
    return [prefix + name for name in SNAPSHOT]


async def _answered_call(client: AmiClient, simulator: Simulator) -> tuple[str, str]:
    """Agents 1001 (sales) and 1002 (support) ready; a customer calls 5000 and 1001 answers.
    Returns the agent's and the customer's channel."""
    simulator.behaviour.agents["1001"] = AgentProfile(ring_delay=2.0, talk_time=600.0)
    log_agents_in(simulator, "sales", ["1001"])
    log_agents_in(simulator, "support", ["1002"])
    assert simulator.inbound_call("5000", CallerId("+15551234567", "Bob"), patience=600)
    simulator.clock.advance(5)
    connect = await client.wait_for(lambda f: f.name == "AgentConnect")
    return connect["DestChannel"], connect["Channel"]


async def test_a_blind_transfer_is_answered_when_done_and_reported_as_asterisk_does(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator()
    client = await connect(simulator)
    agent, customer = await _answered_call(client, simulator)
    start = len(client.frames)
    reply = await client.action("BlindTransfer", Channel=agent, Context="transfer", Exten="1002")
    assert (reply.name, reply["Message"]) == ("Success", "Transfer succeeded")
    simulator.clock.advance(5)
    dial = await client.wait_for(
        lambda f: f.name == "DialBegin" and f.get("Channel") == customer, start=start
    )
    assert dial["DestChannel"].startswith("Local/1002@agents-")
    frames = client.frames[start:]
    names = [f.name for f in frames]
    assert names[0] == "Success"  # the response, before anything it caused
    blind = next(f for f in frames if f.name == "BlindTransfer")
    assert _names(blind) == [
        "Event",
        "Privilege",
        "Result",
        *_snapshot("Transferer"),
        *_snapshot("Transferee"),
        *BRIDGE,
        "IsExternal",
        "Context",
        "Extension",
    ]
    assert (blind["Privilege"], blind["Result"], blind["IsExternal"]) == (
        "call,all",
        "Success",
        "Yes",
    )
    assert (blind["TransfererChannel"], blind["TransfereeChannel"]) == (agent, customer)
    assert (blind["Context"], blind["Extension"], blind["BridgeNumChannels"]) == (
        "transfer",
        "1002",
        "2",
    )
    marks = [
        (f["Channel"], f["Value"])
        for f in frames
        if f.name == "VarSet" and f["Variable"] == "BLINDTRANSFER"
    ]
    assert sorted(marks) == sorted([(customer, agent), (agent, customer)])
    assert names.index("VarSet") < names.index("BlindTransfer") < names.index("AgentComplete")
    complete = next(f for f in frames if f.name == "AgentComplete")
    assert (complete["Reason"], complete["DestChannel"]) == ("transfer", agent)
    assert any(f.name == "Hangup" and f["Channel"] == agent for f in frames)
    assert blind["TransfererLinkedid"] == dial["Linkedid"]  # the call goes on: one Linkedid


async def test_transfer_actions_check_their_headers_as_the_manager_does(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator()
    client = await connect(simulator)
    cases = [
        ("BlindTransfer", {"Exten": "1002"}, "No channel specified"),
        ("BlindTransfer", {"Channel": "PJSIP/1001-00000001"}, "No extension specified"),
        (
            "BlindTransfer",
            {"Channel": "PJSIP/1001-00000001", "Exten": "1002"},
            "Channel specified does not exist",
        ),
        ("Atxfer", {"Exten": "1002"}, "No channel specified"),
        ("Atxfer", {"Channel": "PJSIP/1001-00000001"}, "No extension specified"),
        (
            "Atxfer",
            {"Channel": "PJSIP/1001-00000001", "Exten": "1002"},
            "Channel specified does not exist",
        ),
        ("CancelAtxfer", {}, "No channel specified"),
        ("CancelAtxfer", {"Channel": "PJSIP/1001-00000001"}, "Channel specified does not exist"),
    ]
    for name, headers, message in cases:
        reply = await client.action(name, **headers)
        assert (reply.name, reply["Message"]) == ("Error", message), (name, headers)


async def test_a_blind_transfer_from_a_channel_in_no_bridge_is_invalid_and_still_reported(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator()
    client = await connect(simulator)
    assert simulator.inbound_call("5000", CallerId("+15551234567", "Bob"), patience=600)
    simulator.clock.advance(1)  # no agent: the caller waits in the queue, in no bridge
    caller = (await client.wait_for(lambda f: f.name == "QueueCallerJoin"))["Channel"]
    start = len(client.frames)
    reply = await client.action("BlindTransfer", Channel=caller, Context="transfer", Exten="1002")
    assert (reply.name, reply["Message"]) == ("Error", "Transfer invalid")
    blind = await client.wait_for(lambda f: f.name == "BlindTransfer", start=start)
    assert _names(blind) == [
        "Event",
        "Privilege",
        "Result",
        *_snapshot("Transferer"),
        "IsExternal",
        "Context",
        "Extension",
    ]
    assert blind["Result"] == "Invalid"
    simulator.clock.advance(1)
    await client.action("Ping")
    assert not any(f.name == "QueueCallerLeave" for f in client.frames[start:])


async def test_an_attended_transfer_consults_with_the_customers_linkedid_and_completes(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator(mode="pjsip")
    client = await connect(simulator)
    agent, customer = await _answered_call(client, simulator)
    start = len(client.frames)
    reply = await client.action("Atxfer", Channel=agent, Context="transfer", Exten="1002")
    assert (reply.name, reply["Message"]) == ("Success", "Atxfer successfully queued")
    simulator.clock.advance(5)
    answered = await client.wait_for(
        lambda f: f.name == "DialEnd" and f.get("DialStatus") == "ANSWER", start=start
    )
    await client.action("Ping")
    frames = client.frames[start:]
    hold = next(f for f in frames if f.name == "Hold")
    music = next(f for f in frames if f.name == "MusicOnHoldStart")
    assert (hold["Channel"], music["Channel"], music["Class"]) == (agent, customer, "default")
    consult = [
        f
        for f in frames
        if f.name == "Newchannel" and f["Channel"].startswith("Local/1002@transfer-")
    ]
    assert [f["Channel"][-2:] for f in consult] == [";1", ";2"]
    linkedid = hold["Linkedid"]
    assert {f["Linkedid"] for f in consult} == {linkedid}
    assert answered["Channel"] == consult[1]["Channel"] and answered["Linkedid"] == linkedid
    assert answered["DestChannel"].startswith("PJSIP/1002-")
    moved = [(f.name, f["Channel"]) for f in frames if f.name in ("BridgeEnter", "BridgeLeave")]
    assert moved[:3] == [
        ("BridgeEnter", consult[0]["Channel"]),
        ("BridgeLeave", agent),
        ("BridgeEnter", agent),
    ]

    await client.action("Ping")  # everything so far has arrived
    start = len(client.frames)
    await client.action("Hangup", Channel=agent)  # the transferer hangs up: complete
    simulator.clock.advance(1)
    attended = await client.wait_for(lambda f: f.name == "AttendedTransfer", start=start)
    assert _names(attended) == [
        "Event",
        "Privilege",
        "Result",
        *_snapshot("OrigTransferer"),
        *["Orig" + name for name in BRIDGE],
        *_snapshot("SecondTransferer"),
        *["Second" + name for name in BRIDGE],
        *_snapshot("Transferee"),
        *_snapshot("TransferTarget"),
        "IsExternal",
        "DestType",
        "DestBridgeUniqueid",
    ]
    assert (attended["Result"], attended["IsExternal"], attended["DestType"]) == (
        "Success",
        "No",
        "Bridge",
    )
    assert (attended["OrigTransfererChannel"], attended["SecondTransfererChannel"]) == (
        agent,
        agent,
    )
    assert attended["TransfereeChannel"] == customer
    assert attended["TransferTargetChannel"] == consult[0]["Channel"]
    assert attended["DestBridgeUniqueid"] == attended["OrigBridgeUniqueid"]
    await client.wait_for(lambda f: f.name == "Hangup" and f["Channel"] == agent, start=start)
    frames = client.frames[start:]
    names = [f.name for f in frames]
    assert names.index("AttendedTransfer") < names.index("AgentComplete")
    assert next(f for f in frames if f.name == "AgentComplete")["Reason"] == "transfer"
    merged = next(f for f in frames if f.name == "BridgeEnter")
    assert (merged["Channel"], merged["BridgeUniqueid"]) == (
        consult[0]["Channel"],
        attended["OrigBridgeUniqueid"],
    )
    simulator.clock.advance(60)  # 1002 talks 20 s and hangs up: the customer's call ends
    await client.action("Ping")
    assert simulator.pbx.channels == {}


async def test_cancelling_an_attended_transfer_brings_the_agent_back_without_an_event(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator()
    client = await connect(simulator)
    agent, customer = await _answered_call(client, simulator)
    await client.action("Atxfer", Channel=agent, Context="transfer", Exten="1002")
    simulator.clock.advance(5)
    await client.wait_for(lambda f: f.name == "DialEnd" and f.get("DialStatus") == "ANSWER")
    await client.action("Ping")  # everything so far has arrived
    original = next(
        f for f in client.frames if f.name == "BridgeEnter" and f["Channel"] == customer
    )["BridgeUniqueid"]
    start = len(client.frames)
    reply = await client.action("CancelAtxfer", Channel=agent)
    assert (reply.name, reply["Message"]) == ("Success", "CancelAtxfer successfully queued")
    simulator.clock.advance(1)
    await client.wait_for(lambda f: f.name == "Unhold", start=start)
    await client.action("Ping")
    frames = client.frames[start:]
    back = next(f for f in frames if f.name == "BridgeEnter")
    assert (back["Channel"], back["BridgeUniqueid"]) == (agent, original)
    assert any(f.name == "MusicOnHoldStop" and f["Channel"] == customer for f in frames)
    gone = {f["Channel"] for f in frames if f.name == "Hangup"}
    assert any(name.startswith("Local/1002@transfer-") for name in gone)
    assert agent not in gone and customer not in gone
    assert not any(f.name == "AttendedTransfer" for f in frames)


async def test_atxfer_without_a_bridge_or_to_an_unknown_extension_changes_nothing(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator()
    client = await connect(simulator)
    agent, _customer = await _answered_call(client, simulator)
    start = len(client.frames)
    reply = await client.action("Atxfer", Channel=agent, Context="transfer", Exten="4444")
    assert reply["Message"] == "Atxfer successfully queued"
    simulator.clock.advance(10)  # retry prompts and digit timeouts, then back with the customer
    await client.wait_for(lambda f: f.name == "Unhold", start=start)
    assert not any(f.name == "Newchannel" for f in client.frames[start:])
    channel = simulator.pbx.find_channel(agent)
    assert channel is not None and channel.bridge is not None


# -- whatever happens, every call ends cleanly ----------------------------------------------

STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "blind",
                "blind-queue",
                "atxfer",
                "atxfer-nowhere",
                "cancel",
                "hangup-agent",
                "hangup-customer",
                "wait",
            ]
        ),
        st.floats(0.0, 8.0),
    ),
    max_size=8,
)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["local", "pjsip"]),
    steps=STEPS,
    target_answers=st.booleans(),
)
def test_every_channel_and_bridge_is_gone_whatever_the_transfers(
    seed: int, mode: str, steps: list[tuple[str, float]], target_answers: bool
) -> None:
    simulator = Simulator(clock=ManualClock(epoch=EPOCH), seed=seed, mode=mode)  # type: ignore[arg-type]
    simulator.behaviour.agents["1002"] = AgentProfile(
        answers=1.0 if target_answers else 0.0, talk_time=(5.0, 40.0)
    )
    created: set[str] = set()
    gone: set[str] = set()
    bridges: list[str] = []
    calls, agents_tracker, domain = CallTracker(), AgentTracker(), []

    def watch(event) -> None:
        frame = Frame(
            (("Event", event.name), ("Privilege", f"{event.category},all"), *event.headers)
        )
        now = simulator.clock.now()
        domain.extend(calls.apply(frame, now) + agents_tracker.apply(frame, now))
        if event.name == "Newchannel":
            created.add(event.get("Channel"))
        elif event.name == "Hangup":
            gone.add(event.get("Channel"))
        elif event.name in ("BridgeCreate", "BridgeDestroy"):
            bridges.append(event.name)

    simulator.add_listener(watch)
    log_agents_in(simulator, "sales", ["1001"])
    log_agents_in(simulator, "support", ["1002", "1003"])
    simulator.inbound_call("5000", CallerId("+15551234567", "Bob"), patience=60)
    simulator.clock.advance(4)
    rng = random.Random(seed)
    runtime, pbx = simulator.runtime, simulator.pbx
    for step, pause in steps:
        agents = [
            c
            for c in pbx.channels.values()
            if c.bridge is not None
            and ("/1001" in c.name or "/1002@agents" in c.name or "PJSIP/100" in c.name)
        ]
        customers = [c for c in pbx.channels.values() if "trunk" in c.name or "callers" in c.name]
        agent = rng.choice(agents) if agents else None
        if step.startswith("blind") and agent is not None:
            blind_transfer(runtime, agent, "transfer", "5001" if step == "blind-queue" else "1002")
        elif step.startswith("atxfer") and agent is not None:
            exten = "4444" if step == "atxfer-nowhere" else rng.choice(["1002", "1003", "5001"])
            pbx.soon(AttendedTransfer(runtime, agent, "transfer", exten).start)
        elif step == "cancel" and agent is not None:
            cancel_attended_transfer(runtime, agent)
        elif step == "hangup-agent" and agent is not None:
            pbx.soft_hangup(agent, 16)
        elif step == "hangup-customer" and customers:
            pbx.request_hangup(rng.choice(customers), 16)
        simulator.clock.advance(pause)
    simulator.clock.run_until_idle()
    assert pbx.errors == []
    assert created == gone and pbx.channels == {}
    assert bridges.count("BridgeCreate") == bridges.count("BridgeDestroy")
    assert pbx.bridges == {} and runtime.transfers == {}
    for queue in simulator.queues.queues.values():
        assert queue.entries == []
        assert all(not m.in_call and not m.offered for m in queue.members.values())
    # The customer's call ends once, every offer is answered or withdrawn, agents go idle.
    ended = [e for e in domain if isinstance(e, CallEnded)]
    assert len(ended) == 1 and calls.open_calls() == [] and calls.tracked_call_count == 0
    for offer in (e for e in domain if isinstance(e, CallOffered)):
        answers = [
            e
            for e in domain
            if isinstance(e, CallAnswered) and e.device_channel == offer.device_channel
        ]
        withdrawals = [
            e
            for e in domain
            if isinstance(e, CallOfferWithdrawn) and e.device_channel == offer.device_channel
        ]
        assert len(answers) <= 1 and len(withdrawals) <= 1 and (answers or withdrawals), offer
    assert all(a.activity is Activity.IDLE for a in agents_tracker.agents())
