"""The link test of issue 4: a 2,000-call simulated run whose TCP connection is killed 100
times; every call's domain events still come out exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

from cti.ami.link import AmiLink, LinkConfig
from cti.events import (
    AgentDeviceStateChanged,
    CallAnswered,
    CallEnded,
    CallOffered,
    DomainEvent,
)
from cti.telephony import Telephony
from pbxsim import AmiUser, InboundBurst, serve
from tests.cti.tcp_proxy import TcpProxy

CALLS = 2000
KILLS = 100
# 5x real time: at 10x a short abandoned call lasts 1.5 s, and on a loaded machine (slow
# reconnects) one could start and end wholly while the link was down, never seen at all.
SPEED = 5.0
SIMULATED_SECONDS = 300.0


async def test_every_call_ends_exactly_once_across_a_hundred_dropped_links():
    scenario = InboundBurst(
        calls=CALLS,
        over_seconds=SIMULATED_SECONDS,
        agents=60,
        abandon_rate=0.3,
        patience=(15.0, 60.0),
        talk_time=(30.0, 90.0),
    )
    simulator = await serve(
        "127.0.0.1", 0, seed=7, speed=SPEED, mode="pjsip", users=[AmiUser.create("cti", "pw")]
    )
    placed: set[str] = set()
    simulator.add_listener(
        lambda e: placed.add(e.get("Linkedid")) if e.name == "QueueCallerJoin" else None
    )
    proxy = TcpProxy("127.0.0.1", simulator.port)
    proxy_port = await proxy.start()
    telephony = Telephony()
    events = telephony.subscribe(limit=1_000_000)  # read only at the end: keep everything
    link = AmiLink(
        LinkConfig(
            host="127.0.0.1",
            port=proxy_port,
            username="cti",
            secret="pw",
            events="call,agent,system",
            wanted_events=telephony.wanted_events,
            backoff_initial=0.02,
            backoff_max=0.1,
            ping_interval=1.0,
            ping_timeout=2.0,
            reconcile_interval=2.0,
        ),
        telephony,
    )
    running = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.wait_connected(), 10)
        simulator.run(scenario)
        run_seconds = SIMULATED_SECONDS / SPEED
        for _ in range(KILLS):
            await asyncio.sleep(run_seconds / KILLS)
            await asyncio.wait_for(link.wait_connected(), 10)
            proxy.kill()
        # Let every call finish (talk and patience are bounded), then one last resync.
        for _ in range(1800):  # at most 3 min: a loaded machine runs the simulator late
            await asyncio.sleep(0.1)
            if scenario.placed == CALLS and not simulator.stats()["channels"]:
                break
        await asyncio.wait_for(link.wait_connected(), 10)
        telephony.on_snapshot(await link.snapshot())
    finally:
        await link.stop()
        await running
        await proxy.close()
        await simulator.close()

    out: list[DomainEvent] = []
    while not events.empty():
        out.append(events.get_nowait())
    assert proxy.kills == KILLS
    assert scenario.placed == CALLS and len(placed) == CALLS
    ended = Counter(e.linked_id for e in out if isinstance(e, CallEnded))
    assert set(ended) == placed, f"{len(placed - set(ended))} calls never ended"
    assert max(ended.values()) == 1
    # Call events are values: the same event twice would be equal in every field.
    call_events = [e for e in out if getattr(e, "linked_id", None)]
    assert [event for event, n in Counter(call_events).items() if n > 1] == []
    # A device may ring and stop within one read (equal events, both real); a replayed state
    # would show up as the same state twice in a row for the device.
    last_state: dict[str, str] = {}
    for event in out:
        if isinstance(event, AgentDeviceStateChanged):
            assert last_state.get(event.interface) != event.state, event
            last_state[event.interface] = event.state
    # Offers and answers each come at most once per device and call.
    offers = Counter((e.linked_id, e.device_channel) for e in out if isinstance(e, CallOffered))
    answers = Counter(e.linked_id for e in out if isinstance(e, CallAnswered))
    assert max(offers.values()) == 1 and max(answers.values()) == 1
    assert link.status.reconnects >= KILLS
