"""Seeded scenarios: inbound bursts, outbound campaigns, the demo; serve() and the command."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from pbxsim import (
    Demo,
    InboundBurst,
    ManualClock,
    OutboundCampaign,
    RealTimeClock,
    Simulator,
    serve,
)

from .amiclient import AmiClient
from .conftest import EPOCH

ROOT = Path(__file__).resolve().parents[3]


def _counting(simulator: Simulator) -> Counter[str]:
    names: Counter[str] = Counter()
    simulator.add_listener(lambda event: names.update([event.name]))
    return names


def test_every_caller_of_a_burst_is_answered_or_gives_up() -> None:
    simulator = Simulator(clock=ManualClock(epoch=EPOCH), seed=3)
    names = _counting(simulator)
    burst = InboundBurst(calls=200, over_seconds=60, agents=20, abandon_rate=0.3, patience=(10, 60))
    simulator.run(burst)
    simulator.clock.run_until_idle()
    assert (burst.placed, burst.refused) == (200, 0)
    assert names["QueueCallerJoin"] == names["QueueCallerLeave"] == 200
    assert names["AgentConnect"] + names["QueueCallerAbandon"] == 200
    assert names["AgentConnect"] == names["AgentComplete"] > 0
    assert simulator.pbx.channels == {} and simulator.pbx.errors == []


def test_impatient_callers_abandon_an_understaffed_queue_more() -> None:
    abandoned = []
    for rate in (0.0, 1.0):
        simulator = Simulator(clock=ManualClock(epoch=EPOCH), seed=5)
        names = _counting(simulator)
        simulator.run(
            InboundBurst(
                calls=60,
                over_seconds=30,
                agents=3,
                abandon_rate=rate,
                patience=(5, 20),
                patient_wait=2000,
            )
        )
        simulator.clock.run_until_idle()
        abandoned.append(names["QueueCallerAbandon"])
    # Patient callers only leave on the queue's 300 s timeout; impatient ones much sooner.
    assert abandoned[1] > abandoned[0]


def test_a_trunk_limit_refuses_part_of_a_burst() -> None:
    simulator = Simulator(clock=ManualClock(epoch=EPOCH), seed=1)
    simulator.trunks.trunks["trunk-main"].max_channels = 5
    burst = InboundBurst(calls=40, over_seconds=10, agents=2, talk_time=60.0)
    simulator.run(burst)
    simulator.clock.run_until_idle()
    assert burst.refused > 0 and burst.placed + burst.refused == 40
    assert simulator.trunks.in_use == {}


def test_demo_keeps_calls_coming_until_stopped() -> None:
    simulator = Simulator(clock=ManualClock(epoch=EPOCH), seed=2)
    demo = Demo(extensions=("1001", "1002"), calls_per_minute=6, add_agents=True)
    simulator.run(demo)
    simulator.clock.advance(600)
    placed = demo.placed
    assert 40 <= placed <= 80
    demo.stop()
    simulator.clock.advance(600)
    assert demo.placed == placed


def test_an_outbound_campaign_staffs_the_outbound_queue() -> None:
    simulator = Simulator(clock=ManualClock(epoch=EPOCH))
    simulator.run(OutboundCampaign(agents=3))
    queue = simulator.queues.get("outbound")
    assert queue is not None and len(queue.members) == 3


async def test_a_burst_at_speed_50_runs_fifty_times_faster_than_real_time() -> None:
    simulator = Simulator(clock=RealTimeClock(speed=50, epoch=EPOCH), seed=4)
    await simulator.start("127.0.0.1", 0)
    burst = InboundBurst(
        calls=30, over_seconds=20, agents=10, talk_time=(10, 20), ring_delay=(1, 2)
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    simulator.run(burst)
    try:
        while burst.placed < 30 or simulator.pbx.channels:
            assert loop.time() - started < 10
            await asyncio.sleep(0.02)
        simulated = simulator.clock.now()
        assert simulated > 20
        assert loop.time() - started < simulated / 50 * 2 + 0.5
        assert isinstance(simulator.clock, RealTimeClock) and simulator.clock.lag.worst < 0.5
    finally:
        await simulator.close()


async def test_serve_starts_a_named_scenario_on_a_listening_simulator() -> None:
    simulator = await serve("127.0.0.1", 0, scenario="demo", seed=1, speed=200, epoch=EPOCH)
    try:
        client = await AmiClient.connect(simulator.port)
        await client.login()
        joined = await client.wait_for(lambda f: f.name == "QueueCallerJoin", timeout=10)
        assert joined["Queue"] == "sales"
        await client.close()
    finally:
        await simulator.close()


def test_the_command_line_serves_until_its_duration_is_over() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pbxsim",
            "--port",
            "0",
            "--scenario",
            "inbound-burst",
            "--seed",
            "1",
            "--speed",
            "20",
            "--duration",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    started, stopped = (json.loads(line) for line in result.stdout.splitlines()[:2])
    assert started["scenario"] == "inbound-burst" and started["listening"].startswith("127.0.0.1:")
    assert stopped["errors"] == 0 and stopped["simulated_seconds"] >= 15
