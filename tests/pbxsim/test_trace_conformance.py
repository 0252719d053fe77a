"""The simulator answers the recorder's actions with the events a real Asterisk 22 sent.

Each trace is replayed over TCP (same actions, same simulated times, see ``replay``) and the
received stream is compared with the recorded one by shape (``shapes``): event names and header
keys per channel, device, member and bridge, plus the responses and lists, in order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.ami.framing import Frame
from pbxsim import ManualClock, Simulator

from .conftest import EPOCH, SimulatorFactory
from .replay import recorded_frames, replay
from .shapes import differences, shape_of

# Asterisk was not restarted between recordings: device states an earlier recording left behind
# produce no DeviceStateChange when set again to the same value. A simulator starts with none,
# so each replay starts with the states the lab had (visible in the earlier traces).
_AGENT_1001 = {"Custom:agent1001": "NOT_INUSE"}
_IN_SALES_BEFORE = {"Queue:sales_pause_Local/1001@agents": "NOT_INUSE"}
REMEMBERED_DEVICE_STATES: dict[str, dict[str, str]] = {
    "01-login-banner-and-ping": {},
    "02-agent-ready-pause-unpause-remove": _AGENT_1001,
    "03-inbound-answered-by-agent": {**_AGENT_1001, **_IN_SALES_BEFORE},
    "04-inbound-abandoned": {"Custom:agent1901": "NOT_INUSE"},
    "05-inbound-withheld-and-national-cli": {**_AGENT_1001, **_IN_SALES_BEFORE},
    "06-click-to-call": {**_AGENT_1001, "Custom:agent1901": "NOT_INUSE"},
    "07-outbound-predictive": _AGENT_1001,
    "09-resync-after-reconnect": {
        **_AGENT_1001,
        **_IN_SALES_BEFORE,
        "Custom:agent1002": "NOT_INUSE",
        "Queue:support_pause_Local/1002@agents": "NOT_INUSE",
    },
}
WHAT_EACH_TRACE_SHOWS = {
    "01-login-banner-and-ping": "login, wrong secret, ping, events off/on, core lists, errors",
    "02-agent-ready-pause-unpause-remove": "queue add/pause/unpause/remove, errors, status",
    "03-inbound-answered-by-agent": "inbound call queued and answered by the agent",
    "04-inbound-abandoned": "A empty queue abandon, B ring-no-answer and retry, C queue timeout",
    "05-inbound-withheld-and-national-cli": "withheld and national caller ids answered",
    "06-click-to-call": "click-to-call success, busy, and each originate failure",
    "07-outbound-predictive": "predictive call connected, and abandoned with no agent",
    "09-resync-after-reconnect": "reconnect mid-call: channel, queue and status lists",
}


async def _replayed(traces_dir: Path, name: str) -> tuple[dict[int, list[Frame]], Simulator]:
    simulator = Simulator(
        clock=ManualClock(epoch=EPOCH),
        device_states=REMEMBERED_DEVICE_STATES[name],
        auth_failure_delay=0.05,
    )
    await simulator.start("127.0.0.1", 0)
    try:
        received = await replay(traces_dir / f"{name}.ami", simulator)
    finally:
        await simulator.close()
    assert simulator.pbx.errors == []
    return received, simulator


@pytest.mark.parametrize(
    "name",
    sorted(WHAT_EACH_TRACE_SHOWS),
    ids=[f"{n[:2]} {v}" for n, v in sorted(WHAT_EACH_TRACE_SHOWS.items())],
)
async def test_replaying_the_recorders_actions_gives_the_recorded_events(
    traces_dir: Path, name: str
) -> None:
    received, _ = await _replayed(traces_dir, name)
    recorded = recorded_frames(traces_dir / f"{name}.ami")
    assert sorted(received) == sorted(recorded)
    for connection, frames in recorded.items():
        expected, got = shape_of(frames), shape_of(received[connection])
        problems = differences(expected, got)
        assert problems == [], f"connection {connection}:\n" + "\n".join(problems)
        assert got.event_count() > 0 or expected.event_count() == 0


def test_every_recorded_trace_has_a_replay_test(traces_dir: Path) -> None:
    assert {path.stem for path in traces_dir.glob("*.ami")} == set(WHAT_EACH_TRACE_SHOWS)


def test_two_recordings_of_one_call_flow_have_the_same_shape(traces_dir: Path) -> None:
    """The comparison is not too strict: trace 05's second call (national number) and trace 03's
    call are the same flow recorded at different times, with different thread interleavings."""
    trace_03 = [
        f
        for f in recorded_frames(traces_dir / "03-inbound-answered-by-agent.ami")[1]
        if f.kind == "event"
    ]
    trace_05 = [
        f
        for f in recorded_frames(traces_dir / "05-inbound-withheld-and-national-cli.ami")[1]
        if f.kind == "event"
    ]
    joins = [i for i, f in enumerate(trace_05) if f.name == "Newchannel"]
    second_call = trace_05[joins[4] : -3]  # from its first Newchannel to before QueueRemove
    call_03 = [f for f in trace_03 if f.name not in ("FullyBooted", "SuccessfulAuth")]
    call_03 = [
        f for f in call_03 if not f.name.startswith(("QueueMember", "QueueParams", "QueueStatus"))
    ]
    second_call = [f for f in second_call if not f.name.startswith("QueueMember")]
    rename = {"hold30": "hold60"}

    def renamed(frames: list[Frame]) -> list[Frame]:
        out = []
        for frame in frames:
            headers = tuple((k, v.replace("hold30", rename["hold30"])) for k, v in frame.headers)
            out.append(Frame(headers))
        return out

    expected = shape_of([f for f in call_03 if f.name != "DeviceStateChange"])
    got = shape_of([f for f in renamed(second_call) if f.name != "DeviceStateChange"])
    assert differences(expected, got) == []


def test_the_comparison_notices_a_missing_or_changed_event(traces_dir: Path) -> None:
    frames = recorded_frames(traces_dir / "03-inbound-answered-by-agent.ami")[1]
    dropped = [f for f in frames if not (f.name == "VarSet" and f.get("Variable") == "QUEUEWAIT")]
    assert differences(shape_of(frames), shape_of(dropped))
    index = next(i for i, f in enumerate(frames) if f.name == "AgentConnect")
    changed = list(frames)
    changed[index] = Frame(tuple(h for h in frames[index].headers if h[0] != "RingTime"))
    assert any(
        "headers differ" in line for line in differences(shape_of(frames), shape_of(changed))
    )


async def test_click_to_call_outcomes_report_the_reasons_asterisk_gives(
    traces_dir: Path,
) -> None:
    received, _ = await _replayed(traces_dir, "06-click-to-call")
    frames = received[1]
    responses = {f.action_id: f for f in frames if f.name == "OriginateResponse"}
    reasons = {action_id: f["Reason"] for action_id, f in responses.items()}
    assert reasons == {
        "c2c-success-1": "4",
        "c2c-busy-1": "4",
        "orig-cust-busy-1": "5",
        "orig-cust-noanswer-1": "3",
        "orig-cust-congest-1": "8",
        "c2c-agent-noanswer-1": "3",
        "orig-badtech-1": "0",
    }
    failed = responses["orig-cust-busy-1"]
    assert (failed["Response"], failed["Channel"], failed["Uniqueid"]) == (
        "Failure",
        "Local/7002@customers",
        "<unknown>",
    )
    assert responses["c2c-success-1"]["Channel"].endswith(";1")
    sync = next(f for f in frames if f.action_id == "orig-sync-badctx-1")
    assert (sync.name, sync["Message"]) == ("Error", "Extension does not exist.")
    busy_dial = [f for f in frames if f.name == "DialEnd" and f.get("DialStatus") == "BUSY"]
    assert any(f.get("Channel", "").startswith("Local/1001@agents") for f in busy_dial)


async def test_inbound_call_channels_share_the_callers_linkedid(traces_dir: Path) -> None:
    received, _ = await _replayed(traces_dir, "03-inbound-answered-by-agent")
    frames = received[1]
    new = {f["Channel"]: f for f in frames if f.name == "Newchannel"}
    caller = next(f for name, f in new.items() if name.startswith("Local/hold60@callers-"))
    assert caller["Channel"].endswith(";1")
    assert {f["Linkedid"] for f in new.values()} == {caller["Uniqueid"]}
    answered = next(f for f in frames if f.name == "OriginateResponse")
    assert (answered["Uniqueid"], answered["Reason"]) == (caller["Uniqueid"], "4")
    connect = next(f for f in frames if f.name == "AgentConnect")
    assert connect["Channel"] == caller["Channel"]
    assert connect["DestChannel"].startswith("Local/1001@agents-")
    complete = next(f for f in frames if f.name == "AgentComplete")
    assert (complete["Reason"], complete["Queue"]) == ("agent", "sales")
    member = next(f for f in frames if f.name == "QueueMember")
    assert member["CallsTaken"] == "1"


async def test_withheld_caller_shows_presentation_prohibited_to_the_agent(
    traces_dir: Path,
) -> None:
    received, _ = await _replayed(traces_dir, "05-inbound-withheld-and-national-cli")
    frames = received[1]
    agent_ids = [
        f
        for f in frames
        if f.name == "NewCallerid"
        and f["Channel"].startswith("Local/1001@agents-")
        and f["Channel"].endswith(";2")
    ]
    assert agent_ids[0]["CID-CallingPres"].startswith("35 (Presentation Prohibited")
    assert agent_ids[1]["CID-CallingPres"].startswith("0 (Presentation Allowed")
    national = [f for f in frames if f.name == "QueueCallerJoin"][1]
    assert (national["CallerIDNum"], national["CallerIDName"]) == ("0201234567", "<unknown>")


async def test_resync_lists_describe_the_calls_in_progress(traces_dir: Path) -> None:
    received, _ = await _replayed(traces_dir, "09-resync-after-reconnect")
    frames = received[2]
    complete = {f.name: f for f in frames if f.get("EventList") == "Complete"}
    assert complete["CoreShowChannelsComplete"]["ListItems"] == "10"
    assert complete["StatusComplete"]["ListItems"] == "1"  # the last Status was for one channel
    entries = [f for f in frames if f.name == "QueueEntry"]
    assert [(f["Queue"], f["Position"]) for f in entries] == [("sales", "1")]
    members = [f for f in frames if f.name == "QueueMember"]
    assert {(f["Name"], f["InCall"], f["Status"]) for f in members} == {
        ("Alice Agent", "1", "2"),
        ("Bob Agent", "1", "2"),
    }
    one = next(f for f in frames if f.name == "Status" and f.action_id == "resync-status-one")
    assert one.get_all("Variable") == ("QUEUENAME=(null)", "MEMBERINTERFACE=(null)")
    bad = next(f for f in frames if f.action_id == "resync-status-bad")
    assert (bad.name, bad["Message"]) == ("Error", "No such channel")


async def test_recorded_login_is_answered_the_same_by_a_fresh_simulator(
    start_simulator: SimulatorFactory, traces_dir: Path
) -> None:
    """The simulator needs no remembered states for the protocol part of the lab."""
    simulator = await start_simulator()
    received = await replay(traces_dir / "01-login-banner-and-ping.ami", simulator)
    recorded = recorded_frames(traces_dir / "01-login-banner-and-ping.ami")
    for connection in recorded:
        assert differences(shape_of(recorded[connection]), shape_of(received[connection])) == []
