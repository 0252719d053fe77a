"""Event-loop lag of the service while it takes a steady stream of AMI events from the PBX
simulator (running in another process, over TCP), against the same service idle, in one run.

    python -m bench.loop_lag [--rate 5000] [--seconds 20]

Asterisk drops a client that leaves it waiting (writetimeout, 100 ms by default), so the goal
is a maximum lag under 50 ms at 5,000 events/s. Prints one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from config.logs import configure_logging
from config.settings import Settings
from web.app import create_app
from web.appkeys import pbx_key

# A simulator in its own process: inbound calls at a rate that makes about `rate` events/s
# (a queued call answered by an agent is about 85 events in PJSIP mode, every class on).
SIMULATOR = """
import asyncio, json, sys
from pbxsim import AmiUser, InboundBurst, serve
async def main(port, calls, seconds):
    sim = await serve("127.0.0.1", port, seed=3, speed=1.0, mode="pjsip",
                      users=[AmiUser.create("bench", "bench")])
    print(json.dumps({"port": sim.port}), flush=True)
    await asyncio.sleep(4.0)  # the service connects and measures itself idle meanwhile
    sim.run(InboundBurst(calls=calls, over_seconds=seconds, agents=400, abandon_rate=0.2,
                         patience=(5.0, 20.0), talk_time=(3.0, 8.0), ring_delay=(0.5, 1.5)))
    await asyncio.sleep(seconds + 30)
asyncio.run(main(0, int(sys.argv[1]), float(sys.argv[2])))
"""
EVENTS_PER_CALL = 85
ROOT = Path(__file__).resolve().parents[1]


async def sample_lag(seconds: float, interval: float = 0.005) -> list[float]:
    """How late a 5 ms sleep wakes up, sampled for `seconds`."""
    lags = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        before = loop.time()
        await asyncio.sleep(interval)
        lags.append(max(0.0, loop.time() - before - interval))
    return lags


def summary(lags: list[float]) -> dict[str, float]:
    ordered = sorted(lags)
    return {
        "samples": len(ordered),
        "max_ms": round(ordered[-1] * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
    }


async def main(rate: int, seconds: float) -> dict[str, object]:
    calls = int(rate * seconds / EVENTS_PER_CALL)
    sim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SIMULATOR,
        str(calls),
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    assert sim.stdout is not None
    port = json.loads(await sim.stdout.readline())["port"]
    data_dir = tempfile.mkdtemp(prefix="cc-bench-")
    settings = Settings(
        data_dir=Path(data_dir),
        pbx="asterisk",
        ami_port=port,
        ami_username="bench",
        ami_secret="bench",
        ami_events="on",
        log_format="json",
        log_level="WARNING",
    )
    app = create_app(settings, migrate=True)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        link = app[pbx_key].runtime.link
        await asyncio.wait_for(link.wait_connected(), 10)
        await asyncio.sleep(0.5)  # let start-up settle
        idle = await sample_lag(2.0)  # the simulator's calls start four seconds in
        await asyncio.sleep(2.0)
        started_events, started = link.status.events, time.monotonic()
        loaded = await sample_lag(seconds)
        received = link.status.events - started_events
        elapsed = time.monotonic() - started
    finally:
        await runner.cleanup()
        sim.kill()
        await sim.wait()
    load = summary(loaded)
    return {
        "benchmark": "loop_lag",
        "pid": os.getpid(),
        "target_events_per_second": rate,
        "achieved_events_per_second": round(received / elapsed),
        "events_received": received,
        "seconds": round(elapsed, 1),
        "baseline_idle": summary(idle),
        "under_load": load,
        "goal": {"max_ms": 50},
        "meets_goal": load["max_ms"] < 50,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    print(json.dumps(asyncio.run(main(args.rate, args.seconds)), indent=2))
