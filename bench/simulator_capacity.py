"""How many concurrent calls the PBX simulator sustains in real time, on one core.

``python bench/simulator_capacity.py`` runs the simulator (lab mode: Local channels with all
their dialplan chatter, the heaviest event stream) at speed 1, with one AMI client reading every
event over TCP from a separate process, as the CTI service would. The load climbs through
levels of concurrent calls: inbound calls queued and answered by as many agents, conversations
of 5-175 s, each call that ends replaced by a new one, so calls keep starting and ending. At
each level it measures, over a window, how late the simulator ran its scheduled callbacks (the
lag of events against their simulated time) and how much of one core it used. A level is
sustained when the 99th percentile of that lag stays under the limit (100 ms by default) and the
client keeps up. The longest full garbage collection during the level is reported as well:
CPython stops everything while it runs, and its length grows with the number of live calls.

The baseline is the same measurement at a light load, in the same run. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbxsim import AgentProfile, CallerId, RealTimeClock, Simulator
from pbxsim.channels import Channel
from pbxsim.scenarios import log_agents_in

GOAL_CONCURRENT_CALLS = 1000
# Conversations of 5-175 s (mean 90 s): calls end and are replaced from the start of a level.
TALK_TIME = (5.0, 175.0)
CONSUMER = """
import asyncio, sys
async def main(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"Action: Login\\r\\nUsername: cti\\r\\nSecret: cti-secret\\r\\n\\r\\n")
    await writer.drain()
    total = 0
    print("ready", flush=True)
    while data := await reader.read(1 << 20):
        total += len(data)
    print(total, flush=True)
asyncio.run(main(int(sys.argv[1])))
"""


class Load:
    """Inbound calls kept at ``target`` in progress: each call that ends is replaced (a closed
    loop), so the level measured is the level asked for, with calls starting and ending."""

    def __init__(self, simulator: Simulator, rng: random.Random) -> None:
        self.simulator = simulator
        self.rng = rng
        self.target = 0
        self.live = 0  # calls placed and not yet over
        self.placed = 0
        self.stopped = False
        simulator.pbx.hangup_hooks.append(self._channel_gone)

    def ramp_to(self, target: int, calls_per_second: float) -> float:
        """Add calls to reach ``target``; the seconds the ramp takes."""
        extra = max(0, target - self.target)
        self.target = target
        clock = self.simulator.clock
        for index in range(extra):
            clock.call_later(index / calls_per_second, self._arrive)
        return extra / calls_per_second

    def _arrive(self) -> None:
        if self.stopped:
            return
        number = f"+1555{self.rng.randrange(10_000_000):07d}"
        if self.simulator.inbound_call("5000", CallerId(number, "Bench"), patience=600):
            self.placed += 1
            self.live += 1

    def _channel_gone(self, channel: Channel) -> None:
        if channel.uniqueid != channel.linkedid or self.stopped:
            return  # only the channel a call started with marks the call's end
        self.live -= 1
        if self.live < self.target:
            self.simulator.clock.call_later(self.rng.uniform(0.0, 1.0), self._arrive)

    def stop(self) -> None:
        self.stopped = True


async def measure_level(
    simulator: Simulator,
    load: Load,
    level: int,
    *,
    ramp_rate: float,
    settle: float,
    window: float,
    consumer_session: object,
) -> dict[str, object]:
    clock = simulator.clock
    assert isinstance(clock, RealTimeClock)
    gc_pauses.pauses.clear()  # full collections are counted over the whole level
    ramp = load.ramp_to(level, ramp_rate)
    await asyncio.sleep(ramp + settle)
    events_before = simulator_events[0]
    sent_before = getattr(consumer_session, "sent_bytes", 0)
    clock.lag.reset()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    samples: list[int] = []
    backlog = 0
    end = wall_before + window
    while time.perf_counter() < end:
        await asyncio.sleep(0.5)
        samples.append(load.live)
        backlog = max(backlog, getattr(consumer_session, "_pending_bytes", 0))
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    lag = clock.lag
    return {
        "target_concurrent_calls": level,
        "concurrent_calls_min": min(samples),
        "concurrent_calls_mean": round(sum(samples) / len(samples)),
        "channels": len(simulator.pbx.channels),
        "events_per_second": round((simulator_events[0] - events_before) / wall),
        "bytes_per_second_to_client": round(
            (getattr(consumer_session, "sent_bytes", 0) - sent_before) / wall
        ),
        "callbacks_measured": lag.count,
        "lag_p50_ms": round(lag.percentile(0.50) * 1000, 2),
        "lag_p99_ms": round(lag.percentile(0.99) * 1000, 2),
        "lag_max_ms": round(lag.worst * 1000, 2),
        "client_backlog_max_bytes": backlog,
        "full_gc_pauses_during_level": len(gc_pauses.pauses),
        "full_gc_pause_max_ms": round(max(gc_pauses.pauses, default=0.0) * 1000, 1),
        "cpu_share_of_one_core": round(cpu / wall, 3),
    }


simulator_events = [0]


class GcPauses:
    """Full (generation 2) garbage collections and how long they stopped everything."""

    def __init__(self) -> None:
        self.started = 0.0
        self.pauses: list[float] = []
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self.started)


gc_pauses = GcPauses()


async def run(args: argparse.Namespace) -> dict[str, object]:
    levels = [int(part) for part in args.levels.split(",")]
    top = max([*levels, args.baseline])
    clock = RealTimeClock(speed=1.0, epoch=1_800_000_000.0)
    simulator = Simulator(clock=clock, seed=args.seed, mode=args.mode)
    simulator.add_listener(lambda _event: simulator_events.__setitem__(0, simulator_events[0] + 1))
    extensions = [str(100_000 + i) for i in range(int(top * 1.1) + 10)]
    profile = AgentProfile(ring_delay=(0.5, 1.5), talk_time=TALK_TIME)
    for extension in extensions:
        simulator.behaviour.agents[extension] = profile
    log_agents_in(simulator, "sales", extensions)
    await simulator.start("127.0.0.1", 0)
    # Ramps are bursts of call set-ups; let the client's backlog absorb them (it is measured).
    simulator.server.max_pending_bytes = 512 * 1024 * 1024
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CONSUMER,
        str(simulator.port),
        stdout=asyncio.subprocess.PIPE,
    )
    assert consumer.stdout is not None
    await asyncio.wait_for(consumer.stdout.readline(), 10)
    for _ in range(1000):  # the client's login is answered at once; wait for it, boundedly
        if any(s.user is not None for s in simulator.server.sessions):
            break
        await asyncio.sleep(0.01)
    session = simulator.server.sessions[0]
    # As `python -m pbxsim` does: keep the start-up heap (modules, agents, configuration)
    # out of the garbage collector's full passes, whose length is what limits the load.
    gc.collect()
    gc.freeze()
    load = Load(simulator, random.Random(args.seed))
    started = time.perf_counter()
    measure = dict(
        ramp_rate=args.ramp_rate, settle=args.settle, window=args.window, consumer_session=session
    )
    baseline = await measure_level(simulator, load, args.baseline, **measure)
    results: list[dict[str, object]] = []
    sustained = sustained_without_stalls = level_before = 0
    limit_ms = args.lag_limit_ms
    for level in levels:
        if time.perf_counter() - started > args.budget:
            break
        figures = await measure_level(simulator, load, level, **measure)
        ok = (
            float(figures["lag_p99_ms"]) <= limit_ms  # type: ignore[arg-type]
            and int(figures["concurrent_calls_min"]) >= 0.9 * level  # type: ignore[arg-type]
            and simulator.server.dropped_slow_clients == 0
        )
        figures["sustained"] = ok
        stall_ms = float(figures["full_gc_pause_max_ms"])  # type: ignore[arg-type]
        figures["no_stall_over_limit"] = ok and stall_ms <= args.stall_limit_ms
        results.append(figures)
        if not ok:
            break
        sustained = level
        if figures["no_stall_over_limit"] and sustained_without_stalls == level_before:
            sustained_without_stalls = level
        level_before = level
    load.stop()
    await simulator.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(consumer.wait(), 10)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "benchmark": "simulator_capacity",
        "mode": args.mode,
        "speed": 1.0,
        "cores": 1,
        "machine_cpus": os.cpu_count(),
        "lag_limit_p99_ms": limit_ms,
        "goal_concurrent_calls": GOAL_CONCURRENT_CALLS,
        "sustained_concurrent_calls": sustained,
        "stall_limit_ms": args.stall_limit_ms,
        "sustained_without_stalls_over_limit": sustained_without_stalls,
        "meets_goal": sustained >= GOAL_CONCURRENT_CALLS,
        "highest_level_tried": int(results[-1]["target_concurrent_calls"]) if results else 0,
        "baseline": baseline,
        "levels": results,
        "calls_placed": load.placed,
        "errors": len(simulator.pbx.errors),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "run_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--levels",
        default="1000,2000,3000,4000",
        help="concurrent-call levels to climb through, comma separated",
    )
    parser.add_argument("--baseline", type=int, default=100, help="the light load to compare to")
    parser.add_argument("--mode", choices=("local", "pjsip"), default="local")
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per level")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after each ramp")
    parser.add_argument("--ramp-rate", type=float, default=150.0, help="new calls per second")
    parser.add_argument(
        "--lag-limit-ms",
        type=float,
        default=100.0,
        help="a level is sustained while the p99 callback lag stays under this",
    )
    parser.add_argument(
        "--stall-limit-ms",
        type=float,
        default=500.0,
        help="longest acceptable full garbage-collection pause",
    )
    parser.add_argument("--budget", type=float, default=75.0, help="stop climbing after this")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
