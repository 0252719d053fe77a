"""Originate over AMI: ids, variables, applications, synchronous answers, outbound outcomes."""

from __future__ import annotations

import pytest

from pbxsim import RandomCustomers, Simulator

from .amiclient import AmiClient
from .conftest import ClientFactory, SimulatorFactory


async def _originate(client: AmiClient, simulator: Simulator, seconds: float, **headers: str):
    reply = await client.action("Originate", Async="true", **headers)
    assert reply["Message"] == "Originate successfully queued"
    simulator.clock.advance(seconds)
    action_id = reply.action_id
    return await client.wait_for(
        lambda f: f.name == "OriginateResponse" and f.action_id == action_id
    )


async def test_channel_ids_given_by_the_client_become_the_uniqueids(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    answered = await _originate(
        client,
        simulator,
        3,
        Channel="Local/6001@customers",
        Application="Wait",
        Data="5",
        ChannelId="crm-call-1",
        OtherChannelId="crm-call-1-far",
        CallerID="<+15550100100>",
    )
    assert (answered["Response"], answered["Uniqueid"]) == ("Success", "crm-call-1")
    new = {f["Channel"][-2:]: f for f in client.events("Newchannel")}
    assert new[";1"]["Uniqueid"] == "crm-call-1"
    assert new[";2"]["Uniqueid"] == "crm-call-1-far"
    assert new[";2"]["Linkedid"] == "crm-call-1"


async def test_variables_and_caller_id_reach_both_halves(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    await _originate(
        client,
        simulator,
        3,
        Channel="Local/6001@customers",
        Context="predictive",
        Exten="s",
        CallerID='"Campaign" <+15550100100>',
        Variable="CAMPAIGN=spring,LIST=7",
    )
    sets = {(f["Channel"][-2:], f["Variable"], f["Value"]) for f in client.events("VarSet")}
    assert {(";1", "CAMPAIGN", "spring"), (";2", "LIST", "7")} <= sets
    caller_ids = {f["CallerIDNum"] for f in client.events("NewCallerid")}
    assert caller_ids == {"+15550100100"}


@pytest.mark.parametrize(
    ("number", "reason", "timeout"),
    [("7001", "5", "15000"), ("8001", "3", "5000"), ("9001", "8", "15000")],
    ids=["busy", "no answer", "congestion"],
)
async def test_failed_originates_report_asterisks_reason(
    simulator: Simulator, connect: ClientFactory, number: str, reason: str, timeout: str
) -> None:
    client = await connect(simulator)
    failed = await _originate(
        client,
        simulator,
        20,
        Channel=f"Local/{number}@customers",
        Context="clicktocall",
        Exten="1001",
        Timeout=timeout,
        CallerID="<+15550100100>",
    )
    assert (failed["Response"], failed["Reason"], failed["Uniqueid"]) == (
        "Failure",
        reason,
        "<unknown>",
    )
    assert simulator.pbx.channels == {}


async def test_unknown_channel_technology_fails_with_reason_zero(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    failed = await _originate(
        client, simulator, 1, Channel="Foo/bar", Context="clicktocall", Exten="6001"
    )
    assert (failed["Reason"], failed["Channel"], failed["CallerIDNum"]) == (
        "0",
        "Foo/bar",
        "<unknown>",
    )


async def test_synchronous_originate_answers_once_the_call_is_up_or_failed(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator(speed=50)
    client = await connect(simulator)
    answered = await client.action(
        "Originate",
        Channel="Local/6001@customers",
        Application="Wait",
        Data="1",
        Async="false",
        timeout=10,
    )
    assert (answered.name, answered["Message"]) == ("Success", "Originate successfully queued")
    busy = await client.action(
        "Originate",
        Channel="Local/7001@customers",
        Application="Wait",
        Data="1",
        Async="false",
        timeout=10,
    )
    assert (busy.name, busy["Message"]) == ("Error", "Originate failed")
    assert client.events("OriginateResponse") == []
    missing = await client.action(
        "Originate", Channel="Local/6001@customers", Context="nosuchcontext", Exten="s"
    )
    assert (missing.name, missing["Message"]) == ("Error", "Extension does not exist.")


async def test_campaign_outcomes_follow_the_configured_probabilities(
    simulator: Simulator, connect: ClientFactory
) -> None:
    simulator.behaviour.customers = RandomCustomers(
        answer=0.3, busy=0.1, no_answer=0.5, machine=0.1, talk=5.0, greeting=3.0
    )
    client = await connect(simulator)
    for index in range(400):
        await client.action(
            "Originate",
            Channel=f"Local/+1555{index:07d}@customers",
            Application="Wait",
            Data="2",
            Timeout="20000",
            Async="true",
            CallerID="<+15550100100>",
        )
    simulator.clock.advance(60)
    await client.action("Ping")
    reasons = [f["Reason"] for f in client.events("OriginateResponse")]
    assert len(reasons) == 400
    answered, busy, no_answer = reasons.count("4"), reasons.count("5"), reasons.count("3")
    assert 0.30 < answered / 400 < 0.50  # humans (30 %) and machines (10 %) both answer
    assert 0.05 < busy / 400 < 0.15
    assert 0.40 < no_answer / 400 < 0.60
    machines = [f for f in client.events("Newexten") if "answering machine" in f["AppData"]]
    assert 0.05 < len(machines) / 400 < 0.15
