"""Event-loop lag of the service, in one run, against the same service idle:

- steady: while it takes a steady stream of AMI events from the PBX simulator (running in
  another process, over TCP); the service runs in this process, sampled every 5 ms here;
- burst: while a burst of calls (50 at once, within one simulated second) reaches a queue
  whose agents answer, with the simulator at 20x real time and the agents' browsers
  connected; the service runs as `callcentre serve` in its own process and its figures are
  its own (web/loop_lag.py), scraped from /metrics: the gauge (the worst lag of its window)
  every second, and p99 as the upper bound of the histogram bucket that holds it.

    python -m bench.loop_lag [--rate 5000] [--seconds 20] [--only steady|burst]
        [--burst-calls 50] [--speed 20] [--profile FILE]
        [--database-url postgresql+asyncpg://…] [--redis-url redis://…] [--no-pin]

``--profile FILE``: py-spy records the service during the burst (raw collapsed stacks, one
line per stack, thread ids included); its sampling stalls the loop, so take the lag figures
from a run without it. Asterisk drops a client that leaves it waiting (writetimeout, 100 ms by
default), so the goal is a maximum lag under 50 ms at 5,000 events/s and during the burst.
Prints one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bench.pop_latency import (
    DRIVER_CORE,
    FIRST_EXTENSION,
    SERVICE_CORE,
    agent_socket,
    prepare,
    service_share,
)
from bench.servers import free_port, service_ready
from config.logs import configure_logging
from config.settings import Settings
from web.app import create_app
from web.appkeys import pbx_key
from web.loop_lag import WINDOW

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
GOAL_MS = 50

# The burst's simulator, in its own process: a shift of agents already in the queue, then, on
# a line on stdin, `calls` callers within one simulated second (InboundBurst's patience, ring
# and talk times: the agents answer after 1-4 s and talk 30-120 s, simulated).
BURST_SIMULATOR = """
import asyncio, json, sys
from pbxsim import AmiUser, InboundBurst, serve
from pbxsim.scenarios import log_agents_in
async def main(calls, speed, first):
    sim = await serve("127.0.0.1", 0, seed=3, speed=speed, mode="pjsip",
                      users=[AmiUser.create("bench", "bench")])
    burst = InboundBurst(calls=calls, over_seconds=1.0, agents=calls, first_extension=first,
                         add_agents=False)
    log_agents_in(sim, burst.queue, burst.extensions)
    print(json.dumps({"port": sim.port}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    sim.run(burst)
    await asyncio.sleep(1.0 / speed + 0.5)  # the callers have all arrived
    print(json.dumps({"placed": burst.placed}), flush=True)
    await asyncio.sleep(3600)
asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])))
"""
SCRAPE_EVERY = 1.0  # seconds between scrapes during the burst (the gauge holds 15 s)
BURST_TIMEOUT = 60.0  # real seconds to wait for the burst's calls to end
# The profile's summary: our functions on the loop thread's stacks, but for those on all.
OUR_CODE = ("web/", "desk/", "cti/", "crm_core/")
WRAPPERS = ("web/cli.py", "desk/workers.py")


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


def progress(text: str) -> None:
    print(f"loop_lag: {text}", file=sys.stderr, flush=True)


class Scrape:
    """The figures of one /metrics page that the burst reads."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.gauge = self.count = self.calls = 0.0
        self.buckets: dict[float, float] = {}  # upper bound -> samples at most that late
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "callcentre_event_loop_lag_seconds":
                    self.gauge = sample.value
                elif sample.name == "callcentre_event_loop_lag_bucket":
                    self.buckets[float(sample.labels["le"])] = sample.value
                elif sample.name == "callcentre_event_loop_lag_count":
                    self.count = sample.value
                elif sample.name == "callcentre_calls_tracked":
                    self.calls = sample.value


async def scrape(http: aiohttp.ClientSession, base: str) -> Scrape:
    async with http.get(f"{base}/metrics") as response:
        response.raise_for_status()
        return Scrape(await response.text())


def lag_between(first: Scrape, last: Scrape, max_ms: float, exact: bool) -> dict[str, Any]:
    """The service's samples between two scrapes, with their maximum (from the gauge: exact,
    or an upper bound); percentiles are bucket upper bounds (null: above 250 ms)."""
    count = last.count - first.count
    seen = sorted((bound, n - first.buckets.get(bound, 0.0)) for bound, n in last.buckets.items())

    def at_most(share: float) -> float | None:
        if not count:
            return None
        bound = next(b for b, n in seen if n >= share * count)
        return None if bound == float("inf") else round(bound * 1000, 1)

    return {
        "samples": int(count),
        "max_ms": round(max_ms, 1),
        "max_exact": exact,
        "p50_ms_at_most": at_most(0.5),
        "p99_ms_at_most": at_most(0.99),
        "max_ms_at_most": at_most(1.0),
    }


def burst_max_ms(idle_end: Scrape, gauges: list[float], last: Scrape) -> tuple[float, bool]:
    """The burst's worst lag. The gauge holds the worst of its window, so the first scrapes of
    the burst still hold the last idle samples: a value above the idle's worst can only be
    the burst's. If none is, the burst never lagged more than the idle did (or than the
    histogram's highest bucket says, if lower): an upper bound."""
    above = [g for g in gauges if g > idle_end.gauge]
    if above:
        return max(above) * 1000, True
    bound = lag_between(idle_end, last, 0.0, False)["max_ms_at_most"]
    idle = idle_end.gauge * 1000
    return (idle if bound is None else min(idle, bound)), False


async def start_service(
    url: str, redis_url: str, data_dir: Path, ami_port: int, pinned: bool, log: IO[bytes]
) -> tuple[asyncio.subprocess.Process, str]:
    """`callcentre serve` in its own process; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "CALLCENTRE_DATABASE_URL": url,
        "CALLCENTRE_DATA_DIR": str(data_dir),
        "CALLCENTRE_PBX": "asterisk",
        "CALLCENTRE_AMI_PORT": str(ami_port),
        "CALLCENTRE_AMI_USERNAME": "bench",
        "CALLCENTRE_AMI_SECRET": "bench",
        "CALLCENTRE_PORT": str(port),
        "CALLCENTRE_LOG_LEVEL": "WARNING",
        "CALLCENTRE_LOGIN_MAX_FAILURES_PER_CLIENT": "100000",
        "CALLCENTRE_ARGON2_TIME_COST": "1",
        "CALLCENTRE_ARGON2_MEMORY_KIB": "256",
    }
    if redis_url:
        env["CALLCENTRE_REDIS_URL"] = redis_url
    taskset = ["taskset", "-c", str(SERVICE_CORE)] if pinned else []  # it execs: same pid
    service = await asyncio.create_subprocess_exec(
        *taskset,
        *(sys.executable, "-m", "web.cli", "serve"),
        env=env,
        stdout=log,
        stderr=log,
        cwd=str(ROOT),
    )
    return service, f"http://127.0.0.1:{port}"


async def ended(process: asyncio.subprocess.Process, how: int = signal.SIGTERM) -> None:
    if process.returncode is None:
        process.send_signal(how)
    await process.wait()


async def start_profiler(pid: int, output: Path) -> asyncio.subprocess.Process:
    beside = Path(sys.executable).parent / "py-spy"
    binary = str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"
    return await asyncio.create_subprocess_exec(
        *(binary, "record", "--pid", str(pid), "--format", "raw", "--threads"),
        *("--rate", "200", "-o", str(output)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def profile_summary(path: Path, top: int = 15) -> dict[str, Any]:
    """Shares of the service's event-loop thread's busy samples in which each of our functions
    was on the stack: what held the loop. py-spy leaves out the samples of a sleeping thread
    but keeps a runnable one in the selector (woken, waiting for a core): counted apart."""
    busy, selecting, held = 0, 0, dict[str, int]()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[0].endswith("MainThread") or not count.isdigit():
            continue
        if "(selectors.py:" in frames[-1]:
            selecting += int(count)
            continue
        busy += int(count)
        ours = {  # once per sample, whatever the recursion; "name (file)", lines dropped
            frame.rsplit(":", 1)[0] + ")"
            for frame in frames[1:]
            if any(f"({prefix}" in frame for prefix in OUR_CODE)
            and not any(f"({wrapper}" in frame for wrapper in WRAPPERS)
        }
        for function in ours:
            held[function] = held.get(function, 0) + int(count)
    ranked = sorted(held.items(), key=lambda kv: -kv[1])[:top]
    return {
        "file": str(path),
        "loop_thread_busy_samples": busy,
        "loop_thread_in_selector_samples": selecting,
        "share_of_busy_samples": {f: round(n / busy, 3) for f, n in ranked} if busy else {},
    }


async def burst(
    calls: int,
    speed: float,
    profile: Path | None,
    *,
    idle: float = WINDOW,
    database_url: str = "",
    redis_url: str = "",
    pin: bool = True,
) -> dict[str, Any]:
    """``idle``: seconds of idle baseline; shorter than the gauge's window (the smoke test),
    the idle's maximum also holds what came before it (start-up, logins). Without
    ``database_url``, a new SQLite database; without ``redis_url``, the in-process bus.
    ``pin`` (with two cores or more): the service on one core, the simulator and the agents'
    browsers (this process) on another, as Asterisk and the browsers are not on the
    service's machine; else the simulator at 20x takes the service's CPU and shows as lag."""
    cores = os.sched_getaffinity(0)
    pinned = pin and {SERVICE_CORE, DRIVER_CORE} <= cores
    if pinned:
        os.sched_setaffinity(0, {DRIVER_CORE})  # the simulator, started below, inherits it
    try:
        return await _burst(calls, speed, profile, idle, database_url, redis_url, pinned)
    finally:
        os.sched_setaffinity(0, cores)


async def _burst(
    calls: int,
    speed: float,
    profile: Path | None,
    idle: float,
    database_url: str,
    redis_url: str,
    pinned: bool,
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="cc-burst-"))
    url = database_url or f"sqlite+aiosqlite:///{data_dir}/bench.db"
    progress(f"burst: preparing {calls} agents")
    await prepare(url, calls)
    async with contextlib.AsyncExitStack() as stack:  # whatever fails, nothing stays running
        sim = await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", BURST_SIMULATOR, str(calls), str(speed), str(FIRST_EXTENSION)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(ROOT),
        )
        stack.push_async_callback(ended, sim, signal.SIGKILL)
        assert sim.stdin is not None and sim.stdout is not None
        ami_port = json.loads(await sim.stdout.readline())["port"]
        log = stack.enter_context((data_dir / "service.log").open("wb"))  # loop.lagged lines
        service, base = await start_service(url, redis_url, data_dir, ami_port, pinned, log)
        stack.push_async_callback(ended, service)
        await service_ready(base)
        arrived: dict[tuple[str, str], float] = {}
        extensions = [str(FIRST_EXTENSION + n) for n in range(calls)]
        sockets = await asyncio.gather(*(agent_socket(base, e, arrived, []) for e in extensions))
        for session, task in sockets:
            stack.push_async_callback(session.close)
            stack.callback(task.cancel)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        await asyncio.sleep(1.0)  # the logins settle
        # Idle for one gauge window: its gauge then holds the idle samples only.
        progress(f"burst: {calls} agents connected; idle {idle:g} s")
        idle_start = await scrape(http, base)
        await asyncio.sleep(idle)
        idle_end = await scrape(http, base)
        if profile is not None:
            profiler = await start_profiler(service.pid, profile)
            # Stopped (SIGINT: py-spy writes its file) before the service, at the latest.
            stack.push_async_callback(ended, profiler, signal.SIGINT)
            await asyncio.sleep(1.0)  # py-spy attaches
        progress(f"burst: {calls} calls within one simulated second at {speed:g}x")
        sim.stdin.write(b"go\n")
        await sim.stdin.drain()
        started, gauges, peak = time.monotonic(), list[float](), 0.0
        last = idle_end
        while time.monotonic() - started < BURST_TIMEOUT:
            await asyncio.sleep(SCRAPE_EVERY)
            last = await scrape(http, base)
            gauges.append(last.gauge)
            peak = max(peak, last.calls)
            if peak and not last.calls:
                break  # every call of the burst has ended
        elapsed = time.monotonic() - started
        placed = json.loads(await sim.stdout.readline())["placed"]
        if profile is not None:
            await ended(profiler, signal.SIGINT)
    during = lag_between(idle_end, last, *burst_max_ms(idle_end, gauges, last))
    return {
        "service_pid": service.pid,
        "database": url.split(":")[0],
        "bus": "redis" if redis_url else "in-process",
        "calls": calls,
        "calls_placed": placed,
        "simulator_speed": speed,
        "pinned": (
            {"service": SERVICE_CORE, "simulator_and_browsers": DRIVER_CORE} if pinned else False
        ),
        "agents_connected": len(sockets),
        "peak_calls_tracked": int(peak),
        "seconds": round(elapsed, 1),
        "pops_received": len(arrived),
        "pop_service_share": service_share(last.text),
        "baseline_idle": lag_between(idle_start, idle_end, idle_end.gauge * 1000, idle >= WINDOW),
        "during_burst": during,
        "profile": profile_summary(profile) if profile is not None else None,
        "service_log": log.name,
        "meets_goal": during["max_ms"] < GOAL_MS,
    }


async def steady(rate: int, seconds: float) -> dict[str, object]:
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
        "pid": os.getpid(),
        "target_events_per_second": rate,
        "achieved_events_per_second": round(received / elapsed),
        "events_received": received,
        "seconds": round(elapsed, 1),
        "baseline_idle": summary(idle),
        "under_load": load,
        "meets_goal": load["max_ms"] < GOAL_MS,
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    result: dict[str, Any] = {"benchmark": "loop_lag", "goal": {"max_ms": GOAL_MS}}
    if args.only in (None, "steady"):
        result["steady"] = await steady(args.rate, args.seconds)
    if args.only in (None, "burst"):
        result["burst"] = await burst(
            args.burst_calls,
            args.speed,
            args.profile,
            database_url=args.database_url,
            redis_url=args.redis_url,
            pin=args.pin,
        )
    result["meets_goal"] = all(
        result[part]["meets_goal"] for part in ("steady", "burst") if part in result
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", choices=("steady", "burst"))
    parser.add_argument("--burst-calls", type=int, default=50)
    parser.add_argument("--speed", type=float, default=20.0, help="the simulator's, in the burst")
    parser.add_argument("--profile", type=Path, help="py-spy's raw output, during the burst")
    parser.add_argument("--database-url", default="", help="the burst's (default: SQLite)")
    parser.add_argument("--redis-url", default="", help="the burst's (default: in-process bus)")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="in the burst, let the service share its core with the simulator and browsers",
    )
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    print(json.dumps(asyncio.run(main(args)), indent=2))
