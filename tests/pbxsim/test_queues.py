"""Queue behaviour: strategies, ring timeout and retry, pauses, wrap-up, timeouts, abandons."""

from __future__ import annotations

import pytest

from pbxsim import AgentProfile, CallerId, ManualClock, QueueSettings, Simulator
from pbxsim.events import Event
from pbxsim.scenarios import log_agents_in

from .conftest import EPOCH


def _simulator(mode: str = "local", **settings: object) -> tuple[Simulator, list[Event]]:
    simulator = Simulator(clock=ManualClock(epoch=EPOCH), mode=mode)  # type: ignore[arg-type]
    simulator.queues.configure("sales", QueueSettings(**settings))  # type: ignore[arg-type]
    events: list[Event] = []
    simulator.add_listener(events.append)
    return simulator, events


def _agents(simulator: Simulator, **profiles: AgentProfile) -> None:
    for extension, profile in profiles.items():
        simulator.behaviour.agents[extension.removeprefix("a")] = profile
    log_agents_in(simulator, "sales", [e.removeprefix("a") for e in profiles])


def _call(simulator: Simulator, number: str = "+15550000001", patience: float = 600) -> None:
    assert simulator.inbound_call("5000", CallerId(number, "Caller"), patience=patience)


def _named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.name == name]


def _agent_of(event: Event) -> str:
    return (event.get("Interface") or "").split("/")[1].split("@")[0]


def test_ringall_rings_every_free_agent_and_the_first_to_answer_gets_the_call() -> None:
    simulator, events = _simulator(strategy="ringall")
    _agents(
        simulator,
        a1001=AgentProfile(ring_delay=3.0),
        a1002=AgentProfile(ring_delay=1.0),
        a1003=AgentProfile(ring_delay=5.0),
    )
    _call(simulator)
    simulator.clock.advance(10)
    assert sorted(_agent_of(e) for e in _named(events, "AgentCalled")) == ["1001", "1002", "1003"]
    (connect,) = _named(events, "AgentConnect")
    assert _agent_of(connect) == "1002"
    cancelled = [e for e in _named(events, "DialEnd") if e.get("DialStatus") == "CANCEL"]
    assert {e.get("DestChannel", "")[:17] for e in cancelled} == {
        "Local/1001@agents",
        "Local/1003@agents",
    }
    assert simulator.pbx.errors == []


def test_rrmemory_hands_calls_round_the_agents_in_turn() -> None:
    simulator, events = _simulator(strategy="rrmemory")
    quick = AgentProfile(ring_delay=1.0, talk_time=5.0)
    _agents(simulator, a1001=quick, a1002=quick, a1003=quick)
    for _ in range(4):
        _call(simulator)
        simulator.clock.advance(30)
    assert [_agent_of(e) for e in _named(events, "AgentConnect")] == [
        "1001",
        "1002",
        "1003",
        "1001",
    ]


def test_leastrecent_offers_the_call_to_the_agent_idle_longest() -> None:
    simulator, events = _simulator(strategy="leastrecent")
    _agents(
        simulator,
        a1001=AgentProfile(ring_delay=1.0, talk_time=5.0),
        a1002=AgentProfile(ring_delay=1.0, talk_time=20.0),
    )
    _call(simulator, "+15550000001")
    simulator.clock.advance(1)
    _call(simulator, "+15550000002")  # 1002 takes it: 1001 is busy
    simulator.clock.advance(12)  # 1001 is free again (finished first), 1002 still talks
    simulator.clock.advance(20)  # now both are free; 1001 has been idle longest
    _call(simulator, "+15550000003")
    simulator.clock.advance(30)
    assert [_agent_of(e) for e in _named(events, "AgentConnect")] == ["1001", "1002", "1001"]


def test_an_unanswered_agent_is_rung_again_after_the_retry_pause() -> None:
    simulator, events = _simulator(timeout=15, retry=2)
    _agents(simulator, a1901=AgentProfile(answers=0.0))
    rung_at: list[float] = []
    simulator.add_listener(
        lambda e: rung_at.append(simulator.clock.now()) if e.name == "AgentCalled" else None
    )
    _call(simulator, patience=40)
    start = simulator.clock.now()
    simulator.clock.advance(36)
    assert [round(t - start) for t in rung_at] == [0, 17, 34]
    no_answer = _named(events, "AgentRingNoAnswer")
    assert len(no_answer) == 2 and no_answer[0].get("RingTime") == "15000"
    queue_dials = [e.get("DialStatus") for e in _named(events, "DialEnd") if e.get("Channel")]
    assert queue_dials[:2] == ["NOANSWER", "CANCEL"]


def test_a_paused_agent_is_not_rung_until_unpaused() -> None:
    simulator, events = _simulator()
    _agents(simulator, a1001=AgentProfile(ring_delay=1.0))
    simulator.queues.pause_member("sales", "Local/1001@agents", True, "Lunch")
    (pause,) = _named(events, "QueueMemberPause")
    assert (pause.get("Paused"), pause.get("PausedReason")) == ("1", "Lunch")
    _call(simulator)
    simulator.clock.advance(30)
    assert _named(events, "AgentCalled") == []
    simulator.queues.pause_member(None, "Local/1001@agents", False)
    simulator.clock.advance(5)
    assert len(_named(events, "AgentConnect")) == 1


def test_wrapup_time_keeps_an_agent_out_of_the_queue_after_a_call() -> None:
    simulator, events = _simulator(wrapuptime=30)
    _agents(simulator, a1001=AgentProfile(ring_delay=1.0, talk_time=5.0))
    _call(simulator, "+15550000001")
    simulator.clock.advance(10)  # the first call is over
    _call(simulator, "+15550000002")
    simulator.clock.advance(20)
    assert len(_named(events, "AgentCalled")) == 1  # still wrapping up
    simulator.clock.advance(15)
    assert len(_named(events, "AgentConnect")) == 2


def test_a_caller_gives_up_after_the_queue_timeout() -> None:
    simulator, events = _simulator()
    assert simulator.inbound_call("5002", CallerId("+15550000009", "X"), patience=60)
    simulator.clock.advance(30)
    (status,) = [e for e in _named(events, "VarSet") if e.get("Variable") == "QUEUESTATUS"]
    assert status.get("Value") == "TIMEOUT"
    (abandon,) = _named(events, "QueueCallerAbandon")
    assert abandon.get("HoldTime") == "10"


def test_an_impatient_caller_abandons_the_queue() -> None:
    simulator, events = _simulator()
    _call(simulator, patience=12)
    simulator.clock.advance(20)
    (abandon,) = _named(events, "QueueCallerAbandon")
    assert abandon.get("HoldTime") == "12"
    assert simulator.pbx.channels == {}


@pytest.mark.parametrize("mode", ["local", "pjsip"])
def test_queue_statistics_count_completed_and_abandoned_calls(mode: str) -> None:
    simulator, _ = _simulator(mode)
    _agents(simulator, a1001=AgentProfile(ring_delay=1.0, talk_time=10.0))
    _call(simulator, "+15550000001")
    _call(simulator, "+15550000002", patience=5)
    simulator.clock.advance(60)
    queue = simulator.queues.get("sales")
    assert queue is not None and (queue.completed, queue.abandoned) == (1, 1)
    member = queue.members[next(iter(queue.members))]
    assert member.calls_taken == 1 and not member.in_call


@pytest.mark.parametrize("mode", ["local", "pjsip"])
def test_a_caller_hanging_up_mid_conversation_ends_the_agents_leg_too(mode: str) -> None:
    simulator, events = _simulator(mode)
    _agents(simulator, a1001=AgentProfile(ring_delay=1.0, talk_time=60.0))
    _call(simulator)
    simulator.clock.advance(5)
    caller = next(c for c in simulator.pbx.channels.values() if c.linkedid == c.uniqueid)
    simulator.pbx.request_hangup(caller.peer or caller, 16)  # the far end of the caller leaves
    simulator.clock.advance(5)
    (complete,) = _named(events, "AgentComplete")
    assert complete.get("Reason") == "caller"
    assert simulator.pbx.channels == {}
    assert simulator.pbx.device_state("Queue:sales_avail") == "NOT_INUSE"
