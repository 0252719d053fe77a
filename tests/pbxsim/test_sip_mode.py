"""Production-like mode: PJSIP phones and trunks, trunk channel limits, answering machines."""

from __future__ import annotations

import re

from pbxsim import CallerId, RandomCustomers, Simulator

from .amiclient import AmiClient
from .conftest import ClientFactory, SimulatorFactory

_SIP_CHANNEL = re.compile(r"PJSIP/[\w+.-]+-[0-9a-f]{8}$")


async def _ready_agent(client: AmiClient, extension: str = "1001", queue: str = "sales") -> None:
    reply = await client.action(
        "QueueAdd", Queue=queue, Interface=f"PJSIP/{extension}", MemberName=f"Agent {extension}"
    )
    assert reply.name == "Success"


async def test_inbound_call_arrives_on_a_trunk_channel_and_rings_a_sip_phone(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator(mode="pjsip")
    client = await connect(simulator)
    await _ready_agent(client)
    assert simulator.inbound_call("5000", CallerId("+15551230000", "Bob"), patience=60)
    simulator.clock.advance(60)
    await client.action("Ping")
    names = [f.name for f in client.events()]
    assert "LocalBridge" not in names
    channels = {f["Channel"] for f in client.events("Newchannel")}
    assert all(_SIP_CHANNEL.match(c) for c in channels), channels
    trunk = next(c for c in channels if c.startswith("PJSIP/trunk-main-"))
    agent = next(c for c in channels if c.startswith("PJSIP/1001-"))
    first = client.events("Newchannel")[0]
    assert (first["Channel"], first["CallerIDNum"], first["Exten"]) == (
        trunk,
        "+15551230000",
        "5000",
    )
    connect_event = client.events("AgentConnect")[0]
    assert (connect_event["Channel"], connect_event["DestChannel"]) == (trunk, agent)
    statuses = [f["Status"] for f in client.events("QueueMemberStatus")]
    assert statuses[:3] == ["6", "2", "1"]  # ringing, in use, free: the phone's device state
    assert {f["Channel"] for f in client.events("Hangup")} == channels


async def test_trunk_channel_limit_refuses_calls_beyond_it(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator(mode="pjsip")
    client = await connect(simulator)
    update = await client.action(
        "UpdateConfig",
        SrcFilename="pjsip_trunks.conf",
        DstFilename="pjsip_trunks.conf",
        Reload="yes",
        **{
            "Action-000000": "Update",
            "Cat-000000": "trunk-main",
            "Var-000000": "device_state_busy_at",
            "Value-000000": "2",
        },
    )
    assert update.name == "Success"
    caller = CallerId("+15551230000", "Caller")
    assert [simulator.inbound_call("5000", caller, patience=30) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    reply = await client.action(
        "Originate",
        Channel="PJSIP/+15559990000@trunk-main",
        Application="Wait",
        Data="1",
        Async="true",
    )
    assert reply.name == "Success"
    simulator.clock.advance(1)
    failed = await client.wait_for(lambda f: f.name == "OriginateResponse")
    assert (failed["Response"], failed["Reason"]) == ("Failure", "8")
    simulator.clock.advance(60)
    assert simulator.trunks.in_use == {}


async def test_click_to_call_rings_the_agent_then_dials_out_through_the_trunk(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator(mode="pjsip")
    client = await connect(simulator)
    await client.action(
        "Originate",
        Channel="PJSIP/1001",
        Context="clicktocall",
        Exten="+15559990000",
        CallerID='"Alice" <1001>',
        Async="true",
        ActionID="c2c",
    )
    simulator.clock.advance(10)
    answered = await client.wait_for(lambda f: f.name == "OriginateResponse")
    assert answered["Channel"].startswith("PJSIP/1001-") and answered["Reason"] == "4"
    dial = await client.wait_for(lambda f: f.name == "DialBegin" and "Channel" in f)
    assert dial["DestChannel"].startswith("PJSIP/trunk-main-")
    assert dial["DialString"] == "+15559990000@trunk-main"
    await client.wait_for(lambda f: f.name == "BridgeEnter")


async def test_predictive_calls_answered_by_a_machine_never_reach_an_agent(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator: Simulator = await start_simulator(mode="pjsip")
    client = await connect(simulator)
    await _ready_agent(client, queue="outbound")
    simulator.behaviour.customers = RandomCustomers(
        answer=0.0, busy=0.0, no_answer=0.0, machine=1.0, ring=1.0, greeting=8.0
    )
    await client.action(
        "Originate",
        Channel="PJSIP/+15559990001@trunk-main",
        Context="predictive",
        Exten="s",
        Async="true",
    )
    simulator.clock.advance(20)
    simulator.behaviour.customers = RandomCustomers(
        answer=1.0, busy=0.0, no_answer=0.0, machine=0.0, ring=1.0, talk=30.0
    )
    await client.action(
        "Originate",
        Channel="PJSIP/+15559990002@trunk-main",
        Context="predictive",
        Exten="s",
        Async="true",
    )
    simulator.clock.advance(20)
    await client.action("Ping")
    verdicts = [f["Value"] for f in client.events("VarSet") if f["Variable"] == "AMDSTATUS"]
    assert verdicts == ["MACHINE", "HUMAN"]
    joins = client.events("QueueCallerJoin")
    assert len(joins) == 1 and joins[0]["Queue"] == "outbound"
