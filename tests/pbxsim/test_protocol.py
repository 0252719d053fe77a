"""The AMI protocol over real TCP: login, event masks, permissions, lists and errors."""

from __future__ import annotations

import asyncio
import hashlib

from cti.ami.framing import serialise
from pbxsim import AmiUser, Simulator

from .amiclient import AmiClient
from .conftest import ClientFactory, SimulatorFactory


async def _call_in_progress(client: AmiClient, simulator: Simulator) -> None:
    """An inbound call waiting in queue sales (no agents), caller stays 60 s."""
    await client.action(
        "Originate",
        Channel="Local/hold60@callers",
        Context="inbound",
        Exten="5000",
        Priority="1",
        CallerID='"Test" <+15551234567>',
        Async="true",
    )
    simulator.clock.advance(1.0)
    await client.wait_for(lambda f: f.name == "QueueCallerJoin")


async def test_server_greets_with_the_asterisk_banner(simulator: Simulator) -> None:
    client = await AmiClient.connect(simulator.port)
    assert client.parser.banner == "Asterisk Call Manager/11.0.0"
    assert bytes(client.raw).startswith(b"Asterisk Call Manager/11.0.0\r\n")
    await client.close()


async def test_plain_login_is_accepted_then_fully_booted_and_successful_auth(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator, login=False)
    reply = await client.login()
    assert (reply.name, reply["Message"]) == ("Success", "Authentication accepted")
    await client.wait_for(lambda f: f.name == "SuccessfulAuth")
    names = [f.name for f in client.frames]
    assert names == ["Success", "FullyBooted", "SuccessfulAuth"]
    booted = client.frames[1]
    assert booted["Privilege"] == "system,all" and booted["Status"] == "Fully Booted"


async def test_md5_challenge_login_is_accepted(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator, login=False)
    challenge = (await client.action("Challenge", AuthType="MD5"))["Challenge"]
    assert challenge.isdigit()
    key = hashlib.md5((challenge + "cti-secret").encode()).hexdigest()
    reply = await client.action("Login", AuthType="md5", Username="cti", Key=key)
    assert reply.name == "Success"
    assert (await client.action("Ping")).name == "Success"


async def test_md5_login_with_a_wrong_key_fails(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator, login=False)
    await client.action("Challenge", AuthType="MD5")
    reply = await client.action("Login", AuthType="md5", Username="cti", Key="0" * 32)
    assert (reply.name, reply["Message"]) == ("Error", "Authentication failed")
    await asyncio.wait_for(client.closed.wait(), 5)


async def test_wrong_secret_fails_after_a_delay_and_closes_the_connection(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator(auth_failure_delay=0.3)
    watcher = await connect(simulator)
    intruder = await connect(simulator, login=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await intruder.login(secret="wrong-secret")
    assert (reply.name, reply["Message"]) == ("Error", "Authentication failed")
    assert loop.time() - started >= 0.3
    await asyncio.wait_for(intruder.closed.wait(), 5)
    alert = await watcher.wait_for(lambda f: f.name == "InvalidPassword")
    assert (alert["AccountID"], alert["Service"], alert["Privilege"]) == (
        "cti",
        "AMI",
        "security,all",
    )


async def test_unknown_user_fails_like_a_wrong_secret(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator, login=False)
    reply = await client.login(username="nobody")
    assert (reply.name, reply["Message"]) == ("Error", "Authentication failed")


async def test_actions_before_login_are_refused(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator, login=False)
    reply = await client.action("CoreShowChannels")
    assert (reply.name, reply["Message"]) == ("Error", "Authentication Required")


async def test_ping_answers_pong_with_a_timestamp(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    reply = await client.action("Ping", ActionID="ping-1")
    assert [k for k, _ in reply.headers] == ["Response", "ActionID", "Ping", "Timestamp"]
    assert reply["Ping"] == "Pong" and float(reply["Timestamp"]) > 1.7e9


async def test_events_off_silences_the_session_and_on_restores_it(
    simulator: Simulator, connect: ClientFactory
) -> None:
    listener = await connect(simulator)
    actor = await connect(simulator)
    off = await listener.action("Events", EventMask="off")
    assert off["Events"] == "Off"
    start = len(listener.frames)
    await actor.action("Setvar", Variable="DEVICE_STATE(Custom:agent1001)", Value="INUSE")
    await listener.action("Ping")
    assert [f.name for f in listener.frames[start:]] == ["Success"]
    on = await listener.action("Events", EventMask="on")
    assert on["Events"] == "On"
    await actor.action("Setvar", Variable="DEVICE_STATE(Custom:agent1001)", Value="NOT_INUSE")
    change = await listener.wait_for(lambda f: f.name == "DeviceStateChange", start=start)
    assert change["State"] == "NOT_INUSE"


async def test_event_mask_of_classes_lets_only_those_classes_through(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    await client.action("Events", EventMask="agent")
    start = len(client.frames)
    await client.action(
        "QueueAdd", Queue="sales", Interface="Local/1001@agents", StateInterface="Custom:agent1001"
    )
    await _call_in_progress(client, simulator)
    events = [f for f in client.frames[start:] if f.kind == "event"]
    assert events and {f["Privilege"] for f in events} == {"agent,all"}


async def test_user_read_classes_limit_what_the_session_receives(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    users = [
        AmiUser.create("cti", "cti-secret"),
        AmiUser.create("crm", "crm-secret", read="call,agent", write="call,agent,originate"),
    ]
    simulator = await start_simulator(users=users)
    everything = await connect(simulator)
    limited = await connect(simulator, username="crm", secret="crm-secret")
    await limited.action("Events", EventMask="on")
    start = len(limited.frames)
    await _call_in_progress(everything, simulator)
    await limited.wait_for(lambda f: f.name == "QueueCallerJoin", start=start)
    classes = {f["Privilege"] for f in limited.frames[start:] if f.kind == "event"}
    assert classes == {"call,all", "agent,all"}  # no dialplan chatter, no cdr, no security
    assert any(f.name == "Newexten" for f in everything.frames)
    asked_for_more = await limited.action("Events", EventMask="call,dialplan,system")
    assert asked_for_more["Events"] == "On"  # but only what the user may read: call
    start = len(limited.frames)
    await everything.action(
        "Hangup", Channel=next(f["Channel"] for f in everything.events("QueueCallerJoin"))
    )
    simulator.clock.advance(1)
    await limited.wait_for(lambda f: f.name == "Hangup", start=start)
    classes = {f["Privilege"] for f in limited.frames[start:] if f.kind == "event"}
    assert classes == {"call,all"}


async def test_actions_need_the_users_write_class(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    users = [AmiUser.create("viewer", "pw", read="all", write="call")]
    simulator = await start_simulator(users=users)
    client = await connect(simulator, username="viewer", secret="pw")
    reply = await client.action("Originate", Channel="Local/6001@customers", Exten="s")
    assert (reply.name, reply["Message"]) == ("Error", "Permission denied")
    assert (await client.action("QueueStatus")).name == "Success"  # needs no class


async def test_unknown_action_is_an_error_with_a_bad_format_event(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    reply = await client.action("NoSuchAction", ActionID="unknown-1")
    assert reply["Message"] == (
        "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available "
        "commands."
    )
    event = await client.wait_for(lambda f: f.name == "RequestBadFormat")
    assert event["RequestType"] == "Action: NoSuchAction"
    assert client.frames.index(reply) < client.frames.index(event)


async def test_a_message_without_action_is_answered_with_an_error(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    client.send_raw(serialise([("ActionID", "x-1"), ("Foo", "bar")]))
    reply = await client.wait_for(lambda f: f.kind == "response" and f.action_id == "x-1")
    assert reply["Message"] == "Missing action in request"


async def test_core_show_channels_lists_every_channel_between_start_and_complete(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    empty = await client.action("CoreShowChannels", ActionID="csc-0")
    assert (empty["EventList"], empty["Message"]) == ("start", "Channels will follow")
    done = client.replies_to("csc-0")[-1]
    assert (done.name, done["EventList"], done["ListItems"]) == (
        "CoreShowChannelsComplete",
        "Complete",
        "0",
    )
    await _call_in_progress(client, simulator)
    await client.action("CoreShowChannels", ActionID="csc-1")
    items = [f for f in client.replies_to("csc-1") if f.name == "CoreShowChannel"]
    assert sorted(f["Channel"][-2:] for f in items) == [";1", ";2"]
    assert next(k for k, _ in items[0].headers[1:]) == "ActionID"
    caller = next(f for f in items if f["Channel"].endswith(";1"))
    assert (caller["Application"], caller["ApplicationData"]) == ("Queue", "sales,r,,,300")
    assert client.replies_to("csc-1")[-1]["ListItems"] == "2"


async def test_status_lists_channels_and_one_channel_with_its_variables(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    await _call_in_progress(client, simulator)
    await client.action("Status", ActionID="st-all")
    statuses = [f for f in client.replies_to("st-all") if f.name == "Status"]
    assert len(statuses) == 2 and statuses[0]["Privilege"] == "Call"
    complete = client.replies_to("st-all")[-1]
    assert (complete["ListItems"], complete["Items"]) == ("2", "2")
    caller = next(f["Channel"] for f in statuses if f["Channel"].endswith(";1"))
    await client.action("Status", ActionID="st-one", Channel=caller, Variables="TARGETQ,NOPE")
    one = [f for f in client.replies_to("st-one") if f.name == "Status"]
    assert [f.get_all("Variable") for f in one] == [("TARGETQ=sales", "NOPE=(null)")]
    missing = await client.action("Status", Channel="Local/nosuch@callers-00000000;1")
    assert (missing.name, missing["Message"]) == ("Error", "No such channel")


async def test_core_settings_and_core_status_describe_the_pbx(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    settings = await client.action("CoreSettings")
    assert (settings["AMIversion"], settings["AsteriskVersion"]) == ("11.0.0", "22.10.1")
    await _call_in_progress(client, simulator)
    status = await client.action("CoreStatus")
    assert status["CoreCurrentCalls"] == "1"
    assert status["CoreStartupDate"].count("-") == 2


async def test_logoff_says_goodbye_and_closes(simulator: Simulator, connect: ClientFactory) -> None:
    client = await connect(simulator)
    reply = await client.action("Logoff")
    assert (reply.name, reply["Message"]) == ("Goodbye", "Thanks for all the fish.")
    await asyncio.wait_for(client.closed.wait(), 5)


async def test_setvar_and_getvar_on_channels_globals_and_device_states(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    await client.action("Setvar", Variable="GREETING", Value="hello")
    assert (await client.action("Getvar", Variable="GREETING"))["Value"] == "hello"
    await client.action("Setvar", Variable="DEVICE_STATE(Custom:agent7)", Value="INUSE")
    device = await client.action("Getvar", Variable="DEVICE_STATE(Custom:agent7)")
    assert device["Value"] == "INUSE"
    await _call_in_progress(client, simulator)
    caller = next(f["Channel"] for f in client.events("QueueCallerJoin"))
    await client.action("Setvar", Channel=caller, Variable="CRM_TICKET", Value="42")
    set_event = await client.wait_for(lambda f: f.name == "VarSet" and f["Value"] == "42")
    assert set_event["Channel"] == caller
    value = await client.action("Getvar", Channel=caller, Variable="CRM_TICKET")
    assert value["Value"] == "42"
    missing = await client.action("Getvar", Channel="Local/x@y-00000000;1", Variable="A")
    assert missing["Message"] == "No such channel"
    bad_state = await client.action("Setvar", Variable="DEVICE_STATE(Custom:a)", Value="SLEEPY")
    assert bad_state.name == "Error"


async def test_hangup_action_ends_the_call(simulator: Simulator, connect: ClientFactory) -> None:
    client = await connect(simulator)
    await _call_in_progress(client, simulator)
    caller = next(f["Channel"] for f in client.events("QueueCallerJoin"))
    reply = await client.action("Hangup", Channel=caller, Cause="16")
    assert reply["Message"] == "Channel Hungup"
    simulator.clock.advance(0.1)
    abandon = await client.wait_for(lambda f: f.name == "QueueCallerAbandon")
    assert abandon["Channel"] == caller
    await client.wait_for(lambda f: f.name == "Hangup" and f["Channel"] == caller)
    simulator.clock.advance(1.0)
    assert simulator.pbx.channels == {}
    unknown = await client.action("Hangup", Channel="Local/none@x-00000000;1")
    assert unknown["Message"] == "No such channel"


async def test_redirect_moves_a_waiting_caller_to_another_queue(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    await _call_in_progress(client, simulator)
    caller = next(f["Channel"] for f in client.events("QueueCallerJoin"))
    reply = await client.action(
        "Redirect", Channel=caller, Context="transfer", Exten="5001", Priority="1"
    )
    assert reply["Message"] == "Redirect successful"
    simulator.clock.advance(0.1)
    joined = await client.wait_for(
        lambda f: f.name == "QueueCallerJoin" and f["Queue"] == "support"
    )
    assert joined["Channel"] == caller
    assert any(f.name == "QueueCallerLeave" and f["Queue"] == "sales" for f in client.frames)
    nowhere = await client.action("Redirect", Channel=caller, Context="nowhere", Exten="1")
    assert nowhere["Message"] == "Extension does not exist."


async def test_dialplan_chatter_can_be_switched_off_for_everyone(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    simulator = await start_simulator(dialplan_events=False)
    client = await connect(simulator)
    await _call_in_progress(client, simulator)
    names = {f.name for f in client.events()}
    assert "QueueCallerJoin" in names and not names & {"Newexten", "VarSet"}


async def test_list_commands_names_the_actions_and_their_classes(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    reply = await client.action("ListCommands")
    assert reply["Originate"] == "Originate.  (Priv: originate)"
    assert {"QueueStatus", "UpdateConfig", "Login"} <= {k for k, _ in reply.headers}
