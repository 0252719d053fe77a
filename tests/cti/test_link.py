"""The AMI link against a scripted AMI server over real TCP: login, keepalive with a deadline,
reconnect with backoff, resynchronisation, typed action errors, no double Originate, no CR/LF
injection, and bad frames that never take the link down."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from cti.ami import actions
from cti.ami.errors import ActionFailed, LinkDown
from cti.ami.framing import Frame
from cti.ami.link import AmiLink, LinkConfig, Snapshot
from tests.cti.scripted_pbx import ScriptedPbx


@dataclass
class Recorder:
    events: list[Frame] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    states: list[tuple[bool, str | None]] = field(default_factory=list)

    def on_event(self, frame: Frame, at: float) -> None:
        if frame.name == "Boom":
            raise RuntimeError("a handler bug")
        self.events.append(frame)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)

    def on_link_state(self, connected: bool, error: str | None) -> None:
        self.states.append((connected, error))


async def eventually(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def pbx():
    server = ScriptedPbx()
    server.port = await server.start()
    yield server
    await server.close()


@pytest.fixture
async def link(pbx):
    recorder = Recorder()
    link = AmiLink(
        LinkConfig(
            host="127.0.0.1",
            port=pbx.port,
            username="cti",
            secret="cti-secret",
            ping_interval=0.2,
            ping_timeout=0.3,
            backoff_initial=0.05,
            backoff_max=0.2,
            action_timeout=1.0,
            reconcile_interval=0.5,
        ),
        recorder,
    )
    link.recorder = recorder
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(link.wait_connected(), 5)
    yield link
    await link.stop()
    await asyncio.wait_for(task, 5)


async def test_the_link_logs_in_and_resynchronises_at_once(link, pbx):
    assert link.status.connected and pbx.logins == 1
    login = next(f for f in pbx.received if f.name == "Login")
    assert login.get("Events") == "on"
    await eventually(lambda: link.recorder.snapshots)


async def test_events_reach_the_listener_in_order(link, pbx):
    for n in range(50):
        pbx.push([("Event", "Newchannel"), ("Uniqueid", f"1.{n}"), ("Linkedid", "1.0")])
    await eventually(lambda: len(link.recorder.events) == 50)
    assert [f.get("Uniqueid") for f in link.recorder.events] == [f"1.{n}" for n in range(50)]


async def test_a_wrong_secret_is_a_login_failure_and_the_link_keeps_trying(pbx):
    recorder = Recorder()
    link = AmiLink(
        LinkConfig(
            host="127.0.0.1",
            port=pbx.port,
            username="cti",
            secret="nope",
            backoff_initial=0.05,
            backoff_max=0.1,
        ),
        recorder,
    )
    task = asyncio.create_task(link.run())
    await eventually(lambda: link.status.reconnects >= 2)
    assert "LoginFailed" in (link.status.last_error or "")
    assert not link.status.connected
    await link.stop()
    await asyncio.wait_for(task, 5)


async def test_a_silent_link_is_declared_dead_and_replaced(link, pbx):
    pbx.silent = True  # no RST, no FIN: only the missing pong tells
    await eventually(lambda: not link.status.connected, timeout=3)
    assert "no answer to Ping" in (link.status.last_error or "")
    pbx.silent = False
    await asyncio.wait_for(link.wait_connected(), 5)
    assert pbx.logins == 2 and link.status.reconnects >= 1


async def test_a_dropped_connection_reconnects_and_resynchronises(link, pbx):
    await eventually(lambda: link.recorder.snapshots)
    before = len(link.recorder.snapshots)
    pbx.drop_clients()
    await eventually(lambda: not link.status.connected)
    await asyncio.wait_for(link.wait_connected(), 5)
    await eventually(lambda: len(link.recorder.snapshots) > before)
    assert [s for s, _ in link.recorder.states][:3] == [True, False, True]


async def test_actions_answer_with_typed_errors(link):
    with pytest.raises(ActionFailed, match="Invalid/unknown command"):
        await link.send(actions.action("NoSuchAction"))
    answer = await link.send(actions.ping())
    assert answer.get("Ping") == "Pong"


async def test_an_action_on_a_down_link_raises_link_down(pbx):
    link = AmiLink(
        LinkConfig(host="127.0.0.1", port=pbx.port, username="u", secret="s"), Recorder()
    )
    with pytest.raises(LinkDown):
        await link.send(actions.ping())


async def test_values_with_line_breaks_never_reach_the_pbx(link, pbx):
    with pytest.raises(actions.UnsafeValue, match="CallerID"):
        actions.originate(
            "PJSIP/1001",
            context="c",
            exten="1",
            caller_id='"Eve"\r\nAction: Hangup\r\nChannel: PJSIP/1002 <1>',
        )
    with pytest.raises(actions.UnsafeValue, match="Variable"):
        actions.originate(
            "PJSIP/1001", context="c", exten="1", variables={"X\r\nAction: Hangup": "1"}
        )
    assert not [f for f in pbx.received if f.name == "Hangup"]


async def test_an_originate_in_flight_when_the_link_drops_is_not_placed_twice(link, pbx):
    pbx.originate_answers = False
    action = actions.originate("PJSIP/1001", context="clicktocall", exten="6001")
    channel_id = dict(action.headers)["ChannelId"]
    placing = asyncio.create_task(link.originate(action, timeout=0.5))
    await eventually(lambda: any(f.name == "Originate" for f in pbx.received))
    # The PBX did place it; the answer is lost with the link.
    pbx.channels = [
        [("Channel", "PJSIP/1001-00000001"), ("Uniqueid", channel_id), ("Linkedid", channel_id)]
    ]
    pbx.drop_clients()
    assert await asyncio.wait_for(placing, 10) is None
    assert sum(f.name == "Originate" for f in pbx.received) == 1


async def test_an_originate_lost_before_the_pbx_saw_it_is_sent_once_more(link, pbx):
    pbx.originate_answers = False
    action = actions.originate("PJSIP/1001", context="clicktocall", exten="6001")
    placing = asyncio.create_task(link.originate(action, timeout=0.5))
    await eventually(lambda: any(f.name == "Originate" for f in pbx.received))
    pbx.originate_answers = True
    pbx.drop_clients()  # no channel with our ChannelId exists: it is safe to send again
    answer = await asyncio.wait_for(placing, 10)
    originates = [f for f in pbx.received if f.name == "Originate"]
    assert len(originates) == 2
    assert originates[0].get("ChannelId") == originates[1].get("ChannelId")
    assert answer.get("Message") == "Originate successfully queued"


async def test_bad_frames_are_counted_and_the_link_stays_up(link, pbx):
    pbx.push_raw(b"this line has no separator\r\n\r\n")
    pbx.push_raw(b"Response: Success\r\nActionID: nobody-asked\r\n\r\n")
    pbx.push_raw(b"Event: Newchannel\r\nCallerIDName: \xff\xfe\r\nUniqueid: 9.9\r\n\r\n")
    pbx.push([("Event", "Boom")])  # the listener raises on this one
    pbx.push([("Event", "Hangup"), ("Uniqueid", "9.9")])
    await eventually(lambda: any(f.name == "Hangup" for f in link.recorder.events))
    assert link.status.bad_frames == 1
    assert link.status.unmatched_responses == 1
    assert link.status.connected
    mangled = next(f for f in link.recorder.events if f.name == "Newchannel")
    assert mangled.problems  # delivered, marked


async def test_the_status_counts_events_per_second(link, pbx):
    for _ in range(20):
        pbx.push([("Event", "VarSet")])
    await eventually(lambda: link.status.events >= 20)
    status = link.status.as_dict(now=link.status._per_second[-1][0] + 1.0)
    assert status["connected"] is True
    assert status["events_per_second"] >= 2.0


async def test_a_sender_cancelled_as_the_link_drops_is_cancelled_not_told_link_down(link, pbx):
    """A worker cancelled (the service stopping) in the same instant its pending action fails
    with LinkDown must end cancelled: taking the LinkDown instead, it would catch it as a PBX
    error and run on, and the service could never stop."""
    pbx.originate_answers = False
    action = actions.originate("PJSIP/1001", context="clicktocall", exten="6001")
    sending = asyncio.create_task(link.send(action))
    await eventually(lambda: any(f.name == "Originate" for f in pbx.received))
    link._protocol.close()  # the drop and the cancellation in one turn of the loop
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
